//! `berth version`: the client's and the daemon's versions (`GET /version`), in docker's layout
//! or through `--format` (`{{.Client.Version}}`, `{{.Server.Version}}`, `{{json .}}`).

use berth_api::system::SystemVersion;
use clap::Args;
use serde_json::{json, Value};

use super::{CmdResult, Ctx};
use crate::client::{Request, CLIENT_API_VERSION};
use crate::format;

/// `berth version`.
#[derive(Debug, Clone, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: VersionArgs) -> CmdResult {
    let arch = std::env::consts::ARCH
        .replace("x86_64", "amd64")
        .replace("aarch64", "arm64");
    let mut client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": CLIENT_API_VERSION.to_string(),
        "DefaultAPIVersion": CLIENT_API_VERSION.to_string(),
        "Os": "linux",
        "Arch": arch,
        "Context": "default",
    });
    let server = ctx.client.negotiated().and_then(|n| {
        client["ApiVersion"] = json!(n.version.to_string());
        client["Downgraded"] = json!(n.downgraded);
        ctx.client
            .json::<SystemVersion>(Request::new("GET", "/version"))
    });
    if let Some(f) = args.format.as_deref().filter(|f| !f.is_empty()) {
        let mut all = json!({ "Client": client });
        if let Ok(s) = &server {
            all["Server"] = serde_json::to_value(s).unwrap_or(Value::Null);
        }
        let f = if f == "json" { "{{json .}}" } else { f };
        super::out(&format::render_one(f, &all)?);
        server?;
        return Ok(0);
    }
    let api = if client["Downgraded"] == json!(true) {
        format!(
            "{} (downgraded from {CLIENT_API_VERSION})",
            client["ApiVersion"].as_str().unwrap_or_default()
        )
    } else {
        client["ApiVersion"].as_str().unwrap_or_default().to_owned()
    };
    let mut text = format!(
        "Client:\n Version:           {}\n API version:       {api}\n OS/Arch:           linux/{arch}\n Context:           default\n",
        env!("CARGO_PKG_VERSION")
    );
    let s = server?;
    let platform = if s.platform.name.is_empty() {
        String::new()
    } else {
        format!(" {}", s.platform.name)
    };
    text.push_str(&format!("\nServer:{platform}\n"));
    for c in &s.components {
        let d = |k: &str| c.details.get(k).cloned().unwrap_or_default();
        text.push_str(&format!(
            " {}:\n  Version:          {}\n",
            c.name, c.version
        ));
        if c.name == "Engine" {
            text.push_str(&format!(
                "  API version:      {} (minimum version {})\n  Go version:       {}\n  Git commit:       {}\n  Built:            {}\n  OS/Arch:          {}/{}\n  Experimental:     {}\n",
                d("ApiVersion"), d("MinAPIVersion"), d("GoVersion"), d("GitCommit"), d("BuildTime"), d("Os"), d("Arch"), d("Experimental")
            ));
        } else {
            for (k, v) in &c.details {
                text.push_str(&format!("  {:<17} {v}\n", format!("{k}:")));
            }
        }
    }
    if s.components.is_empty() {
        text.push_str(&format!(
            " Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  OS/Arch:          {}/{}\n",
            s.version, s.api_version, s.min_api_version, s.os, s.arch
        ));
    }
    super::out(&text);
    Ok(0)
}

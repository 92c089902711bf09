//! `berth info`: a short human summary of `GET /info` (or `--format` over the raw object).

use berth_api::system::SystemInfo;
use clap::Args;
use serde_json::Value;

use super::{CmdResult, Ctx};
use crate::client::Request;
use crate::format;
use crate::units;

/// `berth info`.
#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: InfoArgs) -> CmdResult {
    if let Some(f) = args.format.as_deref().filter(|f| !f.is_empty()) {
        let v: Value = ctx.client.json(Request::new("GET", "/info"))?;
        let f = if f == "json" { "{{json .}}" } else { f };
        super::out(&format::render_one(f, &v)?);
        return Ok(0);
    }
    let i: SystemInfo = ctx.client.json(Request::new("GET", "/info"))?;
    let mut t = String::from("Server:\n");
    t.push_str(&format!(" Containers: {}\n", i.containers));
    t.push_str(&format!("  Running: {}\n", i.containers_running));
    t.push_str(&format!("  Paused: {}\n", i.containers_paused));
    t.push_str(&format!("  Stopped: {}\n", i.containers_stopped));
    t.push_str(&format!(" Images: {}\n", i.images));
    t.push_str(&format!(" Server Version: {}\n", i.server_version));
    t.push_str(&format!(" Storage Driver: {}\n", i.driver));
    t.push_str(&format!(" Logging Driver: {}\n", i.logging_driver));
    t.push_str(&format!(" Cgroup Driver: {}\n", i.cgroup_driver));
    t.push_str(&format!(" Cgroup Version: {}\n", i.cgroup_version));
    t.push_str(&format!(" Default Runtime: {}\n", i.default_runtime));
    t.push_str(&format!(" Kernel Version: {}\n", i.kernel_version));
    t.push_str(&format!(" Operating System: {}\n", i.operating_system));
    t.push_str(&format!(" OSType: {}\n", i.os_type));
    t.push_str(&format!(" Architecture: {}\n", i.architecture));
    t.push_str(&format!(" CPUs: {}\n", i.ncpu));
    t.push_str(&format!(
        " Total Memory: {}\n",
        human_binary(i.mem_total as f64)
    ));
    t.push_str(&format!(" Name: {}\n", i.name));
    t.push_str(&format!(" ID: {}\n", i.id));
    t.push_str(&format!(" Docker Root Dir: {}\n", i.docker_root_dir));
    t.push_str(&format!(
        " Live Restore Enabled: {}\n",
        i.live_restore_enabled
    ));
    super::out(&t);
    for w in &i.warnings {
        eprintln!("{w}");
    }
    Ok(0)
}

/// go-units `BytesSize` (binary, `%.4g`): `7.764GiB`.
fn human_binary(mut size: f64) -> String {
    const U: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut i = 0;
    while size >= 1024.0 && i < U.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", units::go_g(size, 4), U[i])
}

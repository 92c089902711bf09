//! `berth volume create|ls|inspect|rm|prune`: `/volumes` with Docker's table (DRIVER, VOLUME
//! NAME, sorted in natural order), template fields, prompts and API-version rules (`prune -a`
//! needs 1.42; below it the daemon prunes every unused volume, and the warning says so).

use std::collections::BTreeMap;

use berth_api::volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::ps::parse_filters;
use super::{collect_errors, CmdError, CmdResult, Ctx};
use crate::client::{path_escape, Body, Request};
use crate::units;

/// `berth volume`.
#[derive(Debug, Clone, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `volume create`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string", hide = true)]
    pub name_flag: Option<String>,
    /// [VOLUME]
    pub name: Option<String>,
}

/// `volume ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

/// `volume inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// VOLUME [VOLUME...]
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `volume rm`.
#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    /// VOLUME [VOLUME...]
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `volume prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

/// `KEY=VALUE` flag values into a map (`--label a` is `a=`).
pub fn kv_map(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The template row of docker's volume context.
pub fn row(v: &Volume) -> Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let (links, size) = match &v.usage_data {
        Some(u) => (
            u.ref_count.to_string(),
            if u.size < 0 {
                "N/A".to_owned()
            } else {
                units::human_size(u.size as f64)
            },
        ),
        None => ("N/A".to_owned(), "N/A".to_owned()),
    };
    json!({
        "Availability": "N/A",
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": labels.join(","),
        "Links": links,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": v.scope,
        "Size": size,
        "Status": "N/A",
        "$Label": v.labels,
        "$html": true,
    })
}

/// Column headers.
pub fn header() -> Value {
    json!({
        "$type": "*formatter.volumeContext",
        "Availability": "AVAILABILITY", "Driver": "DRIVER", "Group": "GROUP", "Labels": "LABELS",
        "Links": "LINKS", "Mountpoint": "MOUNTPOINT", "Name": "VOLUME NAME", "Scope": "SCOPE",
        "Size": "SIZE", "Status": "STATUS", "$Label": {},
    })
}

/// Runs a `volume` subcommand.
pub fn run(ctx: &Ctx, cmd: VolumeCmd) -> CmdResult {
    match cmd {
        VolumeCmd::Create(a) => create(ctx, a),
        VolumeCmd::Ls(a) => ls(ctx, a),
        VolumeCmd::Inspect(a) => inspect(ctx, a),
        VolumeCmd::Rm(a) => rm(ctx, a),
        VolumeCmd::Prune(a) => prune(ctx, a),
    }
}

fn create(ctx: &Ctx, a: CreateArgs) -> CmdResult {
    let name = match (&a.name, &a.name_flag) {
        (Some(p), Some(f)) if p != f => {
            return Err(CmdError::Status {
                message: "conflicting options: cannot specify a volume-name through both --name and as a positional arg".into(),
                code: 1,
            })
        }
        (Some(n), _) | (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    };
    let body = VolumeCreateRequest {
        driver: a.driver,
        driver_opts: kv_map(&a.opt),
        labels: kv_map(&a.label),
        name,
    };
    let v: Volume = ctx
        .client
        .json(Request::new("POST", "/volumes/create").body(Body::json(&body)?))?;
    super::out(&format!("{}\n", v.name));
    Ok(0)
}

/// `GET /volumes` with filters, sorted by name in natural order.
pub fn list(ctx: &Ctx, filter: &[String]) -> Result<Vec<Volume>, CmdError> {
    let filters = parse_filters(filter)?;
    let mut req = Request::new("GET", "/volumes");
    if !filters.is_empty() {
        req = req.query("filters", filters.to_query());
    }
    let resp: VolumeListResponse = ctx.client.json(req)?;
    let mut vols = resp.volumes;
    vols.sort_by(|a, b| super::natural_cmp(&a.name, &b.name));
    Ok(vols)
}

fn ls(ctx: &Ctx, a: LsArgs) -> CmdResult {
    let vols = list(ctx, &a.filter)?;
    let rows: Vec<Value> = vols.iter().map(row).collect();
    super::print_list(
        a.format.as_deref(),
        a.quiet.then_some("{{.Name}}"),
        DEFAULT_TABLE,
        &header(),
        &rows,
    )?;
    Ok(0)
}

fn inspect(ctx: &Ctx, a: InspectArgs) -> CmdResult {
    super::inspect::check_template(a.format.as_deref())?;
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for n in &a.names {
        match ctx
            .client
            .bytes(Request::new("GET", format!("/volumes/{}", path_escape(n))))
        {
            Ok(b) => raws.push(String::from_utf8_lossy(&b).trim().to_owned()),
            Err(e) if e.status().is_some() => errs.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    super::inspect::print_raws(&raws, a.format.as_deref())?;
    collect_errors(errs)
}

fn rm(ctx: &Ctx, a: RmArgs) -> CmdResult {
    let mut errs = Vec::new();
    for n in &a.names {
        let req =
            Request::new("DELETE", format!("/volumes/{}", path_escape(n))).flag("force", a.force);
        match ctx.client.call(req) {
            Ok(_) => super::out(&format!("{n}\n")),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

/// Docker's `--all requires API version` error.
pub fn needs_api(ctx: &Ctx, flag: &str, major: u16, minor: u16) -> Result<(), CmdError> {
    let v = ctx.client.api_version()?;
    if v.at_least(major, minor) {
        return Ok(());
    }
    Err(CmdError::Status {
        message: format!(
            "\"{flag}\" requires API version {major}.{minor}, but the Docker daemon API version is {v}"
        ),
        code: 1,
    })
}

/// `POST /volumes/prune` (no prompt): the report.
pub fn prune_call(
    ctx: &Ctx,
    all: bool,
    filter: &[String],
) -> Result<VolumePruneResponse, CmdError> {
    let mut filters = parse_filters(filter)?;
    if all {
        filters.add("all", "true");
    }
    let mut req = Request::new("POST", "/volumes/prune");
    if !filters.is_empty() {
        req = req.query("filters", filters.to_query());
    }
    Ok(ctx.client.json(req)?)
}

/// Docker's prune report: `Deleted <what>:` and one line each, a blank line, then the total.
pub fn prune_report(what: &str, deleted: &[String], reclaimed: u64) -> String {
    let mut s = String::new();
    if !deleted.is_empty() {
        s.push_str(&format!("Deleted {what}:\n"));
        for d in deleted {
            s.push_str(d);
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(reclaimed as f64)
    ));
    s
}

fn prune(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    if a.all {
        needs_api(ctx, "--all", 1, 42)?;
    }
    let all_text = a.all || !ctx.client.api_version()?.at_least(1, 42);
    let warning = if all_text {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !super::confirm(warning) {
        return Ok(0);
    }
    let r = prune_call(ctx, a.all, &a.filter)?;
    super::out(&prune_report(
        "Volumes",
        &r.volumes_deleted,
        r.space_reclaimed,
    ));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use berth_api::volume::VolumeUsageData;

    fn vol(name: &str) -> Volume {
        Volume {
            driver: "local".into(),
            name: name.into(),
            scope: "local".into(),
            mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
            ..Volume::default()
        }
    }

    #[test]
    fn table_and_fields_like_docker() {
        let f = Format::new("", DEFAULT_TABLE).unwrap();
        let mut v = vol("v2");
        v.labels.insert("a".into(), "b".into());
        assert_eq!(
            f.render(&header(), &[row(&vol("v1")), row(&v)], true)
                .unwrap(),
            "DRIVER    VOLUME NAME\nlocal     v1\nlocal     v2\n"
        );
        let f = Format::new(r#"{{.Name}} {{.Labels}} {{.Label "a"}} {{.Links}}"#, "").unwrap();
        assert_eq!(
            f.render(&header(), &[row(&v)], true).unwrap(),
            "v2 a=b b N/A\n"
        );
        v.usage_data = Some(VolumeUsageData {
            ref_count: 2,
            size: 2_000,
        });
        let f = Format::new("{{json .}}", "").unwrap();
        assert_eq!(
            f.render(&header(), &[row(&v)], true).unwrap(),
            "{\"Availability\":\"N/A\",\"Driver\":\"local\",\"Group\":\"N/A\",\"Labels\":\"a=b\",\"Links\":\"2\",\"Mountpoint\":\"/var/lib/berth/volumes/v2/_data\",\"Name\":\"v2\",\"Scope\":\"local\",\"Size\":\"2kB\",\"Status\":\"N/A\"}\n"
        );
    }

    #[test]
    fn prune_report_like_docker() {
        assert_eq!(
            prune_report("Volumes", &[], 0),
            "Total reclaimed space: 0B\n"
        );
        assert_eq!(
            prune_report("Volumes", &["a".into(), "b".into()], 1_500),
            "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 1.5kB\n"
        );
        assert_eq!(kv_map(&["a=b".into(), "c".into()])["c"], "");
    }
}

//! `berth ps`: `GET /containers/json`, Docker's table (CONTAINER ID, IMAGE, COMMAND, CREATED,
//! STATUS, PORTS, NAMES), `-q`, `--format`, `-f`, `-n`/`-l`, `--no-trunc`, `-s`.

use berth_api::container::{ContainerSummary, Port};
use berth_api::Filters;
use clap::Args;
use serde_json::{json, Map, Value};

use super::{short_id, CmdError, CmdResult, Ctx};
use crate::client::Request;
use crate::format::Format;
use crate::units;

/// `berth ps`.
#[derive(Debug, Clone, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "int", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// `-f key=value` list → filters.
pub fn parse_filters(list: &[String]) -> Result<Filters, CmdError> {
    let mut f = Filters::new();
    for item in list {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            CmdError::Usage(format!("invalid argument \"{item}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"))
        })?;
        f.add(k.trim().to_lowercase(), v);
    }
    Ok(f)
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for the common cases.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Docker's `DisplayablePorts` (without range compaction): `0.0.0.0:8080->80/tcp, 81/udp`.
pub fn display_ports(ports: &[Port]) -> String {
    let mut items: Vec<String> = ports
        .iter()
        .map(|p| {
            if p.public_port != 0 {
                let ip = if p.ip.contains(':') {
                    format!("[{}]", p.ip)
                } else {
                    p.ip.clone()
                };
                format!("{ip}:{}->{}/{}", p.public_port, p.private_port, p.r#type)
            } else {
                format!("{}/{}", p.private_port, p.r#type)
            }
        })
        .collect();
    items.sort();
    items.dedup();
    items.join(", ")
}

/// The `ps` row as docker's ContainerContext presents it to templates.
pub fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = if trunc { short_id(&c.id) } else { c.id.clone() };
    let mut image = c.image.clone();
    if trunc && image.starts_with("sha256:") {
        image = short_id(&image);
    }
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/').to_owned())
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(n, 15)
            } else {
                n.clone()
            }
        })
        .collect();
    let local_volumes = c.mounts.iter().filter(|m| m.driver == "local").count();
    let networks: Vec<&str> = c
        .network_settings
        .networks
        .keys()
        .map(String::as_str)
        .collect();
    let size = if c.size_root_fs <= 0 {
        units::human_size(c.size_rw as f64)
    } else {
        format!(
            "{} (virtual {})",
            units::human_size(c.size_rw as f64),
            units::human_size(c.size_root_fs as f64)
        )
    };
    let mut m = Map::new();
    m.insert("Command".into(), json!(go_quote(&command)));
    m.insert("CreatedAt".into(), json!(units::unix_to_string(c.created)));
    m.insert("ID".into(), json!(id));
    m.insert("Image".into(), json!(image));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("LocalVolumes".into(), json!(local_volumes.to_string()));
    m.insert("Mounts".into(), json!(mounts.join(",")));
    m.insert("Names".into(), json!(names.join(",")));
    m.insert("Networks".into(), json!(networks.join(",")));
    m.insert("Platform".into(), Value::Null);
    m.insert("Ports".into(), json!(display_ports(&c.ports)));
    m.insert(
        "RunningFor".into(),
        json!(format!("{} ago", units::human_duration(now - c.created))),
    );
    m.insert("Size".into(), json!(size));
    m.insert("State".into(), json!(c.state));
    m.insert("Status".into(), json!(c.status));
    m.insert("$Label".into(), json!(c.labels));
    m.insert("$html".into(), json!(true));
    Value::Object(m)
}

/// Column headers of the container context.
pub fn header() -> Value {
    json!({
        "Command": "COMMAND", "CreatedAt": "CREATED AT", "ID": "CONTAINER ID", "Image": "IMAGE",
        "Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES", "Mounts": "MOUNTS", "Names": "NAMES",
        "Networks": "NETWORKS", "Ports": "PORTS", "RunningFor": "CREATED", "Size": "SIZE",
        "State": "STATE", "Status": "STATUS", "Platform": "PLATFORM", "$Label": {},
    })
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: PsArgs) -> CmdResult {
    let filters = parse_filters(&args.filter)?;
    let mut req = Request::new("GET", "/containers/json").flag("all", args.all);
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    if limit > 0 {
        req = req.query("limit", limit.to_string());
    }
    let mut format = args.format.clone().unwrap_or_default();
    if format == "json" {
        format = "{{json .}}".into();
    }
    let size = args.size || format.contains(".Size");
    req = req.flag("size", size);
    if !filters.is_empty() {
        req = req.query("filters", filters.to_query());
    }
    // Validate the template before asking the daemon.
    let default = if args.size {
        format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
    } else {
        DEFAULT_TABLE.to_owned()
    };
    let fmt = if args.quiet && format.is_empty() {
        Format::new("{{.ID}}", &default)?
    } else {
        // Like the docker CLI: parse, then execute once on an empty row, before any request.
        let f = Format::new(&format, &default).map_err(|e| CmdError::Status {
            message: format!("failed to parse {e}").replace(
                "parse template parsing error: ",
                "parse template: template: :1: ",
            ),
            code: 1,
        })?;
        if !format.is_empty() {
            // The raw text, `table ` and `\t` included (positions in errors count from it).
            crate::format::Template::parse(&format)
                .and_then(|t| t.render(&row(&ContainerSummary::default(), true, 0), true))
                .map_err(|e| {
                    let mut message = format!("failed to execute template: {e}");
                    if message.contains("can't evaluate field") && !message.contains(" in type ") {
                        message.push_str(" in type *formatter.ContainerContext");
                    }
                    CmdError::Status { message, code: 1 }
                })?;
        }
        f
    };
    let list: Vec<ContainerSummary> = ctx.client.json(req)?;
    let now = units::now_unix();
    let rows: Vec<Value> = list.iter().map(|c| row(c, !args.no_trunc, now)).collect();
    super::out(&fmt.render(&header(), &rows, true)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> ContainerSummary {
        ContainerSummary {
            id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            command: "sh -c 'sleep 1000; echo done'".into(),
            created: 1_000,
            state: "running".into(),
            status: "Up 5 seconds".into(),
            ports: vec![Port {
                ip: "0.0.0.0".into(),
                private_port: 80,
                public_port: 8080,
                r#type: "tcp".into(),
            }],
            ..ContainerSummary::default()
        }
    }

    #[test]
    fn table_like_docker() {
        let f = Format::new("", DEFAULT_TABLE).unwrap();
        let out = f
            .render(&header(), &[row(&summary(), true, 1_005)], true)
            .unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS                  NAMES\n\
             0123456789ab   busybox   \"sh -c 'sleep 1000; …\"   5 seconds ago   Up 5 seconds   0.0.0.0:8080->80/tcp   web\n"
        );
    }

    #[test]
    fn empty_table_is_the_header() {
        let f = Format::new("", DEFAULT_TABLE).unwrap();
        assert_eq!(
            f.render(&header(), &[], true).unwrap(),
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn format_fields() {
        let mut s = summary();
        s.labels.insert("com.x".into(), "1".into());
        let r = row(&s, false, 1_005);
        let f = Format::new(
            r#"{{.Names}} {{.Label "com.x"}} {{.Command}}"#,
            DEFAULT_TABLE,
        )
        .unwrap();
        assert_eq!(
            f.render(&header(), std::slice::from_ref(&r), true).unwrap(),
            "web 1 \"sh -c 'sleep 1000; echo done'\"\n"
        );
        let f = Format::new("{{json .}}", DEFAULT_TABLE).unwrap();
        let out = f.render(&header(), &[r], true).unwrap();
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["Names"], "web");
        assert_eq!(v["Labels"], "com.x=1");
        assert!(v.get("$Label").is_none());
        let f = Format::new("{{.Bogus}}", DEFAULT_TABLE).unwrap();
        assert!(f.render(&header(), &[row(&s, true, 0)], true).is_err());
    }

    #[test]
    fn helpers() {
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert!(parse_filters(&["status=exited".into()]).is_ok());
        assert!(parse_filters(&["bogus".into()]).is_err());
    }
}

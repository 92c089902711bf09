//! `berth stats`: `GET /containers/{id}/stats?stream=0` per container, Docker's table (CONTAINER
//! ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS) with the docker CLI's
//! arithmetic (CPU from the precpu delta, memory without inactive file pages); `--no-stream`
//! prints once, otherwise the table is redrawn every sample (clearing a terminal first) until
//! interrupted. Containers: the running ones, `-a` all, or those named.

use berth_api::container::ContainerSummary;
use clap::Args;
use serde_json::{json, Value};

use super::{cpath, short_id, CmdError, CmdResult, Ctx};
use crate::client::Request;
use crate::format::Format;
use crate::units;

/// `berth stats`.
#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// [CONTAINER...]
    pub containers: Vec<String>,
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// go-units `BytesSize`: binary units, `%.4g`.
pub fn bytes_size(size: f64) -> String {
    const ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1024.0 && i < ABBRS.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", units::go_g(s, 4), ABBRS[i])
}

fn u(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// The template row for one stats sample (`None`: the sample could not be read, all `--`).
pub fn row(container: &str, id: &str, sample: Option<&Value>, trunc: bool) -> Value {
    let id = if trunc { short_id(id) } else { id.to_owned() };
    let Some(s) = sample else {
        return json!({
            "BlockIO": "--", "CPUPerc": "--", "Container": container, "ID": id,
            "MemPerc": "--", "MemUsage": "-- / --", "Name": "--", "NetIO": "--", "PIDs": "--",
        });
    };
    let name = s["name"].as_str().unwrap_or("");
    let name = if name.len() > 1 {
        name[1..].to_owned()
    } else {
        "--".to_owned()
    };
    // CPU: calculateCPUPercentUnix.
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let cpu_delta = u(&cpu["cpu_usage"]["total_usage"]) - u(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = u(&cpu["system_cpu_usage"]) - u(&pre["system_cpu_usage"]);
    let mut online = u(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0.0, |a| a.len() as f64);
    }
    let cpu_pct = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    // Memory: calculateMemUsageUnixNoCache.
    let mem = &s["memory_stats"];
    let usage = u(&mem["usage"]);
    let st = &mem["stats"];
    let used = match st.get("total_inactive_file").and_then(Value::as_f64) {
        Some(v) if v < usage => usage - v,
        Some(_) => usage,
        None => match st.get("inactive_file").and_then(Value::as_f64) {
            Some(v) if v < usage => usage - v,
            _ => usage,
        },
    };
    let limit = u(&mem["limit"]);
    let mem_pct = if limit != 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s["networks"].as_object() {
        for n in nets.values() {
            rx += u(&n["rx_bytes"]);
            tx += u(&n["tx_bytes"]);
        }
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => rd += u(&e["value"]),
            Some("write") => wr += u(&e["value"]),
            _ => {}
        }
    }
    json!({
        "BlockIO": format!("{} / {}", units::human_size(rd), units::human_size(wr)),
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "Container": container,
        "ID": id,
        "MemPerc": format!("{mem_pct:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(used), bytes_size(limit)),
        "Name": name,
        "NetIO": format!("{} / {}", units::human_size(rx), units::human_size(tx)),
        "PIDs": s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string(),
    })
}

/// Column headers.
pub fn header() -> Value {
    json!({
        "BlockIO": "BLOCK I/O", "CPUPerc": "CPU %", "Container": "CONTAINER", "ID": "CONTAINER ID",
        "MemPerc": "MEM %", "MemUsage": "MEM USAGE / LIMIT", "Name": "NAME", "NetIO": "NET I/O",
        "PIDs": "PIDS",
    })
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: StatsArgs) -> CmdResult {
    let template = super::expand_format(args.format.as_deref());
    let fmt = Format::new(&template, DEFAULT_TABLE)?;
    let live_tty = !args.no_stream && crate::term::stdout_is_tty();
    loop {
        let round = std::time::Instant::now();
        // (shown name, ID or name to ask for)
        let targets: Vec<(String, String)> = if args.containers.is_empty() {
            let list: Vec<ContainerSummary> = ctx
                .client
                .json(Request::new("GET", "/containers/json").flag("all", args.all))?;
            list.into_iter().map(|c| (short_id(&c.id), c.id)).collect()
        } else {
            args.containers
                .iter()
                .map(|n| (n.clone(), n.clone()))
                .collect()
        };
        let mut rows = Vec::new();
        let mut errs = Vec::new();
        for (shown, target) in &targets {
            let r = ctx
                .client
                .json::<Value>(Request::new("GET", cpath(target, "/stats")).query("stream", "0"));
            match r {
                Ok(v) => {
                    let id = v["id"].as_str().unwrap_or(target).to_owned();
                    rows.push(row(shown, &id, Some(&v), !args.no_trunc));
                }
                Err(e) if !args.containers.is_empty() && e.is_not_found() => {
                    errs.push(e.to_string())
                }
                Err(_) => rows.push(row(shown, target, None, !args.no_trunc)),
            }
        }
        if !errs.is_empty() {
            return Err(CmdError::Status {
                message: errs.join("\n"),
                code: 1,
            });
        }
        let text = fmt.render(&header(), &rows, true)?;
        if live_tty {
            super::out(&format!("\x1b[2J\x1b[H{text}"));
        } else {
            super::out(&text);
        }
        if args.no_stream {
            return Ok(0);
        }
        // One redraw a second at most (a one-shot sample may take the daemon a second itself).
        let period = std::time::Duration::from_secs(1);
        if let Some(rest) = period.checked_sub(round.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_like_docker() {
        let s: Value = serde_json::from_str(r#"{"pids_stats":{"current":1},"blkio_stats":{"io_service_bytes_recursive":[{"major":8,"minor":0,"op":"Read","value":4096},{"op":"Write","value":2000000}]},"cpu_stats":{"cpu_usage":{"total_usage":300,"percpu_usage":[1,2]},"system_cpu_usage":2000,"online_cpus":0},"precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000},"memory_stats":{"usage":1257472,"stats":{"total_inactive_file":0},"limit":67108864},"networks":{"eth0":{"rx_bytes":1500,"tx_bytes":20}},"name":"/c1","id":"a8cd0ef81f5c869f643fdb6a430a17b512ed18e2e6650caeef365042106f09e1"}"#).unwrap();
        let r = row(
            "c1",
            "a8cd0ef81f5c869f643fdb6a430a17b512ed18e2e6650caeef365042106f09e1",
            Some(&s),
            true,
        );
        let f = Format::new("", DEFAULT_TABLE).unwrap();
        assert_eq!(
            f.render(&header(), &[r], true).unwrap(),
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O       BLOCK I/O     PIDS\n\
             a8cd0ef81f5c   c1        40.00%    1.199MiB / 64MiB    1.87%     1.5kB / 20B   4.1kB / 2MB   1\n"
        );
        let bad = row("x", "0123456789abcdef", None, true);
        assert_eq!(bad["Name"], "--");
        assert_eq!(bad["MemUsage"], "-- / --");
        assert_eq!(bytes_size(23.54 * 1024.0 * 1024.0 * 1024.0), "23.54GiB");
    }
}

//! `berth system df|prune|info|events|check` (check: [`super::check`]): disk usage from `GET /system/df` in Docker's summary and
//! `-v` layouts, and `system prune` chaining the container, network, volume, image and build
//! cache prunes as the docker CLI does.

use berth_api::system::DiskUsage;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{check, events, info, prune, volume, CmdResult, Ctx};
use crate::client::Request;
use crate::format::Format;
use crate::units;

/// `berth system`.
#[derive(Debug, Clone, Subcommand)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(PruneArgs),
    /// Display system-wide information
    Info(info::InfoArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Find (and with --repair remove) what a crash left on the host
    Check(check::CheckArgs),
}

/// `system df`.
#[derive(Debug, Clone, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
}

/// `system prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

/// Runs a `system` subcommand.
pub fn run(ctx: &Ctx, cmd: SystemCmd) -> CmdResult {
    match cmd {
        SystemCmd::Df(a) => df(ctx, a),
        SystemCmd::Prune(a) => system_prune(ctx, a),
        SystemCmd::Info(a) => info::run(ctx, a),
        SystemCmd::Check(a) => check::run(ctx, a),
        SystemCmd::Events(a) => events::run(ctx, a),
    }
}

const SUMMARY_TABLE: &str =
    "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

fn with_percent(reclaimable: i64, total: i64) -> String {
    let r = units::human_size_prec(reclaimable as f64, 4);
    if total > 0 {
        format!("{r} ({}%)", reclaimable * 100 / total)
    } else {
        r
    }
}

fn summary_row(kind: &str, total: usize, active: usize, size: i64, reclaimable: i64) -> Value {
    json!({
        "Type": kind,
        "TotalCount": total.to_string(),
        "Active": active.to_string(),
        "Size": units::human_size_prec(size as f64, 4),
        "Reclaimable": with_percent(reclaimable, size),
    })
}

/// The four summary rows docker computes from a disk usage report.
pub fn summary_rows(du: &DiskUsage) -> Vec<Value> {
    let img_active = du.images.iter().filter(|i| i.containers > 0).count();
    let img_used: i64 = du
        .images
        .iter()
        .filter(|i| i.containers > 0 && i.size != -1 && i.shared_size != -1)
        .map(|i| i.size - i.shared_size)
        .sum();
    let active = |s: &str| matches!(s, "running" | "paused" | "restarting");
    let c_active = du.containers.iter().filter(|c| active(&c.state)).count();
    let c_size: i64 = du.containers.iter().map(|c| c.size_rw).sum();
    let c_recl: i64 = du
        .containers
        .iter()
        .filter(|c| !active(&c.state))
        .map(|c| c.size_rw)
        .sum();
    let usage = |v: &berth_api::volume::Volume| v.usage_data.clone().unwrap_or_default();
    let v_active = du.volumes.iter().filter(|v| usage(v).ref_count > 0).count();
    let v_size: i64 = du
        .volumes
        .iter()
        .map(|v| usage(v).size)
        .filter(|s| *s != -1)
        .sum();
    let v_recl: i64 = du
        .volumes
        .iter()
        .filter(|v| usage(v).ref_count == 0 && usage(v).size != -1)
        .map(|v| usage(v).size)
        .sum();
    let bc = |k: &str| -> i64 {
        du.build_cache
            .iter()
            .filter(|b| k == "size" || !b["InUse"].as_bool().unwrap_or(false))
            .filter(|b| !b["Shared"].as_bool().unwrap_or(false))
            .map(|b| b["Size"].as_i64().unwrap_or(0))
            .sum()
    };
    let bc_active = du
        .build_cache
        .iter()
        .filter(|b| b["InUse"].as_bool().unwrap_or(false))
        .count();
    vec![
        summary_row(
            "Images",
            du.images.len(),
            img_active,
            du.layers_size,
            du.layers_size - img_used,
        ),
        summary_row("Containers", du.containers.len(), c_active, c_size, c_recl),
        summary_row("Local Volumes", du.volumes.len(), v_active, v_size, v_recl),
        summary_row(
            "Build Cache",
            du.build_cache.len(),
            bc_active,
            bc("size"),
            bc("reclaimable"),
        ),
    ]
}

fn summary_header() -> Value {
    json!({"$type": "*formatter.diskUsageImagesContext", "Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
           "Reclaimable": "RECLAIMABLE"})
}

/// Docker's `system df -v` text.
pub fn verbose(du: &DiskUsage, now: i64) -> Result<String, crate::format::FormatError> {
    let mut s = String::from("Images space usage:\n\n");
    let mut rows = super::images::rows(&du.images, true, now);
    for (r, img) in rows.iter_mut().zip(du.images.iter()) {
        r["SharedSize"] = json!(if img.shared_size == -1 {
            "N/A".to_owned()
        } else {
            units::human_size_prec(img.shared_size as f64, 4)
        });
        r["UniqueSize"] = json!(units::human_size_prec(
            (img.size - img.shared_size.max(0)) as f64,
            4
        ));
    }
    let f = Format::new(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        "",
    )?;
    s.push_str(&f.render(&super::images::header(), &rows, true)?);
    s.push_str("\nContainers space usage:\n\n");
    let rows: Vec<Value> = du
        .containers
        .iter()
        .map(|c| {
            // docker: "Don't display the virtual size".
            let mut c = c.clone();
            c.size_root_fs = 0;
            super::ps::row(&c, true, now)
        })
        .collect();
    let f = Format::new(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        "",
    )?;
    s.push_str(&f.render(&super::ps::header(), &rows, true)?);
    s.push_str("\nLocal Volumes space usage:\n\n");
    let rows: Vec<Value> = du.volumes.iter().map(volume::row).collect();
    let f = Format::new("table {{.Name}}\t{{.Links}}\t{{.Size}}", "")?;
    s.push_str(&f.render(&volume::header(), &rows, true)?);
    let bc_size: i64 = du
        .build_cache
        .iter()
        .map(|b| b["Size"].as_i64().unwrap_or(0))
        .sum();
    s.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        units::human_size_prec(bc_size as f64, 4)
    ));
    let f = Format::new(
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
        "",
    )?;
    let header = json!({"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
        "CreatedSince": "CREATED", "LastUsedSince": "LAST USED", "UsageCount": "USAGE",
        "Shared": "SHARED"});
    let rows: Vec<Value> = du
        .build_cache
        .iter()
        .map(|b| {
            json!({
                "ID": b["ID"].as_str().unwrap_or("").chars().take(12).collect::<String>(),
                "CacheType": b["Type"], "Size": units::human_size_prec(b["Size"].as_i64().unwrap_or(0) as f64, 4),
                "CreatedSince": "", "LastUsedSince": "", "UsageCount": b["UsageCount"].to_string(),
                "Shared": b["Shared"].to_string(),
            })
        })
        .collect();
    s.push_str(&f.render(&header, &rows, true)?);
    Ok(s)
}

fn df(ctx: &Ctx, a: DfArgs) -> CmdResult {
    let du: DiskUsage = ctx.client.json(Request::new("GET", "/system/df"))?;
    if a.verbose && a.format.is_none() {
        super::out(&verbose(&du, units::now_unix())?);
        return Ok(0);
    }
    super::print_list(
        a.format.as_deref(),
        None,
        SUMMARY_TABLE,
        &summary_header(),
        &summary_rows(&du),
    )?;
    Ok(0)
}

fn system_prune(ctx: &Ctx, a: PruneArgs) -> CmdResult {
    if !a.force {
        let mut w = String::from(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
        );
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        if a.all {
            w.push_str("  - all images without at least one container associated to them\n  - all build cache\n");
        } else {
            w.push_str("  - all dangling images\n  - unused build cache\n");
        }
        if !super::confirm(&w) {
            return Ok(0);
        }
    }
    let mut reclaimed = 0;
    let mut step = |r: Result<(u64, String), super::CmdError>| -> Result<(), super::CmdError> {
        let (n, text) = r?;
        reclaimed += n;
        super::out(&text);
        Ok(())
    };
    step(prune::containers(ctx, &a.filter))?;
    step(prune::networks(ctx, &a.filter))?;
    if a.volumes {
        step(volume::prune_call(ctx, false, &a.filter).map(|r| {
            (
                r.space_reclaimed,
                prune::section("Volumes", &r.volumes_deleted),
            )
        }))?;
    }
    step(prune::images(ctx, a.all, &a.filter))?;
    // The build cache: berthd's classic builder keeps none and may not serve the route.
    let mut req = Request::new("POST", "/build/prune").flag("all", a.all);
    let f = super::ps::parse_filters(&a.filter)?;
    if !f.is_empty() {
        req = req.query("filters", f.to_query());
    }
    match ctx
        .client
        .json::<berth_api::image::BuildCachePruneResponse>(req)
    {
        Ok(r) => {
            let ids = r.caches_deleted;
            step(Ok((r.space_reclaimed, prune::section("Build Cache", &ids))))?;
        }
        Err(e) if e.is_unsupported_route() => {}
        Err(e) => return Err(e.into()),
    }
    super::out(&format!(
        "Total reclaimed space: {}\n",
        units::human_size(reclaimed as f64)
    ));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::container::ContainerSummary;
    use berth_api::image::ImageSummary;

    #[test]
    fn summary_like_docker() {
        let du = DiskUsage {
            layers_size: 1_982_000,
            images: vec![ImageSummary {
                size: 1_982_000,
                containers: 1,
                ..ImageSummary::default()
            }],
            containers: vec![
                ContainerSummary {
                    state: "running".into(),
                    ..ContainerSummary::default()
                },
                ContainerSummary {
                    state: "exited".into(),
                    size_rw: 100,
                    ..ContainerSummary::default()
                },
            ],
            ..DiskUsage::default()
        };
        let f = Format::new("", SUMMARY_TABLE).unwrap();
        assert_eq!(
            f.render(&summary_header(), &summary_rows(&du), true)
                .unwrap(),
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
             Images          1         1         1.982MB   0B (0%)\n\
             Containers      2         1         100B      100B (100%)\n\
             Local Volumes   0         0         0B        0B\n\
             Build Cache     0         0         0B        0B\n"
        );
    }
}

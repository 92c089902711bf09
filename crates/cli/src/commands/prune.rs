//! `berth container prune` and `berth image prune` (`-f`, `--filter`, image `-a`), with
//! Docker's prompts and reports; the calls are shared with `system prune`.

use berth_api::container::ContainerPruneResponse;
use berth_api::image::{ImageDeleteItem, ImagePruneResponse};
use berth_api::network::NetworkPruneResponse;
use clap::Args;

use super::ps::parse_filters;
use super::volume::prune_report;
use super::{CmdError, CmdResult, Ctx};
use crate::client::Request;

/// `container prune`.
#[derive(Debug, Clone, Args)]
pub struct ContainerPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `image prune`.
#[derive(Debug, Clone, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

fn with_filters(
    path: &str,
    filter: &[String],
    extra: Option<(&str, &str)>,
) -> Result<Request, CmdError> {
    let mut f = parse_filters(filter)?;
    if let Some((k, v)) = extra {
        f.add(k, v);
    }
    let mut req = Request::new("POST", path);
    if !f.is_empty() {
        req = req.query("filters", f.to_query());
    }
    Ok(req)
}

/// `POST /containers/prune`: (reclaimed, report text without the total).
pub fn containers(ctx: &Ctx, filter: &[String]) -> Result<(u64, String), CmdError> {
    let r: ContainerPruneResponse =
        ctx.client
            .json(with_filters("/containers/prune", filter, None)?)?;
    Ok((
        r.space_reclaimed,
        section("Containers", &r.containers_deleted),
    ))
}

/// `POST /networks/prune`.
pub fn networks(ctx: &Ctx, filter: &[String]) -> Result<(u64, String), CmdError> {
    let r: NetworkPruneResponse =
        ctx.client
            .json(with_filters("/networks/prune", filter, None)?)?;
    Ok((0, section("Networks", &r.networks_deleted)))
}

/// `POST /images/prune` (`dangling=false` with `-a`, as the CLI sends it).
pub fn images(ctx: &Ctx, all: bool, filter: &[String]) -> Result<(u64, String), CmdError> {
    let dangling = if all { "false" } else { "true" };
    let r: ImagePruneResponse = ctx.client.json(with_filters(
        "/images/prune",
        filter,
        Some(("dangling", dangling)),
    )?)?;
    let lines: Vec<String> = r
        .images_deleted
        .unwrap_or_default()
        .into_iter()
        .map(|i| match i {
            ImageDeleteItem::Untagged(s) => format!("untagged: {s}"),
            ImageDeleteItem::Deleted(s) => format!("deleted: {s}"),
        })
        .collect();
    Ok((r.space_reclaimed, section("Images", &lines)))
}

/// `Deleted <what>:` + one line each + a blank line; empty when nothing was deleted.
pub fn section(what: &str, items: &[String]) -> String {
    let r = prune_report(what, items, 0);
    r.strip_suffix("Total reclaimed space: 0B\n")
        .unwrap_or("")
        .to_owned()
}

fn total(reclaimed: u64) -> String {
    prune_report("", &[], reclaimed)
}

/// `container prune`.
pub fn container_prune(ctx: &Ctx, a: ContainerPruneArgs) -> CmdResult {
    if !a.force && !super::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let (n, text) = containers(ctx, &a.filter)?;
    super::out(&format!("{text}{}", total(n)));
    Ok(0)
}

/// `image prune`.
pub fn image_prune(ctx: &Ctx, a: ImagePruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !super::confirm(warning) {
        return Ok(0);
    }
    let (n, text) = images(ctx, a.all, &a.filter)?;
    super::out(&format!("{text}{}", total(n)));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections() {
        assert_eq!(section("Containers", &[]), "");
        assert_eq!(
            section("Containers", &["a".into()]),
            "Deleted Containers:\na\n\n"
        );
        assert_eq!(total(0), "Total reclaimed space: 0B\n");
    }
}

//! `berth rmi`: `DELETE /images/{ref}` per image (`-f`, `--no-prune`), printing `Untagged:` and
//! `Deleted:` lines. A daemon without the route says so.

use berth_api::image::ImageDeleteItem;
use clap::Args;

use super::{collect_errors, CmdResult, Ctx};
use crate::client::{path_escape, Request};

/// `berth rmi`.
#[derive(Debug, Clone, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: RmiArgs) -> CmdResult {
    let mut errs = Vec::new();
    for i in &args.images {
        let req = Request::new("DELETE", format!("/images/{}", path_escape(i)))
            .flag("force", args.force)
            .flag("noprune", args.no_prune);
        match ctx.client.json::<Vec<ImageDeleteItem>>(req) {
            Ok(items) => {
                let mut text = String::new();
                for it in items {
                    match it {
                        ImageDeleteItem::Untagged(u) => text.push_str(&format!("Untagged: {u}\n")),
                        ImageDeleteItem::Deleted(d) => text.push_str(&format!("Deleted: {d}\n")),
                    }
                }
                super::out(&text);
            }
            Err(e) if e.is_unsupported_route() => return Err(super::save::unsupported("rmi")),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

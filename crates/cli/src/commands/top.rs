//! `berth top CONTAINER [ps OPTIONS]`: `GET /containers/{id}/top?ps_args=`, the titles and rows
//! through a tabwriter with minimum width 20, as docker prints them.

use berth_api::container::ContainerTopResponse;
use clap::Args;

use super::{cpath, CmdResult, Ctx};
use crate::client::Request;
use crate::format::tabwrite_min;

/// `berth top`.
#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    /// CONTAINER
    pub container: String,
    /// [ps OPTIONS]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// The table docker prints for a top response.
pub fn render(top: &ContainerTopResponse) -> String {
    let mut text = top.titles.join("\t");
    text.push('\n');
    for p in &top.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    tabwrite_min(&text, 20)
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: TopArgs) -> CmdResult {
    let mut req = Request::new("GET", cpath(&args.container, "/top"));
    if !args.ps_args.is_empty() {
        req = req.query("ps_args", args.ps_args.join(" "));
    }
    let top: ContainerTopResponse = ctx.client.json(req)?;
    super::out(&render(&top));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_at_least_twenty_wide() {
        let top = ContainerTopResponse {
            titles: vec!["UID".into(), "PID".into(), "CMD".into()],
            processes: vec![vec!["root".into(), "4242".into(), "sleep 100".into()]],
        };
        assert_eq!(
            render(&top),
            "UID                 PID                 CMD\nroot                4242                sleep 100\n"
        );
    }
}

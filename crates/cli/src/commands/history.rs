//! `berth history IMAGE`: `GET /images/{name}/history`, Docker's table (IMAGE, CREATED, CREATED
//! BY, SIZE, COMMENT), `-q`, `--no-trunc`, `-H=false`, `--format`.

use berth_api::image::HistoryItem;
use clap::{ArgAction, Args};
use serde_json::{json, Value};

use super::ps::ellipsis;
use super::{short_id, CmdResult, Ctx};
use crate::client::{path_escape, Request};
use crate::units;

/// `berth history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, value_name = "bool", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// IMAGE
    pub image: String,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

/// The template row of docker's history context.
pub fn row(h: &HistoryItem, trunc: bool, human: bool, now: i64) -> Value {
    let id = if trunc && h.id != "<missing>" {
        short_id(&h.id)
    } else {
        h.id.clone()
    };
    let created_by = h.created_by.replace('\t', " ");
    let created_by = if trunc {
        ellipsis(&created_by, 45)
    } else {
        created_by
    };
    let (since, size) = if human {
        (
            format!("{} ago", units::human_duration(now - h.created)),
            units::human_size(h.size as f64),
        )
    } else {
        (units::rfc3339(h.created), h.size.to_string())
    };
    json!({
        "Comment": h.comment,
        "CreatedAt": units::rfc3339(h.created),
        "CreatedBy": created_by,
        "CreatedSince": since,
        "ID": id,
        "Size": size,
        "$html": true,
    })
}

/// Column headers (`CreatedSince` is a date, "CREATED AT", without `-H`).
pub fn header(human: bool) -> Value {
    json!({
        "$type": "*image.historyContext",
        "Comment": "COMMENT", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
        "CreatedSince": if human { "CREATED" } else { "CREATED AT" }, "ID": "IMAGE", "Size": "SIZE",
    })
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: HistoryArgs) -> CmdResult {
    let list: Vec<HistoryItem> = ctx.client.json(Request::new(
        "GET",
        format!("/images/{}/history", path_escape(&args.image)),
    ))?;
    let now = units::now_unix();
    let rows: Vec<Value> = list
        .iter()
        .map(|h| row(h, !args.no_trunc, args.human, now))
        .collect();
    super::print_list(
        args.format.as_deref(),
        args.quiet.then_some("{{.ID}}"),
        DEFAULT_TABLE,
        &header(args.human),
        &rows,
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;

    #[test]
    fn table_like_docker() {
        let items = [
            HistoryItem {
                id: "sha256:0123456789abcdef".into(),
                created: 1_000,
                created_by: "/bin/sh -c #(nop)  CMD [\"sh\"]\tand a long tail of text here".into(),
                size: 0,
                ..HistoryItem::default()
            },
            HistoryItem {
                id: "<missing>".into(),
                created: 1_000,
                created_by: "ADD file:abc in /".into(),
                size: 4_260_000,
                comment: "imported".into(),
                ..HistoryItem::default()
            },
        ];
        let rows: Vec<Value> = items.iter().map(|h| row(h, true, true, 1_010)).collect();
        let f = Format::new("", DEFAULT_TABLE).unwrap();
        assert_eq!(
            f.render(&header(true), &rows, true).unwrap(),
            "IMAGE          CREATED          CREATED BY                                      SIZE      COMMENT\n\
             0123456789ab   10 seconds ago   /bin/sh -c #(nop)  CMD [\"sh\"] and a long tai…   0B        \n\
             <missing>      10 seconds ago   ADD file:abc in /                               4.26MB    imported\n"
        );
        let r = row(&items[1], false, false, 1_010);
        assert_eq!(r["CreatedSince"], "1970-01-01T00:16:40Z");
        assert_eq!(r["Size"], "4260000");
    }
}

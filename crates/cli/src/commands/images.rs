//! `berth images`: `GET /images/json`, Docker's table (REPOSITORY, TAG, IMAGE ID, CREATED, SIZE),
//! `-q`, `-a`, `--format`, `--no-trunc`, `--digests`, `-f`, `[REPOSITORY[:TAG]]`.

use berth_api::image::ImageSummary;
use clap::Args;
use serde_json::{json, Value};

use super::ps::parse_filters;
use super::{short_id, CmdResult, Ctx};
use crate::client::Request;
use crate::format::Format;
use crate::units;

/// `berth images`.
#[derive(Debug, Clone, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGESTS_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Template rows: one per tag, `<none>` for untagged images (docker's image context).
pub fn rows(list: &[ImageSummary], trunc: bool, now: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for img in list {
        let id = if trunc {
            short_id(&img.id)
        } else {
            img.id.clone()
        };
        let digest_of = |repo: &str| {
            img.repo_digests
                .iter()
                .find(|d| d.split('@').next() == Some(repo))
                .and_then(|d| d.split('@').nth(1))
                .unwrap_or("<none>")
                .to_owned()
        };
        let mut pairs: Vec<(String, String, String)> = img
            .repo_tags
            .iter()
            .filter(|t| t.as_str() != "<none>:<none>")
            .map(|t| {
                let (r, tag) = super::split_ref(t, false);
                let d = digest_of(&r);
                (r, tag.unwrap_or_else(|| "<none>".into()), d)
            })
            .collect();
        if pairs.is_empty() {
            let (r, d) = match img.repo_digests.first() {
                Some(rd) => {
                    let (r, d) = rd.split_once('@').unwrap_or((rd, "<none>"));
                    (r.to_owned(), d.to_owned())
                }
                None => ("<none>".to_owned(), "<none>".to_owned()),
            };
            pairs.push((r, "<none>".into(), d));
        }
        for (repo, tag, digest) in pairs {
            out.push(json!({
                "Containers": if img.containers < 0 { "N/A".to_owned() } else { img.containers.to_string() },
                "CreatedAt": units::unix_to_string(img.created),
                "CreatedSince": format!("{} ago", units::human_duration(now - img.created)),
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": if img.shared_size < 0 { "N/A".to_owned() } else { units::human_size(img.shared_size as f64) },
                "Size": units::human_size(img.size as f64),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": units::human_size_prec(img.size as f64, 4),
                "$html": true,
            }));
        }
    }
    out
}

/// Column headers.
pub fn header() -> Value {
    json!({
        "$type": "*formatter.imageContext",
        "Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
        "Digest": "DIGEST", "ID": "IMAGE ID", "Repository": "REPOSITORY", "SharedSize": "SHARED SIZE",
        "Size": "SIZE", "Tag": "TAG", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
    })
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: ImagesArgs) -> CmdResult {
    let mut filters = parse_filters(&args.filter)?;
    if let Some(r) = &args.reference {
        filters.add("reference", r.clone());
    }
    let mut req = Request::new("GET", "/images/json").flag("all", args.all);
    if !filters.is_empty() {
        req = req.query("filters", filters.to_query());
    }
    let mut format = args.format.clone().unwrap_or_default();
    if format == "json" {
        format = "{{json .}}".into();
    }
    let default = if args.digests {
        DIGESTS_TABLE
    } else {
        DEFAULT_TABLE
    };
    let list: Vec<ImageSummary> = ctx.client.json(req)?;
    let now = units::now_unix();
    if args.quiet && format.is_empty() {
        let mut seen = Vec::new();
        for img in &list {
            let id = if args.no_trunc {
                img.id.clone()
            } else {
                short_id(&img.id)
            };
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        let mut text = seen.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        super::out(&text);
        return Ok(0);
    }
    let fmt = Format::new(&format, default)?;
    let rows = rows(&list, !args.no_trunc, now);
    super::out(&fmt.render(&header(), &rows, true)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_docker() {
        let list = vec![
            ImageSummary {
                id: "sha256:6fd955f66c231c1a946653170d096a60e3f7e0b0c5e1b3e9c0c0e6d5c1a2b3c4"
                    .into(),
                repo_tags: vec!["busybox:latest".into(), "localhost:5000/bb:1".into()],
                created: 1_000,
                size: 4_430_000,
                ..ImageSummary::default()
            },
            ImageSummary {
                id: "sha256:aaaaaaaaaaaabbbb".into(),
                created: 1_000 - 7200,
                size: 1_984_552,
                ..ImageSummary::default()
            },
        ];
        let f = Format::new("", DEFAULT_TABLE).unwrap();
        let out = f
            .render(&header(), &rows(&list, true, 1_010), true)
            .unwrap();
        assert_eq!(
            out,
            "REPOSITORY          TAG       IMAGE ID       CREATED          SIZE\n\
             busybox             latest    6fd955f66c23   10 seconds ago   4.43MB\n\
             localhost:5000/bb   1         6fd955f66c23   10 seconds ago   4.43MB\n\
             <none>              <none>    aaaaaaaaaaaa   2 hours ago      1.98MB\n"
        );
    }
}

//! `berth inspect`: containers first, then images (or `--type`), printed as a JSON array
//! indented like Go's `json.Indent(…, "", "    ")` with the daemon's key order kept, or through
//! `-f/--format` per object. Missing objects: `Error: No such object: x`, exit 1.

use clap::Args;
use serde_json::Value;

use super::{collect_errors, cpath, CmdError, CmdResult, Ctx};
use crate::client::{path_escape, ClientError, Request};
use crate::format;

/// `berth inspect`.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    /// Return JSON for specified type (container, image)
    #[arg(long = "type", value_name = "string")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// NAME|ID [NAME|ID...]
    #[arg(required = true)]
    pub names: Vec<String>,
    /// `container inspect` / `image inspect`: a missing object is the daemon's error verbatim.
    #[arg(skip)]
    pub daemon_errors: bool,
}

/// Go's `json.Indent(dst, src, "", indent)`: insignificant whitespace replaced, empty `{}`/`[]`
/// kept compact, strings untouched.
pub fn indent(src: &str, unit: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                out.push_str(&src[start..(i + 1).min(b.len())]);
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if b.get(j) == Some(&close) {
                    out.push(c as char);
                    out.push(close as char);
                    i = j;
                } else {
                    out.push(c as char);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c as char);
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            b':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            _ => {
                // Literals: numbers, true, false, null (ASCII).
                let start = i;
                while i + 1 < b.len() && !b"{}[],:\" \t\r\n".contains(&b[i + 1]) {
                    i += 1;
                }
                out.push_str(&src[start..=i]);
            }
        }
        i += 1;
    }
    out
}

fn fetch(
    ctx: &Ctx,
    name: &str,
    kind: Option<&str>,
    size: bool,
    daemon_errors: bool,
) -> Result<Vec<u8>, CmdError> {
    let container = || {
        ctx.client
            .bytes(Request::new("GET", cpath(name, "/json")).flag("size", size))
    };
    let image = || {
        ctx.client.bytes(Request::new(
            "GET",
            format!("/images/{}/json", path_escape(name)),
        ))
    };
    let missing = || CmdError::Status {
        message: format!("Error: No such object: {name}"),
        code: 1,
    };
    let not_found = |e: ClientError| -> Result<Vec<u8>, CmdError> {
        if e.is_not_found() {
            Err(missing())
        } else {
            Err(e.into())
        }
    };
    match kind {
        Some("container") => container().map_err(|e| {
            if e.is_not_found() && daemon_errors {
                CmdError::Status {
                    message: e.to_string(),
                    code: 1,
                }
            } else if e.is_not_found() {
                CmdError::Status {
                    message: format!("Error: No such container: {name}"),
                    code: 1,
                }
            } else {
                e.into()
            }
        }),
        Some("image") => image().map_err(|e| {
            if e.is_not_found() && daemon_errors {
                CmdError::Status {
                    message: e.to_string(),
                    code: 1,
                }
            } else if e.is_not_found() {
                CmdError::Status {
                    message: format!("Error: No such image: {name}"),
                    code: 1,
                }
            } else {
                e.into()
            }
        }),
        Some(other) => Err(CmdError::Usage(format!(
            "\"{other}\" is not a valid value for --type"
        ))),
        None => match container() {
            Ok(b) => Ok(b),
            Err(e) if e.is_not_found() => image().or_else(not_found),
            Err(e) => Err(e.into()),
        },
    }
}

/// Prints raw JSON objects as `docker * inspect` does: an indented array, or each through
/// `-f/--format` (a missing key is an error, as with docker).
pub fn print_raws(raws: &[String], format: Option<&str>) -> Result<(), CmdError> {
    match format.filter(|f| !f.is_empty()) {
        None | Some("json") => {
            let joined = format!("[{}]", raws.join(","));
            super::out(&format!("{}\n", indent(&joined, "    ")));
        }
        Some(f) => {
            for r in raws {
                let v: Value = format::parse_ordered(r).map_err(ClientError::from)?;
                match format::render_one_with(f, &v, format::Missing::Error) {
                    Ok(text) => super::out(&text),
                    Err(e) => {
                        // docker prints the (empty) line, then the error, exit 1.
                        super::out("\n");
                        let msg = match e {
                            format::FormatError::Exec(m) => {
                                format!("template parsing error: template: {m}")
                            }
                            e => e.to_string(),
                        };
                        return Err(CmdError::Status {
                            message: msg,
                            code: 1,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Parses `-f/--format` before any request, as the docker CLI does: a bad template is
/// `template parsing error: template: :1: …`, exit 64.
pub fn check_template(format: Option<&str>) -> Result<(), CmdError> {
    if let Some(f) = format.filter(|f| !f.is_empty() && *f != "json") {
        if let Err(format::FormatError::Parse(m)) =
            format::Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n"))
        {
            return Err(CmdError::Status {
                message: format!("template parsing error: template: :1: {m}"),
                code: 64,
            });
        }
    }
    Ok(())
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: InspectArgs) -> CmdResult {
    check_template(args.format.as_deref())?;
    let mut raws = Vec::new();
    let mut errs = Vec::new();
    for n in &args.names {
        match fetch(ctx, n, args.kind.as_deref(), args.size, args.daemon_errors) {
            Ok(b) => raws.push(String::from_utf8_lossy(&b).trim().to_owned()),
            Err(CmdError::Status { message, .. }) => errs.push(message),
            Err(e) => return Err(e),
        }
    }
    print_raws(&raws, args.format.as_deref())?;
    collect_errors(errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_like_go() {
        let src = r#"[{"Id":"x","Args":[],"Env":["A=1","B={,}"],"Labels":{},"N":-1.5e3,"T":true,"Z":null}]"#;
        assert_eq!(
            indent(src, "    "),
            "[\n    {\n        \"Id\": \"x\",\n        \"Args\": [],\n        \"Env\": [\n            \"A=1\",\n            \"B={,}\"\n        ],\n        \"Labels\": {},\n        \"N\": -1.5e3,\n        \"T\": true,\n        \"Z\": null\n    }\n]"
        );
        assert_eq!(indent("[]", "    "), "[]");
        assert_eq!(indent(r#"{"a":"q\"x"}"#, "  "), "{\n  \"a\": \"q\\\"x\"\n}");
    }
}

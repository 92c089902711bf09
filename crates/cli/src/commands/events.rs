//! `berth events` (and `system events`): `GET /events?since=&until=&filters=`, one line per
//! event in Docker's layout (`<time> <type> <action> <id> (k=v, ...)`) or through `--format`;
//! streams until `--until` or until interrupted.

use std::io::{BufRead, BufReader};

use berth_api::system::EventMessage;
use clap::Args;
use serde_json::Value;

use super::ps::parse_filters;
use super::{CmdError, CmdResult, Ctx};
use crate::client::{ClientError, Request};
use crate::format::{self, Format};
use crate::units;

/// `berth events`.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long, value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "string")]
    pub until: Option<String>,
}

/// docker's `prettyPrintEvent`.
pub fn pretty(e: &EventMessage) -> String {
    let mut s = String::new();
    if e.time_nano != 0 {
        s.push_str(&units::rfc3339_nanos(e.time_nano, Some(9)));
        s.push(' ');
    } else if e.time != 0 {
        s.push_str(&units::rfc3339_nanos(e.time * 1_000_000_000, Some(9)));
        s.push(' ');
    }
    s.push_str(&format!("{} {} {}", e.r#type, e.action, e.actor.id));
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s.push('\n');
    s
}

/// Runs the command.
pub fn run(ctx: &Ctx, args: EventsArgs) -> CmdResult {
    let now = units::now_unix();
    let mut req = Request::new("GET", "/events");
    if let Some(s) = &args.since {
        req = req.query("since", units::timestamp_arg(s, now)?);
    }
    if let Some(u) = &args.until {
        req = req.query("until", units::timestamp_arg(u, now)?);
    }
    let filters = parse_filters(&args.filter)?;
    if !filters.is_empty() {
        req = req.query("filters", filters.to_query());
    }
    let template = super::expand_format(args.format.as_deref());
    let fmt = if template.is_empty() {
        None
    } else {
        Some(Format::new(&template, "")?)
    };
    let resp = ctx.client.send(req)?;
    let mut r = BufReader::new(resp);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(ClientError::from)? == 0 {
            break;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match &fmt {
            None => {
                let e: EventMessage = serde_json::from_str(text).map_err(ClientError::from)?;
                super::out(&pretty(&e));
            }
            Some(f) => {
                let v: Value = format::parse_ordered(text).map_err(ClientError::from)?;
                let rendered = f
                    .render(&Value::Null, &[v], false)
                    .map_err(CmdError::from)?;
                super::out(&rendered);
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::system::EventActor;

    #[test]
    fn pretty_like_docker() {
        let mut e = EventMessage {
            r#type: "container".into(),
            action: "start".into(),
            actor: EventActor {
                id: "abc".into(),
                ..EventActor::default()
            },
            time_nano: 1_700_000_000_123_456_789,
            ..EventMessage::default()
        };
        e.actor.attributes.insert("name".into(), "web".into());
        e.actor.attributes.insert("image".into(), "busybox".into());
        assert_eq!(
            pretty(&e),
            "2023-11-14T22:13:20.123456789Z container start abc (image=busybox, name=web)\n"
        );
    }
}

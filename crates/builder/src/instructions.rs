//! What each instruction means: [`Node`]s checked and turned into typed [`Instruction`]s before
//! anything runs (unknown flags, missing arguments and malformed forms fail with their line).
//! Words that Docker expands are kept raw here; the evaluator expands them with the variables in
//! scope at that step.

use crate::parser::{err, words, Args, Heredoc, Node, ParseError};

/// A command in exec or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// `["a", "b"]`.
    Exec(Vec<String>),
    /// Text run by the stage's `SHELL`.
    Shell(String),
}

/// COPY/ADD arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// Sources (raw words).
    pub sources: Vec<String>,
    /// Destination (raw word).
    pub dest: String,
    /// `--from=` stage name, index or image.
    pub from: Option<String>,
    /// `--chown=` (raw).
    pub chown: Option<String>,
    /// `--chmod=` (raw).
    pub chmod: Option<String>,
    /// `--link` (accepted; layers are independent of the parent's files either way here).
    pub link: bool,
    /// Heredoc files (`COPY <<EOF /dest`).
    pub heredocs: Vec<Heredoc>,
    /// Sources were given in JSON form (no word splitting).
    pub json: bool,
}

/// HEALTHCHECK arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `["CMD", …]`, `["CMD-SHELL", cmd]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Nanoseconds (0 = inherit).
    pub interval: i64,
    /// Nanoseconds.
    pub timeout: i64,
    /// Nanoseconds.
    pub start_period: i64,
    /// Nanoseconds.
    pub start_interval: i64,
    /// Retries (0 = inherit).
    pub retries: i64,
}

/// A checked instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM [--platform=p] image [AS name]`.
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    /// `RUN [--network=x] cmd`.
    Run {
        cmd: CommandLine,
        network: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `ENV k=v …` (raw words).
    Env(Vec<(String, String)>),
    /// `LABEL k=v …` (raw words).
    Label(Vec<(String, String)>),
    /// `ARG name[=default] …`.
    Arg(Vec<(String, Option<String>)>),
    /// `EXPOSE 80/tcp …` (raw words).
    Expose(Vec<String>),
    /// `VOLUME /a /b` or JSON (raw words).
    Volume(Vec<String>),
    /// `USER u[:g]` (raw).
    User(String),
    /// `WORKDIR /p` (raw).
    Workdir(String),
    /// `SHELL ["sh", "-c"]`.
    Shell(Vec<String>),
    /// `STOPSIGNAL s` (raw).
    StopSignal(String),
    /// `HEALTHCHECK NONE` / `HEALTHCHECK [opts] CMD …`.
    Healthcheck(Health),
    /// `ONBUILD <instruction>` (its text).
    Onbuild(String),
    /// `MAINTAINER name`.
    Maintainer(String),
    /// `COPY`.
    Copy(CopySpec),
    /// `ADD`.
    Add(CopySpec),
}

/// One checked step: the node it came from and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The parsed node (line, original text).
    pub node: Node,
    /// Its meaning.
    pub instruction: Instruction,
}

fn allow_flags(n: &Node, allowed: &[&str]) -> Result<(), ParseError> {
    for (k, _) in &n.flags {
        if !allowed.contains(&k.as_str()) {
            return err(n.line, format!("Unknown flag: {k}"));
        }
    }
    Ok(())
}

fn flag(n: &Node, name: &str) -> Option<String> {
    n.flags
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone().unwrap_or_default())
}

fn bool_flag(n: &Node, name: &str) -> Result<bool, ParseError> {
    match n.flags.iter().rev().find(|(k, _)| k == name) {
        None => Ok(false),
        Some((_, None)) => Ok(true),
        Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => err(
                n.line,
                format!("expecting boolean value for flag {name}, not: {v}"),
            ),
        },
    }
}

fn command_line(n: &Node) -> CommandLine {
    match &n.args {
        Args::Json(v) => CommandLine::Exec(v.clone()),
        Args::Shell(s) => CommandLine::Shell(s.clone()),
    }
}

fn require(n: &Node, what: &str) -> Result<(), ParseError> {
    let empty = match &n.args {
        Args::Json(v) => v.is_empty(),
        Args::Shell(s) => s.trim().is_empty(),
    };
    if empty {
        return err(n.line, format!("{what} requires at least one argument"));
    }
    Ok(())
}

/// WORKDIR and STOPSIGNAL take the rest of the line as their one argument.
fn exactly_one(n: &Node, what: &str) -> Result<(), ParseError> {
    if n.args.text().trim().is_empty() {
        return err(n.line, format!("{what} requires exactly one argument"));
    }
    Ok(())
}

/// The raw word list of a node (JSON elements or shell words).
fn list(n: &Node, escape: char) -> Vec<String> {
    match &n.args {
        Args::Json(v) => v.clone(),
        Args::Shell(s) => words(s, escape),
    }
}

/// `k=v k2=v2` pairs, or the legacy `k v…` form (one pair, the rest of the line the value).
fn pairs(n: &Node, what: &str, escape: char) -> Result<Vec<(String, String)>, ParseError> {
    let text = n.args.text();
    let ws = words(&text, escape);
    let Some(first) = ws.first() else {
        return err(n.line, format!("{what} requires at least one argument"));
    };
    if !first.contains('=') {
        let key = first.clone();
        let rest = text.trim_start()[key.len()..].trim().to_string();
        if rest.is_empty() {
            return err(n.line, format!("{what} must have two arguments"));
        }
        return Ok(vec![(key, rest)]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => err(
                n.line,
                format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"),
            ),
        })
        .collect()
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
pub fn duration_ns(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += num * mult;
    }
    Some(total as i64)
}

fn health(n: &Node) -> Result<Health, ParseError> {
    allow_flags(
        n,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    )?;
    let text = n.args.text();
    let text = text.trim();
    let (kw, rest) = match text.find(char::is_whitespace) {
        Some(p) => (&text[..p], text[p..].trim()),
        None => (text, ""),
    };
    let dur = |name: &str| -> Result<i64, ParseError> {
        match flag(n, name) {
            None => Ok(0),
            Some(v) => match duration_ns(&v) {
                Some(d) if d >= 0 => Ok(d),
                _ => err(n.line, format!("invalid duration for --{name}: {v:?}")),
            },
        }
    };
    let test = match kw.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.is_empty() || !n.flags.is_empty() {
                return err(n.line, "HEALTHCHECK NONE takes no arguments");
            }
            vec!["NONE".to_string()]
        }
        "CMD" => {
            if rest.is_empty() {
                return err(n.line, "Missing command after HEALTHCHECK CMD");
            }
            match serde_json::from_str::<Vec<String>>(rest) {
                Ok(v) if rest.starts_with('[') => {
                    let mut t = vec!["CMD".to_string()];
                    t.extend(v);
                    t
                }
                _ => vec!["CMD-SHELL".to_string(), rest.to_string()],
            }
        }
        _ => {
            return err(
                n.line,
                format!("Unknown type {kw:?} in HEALTHCHECK (try CMD)"),
            )
        }
    };
    let retries = match flag(n, "retries") {
        None => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(r) if r >= 0 => r,
            _ => return err(n.line, format!("invalid --retries: {v:?}")),
        },
    };
    Ok(Health {
        test,
        interval: dur("interval")?,
        timeout: dur("timeout")?,
        start_period: dur("start-period")?,
        start_interval: dur("start-interval")?,
        retries,
    })
}

fn copy_spec(n: &Node, add: bool, escape: char) -> Result<CopySpec, ParseError> {
    if add {
        allow_flags(
            n,
            &[
                "chown",
                "chmod",
                "link",
                "checksum",
                "keep-git-dir",
                "exclude",
            ],
        )?;
    } else {
        allow_flags(n, &["from", "chown", "chmod", "link", "parents", "exclude"])?;
    }
    for unsupported in ["checksum", "keep-git-dir", "parents", "exclude"] {
        if flag(n, unsupported).is_some() {
            return err(
                n.line,
                format!(
                    "the --{unsupported} flag needs BuildKit; Berth's builder does not support it"
                ),
            );
        }
    }
    let json = matches!(n.args, Args::Json(_));
    let mut ws = list(n, escape);
    // Heredoc delimiters are sources standing for generated files.
    let heredocs = n.heredocs.clone();
    if !heredocs.is_empty() {
        ws.retain(|w| !w.starts_with("<<"));
    }
    let min = if heredocs.is_empty() { 2 } else { 1 };
    if ws.len() < min {
        return err(
            n.line,
            format!(
                "{} requires at least two arguments, but only {} provided",
                if add { "ADD" } else { "COPY" },
                ws.len()
            ),
        );
    }
    let dest = ws.pop().unwrap_or_default();
    Ok(CopySpec {
        sources: ws,
        dest,
        from: flag(n, "from"),
        chown: flag(n, "chown"),
        chmod: flag(n, "chmod"),
        link: bool_flag(n, "link")?,
        heredocs,
        json,
    })
}

/// Checks one node.
pub fn instruction(n: &Node, escape: char) -> Result<Instruction, ParseError> {
    let kw = n.keyword.as_str();
    if !matches!(kw, "from" | "run" | "copy" | "add" | "healthcheck") && !n.flags.is_empty() {
        allow_flags(n, &[])?;
    }
    if !matches!(kw, "run" | "copy" | "add") && !n.heredocs.is_empty() {
        return err(
            n.line,
            format!("{} does not support heredocs", kw.to_uppercase()),
        );
    }
    Ok(match kw {
        "from" => {
            allow_flags(n, &["platform"])?;
            let ws = list(n, escape);
            let (image, name) = match ws.as_slice() {
                [i] => (i.clone(), None),
                [i, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let lower = name.to_ascii_lowercase();
                    let ok = lower
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic())
                        && lower
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                    if !ok {
                        return err(n.line, format!("invalid name for build stage: {name:?}, name can't start with a number or contain symbols"));
                    }
                    (i.clone(), Some(lower))
                }
                [] => return err(n.line, "FROM requires either one or three arguments"),
                _ => return err(n.line, "FROM requires either one or three arguments"),
            };
            Instruction::From {
                image,
                name,
                platform: flag(n, "platform"),
            }
        }
        "run" => {
            allow_flags(n, &["network", "mount", "security"])?;
            if flag(n, "mount").is_some() || flag(n, "security").is_some() {
                return err(
                    n.line,
                    "RUN --mount and --security need BuildKit; Berth's builder does not support them",
                );
            }
            if n.heredocs.is_empty() {
                require(n, "RUN")?;
            }
            let network = flag(n, "network");
            if let Some(net) = &network {
                if !matches!(net.as_str(), "default" | "none" | "host") {
                    return err(
                        n.line,
                        format!("unsupported network mode {net:?}: use default, none or host"),
                    );
                }
            }
            Instruction::Run {
                cmd: command_line(n),
                network,
                heredocs: n.heredocs.clone(),
            }
        }
        "cmd" => Instruction::Cmd(command_line(n)),
        "entrypoint" => Instruction::Entrypoint(command_line(n)),
        "env" => Instruction::Env(pairs(n, "ENV", escape)?),
        "label" => Instruction::Label(pairs(n, "LABEL", escape)?),
        "arg" => {
            let ws = words(&n.args.text(), escape);
            if ws.is_empty() {
                return err(n.line, "ARG requires at least one argument");
            }
            Instruction::Arg(
                ws.into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (w, None),
                    })
                    .collect(),
            )
        }
        "expose" => {
            require(n, "EXPOSE")?;
            Instruction::Expose(list(n, escape))
        }
        "volume" => {
            require(n, "VOLUME")?;
            let v = list(n, escape);
            if v.iter().any(|s| s.trim().is_empty()) {
                return err(n.line, "VOLUME specified can not be an empty string");
            }
            Instruction::Volume(v)
        }
        "user" => {
            require(n, "USER")?;
            Instruction::User(n.args.text().trim().to_string())
        }
        "workdir" => {
            exactly_one(n, "WORKDIR")?;
            Instruction::Workdir(n.args.text().trim().to_string())
        }
        "shell" => match &n.args {
            Args::Json(v) if !v.is_empty() => Instruction::Shell(v.clone()),
            _ => return err(n.line, "SHELL requires the arguments to be in JSON form"),
        },
        "stopsignal" => {
            exactly_one(n, "STOPSIGNAL")?;
            Instruction::StopSignal(n.args.text().trim().to_string())
        }
        "healthcheck" => Instruction::Healthcheck(health(n)?),
        "onbuild" => {
            let t = n.args.text();
            let t = t.trim();
            let first = t
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match first.as_str() {
                "" => return err(n.line, "ONBUILD requires at least one argument"),
                "ONBUILD" => {
                    return err(
                        n.line,
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    )
                }
                "FROM" | "MAINTAINER" => {
                    return err(
                        n.line,
                        format!("{first} isn't allowed as an ONBUILD trigger"),
                    )
                }
                _ => {}
            }
            // The trigger must itself be a valid instruction.
            let inner = crate::parser::parse(t).map_err(|e| ParseError {
                line: n.line,
                message: e.message,
            })?;
            for node in &inner.nodes {
                instruction(node, escape).map_err(|e| ParseError {
                    line: n.line,
                    message: e.message,
                })?;
            }
            Instruction::Onbuild(t.to_string())
        }
        "maintainer" => {
            require(n, "MAINTAINER")?;
            Instruction::Maintainer(n.args.text().trim().to_string())
        }
        "copy" => Instruction::Copy(copy_spec(n, false, escape)?),
        "add" => Instruction::Add(copy_spec(n, true, escape)?),
        other => {
            return err(
                n.line,
                format!("unknown instruction: {}", other.to_uppercase()),
            )
        }
    })
}

/// Checks every node of a parsed Dockerfile.
pub fn check(nodes: &[Node], escape: char) -> Result<Vec<Step>, ParseError> {
    nodes
        .iter()
        .map(|n| {
            Ok(Step {
                node: n.clone(),
                instruction: instruction(n, escape)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn steps(s: &str) -> Result<Vec<Step>, ParseError> {
        let d = parse(s)?;
        check(&d.nodes, d.directives.escape)
    }

    fn only(s: &str) -> Instruction {
        let mut v = steps(s).expect("valid");
        v.remove(0).instruction
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            only("ENV a=1 b=\"x y\""),
            Instruction::Env(vec![
                ("a".into(), "1".into()),
                ("b".into(), "\"x y\"".into())
            ])
        );
        assert_eq!(
            only("ENV a  hello world "),
            Instruction::Env(vec![("a".into(), "hello world".into())])
        );
        let e = steps("ENV a=1 b").expect_err("bad");
        assert!(e.to_string().contains("can't find = in \"b\""), "{e}");
        assert!(steps("ENV a").is_err());
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            only("FROM --platform=linux/amd64 busybox AS Build"),
            Instruction::From {
                image: "busybox".into(),
                name: Some("build".into()),
                platform: Some("linux/amd64".into())
            }
        );
        assert!(steps("FROM a b").is_err());
        assert!(steps("FROM a AS 1x").is_err());
        assert!(steps("FROM --foo=1 a").is_err());
    }

    #[test]
    fn copy_forms() {
        let Instruction::Copy(c) = only("COPY --chown=1:2 --chmod=640 a b /d/") else {
            panic!("copy")
        };
        assert_eq!(c.sources, vec!["a", "b"]);
        assert_eq!(c.dest, "/d/");
        assert_eq!(c.chown.as_deref(), Some("1:2"));
        assert_eq!(c.chmod.as_deref(), Some("640"));
        let Instruction::Copy(c) = only("COPY [\"a b\", \"/d\"]") else {
            panic!("copy")
        };
        assert_eq!(c.sources, vec!["a b"]);
        let e = steps("COPY a").expect_err("one arg");
        assert_eq!(e.line, 1);
        assert!(steps("ADD --from=x a b").is_err());
        let Instruction::Copy(c) = only("COPY <<EOF /f\nhi\nEOF\n") else {
            panic!("copy")
        };
        assert!(c.sources.is_empty());
        assert_eq!(c.heredocs.len(), 1);
    }

    #[test]
    fn healthcheck_forms() {
        let Instruction::Healthcheck(h) =
            only("HEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]")
        else {
            panic!("hc")
        };
        assert_eq!(h.test, vec!["CMD", "true"]);
        assert_eq!(h.interval, 5_000_000_000);
        assert_eq!(h.retries, 3);
        let Instruction::Healthcheck(h) = only("HEALTHCHECK CMD curl -f x || exit 1") else {
            panic!("hc")
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f x || exit 1"]);
        let Instruction::Healthcheck(h) = only("HEALTHCHECK NONE") else {
            panic!("hc")
        };
        assert_eq!(h.test, vec!["NONE"]);
        assert!(steps("HEALTHCHECK --interval=x CMD true").is_err());
        assert!(steps("HEALTHCHECK FOO").is_err());
    }

    #[test]
    fn checks_name_their_line() {
        let e = steps("FROM x\nRUN a\nSHELL /bin/bash\n").expect_err("shell");
        assert_eq!(e.line, 3);
        let e = steps("FROM x\nONBUILD ONBUILD RUN a\n").expect_err("chain");
        assert_eq!(e.line, 2);
        let e = steps("FROM x\nRUN --mount=type=cache,target=/x a\n").expect_err("mount");
        assert!(e.to_string().contains("BuildKit"), "{e}");
        let e = steps("FROM x\nWORKDIR --foo /a\n").expect_err("flag");
        assert!(e.to_string().contains("Unknown flag: foo"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_ns("x"), None);
        assert_eq!(duration_ns(""), None);
    }

    #[test]
    fn arg_forms() {
        assert_eq!(
            only("ARG a b=2 c=\"x\""),
            Instruction::Arg(vec![
                ("a".into(), None),
                ("b".into(), Some("2".into())),
                ("c".into(), Some("\"x\"".into()))
            ])
        );
    }
}

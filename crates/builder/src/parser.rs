//! The Dockerfile's syntax: parser directives, comments, line continuations, heredocs, flags and
//! the JSON (exec) or shell form of each instruction's arguments. Pure: text in, [`Node`]s out,
//! every error naming its line. What each instruction means is [`crate::instructions`]'s job.

use std::fmt;

/// A syntax error, with the line it was found on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error line {line}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

pub(crate) fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` (recorded; the classic builder does not switch frontends).
    pub syntax: Option<String>,
    /// `# escape=` (`\` by default, or `` ` ``).
    pub escape: char,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
        }
    }
}

/// An instruction's arguments as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// A JSON array of strings (`["a", "b"]`).
    Json(Vec<String>),
    /// The rest of the line after the keyword and flags, continuations joined.
    Shell(String),
}

impl Args {
    /// The arguments as text (JSON arrays re-rendered as Docker prints them in `Step` lines).
    pub fn text(&self) -> String {
        match self {
            Args::Json(v) => serde_json::to_string(v).unwrap_or_default(),
            Args::Shell(s) => s.clone(),
        }
    }
}

/// A heredoc attached to an instruction (`<<EOF` … `EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (also the file name `COPY <<EOF /dir/` writes).
    pub name: String,
    /// The body, every line ending in `\n`.
    pub content: String,
    /// Unquoted delimiter: the body gets variable expansion.
    pub expand: bool,
}

/// One instruction, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// First line (1-based).
    pub line: usize,
    /// The keyword, lower case (`run`, `copy`…).
    pub keyword: String,
    /// `--name[=value]` flags before the arguments, in order.
    pub flags: Vec<(String, Option<String>)>,
    /// The arguments.
    pub args: Args,
    /// Heredoc bodies, in the order of their delimiters.
    pub heredocs: Vec<Heredoc>,
    /// The instruction as one line (keyword upper case, continuations joined) for `Step` lines.
    pub original: String,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// Parser directives.
    pub directives: Directives,
    /// Instructions in order.
    pub nodes: Vec<Node>,
}

/// Keywords Docker knows.
pub const KEYWORDS: &[&str] = &[
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Instructions that may carry heredocs.
const HEREDOC_KEYWORDS: &[&str] = &["run", "copy", "add"];

fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character (after trailing whitespace): the line continues.
fn continuation(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end();
    t.strip_suffix(escape)
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut d = Directives::default();
    let mut i = 0;
    let mut seen = std::collections::BTreeSet::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        match k.as_str() {
            "escape" | "syntax" | "check" => {
                if !seen.insert(k.clone()) {
                    return err(i + 1, format!("only one {k} parser directive can be used"));
                }
                if k == "escape" {
                    d.escape = match v.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return err(
                                i + 1,
                                format!("invalid escape token '{v}' does not match ` or \\"),
                            )
                        }
                    };
                } else if k == "syntax" {
                    d.syntax = Some(v);
                }
            }
            // An unknown directive is a comment, and ends the directives.
            _ => break,
        }
        i += 1;
    }
    let mut nodes = Vec::new();
    while i < lines.len() {
        let raw = lines[i];
        if raw.trim().is_empty() || is_comment(raw) {
            i += 1;
            continue;
        }
        let start = i + 1;
        // One logical line: continuations joined, comment and blank lines inside skipped.
        let mut logical = String::new();
        let mut cur = raw;
        loop {
            match continuation(cur, d.escape) {
                Some(head) => {
                    logical.push_str(head);
                    i += 1;
                    while i < lines.len() && (is_comment(lines[i]) || lines[i].trim().is_empty()) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i];
                }
                None => {
                    logical.push_str(cur);
                    i += 1;
                    break;
                }
            }
        }
        let logical = logical.trim();
        let (kw, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], logical[p..].trim_start()),
            None => (logical, ""),
        };
        let keyword = kw.to_ascii_lowercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return err(start, format!("unknown instruction: {kw}"));
        }
        let (flags, rest) = if keyword == "onbuild" {
            (Vec::new(), rest)
        } else {
            split_flags(rest)
        };
        let mut heredocs = Vec::new();
        if HEREDOC_KEYWORDS.contains(&keyword.as_str()) && !rest.trim_start().starts_with('[') {
            for (name, expand, strip_tabs) in heredoc_markers(rest) {
                let mut content = String::new();
                let mut done = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let l = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if l == name {
                        done = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !done {
                    return err(start, format!("unterminated heredoc {name}"));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        let args = json_args(rest).map_or_else(|| Args::Shell(rest.to_string()), Args::Json);
        let original = if rest.is_empty() && flags.is_empty() {
            kw.to_ascii_uppercase()
        } else {
            format!(
                "{} {}",
                kw.to_ascii_uppercase(),
                logical[kw.len()..].trim_start()
            )
        };
        nodes.push(Node {
            line: start,
            keyword,
            flags,
            args,
            heredocs,
            original,
        });
    }
    Ok(Dockerfile {
        directives: d,
        nodes,
    })
}

/// Leading `--flag[=value]` words.
fn split_flags(mut rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    loop {
        let t = rest.trim_start();
        let Some(f) = t.strip_prefix("--") else {
            return (flags, t);
        };
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        if word.is_empty() {
            // A lone `--` ends the flags.
            return (flags, f[end..].trim_start());
        }
        match word.split_once('=') {
            Some((k, v)) => flags.push((k.to_string(), Some(v.to_string()))),
            None => flags.push((word.to_string(), None)),
        }
        rest = &f[end..];
    }
}

/// Heredoc delimiters in an instruction's arguments: (name, expand, strip leading tabs).
pub(crate) fn heredoc_markers(s: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == b'<'
            && b.get(i + 1) == Some(&b'<')
            && b.get(i + 2) != Some(&b'<')
            && (i == 0 || b[i - 1] != b'<')
        {
            let mut j = i + 2;
            let strip = b.get(j) == Some(&b'-');
            if strip {
                j += 1;
            }
            let q = match b.get(j) {
                Some(&q @ (b'\'' | b'"')) => {
                    j += 1;
                    Some(q)
                }
                _ => None,
            };
            let st = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            let name = &s[st..j];
            let closed = match q {
                Some(q) => b.get(j) == Some(&q),
                None => true,
            };
            if !name.is_empty() && closed {
                out.push((name.to_string(), q.is_none(), strip));
                i = j + usize::from(q.is_some());
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The JSON form: a JSON array of strings, nothing else.
fn json_args(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Splits shell-form text into words at unquoted whitespace, keeping quotes and escapes in the
/// words (expansion removes them later), as Docker's `parseWords`.
pub fn words(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut w = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        if quote.is_none() && c.is_whitespace() {
            out.push(std::mem::take(&mut w));
            in_word = false;
            continue;
        }
        if c == escape {
            w.push(c);
            if let Some(n) = chars.next() {
                w.push(n);
            }
            continue;
        }
        match quote {
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ => {}
        }
        w.push(c);
    }
    if in_word {
        out.push(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Node {
        let d = parse(s).expect("parses");
        assert_eq!(d.nodes.len(), 1, "{d:?}");
        d.nodes.into_iter().next().expect("one node")
    }

    #[test]
    fn keywords_are_case_insensitive_and_args_kept() {
        let n = one("run echo  hi\n");
        assert_eq!(n.keyword, "run");
        assert_eq!(n.args, Args::Shell("echo  hi".into()));
        assert_eq!(n.original, "RUN echo  hi");
    }

    #[test]
    fn continuations_join_and_skip_comments_and_blank_lines() {
        let d =
            parse("FROM x\nRUN echo a \\\n# comment\n\n    b \\\n  c\nCMD d\n").expect("parses");
        assert_eq!(d.nodes.len(), 3);
        assert_eq!(d.nodes[1].args, Args::Shell("echo a     b   c".into()));
        assert_eq!(d.nodes[1].line, 2);
        assert_eq!(d.nodes[2].line, 7);
    }

    #[test]
    fn escape_directive_switches_the_continuation_character() {
        let d = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /w\n").expect("parses");
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.nodes[1].args, Args::Shell("dir c:\\   /w".into()));
    }

    #[test]
    fn directives_only_at_the_top() {
        let d =
            parse("# syntax=docker/dockerfile:1\n# escape=\\\nFROM x\n# escape=`\nRUN a \\\n b\n")
                .expect("parses");
        assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.directives.escape, '\\');
        assert_eq!(d.nodes[1].args, Args::Shell("a  b".into()));
        let d = parse("# a comment\n# escape=`\nFROM x\n").expect("parses");
        assert_eq!(d.directives.escape, '\\');
    }

    #[test]
    fn duplicate_and_bad_directives_are_errors() {
        let e = parse("# escape=`\n# escape=`\nFROM x\n").expect_err("dup");
        assert_eq!(e.line, 2);
        let e = parse("# escape=x\nFROM x\n").expect_err("bad");
        assert!(e.to_string().contains("invalid escape token"), "{e}");
    }

    #[test]
    fn unknown_instruction_names_its_line() {
        let e = parse("FROM x\n\nFOO bar\n").expect_err("unknown");
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 3: unknown instruction: FOO"
        );
    }

    #[test]
    fn json_form_and_fallback_to_shell_form() {
        assert_eq!(
            one("CMD [\"a\", \"b c\"]").args,
            Args::Json(vec!["a".into(), "b c".into()])
        );
        // Not valid JSON: the shell form, as Docker does.
        assert_eq!(one("CMD [a, b]").args, Args::Shell("[a, b]".into()));
        assert_eq!(one("CMD [\"a\", 1]").args, Args::Shell("[\"a\", 1]".into()));
    }

    #[test]
    fn flags_are_split_off() {
        let n = one("COPY --from=build --chown=1:2 --link a b");
        assert_eq!(
            n.flags,
            vec![
                ("from".into(), Some("build".into())),
                ("chown".into(), Some("1:2".into())),
                ("link".into(), None)
            ]
        );
        assert_eq!(n.args, Args::Shell("a b".into()));
        assert_eq!(n.original, "COPY --from=build --chown=1:2 --link a b");
    }

    #[test]
    fn heredocs_are_collected() {
        let d = parse("FROM x\nRUN <<EOF\necho hi\n  echo $X\nEOF\nCOPY <<-'A' <<B /d/\n\tone\n\tA\ntwo\nB\nCMD x\n")
            .expect("parses");
        assert_eq!(d.nodes.len(), 4);
        let r = &d.nodes[1];
        assert_eq!(r.heredocs.len(), 1);
        assert_eq!(r.heredocs[0].name, "EOF");
        assert_eq!(r.heredocs[0].content, "echo hi\n  echo $X\n");
        assert!(r.heredocs[0].expand);
        let c = &d.nodes[2];
        assert_eq!(c.heredocs[0].name, "A");
        assert_eq!(c.heredocs[0].content, "one\n");
        assert!(!c.heredocs[0].expand);
        assert_eq!(c.heredocs[1].content, "two\n");
        assert_eq!(d.nodes[3].line, 11);
    }

    #[test]
    fn unterminated_heredoc_is_an_error() {
        let e = parse("FROM x\nRUN <<EOF\necho\n").expect_err("unterminated");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn heredoc_markers_ignore_quoted_text() {
        assert!(heredoc_markers("echo '<<EOF'").is_empty());
        assert_eq!(heredoc_markers("cat <<\"X\" > f").len(), 1);
        assert!(heredoc_markers("echo <<<word").is_empty());
    }

    #[test]
    fn words_keep_quotes_and_split_on_unquoted_space() {
        assert_eq!(
            words(r#"a=1 b="x y" c='p q' d=e\ f"#, '\\'),
            vec!["a=1", "b=\"x y\"", "c='p q'", "d=e\\ f"]
        );
    }

    #[test]
    fn bom_and_crlf_are_tolerated() {
        let d = parse("\u{feff}FROM x\r\nRUN a\r\n").expect("parses");
        assert_eq!(d.nodes[1].args, Args::Shell("a".into()));
    }
}

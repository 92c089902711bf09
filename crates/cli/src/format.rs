//! `--format`: the subset of Go's text/template that docker users type, over `serde_json::Value`
//! (sorted object keys, as Go encodes maps), plus the docker CLI's `table` handling and Go's
//! text/tabwriter (minwidth 10, padding 3) for aligned columns.
//!
//! Supported: text; `{{.}}`, `{{.Field.Sub}}`, fields of a parenthesised pipeline
//! (`{{(index .NetworkSettings.Networks "bridge").IPAddress}}`); variables (`$`, `{{$x := …}}`,
//! `{{$x = …}}`, `{{range $k, $v := …}}`, `$x.Field`); docker's functions `json`, `split`,
//! `join`, `title`, `lower`, `upper`, `pad`, `truncate`, `println` and Go's builtins `index`,
//! `slice`, `len`, `print`, `printf` (flags, width, precision; `%s %v %d %q %x %t %f %e %g %c`),
//! `html`, `js`, `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `not`, `and`, `or`; pipelines
//! `a | b`; `{{if}}…{{else if}}…{{else}}…{{end}}`, `{{range}}…{{else}}…{{end}}` with
//! `{{break}}`/`{{continue}}`, `{{with}}…{{end}}`; trim markers `{{-`/`-}}`; comments; string,
//! raw string, number, bool and nil literals. `define`, `template` and `block` are refused with a
//! clear error at parse time.
//! A field followed by arguments indexes into it (`{{.Label "com.x"}}` on `ps` rows): the row
//! keeps the map under a hidden `$Label` key, which `json` and `%v` never show.

use std::cell::RefCell;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Template errors (parse or execution), worded like Go's where it helps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Bad syntax or an unsupported construct.
    #[error("template parsing error: {0}")]
    Parse(String),
    /// A failure while executing.
    #[error("template: {0}")]
    Exec(String),
}

type Res<T> = Result<T, FormatError>;

fn perr<T>(m: impl Into<String>) -> Res<T> {
    Err(FormatError::Parse(m.into()))
}

fn xerr<T>(m: impl Into<String>) -> Res<T> {
    Err(FormatError::Exec(m.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// Fields and the offset Go reports for them (of the second field when chained).
    Field(Vec<String>, usize),
    Func(String),
    Lit(Value),
    Sub(Pipeline),
    /// A parenthesised pipeline followed by fields: `(index .A "b").C`, with where and how Go
    /// names it in errors (its last token inside the parentheses).
    Chain(Pipeline, Vec<String>, usize, String),
    /// A variable (`$` is the root; `$x`), followed by fields, and their offset.
    Var(String, Vec<String>, usize),
}

type Command = Vec<Arg>;
type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Decl, Pipeline),
    If(Decl, Pipeline, Vec<Node>, Vec<Node>),
    Range(Decl, Pipeline, Vec<Node>, Vec<Node>),
    With(Decl, Pipeline, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

/// Variables a pipeline declares (`$x :=`) or assigns (`$x =`).
#[derive(Debug, Clone, PartialEq, Default)]
struct Decl {
    vars: Vec<String>,
    assign: bool,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
    /// The source, for the line:column of execution errors.
    src: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    /// An action's text and its offset in the source.
    Action(String, usize),
}

fn lex(src: &str) -> Res<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        match rest.find("{{") {
            None => {
                let t = if trim_next_text {
                    rest.trim_start()
                } else {
                    rest
                };
                toks.push(Tok::Text(t.to_owned()));
                break;
            }
            Some(i) => {
                let mut text = &rest[..i];
                if trim_next_text {
                    text = text.trim_start();
                }
                let after = &rest[i + 2..];
                let trim_left = after.starts_with("- ") || after == "-" || after.starts_with("-}");
                if trim_left {
                    text = text.trim_end();
                }
                if !text.is_empty() {
                    toks.push(Tok::Text(text.to_owned()));
                }
                let body_start = if trim_left { 1 } else { 0 };
                // Find the closing braces outside string literals.
                let b = after.as_bytes();
                let mut j = body_start;
                let mut end = None;
                while j < b.len() {
                    match b[j] {
                        b'"' => {
                            j += 1;
                            while j < b.len() && b[j] != b'"' {
                                if b[j] == b'\\' {
                                    j += 1;
                                }
                                j += 1;
                            }
                        }
                        b'`' => {
                            j += 1;
                            while j < b.len() && b[j] != b'`' {
                                j += 1;
                            }
                        }
                        b'}' if b.get(j + 1) == Some(&b'}') => {
                            end = Some(j);
                            break;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let Some(end) = end else {
                    return perr("unclosed action");
                };
                let mut body = &after[body_start..end];
                trim_next_text = false;
                if body.ends_with(" -") || body == "-" {
                    body = &body[..body.len() - 1];
                    trim_next_text = true;
                }
                let at =
                    src.len() - after.len() + body_start + (body.len() - body.trim_start().len());
                toks.push(Tok::Action(body.trim().to_owned(), at));
                rest = &after[end + 2..];
            }
        }
    }
    Ok(toks)
}

struct ArgLexer<'a> {
    s: &'a [u8],
    i: usize,
    /// The offset of `s` in the template.
    base: usize,
    /// Start and end of the last token.
    last: (usize, usize),
}

#[derive(Debug, Clone, PartialEq)]
enum AT {
    Arg(Arg),
    Pipe,
    Open,
    /// `)`, with the fields that follow it (`).IPAddress`) and the offset and text of the
    /// token before it.
    Close(Vec<String>, usize, String),
    Comma,
    Declare,
    Assign,
}

fn field_path(w: &str) -> Res<Vec<String>> {
    if w.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = w.strip_prefix('.') else {
        return perr(format!("unexpected {w:?} in operand"));
    };
    let parts: Vec<String> = rest.split('.').map(str::to_owned).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return perr(format!("bad field {w}"));
    }
    Ok(parts)
}

impl ArgLexer<'_> {
    fn tokens(src: &str, base: usize) -> Res<Vec<AT>> {
        let mut l = ArgLexer {
            s: src.as_bytes(),
            i: 0,
            base,
            last: (0, 0),
        };
        let mut out = Vec::new();
        loop {
            let before = l.i;
            let Some(t) = l.next()? else { break };
            let start = before + (l.s[before..].len() - l.s[before..].trim_ascii_start().len());
            let close = matches!(t, AT::Close(..));
            out.push(t);
            if !close {
                l.last = (start, l.i);
            }
        }
        Ok(out)
    }

    fn next(&mut self) -> Res<Option<AT>> {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
        let Some(&c) = self.s.get(self.i) else {
            return Ok(None);
        };
        let start = self.i;
        let word_end = |s: &[u8], mut i: usize| {
            while i < s.len() && !s[i].is_ascii_whitespace() && !b"|(),:=".contains(&s[i]) {
                i += 1;
            }
            i
        };
        let t = match c {
            b'|' => {
                self.i += 1;
                AT::Pipe
            }
            b'(' => {
                self.i += 1;
                AT::Open
            }
            b')' => {
                self.i += 1;
                let mut tail = Vec::new();
                let at = self.base + self.last.0;
                let text = String::from_utf8_lossy(&self.s[self.last.0..self.last.1]).into_owned();
                if self.s.get(self.i) == Some(&b'.') {
                    let end = word_end(self.s, self.i);
                    let w = String::from_utf8_lossy(&self.s[self.i..end]).into_owned();
                    self.i = end;
                    tail = field_path(&w)?;
                }
                AT::Close(tail, at, text)
            }
            b',' => {
                self.i += 1;
                AT::Comma
            }
            b':' if self.s.get(self.i + 1) == Some(&b'=') => {
                self.i += 2;
                AT::Declare
            }
            b'=' => {
                self.i += 1;
                AT::Assign
            }
            b'"' => {
                let mut j = self.i + 1;
                while j < self.s.len() && self.s[j] != b'"' {
                    if self.s[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if j >= self.s.len() {
                    return perr("unterminated quoted string");
                }
                let lit = std::str::from_utf8(&self.s[start..=j]).unwrap_or_default();
                let v: String = serde_json::from_str(lit)
                    .map_err(|_| FormatError::Parse(format!("bad string literal {lit}")))?;
                self.i = j + 1;
                AT::Arg(Arg::Lit(Value::String(v)))
            }
            b'`' => {
                let mut j = self.i + 1;
                while j < self.s.len() && self.s[j] != b'`' {
                    j += 1;
                }
                if j >= self.s.len() {
                    return perr("unterminated raw quoted string");
                }
                let v = String::from_utf8_lossy(&self.s[start + 1..j]).into_owned();
                self.i = j + 1;
                AT::Arg(Arg::Lit(Value::String(v)))
            }
            b'$' => {
                let end = word_end(self.s, self.i);
                let w = String::from_utf8_lossy(&self.s[start + 1..end]).into_owned();
                self.i = end;
                let (name, path) = match w.find('.') {
                    Some(d) => (&w[..d], &w[d..]),
                    None => (w.as_str(), ""),
                };
                if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return perr(format!("bad variable ${w}"));
                }
                let at = self.base + start + 1 + name.len();
                AT::Arg(Arg::Var(name.to_owned(), field_path(path)?, at))
            }
            b'.' => {
                let end = word_end(self.s, self.i);
                let w = String::from_utf8_lossy(&self.s[start..end]).into_owned();
                self.i = end;
                if w == "." {
                    AT::Arg(Arg::Field(Vec::new(), self.base + start))
                } else {
                    // Go reports a chain of fields at its second field.
                    let second = w[1..].find('.').map_or(0, |d| d + 1);
                    AT::Arg(Arg::Field(field_path(&w)?, self.base + start + second))
                }
            }
            _ => {
                let end = word_end(self.s, self.i);
                let w = String::from_utf8_lossy(&self.s[start..end]).into_owned();
                self.i = end;
                if w == "true" || w == "false" {
                    AT::Arg(Arg::Lit(Value::Bool(w == "true")))
                } else if w == "nil" {
                    AT::Arg(Arg::Lit(Value::Null))
                } else if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                    let v: Value = serde_json::from_str(&w)
                        .map_err(|_| FormatError::Parse(format!("bad number syntax: {w:?}")))?;
                    AT::Arg(Arg::Lit(v))
                } else if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    AT::Arg(Arg::Func(w))
                } else {
                    return perr(format!("unexpected {w:?} in command"));
                }
            }
        };
        Ok(Some(t))
    }
}

fn parse_pipeline(
    toks: &[AT],
    pos: &mut usize,
    nested: bool,
) -> Res<(Pipeline, Vec<String>, usize, String)> {
    let mut pipe = Vec::new();
    let mut cmd: Command = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t {
            AT::Arg(a) => cmd.push(a.clone()),
            AT::Comma | AT::Declare | AT::Assign => {
                return perr("unexpected variable declaration inside a pipeline")
            }
            AT::Pipe => {
                if cmd.is_empty() {
                    return perr("missing command before |");
                }
                pipe.push(std::mem::take(&mut cmd));
            }
            AT::Open => {
                let (sub, tail, at, text) = parse_pipeline(toks, pos, true)?;
                cmd.push(if tail.is_empty() {
                    Arg::Sub(sub)
                } else {
                    Arg::Chain(sub, tail, at, text)
                });
            }
            AT::Close(tail, at, text) => {
                if !nested {
                    return perr("unexpected right paren");
                }
                if cmd.is_empty() {
                    return perr("missing command");
                }
                pipe.push(cmd);
                return Ok((pipe, tail.clone(), *at, text.clone()));
            }
        }
    }
    if nested {
        return perr("unclosed left paren");
    }
    if cmd.is_empty() {
        return perr("missing value for command");
    }
    pipe.push(cmd);
    Ok((pipe, Vec::new(), 0, String::new()))
}

/// A pipeline with an optional declaration: `$x := p`, `$i, $e := p` (range), `$x = p`.
fn pipeline(
    src: &str,
    base: usize,
    max_vars: usize,
    scope: &mut Vec<String>,
) -> Res<(Decl, Pipeline)> {
    let toks = ArgLexer::tokens(src, base)?;
    let mut decl = Decl::default();
    let mut pos = 0;
    if let Some(op) = toks
        .iter()
        .position(|t| matches!(t, AT::Declare | AT::Assign))
    {
        decl.assign = toks[op] == AT::Assign;
        let mut want_var = true;
        for t in &toks[..op] {
            match (t, want_var) {
                (AT::Arg(Arg::Var(name, path, _)), true) if path.is_empty() && !name.is_empty() => {
                    decl.vars.push(name.clone());
                    want_var = false;
                }
                (AT::Comma, false) => want_var = true,
                _ => return perr("bad variable declaration"),
            }
        }
        if want_var || decl.vars.len() > max_vars {
            return perr(format!(
                "too many declarations in command (at most {max_vars})"
            ));
        }
        if decl.assign && decl.vars.len() != 1 {
            return perr("only one variable may be assigned");
        }
        pos = op + 1;
    }
    let (p, ..) = parse_pipeline(&toks, &mut pos, false)?;
    check_funcs(&p)?;
    check_vars(&p, scope)?;
    for v in &decl.vars {
        if decl.assign {
            if !scope.contains(v) {
                return perr(format!("undefined variable \"${v}\""));
            }
        } else {
            scope.push(v.clone());
        }
    }
    Ok((decl, p))
}

/// Go refuses variables not declared in scope when parsing.
fn check_vars(p: &Pipeline, scope: &[String]) -> Res<()> {
    for c in p {
        for a in c {
            match a {
                Arg::Var(name, _, _) if !name.is_empty() && !scope.contains(name) => {
                    return perr(format!("undefined variable \"${name}\""))
                }
                Arg::Sub(s) | Arg::Chain(s, ..) => check_vars(s, scope)?,
                _ => {}
            }
        }
    }
    Ok(())
}

const KNOWN_FUNCS: &[&str] = &[
    "json", "index", "join", "split", "upper", "lower", "title", "len", "print", "println",
    "printf", "pad", "truncate", "eq", "ne", "not", "and", "or", "lt", "le", "gt", "ge", "slice",
    "html", "urlquery", "js",
];

fn check_funcs(p: &Pipeline) -> Res<()> {
    for c in p {
        for a in c {
            match a {
                Arg::Func(f) if !KNOWN_FUNCS.contains(&f.as_str()) => {
                    return perr(format!("function {f:?} not defined"))
                }
                Arg::Sub(s) | Arg::Chain(s, ..) => check_funcs(s)?,
                _ => {}
            }
        }
    }
    Ok(())
}

enum Stop {
    Eof,
    End,
    Else(Option<(String, usize)>),
}

fn parse_list(toks: &[Tok], pos: &mut usize, scope: &mut Vec<String>) -> Res<(Vec<Node>, Stop)> {
    let depth = scope.len();
    let r = parse_list_inner(toks, pos, scope);
    scope.truncate(depth);
    r
}

fn parse_list_inner(
    toks: &[Tok],
    pos: &mut usize,
    scope: &mut Vec<String>,
) -> Res<(Vec<Node>, Stop)> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a, at) => {
                let at = *at;
                // The offset of a slice of `a` in the template.
                let off = |sub: &str| at + (sub.as_ptr() as usize - a.as_ptr() as usize);
                let (kw, rest) = match a.split_once(char::is_whitespace) {
                    Some((k, r)) => (k, r.trim()),
                    None => (a.as_str(), ""),
                };
                match kw {
                    "" => return perr("missing value for command"),
                    "end" => return Ok((nodes, Stop::End)),
                    "else" => {
                        let chain = rest
                            .strip_prefix("if")
                            .map(|r| (r.trim().to_owned(), off(r.trim())));
                        if !rest.is_empty() && chain.is_none() {
                            return perr(format!("unexpected {rest:?} after else"));
                        }
                        return Ok((nodes, Stop::Else(chain)));
                    }
                    "if" | "range" | "with" => {
                        nodes.push(parse_block(kw, rest, off(rest), toks, pos, scope)?);
                    }
                    "break" if rest.is_empty() => nodes.push(Node::Break),
                    "continue" if rest.is_empty() => nodes.push(Node::Continue),
                    "define" | "template" | "block" => {
                        return perr(format!("{{{{{kw}}}}} is not supported by berth's --format"))
                    }
                    _ if kw.starts_with("/*") => {}
                    _ => {
                        let (d, p) = pipeline(a, at, 1, scope)?;
                        nodes.push(Node::Action(d, p));
                    }
                }
            }
        }
    }
    Ok((nodes, Stop::Eof))
}

fn parse_block(
    kw: &str,
    cond: &str,
    at: usize,
    toks: &[Tok],
    pos: &mut usize,
    scope: &mut Vec<String>,
) -> Res<Node> {
    let depth = scope.len();
    let r = parse_block_inner(kw, cond, at, toks, pos, scope);
    scope.truncate(depth);
    r
}

fn parse_block_inner(
    kw: &str,
    cond: &str,
    at: usize,
    toks: &[Tok],
    pos: &mut usize,
    scope: &mut Vec<String>,
) -> Res<Node> {
    if cond.is_empty() {
        return perr(format!("missing value for {kw}"));
    }
    let (d, p) = pipeline(cond, at, if kw == "range" { 2 } else { 1 }, scope)?;
    let (body, end) = parse_list(toks, pos, scope)?;
    let els = match end {
        Stop::Eof => return perr(format!("unexpected EOF in {kw}")),
        Stop::End => Vec::new(),
        Stop::Else(None) => match parse_list(toks, pos, scope)? {
            (e, Stop::End) => e,
            _ => return perr(format!("expected end after else in {kw}")),
        },
        Stop::Else(Some((c, c_at))) => {
            // `else if c` is an `if` nested in the else branch, sharing the final end.
            vec![parse_block("if", &c, c_at, toks, pos, scope)?]
        }
    };
    Ok(match kw {
        "if" => Node::If(d, p, body, els),
        "range" => Node::Range(d, p, body, els),
        _ => Node::With(d, p, body, els),
    })
}

impl Template {
    /// Parses a template.
    pub fn parse(src: &str) -> Result<Template, FormatError> {
        let toks = lex(src)?;
        let mut pos = 0;
        let (nodes, end) = parse_list(&toks, &mut pos, &mut Vec::new())?;
        match end {
            Stop::Eof => Ok(Template {
                nodes,
                src: src.to_owned(),
            }),
            Stop::End => perr("unexpected {{end}}"),
            Stop::Else(_) => perr("unexpected {{else}}"),
        }
    }

    /// Executes against `dot`. With `strict`, a field missing from the top-level object is an
    /// error (docker's typed contexts: `can't evaluate field X`); otherwise `<no value>`.
    pub fn render(&self, dot: &Value, strict: bool) -> Result<String, FormatError> {
        self.render_with(
            dot,
            if strict {
                Missing::ErrorTop
            } else {
                Missing::NoValue
            },
        )
    }

    /// The header row of a table: executed over the header names with docker's header functions
    /// (`json`, `split`, `join`, `title`, `lower`, `upper`, `truncate` return the name as it is;
    /// `.Label "com.x-y"` gives `x y`). Like the docker CLI, an error ends the row silently,
    /// keeping what was written before it.
    pub fn render_header(&self, names: &Value) -> String {
        let mut out = String::new();
        let ex = Exec {
            src: &self.src,
            header: true,
            missing: Missing::NoValue,
            vars: RefCell::new(vec![(String::new(), names.clone())]),
        };
        let _ = ex.list(&self.nodes, names, &mut out);
        out
    }

    /// Executes with an explicit missing-key mode.
    pub fn render_with(&self, dot: &Value, missing: Missing) -> Result<String, FormatError> {
        let mut out = String::new();
        let ex = Exec {
            src: &self.src,
            header: false,
            missing,
            vars: RefCell::new(vec![(String::new(), dot.clone())]),
        };
        match ex.list(&self.nodes, dot, &mut out)? {
            Flow::Next => Ok(out),
            _ => perr("{{break}} or {{continue}} outside {{range}}"),
        }
    }
}

/// What a field missing from an object gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// `<no value>` (Go's default for maps).
    NoValue,
    /// An error for top-level fields (docker's typed row contexts), `<no value>` below.
    ErrorTop,
    /// An error at any depth (`docker inspect`: `missingkey=error`).
    Error,
}

struct Exec<'a> {
    /// The template's source, for error positions.
    src: &'a str,
    /// Rendering a table's header row (docker's `HeaderFunctions`).
    header: bool,
    missing: Missing,
    /// Variables in scope, innermost last; `$` (the empty name) is the root.
    vars: RefCell<Vec<(String, Value)>>,
}

/// How a list of nodes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Break,
    Continue,
}

/// The result of evaluating: a value, or "missing" (Go's `<no value>`).
#[derive(Debug, Clone, PartialEq)]
enum V {
    Val(Value),
    Missing,
}

impl V {
    fn value(&self) -> Value {
        match self {
            V::Val(v) => v.clone(),
            V::Missing => Value::Null,
        }
    }
}

fn truthy(v: &V) -> bool {
    match v {
        V::Missing => false,
        V::Val(v) => match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => o.keys().any(|k| !k.starts_with('$')),
        },
    }
}

/// JSON text of a value: hidden `$` keys left out, objects in their `$order` (the daemon's key
/// order, kept by [`parse_ordered`]) or sorted, `<>&` escaped as Go's `json.Marshal` does when
/// `escape_html`.
pub fn to_json(v: &Value, escape_html: bool) -> String {
    let mut out = String::new();
    write_json(v, escape_html, &mut out);
    out
}

fn write_json(v: &Value, html: bool, out: &mut String) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = Vec::new();
            if let Some(Value::Array(order)) = o.get("$order") {
                keys.extend(
                    order
                        .iter()
                        .filter_map(|k| k.as_str())
                        .filter_map(|k| o.get_key_value(k).map(|(k, _)| k)),
                );
            }
            for k in o.keys() {
                if !k.starts_with('$') && !keys.contains(&k) {
                    keys.push(k);
                }
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(&Value::String((*k).clone()), html, out);
                out.push(':');
                write_json(&o[k.as_str()], html, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, html, out);
            }
            out.push(']');
        }
        Value::String(st) => {
            let t = serde_json::to_string(st).unwrap_or_default();
            if html {
                out.push_str(
                    &t.replace('<', "\\u003c")
                        .replace('>', "\\u003e")
                        .replace('&', "\\u0026"),
                );
            } else {
                out.push_str(&t);
            }
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

/// Parses JSON keeping each object's key order under a hidden `$order` key (when not sorted),
/// so `{{json .Config}}` prints keys as the daemon sent them, like `docker inspect`.
pub fn parse_ordered(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Ordered(Value);
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
            Ok(Value::Bool(b))
        }
        fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
            Ok(Value::from(n))
        }
        fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
            Ok(Value::from(n))
        }
        fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
            Ok(Value::from(n))
        }
        fn visit_str<E>(self, s: &str) -> Result<Value, E> {
            Ok(Value::String(s.to_owned()))
        }
        fn visit_string<E>(self, s: String) -> Result<Value, E> {
            Ok(Value::String(s))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
            let mut v = Vec::new();
            while let Some(Ordered(x)) = a.next_element()? {
                v.push(x);
            }
            Ok(Value::Array(v))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
            let mut m = Map::new();
            let mut order = Vec::new();
            while let Some(k) = a.next_key::<String>()? {
                let Ordered(x) = a.next_value()?;
                order.push(Value::String(k.clone()));
                m.insert(k, x);
            }
            if !order.windows(2).all(|w| w[0].as_str() <= w[1].as_str()) {
                m.insert("$order".into(), Value::Array(order));
            }
            Ok(Value::Object(m))
        }
    }
    impl<'de> Deserialize<'de> for Ordered {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V).map(Ordered)
        }
    }
    serde_json::from_str::<Ordered>(text).map(|o| o.0)
}

fn num_str(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        if f.fract() == 0.0 && f.abs() < 1e15 {
            format!("{f:.0}")
        } else {
            format!("{f}")
        }
    }
}

/// Go's `%v`.
fn go_v(v: &V) -> String {
    match v {
        V::Missing => "<no value>".into(),
        V::Val(v) => go_value(v),
    }
}

fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => num_str(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn as_str(v: &V) -> String {
    match v {
        V::Val(Value::String(s)) => s.clone(),
        v => go_v(v),
    }
}

fn as_int(v: &V, f: &str) -> Res<i64> {
    match v {
        V::Val(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| FormatError::Exec(format!("{f}: bad number"))),
        V::Val(Value::String(s)) => s
            .parse()
            .map_err(|_| FormatError::Exec(format!("{f}: expected a number, got {s:?}"))),
        _ => xerr(format!("{f}: expected a number")),
    }
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %x %X %t %f %e %g %c %%`, with
/// flags `-`, `+`, `0`, ` `, a width and a precision (`%-20s`, `%5.2f`, `%.3s`).
fn printf(args: &[V]) -> Res<String> {
    let Some(fmt) = args.first() else {
        return xerr("wrong number of args for printf: want at least 1 got 0");
    };
    let fmt = as_str(fmt);
    let mut rest = args[1..].iter();
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        let width = num(&mut chars);
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            Some(num(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = rest.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let numeric = matches!(a, V::Val(Value::Number(_)));
        let body = match verb {
            's' | 'v' => {
                let t = as_str(a);
                match prec {
                    Some(p) if verb == 's' => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            'q' => serde_json::to_string(&as_str(a)).unwrap_or_default(),
            't' => match a {
                V::Val(Value::Bool(b)) => b.to_string(),
                other => format!("%!t({})", go_v(other)),
            },
            'c' => {
                let n = as_int(a, "printf")?;
                u32::try_from(n)
                    .ok()
                    .and_then(char::from_u32)
                    .map(String::from)
                    .unwrap_or_else(|| "\u{fffd}".into())
            }
            'd' | 'x' | 'X' if numeric => {
                let n = as_int(a, "printf")?;
                let mag = match verb {
                    'd' => n.unsigned_abs().to_string(),
                    'x' => format!("{:x}", n.unsigned_abs()),
                    _ => format!("{:X}", n.unsigned_abs()),
                };
                let sign = if n < 0 {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                format!("{sign}{mag}")
            }
            'x' | 'X' => {
                let h: String = as_str(a).bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' {
                    h.to_uppercase()
                } else {
                    h
                }
            }
            'f' | 'F' | 'e' | 'g' if numeric => {
                let f = a.value().as_f64().unwrap_or(0.0);
                let t = match verb {
                    'e' => format_exp(f, prec.unwrap_or(6)),
                    'g' => match prec {
                        Some(p) => format!("{f:.p$}"),
                        None => format!("{f}"),
                    },
                    _ => format!("{f:.*}", prec.unwrap_or(6)),
                };
                if plus && f >= 0.0 {
                    format!("+{t}")
                } else {
                    t
                }
            }
            _ => format!("%!{verb}({})", go_v(a)),
        };
        let w = width.unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out.push_str(&body);
        } else if minus {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - len));
        } else if zero && numeric {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(d) => (&body[..1], d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(w - len));
            out.push_str(&body);
        }
    }
    let extra: Vec<String> = rest.map(go_v).collect();
    if !extra.is_empty() {
        let _ = write!(out, "%!(EXTRA {})", extra.join(", "));
    }
    Ok(out)
}

/// `%e`: Go writes at least two exponent digits (`1.500000e+00`).
fn format_exp(f: f64, prec: usize) -> String {
    let t = format!("{f:.prec$e}");
    match t.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => t,
    }
}

/// Go's `html/template`-style escaping of `html`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn compare(a: &V, b: &V) -> Option<std::cmp::Ordering> {
    match (a.value(), b.value()) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

impl Exec<'_> {
    fn list(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Res<Flow> {
        let depth = self.vars.borrow().len();
        let r = self.list_inner(nodes, dot, out);
        self.vars.borrow_mut().truncate(depth);
        r
    }

    /// Binds a declaration's variables (or assigns an outer one).
    fn bind(&self, d: &Decl, vals: &[Value]) -> Res<()> {
        let mut vars = self.vars.borrow_mut();
        for (name, v) in d.vars.iter().zip(vals) {
            if d.assign {
                match vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return xerr(format!("undefined variable: ${name}")),
                }
            } else {
                vars.push((name.clone(), v.clone()));
            }
        }
        Ok(())
    }

    fn list_inner(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Res<Flow> {
        for n in nodes {
            let depth = self.vars.borrow().len();
            let flow = match n {
                Node::Text(t) => {
                    out.push_str(t);
                    Flow::Next
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
                Node::Action(d, p) => {
                    let v = self.pipe(p, dot)?;
                    if d.vars.is_empty() {
                        out.push_str(&go_v(&v));
                    } else {
                        self.bind(d, &[v.value()])?;
                    }
                    Flow::Next
                }
                Node::If(d, p, body, els) => {
                    let v = self.pipe(p, dot)?;
                    self.bind(d, &[v.value()])?;
                    if truthy(&v) {
                        self.list(body, dot, out)?
                    } else {
                        self.list(els, dot, out)?
                    }
                }
                Node::With(d, p, body, els) => {
                    let v = self.pipe(p, dot)?;
                    self.bind(d, &[v.value()])?;
                    if truthy(&v) {
                        self.list(body, &v.value(), out)?
                    } else {
                        self.list(els, dot, out)?
                    }
                }
                Node::Range(d, p, body, els) => {
                    let items: Vec<(Value, Value)> = match self.pipe(p, dot)?.value() {
                        Value::Array(a) => a
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (Value::from(i), v))
                            .collect(),
                        Value::Object(o) => o
                            .into_iter()
                            .filter(|(k, _)| !k.starts_with('$'))
                            .map(|(k, v)| (Value::String(k), v))
                            .collect(),
                        Value::Null => Vec::new(),
                        Value::Number(n) => (0..n.as_i64().unwrap_or(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        other => {
                            return xerr(format!("range can't iterate over {}", go_value(&other)))
                        }
                    };
                    let mut flow = Flow::Next;
                    if items.is_empty() {
                        flow = self.list(els, dot, out)?;
                    }
                    for (k, it) in &items {
                        let depth = self.vars.borrow().len();
                        match d.vars.len() {
                            0 => {}
                            1 => self.bind(d, std::slice::from_ref(it))?,
                            _ => self.bind(d, &[k.clone(), it.clone()])?,
                        }
                        let f = self.list(body, it, out);
                        self.vars.borrow_mut().truncate(depth);
                        if f? == Flow::Break {
                            break;
                        }
                    }
                    flow
                }
            };
            if !matches!(n, Node::Action(..)) {
                // Variables of an if/with/range pipeline live until its end.
                self.vars.borrow_mut().truncate(depth);
            }
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    fn pipe(&self, p: &Pipeline, dot: &Value) -> Res<V> {
        let mut prev: Option<V> = None;
        for cmd in p {
            prev = Some(self.command(cmd, dot, prev.take())?);
        }
        Ok(prev.unwrap_or(V::Missing))
    }

    fn field(&self, path: &[String], at: usize, dot: &Value) -> Res<V> {
        let label = format!(".{}", path.join("."));
        self.field_of(V::Val(dot.clone()), path, at, Some(&label))
    }

    /// Go's `line:col` of an offset (the column counts bytes from 0 after the newline).
    fn line_col(&self, at: usize) -> String {
        let before = self.src.get(..at).unwrap_or(self.src);
        let line = 1 + before.matches('\n').count();
        let col = at - before.rfind('\n').map_or(0, |i| i + 1);
        format!(":{line}:{col}")
    }

    /// Fields of `start`; `label` is the node as Go names it in errors (`.A.B`, `$x.A`), `None`
    /// for a chain (named by `at` alone, as Go does).
    fn field_of(&self, start: V, path: &[String], at: usize, label: Option<&str>) -> Res<V> {
        let top = label.is_some_and(|l| l.starts_with('.'));
        let label = label.unwrap_or_default();
        let lc = self.line_col(at);
        let mut cur = start;
        for (i, name) in path.iter().enumerate() {
            cur = match cur {
                V::Val(Value::Object(o)) => {
                    match o.get(name).or_else(|| o.get(&format!("${name}"))) {
                        Some(v) => V::Val(v.clone()),
                        None if self.missing == Missing::ErrorTop && i == 0 && top => {
                            return xerr(format!(
                                "{lc}: executing \"\" at <{label}>: can't evaluate field {name}"
                            ))
                        }
                        None if self.missing == Missing::Error => {
                            return xerr(format!(
                                "{lc}: executing \"\" at <{label}>: map has no entry for key \"{name}\""
                            ))
                        }
                        None => V::Missing,
                    }
                }
                V::Missing | V::Val(Value::Null) => V::Missing,
                V::Val(other) => {
                    return xerr(format!(
                        "{lc}: executing \"\" at <{label}>: can't evaluate field {name} in type {}",
                        match other {
                            Value::String(_) => "string",
                            Value::Array(_) => "[]interface {}",
                            Value::Number(_) => "float64",
                            _ => "bool",
                        }
                    ))
                }
            };
        }
        Ok(cur)
    }

    fn arg(&self, a: &Arg, dot: &Value) -> Res<V> {
        match a {
            Arg::Field(p, at) => self.field(p, *at, dot),
            Arg::Lit(v) => Ok(V::Val(v.clone())),
            Arg::Sub(p) => self.pipe(p, dot),
            Arg::Chain(p, tail, at, text) => {
                let v = self.pipe(p, dot)?;
                self.field_of(v, tail, *at, Some(text))
            }
            Arg::Var(name, tail, at) => {
                let v = self
                    .vars
                    .borrow()
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone());
                match v {
                    Some(v) => {
                        let label = format!("${name}.{}", tail.join("."));
                        self.field_of(V::Val(v), tail, *at, Some(&label))
                    }
                    None => xerr(format!("undefined variable: ${name}")),
                }
            }
            Arg::Func(f) => self.call(f, Vec::new()),
        }
    }

    fn command(&self, cmd: &Command, dot: &Value, piped: Option<V>) -> Res<V> {
        let (first, rest) = cmd
            .split_first()
            .ok_or(FormatError::Exec("empty command".into()))?;
        let mut args = rest
            .iter()
            .map(|a| self.arg(a, dot))
            .collect::<Res<Vec<V>>>()?;
        if let Some(p) = piped {
            args.push(p);
        }
        match first {
            Arg::Func(f) => self.call(f, args),
            Arg::Field(p, at) => {
                let v = self.field(p, *at, dot)?;
                if args.is_empty() {
                    return Ok(v);
                }
                if self.header {
                    // docker's header for `.Label "com.example.some-key"`: `some key`.
                    let name = as_str(&args[0]);
                    let last = name.rsplit('.').next().unwrap_or("");
                    return Ok(V::Val(Value::String(last.replace(['-', '_'], " "))));
                }
                // A "method" with arguments: index into the value (`.Label "k"`).
                // Docker's methods (`Label`) return "" for a missing key.
                let mut all = vec![v];
                all.extend(args);
                Ok(match self.call("index", all)? {
                    V::Missing => V::Val(Value::String(String::new())),
                    v => v,
                })
            }
            other => {
                if !args.is_empty() {
                    return xerr("can't give argument to non-function");
                }
                self.arg(other, dot)
            }
        }
    }

    fn call(&self, f: &str, args: Vec<V>) -> Res<V> {
        let need = |n: usize| -> Res<()> {
            if args.len() == n {
                Ok(())
            } else {
                xerr(format!(
                    "wrong number of args for {f}: want {n} got {}",
                    args.len()
                ))
            }
        };
        let s = |v: String| Ok(V::Val(Value::String(v)));
        if self.header {
            let n = match f {
                "json" | "title" | "lower" | "upper" => Some(1),
                "split" | "join" | "truncate" => Some(2),
                _ => None,
            };
            if let Some(n) = n {
                need(n)?;
                return match &args[0] {
                    V::Val(Value::String(v)) => s(v.clone()),
                    v => xerr(format!(
                        "wrong type for value; expected string; got {}",
                        go_v(v)
                    )),
                };
            }
        }
        match f {
            "json" => {
                need(1)?;
                let v = args[0].value();
                let html = v.get("$html").is_some();
                s(to_json(&v, html))
            }
            "index" => {
                if args.is_empty() {
                    return xerr("wrong number of args for index");
                }
                let mut cur = args[0].value();
                for k in &args[1..] {
                    cur = match (&cur, k) {
                        (Value::Object(o), k) => {
                            let key = as_str(k);
                            match o.get(&key) {
                                Some(v) => v.clone(),
                                None => return Ok(V::Missing),
                            }
                        }
                        (Value::Array(a), k) => {
                            let i = as_int(k, "index")?;
                            match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                                Some(v) => v.clone(),
                                None => {
                                    return xerr(format!(
                                        "error calling index: index out of range: {i}"
                                    ))
                                }
                            }
                        }
                        (Value::Null, _) => return Ok(V::Missing),
                        (other, _) => {
                            return xerr(format!("can't index item of type {}", go_value(other)))
                        }
                    };
                }
                Ok(V::Val(cur))
            }
            "join" => {
                need(2)?;
                let sep = as_str(&args[1]);
                match args[0].value() {
                    Value::Array(a) => s(a
                        .iter()
                        .map(|v| as_str(&V::Val(v.clone())))
                        .collect::<Vec<_>>()
                        .join(&sep)),
                    Value::Null => s(String::new()),
                    v => s(go_value(&v)),
                }
            }
            "split" => {
                need(2)?;
                let parts = as_str(&args[0])
                    .split(as_str(&args[1]).as_str())
                    .map(|p| Value::String(p.to_owned()))
                    .collect();
                Ok(V::Val(Value::Array(parts)))
            }
            "upper" => {
                need(1)?;
                s(as_str(&args[0]).to_uppercase())
            }
            "lower" => {
                need(1)?;
                s(as_str(&args[0]).to_lowercase())
            }
            "title" => {
                need(1)?;
                s(title_case(&as_str(&args[0])))
            }
            "len" => {
                need(1)?;
                let n = match args[0].value() {
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.keys().filter(|k| !k.starts_with('$')).count(),
                    Value::String(st) => st.len(),
                    v => return xerr(format!("len of type {}", go_value(&v))),
                };
                Ok(V::Val(Value::from(n)))
            }
            "print" => s(args.iter().map(as_str).collect::<Vec<_>>().join("")),
            "println" => s(format!(
                "{}\n",
                args.iter().map(as_str).collect::<Vec<_>>().join(" ")
            )),
            "printf" => s(printf(&args)?),
            "pad" => {
                need(3)?;
                let l = usize::try_from(as_int(&args[1], "pad")?).unwrap_or(0);
                let r = usize::try_from(as_int(&args[2], "pad")?).unwrap_or(0);
                s(format!(
                    "{}{}{}",
                    " ".repeat(l),
                    as_str(&args[0]),
                    " ".repeat(r)
                ))
            }
            "truncate" => {
                need(2)?;
                let n = usize::try_from(as_int(&args[1], "truncate")?).unwrap_or(0);
                s(as_str(&args[0]).chars().take(n).collect())
            }
            "eq" | "ne" => {
                if args.len() < 2 {
                    return xerr(format!("wrong number of args for {f}"));
                }
                let a = args[0].value();
                let hit = args[1..].iter().any(|b| b.value() == a);
                Ok(V::Val(Value::Bool(if f == "eq" { hit } else { !hit })))
            }
            "lt" | "le" | "gt" | "ge" => {
                need(2)?;
                let o = compare(&args[0], &args[1]).ok_or_else(|| {
                    FormatError::Exec(format!("{f}: incompatible types for comparison"))
                })?;
                use std::cmp::Ordering::*;
                let r = match f {
                    "lt" => o == Less,
                    "le" => o != Greater,
                    "gt" => o == Greater,
                    _ => o != Less,
                };
                Ok(V::Val(Value::Bool(r)))
            }
            "not" => {
                need(1)?;
                Ok(V::Val(Value::Bool(!truthy(&args[0]))))
            }
            "and" => Ok(args
                .iter()
                .find(|a| !truthy(a))
                .or(args.last())
                .cloned()
                .unwrap_or(V::Missing)),
            "or" => Ok(args
                .iter()
                .find(|a| truthy(a))
                .or(args.last())
                .cloned()
                .unwrap_or(V::Missing)),
            "slice" => {
                if args.is_empty() || args.len() > 4 {
                    return xerr(format!(
                        "wrong number of args for slice: want 1-4 got {}",
                        args.len()
                    ));
                }
                let idx = args[1..]
                    .iter()
                    .map(|a| as_int(a, "slice").map(|i| usize::try_from(i).unwrap_or(usize::MAX)))
                    .collect::<Res<Vec<usize>>>()?;
                let range = |len: usize| -> Res<(usize, usize)> {
                    let lo = idx.first().copied().unwrap_or(0);
                    let hi = idx.get(1).copied().unwrap_or(len);
                    if lo > hi || hi > len {
                        return xerr(format!(
                            "error calling slice: index out of range: {}",
                            if hi > len { hi } else { lo }
                        ));
                    }
                    Ok((lo, hi))
                };
                match args[0].value() {
                    Value::String(st) => {
                        if idx.len() > 2 {
                            return xerr("error calling slice: cannot 3-index slice a string");
                        }
                        let (lo, hi) = range(st.len())?;
                        match st.get(lo..hi) {
                            Some(sub) => s(sub.to_owned()),
                            None => xerr("error calling slice: not at a character boundary"),
                        }
                    }
                    Value::Array(a) => {
                        let (lo, hi) = range(a.len())?;
                        Ok(V::Val(Value::Array(a[lo..hi].to_vec())))
                    }
                    v => xerr(format!(
                        "error calling slice: can't slice item of type {}",
                        go_value(&v)
                    )),
                }
            }
            "html" => s(html_escape(
                &args.iter().map(as_str).collect::<Vec<_>>().join(""),
            )),
            "urlquery" => s(query_escape(
                &args.iter().map(as_str).collect::<Vec<_>>().join(""),
            )),
            "js" => s(js_escape(
                &args.iter().map(as_str).collect::<Vec<_>>().join(""),
            )),
            _ => xerr(format!("function {f:?} not defined")),
        }
    }
}

/// Go's text/tabwriter with docker's settings (minwidth 10, tabwidth 1, padding 3, spaces):
/// `\t` ends a cell; the last cell of a line is not aligned; widths are per column block.
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, MIN_WIDTH)
}

/// [`tabwrite`] with another minimum cell width (`docker top` uses 20).
pub fn tabwrite_min(text: &str, min_width: usize) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_terminator('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths = Vec::new();
    let mut out = String::new();
    tab_block(&lines, 0, lines.len(), 0, min_width, &mut widths, &mut out);
    out
}

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

fn tab_block(
    lines: &[Vec<&str>],
    line0: usize,
    line1: usize,
    col: usize,
    min_width: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let mut pos = line0;
    let mut this = line0;
    while this < line1 {
        if col + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        tab_print(&lines[pos..this], widths, out);
        pos = this;
        let mut width = min_width;
        let mut end = this;
        while end < line1 && col + 1 < lines[end].len() {
            width = width.max(lines[end][col].chars().count() + PADDING);
            end += 1;
        }
        widths.push(width);
        tab_block(lines, pos, end, col + 1, min_width, widths, out);
        widths.pop();
        pos = end;
        this = end;
    }
    tab_print(&lines[pos..line1], widths, out);
}

fn tab_print(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for l in lines {
        for (j, cell) in l.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < l.len() {
                if let Some(w) = widths.get(j) {
                    let n = cell.chars().count();
                    for _ in n..*w {
                        out.push(' ');
                    }
                }
            }
        }
        out.push('\n');
    }
}

/// A `--format` value prepared as the docker CLI does: `table` prefix, `\t`/`\n` escapes.
#[derive(Debug, Clone)]
pub struct Format {
    /// Print headers and align with the tabwriter.
    pub table: bool,
    template: Template,
}

impl Format {
    /// `format` as given by the user (`table {{.ID}}\t{{.Names}}`, `{{json .}}`); `default_table`
    /// is the command's default (used for an empty format or bare `table`).
    pub fn new(format: &str, default_table: &str) -> Result<Format, FormatError> {
        let mut f = if format.is_empty() {
            default_table
        } else {
            format
        };
        if f == "table" {
            f = default_table;
        }
        let (table, body) = match f.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t', '\n']) => (true, rest),
            _ => (false, f),
        };
        let body = if table { body.trim_matches(' ') } else { body };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Format {
            table,
            template: Template::parse(&body)?,
        })
    }

    /// Renders rows (each followed by a newline), with the header row from `header` in tables.
    pub fn render(
        &self,
        header: &Value,
        rows: &[Value],
        strict: bool,
    ) -> Result<String, FormatError> {
        let mut buf = String::new();
        for r in rows {
            match self.template.render(r, strict) {
                Ok(t) => buf.push_str(&t),
                // The docker CLI's formatter wraps execution errors as parse errors and names the
                // row's Go type (the header's hidden `$type`).
                Err(FormatError::Exec(m)) => {
                    let ty = header.get("$type").and_then(Value::as_str);
                    return Err(FormatError::Parse(match ty {
                        Some(ty)
                            if m.contains("can't evaluate field") && !m.contains(" in type ") =>
                        {
                            format!("template: {m} in type {ty}")
                        }
                        _ => format!("template: {m}"),
                    }));
                }
                Err(e) => return Err(e),
            }
            buf.push('\n');
        }
        if !self.table {
            return Ok(buf);
        }
        let mut all = self.template.render_header(header);
        all.push('\n');
        all.push_str(&buf);
        Ok(tabwrite(&all))
    }
}

/// Renders one value with a template (inspect `-f`), adding the newline docker adds.
pub fn render_one(template: &str, v: &Value) -> Result<String, FormatError> {
    render_one_with(template, v, Missing::NoValue)
}

/// [`render_one`] with a missing-key mode (`docker inspect` uses [`Missing::Error`]).
pub fn render_one_with(template: &str, v: &Value, missing: Missing) -> Result<String, FormatError> {
    let t = Template::parse(&template.replace("\\t", "\t").replace("\\n", "\n"))?;
    let mut s = t.render_with(v, missing)?;
    let _ = writeln!(s);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v, false).unwrap()
    }

    #[test]
    fn fields_and_text() {
        let v = json!({"Name":"web","State":{"Status":"running","Pid":42},"Tags":["a","b"]});
        assert_eq!(r("{{.Name}}", &v), "web");
        assert_eq!(
            r("x {{.State.Status}} {{.State.Pid}}!", &v),
            "x running 42!"
        );
        assert_eq!(r("{{.Missing}}", &v), "<no value>");
        assert_eq!(r("{{.Tags}}", &v), "[a b]");
        assert_eq!(r("{{.State}}", &v), "map[Pid:42 Status:running]");
        assert_eq!(r("{{.}}", &json!("plain")), "plain");
    }

    #[test]
    fn json_and_functions() {
        let v = json!({"Config":{"Env":["A=1","B=2"],"Labels":{"k":"v","z":"q"}},"N":3, "$Label":{"k":"v"}});
        assert_eq!(r("{{json .Config.Env}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(
            r("{{json .}}", &v),
            r#"{"Config":{"Env":["A=1","B=2"],"Labels":{"k":"v","z":"q"}},"N":3}"#
        );
        assert_eq!(r(r#"{{index .Config.Labels "k"}}"#, &v), "v");
        assert_eq!(r(r#"{{index .Config.Env 1}}"#, &v), "B=2");
        assert_eq!(r(r#"{{join .Config.Env ","}}"#, &v), "A=1,B=2");
        assert_eq!(r(r#"{{.Config.Env | len}}"#, &v), "2");
        assert_eq!(
            r(
                r#"{{upper "abc"}} {{lower "ABC"}} {{title "hello world"}}"#,
                &v
            ),
            "ABC abc Hello World"
        );
        assert_eq!(r(r#"{{printf "%s=%d%%" "n" .N}}"#, &v), "n=3%");
        assert_eq!(r(r#"{{.Label "k"}}"#, &v), "v");
        assert_eq!(r(r#"{{(index .Config.Labels "z") | upper}}"#, &v), "Q");
        assert_eq!(r(r#"{{println "a" "b"}}"#, &v), "a b\n");
        assert_eq!(
            r(r#"{{truncate "abcdef" 3}}|{{pad "x" 1 2}}|"#, &v),
            "abc| x  |"
        );
        assert_eq!(r(r#"{{split "a:b" ":"}}"#, &v), "[a b]");
    }

    #[test]
    fn control_flow() {
        let v = json!({"Mounts":[{"Source":"/a","Destination":"/x"},{"Source":"/b","Destination":"/y"}],"Run":true,"Empty":[],"Code":3});
        assert_eq!(
            r("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", &v),
            "/a:/x /b:/y "
        );
        assert_eq!(r("{{range .Empty}}x{{else}}none{{end}}", &v), "none");
        assert_eq!(r("{{if .Run}}up{{else}}down{{end}}", &v), "up");
        assert_eq!(r("{{if not .Run}}up{{else}}down{{end}}", &v), "down");
        assert_eq!(
            r(
                "{{if eq .Code 0}}ok{{else if eq .Code 3}}three{{else}}other{{end}}",
                &v
            ),
            "three"
        );
        assert_eq!(r("{{with .Mounts}}{{len .}}{{end}}", &v), "2");
        assert_eq!(r("{{if and .Run (gt .Code 1)}}y{{end}}", &v), "y");
        assert_eq!(r("a  {{- .Code -}}  b", &v), "a3b");
        assert_eq!(r("{{/* comment */}}x", &v), "x");
    }

    #[test]
    fn errors_are_clear() {
        for bad in [
            "{{.Name",
            "{{$x, $y := .Name}}",
            "{{(.A).}}",
            "{{if .A}}x",
            "{{end}}",
            "{{nosuchfunc .A}}",
            "{{define \"x\"}}{{end}}",
            "{{.A | }}",
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(matches!(e, FormatError::Parse(_)), "{bad}: {e}");
        }
        let t = Template::parse("{{.Nope}}").unwrap();
        let e = t.render(&json!({"ID":"x"}), true).unwrap_err();
        assert!(e.to_string().contains("can't evaluate field Nope"), "{e}");
        let t = Template::parse("{{.ID.Sub}}").unwrap();
        assert!(t.render(&json!({"ID":"x"}), false).is_err());
    }

    #[test]
    fn ordered_json_and_missing_keys() {
        let v = parse_ordered(r#"{"Z":1,"A":{"b":[1,{"y":2,"x":"<&>"}],"a":null}}"#).unwrap();
        assert_eq!(
            r("{{json .}}", &v),
            r#"{"Z":1,"A":{"b":[1,{"y":2,"x":"<&>"}],"a":null}}"#
        );
        assert_eq!(r("{{.A.a}}", &v), "<nil>");
        let t = Template::parse("{{.A.nope}}").unwrap();
        let e = t.render_with(&v, Missing::Error).unwrap_err();
        assert!(
            e.to_string().contains(r#"map has no entry for key "nope""#),
            "{e}"
        );
        let mut m = serde_json::json!({"D": "<none>", "$html": true});
        assert_eq!(r("{{json .}}", &m), r#"{"D":"\u003cnone\u003e"}"#);
        m["$html"] = Value::Null;
        assert_eq!(r("{{json .D}}", &m), r#""<none>""#);
    }

    #[test]
    fn tabwriter_like_go() {
        let out = tabwrite("CONTAINER ID\tIMAGE\tNAMES\nabc\tbusybox\tweb\n");
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     NAMES\nabc            busybox   web\n"
        );
        // Long cells widen the column; min width 10 otherwise; the last cell is never padded.
        let out = tabwrite("A\tB\nxxxxxxxxxxxxx\t\n");
        assert_eq!(out, "A               B\nxxxxxxxxxxxxx   \n");
        // Runes, not bytes.
        let out = tabwrite("\"sh -c 'sleep 100…\"\tx\n");
        assert_eq!(out, "\"sh -c 'sleep 100…\"   x\n");
    }

    #[test]
    fn table_format() {
        let f = Format::new("table {{.ID}}\\t{{.Names}}", "").unwrap();
        assert!(f.table);
        let header = json!({"ID":"CONTAINER ID","Names":"NAMES"});
        let rows = vec![json!({"ID":"0123456789ab","Names":"web"})];
        assert_eq!(
            f.render(&header, &rows, true).unwrap(),
            "CONTAINER ID   NAMES\n0123456789ab   web\n"
        );
        let f = Format::new("{{.Names}}", "table {{.ID}}").unwrap();
        assert!(!f.table);
        assert_eq!(f.render(&header, &rows, true).unwrap(), "web\n");
        let f = Format::new("table", "table {{.ID}}").unwrap();
        assert!(f.table);
        assert_eq!(f.render(&header, &[], true).unwrap(), "CONTAINER ID\n");
    }

    #[test]
    fn chaining_variables_and_builtins() {
        let v = json!({
            "Name": "/web",
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.1.0.2"}, "n2": {"IPAddress": "10.2.0.3"}}},
            "Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "a": "b"}},
            "Count": 3
        });
        assert_eq!(
            r(
                r#"{{(index .NetworkSettings.Networks "bridge").IPAddress}}"#,
                &v
            ),
            "10.1.0.2"
        );
        assert_eq!(
            r("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", &v),
            "/a:/x /b:/y "
        );
        assert_eq!(
            r(
                "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}};{{end}}",
                &v
            ),
            "bridge=10.1.0.2;n2=10.2.0.3;"
        );
        assert_eq!(
            r("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", &v),
            "0:A=1 1:B=2 "
        );
        assert_eq!(
            r("{{range $e := .Config.Env}}{{$e}}{{$.Name}} {{end}}", &v),
            "A=1/web B=2/web "
        );
        assert_eq!(
            r("{{$n := .Name}}{{with .Config}}{{$n}}{{end}}", &v),
            "/web"
        );
        assert_eq!(r("{{$n := 1}}{{$n = 2}}{{$n}}", &v), "2");
        assert_eq!(
            r(
                "{{range .Config.Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}}{{end}}",
                &v
            ),
            "A=1"
        );
        assert_eq!(
            r(
                "{{range .Config.Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}}{{end}}",
                &v
            ),
            "B=2"
        );
        assert_eq!(r("{{.Name | upper}} {{.Name | lower | len}}", &v), "/WEB 4");
        assert_eq!(
            r(
                r#"{{slice .Name 1}} {{slice .Name 1 3}} {{slice .Config.Env 1}}"#,
                &v
            ),
            "web we [B=2]"
        );
        assert_eq!(
            r(
                r#"{{printf "%-6s|%5d|%05d|%.2f|%x|%q|%t" "ab" 42 -7 1.5 255 "q" true}}"#,
                &v
            ),
            "ab    |   42|-0007|1.50|ff|\"q\"|true"
        );
        assert_eq!(
            r(r#"{{printf "%s"}} {{printf "%d" 1 2}}"#, &v),
            "%!s(MISSING) 1%!(EXTRA 2)"
        );
        assert_eq!(
            r(r#"{{html "<a&b>"}} {{urlquery "a b/c"}} {{js "it's"}}"#, &v),
            "&lt;a&amp;b&gt; a+b%2Fc it\\'s"
        );
        assert_eq!(
            r(
                r#"{{if and .Count (gt .Count 2)}}big{{else}}small{{end}}"#,
                &v
            ),
            "big"
        );
        assert_eq!(r(r#"{{len (split (join .Config.Env ",") ",")}}"#, &v), "2");
        assert_eq!(r(r#"{{(index .Mounts 1).Source}}"#, &v), "/b");
        for bad in [
            "{{$nope}}",
            "{{$x = 1}}",
            "{{if true}}{{$x := 1}}{{end}}{{$x}}",
            "{{range $k, $v := .A}}{{end}}{{$v}}",
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains("undefined variable \"$"),
                "{bad}: {e}"
            );
        }
        assert_eq!(r("{{with $x := .Name}}{{$x}}{{end}}", &v), "/web");
    }
}

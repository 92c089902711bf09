//! `--format`: the subset of Go's text/template that docker users type, over `serde_json::Value`
//! (sorted object keys, as Go encodes maps), plus the docker CLI's `table` handling and Go's
//! text/tabwriter (minwidth 10, padding 3) for aligned columns.
//!
//! Supported: text; `{{.}}`, `{{.Field.Sub}}`; functions `json`, `index`, `join`, `split`,
//! `upper`, `lower`, `title`, `len`, `print`, `println`, `printf` (`%s %d %v %q %%`), `pad`,
//! `truncate`, `eq`, `ne`, `not`, `and`, `or`; pipelines `a | b`; parentheses;
//! `{{if}}…{{else if}}…{{else}}…{{end}}`, `{{range}}…{{else}}…{{end}}`, `{{with}}…{{end}}`;
//! trim markers `{{-`/`-}}`; string, number and bool literals. Variables (`$x`), `define`,
//! `template` and `block` are refused with a clear error at parse time.
//! A field followed by arguments indexes into it (`{{.Label "com.x"}}` on `ps` rows): the row
//! keeps the map under a hidden `$Label` key, which `json` and `%v` never show.

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
    Field(Vec<String>),
    Func(String),
    Lit(Value),
    Sub(Pipeline),
}

type Command = Vec<Arg>;
type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Action(String),
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
                toks.push(Tok::Action(body.trim().to_owned()));
                rest = &after[end + 2..];
            }
        }
    }
    Ok(toks)
}

struct ArgLexer<'a> {
    s: &'a [u8],
    i: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum AT {
    Arg(Arg),
    Pipe,
    Open,
    Close,
}

impl ArgLexer<'_> {
    fn tokens(src: &str) -> Res<Vec<AT>> {
        let mut l = ArgLexer {
            s: src.as_bytes(),
            i: 0,
        };
        let mut out = Vec::new();
        while let Some(t) = l.next()? {
            out.push(t);
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
            while i < s.len() && !s[i].is_ascii_whitespace() && !b"|()".contains(&s[i]) {
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
                AT::Close
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
            b'$' => return perr("variables ($) are not supported by berth's --format"),
            b'.' => {
                let end = word_end(self.s, self.i);
                let w = String::from_utf8_lossy(&self.s[start..end]).into_owned();
                self.i = end;
                if w == "." {
                    AT::Arg(Arg::Field(Vec::new()))
                } else {
                    let parts: Vec<String> = w[1..].split('.').map(str::to_owned).collect();
                    if parts.iter().any(|p| {
                        p.is_empty() || !p.chars().all(|c| c.is_alphanumeric() || c == '_')
                    }) {
                        return perr(format!("bad field {w}"));
                    }
                    AT::Arg(Arg::Field(parts))
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

fn parse_pipeline(toks: &[AT], pos: &mut usize, nested: bool) -> Res<Pipeline> {
    let mut pipe = Vec::new();
    let mut cmd: Command = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t {
            AT::Arg(a) => cmd.push(a.clone()),
            AT::Pipe => {
                if cmd.is_empty() {
                    return perr("missing command before |");
                }
                pipe.push(std::mem::take(&mut cmd));
            }
            AT::Open => {
                let sub = parse_pipeline(toks, pos, true)?;
                cmd.push(Arg::Sub(sub));
            }
            AT::Close => {
                if !nested {
                    return perr("unexpected right paren");
                }
                if cmd.is_empty() {
                    return perr("missing command");
                }
                pipe.push(cmd);
                return Ok(pipe);
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
    Ok(pipe)
}

fn pipeline(src: &str) -> Res<Pipeline> {
    let toks = ArgLexer::tokens(src)?;
    let mut pos = 0;
    parse_pipeline(&toks, &mut pos, false)
}

const KNOWN_FUNCS: &[&str] = &[
    "json", "index", "join", "split", "upper", "lower", "title", "len", "print", "println",
    "printf", "pad", "truncate", "eq", "ne", "not", "and", "or", "lt", "le", "gt", "ge",
];

fn check_funcs(p: &Pipeline) -> Res<()> {
    for c in p {
        for a in c {
            match a {
                Arg::Func(f) if !KNOWN_FUNCS.contains(&f.as_str()) => {
                    return perr(format!("function {f:?} not defined"))
                }
                Arg::Sub(s) => check_funcs(s)?,
                _ => {}
            }
        }
    }
    Ok(())
}

enum Stop {
    Eof,
    End,
    Else(Option<String>),
}

fn parse_list(toks: &[Tok], pos: &mut usize) -> Res<(Vec<Node>, Stop)> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        *pos += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a) => {
                let (kw, rest) = match a.split_once(char::is_whitespace) {
                    Some((k, r)) => (k, r.trim()),
                    None => (a.as_str(), ""),
                };
                match kw {
                    "" => return perr("missing value for command"),
                    "end" => return Ok((nodes, Stop::End)),
                    "else" => {
                        let chain = rest.strip_prefix("if").map(|r| r.trim().to_owned());
                        if !rest.is_empty() && chain.is_none() {
                            return perr(format!("unexpected {rest:?} after else"));
                        }
                        return Ok((nodes, Stop::Else(chain)));
                    }
                    "if" | "range" | "with" => {
                        nodes.push(parse_block(kw, rest, toks, pos)?);
                    }
                    "define" | "template" | "block" => {
                        return perr(format!("{{{{{kw}}}}} is not supported by berth's --format"))
                    }
                    _ if kw.starts_with("/*") => {}
                    _ => {
                        let p = pipeline(a)?;
                        check_funcs(&p)?;
                        nodes.push(Node::Action(p));
                    }
                }
            }
        }
    }
    Ok((nodes, Stop::Eof))
}

fn parse_block(kw: &str, cond: &str, toks: &[Tok], pos: &mut usize) -> Res<Node> {
    if cond.is_empty() {
        return perr(format!("missing value for {kw}"));
    }
    let p = pipeline(cond)?;
    check_funcs(&p)?;
    let (body, end) = parse_list(toks, pos)?;
    let els = match end {
        Stop::Eof => return perr(format!("unexpected EOF in {kw}")),
        Stop::End => Vec::new(),
        Stop::Else(None) => match parse_list(toks, pos)? {
            (e, Stop::End) => e,
            _ => return perr(format!("expected end after else in {kw}")),
        },
        Stop::Else(Some(c)) => {
            // `else if c` is an `if` nested in the else branch, sharing the final end.
            vec![parse_block("if", &c, toks, pos)?]
        }
    };
    Ok(match kw {
        "if" => Node::If(p, body, els),
        "range" => Node::Range(p, body, els),
        _ => Node::With(p, body, els),
    })
}

impl Template {
    /// Parses a template.
    pub fn parse(src: &str) -> Result<Template, FormatError> {
        let toks = lex(src)?;
        let mut pos = 0;
        let (nodes, end) = parse_list(&toks, &mut pos)?;
        match end {
            Stop::Eof => Ok(Template { nodes }),
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

    /// Executes with an explicit missing-key mode.
    pub fn render_with(&self, dot: &Value, missing: Missing) -> Result<String, FormatError> {
        let mut out = String::new();
        let ex = Exec { missing };
        ex.list(&self.nodes, dot, &mut out)?;
        Ok(out)
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

struct Exec {
    missing: Missing,
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

fn printf(args: &[V]) -> Res<String> {
    let Some(fmt) = args.first() else {
        return xerr("printf: missing format");
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
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => {
                let a = rest.next().cloned().unwrap_or(V::Missing);
                match verb {
                    'q' => out.push_str(&serde_json::to_string(&as_str(&a)).unwrap_or_default()),
                    'd' => out.push_str(&as_int(&a, "printf")?.to_string()),
                    _ => out.push_str(&as_str(&a)),
                }
            }
            Some(o) => return xerr(format!("printf: verb %{o} is not supported")),
            None => out.push('%'),
        }
    }
    Ok(out)
}

fn compare(a: &V, b: &V) -> Option<std::cmp::Ordering> {
    match (a.value(), b.value()) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

impl Exec {
    fn list(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Res<()> {
        for n in nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => out.push_str(&go_v(&self.pipe(p, dot)?)),
                Node::If(p, body, els) => {
                    if truthy(&self.pipe(p, dot)?) {
                        self.list(body, dot, out)?;
                    } else {
                        self.list(els, dot, out)?;
                    }
                }
                Node::With(p, body, els) => {
                    let v = self.pipe(p, dot)?;
                    if truthy(&v) {
                        self.list(body, &v.value(), out)?;
                    } else {
                        self.list(els, dot, out)?;
                    }
                }
                Node::Range(p, body, els) => {
                    let items: Vec<Value> = match self.pipe(p, dot)?.value() {
                        Value::Array(a) => a,
                        Value::Object(o) => o
                            .into_iter()
                            .filter(|(k, _)| !k.starts_with('$'))
                            .map(|(_, v)| v)
                            .collect(),
                        Value::Null => Vec::new(),
                        Value::Number(n) => (0..n.as_i64().unwrap_or(0)).map(Value::from).collect(),
                        other => {
                            return xerr(format!("range can't iterate over {}", go_value(&other)))
                        }
                    };
                    if items.is_empty() {
                        self.list(els, dot, out)?;
                    }
                    for it in &items {
                        self.list(body, it, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn pipe(&self, p: &Pipeline, dot: &Value) -> Res<V> {
        let mut prev: Option<V> = None;
        for cmd in p {
            prev = Some(self.command(cmd, dot, prev.take())?);
        }
        Ok(prev.unwrap_or(V::Missing))
    }

    fn field(&self, path: &[String], dot: &Value) -> Res<V> {
        let mut cur = V::Val(dot.clone());
        for (i, name) in path.iter().enumerate() {
            cur = match cur {
                V::Val(Value::Object(o)) => {
                    match o.get(name).or_else(|| o.get(&format!("${name}"))) {
                        Some(v) => V::Val(v.clone()),
                        None if self.missing == Missing::ErrorTop && i == 0 => {
                            return xerr(format!(
                                "executing \"\" at <.{}>: can't evaluate field {name}",
                                path.join(".")
                            ))
                        }
                        None if self.missing == Missing::Error => {
                            return xerr(format!(
                            ":1:2: executing \"\" at <.{}>: map has no entry for key \"{name}\"",
                            path.join(".")
                        ))
                        }
                        None => V::Missing,
                    }
                }
                V::Missing | V::Val(Value::Null) => V::Missing,
                V::Val(other) => {
                    return xerr(format!(
                        "executing \"\" at <.{}>: can't evaluate field {name} in type {}",
                        path.join("."),
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
            Arg::Field(p) => self.field(p, dot),
            Arg::Lit(v) => Ok(V::Val(v.clone())),
            Arg::Sub(p) => self.pipe(p, dot),
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
            Arg::Field(p) => {
                let v = self.field(p, dot)?;
                if args.is_empty() {
                    return Ok(v);
                }
                // A "method" with arguments: index into the value (`.Label "k"`).
                let mut all = vec![v];
                all.extend(args);
                self.call("index", all)
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
            buf.push_str(&self.template.render(r, strict)?);
            buf.push('\n');
        }
        if !self.table {
            return Ok(buf);
        }
        let mut all = self.template.render(header, false)?;
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
            "{{$x := .Name}}",
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
}

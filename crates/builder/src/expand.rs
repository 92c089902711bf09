//! Variable substitution in a word, as Docker's shell lexer does it for ADD, COPY, ENV, EXPOSE,
//! FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG defaults: `$VAR`, `${VAR}`,
//! `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, quotes removed
//! (single quotes literal), the escape character taking the next character literally.

/// A substitution error (`${X:?msg}` with X unset, a bad `${`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Variables in scope (later entries win).
pub trait Vars {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

struct Lexer<'a, V: Vars + ?Sized> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a V,
}

impl<V: Vars + ?Sized> Lexer<'_, V> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    /// Until `stop` (not consumed) or the end.
    fn word(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                break;
            }
            self.pos += 1;
            match c {
                '\'' => {
                    loop {
                        match self.next() {
                        Some('\'') => break,
                        Some(c) => out.push(c),
                        None => return Err(ExpandError("unexpected end of statement while looking for matching single-quote".into())),
                    }
                    }
                }
                '"' => self.double_quoted(&mut out)?,
                '$' => out.push_str(&self.dollar()?),
                c if c == self.escape => match self.next() {
                    Some(n) => out.push(n),
                    None => out.push(c),
                },
                c => out.push(c),
            }
        }
        Ok(out)
    }

    fn double_quoted(&mut self, out: &mut String) -> Result<(), ExpandError> {
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
                Some('"') => return Ok(()),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        n
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                let name = self.name();
                if name.is_empty() {
                    return Err(ExpandError("bad substitution".into()));
                }
                let val = self.vars.get(&name);
                match self.next() {
                    Some('}') => Ok(val.unwrap_or_default()),
                    Some(':') => {
                        let op = self.next();
                        let word = self.word(Some('}'))?;
                        if self.next() != Some('}') {
                            return Err(ExpandError(format!("missing '}}' in ${{{name}")));
                        }
                        let set = val.as_deref().is_some_and(|v| !v.is_empty());
                        match op {
                            Some('-') => Ok(if set { val.unwrap_or_default() } else { word }),
                            Some('+') => Ok(if set { word } else { String::new() }),
                            Some('?') if !set => Err(ExpandError(format!(
                                "{name}: {}",
                                if word.is_empty() {
                                    "is not allowed to be unset"
                                } else {
                                    &word
                                }
                            ))),
                            Some('?') => Ok(val.unwrap_or_default()),
                            _ => Err(ExpandError(format!(
                                "unsupported modifier in ${{{name}:...}}"
                            ))),
                        }
                    }
                    Some(op @ ('-' | '+' | '?')) => {
                        let word = self.word(Some('}'))?;
                        if self.next() != Some('}') {
                            return Err(ExpandError(format!("missing '}}' in ${{{name}")));
                        }
                        match op {
                            '-' => Ok(val.unwrap_or(word)),
                            '+' => Ok(if val.is_some() { word } else { String::new() }),
                            _ => val.ok_or_else(|| {
                                ExpandError(format!(
                                    "{name}: {}",
                                    if word.is_empty() {
                                        "is not allowed to be unset"
                                    } else {
                                        &word
                                    }
                                ))
                            }),
                        }
                    }
                    _ => Err(ExpandError(format!(
                        "unsupported modifier in ${{{name}...}}"
                    ))),
                }
            }
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).unwrap_or_default())
            }
            // `$` followed by anything else stays.
            _ => Ok("$".into()),
        }
    }
}

/// Expands one word (quotes removed).
pub fn word<V: Vars + ?Sized>(s: &str, escape: char, vars: &V) -> Result<String, ExpandError> {
    let mut l = Lexer {
        chars: s.chars().collect(),
        pos: 0,
        escape,
        vars,
    };
    l.word(None)
}

/// Expands heredoc content: `$VAR` forms and the escape before `$`; quotes stay.
pub fn heredoc<V: Vars + ?Sized>(s: &str, escape: char, vars: &V) -> Result<String, ExpandError> {
    let mut l = Lexer {
        chars: s.chars().collect(),
        pos: 0,
        escape,
        vars,
    };
    let mut out = String::new();
    while let Some(c) = l.next() {
        match c {
            '$' => out.push_str(&l.dollar()?),
            c if c == escape && l.peek() == Some('$') => {
                l.pos += 1;
                out.push('$');
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        vec![
            ("A".into(), "apple".into()),
            ("EMPTY".into(), String::new()),
            ("SP".into(), "a b".into()),
            ("A".into(), "avocado".into()),
        ]
    }

    fn x(s: &str) -> String {
        word(s, '\\', &vars()).expect("expands")
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(x("$A"), "avocado");
        assert_eq!(x("${A}s"), "avocados");
        assert_eq!(x("$As"), "");
        assert_eq!(x("x$NOPE.y"), "x.y");
        assert_eq!(x("$"), "$");
        assert_eq!(x("a$ b"), "a$ b");
    }

    #[test]
    fn modifiers() {
        assert_eq!(x("${NOPE:-d}"), "d");
        assert_eq!(x("${EMPTY:-d}"), "d");
        assert_eq!(x("${EMPTY-d}"), "");
        assert_eq!(x("${NOPE-d}"), "d");
        assert_eq!(x("${A:-d}"), "avocado");
        assert_eq!(x("${A:+set}"), "set");
        assert_eq!(x("${EMPTY:+set}"), "");
        assert_eq!(x("${EMPTY+set}"), "set");
        assert_eq!(x("${NOPE:+set}"), "");
        assert_eq!(x("${NOPE:-$A}"), "avocado");
        assert_eq!(x("${NOPE:-${A}x}"), "avocadox");
        let e = word("${NOPE:?must be set}", '\\', &vars()).expect_err("unset");
        assert_eq!(e.to_string(), "NOPE: must be set");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "avocado b");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("\"\\$A\""), "$A");
        assert_eq!(x("\"a\\b\""), "a\\b");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(x("\"$SP\""), "a b");
        assert_eq!(x("x\\"), "x\\");
        assert!(word("'open", '\\', &vars()).is_err());
        assert!(word("\"open", '\\', &vars()).is_err());
        assert!(word("${", '\\', &vars()).is_err());
        assert!(word("${A", '\\', &vars()).is_err());
    }

    #[test]
    fn backtick_escape() {
        assert_eq!(word("`$A", '`', &vars()).expect("expands"), "$A");
        assert_eq!(word("c:\\dir", '`', &vars()).expect("expands"), "c:\\dir");
    }

    #[test]
    fn heredoc_bodies_keep_quotes() {
        assert_eq!(
            heredoc("echo \"$A\" '\\$A'\n", '\\', &vars()).expect("expands"),
            "echo \"avocado\" '$A'\n"
        );
    }
}

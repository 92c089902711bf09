//! The build context's `.dockerignore`, with Docker's rules (its pattern matcher): one pattern per line, `#` comments,
//! patterns cleaned and made relative to the context root, `*` and `?` within one path element,
//! `**` across elements, `[...]` classes, `\` escapes, `!` exceptions; the last matching pattern
//! decides, and a path is excluded when it or one of its parent directories matches. Pure, so
//! the client (which leaves ignored files out of the context it sends, as docker's CLI does)
//! and the builder (which applies it again, for any client, and globs COPY sources with it)
//! share one matcher.

/// One glob token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one character except `/`.
    One,
    /// `*`: any run of characters except `/`.
    Star,
    /// `**`: any run of characters.
    Deep,
    /// `**/`: nothing, or any run ending in `/`.
    DeepDir,
    /// `[...]`.
    Class {
        neg: bool,
        items: Vec<(char, char)>,
    },
}

/// A compiled glob over `/`-separated paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    toks: Vec<Tok>,
}

/// A bad pattern (an unterminated class).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {0:?}")]
pub struct PatternError(pub String);

impl Glob {
    /// Compiles `pattern` (`\` escapes the next character).
    pub fn new(pattern: &str) -> Result<Glob, PatternError> {
        let cs: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < cs.len() {
            match cs[i] {
                '*' if cs.get(i + 1) == Some(&'*') => {
                    i += 2;
                    if cs.get(i) == Some(&'/') {
                        i += 1;
                        toks.push(Tok::DeepDir);
                    } else {
                        toks.push(Tok::Deep);
                    }
                    continue;
                }
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::One),
                '\\' => {
                    i += 1;
                    match cs.get(i) {
                        Some(&c) => toks.push(Tok::Lit(c)),
                        None => return Err(PatternError(pattern.into())),
                    }
                }
                '[' => {
                    let mut j = i + 1;
                    let neg = matches!(cs.get(j), Some('^' | '!'));
                    if neg {
                        j += 1;
                    }
                    let mut items = Vec::new();
                    let mut closed = false;
                    let mut first = true;
                    while j < cs.len() {
                        let mut c = cs[j];
                        if c == ']' && !first {
                            closed = true;
                            break;
                        }
                        first = false;
                        if c == '\\' {
                            j += 1;
                            c = *cs.get(j).ok_or_else(|| PatternError(pattern.into()))?;
                        }
                        let mut hi = c;
                        if cs.get(j + 1) == Some(&'-') && cs.get(j + 2).is_some_and(|&x| x != ']') {
                            hi = cs[j + 2];
                            j += 2;
                        }
                        items.push((c, hi));
                        j += 1;
                    }
                    if !closed {
                        return Err(PatternError(pattern.into()));
                    }
                    toks.push(Tok::Class { neg, items });
                    i = j;
                }
                c => toks.push(Tok::Lit(c)),
            }
            i += 1;
        }
        Ok(Glob { toks })
    }

    /// Whether the whole of `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let cs: Vec<char> = path.chars().collect();
        Self::m(&self.toks, &cs)
    }

    /// Whether the pattern has any wildcard.
    pub fn has_wildcard(&self) -> bool {
        self.toks.iter().any(|t| !matches!(t, Tok::Lit(_)))
    }

    fn m(t: &[Tok], s: &[char]) -> bool {
        let Some(first) = t.first() else {
            return s.is_empty();
        };
        match first {
            Tok::Lit(c) => s.first() == Some(c) && Self::m(&t[1..], &s[1..]),
            Tok::One => s.first().is_some_and(|&c| c != '/') && Self::m(&t[1..], &s[1..]),
            Tok::Class { neg, items } => {
                s.first().is_some_and(|&c| {
                    c != '/' && (items.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *neg)
                }) && Self::m(&t[1..], &s[1..])
            }
            Tok::Star => {
                for k in 0..=s.len() {
                    if Self::m(&t[1..], &s[k..]) {
                        return true;
                    }
                    if k < s.len() && s[k] == '/' {
                        return false;
                    }
                }
                false
            }
            Tok::Deep => (0..=s.len()).any(|k| Self::m(&t[1..], &s[k..])),
            Tok::DeepDir => {
                Self::m(&t[1..], s)
                    || (0..s.len()).any(|k| s[k] == '/' && Self::m(&t[1..], &s[k + 1..]))
            }
        }
    }
}

/// Cleans a path as Go's `filepath.Clean`, relative (no leading `/`), `.` for the root.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: Glob,
    exclusion: bool,
    text: String,
}

/// The compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses `.dockerignore` text.
    pub fn parse(text: &str) -> Result<Ignore, PatternError> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, p) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            if p.is_empty() {
                continue;
            }
            let c = clean(p);
            if c == "." {
                // `.` or `/` matches the whole context: Docker keeps it as a pattern that
                // matches every path.
                patterns.push(Pattern {
                    glob: Glob::new("**")?,
                    exclusion,
                    text: c,
                });
                continue;
            }
            patterns.push(Pattern {
                glob: Glob::new(&c)?,
                exclusion,
                text: c,
            });
        }
        Ok(Ignore { patterns })
    }

    /// No patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the context path `path` (relative, `/`-separated) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for p in &self.patterns {
            if p.exclusion != excluded {
                continue;
            }
            let hit = p.glob.matches(&path) || parents.iter().any(|d| p.glob.matches(d));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }

    /// Whether a directory that is excluded may still hold re-included paths (walk into it).
    pub fn has_exceptions_below(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.patterns.iter().any(|p| {
            p.exclusion && (p.text.starts_with(&format!("{dir}/")) || p.glob.has_wildcard())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(s: &str) -> Ignore {
        Ignore::parse(s).expect("parses")
    }

    #[test]
    fn globs() {
        let g = |p: &str, s: &str| Glob::new(p).expect("glob").matches(s);
        assert!(g("*.txt", "a.txt"));
        assert!(!g("*.txt", "d/a.txt"));
        assert!(g("*/*.txt", "d/a.txt"));
        assert!(g("**/*.txt", "a.txt"));
        assert!(g("**/*.txt", "d/e/a.txt"));
        assert!(g("d/**", "d/e/f"));
        assert!(g("**", "anything/at/all"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "a/c"));
        assert!(g("[a-c]x", "bx"));
        assert!(!g("[^a-c]x", "bx"));
        assert!(g("\\*", "*"));
        assert!(!g("\\*", "a"));
        assert!(Glob::new("[a").is_err());
    }

    #[test]
    fn directory_patterns_exclude_their_contents() {
        let i = ig("node_modules\n# comment\n\n/build/\n");
        assert!(i.excluded("node_modules"));
        assert!(i.excluded("node_modules/x/y.js"));
        assert!(i.excluded("build/out.o"));
        assert!(!i.excluded("src/node_modules_x"));
        assert!(!i.excluded("src/main.rs"));
    }

    #[test]
    fn last_match_wins_with_exceptions() {
        let i = ig("*.md\n!README.md\n");
        assert!(i.excluded("CHANGES.md"));
        assert!(!i.excluded("README.md"));
        let i = ig("docs\n!docs/keep.txt\n");
        assert!(i.excluded("docs/a.txt"));
        assert!(!i.excluded("docs/keep.txt"));
        assert!(i.has_exceptions_below("docs"));
        let i = ig("!a\na\n");
        assert!(i.excluded("a"));
    }

    #[test]
    fn double_star_anywhere() {
        let i = ig("**/*.log\n**/tmp\n");
        assert!(i.excluded("a.log"));
        assert!(i.excluded("x/y/z.log"));
        assert!(i.excluded("x/tmp/f"));
        assert!(!i.excluded("x/log"));
    }

    #[test]
    fn paths_are_cleaned() {
        let i = ig("./a/../b\n");
        assert!(i.excluded("b"));
        assert!(i.excluded("./b/c"));
        assert_eq!(clean("/a//b/./c/.."), "a/b");
        assert_eq!(clean("/"), ".");
    }
}

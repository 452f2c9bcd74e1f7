//! Building PromQL: quoting ([`quote`]), RE2 escaping ([`regex_escape`]) and
//! the selectors the source sends.
//!
//! Every name that reaches a query — namespace, pod, container, claim, and the
//! configured series names and filter values — goes through [`quote`], and
//! through [`regex_escape`] first where it sits in a `=~` matcher. Label names
//! are checked against Prometheus' label-name syntax when the configuration is
//! validated. Nothing else is spliced into a query except numbers we format
//! ourselves (the range in milliseconds).

use std::fmt::Write as _;

/// Quotes `value` as a PromQL double-quoted string literal.
///
/// PromQL unquotes string literals with Go's `strconv.Unquote`. The literal
/// written here is pure printable ASCII: `"` and `\` are escaped, printable
/// ASCII stands for itself, and every other character — control characters,
/// any non-ASCII character — is written as `\uXXXX` or `\UXXXXXXXX`. So no
/// lexer quirk can touch it: Prometheus' lexer rejects a raw newline inside
/// quotes and reads a literal U+FFFD as an invalid UTF-8 rune, and
/// VictoriaMetrics' lexer is a different program again; both unquote these
/// escapes back to exactly `value` (NUL included).
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(ch),
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Escapes `value` so that an RE2 regular expression (Go's `regexp`, which
/// Prometheus and VictoriaMetrics use for `=~`) matches exactly it.
///
/// The same set of characters as Go's `regexp.QuoteMeta` gets a backslash:
/// `\ . + * ? ( ) | [ ] { } ^ $`. Every other character, newlines and other
/// control characters included, is a literal in RE2 syntax (no `(?x)` mode is
/// ever set). Prometheus anchors a `=~` regex at both ends, so the escaped
/// name matches the name and nothing longer.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for ch in value.chars() {
        if matches!(
            ch,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The regex alternation `a|b|c` of the escaped `values`, in the given order.
pub fn alternation<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        out.push_str(&regex_escape(v));
    }
    out
}

/// Whether `name` is a label name Prometheus accepts unquoted in a selector:
/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label matcher: `label="value"` when one value is allowed, else
/// `label=~"v1|v2|…"` with each value escaped; negated, `label!="value"` or
/// `label!~"v1|v2|…"`, the values refused. An empty value matches series
/// without the label, as in PromQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Matcher {
    pub label: String,
    pub values: Vec<String>,
    /// Whether the values are refused rather than allowed.
    pub negated: bool,
}

impl Matcher {
    pub fn new(label: impl Into<String>, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Matcher {
            label: label.into(),
            values: values.into_iter().map(Into::into).collect(),
            negated: false,
        }
    }

    /// A matcher refusing `values`.
    pub fn not(label: impl Into<String>, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Matcher {
            negated: true,
            ..Matcher::new(label, values)
        }
    }

    /// Appends the matcher's text to `out`.
    fn write(&self, out: &mut String) {
        out.push_str(&self.label);
        out.push_str(if self.negated { "!" } else { "=" });
        if let [one] = self.values.as_slice() {
            if self.negated {
                out.push('=');
            }
            out.push_str(&quote(one));
        } else {
            out.push('~');
            out.push_str(&quote(&alternation(self.values.iter().map(String::as_str))));
        }
    }
}

/// `{m1,m2,…}`: a selector made only of label matchers (the series name goes
/// in as a `__name__` matcher, so any name can be expressed).
pub(crate) fn selector(matchers: &[Matcher]) -> String {
    let mut out = String::from("{");
    for (i, m) in matchers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        m.write(&mut out);
    }
    out.push('}');
    out
}

/// `selector[Nms]`: a range selector, which returns raw samples.
pub(crate) fn range(selector: &str, millis: u64) -> String {
    format!("{selector}[{millis}ms]")
}

/// Bytes `s` takes once `application/x-www-form-urlencoded` (the encoding of
/// both the URL query of a GET and the body of a POST): ASCII letters, digits
/// and `*-._` stay, a space becomes `+`, every other byte becomes `%XX`.
pub(crate) fn form_len(s: &str) -> usize {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_' | b' ') {
                1
            } else {
                3
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Go's `strconv.Unquote` for double-quoted strings, reduced to the
    /// escapes PromQL accepts: what Prometheus turns a string literal into.
    fn unquote(q: &str) -> Result<String, String> {
        let inner = q
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .ok_or("not quoted")?;
        let mut out = String::new();
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            match c {
                '"' => return Err("unescaped quote inside".into()),
                '\n' => return Err("raw newline".into()),
                '\u{FFFD}' => return Err("U+FFFD reads as an invalid rune in Prometheus' lexer".into()),
                '\\' => {
                    let e = it.next().ok_or("dangling backslash")?;
                    match e {
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'u' | 'U' => {
                            let n = if e == 'u' { 4 } else { 8 };
                            let hex: String = it.by_ref().take(n).collect();
                            if hex.len() != n {
                                return Err("short \\u escape".into());
                            }
                            let v = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            out.push(char::from_u32(v).ok_or("not a scalar value")?);
                        }
                        other => return Err(format!("escape \\{other} not produced by quote")),
                    }
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }

    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just("\"".to_owned()),
                    Just("\\".to_owned()),
                    Just("\n".to_owned()),
                    Just("\0".to_owned()),
                    Just("\u{FFFD}".to_owned()),
                    Just("|".to_owned()),
                    Just(".*".to_owned()),
                    Just("(?i)".to_owned()),
                    Just("^$".to_owned()),
                    Just("[a-z]+".to_owned()),
                    Just("{1,2}".to_owned()),
                    Just("\\Q".to_owned()),
                    Just("\"} or vector(1) #".to_owned()),
                    "[a-zé€😀-]{1,3}",
                ],
                0..8
            )
            .prop_map(|v| v.concat()),
        ]
    }

    #[test]
    fn quote_examples() {
        assert_eq!(quote("nginx-7f9c"), r#""nginx-7f9c""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("new\nline"), r#""new\u000aline""#);
        assert_eq!(quote("é😀\u{FFFD}"), r#""\u00e9\U0001f600\ufffd""#);
        assert_eq!(quote("nul\0"), r#""nul\u0000""#);
    }

    #[test]
    fn regex_escape_examples() {
        assert_eq!(regex_escape("a.b"), r"a\.b");
        assert_eq!(regex_escape(r"(x)|[y]{1}^$*+?\"), r"\(x\)\|\[y\]\{1\}\^\$\*\+\?\\");
        assert_eq!(alternation(["a.b", "c"]), r"a\.b|c");
    }

    #[test]
    fn matcher_text() {
        assert_eq!(
            selector(&[
                Matcher::new("__name__", ["container_memory_rss"]),
                Matcher::new("pod", ["a.b", "c"]),
                Matcher::new("cpu", ["total", ""]),
            ]),
            r#"{__name__="container_memory_rss",pod=~"a\\.b|c",cpu=~"total|"}"#
        );
        assert_eq!(range("{a=\"b\"}", 600_000), "{a=\"b\"}[600000ms]");
        assert_eq!(
            selector(&[
                Matcher::not("container", ["", "POD"]),
                Matcher::not("pod", [""]),
                Matcher::not("x", ["a.b"]),
            ]),
            r#"{container!~"|POD",pod!="",x!="a.b"}"#
        );
    }

    #[test]
    fn label_names() {
        assert!(is_label_name("pod") && is_label_name("_x9") && is_label_name("container_name"));
        assert!(!is_label_name("") && !is_label_name("9a") && !is_label_name("a-b") && !is_label_name("é"));
    }

    #[test]
    fn form_len_matches_the_url_crate() {
        for s in ["a b", "{pod=~\"a|b\"}[60ms]", "é😀\u{0}", "*-._~!'()"] {
            let mut url = reqwest::Url::parse("http://x/").unwrap();
            url.query_pairs_mut().append_pair("q", s);
            assert_eq!(form_len(s), url.query().unwrap().len() - 2, "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn quoted_literal_is_ascii_and_unquotes_back(s in hostile()) {
            let q = quote(&s);
            prop_assert!(q.bytes().all(|b| (b' '..=b'~').contains(&b)), "{}", q);
            prop_assert_eq!(unquote(&q).map_err(TestCaseError::fail)?, s);
        }

        /// The `=~` matcher for a set of hostile names, read back as
        /// Prometheus reads it (unquoted, anchored), matches each of the
        /// names and no other hostile name.
        #[test]
        fn escaped_alternation_matches_exactly_the_names(
            names in proptest::collection::vec(hostile(), 1..5),
            others in proptest::collection::vec(hostile(), 0..8),
        ) {
            let m = Matcher::new("pod", names.clone());
            let mut text = String::new();
            m.write(&mut text);
            let literal = if names.len() == 1 {
                text.strip_prefix("pod=").unwrap_or_default()
            } else {
                text.strip_prefix("pod=~").unwrap_or_default()
            };
            let value = unquote(literal).map_err(TestCaseError::fail)?;
            if names.len() == 1 {
                prop_assert_eq!(&value, &names[0]);
            } else {
                let re = regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| TestCaseError::fail(e.to_string()))?;
                for n in &names {
                    prop_assert!(re.is_match(n), "{:?} does not match {:?}", value, n);
                }
                for o in others.iter().filter(|o| !names.contains(o)) {
                    prop_assert!(!re.is_match(o), "{:?} also matches {:?}", value, o);
                }
                // Prefixes, suffixes and doublings of a name are other names too.
                for n in &names {
                    for o in [format!("{n}x"), format!("x{n}"), format!("{n}{n}")] {
                        if !names.contains(&o) {
                            prop_assert!(!re.is_match(&o), "{:?} also matches {:?}", value, o);
                        }
                    }
                }
            }
        }
    }
}

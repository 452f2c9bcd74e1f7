//! Weka ARFF files (dense format).
//!
//! Supported: `@relation`, `@attribute NAME numeric|real|integer`, nominal
//! attributes `{a,b,c}`, `string` for the group attribute only, `@data` with
//! comma-separated values, names and values quoted with `'…'` or `"…"`
//! (backslash escapes), `%` comments (a line starting with `%`, or the rest of
//! a line after an unquoted `%`), blank lines, `?` for a missing value,
//! keywords and types in any case, LF or CRLF line ends, a UTF-8 BOM.
//! Lines are at most [`MAX_LINE_BYTES`] long. A file with CR-only line ends
//! (classic Mac) is refused with an error that says so.
//!
//! Roles of the attributes:
//! * the class is the nominal attribute named `class` (ASCII case ignored), or
//!   else the last nominal attribute that is not the group;
//! * the group is the attribute named `group` (any type); see
//!   [`GroupRule`] for files without one. With one, every row needs a value
//!   in it (`?` or `''` is an error listing the lines);
//! * two attributes named `class` (or `group`) ignoring case is an error;
//! * every other attribute must be numeric and is a feature. A string, date or
//!   other nominal attribute is an error naming it.
//!
//! Not supported (clear errors): sparse rows `{0 1, 3 2}`, `relational`
//! attributes, instance weights.
//!
//! Hand-written: no maintained Rust crate reads ARFF with line-numbered errors
//! and without panicking on hostile input; the format is small.

use super::{
    CLASS, CONTAINER_NAME, GROUP, GroupRule, MAX_LISTED_LINES, POD_NAME, RUNNING_TIME, RunInference, excerpt,
    identity_group, line_list,
};
use crate::dataset::{Dataset, DatasetError};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

/// The longest line read (a line of the header or one data row).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Why an ARFF file could not be read or written. Line numbers count from 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArffError {
    /// Reading or writing failed.
    #[error("I/O error near line {line}")]
    Io {
        /// The line being read (0 when writing).
        line: usize,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 {
        /// The line.
        line: usize,
    },
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// The line.
        line: usize,
        /// [`MAX_LINE_BYTES`].
        limit: usize,
    },
    /// A carriage return inside a line: the file ends its lines with CR only.
    #[error(
        "line {line} has a carriage return (CR) inside it: the file seems to end its lines with CR only \
         (classic Mac OS); convert them to LF, e.g. `tr '\\r' '\\n' < in.arff > out.arff`"
    )]
    CrLineEndings {
        /// The line.
        line: usize,
    },
    /// Two attributes both name the class (or the group), ignoring case.
    #[error(
        "attributes {first:?} (line {first_line}) and {second:?} (line {second_line}) are both named `{role}` \
         ignoring case; keep one"
    )]
    DuplicateRoleAttribute {
        /// `class` or `group`.
        role: &'static str,
        /// The first one's name.
        first: String,
        /// Its line.
        first_line: usize,
        /// The second one's name.
        second: String,
        /// Its line.
        second_line: usize,
    },
    /// Rows whose `group` value is missing.
    #[error(
        "attribute `group` is missing on {count} row(s) (line(s) {lines}): every row needs the container it came \
         from; fill it in, or remove the attribute to have the groups inferred"
    )]
    MissingGroup {
        /// How many rows.
        count: usize,
        /// The first of their lines, as a list.
        lines: String,
    },
    /// A line does not follow the ARFF syntax.
    #[error("line {line}: {message}")]
    Syntax {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Two attributes have the same name.
    #[error("line {line}: attribute {name:?} is declared twice")]
    DuplicateAttribute {
        /// The line of the second declaration.
        line: usize,
        /// The name.
        name: String,
    },
    /// An attribute that is neither numeric, the class nor the group.
    #[error("line {line}: attribute {name:?} is {kind}; only numeric features, the class and the group are supported")]
    UnsupportedAttribute {
        /// The line of the declaration.
        line: usize,
        /// The attribute's name.
        name: String,
        /// Its type as written.
        kind: String,
    },
    /// No nominal attribute to be the class.
    #[error("no class: the file has no nominal attribute (the class is the nominal attribute `class` or the last one)")]
    NoClass,
    /// The file ends before `@data`.
    #[error("no @data section")]
    NoData,
    /// A data row has the wrong number of values.
    #[error("line {line}: {got} values, the header declares {expected} attributes")]
    WrongValueCount {
        /// The line.
        line: usize,
        /// Number of attributes.
        expected: usize,
        /// Number of values on the line.
        got: usize,
    },
    /// A numeric value that is not a finite number.
    #[error("line {line}: attribute {attribute:?}: {value:?} is not a finite number")]
    BadNumber {
        /// The line.
        line: usize,
        /// The attribute.
        attribute: String,
        /// The text found.
        value: String,
    },
    /// A class value that is not in the class attribute's list.
    #[error("line {line}: class {value:?} is not one of the declared values")]
    UnknownClass {
        /// The line.
        line: usize,
        /// The text found.
        value: String,
    },
    /// A row without a class (`?`).
    #[error("line {line}: the class is missing")]
    MissingClass {
        /// The line.
        line: usize,
    },
    /// A feature is named like the class or group attribute the writer adds.
    #[error("cannot write feature {0:?}: `class` and `group` are reserved names")]
    ReservedName(String),
    /// The data set was inconsistent (should not happen).
    #[error("line {line}: the data set refused the row")]
    Dataset {
        /// The line.
        line: usize,
        /// The underlying error.
        #[source]
        source: DatasetError,
    },
}

/// An ARFF file read into a [`Dataset`].
#[derive(Clone, Debug, PartialEq)]
pub struct Arff {
    /// The `@relation` name (empty if the file has none).
    pub relation: String,
    /// The rows.
    pub data: Dataset,
    /// How the groups were found.
    pub group_rule: GroupRule,
}

/// Reads an ARFF file from `path`.
pub fn from_path(path: impl AsRef<Path>) -> Result<Arff, ArffError> {
    let f = std::fs::File::open(path).map_err(|source| ArffError::Io { line: 0, source })?;
    read(f)
}

#[derive(Debug, Clone, PartialEq)]
enum AttrType {
    Numeric,
    Nominal(Vec<String>),
    Other(String),
}

#[derive(Debug)]
struct Attr {
    name: String,
    ty: AttrType,
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Feature(usize),
    Class,
    Group,
}

/// One value of a data line or a nominal list.
#[derive(Debug, Default)]
struct Field {
    text: String,
    quoted: bool,
}

impl Field {
    fn is_missing(&self) -> bool {
        !self.quoted && self.text == "?"
    }
}

/// Reads a quoted string starting at the opening quote `chars[0]`; returns the
/// decoded text and the rest after the closing quote.
fn read_quoted(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('\'' | '"'))) => q,
        _ => return Err("expected a quote".into()),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, &s[i + c.len_utf8()..]));
        }
        if c == '\\' {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, e)) => out.push(e),
                None => break,
            }
        } else {
            out.push(c);
        }
    }
    Err("unterminated quoted string".into())
}

/// Splits a comma-separated list into fields, stopping at an unquoted `%`.
/// An empty (or comment-only) input gives no fields.
fn split_fields(s: &str, out: &mut Vec<Field>) -> Result<(), String> {
    out.clear();
    let mut rest = s.trim_start();
    if rest.is_empty() || rest.starts_with('%') {
        return Ok(());
    }
    loop {
        rest = rest.trim_start();
        let field = if rest.starts_with(['\'', '"']) {
            let (text, after) = read_quoted(rest)?;
            rest = after.trim_start();
            Field { text, quoted: true }
        } else {
            let end = rest.find([',', '%']).unwrap_or(rest.len());
            let (text, after) = rest.split_at(end);
            rest = after;
            Field {
                text: text.trim_end().to_string(),
                quoted: false,
            }
        };
        out.push(field);
        match rest.chars().next() {
            Some(',') => rest = &rest[1..],
            None | Some('%') => return Ok(()),
            Some(c) => return Err(format!("unexpected {c:?} after a quoted value")),
        }
    }
}

/// Splits `s` at its first whitespace: (first word, rest).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    s.split_at(end)
}

/// Strips a trailing comment (unquoted `%`) and whitespace from a type spec.
fn strip_comment(s: &str) -> &str {
    s.split('%').next().unwrap_or("").trim()
}

fn parse_attribute(rest: &str, line: usize, fields: &mut Vec<Field>) -> Result<Attr, ArffError> {
    let syntax = |message: String| ArffError::Syntax { line, message };
    let rest = rest.trim_start();
    let (name, rest) = if rest.starts_with(['\'', '"']) {
        read_quoted(rest).map_err(syntax)?
    } else {
        let end = rest.find(|c: char| c.is_whitespace() || c == '{').unwrap_or(rest.len());
        let (n, r) = rest.split_at(end);
        (n.to_string(), r)
    };
    if name.is_empty() {
        return Err(syntax("@attribute without a name".into()));
    }
    let shown = excerpt(&name);
    let rest = rest.trim_start();
    let ty = if let Some(inner) = rest.strip_prefix('{') {
        // Find the closing brace outside quotes.
        let mut quote = None;
        let mut escaped = false;
        let mut close = None;
        for (i, c) in inner.char_indices() {
            match quote {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == q {
                        quote = None;
                    }
                }
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '}' => {
                    close = Some(i);
                    break;
                }
                None => {}
            }
        }
        let close = close.ok_or_else(|| syntax(format!("attribute {shown:?}: nominal list without '}}'")))?;
        let after = strip_comment(&inner[close + 1..]);
        if !after.is_empty() {
            return Err(syntax(format!(
                "attribute {shown:?}: unexpected {:?} after the nominal list",
                excerpt(after)
            )));
        }
        split_fields(&inner[..close], fields).map_err(|m| syntax(format!("attribute {shown:?}: {m}")))?;
        let values: Vec<String> = fields.drain(..).map(|f| f.text).collect();
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(syntax(format!(
                    "attribute {shown:?}: nominal value {:?} is listed twice",
                    excerpt(v)
                )));
            }
        }
        AttrType::Nominal(values)
    } else {
        let ty = strip_comment(rest);
        let word = split_word(ty).0.to_ascii_lowercase();
        match word.as_str() {
            "numeric" | "real" | "integer" => AttrType::Numeric,
            "string" | "date" | "relational" => AttrType::Other(ty.to_string()),
            "" => return Err(syntax(format!("attribute {shown:?} has no type"))),
            _ => {
                return Err(syntax(format!(
                    "attribute {shown:?} has the unknown type {:?}",
                    excerpt(ty)
                )));
            }
        }
    };
    Ok(Attr { name, ty, line })
}

/// What the header says about each column, resolved at `@data`.
struct Layout {
    roles: Vec<Role>,
    class_values: Vec<String>,
    pod: Option<usize>,
    container: Option<usize>,
    time: Option<usize>,
    rule: GroupRule,
}

fn resolve(attrs: &[Attr]) -> Result<(Layout, Vec<String>), ArffError> {
    for role in [CLASS, GROUP] {
        let mut same = attrs.iter().filter(|a| a.name.eq_ignore_ascii_case(role));
        if let (Some(a), Some(b)) = (same.next(), same.next()) {
            return Err(ArffError::DuplicateRoleAttribute {
                role,
                first: a.name.clone(),
                first_line: a.line,
                second: b.name.clone(),
                second_line: b.line,
            });
        }
    }
    let named = |n: &str| attrs.iter().position(|a| a.name.eq_ignore_ascii_case(n));
    let group = named(GROUP);
    let class = match named(CLASS) {
        Some(i) if matches!(attrs[i].ty, AttrType::Nominal(_)) => Some(i),
        _ => attrs
            .iter()
            .enumerate()
            .rev()
            .find(|(i, a)| Some(*i) != group && matches!(a.ty, AttrType::Nominal(_)))
            .map(|(i, _)| i),
    };
    let class = class.ok_or(ArffError::NoClass)?;
    let mut roles = Vec::new();
    let mut features = Vec::new();
    for (i, a) in attrs.iter().enumerate() {
        let role = if i == class {
            Role::Class
        } else if Some(i) == group {
            Role::Group
        } else {
            match &a.ty {
                AttrType::Numeric => {
                    features.push(a.name.clone());
                    Role::Feature(features.len() - 1)
                }
                AttrType::Nominal(_) => {
                    return Err(ArffError::UnsupportedAttribute {
                        line: a.line,
                        name: excerpt(&a.name),
                        kind: "nominal".into(),
                    });
                }
                AttrType::Other(kind) => {
                    return Err(ArffError::UnsupportedAttribute {
                        line: a.line,
                        name: excerpt(&a.name),
                        kind: excerpt(kind),
                    });
                }
            }
        };
        roles.push(role);
    }
    let class_values = match &attrs[class].ty {
        AttrType::Nominal(v) => v.clone(),
        _ => Vec::new(),
    };
    // Identity and time columns are only looked at if they are features.
    let feature_col = |n: &str| named(n).filter(|&i| matches!(roles[i], Role::Feature(_)));
    let pod = feature_col(POD_NAME);
    let rule = if group.is_some() {
        GroupRule::Column
    } else if pod.is_some() {
        GroupRule::LegacyIdentity
    } else {
        GroupRule::ClassAndTimeRuns
    };
    let container = feature_col(CONTAINER_NAME);
    let time = feature_col(RUNNING_TIME);
    let layout = Layout {
        roles,
        class_values,
        pod,
        container,
        time,
        rule,
    };
    Ok((layout, features))
}

/// Reads an ARFF file. Never panics; every error names its line.
pub fn read<R: Read>(reader: R) -> Result<Arff, ArffError> {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut relation: Option<String> = None;
    let mut attrs: Vec<Attr> = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut state: Option<(Layout, Dataset)> = None;
    let mut runs = RunInference::default();
    let mut row: Vec<Option<f64>> = Vec::new();
    let (mut no_group, mut no_group_lines) = (0usize, Vec::new());
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| ArffError::Io {
                line: line_no + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.contains(&b'\r') {
            return Err(ArffError::CrLineEndings { line: line_no });
        }
        if body.len() > MAX_LINE_BYTES {
            return Err(ArffError::LineTooLong {
                line: line_no,
                limit: MAX_LINE_BYTES,
            });
        }
        let line = std::str::from_utf8(&buf).map_err(|_| ArffError::InvalidUtf8 { line: line_no })?;
        let line = if line_no == 1 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('%') {
            continue;
        }
        let syntax = |message: String| ArffError::Syntax { line: line_no, message };
        match &mut state {
            None => {
                let (keyword, rest) = split_word(line);
                match keyword.to_ascii_lowercase().as_str() {
                    "@relation" => {
                        if relation.is_some() || !attrs.is_empty() {
                            return Err(syntax("@relation must come once, before the attributes".into()));
                        }
                        let rest = rest.trim();
                        let name = if rest.starts_with(['\'', '"']) {
                            read_quoted(rest).map_err(syntax)?.0
                        } else {
                            split_word(strip_comment(rest)).0.to_string()
                        };
                        relation = Some(name);
                    }
                    "@attribute" => {
                        let attr = parse_attribute(rest, line_no, &mut fields)?;
                        if attrs.iter().any(|a| a.name == attr.name) {
                            return Err(ArffError::DuplicateAttribute {
                                line: line_no,
                                name: excerpt(&attr.name),
                            });
                        }
                        attrs.push(attr);
                    }
                    "@data" => {
                        if !strip_comment(rest).is_empty() {
                            return Err(syntax("unexpected text after @data".into()));
                        }
                        let (layout, features) = resolve(&attrs)?;
                        let data = Dataset::new(features, layout.class_values.clone());
                        state = Some((layout, data));
                    }
                    _ => {
                        return Err(syntax(format!(
                            "expected @relation, @attribute or @data, found {:?}",
                            excerpt(keyword)
                        )));
                    }
                }
            }
            Some((layout, data)) => {
                if line.starts_with('{') {
                    return Err(syntax("sparse ARFF rows are not supported".into()));
                }
                split_fields(line, &mut fields).map_err(syntax)?;
                if fields.len() != layout.roles.len() {
                    return Err(ArffError::WrongValueCount {
                        line: line_no,
                        expected: layout.roles.len(),
                        got: fields.len(),
                    });
                }
                row.clear();
                row.resize(data.n_features(), None);
                let mut class = None;
                let mut group = None;
                for ((field, role), attr) in fields.iter().zip(&layout.roles).zip(&attrs) {
                    match *role {
                        Role::Feature(j) => {
                            if !field.is_missing() {
                                let v = parse_number(&field.text).ok_or_else(|| ArffError::BadNumber {
                                    line: line_no,
                                    attribute: excerpt(&attr.name),
                                    value: excerpt(&field.text),
                                })?;
                                if let Some(slot) = row.get_mut(j) {
                                    *slot = Some(v);
                                }
                            }
                        }
                        Role::Class => {
                            if field.is_missing() {
                                return Err(ArffError::MissingClass { line: line_no });
                            }
                            let c = layout.class_values.iter().position(|v| *v == field.text);
                            class = Some(c.ok_or_else(|| ArffError::UnknownClass {
                                line: line_no,
                                value: excerpt(&field.text),
                            })?);
                        }
                        Role::Group => group = Some(field).filter(|f| !f.is_missing() && !f.text.is_empty()),
                    }
                }
                let Some(class) = class else {
                    return Err(ArffError::MissingClass { line: line_no });
                };
                let text = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|f| f.text.as_str());
                let group_name: String = match layout.rule {
                    GroupRule::Column => match group {
                        Some(g) => g.text.clone(),
                        None => {
                            no_group += 1;
                            if no_group_lines.len() < MAX_LISTED_LINES {
                                no_group_lines.push(line_no);
                            }
                            continue;
                        }
                    },
                    GroupRule::LegacyIdentity => {
                        identity_group(text(layout.pod).unwrap_or("?"), text(layout.container))
                    }
                    GroupRule::ClassAndTimeRuns => {
                        let time = layout.time.and_then(|i| match layout.roles.get(i) {
                            Some(Role::Feature(j)) => row.get(*j).copied().flatten(),
                            _ => None,
                        });
                        let class_name = layout.class_values.get(class).map(String::as_str).unwrap_or("?");
                        runs.next(class, class_name, time).to_string()
                    }
                };
                let g = data.group_index(&group_name);
                data.push_indexed(&row, class, g)
                    .map_err(|source| ArffError::Dataset { line: line_no, source })?;
            }
        }
    }
    if no_group > 0 {
        return Err(ArffError::MissingGroup {
            count: no_group,
            lines: line_list(&no_group_lines, no_group),
        });
    }
    let (layout, mut data) = state.ok_or(ArffError::NoData)?;
    data.infer_replica_sets();
    Ok(Arff {
        relation: relation.unwrap_or_default(),
        data,
        group_rule: layout.rule,
    })
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Quotes `s` for ARFF if it needs it (empty, `?`, or containing space,
/// separators, quotes, braces, `%`, backslash or control characters).
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s != "?"
        && !s.starts_with('@')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ",'\"{}%\\".contains(c));
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Writes `data` as ARFF: its features as numeric attributes, then
/// `class` (nominal, the data set's class list) and `group` (string), so that
/// [`read`] gives the same data set back.
pub fn write<W: Write>(data: &Dataset, relation: &str, writer: W) -> Result<(), ArffError> {
    if let Some(n) = data
        .feature_names()
        .iter()
        .find(|n| n.eq_ignore_ascii_case(CLASS) || n.eq_ignore_ascii_case(GROUP))
    {
        return Err(ArffError::ReservedName(n.clone()));
    }
    let io = |source| ArffError::Io { line: 0, source };
    let mut w = std::io::BufWriter::new(writer);
    writeln!(w, "@relation {}\n", quote(relation)).map_err(io)?;
    for name in data.feature_names() {
        writeln!(w, "@attribute {} numeric", quote(name)).map_err(io)?;
    }
    let classes: Vec<String> = data.classes().iter().map(|c| quote(c)).collect();
    writeln!(w, "@attribute {CLASS} {{{}}}", classes.join(",")).map_err(io)?;
    writeln!(w, "@attribute {GROUP} string\n\n@data").map_err(io)?;
    let groups: Vec<String> = data.group_names().iter().map(|g| quote(g)).collect();
    let mut line = String::new();
    for i in 0..data.n_rows() {
        line.clear();
        for &v in data.raw_row(i) {
            if v.is_nan() {
                line.push_str("?,");
            } else {
                let _ = write!(line, "{v},");
            }
        }
        let class = classes.get(data.label(i)).map(String::as_str).unwrap_or("?");
        let group = groups.get(data.group(i)).map(String::as_str).unwrap_or("?");
        let _ = writeln!(line, "{class},{group}");
        w.write_all(line.as_bytes()).map_err(io)?;
    }
    w.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Arff, ArffError> {
        read(s.as_bytes())
    }

    const SAMPLE: &str = "% a comment\n\
        @RELATION 'my data'\n\
        \n\
        @attribute 'cpu usage' NUMERIC\n\
        @Attribute \"mem bytes\" real % trailing comment\n\
        @attribute runningTimeSeconds integer\n\
        @attribute class {mysql, 'my sql', nginx}\n\
        @DATA\n\
        1.5, 2, 10, mysql\n\
        % comment between rows\n\
        \n\
        ?, 3e2, 20, 'my sql'\n\
        4,?,30,nginx % trailing\n";

    #[test]
    fn parses_quoted_names_comments_missing_values_and_keywords_in_any_case() {
        let a = parse(SAMPLE).unwrap();
        assert_eq!(a.relation, "my data");
        let d = &a.data;
        assert_eq!(d.feature_names(), ["cpu usage", "mem bytes", "runningTimeSeconds"]);
        assert_eq!(d.classes(), ["mysql", "my sql", "nginx"]);
        assert_eq!(d.n_rows(), 3);
        assert_eq!(d.row(0), [Some(1.5), Some(2.0), Some(10.0)]);
        assert_eq!(d.row(1), [None, Some(300.0), Some(20.0)]);
        assert_eq!(d.row(2), [Some(4.0), None, Some(30.0)]);
        assert_eq!(d.labels(), [0, 1, 2]);
        assert_eq!(a.group_rule, GroupRule::ClassAndTimeRuns);
        // Every row has a different class: three runs.
        assert_eq!(d.group_names(), ["run1-mysql", "run2-my sql", "run3-nginx"]);
    }

    #[test]
    fn crlf_and_bom_are_accepted() {
        let crlf = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n"));
        let a = parse(&crlf).unwrap();
        assert_eq!(a.data, parse(SAMPLE).unwrap().data);
    }

    #[test]
    fn errors_name_their_line() {
        let bad_number = SAMPLE.replace("4,?,30", "4,x1,30");
        match parse(&bad_number) {
            Err(ArffError::BadNumber { line, attribute, value }) => {
                assert_eq!((line, attribute.as_str(), value.as_str()), (13, "mem bytes", "x1"));
            }
            other => panic!("{other:?}"),
        }
        let inf = SAMPLE.replace("1.5, 2", "1.5, inf");
        assert!(matches!(parse(&inf), Err(ArffError::BadNumber { line: 9, .. })));
        let count = SAMPLE.replace("?, 3e2, 20, 'my sql'", "?, 3e2, 'my sql'");
        assert!(matches!(
            parse(&count),
            Err(ArffError::WrongValueCount {
                line: 12,
                expected: 4,
                got: 3
            })
        ));
        let class = SAMPLE.replace("30,nginx", "30,apache");
        assert!(matches!(parse(&class), Err(ArffError::UnknownClass { line: 13, .. })));
        let missing = SAMPLE.replace("30,nginx", "30,?");
        assert!(matches!(parse(&missing), Err(ArffError::MissingClass { line: 13 })));
        let no_data: String = SAMPLE.lines().take(7).collect::<Vec<_>>().join("\n");
        assert!(matches!(parse(&no_data), Err(ArffError::NoData)));
        let unterminated = SAMPLE.replace("'my sql'\n", "'my sql\n");
        assert!(matches!(parse(&unterminated), Err(ArffError::Syntax { line: 12, .. })));
        let keyword = SAMPLE.replace("@DATA", "@dta");
        assert!(matches!(parse(&keyword), Err(ArffError::Syntax { line: 8, .. })));
        let ty = SAMPLE.replace("real %", "float %");
        assert!(matches!(parse(&ty), Err(ArffError::Syntax { line: 5, .. })));
        let sparse = SAMPLE.replace("4,?,30,nginx", "{0 4, 3 nginx}");
        assert!(matches!(parse(&sparse), Err(ArffError::Syntax { line: 13, .. })));
        let dup = SAMPLE.replace("runningTimeSeconds", "'cpu usage'");
        assert!(matches!(
            parse(&dup),
            Err(ArffError::DuplicateAttribute { line: 6, .. })
        ));
        let utf8 = [SAMPLE.as_bytes(), b"\xff\xfe,1,2,mysql\n"].concat();
        assert!(matches!(read(&utf8[..]), Err(ArffError::InvalidUtf8 { line: 14 })));
    }

    #[test]
    fn cr_only_line_ends_are_named() {
        let mac = SAMPLE.replace('\n', "\r");
        match parse(&mac) {
            Err(e @ ArffError::CrLineEndings { line: 1 }) => {
                assert!(e.to_string().contains("CR only"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_class_attributes_are_named() {
        let s = SAMPLE.replace("@attribute runningTimeSeconds integer", "@attribute CLASS numeric");
        match parse(&s) {
            Err(ArffError::DuplicateRoleAttribute {
                role: "class",
                first_line: 6,
                second_line: 7,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_groups_are_refused_with_their_lines() {
        let s = "@relation r\n@attribute a numeric\n@attribute class {x,y}\n@attribute group string\n@data\n\
                 1,x,g1\n2,y,?\n3,x,''\n4,y,g2\n";
        match parse(s) {
            Err(e @ ArffError::MissingGroup { count: 2, .. }) => {
                assert!(e.to_string().contains("line(s) 7, 8"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_huge_bad_value_is_cut_in_the_message() {
        let big = "7".repeat(5_000_000) + "x";
        let e = parse(&SAMPLE.replace("4,?,30", &format!("4,{big},30"))).unwrap_err();
        let m = e.to_string();
        assert!(m.len() < 200, "{} bytes", m.len());
        assert!(m.contains("(5000001 bytes)"), "{m}");
    }

    #[test]
    fn a_string_or_nominal_feature_is_an_error_naming_it() {
        let s = SAMPLE.replace("\"mem bytes\" real", "host string");
        match parse(&s) {
            Err(e @ ArffError::UnsupportedAttribute { line: 5, .. }) => assert!(e.to_string().contains("\"host\"")),
            other => panic!("{other:?}"),
        }
        let n = SAMPLE.replace("\"mem bytes\" real", "zone {a,b}");
        assert!(matches!(parse(&n), Err(ArffError::UnsupportedAttribute { line: 5, ref name, .. }) if name == "zone"));
        let none = "@relation r\n@attribute a numeric\n@data\n1\n";
        assert!(matches!(parse(none), Err(ArffError::NoClass)));
    }

    #[test]
    fn the_class_is_the_attribute_named_class_else_the_last_nominal() {
        let named = "@relation r\n@attribute class {x,y}\n@attribute a numeric\n@attribute group {g1,g2}\n\
                     @data\nx,1,g1\ny,2,g2\ny,3,g1\n";
        let a = parse(named).unwrap();
        assert_eq!(a.data.feature_names(), ["a"]);
        assert_eq!(a.data.labels(), [0, 1, 1]);
        assert_eq!(a.group_rule, GroupRule::Column);
        assert_eq!(a.data.groups(), [0, 1, 0]);
        let last = "@relation r\n@attribute a numeric\n@attribute kind{x,y}\n@data\n1,y\n";
        let a = parse(last).unwrap();
        assert_eq!(a.data.classes(), ["x", "y"]);
        assert_eq!(a.data.labels(), [1]);
    }

    #[test]
    fn legacy_identity_columns_make_the_groups() {
        let s = "@relation r\n@attribute podName numeric\n@attribute containerName numeric\n@attribute x numeric\n\
                 @attribute class {a,b}\n@data\n5,7,1,a\n5,8,1,a\n6,7,1,b\n5,7,2,a\n";
        let a = parse(s).unwrap();
        assert_eq!(a.group_rule, GroupRule::LegacyIdentity);
        assert_eq!(a.data.group_names(), ["5/7", "5/8", "6/7"]);
        assert_eq!(a.data.groups(), [0, 1, 2, 0]);
        // The identity columns stay features.
        assert_eq!(a.data.n_features(), 3);
    }

    #[test]
    fn round_trip_arff_dataset_arff_dataset() {
        let a = parse(SAMPLE).unwrap();
        let mut out = Vec::new();
        write(&a.data, &a.relation, &mut out).unwrap();
        let b = read(&out[..]).unwrap();
        assert_eq!(b.relation, a.relation);
        assert_eq!(b.group_rule, GroupRule::Column);
        assert_eq!(b.data, a.data);
        let mut again = Vec::new();
        write(&b.data, &b.relation, &mut again).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn awkward_names_survive_a_round_trip() {
        let mut d = Dataset::new(vec!["a b".into(), "it's".into(), "x,y%z".into()], vec![]);
        d.push(&[Some(1e300), None, Some(-0.125)], "?", "pod 'q'\\/c\n")
            .unwrap();
        d.push(&[Some(5e-324), Some(0.1), None], "{odd}", "@g").unwrap();
        let mut out = Vec::new();
        write(&d, "rel ation", &mut out).unwrap();
        let b = read(&out[..]).unwrap();
        assert_eq!(b.data, d);
        let reserved = Dataset::new(vec!["Class".into()], vec![]);
        assert!(matches!(
            write(&reserved, "r", Vec::new()),
            Err(ArffError::ReservedName(_))
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = read(&bytes[..]);
        }

        #[test]
        fn mutated_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..20)
        ) {
            let mut bytes = SAMPLE.as_bytes().to_vec();
            for (at, byte, op) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 => bytes.insert(i, byte),
                    1 if i < bytes.len() => { bytes.remove(i); }
                    _ if i < bytes.len() => bytes[i] = byte,
                    _ => {}
                }
            }
            if let Ok(a) = read(&bytes[..]) {
                // Whatever parses must write and parse back to the same data.
                // (A numeric feature named `class` cannot be written.)
                let mut out = Vec::new();
                if write(&a.data, &a.relation, &mut out).is_ok() {
                    prop_assert_eq!(read(&out[..]).unwrap().data, a.data);
                }
            }
        }

        #[test]
        fn mutated_real_file_never_panics(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..10)
        ) {
            let Some(dir) = real_data_dir() else { return Ok(()); };
            let text = std::fs::read(dir.join("container-metrics-all.arff")).unwrap();
            // The header and the first rows are enough to reach every state.
            let mut bytes: Vec<u8> = text.into_iter().take(4000).collect();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let _ = read(&bytes[..]);
        }
    }

    use crate::test_data::real_data_dir;

    /// What the test itself counts in an ARFF text: attributes, data rows and
    /// rows per value of the last column.
    fn count_text(text: &str) -> (usize, usize, std::collections::BTreeMap<String, usize>) {
        let mut attributes = 0;
        let mut in_data = false;
        let mut rows = 0;
        let mut classes = std::collections::BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('%') {
                continue;
            }
            let lower = line.to_ascii_lowercase();
            if !in_data {
                attributes += usize::from(lower.starts_with("@attribute"));
                in_data = lower.starts_with("@data");
            } else {
                rows += 1;
                *classes.entry(line.rsplit(',').next().unwrap().to_string()).or_insert(0) += 1;
            }
        }
        (attributes, rows, classes)
    }

    /// Groups per class name, as a sorted map.
    fn groups_by_class(d: &Dataset) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for g in crate::split::groups_with_rows(d) {
            *out.entry(d.classes()[g.class].clone()).or_insert(0) += 1;
        }
        out
    }

    #[test]
    fn the_old_systems_files_load_and_their_groups_agree() {
        let Some(dir) = real_data_dir() else { return };
        let mut identity_partition = None;
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "arff"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 4, "{files:?}");
        let mut partitions = Vec::new();
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let (attributes, rows, classes) = count_text(&text);
            let a = from_path(path).unwrap();
            let d = &a.data;
            assert_eq!(d.n_rows(), rows, "{path:?}");
            assert_eq!(d.n_features() + 1, attributes, "{path:?}");
            let mut got = std::collections::BTreeMap::new();
            for &l in d.labels() {
                *got.entry(d.classes()[l as usize].clone()).or_insert(0) += 1;
            }
            assert_eq!(got, classes, "{path:?}");
            // The group partition: for each row, the index of the first row of its group.
            let mut first = vec![usize::MAX; d.group_names().len()];
            let partition: Vec<usize> = (0..d.n_rows())
                .map(|i| {
                    let f = &mut first[d.group(i)];
                    if *f == usize::MAX {
                        *f = i;
                    }
                    *f
                })
                .collect();
            println!(
                "{}: {} rows, {} features, rule {:?}, {} groups: {:?}",
                path.file_name().unwrap().to_string_lossy(),
                d.n_rows(),
                d.n_features(),
                a.group_rule,
                d.group_names().len(),
                groups_by_class(d)
            );
            if a.group_rule == GroupRule::LegacyIdentity && d.n_features() > 10 {
                identity_partition = Some(partition.clone());
            }
            partitions.push((path.clone(), a.group_rule, partition));
        }
        // The files hold the same rows in the same order, so the inferred
        // groups of the files without identity columns must be the identity
        // groups of the file with them.
        let identity = identity_partition.expect("a file with podName");
        for (path, rule, p) in &partitions {
            assert_eq!(p, &identity, "{path:?} ({rule:?})");
        }
    }
}

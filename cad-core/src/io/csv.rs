//! CSV files: a header row; the column `class` is the label, the optional
//! column `group` the container, every other column a numeric feature. An
//! empty cell or `?` is a missing value; fields may be quoted. Column names
//! `class` and `group` are matched ignoring ASCII case and surrounding spaces
//! (so `class` and ` CLASS ` in one header is an error naming both).
//!
//! Without a `group` column the groups are inferred as for ARFF, see
//! [`GroupRule`]. With one, every row needs a value in it: empty cells are
//! an error listing their lines (a row without its container would
//! otherwise be silently lumped with the others that lack one).
//!
//! Classes are sorted by name (a CSV file declares no class list, and
//! numbering them in order of first appearance would make the model depend
//! on the order of the lines).
//!
//! The reader streams [`csv::ByteRecord`]s and parses numbers straight from
//! the bytes, so a million rows cost no per-field allocation.

use super::{
    CLASS, CONTAINER_NAME, GROUP, GroupRule, MAX_LISTED_LINES, POD_NAME, RUNNING_TIME, RunInference, excerpt, line_list,
};
use crate::dataset::{Dataset, DatasetError};
use std::io::{Read, Write};
use std::path::Path;

/// Why a CSV file could not be read or written. Line numbers count from 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The CSV layer failed (I/O, unequal row lengths, …); its message has the position.
    #[error("reading the CSV failed")]
    Csv(#[from] ::csv::Error),
    /// Opening the file failed.
    #[error("opening the file failed")]
    Io(#[from] std::io::Error),
    /// The header has no `class` column.
    #[error("the header has no `class` column")]
    NoClassColumn,
    /// The header names a column twice.
    #[error("the header has the column {0:?} twice")]
    DuplicateColumn(String),
    /// Two columns of the header both name the class (or the group),
    /// ignoring case and surrounding spaces.
    #[error(
        "the header has two {role} columns, {first:?} (column {first_col}) and {second:?} (column {second_col}); \
         `{role}` is matched ignoring case and surrounding spaces, so keep one"
    )]
    DuplicateRoleColumn {
        /// `class` or `group`.
        role: &'static str,
        /// The first such column's name as written.
        first: String,
        /// Its position, from 1.
        first_col: usize,
        /// The second one's name as written.
        second: String,
        /// Its position, from 1.
        second_col: usize,
    },
    /// Rows with an empty (or `?`) `group` cell.
    #[error(
        "column `group` is empty on {count} row(s) (line(s) {lines}): every row needs the container it came from; \
         fill the column in, or remove it to have the groups inferred"
    )]
    MissingGroup {
        /// How many rows.
        count: usize,
        /// The first of their lines, as a list.
        lines: String,
    },
    /// A header field or a class/group value is not UTF-8.
    #[error("line {line}: not valid UTF-8")]
    InvalidUtf8 {
        /// The line.
        line: u64,
    },
    /// A feature value that is not a finite number.
    #[error("line {line}: column {column:?}: {value:?} is not a finite number")]
    BadNumber {
        /// The line.
        line: u64,
        /// The column.
        column: String,
        /// The text found (lossily decoded).
        value: String,
    },
    /// A row without a class.
    #[error("line {line}: the class is missing")]
    MissingClass {
        /// The line.
        line: u64,
    },
    /// A feature is named like the class or group column the writer adds.
    #[error("cannot write feature {0:?}: `class` and `group` are reserved names")]
    ReservedName(String),
    /// The data set was inconsistent (should not happen).
    #[error("line {line}: the data set refused the row")]
    Dataset {
        /// The line.
        line: u64,
        /// The underlying error.
        #[source]
        source: DatasetError,
    },
}

/// A CSV file read into a [`Dataset`].
#[derive(Clone, Debug, PartialEq)]
pub struct Csv {
    /// The rows.
    pub data: Dataset,
    /// How the groups were found.
    pub group_rule: GroupRule,
}

/// Reads a CSV file from `path`.
pub fn from_path(path: impl AsRef<Path>) -> Result<Csv, CsvError> {
    read(std::fs::File::open(path)?)
}

enum Col {
    Feature(usize),
    Class,
    Group,
}

fn utf8_field(b: &[u8], line: u64) -> Result<&str, CsvError> {
    std::str::from_utf8(b.trim_ascii()).map_err(|_| CsvError::InvalidUtf8 { line })
}

fn is_missing(b: &[u8]) -> bool {
    b.is_empty() || b == b"?"
}

/// Reads CSV from `reader` (buffered internally). Never panics.
pub fn read<R: Read>(reader: R) -> Result<Csv, CsvError> {
    let mut rdr = ::csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
    let headers = rdr.byte_headers()?.clone();
    let mut names = Vec::new();
    for h in headers.iter() {
        let name = std::str::from_utf8(h.trim_ascii()).map_err(|_| CsvError::InvalidUtf8 { line: 1 })?;
        if names.contains(&name) {
            return Err(CsvError::DuplicateColumn(excerpt(name)));
        }
        names.push(name);
    }
    for role in [CLASS, GROUP] {
        let mut cols = names.iter().enumerate().filter(|(_, h)| h.eq_ignore_ascii_case(role));
        if let (Some((a, _)), Some((b, _))) = (cols.next(), cols.next()) {
            let raw = |i: usize| excerpt(&String::from_utf8_lossy(headers.get(i).unwrap_or_default()));
            return Err(CsvError::DuplicateRoleColumn {
                role,
                first: raw(a),
                first_col: a + 1,
                second: raw(b),
                second_col: b + 1,
            });
        }
    }
    let find = |n: &str| names.iter().position(|h| h.eq_ignore_ascii_case(n));
    let class_col = find(CLASS).ok_or(CsvError::NoClassColumn)?;
    let group_col = find(GROUP);
    let mut features = Vec::new();
    let cols: Vec<Col> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if i == class_col {
                Col::Class
            } else if Some(i) == group_col {
                Col::Group
            } else {
                features.push(n.to_string());
                Col::Feature(features.len() - 1)
            }
        })
        .collect();
    let pod = find(POD_NAME).filter(|&i| matches!(cols[i], Col::Feature(_)));
    let container = find(CONTAINER_NAME).filter(|&i| matches!(cols[i], Col::Feature(_)));
    let time = find(RUNNING_TIME).and_then(|i| match cols[i] {
        Col::Feature(j) => Some(j),
        _ => None,
    });
    let rule = if group_col.is_some() {
        GroupRule::Column
    } else if pod.is_some() {
        GroupRule::LegacyIdentity
    } else {
        GroupRule::ClassAndTimeRuns
    };
    let mut data = Dataset::new(features, Vec::new());
    let mut runs = RunInference::default();
    let mut rec = ::csv::ByteRecord::new();
    let mut row: Vec<Option<f64>> = vec![None; data.n_features()];
    let mut identity = String::new();
    let (mut no_group, mut no_group_lines) = (0usize, Vec::new());
    while rdr.read_byte_record(&mut rec)? {
        let line = rec.position().map_or(0, |p| p.line());
        let utf8 = |b| utf8_field(b, line);
        let mut class = None;
        let mut group = None;
        for (field, col) in rec.iter().zip(&cols) {
            match *col {
                Col::Feature(j) => {
                    let b = field.trim_ascii();
                    let v = if is_missing(b) {
                        None
                    } else {
                        let v = std::str::from_utf8(b)
                            .ok()
                            .and_then(|s| s.parse::<f64>().ok())
                            .filter(|v| v.is_finite());
                        Some(v.ok_or_else(|| CsvError::BadNumber {
                            line,
                            column: excerpt(data.feature_names().get(j).map_or("", String::as_str)),
                            value: excerpt(&String::from_utf8_lossy(b)),
                        })?)
                    };
                    if let Some(slot) = row.get_mut(j) {
                        *slot = v;
                    }
                }
                Col::Class => {
                    let s = utf8(field)?;
                    if is_missing(s.as_bytes()) {
                        return Err(CsvError::MissingClass { line });
                    }
                    class = Some(data.class_index(s));
                }
                Col::Group => group = Some(utf8(field)?),
            }
        }
        let Some(class) = class else {
            return Err(CsvError::MissingClass { line });
        };
        let g = match rule {
            GroupRule::Column => match group.filter(|g| !is_missing(g.as_bytes())) {
                Some(g) => data.group_index(g),
                None => {
                    no_group += 1;
                    if no_group_lines.len() < MAX_LISTED_LINES {
                        no_group_lines.push(line);
                    }
                    continue;
                }
            },
            GroupRule::LegacyIdentity => {
                let text = |i: Option<usize>| -> Result<Option<&str>, CsvError> {
                    i.and_then(|i| rec.get(i)).map(utf8).transpose()
                };
                identity.clear();
                identity.push_str(text(pod)?.unwrap_or("?"));
                if let Some(c) = text(container)? {
                    identity.push('/');
                    identity.push_str(c);
                }
                data.group_index(&identity)
            }
            GroupRule::ClassAndTimeRuns => {
                let t = time.and_then(|j| row.get(j).copied().flatten());
                let class_name = data.classes().get(class).map(String::as_str).unwrap_or("");
                let name = runs.next(class, class_name, t);
                data.group_index(name)
            }
        };
        data.push_indexed(&row, class, g)
            .map_err(|source| CsvError::Dataset { line, source })?;
    }
    if no_group > 0 {
        return Err(CsvError::MissingGroup {
            count: no_group,
            lines: line_list(&no_group_lines, no_group),
        });
    }
    data.sort_classes();
    data.infer_replica_sets();
    Ok(Csv { data, group_rule: rule })
}

/// Writes `data` as CSV: a header of the feature names, `class` and `group`,
/// then one line per row; a missing value is an empty cell.
pub fn write<W: Write>(data: &Dataset, writer: W) -> Result<(), CsvError> {
    if let Some(n) = data
        .feature_names()
        .iter()
        .find(|n| n.trim().eq_ignore_ascii_case(CLASS) || n.trim().eq_ignore_ascii_case(GROUP))
    {
        return Err(CsvError::ReservedName(n.clone()));
    }
    let mut w = ::csv::Writer::from_writer(writer);
    for n in data.feature_names() {
        w.write_field(n)?;
    }
    w.write_record([CLASS, GROUP])?;
    let mut num = String::new();
    for i in 0..data.n_rows() {
        for &v in data.raw_row(i) {
            num.clear();
            if !v.is_nan() {
                use std::fmt::Write as _;
                let _ = write!(num, "{v}");
            }
            w.write_field(&num)?;
        }
        let class = data.classes().get(data.label(i)).map(String::as_str).unwrap_or("?");
        let group = data.group_names().get(data.group(i)).map(String::as_str).unwrap_or("?");
        w.write_record([class, group])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_quoted_fields_missing_values_and_groups() {
        let text =
            "cpu,\"mem, bytes\", Class ,group\n1,2,mysql,\"pod a/c\"\n,?,\"ng,inx\",pod-b\n3.5,4,mysql,\"pod a/c\"\n";
        let c = read(text.as_bytes()).unwrap();
        let d = &c.data;
        assert_eq!(c.group_rule, GroupRule::Column);
        assert_eq!(d.feature_names(), ["cpu", "mem, bytes"]);
        assert_eq!(d.classes(), ["mysql", "ng,inx"]);
        assert_eq!(d.group_names(), ["pod a/c", "pod-b"]);
        assert_eq!(d.row(1), [None, None]);
        assert_eq!(d.row(2), [Some(3.5), Some(4.0)]);
        assert_eq!(d.labels(), [0, 1, 0]);
        assert_eq!(d.groups(), [0, 1, 0]);
    }

    /// Groups named as the collector names them keep a Deployment's
    /// replicas together, as collected data does.
    #[test]
    fn a_deployment_pods_groups_are_replicas_of_its_replica_set() {
        let text = "cpu,class,group\n1,nginx,shop/web-7c5ddbdf54-x7k2q/nginx\n2,nginx,shop/web-7c5ddbdf54-b2v4z/nginx\n\
                    3,mysql,shop/db-0/mysql\n";
        let d = read(text.as_bytes()).unwrap().data;
        let sets: Vec<Option<&str>> = (0..3).map(|g| d.replica_set(g)).collect();
        assert_eq!(
            sets,
            [
                Some("shop/web-7c5ddbdf54/nginx"),
                Some("shop/web-7c5ddbdf54/nginx"),
                None
            ]
        );
    }

    #[test]
    fn round_trip_csv_dataset_csv_dataset() {
        let mut d = Dataset::new(vec!["a b".into(), "x,\"y\"".into()], vec![]);
        d.push(&[Some(1e300), None], "mysql", "pod 1/c").unwrap();
        d.push(&[Some(-0.1), Some(5e-324)], "ng\"inx", "pod,2").unwrap();
        d.push(&[None, Some(3.0)], "mysql", "pod 1/c").unwrap();
        let mut out = Vec::new();
        write(&d, &mut out).unwrap();
        let back = read(&out[..]).unwrap();
        assert_eq!(back.data, d);
        let mut again = Vec::new();
        write(&back.data, &mut again).unwrap();
        assert_eq!(again, out);
        let reserved = Dataset::new(vec!["group".into()], vec![]);
        assert!(matches!(write(&reserved, Vec::new()), Err(CsvError::ReservedName(_))));
    }

    #[test]
    fn without_a_group_column_groups_are_inferred() {
        let text = "runningTimeSeconds,class\n10,a\n20,a\n500,a\n510,b\n";
        let c = read(text.as_bytes()).unwrap();
        assert_eq!(c.group_rule, GroupRule::ClassAndTimeRuns);
        assert_eq!(c.data.groups(), [0, 0, 1, 2]);
        let text = "podName,containerName,x,class\n1,2,0,a\n1,3,0,a\n1,2,0,a\n";
        let c = read(text.as_bytes()).unwrap();
        assert_eq!(c.group_rule, GroupRule::LegacyIdentity);
        assert_eq!(c.data.group_names(), ["1/2", "1/3"]);
        assert_eq!(c.data.groups(), [0, 1, 0]);
    }

    #[test]
    fn errors_are_clear() {
        assert!(matches!(read("a,b\n1,2\n".as_bytes()), Err(CsvError::NoClassColumn)));
        assert!(matches!(
            read("a,a,class\n1,2,x\n".as_bytes()),
            Err(CsvError::DuplicateColumn(_))
        ));
        match read("a,class\n1,x\n2,x\nzz,x\n".as_bytes()) {
            Err(CsvError::BadNumber { line, column, value }) => {
                assert_eq!((line, column.as_str(), value.as_str()), (4, "a", "zz"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read("a,class\nNaN,x\n".as_bytes()),
            Err(CsvError::BadNumber { line: 2, .. })
        ));
        assert!(matches!(
            read("a,class\n1,?\n".as_bytes()),
            Err(CsvError::MissingClass { line: 2 })
        ));
        assert!(matches!(read("a,class\n1,x,3\n".as_bytes()), Err(CsvError::Csv(_))));
        assert!(matches!(
            read(&b"a,class\n1,\xff\n"[..]),
            Err(CsvError::InvalidUtf8 { line: 2 })
        ));
    }

    #[test]
    fn two_class_columns_are_named_not_misread_as_numbers() {
        let e = read("a,class, CLASS \n1,x,y\n".as_bytes()).unwrap_err();
        assert!(matches!(
            e,
            CsvError::DuplicateRoleColumn {
                role: "class",
                first_col: 2,
                second_col: 3,
                ..
            }
        ));
        let text = e.to_string();
        assert!(
            text.contains(r#""class" (column 2) and " CLASS " (column 3)"#),
            "{text}"
        );
        assert!(matches!(
            read("Group,class,group\n1,x,y\n".as_bytes()),
            Err(CsvError::DuplicateRoleColumn { role: "group", .. })
        ));
    }

    #[test]
    fn empty_group_cells_are_refused_with_their_lines() {
        let mut text = String::from("a,class,group\n");
        for i in 0..30 {
            let g = if i % 2 == 0 { "" } else { "g1" };
            text.push_str(&format!("{i},x,{g}\n"));
        }
        match read(text.as_bytes()) {
            Err(e @ CsvError::MissingGroup { count: 15, .. }) => {
                let m = e.to_string();
                assert!(m.contains("line(s) 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, …"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read("a,class,group\n1,x,?\n".as_bytes()),
            Err(CsvError::MissingGroup { count: 1, .. })
        ));
    }

    #[test]
    fn a_huge_bad_value_is_cut_in_the_message() {
        let big = "x".repeat(10_000_000);
        let e = read(format!("a,class\n{big},c\n").as_bytes()).unwrap_err();
        let m = e.to_string();
        assert!(m.len() < 200, "{} bytes", m.len());
        assert!(m.contains("(10000000 bytes)"), "{m}");
    }

    #[test]
    fn classes_are_sorted_whatever_the_line_order() {
        let a = read("f,class,group\n1,nginx,g1\n2,mysql,g2\n".as_bytes()).unwrap();
        let b = read("f,class,group\n2,mysql,g2\n1,nginx,g1\n".as_bytes()).unwrap();
        assert_eq!(a.data.classes(), ["mysql", "nginx"]);
        assert_eq!(a.data.labels(), [1, 0]);
        assert_eq!(a.data.canonical(), b.data.canonical());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = read(&bytes[..]);
        }

        #[test]
        fn written_data_reads_back(
            rows in proptest::collection::vec(
                (proptest::collection::vec(proptest::option::of(-1e12f64..1e12), 3), 0usize..3, 0usize..4),
                1..50,
            )
        ) {
            let mut d = Dataset::new(vec!["f0".into(), "f 1".into(), "f,2".into()], vec![]);
            for (vals, c, g) in &rows {
                d.push(vals, ["a", "b c", "d,e"][*c], &format!("g{g}")).unwrap();
            }
            let mut out = Vec::new();
            write(&d, &mut out).unwrap();
            d.sort_classes();
            prop_assert_eq!(read(&out[..]).unwrap().data, d);
        }
    }

    /// A million rows of 15 features, streamed. Ignored by default (slow in
    /// debug builds); run with `cargo test --release -- --ignored million`.
    #[test]
    #[ignore]
    fn reads_a_million_rows() {
        let n = 1_000_000;
        let mut text = Vec::new();
        let header: Vec<String> = (0..15)
            .map(|i| format!("f{i}"))
            .chain(["class".into(), "group".into()])
            .collect();
        text.extend_from_slice(header.join(",").as_bytes());
        text.push(b'\n');
        for i in 0..n {
            use std::io::Write as _;
            for j in 0..15 {
                write!(text, "{}.{},", i * 7 + j, j).unwrap();
            }
            writeln!(text, "c{},g{}", i % 5, i / 60).unwrap();
        }
        let start = std::time::Instant::now();
        let c = read(&text[..]).unwrap();
        println!("read {} rows in {:?}", c.data.n_rows(), start.elapsed());
        assert_eq!(c.data.n_rows(), n);
        assert_eq!(c.data.n_features(), 15);
        assert_eq!(c.data.group_names().len(), n.div_ceil(60));
    }
}

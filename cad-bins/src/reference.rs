//! The flag reference of `docs/configuration.md`, generated from the clap
//! definitions in [`crate::cli`] so that it cannot miss a flag or show a
//! wrong default.
//!
//! A test compares the document with [`markdown`] and fails when it is
//! stale; to regenerate it:
//!
//! ```sh
//! UPDATE_DOCS=1 cargo test -p cad-bins --lib reference
//! ```

use crate::cli::{Cli, CollectorCli, WatcherCli};
use clap::CommandFactory;

/// The line before the generated part of the document.
pub const BEGIN: &str = "<!-- BEGIN generated flag reference: `UPDATE_DOCS=1 cargo test -p cad-bins --lib reference` rewrites it; do not edit by hand -->";
/// The line after it.
pub const END: &str = "<!-- END generated flag reference -->";

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn flag(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_ascii_uppercase());
    if arg.is_positional() {
        return format!("`<{value}>`");
    }
    let long = arg.get_long().unwrap_or_default();
    if arg.get_action().takes_values() {
        format!("`--{long} <{value}>`")
    } else {
        format!("`--{long}`")
    }
}

fn table(cmd: &clap::Command) -> String {
    let mut out = String::from("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n");
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let env = arg
            .get_env()
            .and_then(|e| e.to_str())
            .map(|e| format!("`{e}`"))
            .unwrap_or_default();
        let default = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",");
        let default = if default.is_empty() || !arg.get_action().takes_values() {
            String::new()
        } else {
            format!("`{default}`")
        };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let mut meaning = cell(&help);
        if !meaning.is_empty() && !meaning.ends_with('.') {
            meaning.push('.');
        }
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        if !values.is_empty() && arg.get_action().takes_values() {
            meaning.push_str(&format!(" One of {}.", values.join(", ")));
        }
        out.push_str(&format!("| {} | {env} | {default} | {meaning} |\n", flag(arg)));
    }
    out
}

/// The generated part of `docs/configuration.md`, [`BEGIN`] and [`END`]
/// included.
pub fn markdown() -> String {
    let cad = Cli::command();
    let sub = |name: &str| {
        cad.find_subcommand(name)
            .cloned()
            .unwrap_or_else(|| clap::Command::new("missing"))
    };
    let mut out = format!("{BEGIN}\n\n");
    let sections = [
        (
            "cad-collector",
            "`cad collect` takes the same flags.",
            CollectorCli::command(),
        ),
        (
            "cad-watcher",
            "`cad watch` takes the same flags.",
            WatcherCli::command(),
        ),
        ("cad demo", "", sub("demo")),
        ("cad inspect", "", sub("inspect")),
    ];
    for (name, note, mut cmd) in sections {
        cmd.build();
        out.push_str(&format!("### {name}\n\n"));
        if let Some(about) = cmd.get_about() {
            out.push_str(&format!("{}.", cell(&about.to_string()).trim_end_matches('.')));
            out.push_str(if note.is_empty() { "\n\n" } else { " " });
        }
        if !note.is_empty() {
            out.push_str(&format!("{note}\n\n"));
        }
        out.push_str(&table(&cmd));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// `doc` with the part between [`BEGIN`] and [`END`] replaced by `generated`;
/// `None` if the markers are missing.
pub fn splice(doc: &str, generated: &str) -> Option<String> {
    let start = doc.find(BEGIN)?;
    let end = doc[start..].find(END)? + start + END.len();
    let end = if doc[end..].starts_with('\n') { end + 1 } else { end };
    Some(format!("{}{generated}{}", &doc[..start], &doc[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_reference_is_generated_from_the_flags() {
        let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md"));
        let doc = std::fs::read_to_string(path).unwrap();
        let generated = markdown();
        let fresh = splice(&doc, &generated).expect("the generated-reference markers in docs/configuration.md");
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &fresh).unwrap();
            return;
        }
        assert!(
            fresh == doc,
            "docs/configuration.md is stale: run `UPDATE_DOCS=1 cargo test -p cad-bins --lib reference`"
        );
        // Every flag of every program is in it, with its variable.
        for cmd in [CollectorCli::command(), WatcherCli::command(), Cli::command()] {
            let mut cmds = vec![cmd];
            while let Some(c) = cmds.pop() {
                for arg in c.get_arguments().filter(|a| !a.is_positional()) {
                    if let Some(long) = arg.get_long().filter(|l| !matches!(*l, "help" | "version")) {
                        assert!(doc.contains(&format!("`--{long}")), "--{long} is missing");
                    }
                }
                cmds.extend(c.get_subcommands().cloned());
            }
        }
    }

    #[test]
    fn splicing_replaces_only_the_generated_part() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\noutro\n");
        assert_eq!(
            splice(&doc, &format!("{BEGIN}\nnew\n{END}\n")).unwrap(),
            format!("intro\n{BEGIN}\nnew\n{END}\noutro\n")
        );
        assert!(splice("no markers", "x").is_none());
    }
}

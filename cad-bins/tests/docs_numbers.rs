//! The numbers the documentation states, checked against the code they
//! describe: a default changed in the code without the docs (or the other
//! way round) fails here. The flag tables of docs/configuration.md are
//! generated and checked separately (`cad_bins::reference`).

use cad_bins::cli::{Cli, CollectorCli, WatcherCli};
use clap::CommandFactory;
use std::time::Duration;

fn doc(name: &str) -> String {
    let path = format!("{}/../{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The default of `--long` in `cmd` (or its subcommand `sub`), as written.
fn default(cmd: clap::Command, sub: Option<&str>, long: &str) -> String {
    let cmd = match sub {
        Some(s) => cmd.find_subcommand(s).cloned().expect("subcommand"),
        None => cmd,
    };
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .unwrap_or_else(|| panic!("--{long}"));
    arg.get_default_values()[0].to_string_lossy().into_owned()
}

fn secs(d: &str) -> u64 {
    humantime::parse_duration(d)
        .map(|d: Duration| d.as_secs())
        .expect("duration")
}

const WORDS: [&str; 11] = [
    "no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

#[test]
fn the_numbers_in_the_docs_are_the_codes() {
    let demo_pods = default(Cli::command(), Some("demo"), "sim-pods");
    let demo_impostors: usize = default(Cli::command(), Some("demo"), "impostors").parse().unwrap();
    let demo_watch = secs(&default(Cli::command(), Some("demo"), "watch-for"));
    let demo_honest = default(Cli::command(), Some("demo"), "honest");
    let demo_unknown: usize = default(Cli::command(), Some("demo"), "unknown").parse().unwrap();
    // --timeout has no clap default (unset, it follows the model): its
    // documented default is the engine's.
    let engine = cad_core::engine::WatcherConfig::default();
    let timeout = format!("{}s", engine.timeout.as_secs());
    let watcher = WatcherCli::command();
    let timeout_arg = watcher
        .get_arguments()
        .find(|a| a.get_long() == Some("timeout"))
        .unwrap();
    assert!(timeout_arg.get_default_values().is_empty());
    assert!(
        timeout_arg
            .get_help()
            .unwrap()
            .to_string()
            .contains(&format!("Unset: {timeout}")),
        "the help says the default"
    );
    let poll = default(WatcherCli::command(), None, "poll-interval");
    let window = default(CollectorCli::command(), None, "window");
    let ratio = default(CollectorCli::command(), None, "training-ratio");
    let threshold = default(WatcherCli::command(), None, "confidence-threshold");
    let unclaimed = default(WatcherCli::command(), None, "unclaimed-false-unknown-rate");
    assert_eq!(
        unclaimed.parse::<f64>().unwrap(),
        cad_core::openset::DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE
    );
    assert_eq!(
        engine.unclaimed_false_unknown_rate,
        cad_core::openset::DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE
    );
    let listen = default(WatcherCli::command(), None, "listen");
    let db = default(WatcherCli::command(), None, "influx-db");
    let max_classes = default(CollectorCli::command(), None, "max-classes");
    assert_eq!(secs(&poll), engine.poll_interval.as_secs());
    assert_eq!(threshold.parse::<f64>().unwrap(), engine.confidence_threshold);
    assert_eq!(max_classes, cad_core::engine::DEFAULT_MAX_CLASSES.to_string());
    let behaviour = cad_core::FeatureSet::behaviour();
    let forest = cad_core::forest::ForestParams::default();
    assert_eq!(forest.n_trees, 100);
    let max_leaves = forest.tree.max_leaf_nodes.expect("a default leaf limit");
    let leaves = format!("{},{:03}", max_leaves / 1000, max_leaves % 1000);

    let claims: Vec<(&str, String)> = vec![
        ("README.md", format!("it lists {demo_pods} running pods")),
        ("README.md", format!("spawn for {} simulated minutes", demo_watch / 60)),
        (
            "README.md",
            format!("{} impostors (named like one class", WORDS[demo_impostors]),
        ),
        ("README.md", format!("{demo_honest} honest pods")),
        (
            "README.md",
            format!("{} pods of services outside the class list", WORDS[demo_unknown]),
        ),
        ("README.md", format!("the {} s timeout", secs(&timeout))),
        ("README.md", format!("The {demo_pods} pods it trained on")),
        (
            "docs/method.md",
            format!(
                "samples less than {} s apart",
                cad_core::features::DEFAULT_ALIGN_TOLERANCE_MS / 1000
            ),
        ),
        (
            "docs/method.md",
            format!("over a window of {} snapshots", behaviour.window),
        ),
        (
            "docs/method.md",
            format!("timed out without metrics (default {} s)", secs(&timeout)),
        ),
        (
            "docs/method.md",
            format!("`--confidence-threshold` (default {threshold})"),
        ),
        (
            "docs/method.md",
            format!("(`--unclaimed-false-unknown-rate`, default {unclaimed})"),
        ),
        (
            "docs/operations.md",
            format!("(`--unclaimed-false-unknown-rate`, default {unclaimed}, 0.0001 to 0.5)"),
        ),
        ("README.md", format!("`--listen`, default `{listen}`")),
        ("README.md", format!("`--influx-db` (default `{db}`)")),
        ("README.md", format!("`--max-classes` (default {max_classes};")),
        (
            "README.md",
            format!("at most {} characters", cad_core::io::EXCERPT_CHARS),
        ),
        (
            "README.md",
            format!("after its first {} bytes", cad_core::bundle::MAGIC.len() + 2 + 8),
        ),
        ("README.md", format!("`{timeout}`; no thread per pod")),
        ("README.md", format!("`{poll}`, one batched fetch per tick")),
        ("README.md", format!("`{window}` of history for training")),
        ("README.md", format!("now the *training* share, default {ratio}")),
        (
            "docs/configuration.md",
            format!("`{timeout}`; no thread per pod any more"),
        ),
        ("docs/configuration.md", format!("`{poll}`; one batched query per tick")),
        ("docs/configuration.md", format!("| `{window}` |")),
        (
            "docs/configuration.md",
            format!("now the *training* share, default `{ratio}`"),
        ),
        (
            "docs/operations.md",
            format!("at most {} bytes", cad_k8s::MAX_BLOB_BYTES),
        ),
        (
            "docs/method.md",
            format!(
                "read header first and up to\n{} MiB, its content inflated up to {} GiB",
                cad_core::bundle::MAX_BUNDLE_BYTES >> 20,
                cad_core::bundle::MAX_MODEL_BYTES >> 30
            ),
        ),
        (
            "docs/method.md",
            format!("trees have at most {leaves} leaves by default (`--max-leaves`"),
        ),
        (
            "docs/operations.md",
            format!("at most {leaves} leaves by default (`--max-leaves`)"),
        ),
        ("docs/training.md", format!("(100 trees of at most {leaves} leaves)")),
        (
            "README.md",
            format!(
                "(`CAD_CONFIRM_WINDOWS`,\n1 to {}, default {})",
                cad_core::engine::MAX_CONFIRM_WINDOWS,
                cad_core::engine::DEFAULT_CONFIRM_WINDOWS
            ),
        ),
        (
            "docs/operations.md",
            format!(
                "default {}, 1 to {}) windows of the model's snapshots",
                cad_core::engine::DEFAULT_CONFIRM_WINDOWS,
                cad_core::engine::MAX_CONFIRM_WINDOWS
            ),
        ),
        (
            "docs/configuration.md",
            format!("{max_leaves} for each tree of a forest"),
        ),
        (
            "README.md",
            format!(
                "the collector warns when a class has fewer than {}\ntraining containers",
                cad_core::openset::MIN_CONTAINERS_PER_CLASS
            ),
        ),
        (
            "docs/training.md",
            format!(
                "With fewer than\n   {} containers of a class the training warns",
                cad_core::openset::MIN_CONTAINERS_PER_CLASS
            ),
        ),
        (
            "docs/quickstart.md",
            format!(
                "open-set calibration` (fewer than {}\na class)",
                cad_core::openset::MIN_CONTAINERS_PER_CLASS
            ),
        ),
        (
            "README.md",
            format!(
                "A container claiming a class of\nwhich the model has fewer than {} training containers",
                cad_core::openset::MIN_CONTAINERS_TO_JUDGE
            ),
        ),
        (
            "docs/operations.md",
            format!(
                "containers claiming a class of which the model has\nfewer than {} training containers",
                cad_core::openset::MIN_CONTAINERS_TO_JUDGE
            ),
        ),
        (
            "README.md",
            format!(
                "names apart the classes with fewer than {}\ntraining containers",
                cad_core::openset::MIN_CONTAINERS_FOR_RATE
            ),
        ),
        (
            "docs/operations.md",
            format!(
                "It names apart the classes with fewer than {} training containers",
                cad_core::openset::MIN_CONTAINERS_FOR_RATE
            ),
        ),
        (
            "docs/quickstart.md",
            format!(
                "claims of classes with fewer than {} flag several times",
                cad_core::openset::MIN_CONTAINERS_FOR_RATE
            ),
        ),
        (
            "README.md",
            format!(
                "counts as the start when it comes more than {} minutes after the\nlook-back's start",
                cad_core::engine::PAST_START_MARGIN.as_secs() / 60
            ),
        ),
        (
            "README.md",
            format!(
                "alignment tolerance ({} s) past its",
                behaviour.align_tolerance_ms / 1000
            ),
        ),
        (
            "docs/writing-an-adapter.md",
            format!(
                "sample more than `PAST_START_MARGIN` ({} minutes) after",
                cad_core::engine::PAST_START_MARGIN.as_secs() / 60
            ),
        ),
        (
            "docs/writing-an-adapter.md",
            format!("at most {} spans however long", cad_influx::MAX_SEEN_REQUESTS),
        ),
        (
            "README.md",
            format!(
                "Listing a month's containers is {} requests to InfluxDB",
                30 * 86_400 / cad_influx::SEEN_SPAN.as_secs()
            ),
        ),
        (
            "README.md",
            format!(
                "(`CAD_PAST_PODS`, 0 s to 90 d;\ndefault {}, off)",
                secs(&default(CollectorCli::command(), None, "past-pods"))
            ),
        ),
    ];
    let mut missing = Vec::new();
    for (file, claim) in &claims {
        if !doc(file).contains(claim.as_str()) {
            missing.push(format!("{file}: {claim:?}"));
        }
    }
    assert!(
        missing.is_empty(),
        "the docs do not say what the code does:\n{}",
        missing.join("\n")
    );
}

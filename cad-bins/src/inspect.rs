//! `cad inspect`: show a model file — summary, tree, DOT, base64, ConfigMap.

use crate::cli::{InspectArgs, InspectAs};
use anyhow::{Context, Result};
use cad_core::bundle::ModelBundle;
use std::time::Duration;

/// Prints the requested view of the model on stdout.
pub fn run(args: &InspectArgs) -> Result<()> {
    let bundle =
        ModelBundle::read_from(&args.model).with_context(|| format!("reading the model {}", args.model.display()))?;
    let text = match args.show {
        InspectAs::Summary => {
            let bytes = std::fs::metadata(&args.model)
                .with_context(|| format!("reading the model {}", args.model.display()))?
                .len();
            format!("{}size:           {}\n", summary(&bundle), size_text(bytes))
        }
        InspectAs::Tree => cad_core::render::bundle_text(&bundle),
        InspectAs::Dot => cad_core::render::bundle_dot(&bundle),
        InspectAs::Base64 => format!("{}\n", bundle.to_base64()?),
        InspectAs::Configmap => crate::collect::configmap_manifest(&bundle, &args.configmap, &args.configmap_key)?,
    };
    crate::output::print(&text)
}

/// A model's size in bytes and as base64, and whether it fits a ConfigMap
/// (what `--publish` accepts, [`cad_k8s::MAX_BLOB_BYTES`]).
pub fn size_text(bytes: u64) -> String {
    let fits = if bytes <= cad_k8s::MAX_BLOB_BYTES as u64 {
        "fits a ConfigMap"
    } else {
        "too large for a ConfigMap: mount it as a file (docs/operations.md, \"Model size\")"
    };
    format!(
        "{bytes} bytes ({:.0} KiB; {} bytes as base64); {fits} (at most {} bytes)",
        bytes as f64 / 1024.0,
        base64_len(bytes),
        cad_k8s::MAX_BLOB_BYTES
    )
}

/// Length of the base64 text of `bytes` bytes.
pub fn base64_len(bytes: u64) -> u64 {
    bytes.div_ceil(3) * 4
}

/// A short description: format, algorithm, classes, features, evaluation.
pub fn summary(b: &ModelBundle) -> String {
    let mut s = String::new();
    s.push_str(&format!("format version: {}\n", b.format_version));
    s.push_str(&format!("algorithm:      {}\n", b.model.algorithm_name()));
    s.push_str(&format!("trained on:     {}\n", b.trained_on));
    s.push_str(&format!("created at:     {}\n", b.created_at.to_rfc3339()));
    s.push_str(&format!("classes:        {}\n", b.classes.join(", ")));
    s.push_str(&format!(
        "feature set:    {} ({} columns, window of {} snapshots)\n",
        b.feature_set.name,
        b.feature_set.columns.len(),
        b.feature_set.window
    ));
    for c in &b.feature_set.columns {
        s.push_str(&format!("  - {}\n", c.name));
    }
    let range = |r: Option<cad_core::AgeRange>| {
        r.map_or("none".to_string(), |r| {
            format!(
                "{} to {}",
                humantime::format_duration(Duration::from_secs(r.min.as_secs())),
                humantime::format_duration(Duration::from_secs(r.max.as_secs()))
            )
        })
    };
    match &b.ages {
        Some(a) => {
            s.push_str(&format!(
                "trained ages:   young (up to {} s) {} in {} rows; steady {} in {} rows\n",
                a.young_horizon.as_secs(),
                range(a.young),
                a.young_rows,
                range(a.steady),
                a.steady_rows
            ));
            let window = (b.feature_set.window, b.feature_set.stride);
            let decides = |n| a.decision_age(window.0, window.1, 0, n).map(|d| d.as_secs());
            match (
                a.row_interval,
                decides(1),
                decides(cad_core::engine::DEFAULT_CONFIRM_WINDOWS),
            ) {
                (Some(every), Some(one), Some(default)) => s.push_str(&format!(
                    "decides:        rows every {:.1} s: a new pod's first window at about {one} s, \
                     {} windows at about {default} s (the watcher's default timeout follows)\n",
                    every.as_secs_f64(),
                    cad_core::engine::DEFAULT_CONFIRM_WINDOWS
                )),
                _ => s.push_str("decides:        not recorded (format 7 or older): the timeout is as given\n"),
            }
            if !a.classes_without_young_rows.is_empty() {
                s.push_str(&format!(
                    "  warning: no young rows for {}\n",
                    a.classes_without_young_rows.join(", ")
                ));
            }
        }
        None => s.push_str("trained ages:   unknown (trained from a file, or format 1)\n"),
    }
    match &b.open_set {
        Some(o) => {
            s.push_str(&format!(
                "open set:       calibrated ({} reference rows): verdicts say as claimed, impostor, unknown, …\n",
                o.reference_rows()
            ));
            let per_class: Vec<String> = o
                .trained_containers_per_class()
                .iter()
                .map(|(class, n)| format!("{class} {n}"))
                .collect();
            s.push_str(&format!("  training containers: {}\n", per_class.join(", ")));
            // Bundles trained before the training warned of it say it here;
            // the training's own warning is listed with the evaluation's.
            let unjudged: Vec<&str> = o.unjudged_classes().iter().map(|(c, _)| *c).collect();
            let warned = b
                .training_warnings()
                .iter()
                .any(|w| w.contains(cad_core::engine::train::UNJUDGED_WARNING));
            if !unjudged.is_empty() && !warned {
                s.push_str(&format!(
                    "  warning: the watcher does not judge claims of {} (fewer than {} training containers)\n",
                    unjudged.join(", "),
                    cad_core::openset::MIN_CONTAINERS_TO_JUDGE
                ));
            }
        }
        None => s.push_str("open set:       none: verdicts from the classifier alone (--confidence-threshold)\n"),
    }
    match &b.confidence {
        Some(m) => s.push_str(&format!(
            "confidence:     calibrated ({} steps) from the {}'s probability\n",
            m.steps(),
            m.source().as_str()
        )),
        None => s.push_str("confidence:     the classifier's own (not calibrated)\n"),
    }
    match &b.evaluation {
        Some(e) => {
            s.push_str(&format!("evaluation:     {}\n", e.method));
            s.push_str(&format!(
                "  accuracy {}  macro-F1 {}  ({} test rows, {} containers)\n",
                e.accuracy.map_or("-".into(), |a| format!("{:.2} %", a * 100.0)),
                e.macro_f1.map_or("-".into(), |f| format!("{f:.3}")),
                e.test_rows,
                e.groups
            ));
            for w in &e.warnings {
                s.push_str(&format!("  warning: {w}\n"));
            }
        }
        None => s.push_str("evaluation:     none\n"),
    }
    s
}

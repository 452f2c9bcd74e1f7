//! `cad-collector`: collect data from a cluster (or read an ARFF/CSV file),
//! train, evaluate, and write the model, the report and the plots.

use crate::cli::{CollectArgs, OutputArgs, PrintAs, Source, TrainArgs};
use crate::{output, plot, progress, sources};
use anyhow::{Context, Result, bail};
use cad_core::bundle::ModelBundle;
use cad_core::engine::{
    CollectConfig, CollectStats, Collected, TrainConfig, TrainError, TrainStep, Trained, TrainingReport,
    collect_dataset, train,
};
use cad_core::eval::Method;
use cad_core::openset::confidence::{CalibrationReport, ECE_BINS};
use cad_core::openset::evaluate::{OpenSetConfig, OpenSetReport};
use cad_core::{Clock, Dataset, FeatureSet, Labeler, SystemClock, Timestamp};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The training configuration from the arguments (their ranges are checked
/// when they are parsed, see [`crate::cli`]).
pub fn train_config(args: &TrainArgs, trained_on: String) -> Result<TrainConfig> {
    Ok(TrainConfig {
        trained_on,
        ..TrainConfig::try_from(args)?
    })
}

/// Reads an ARFF or CSV file (by extension) into a data set.
pub fn read_dataset(path: &Path) -> Result<Dataset> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let data = match ext.as_deref() {
        Some("arff") => {
            cad_core::io::arff::from_path(path)
                .with_context(|| format!("reading {}", path.display()))?
                .data
        }
        Some("csv") => {
            cad_core::io::csv::from_path(path)
                .with_context(|| format!("reading {}", path.display()))?
                .data
        }
        _ => bail!("{}: the file must end in .arff or .csv", path.display()),
    };
    tracing::info!(
        rows = data.n_rows(),
        features = data.n_features(),
        classes = data.classes().len(),
        groups = data.group_names().len(),
        "read {}",
        path.display()
    );
    Ok(data)
}

/// Trains with a spinner showing the current step.
pub fn train_with_progress(
    data: &Dataset,
    features: &FeatureSet,
    config: &TrainConfig,
    now: Timestamp,
) -> Result<Trained> {
    let spin = progress::spinner("evaluating");
    let trained = train(data, features, config, now, &mut |step| {
        let msg = match step {
            TrainStep::Evaluating => "evaluating",
            TrainStep::LearningCurve => "learning curve",
            TrainStep::Fitting => "fitting the final model",
            TrainStep::Calibrating => "calibrating (confidence map, open-set model)",
        };
        tracing::info!("{msg}");
        spin.set_message(msg);
    });
    spin.finish_and_clear();
    Ok(trained?)
}

/// What the collector writes: model, report (text and JSON), tree (text and
/// DOT), learning curve and confusion matrix (SVG and PNG).
pub struct Written {
    /// The model file.
    pub model: PathBuf,
    /// The text report.
    pub report: PathBuf,
}

/// The lock file that keeps one run's outputs together in an output directory.
pub const LOCK_FILE: &str = ".cad-out.lock";

/// Takes the output directory's lock (waiting for another run that holds
/// it). Released when the returned file is dropped, or by the kernel when
/// the process dies (`flock`), so a killed run never leaves it taken.
fn lock_dir(out_dir: &Path) -> Result<std::fs::File> {
    let path = out_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::info!(dir = %out_dir.display(), "another run is writing its outputs here; waiting for it");
            file.lock().with_context(|| format!("locking {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(file)
}

/// The text report: evaluation, learning curve, model (of `model_bytes`
/// bytes as stored).
pub fn report_text(trained: &Trained, model_bytes: u64) -> String {
    let mut report = String::new();
    match (&trained.report, &trained.evaluation_skipped) {
        (Some(r), _) => report.push_str(&r.to_string()),
        (None, Some(why)) => report.push_str(&format!("No evaluation: {why}\n")),
        (None, None) => {}
    }
    if !trained.curve.is_empty() {
        report.push_str("\n=== Learning curve (held-out containers) ===\n");
        for p in &trained.curve {
            report.push_str(&format!("{:>10} rows  {:6.2} %\n", p.train_rows, p.accuracy * 100.0));
        }
    }
    if let Some(why) = &trained.curve_skipped {
        report.push_str(&format!("\nNo learning curve: {why}\n"));
    }
    report.push_str("\n=== Model ===\n");
    report.push_str(&format!("Size: {}\n\n", crate::inspect::size_text(model_bytes)));
    report.push_str(&cad_core::render::bundle_text(&trained.bundle));
    report
}

/// Writes everything to `out_dir` (and the model to `model`, if given).
///
/// One run's outputs stay together: the directory's lock ([`LOCK_FILE`]) is
/// held while they are written, so two collectors writing the same
/// directory take turns and every file comes from the same run; each file
/// is written atomically (temporary file, rename), and an output this run
/// does not produce (a plot it could not draw) is removed rather than left
/// from an earlier run.
pub fn write_outputs(
    out_dir: &Path,
    model: Option<&Path>,
    trained: &Trained,
    stats: Option<(&CollectStats, &str)>,
) -> Result<Written> {
    let extra = OpenSetOutputs {
        calibration: trained.calibration.clone(),
        open_set: None,
    };
    write_outputs_with(out_dir, model, trained, stats, &extra)
}

/// What the collector measured beyond the classification: the calibration
/// of its confidence and the open-set evaluation.
#[derive(Default)]
pub struct OpenSetOutputs {
    /// Cross-fitted calibration of the classifier's confidence.
    pub calibration: Option<CalibrationReport>,
    /// The leave-one-class-out evaluation.
    pub open_set: Option<OpenSetReport>,
}

/// [`write_outputs`], with the calibration and open-set figures in
/// `report.json` and their plots (`reliability.svg|png`, `open-set-tradeoff.svg|png`).
pub fn write_outputs_with(
    out_dir: &Path,
    model: Option<&Path>,
    trained: &Trained,
    stats: Option<(&CollectStats, &str)>,
    extra: &OpenSetOutputs,
) -> Result<Written> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let _lock = lock_dir(out_dir)?;
    let model_path = model
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("model.cadm"));
    if let Some(parent) = model_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    trained
        .bundle
        .write_to(&model_path)
        .with_context(|| format!("writing {}", model_path.display()))?;
    let model_bytes = std::fs::metadata(&model_path)
        .with_context(|| format!("reading {}", model_path.display()))?
        .len();
    let report_path = out_dir.join("report.txt");
    write(&report_path, report_text(trained, model_bytes).as_bytes())?;
    write(
        &out_dir.join("tree.txt"),
        cad_core::render::bundle_text(&trained.bundle).as_bytes(),
    )?;
    write(
        &out_dir.join("tree.dot"),
        cad_core::render::bundle_dot(&trained.bundle).as_bytes(),
    )?;
    let r = trained.report.as_ref();
    let summary = TrainingReport::new(
        trained,
        model_path.clone(),
        model_bytes,
        cad_k8s::MAX_BLOB_BYTES as u64,
        stats.map(|(s, backend)| Collected::new(s, backend)),
    );
    write(
        &out_dir.join("report.json"),
        serde_json::to_string_pretty(&with_open_set(&summary, extra)?)?.as_bytes(),
    )?;
    for ext in ["svg", "png"] {
        let path = out_dir.join(format!("learning-curve.{ext}"));
        if trained.curve.is_empty() {
            remove_stale(&path)?;
        } else {
            let pts: Vec<(usize, f64)> = trained.curve.iter().map(|p| (p.train_rows, p.accuracy)).collect();
            plot::learning_curve(&pts, "Learning curve", &path)?;
        }
    }
    for ext in ["svg", "png"] {
        let path = out_dir.join(format!("confusion-matrix.{ext}"));
        let drawn = match r {
            Some(r) => plot::confusion_matrix(
                r.matrix.classes(),
                &cad_core::engine::report::matrix_rows(&r.matrix),
                &format!("Confusion matrix — {}", short_method(&r.method)),
                &path,
            )?,
            None => false,
        };
        if !drawn {
            if r.is_some() && ext == "svg" {
                tracing::warn!(
                    classes = trained.bundle.classes.len(),
                    limit = plot::MAX_PLOT_CLASSES,
                    "too many classes to draw the confusion matrix; report.json has it"
                );
            }
            remove_stale(&path)?;
        }
    }
    for ext in ["svg", "png"] {
        let path = out_dir.join(format!("reliability.{ext}"));
        match &extra.calibration {
            Some(c) if c.predictions > 0 => plot::reliability(&c.raw_bins, &c.bins, &path)?,
            _ => remove_stale(&path)?,
        }
        let path = out_dir.join(format!("open-set-tradeoff.{ext}"));
        match &extra.open_set {
            Some(o) => plot::tradeoff(&o.tradeoff, &path)?,
            None => remove_stale(&path)?,
        }
    }
    Ok(Written {
        model: model_path,
        report: report_path,
    })
}

/// The report's JSON with the calibration and open-set figures added (they
/// are measured by the collector beside the training, not by it).
fn with_open_set(summary: &TrainingReport, extra: &OpenSetOutputs) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(summary)?;
    if let Some(map) = v.as_object_mut() {
        let calibration = extra.calibration.as_ref().map(|c| {
            json!({
                "ece": c.ece, "ece_raw": c.ece_raw, "ece_bootstrap_5_95": c.ece_bootstrap,
                "bins": ECE_BINS, "folds": c.folds, "cross_fit": "by container",
                "source": c.map.source().as_str(),
                "predictions": c.predictions, "containers": c.containers,
                "reliability": c.bins, "reliability_raw": c.raw_bins,
            })
        });
        map.insert("calibration".into(), calibration.unwrap_or(serde_json::Value::Null));
        map.insert(
            "open_set".into(),
            extra
                .open_set
                .as_ref()
                .map(open_set_json)
                .unwrap_or(serde_json::Value::Null),
        );
    }
    Ok(v)
}

/// The open-set figures as `report.json` has them.
fn open_set_json(o: &OpenSetReport) -> serde_json::Value {
    let per_class = |f: fn(&cad_core::openset::evaluate::ClassFigures) -> Option<f64>| {
        o.per_class
            .iter()
            .map(|c| (c.class.clone(), json!(f(c))))
            .collect::<serde_json::Map<_, _>>()
    };
    json!({
        "false_anomaly_rate": o.overall.alpha,
        "unclaimed_false_unknown_rate": o.overall.unclaimed_alpha,
        "unknown_recall": {"overall": o.overall.unknown_recall, "per_class": per_class(|c| c.unknown_recall)},
        "false_unknown_rate": {"overall": o.overall.false_unknown_rate, "per_class": per_class(|c| c.false_unknown_rate)},
        "honest_flag_rate": {"overall": o.overall.honest_flag_rate, "per_class": per_class(|c| c.honest_flag_rate)},
        "impostor_recall": {"overall": o.overall.impostor_recall, "per_class": per_class(|c| c.impostor_recall)},
        "containers": o.containers,
        "judged_rows": o.judged_rows,
        "undecided_rows": o.undecided_rows,
        "tradeoff": o.tradeoff,
        "warnings": o.warnings,
    })
}

/// Removes an output an earlier run wrote and this one does not.
fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the stale {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn short_method(m: &Method) -> String {
    match m {
        Method::LeakyRowSplit { seed, .. } => format!("leaky row split, seed {seed}"),
        Method::GroupedSplit { seed, .. } => format!("grouped split, seed {seed}"),
        Method::GroupedKFold { k, seed } => format!("grouped {k}-fold, seed {seed}"),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    cad_core::files::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// A ConfigMap manifest (YAML) holding the model in `binaryData`.
pub fn configmap_manifest(bundle: &ModelBundle, namespaced_name: &str, key: &str) -> Result<String> {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    let (ns, name) = sources::namespaced(namespaced_name)?;
    let description = format!(
        "{} model over feature set {}, classes {}, trained on {} at {}",
        bundle.model.algorithm_name(),
        bundle.feature_set.name,
        bundle.classes.join(","),
        bundle.trained_on,
        bundle.created_at.to_rfc3339()
    );
    let labels = [
        ("app.kubernetes.io/name", "cad"),
        ("app.kubernetes.io/component", "model"),
    ];
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ns),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            annotations: Some(BTreeMap::from([("cad.io/description".to_owned(), description)])),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([(key.to_owned(), ByteString(bundle.to_bytes()?))])),
        ..ConfigMap::default()
    };
    serde_norway::to_string(&cm).context("writing the ConfigMap manifest")
}

/// Prints the model as asked (base64 or a ConfigMap manifest) on stdout.
pub fn print_model(bundle: &ModelBundle, output: &OutputArgs) -> Result<()> {
    match output.print {
        Some(PrintAs::Base64) => output::println(&bundle.to_base64()?),
        Some(PrintAs::Configmap) => {
            output::print(&configmap_manifest(bundle, &output.configmap, &output.configmap_key)?)
        }
        None => Ok(()),
    }
}

/// Runs the collector.
pub async fn run(args: &CollectArgs) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (data, features, stats, trained_on) = if let Some(path) = &args.from_file {
        let data = read_dataset(path)?;
        let features = FeatureSet::for_columns(data.feature_names());
        let external = features.external_columns();
        if !external.is_empty() {
            tracing::warn!(
                columns = ?external,
                "these columns cannot be computed from live metrics: a watcher using this model sees them as missing"
            );
        }
        (data, features, None, format!("file {}", path.display()))
    } else {
        let features = args.feature_set.unwrap_or_default().feature_set();
        let mut labeler = Labeler::from_list(&args.classes);
        if labeler.classes().is_empty() {
            bail!("--classes (CAD_CLASSES) is empty");
        }
        if let Some(k) = &args.label_key {
            labeler = labeler.with_label_key(k.clone());
        }
        labeler = labeler.with_sidecars(args.sidecars.iter().cloned());
        let (pods, metrics, trained_on): (Arc<dyn cad_core::PodSource>, sources::Metrics, String) = match args.source {
            Source::Sim => {
                let sim = sources::sim(&args.sim, clock.clone());
                // The simulated classes are spelled mysql, postgresql, mongodb, …
                labeler = Labeler::new(sim.class_names()).with_sidecars(args.sidecars.iter().cloned());
                let metrics = sources::Metrics {
                    source: Arc::new(sim.clone()),
                    backend: "simulated cluster".into(),
                };
                (
                    Arc::new(sim),
                    metrics,
                    format!("simulated cluster, seed {}", args.sim.sim_seed),
                )
            }
            Source::Cluster => {
                let (p, m, _) = sources::cluster(
                    &args.kube,
                    args.metrics_backend,
                    &args.influx,
                    &args.prometheus,
                    &args.query,
                    clock.clone(),
                )
                .await?;
                let trained_on = format!("cluster, metrics from {}", m.backend);
                (p, m, trained_on)
            }
        };
        tracing::info!(metrics = %metrics.backend, "collecting");
        let config = CollectConfig {
            window: args.window,
            batch_size: args.query.collector_batch(),
            young_horizon: args.young_horizon,
            past: args.past_pods,
            ..CollectConfig::default()
        };
        let bar = progress::bar(0, "collecting metrics");
        let (data, stats) = collect_dataset(
            pods.as_ref(),
            metrics.source.as_ref(),
            clock.as_ref(),
            &labeler,
            &features,
            &config,
            &mut |d, t| {
                bar.set_length(t as u64);
                bar.set_position(d as u64);
            },
        )
        .await?;
        bar.finish_and_clear();
        tracing::info!(
            pods = stats.pods,
            past_pods = stats.past_pods,
            past_pods_of_running = stats.past_pods_of_running,
            past_pods_same_workload = stats.past_pods_same_workload,
            labelled = stats.labelled_pods,
            containers = stats.containers_with_rows,
            replicated_containers = stats.replicated_containers,
            rows = stats.rows,
            fetches = stats.fetches,
            early_fetches = stats.early_fetches,
            young_rows = stats.young_rows,
            steady_rows = stats.steady_rows,
            sidecars = stats.sidecars,
            retried = stats.retried,
            metrics = %metrics.backend,
            "collected"
        );
        (data, features, Some((stats, metrics.backend)), trained_on)
    };
    let mut config = train_config(&args.train, trained_on)?;
    if args.from_file.is_none() {
        config.young_horizon = args.young_horizon.max(Duration::from_secs(1));
    }
    // In place, so that training does not copy the data set to reorder it.
    let mut data = data;
    data.make_canonical();
    if let Err(e) = cad_core::engine::check_classes(&data, &config) {
        let hint = match e {
            TrainError::TooManyClasses { .. } => " (the limit is --max-classes, CAD_MAX_CLASSES)",
            _ => "",
        };
        return Err(anyhow::Error::new(e).context(format!("refusing to train{hint}")));
    }
    let trained = train_with_progress(&data, &features, &config, clock.now())?;
    let extra = open_set_outputs(
        &data,
        &config,
        &args.train,
        features.window_gap(),
        trained.calibration.clone(),
    )?;
    let written = write_outputs_with(
        &args.output.out_dir,
        args.output.model.as_deref(),
        &trained,
        stats.as_ref().map(|(s, b)| (s, b.as_str())),
        &extra,
    )?;
    // The report goes to stdout, unless stdout carries the model itself.
    let mut report = match &trained.report {
        Some(r) => r.to_string(),
        None => trained.evaluation_skipped.clone().unwrap_or_default(),
    };
    if let Some(c) = &extra.calibration {
        report.push_str(&calibration_text(c));
    }
    if let Some(o) = &extra.open_set {
        report.push('\n');
        report.push_str(&o.to_string());
    }
    if args.output.print.is_some() {
        let _ = writeln!(std::io::stderr(), "{report}");
    } else {
        output::println(&report)?;
    }
    tracing::info!(model = %written.model.display(), report = %written.report.display(), "written");
    print_model(&trained.bundle, &args.output)?;
    if args.output.publish {
        publish(&trained.bundle, args).await?;
    }
    Ok(())
}

/// The calibration of the confidence (`calibration`, as training fitted it)
/// and the open-set evaluation (with `--eval open-set`).
pub fn open_set_outputs(
    data: &Dataset,
    config: &TrainConfig,
    args: &TrainArgs,
    window_gap: usize,
    calibration: Option<CalibrationReport>,
) -> Result<OpenSetOutputs> {
    let Some(Method::GroupedKFold { k, seed }) = config.method else {
        return Ok(OpenSetOutputs {
            calibration,
            open_set: None,
        });
    };
    let spin = progress::spinner("open-set evaluation (leave one class out)");
    let open_set = if args.eval == crate::cli::EvalArg::OpenSet {
        tracing::info!("open-set evaluation (leave one class out)");
        let oc = OpenSetConfig {
            folds: k,
            seed,
            alpha: args.false_anomaly_rate,
            unclaimed_alpha: args.unclaimed_false_unknown_rate,
            params: cad_core::openset::NoveltyParams {
                window_gap,
                ..config.open_set.clone().unwrap_or(cad_core::openset::NoveltyParams {
                    score: cad_core::openset::Score::by_name(&args.open_set_score).context("--open-set-score")?,
                    ..Default::default()
                })
            },
            windows: args.open_set_windows,
            normal_at_once: args.normal_at_once,
            ..OpenSetConfig::default()
        };
        Some(cad_core::openset::evaluate::open_set(&data.canonical(), &oc).context("open-set evaluation")?)
    } else {
        None
    };
    spin.finish_and_clear();
    Ok(OpenSetOutputs { calibration, open_set })
}

/// The calibration figures for the text report.
pub fn calibration_text(c: &CalibrationReport) -> String {
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    format!(
        "\n=== Calibration of the confidence (grouped {}-fold, {} held-out predictions of {} containers) ===\n\n\
         ECE ({ECE_BINS} bins), raw confidence:        {}\n\
         ECE, calibrated (map fitted without the scored container): {}{}\n",
        c.folds,
        c.predictions,
        c.containers,
        f(c.ece_raw),
        f(c.ece),
        c.ece_bootstrap
            .map(|[lo, hi]| format!(
                " (ECE of bootstrap samples of the containers, 5th–95th percentile: {lo:.3}–{hi:.3}; \
                 resampling adds noise that the absolute gaps do not cancel, so it reads above the ECE measured)"
            ))
            .unwrap_or_default()
    )
}

async fn publish(bundle: &ModelBundle, args: &CollectArgs) -> Result<()> {
    let (ns, name) = sources::namespaced(&args.output.configmap)?;
    let client = sources::kube_client(&args.kube).await?;
    let store = cad_k8s::ConfigMapModelStore::new(client, ns.clone(), name.clone(), args.output.configmap_key.clone());
    store
        .publish_bytes(&bundle.to_bytes()?)
        .await
        .with_context(|| format!("publishing the model to ConfigMap {ns}/{name}"))?;
    tracing::info!(configmap = %format!("{ns}/{name}"), key = %args.output.configmap_key, "model published");
    Ok(())
}

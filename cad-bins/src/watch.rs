//! `cad-watcher`: load a model, follow new pods, classify each once, and send
//! every outcome to the configured sinks; serve `/metrics`, `/healthz`,
//! `/readyz`.

use crate::cli::{Source, WatchArgs};
use crate::serve::Endpoints;
use crate::sources;
use anyhow::{Context, Result};
use cad_core::bundle::ModelBundle;
use cad_core::engine::{ActiveModel, ModelHandle, SinkOptions, Watcher, WatcherConfig, log_training_warnings};
use cad_core::{Clock, JsonLinesSink, LogSink, PodSource, PrometheusSink, SystemClock, VerdictSink};
use prometheus_client::registry::Registry;
use std::io::Write;
use std::sync::Arc;

/// Outcomes queued at most for a sink across a network (Kubernetes Events,
/// InfluxDB); more are dropped for that sink, counted and logged. An
/// outcome is a few hundred bytes: 10,000 of them a few megabytes.
pub const NETWORK_SINK_BUFFER: usize = 10_000;

/// How often the model file is read again for a new model.
const MODEL_FILE_POLL: std::time::Duration = std::time::Duration::from_secs(30);

/// The watcher configuration from the arguments.
pub fn watcher_config(args: &WatchArgs) -> WatcherConfig {
    WatcherConfig {
        poll_interval: args.poll_interval,
        // Unset, the default, raised for a model that decides later.
        timeout: args.timeout.unwrap_or(WatcherConfig::default().timeout),
        extend_timeout: args.timeout.is_none(),
        min_snapshots: args.min_snapshots,
        confidence_threshold: args.confidence_threshold,
        false_anomaly_rate: args.false_anomaly_rate,
        unclaimed_false_unknown_rate: args.unclaimed_false_unknown_rate,
        confirm_windows: args.confirm_windows,
        normal_at_once: args.normal_at_once,
        late_data: args.poll_interval,
        label_key: args.label_key.clone(),
        sidecars: args.sidecars.clone(),
        existing_pods: args.existing_pods.into(),
        ..WatcherConfig::default()
    }
}

fn describe(model: &ActiveModel, config: &WatcherConfig) {
    tracing::info!(
        model = %model.description,
        false_anomaly_rate = config.false_anomaly_rate,
        unclaimed_false_unknown_rate = config.unclaimed_false_unknown_rate,
        confirm_windows = config.confirm_windows,
        confidence_threshold = config.confidence_threshold,
        "model loaded"
    );
    model.log_in_use(Some(config));
}

/// The cluster's client if the pod source already made one, else a new one.
async fn reuse_or_connect(client: &Option<kube::Client>, args: &WatchArgs) -> Result<kube::Client> {
    match client {
        Some(c) => Ok(c.clone()),
        None => sources::kube_client(&args.kube).await,
    }
}

/// Runs the watcher until interrupted (or `--run-for` has passed).
pub async fn run(args: &WatchArgs) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut kube_client = None;
    let (pods, metrics): (Arc<dyn PodSource>, sources::Metrics) = match args.source {
        Source::Sim => {
            let sim = sources::sim(&args.sim, clock.clone());
            let metrics = sources::Metrics {
                source: Arc::new(sim.clone()),
                backend: "simulated cluster".into(),
            };
            (Arc::new(sim), metrics)
        }
        Source::Cluster => {
            let (p, m, c) = sources::cluster(
                &args.kube,
                args.metrics_backend,
                &args.influx,
                &args.prometheus,
                &args.query,
                clock.clone(),
            )
            .await?;
            kube_client = Some(c);
            (p, m)
        }
    };
    tracing::info!(metrics = %metrics.backend, "reading metrics");

    // The model: from the ConfigMap (followed for updates) or from a file.
    let handle = if let Some(cm) = &args.model_configmap {
        let (ns, name) = sources::namespaced(cm)?;
        let client = reuse_or_connect(&kube_client, args).await?;
        let store = cad_k8s::ConfigMapModelStore::new(client, ns.clone(), name.clone(), args.configmap_key.clone());
        let bundle = store
            .load_with(ModelBundle::from_bytes)
            .await
            .with_context(|| format!("loading the model from ConfigMap {ns}/{name}"))?;
        log_training_warnings(&format!("ConfigMap {ns}/{name}"), &bundle);
        let handle = ModelHandle::new(ActiveModel::from_bundle(bundle));
        describe(&handle.current(), &watcher_config(args));
        let (follow, config) = (handle.clone(), watcher_config(args));
        let origin = format!("ConfigMap {ns}/{name}");
        tokio::spawn(async move {
            follow
                .follow_for(&origin, store.watch_with(ModelBundle::from_bytes), &config)
                .await
        });
        handle
    } else {
        let bytes = cad_core::bundle::read_file_bytes(&args.model).with_context(|| {
            format!(
                "loading the model from {} (train one with cad-collector)",
                args.model.display()
            )
        })?;
        let bundle = ModelBundle::from_bytes(&bytes)
            .with_context(|| format!("loading the model from {}", args.model.display()))?;
        log_training_warnings(&args.model.display().to_string(), &bundle);
        let handle = ModelHandle::new(ActiveModel::from_bundle(bundle));
        describe(&handle.current(), &watcher_config(args));
        // A mounted ConfigMap is updated in place by the kubelet.
        let (follow, path, config) = (handle.clone(), args.model.clone(), watcher_config(args));
        let updates = ModelHandle::poll_file(path.clone(), bytes, MODEL_FILE_POLL, clock.clone());
        tokio::spawn(async move { follow.follow_for(&path.display().to_string(), updates, &config).await });
        handle
    };

    // Sinks. Those in the process or on local disk (the log, /metrics, JSON
    // lines) wait when their buffer is full; those across a network (Events,
    // InfluxDB) drop what does not fit, so a slow API delays nothing else.
    let mut registry = Registry::default();
    let prometheus = PrometheusSink::new(&mut registry);
    let mut sinks: Vec<(Arc<dyn VerdictSink>, SinkOptions)> = vec![
        (Arc::new(LogSink), SinkOptions::default()),
        (Arc::new(prometheus), SinkOptions::default()),
    ];
    if let Some(path) = &args.verdicts_json {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            )
        };
        sinks.push((Arc::new(JsonLinesSink::new(out)), SinkOptions::default()));
    }
    if args.events || args.annotate {
        let client = reuse_or_connect(&kube_client, args).await?;
        let instance = std::env::var("HOSTNAME").unwrap_or_else(|_| "cad-watcher".into());
        sinks.push((
            Arc::new(cad_k8s::KubeEventRecorder::new(client, instance).with_annotations(args.annotate)),
            SinkOptions::dropping(NETWORK_SINK_BUFFER),
        ));
    }
    if args.influx_verdicts {
        let writer = sources::influx_checked(&args.influx, &args.query, clock.clone())
            .await?
            .verdict_writer();
        sinks.push((Arc::new(writer), SinkOptions::dropping(NETWORK_SINK_BUFFER)));
    }

    let endpoints = Endpoints::new(registry);
    let (addr, _server) = endpoints
        .serve(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");

    let mut watcher = Watcher::new(pods, metrics.source, clock.clone(), handle, watcher_config(args));
    for (sink, options) in sinks {
        watcher = watcher.with_sink_options(sink, options);
    }
    endpoints.set_ready(true);
    let stop = crate::shutdown(args.run_for);
    let stats = watcher.run_until(stop).await;
    endpoints.set_ready(false);
    // Fields one by one, durations in seconds (not the struct's Debug text).
    tracing::info!(
        classified = stats.classified,
        anomalies = stats.anomalies,
        suspects = stats.suspects,
        cleared = stats.cleared,
        unconfirmed = stats.unconfirmed,
        timed_out = stats.timed_out,
        deleted = stats.deleted,
        sidecars = stats.sidecars,
        too_old = stats.too_old,
        too_few_containers = stats.too_few_containers,
        still_pending = stats.still_pending,
        already_classified = stats.already_classified,
        skipped_at_start = stats.skipped_at_start,
        ticks = stats.ticks,
        fetches = stats.fetches,
        fetch_errors = stats.fetch_errors,
        sink_errors = stats.sink_errors,
        sink_dropped = stats.sink_dropped,
        sink_waits = stats.sink_waits,
        slowest_tick_seconds = stats.slowest_tick.as_secs_f64(),
        metrics = %metrics.backend,
        "watcher stopped"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cad_core::model::Algorithm;
    use cad_core::{Dataset, FeatureSet, Timestamp};

    /// A tree over the behaviour columns that predicts `class` for every row.
    fn bundle(classes: &[&str], trained_on: &str) -> ModelBundle {
        let features = FeatureSet::behaviour();
        let names = features.column_names();
        let mut d = Dataset::new(names.clone(), classes.iter().map(|c| c.to_string()).collect());
        for (i, c) in classes.iter().enumerate() {
            let row = vec![Some(i as f64); names.len()];
            d.push(&row, c, &format!("g{i}")).unwrap();
        }
        let model = Algorithm::by_name("tree").unwrap().fit(&d).unwrap();
        ModelBundle::new(
            d.classes().to_vec(),
            features,
            model,
            Timestamp::from_secs(1_700_000_000),
            trained_on,
        )
    }

    /// The supported path for models too large for a ConfigMap: a file on a
    /// volume, replaced atomically by the collector and followed here.
    #[tokio::test(start_paused = true)]
    async fn a_followed_model_file_is_replaced_by_a_valid_new_one_only() {
        let dir = std::env::temp_dir().join(format!("cad-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.cadm");
        let first = bundle(&["nginx", "mysql"], "first");
        first.write_to(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let handle = ModelHandle::new(ActiveModel::from_bundle(first));
        let updates = ModelHandle::poll_file(path.clone(), bytes, MODEL_FILE_POLL, Arc::new(SystemClock));
        let follow = handle.clone();
        let task = tokio::spawn(async move { follow.follow("test", updates).await });
        let wait = || async {
            for _ in 0..40 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        };

        bundle(&["nginx", "mysql", "redis"], "second").write_to(&path).unwrap();
        wait().await;
        assert_eq!(handle.current().classes, ["nginx", "mysql", "redis"]);

        std::fs::write(&path, b"CADMODEL but not a model").unwrap();
        wait().await;
        assert_eq!(
            handle.current().classes,
            ["nginx", "mysql", "redis"],
            "a bad file is ignored"
        );

        bundle(&["postgres", "mongo"], "third").write_to(&path).unwrap();
        wait().await;
        assert_eq!(handle.current().classes, ["postgres", "mongo"]);
        task.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A bundle's model whose young training rows start at `youngest` s of
    /// age and come `interval` s apart.
    fn model_scraped_every(interval: u64, youngest: u64) -> ActiveModel {
        use cad_core::{AgeCoverage, AgeRange};
        use std::time::Duration;
        let mut model = ActiveModel::from_bundle(bundle(&["nginx", "mysql"], "ages"));
        model.ages = Some(AgeCoverage {
            young_horizon: Duration::from_secs(300),
            young: Some(AgeRange {
                min: Duration::from_secs(youngest),
                max: Duration::from_secs(300),
            }),
            young_rows: 10,
            row_interval: Some(Duration::from_secs(interval)),
            ..AgeCoverage::default()
        });
        model
    }

    /// What [`describe`] logs for `model` with the watcher's `flags`, as the
    /// watcher's log shows it (without colours).
    fn logged(model: &ActiveModel, flags: &[&str]) -> String {
        use clap::Parser;
        #[derive(Clone, Default)]
        struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let argv = std::iter::once("cad-watcher").chain(flags.iter().copied());
        let cli = crate::cli::WatcherCli::try_parse_from(argv).unwrap();
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || describe(model, &watcher_config(&cli.args)));
        let bytes = buffer.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8(bytes).unwrap()
    }

    /// The line of `out` that contains `needle`; fails naming `what`.
    fn line_with<'a>(out: &'a str, needle: &str, what: &str) -> &'a str {
        out.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {what} in:\n{out}"))
    }

    /// The timeout's log lines when a model is loaded: INFO when an unset
    /// `--timeout` follows a model that decides late, WARN naming the value
    /// needed when a `--timeout` given is too short, nothing when the
    /// default timeout leaves time enough.
    #[test]
    fn the_timeout_is_logged_when_it_follows_the_model_or_is_too_short_for_it() {
        // Rows 30 s apart from 125 s of age: 2 windows of 4 snapshots end
        // 5 intervals after the youngest row, at 275 s; two polls more.
        let slow = model_scraped_every(30, 125);
        let pinned = ["--confirm-windows", "2", "--poll-interval", "5s"];
        let follows = logged(&slow, &pinned);
        let line = line_with(&follows, "the timeout is raised", "INFO line on the timeout");
        assert!(line.contains(" INFO "), "{line}");
        assert!(
            line.contains("raised to 285 s for this model: it decides a new pod about 275 s after its start"),
            "{line}"
        );
        assert!(line.contains("timeout_s=285"), "{line}");
        assert!(!follows.contains("shorter than the model needs"), "{follows}");

        let hard = logged(&slow, &[&pinned[..], &["--timeout", "120s"]].concat());
        let line = line_with(
            &hard,
            "the timeout is shorter than the model needs",
            "WARN line on the timeout",
        );
        assert!(line.contains(" WARN "), "{line}");
        assert!(line.contains("set --timeout (CAD_TIMEOUT) to at least 286 s"), "{line}");
        assert!(
            line.contains("timeout_s=120") && line.contains("needed_s=286"),
            "{line}"
        );
        assert!(!hard.contains("the timeout is raised"), "{hard}");

        // Long enough: nothing said.
        let long = logged(&slow, &[&pinned[..], &["--timeout", "300s"]].concat());
        assert!(!long.contains("the timeout is"), "{long}");
        // Rows 10 s apart: decided at 85 s, within the default 120 s.
        let fast = model_scraped_every(10, 35);
        for flags in [&pinned[..], &[&pinned[..], &["--timeout", "120s"]].concat()] {
            let out = logged(&fast, flags);
            assert!(out.contains("model loaded"), "{out}");
            assert!(!out.contains("the timeout is"), "{flags:?}: {out}");
        }
    }

    /// A model with an open-set calibration fitted on 30 containers per
    /// class of `rows` rows each.
    fn calibrated_model(rows: usize) -> ActiveModel {
        let mut model = ActiveModel::from_bundle(bundle(&["nginx", "mysql"], "calibrated"));
        let names = model.features.column_names();
        let mut d = Dataset::new(names.clone(), model.classes.clone());
        for (c, class) in ["nginx", "mysql"].into_iter().enumerate() {
            for i in 0..30 {
                for r in 0..rows {
                    let level = (1 + 2 * c) as f64 * (1.0 + 0.01 * ((i * 7 + r * 3) % 11) as f64);
                    let row: Vec<Option<f64>> = (0..names.len()).map(|j| Some(level * (1.0 + j as f64))).collect();
                    d.push(&row, class, &format!("{class}-{i}")).unwrap();
                }
            }
        }
        let params = cad_core::openset::NoveltyParams {
            window_gap: model.features.window_gap(),
            ..Default::default()
        };
        model.open_set = Some(params.fit(&d).unwrap());
        model
    }

    /// A WARN when the model cannot judge `--confirm-windows` windows
    /// together, naming the most it can.
    #[test]
    fn confirm_windows_beyond_the_models_calibration_are_warned_about() {
        // Windows 4 rows apart: 6 rows per container calibrate 2 windows
        // (rows 0 and 4), not 3 (rows 0, 4 and 8).
        let short = calibrated_model(6);
        assert!(short.judges_windows(2) && !short.judges_windows(3));
        let out = logged(&short, &["--confirm-windows", "3"]);
        let line = line_with(&out, "no calibration of 3 windows", "warning");
        assert!(line.contains(" WARN "), "{line}");
        assert!(
            line.contains("set --confirm-windows (CAD_CONFIRM_WINDOWS) to 2"),
            "{line}"
        );
        assert!(line.contains("calibrated_windows=2"), "{line}");
        for (model, flags) in [
            (&short, ["--confirm-windows", "2"]),
            (&short, ["--confirm-windows", "1"]),
            (&calibrated_model(12), ["--confirm-windows", "3"]),
        ] {
            let out = logged(model, &flags);
            assert!(!out.contains("windows judged together"), "{flags:?}: {out}");
        }
        // Without open-set calibration the kind comes from the classifier,
        // which says so itself.
        let plain = logged(
            &ActiveModel::from_bundle(bundle(&["nginx", "mysql"], "plain")),
            &["--confirm-windows", "3"],
        );
        assert!(!plain.contains("windows judged together"), "{plain}");
    }
}

//! The model bundle: what is stored and shipped — format version, class list,
//! feature set, the fitted model, how it was evaluated.
//!
//! # Bytes
//!
//! ```text
//! b"CADMODEL" | format version u16 LE | payload length u64 LE | payload | CRC-32 of payload u32 LE
//! payload (format 2) = uncompressed length u64 LE | DEFLATE of the postcard bytes
//! ```
//!
//! Format 3 added the training ages; format 4 the calibration: the
//! open-set model ([`OpenSetModel`]: each class's bounded reference and its
//! conformal calibration) and the confidence map ([`ConfidenceMap`]), both
//! optional; format 5 the open-set model's multi-window calibration
//! ([`OpenSetModel::windows`], stored beside the open-set model); format 6
//! where the confidence map's raw confidence comes from
//! ([`ConfidenceMap::source`], stored beside the map); format 7 the
//! open-set model's novelty test of "like no known class"
//! ([`OpenSetModel::novelty_null`], the default since session 8; stored
//! beside the open-set model, one byte without it); format 8 the
//! interval between a training container's rows
//! ([`AgeCoverage::row_interval`], stored after everything else), from
//! which the watcher knows when the model can decide. Formats 2
//! and 3 still read, without the calibration, format 4 without the
//! multi-window calibration (the watcher then confirms anomalies window by
//! window), formats 4 and 5 with maps of the classifier's confidence, and
//! formats 4 to 6 with the combined test of "like no known class" they
//! were made with.
//!
//! The content is [postcard](https://docs.rs/postcard) (a stable, documented
//! format; bincode is unmaintained); trees and forests are stored in the
//! compact form of `tree/shape.rs`, then DEFLATE-compressed (which
//! takes another fifth or so off a forest). Decoding checks, in order: length,
//! magic, version, payload length against the bytes actually present (before
//! anything is allocated from it), checksum, the uncompressed length (at most
//! [`MAX_MODEL_BYTES`]; decompression stops there, so a small blob cannot
//! inflate without bound), postcard, and that the model agrees with the class
//! list and feature set. Every failure is a [`BundleError`], never a panic.
//! Format 1 (uncompressed, 16-byte tree nodes) is no longer read: it gives
//! [`BundleError::OlderVersion`], and the model must be trained again.
//! [`ModelBundle::to_base64`] wraps the same bytes for a ConfigMap.

use crate::age::AgeCoverage;
use crate::classifier::Classifier;
use crate::features::FeatureSet;
use crate::model::Model;
use crate::openset::confidence::{ConfidenceMap, ConfidenceSource};
use crate::openset::conformal::WindowCalibration;
use crate::openset::{NoveltyNull, OpenSetModel};
use crate::time::Timestamp;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// The first eight bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"CADMODEL";
/// The format version this build writes and the newest it reads. Version 3
/// added the training ages ([`ModelBundle::ages`]), version 4 the
/// calibration ([`ModelBundle::open_set`], [`ModelBundle::confidence`]);
/// versions 2 and 3 still read (without them); version 5 the multi-window
/// calibration (version 4 still reads, without it); version 6 the confidence
/// map's source (versions 4 and 5 read as [`ConfidenceSource::Classifier`]);
/// version 7 the novelty test of "like no known class" (versions 4 to 6
/// read with the combined test they were made with); version 8 the training
/// rows' interval ([`AgeCoverage::row_interval`]; older versions read
/// without it).
pub const FORMAT_VERSION: u16 = 8;
/// The oldest format version this build reads.
pub const OLDEST_VERSION: u16 = 2;
/// The most bytes a bundle's content may have uncompressed (1 GiB).
pub const MAX_MODEL_BYTES: u64 = 1 << 30;
const HEADER: usize = 8 + 2 + 8;
const TRAILER: usize = 4;
/// The largest bundle read from a file (header, payload and checksum): the
/// default 100-tree forest is well under 1 MB, 100 unlimited trees on
/// 100,000 noisy rows about 5 MB, a ConfigMap holds under 1 MiB. Anything
/// larger is refused from its header, before it is read; its content is
/// then inflated up to [`MAX_MODEL_BYTES`], no further.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a bundle could not be encoded, decoded, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Fewer bytes than an empty bundle has.
    #[error("{0} bytes is too short for a model bundle")]
    TooShort(usize),
    /// The bytes do not start with the magic: not a model bundle.
    #[error("not a cad model bundle (bad magic)")]
    BadMagic,
    /// Written by a newer cad.
    #[error("model bundle format {found} is newer than the supported {supported}; upgrade cad")]
    NewerVersion {
        /// Version in the bundle.
        found: u16,
        /// Newest version this build reads.
        supported: u16,
    },
    /// Written by an older cad in a format this one no longer reads.
    #[error("model bundle format {found} is older than the oldest supported {oldest}; train the model again")]
    OlderVersion {
        /// Version in the bundle.
        found: u16,
        /// Oldest version this build reads.
        oldest: u16,
    },
    /// Fewer bytes than the header announces.
    #[error("model bundle is truncated: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes the header announces (saturating).
        expected: u64,
        /// Bytes present.
        got: u64,
    },
    /// The payload does not match its checksum.
    #[error("model bundle checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    ChecksumMismatch {
        /// CRC-32 stored in the bundle.
        stored: u32,
        /// CRC-32 of the payload present.
        computed: u32,
    },
    /// The payload does not decode.
    #[error("model bundle payload is corrupt: {what}")]
    Corrupt {
        /// What is wrong (`3 bytes after the checksum`, `the content does not decode`).
        what: String,
        /// The decoder's error, when there is one.
        #[source]
        source: Option<crate::BoxError>,
    },
    /// The parts disagree (model vs class list or feature set).
    #[error("model bundle is inconsistent: {0}")]
    Inconsistent(String),
    /// The open-set model does not fit the class list or feature set, or is broken.
    #[error("the model bundle's open-set model is inconsistent")]
    OpenSet(#[source] crate::openset::OpenSetError),
    /// The bundle could not be serialised or compressed.
    #[error("cannot encode the model bundle")]
    Encode(#[source] crate::BoxError),
    /// The header announces more bytes than [`MAX_BUNDLE_BYTES`].
    #[error("model bundle of {size} bytes is larger than the {limit} bytes cad reads")]
    TooLarge {
        /// Bytes the header announces (saturating).
        size: u64,
        /// [`MAX_BUNDLE_BYTES`].
        limit: u64,
    },
    /// The text is not base64.
    #[error("model bundle is not valid base64")]
    Base64(#[source] base64::DecodeError),
    /// Reading or writing the file failed.
    #[error("model bundle file {path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// How a model was evaluated, as stored in its bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvaluationSummary {
    /// The method, e.g. `"grouped 70/30 split, seed 0"` or `"grouped 10-fold"`.
    pub method: String,
    /// Share of test rows predicted right, when computed.
    pub accuracy: Option<f64>,
    /// Unweighted mean of the per-class F1 scores, when computed.
    pub macro_f1: Option<f64>,
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows tested on.
    pub test_rows: usize,
    /// Groups (containers) in the data.
    pub groups: usize,
    /// Warnings raised during evaluation (e.g. a class with one group).
    pub warnings: Vec<String>,
    /// The full text report.
    pub report: String,
}

/// A fitted model with everything needed to use it elsewhere.
///
/// Written to a file and read back with [`write_to`](Self::write_to) and
/// [`read_from`](Self::read_from) (or [`to_bytes`](Self::to_bytes) /
/// [`from_bytes`](Self::from_bytes), [`to_base64`](Self::to_base64) for a
/// ConfigMap); the watcher takes it in a
/// [`ModelHandle`](crate::engine::ModelHandle).
///
/// ```
/// # use cad_core::engine::{TrainConfig, train};
/// # use cad_core::{Dataset, FeatureSet, Timestamp};
/// use cad_core::bundle::ModelBundle;
/// # let features = FeatureSet::behaviour();
/// # let mut data = Dataset::new(features.column_names(), vec!["nginx".into(), "mysql".into()]);
/// # for c in 0..4 {
/// #     let class = ["nginx", "mysql"][c % 2];
/// #     let row = vec![Some(if c % 2 == 0 { 1.0 } else { 9.0 }); features.columns.len()];
/// #     data.push(&row, class, &format!("ns/p{c}/app")).unwrap();
/// # }
/// # let config = TrainConfig { method: None, curve_points: 0, ..TrainConfig::default() };
/// # let bundle = train(&data, &features, &config, Timestamp::EPOCH, ()).unwrap().bundle;
/// // `bundle` comes from `train`.
/// let path = std::env::temp_dir().join(format!("cad-doc-{}.cadm", std::process::id()));
/// bundle.write_to(&path).unwrap();
/// let back = ModelBundle::read_from(&path).unwrap();
/// assert_eq!(back.classes, bundle.classes);
/// assert_eq!(back.feature_set, bundle.feature_set);
/// let copy = back.clone(); // e.g. one for the watcher, one to inspect
/// assert_eq!(copy.to_bytes().unwrap(), bundle.to_bytes().unwrap());
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct ModelBundle {
    /// Format version (set to [`FORMAT_VERSION`] when built or decoded).
    pub format_version: u16,
    /// Class names; the model's class `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// The feature columns the model reads, in order.
    pub feature_set: FeatureSet,
    /// The fitted model.
    pub model: Model,
    /// How it was evaluated, if it was.
    pub evaluation: Option<EvaluationSummary>,
    /// When it was trained.
    pub created_at: Timestamp,
    /// Free text on the training data, e.g. `"simulated cluster, seed 7"`.
    pub trained_on: String,
    /// The pod ages of the training rows (young and steady), when the rows
    /// were collected from a cluster; `None` for data files and bundles of
    /// format 2. The window the watcher decides on is the feature set's.
    pub ages: Option<AgeCoverage>,
    /// The open-set model fitted on the training containers: the watcher's
    /// verdicts say whether a container behaves as claimed, like another
    /// known class, or like none. `None` in bundles of formats 2 and 3 and
    /// when training could not fit one (fewer than two containers).
    pub open_set: Option<OpenSetModel>,
    /// The map from the classifier's raw confidence to a calibrated one,
    /// fitted on out-of-fold predictions of held-out containers. `None` in
    /// bundles of formats 2 and 3 and when training could not fit one.
    pub confidence: Option<ConfidenceMap>,
}

#[derive(Serialize)]
struct PayloadRef<'a> {
    classes: &'a [String],
    feature_set: &'a FeatureSet,
    model: &'a Model,
    evaluation: &'a Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: &'a str,
    ages: &'a Option<AgeCoverage>,
    open_set: &'a Option<OpenSetModel>,
    confidence: &'a Option<ConfidenceMap>,
    open_set_windows: Option<&'a WindowCalibration>,
    confidence_source: ConfidenceSource,
    open_set_novelty_null: Option<&'a NoveltyNull>,
    ages_row_interval: Option<std::time::Duration>,
}

/// The content of format 7 (no row interval).
#[derive(Deserialize)]
struct PayloadV7 {
    classes: Vec<String>,
    feature_set: FeatureSet,
    model: Model,
    evaluation: Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: String,
    ages: Option<AgeCoverage>,
    open_set: Option<OpenSetModel>,
    confidence: Option<ConfidenceMap>,
    open_set_windows: Option<WindowCalibration>,
    confidence_source: ConfidenceSource,
    open_set_novelty_null: Option<NoveltyNull>,
}

impl From<PayloadV7> for Payload {
    fn from(p: PayloadV7) -> Payload {
        Payload {
            classes: p.classes,
            feature_set: p.feature_set,
            model: p.model,
            evaluation: p.evaluation,
            created_at: p.created_at,
            trained_on: p.trained_on,
            ages: p.ages,
            open_set: p.open_set,
            confidence: p.confidence,
            open_set_windows: p.open_set_windows,
            confidence_source: p.confidence_source,
            open_set_novelty_null: p.open_set_novelty_null,
            ages_row_interval: None,
        }
    }
}

/// The content of format 6 (the combined test of "like no known class").
#[derive(Deserialize)]
struct PayloadV6 {
    classes: Vec<String>,
    feature_set: FeatureSet,
    model: Model,
    evaluation: Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: String,
    ages: Option<AgeCoverage>,
    open_set: Option<OpenSetModel>,
    confidence: Option<ConfidenceMap>,
    open_set_windows: Option<WindowCalibration>,
    confidence_source: ConfidenceSource,
}

impl From<PayloadV6> for Payload {
    fn from(p: PayloadV6) -> Payload {
        Payload {
            classes: p.classes,
            feature_set: p.feature_set,
            model: p.model,
            evaluation: p.evaluation,
            created_at: p.created_at,
            trained_on: p.trained_on,
            ages: p.ages,
            open_set: p.open_set,
            confidence: p.confidence,
            open_set_windows: p.open_set_windows,
            confidence_source: p.confidence_source,
            open_set_novelty_null: None,
            ages_row_interval: None,
        }
    }
}

/// The content of format 5 (confidence maps of the classifier's confidence).
#[derive(Deserialize)]
struct PayloadV5 {
    classes: Vec<String>,
    feature_set: FeatureSet,
    model: Model,
    evaluation: Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: String,
    ages: Option<AgeCoverage>,
    open_set: Option<OpenSetModel>,
    confidence: Option<ConfidenceMap>,
    open_set_windows: Option<WindowCalibration>,
}

impl From<PayloadV5> for Payload {
    fn from(p: PayloadV5) -> Payload {
        Payload {
            classes: p.classes,
            feature_set: p.feature_set,
            model: p.model,
            evaluation: p.evaluation,
            created_at: p.created_at,
            trained_on: p.trained_on,
            ages: p.ages,
            open_set: p.open_set,
            confidence: p.confidence,
            open_set_windows: p.open_set_windows,
            confidence_source: ConfidenceSource::Classifier,
            open_set_novelty_null: None,
            ages_row_interval: None,
        }
    }
}

/// The content of format 4 (no multi-window calibration).
#[derive(Deserialize)]
struct PayloadV4 {
    classes: Vec<String>,
    feature_set: FeatureSet,
    model: Model,
    evaluation: Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: String,
    ages: Option<AgeCoverage>,
    open_set: Option<OpenSetModel>,
    confidence: Option<ConfidenceMap>,
}

impl From<PayloadV4> for Payload {
    fn from(p: PayloadV4) -> Payload {
        Payload {
            classes: p.classes,
            feature_set: p.feature_set,
            model: p.model,
            evaluation: p.evaluation,
            created_at: p.created_at,
            trained_on: p.trained_on,
            ages: p.ages,
            open_set: p.open_set,
            confidence: p.confidence,
            open_set_windows: None,
            confidence_source: ConfidenceSource::Classifier,
            open_set_novelty_null: None,
            ages_row_interval: None,
        }
    }
}

/// The content of format 2 (no ages).
#[derive(Deserialize)]
struct PayloadV2 {
    classes: Vec<String>,
    feature_set: FeatureSet,
    model: Model,
    evaluation: Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: String,
}

/// The content of format 3 (no calibration).
#[derive(Deserialize)]
struct PayloadV3 {
    classes: Vec<String>,
    feature_set: FeatureSet,
    model: Model,
    evaluation: Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: String,
    ages: Option<AgeCoverage>,
}

#[derive(Deserialize)]
struct Payload {
    classes: Vec<String>,
    feature_set: FeatureSet,
    model: Model,
    evaluation: Option<EvaluationSummary>,
    created_at: Timestamp,
    trained_on: String,
    ages: Option<AgeCoverage>,
    open_set: Option<OpenSetModel>,
    confidence: Option<ConfidenceMap>,
    open_set_windows: Option<WindowCalibration>,
    confidence_source: ConfidenceSource,
    open_set_novelty_null: Option<NoveltyNull>,
    ages_row_interval: Option<std::time::Duration>,
}

impl From<PayloadV3> for Payload {
    fn from(p: PayloadV3) -> Payload {
        Payload {
            classes: p.classes,
            feature_set: p.feature_set,
            model: p.model,
            evaluation: p.evaluation,
            created_at: p.created_at,
            trained_on: p.trained_on,
            ages: p.ages,
            open_set: None,
            confidence: None,
            open_set_windows: None,
            confidence_source: ConfidenceSource::Classifier,
            open_set_novelty_null: None,
            ages_row_interval: None,
        }
    }
}

impl From<PayloadV2> for Payload {
    fn from(p: PayloadV2) -> Payload {
        Payload {
            classes: p.classes,
            feature_set: p.feature_set,
            model: p.model,
            evaluation: p.evaluation,
            created_at: p.created_at,
            trained_on: p.trained_on,
            ages: None,
            open_set: None,
            confidence: None,
            open_set_windows: None,
            confidence_source: ConfidenceSource::Classifier,
            open_set_novelty_null: None,
            ages_row_interval: None,
        }
    }
}

impl BundleError {
    /// [`BundleError::Corrupt`] without an underlying error.
    fn corrupt(what: impl Into<String>) -> Self {
        BundleError::Corrupt {
            what: what.into(),
            source: None,
        }
    }
}

impl ModelBundle {
    /// What training warned of (few containers of a class, a class without
    /// rows, …: the evaluation's warnings; none without an evaluation).
    pub fn training_warnings(&self) -> &[String] {
        self.evaluation.as_ref().map_or(&[], |e| e.warnings.as_slice())
    }

    /// A bundle of the current format without an evaluation.
    pub fn new(
        classes: Vec<String>,
        feature_set: FeatureSet,
        model: Model,
        created_at: Timestamp,
        trained_on: impl Into<String>,
    ) -> ModelBundle {
        ModelBundle {
            format_version: FORMAT_VERSION,
            classes,
            feature_set,
            model,
            evaluation: None,
            created_at,
            trained_on: trained_on.into(),
            ages: None,
            open_set: None,
            confidence: None,
        }
    }

    /// Checks that the model (and the open-set model and confidence map, if
    /// any) agree with the class list and feature set.
    pub fn check(&self) -> Result<(), BundleError> {
        if let Some(o) = &self.open_set {
            o.check(self.classes.len(), self.feature_set.columns.len())
                .map_err(BundleError::OpenSet)?;
        }
        if self.confidence.as_ref().is_some_and(|m| !m.is_valid()) {
            return Err(BundleError::Inconsistent(
                "the confidence map is not a valid map".into(),
            ));
        }
        if self
            .confidence
            .as_ref()
            .is_some_and(|m| m.source() == ConfidenceSource::OpenSetForest)
            && !self.open_set.as_ref().is_some_and(OpenSetModel::has_forest)
        {
            return Err(BundleError::Inconsistent(
                "the confidence map reads the open-set forest, and the bundle has none".into(),
            ));
        }
        if self.model.n_classes() != self.classes.len() {
            return Err(BundleError::Inconsistent(format!(
                "the model has {} classes, the class list {}",
                self.model.n_classes(),
                self.classes.len()
            )));
        }
        if self.model.n_features() != self.feature_set.columns.len() {
            return Err(BundleError::Inconsistent(format!(
                "the model reads {} features, the feature set {:?} has {} columns",
                self.model.n_features(),
                self.feature_set.name,
                self.feature_set.columns.len()
            )));
        }
        Ok(())
    }

    /// The bundle's bytes (always written in [`FORMAT_VERSION`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, BundleError> {
        self.check()?;
        let payload = postcard::to_allocvec(&PayloadRef {
            classes: &self.classes,
            feature_set: &self.feature_set,
            model: &self.model,
            evaluation: &self.evaluation,
            created_at: self.created_at,
            trained_on: &self.trained_on,
            ages: &self.ages,
            open_set: &self.open_set,
            confidence: &self.confidence,
            open_set_windows: self.open_set.as_ref().and_then(OpenSetModel::windows),
            confidence_source: self
                .confidence
                .as_ref()
                .map_or_else(ConfidenceSource::default, ConfidenceMap::source),
            open_set_novelty_null: self.open_set.as_ref().and_then(OpenSetModel::novelty_null),
            ages_row_interval: self.ages.as_ref().and_then(|a| a.row_interval),
        })
        .map_err(|e| BundleError::Encode(Box::new(e)))?;
        Ok(frame(FORMAT_VERSION, &compress(&payload)?))
    }

    /// Decodes and checks bundle bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelBundle, BundleError> {
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(BundleError::BadMagic);
        }
        if bytes.len() < HEADER + TRAILER {
            return Err(BundleError::TooShort(bytes.len()));
        }
        let (header, rest) = bytes.split_at(HEADER);
        let (version, len) = check_header(header)?;
        let expected = len.saturating_add((HEADER + TRAILER) as u64);
        let got = bytes.len() as u64;
        if expected > got {
            return Err(BundleError::Truncated { expected, got });
        }
        if expected < got {
            return Err(BundleError::corrupt(format!(
                "{} bytes after the checksum",
                got - expected
            )));
        }
        // `len` fits: it is at most the slice's length.
        let (payload, crc) = rest.split_at(len as usize);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32fast::hash(payload);
        if stored != computed {
            return Err(BundleError::ChecksumMismatch { stored, computed });
        }
        let content = decompress(payload)?;
        let corrupt = |e: postcard::Error| BundleError::Corrupt {
            what: "the content does not decode".to_owned(),
            source: Some(Box::new(e)),
        };
        let (p, left): (Payload, _) = match version {
            2 => postcard::take_from_bytes::<PayloadV2>(&content)
                .map(|(p, left)| (p.into(), left))
                .map_err(corrupt)?,
            3 => postcard::take_from_bytes::<PayloadV3>(&content)
                .map(|(p, left)| (p.into(), left))
                .map_err(corrupt)?,
            4 => postcard::take_from_bytes::<PayloadV4>(&content)
                .map(|(p, left)| (p.into(), left))
                .map_err(corrupt)?,
            5 => postcard::take_from_bytes::<PayloadV5>(&content)
                .map(|(p, left)| (p.into(), left))
                .map_err(corrupt)?,
            6 => postcard::take_from_bytes::<PayloadV6>(&content)
                .map(|(p, left)| (p.into(), left))
                .map_err(corrupt)?,
            7 => postcard::take_from_bytes::<PayloadV7>(&content)
                .map(|(p, left)| (p.into(), left))
                .map_err(corrupt)?,
            _ => postcard::take_from_bytes(&content).map_err(corrupt)?,
        };
        if !left.is_empty() {
            return Err(BundleError::corrupt(format!("{} unread payload bytes", left.len())));
        }
        let bundle = ModelBundle {
            format_version: version,
            classes: p.classes,
            feature_set: p.feature_set,
            model: p.model,
            evaluation: p.evaluation,
            created_at: p.created_at,
            trained_on: p.trained_on,
            ages: p.ages.map(|a| AgeCoverage {
                row_interval: p.ages_row_interval,
                ..a
            }),
            open_set: p.open_set.map(|o| {
                o.with_windows(p.open_set_windows)
                    .with_novelty_null(p.open_set_novelty_null)
            }),
            confidence: p.confidence.map(|m| m.with_source(p.confidence_source)),
        };
        bundle.check()?;
        Ok(bundle)
    }

    /// The bytes in standard base64 (for a ConfigMap's text data).
    pub fn to_base64(&self) -> Result<String, BundleError> {
        Ok(base64::engine::general_purpose::STANDARD.encode(self.to_bytes()?))
    }

    /// Decodes base64 text (standard alphabet; whitespace and line breaks anywhere are ignored).
    pub fn from_base64(text: &str) -> Result<ModelBundle, BundleError> {
        let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map_err(BundleError::Base64)?;
        ModelBundle::from_bytes(&bytes)
    }

    /// Reads a bundle file (see [`read_file_bytes`]) and decodes it.
    pub fn read_from(path: impl AsRef<Path>) -> Result<ModelBundle, BundleError> {
        ModelBundle::from_bytes(&read_file_bytes(path.as_ref())?)
    }

    /// Writes a bundle file atomically (see [`crate::files::write_atomic`]):
    /// a temporary file beside it, synced, then renamed. Temporaries left by
    /// writers that were killed are removed first.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), BundleError> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        crate::files::write_atomic(path, &bytes).map_err(|source| io(path, source))
    }
}

/// The bytes of a bundle file, read with a bound: the header first (magic,
/// version, announced length, at most [`MAX_BUNDLE_BYTES`]), then exactly the
/// announced bytes. A file that is not a bundle (`/dev/zero`, a text file) is
/// refused after its first 18 bytes; nothing is read past the announced end.
/// The bytes still need [`ModelBundle::from_bytes`].
pub fn read_file_bytes(path: &Path) -> Result<Vec<u8>, BundleError> {
    let mut f = std::fs::File::open(path).map_err(|source| io(path, source))?;
    let mut bytes = Vec::with_capacity(HEADER);
    (&mut f)
        .take(HEADER as u64)
        .read_to_end(&mut bytes)
        .map_err(|source| io(path, source))?;
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(BundleError::BadMagic);
    }
    if bytes.len() < HEADER {
        return Err(BundleError::TooShort(bytes.len()));
    }
    let (_, len) = check_header(&bytes)?;
    let size = len.saturating_add((HEADER + TRAILER) as u64);
    if size > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            size,
            limit: MAX_BUNDLE_BYTES,
        });
    }
    // One byte more than announced, so that trailing garbage is seen.
    (&mut f)
        .take(size + 1 - HEADER as u64)
        .read_to_end(&mut bytes)
        .map_err(|source| io(path, source))?;
    Ok(bytes)
}

/// The version and payload length of a header (`HEADER` bytes, magic
/// checked), if this build reads that version.
fn check_header(header: &[u8]) -> Result<(u16, u64), BundleError> {
    let version = u16::from_le_bytes([header[8], header[9]]);
    if version > FORMAT_VERSION {
        return Err(BundleError::NewerVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(BundleError::corrupt("format version 0 does not exist"));
    }
    if version < OLDEST_VERSION {
        return Err(BundleError::OlderVersion {
            found: version,
            oldest: OLDEST_VERSION,
        });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&header[10..18]);
    Ok((version, u64::from_le_bytes(len)))
}

/// `uncompressed length u64 LE | DEFLATE(content)`.
/// The bundle's bytes around a compressed payload: magic, format version,
/// payload length, the payload, its CRC-32.
fn frame(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + TRAILER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out
}

fn compress(content: &[u8]) -> Result<Vec<u8>, BundleError> {
    use std::io::Write;
    let mut out = (content.len() as u64).to_le_bytes().to_vec();
    let mut enc = flate2::write::DeflateEncoder::new(&mut out, flate2::Compression::best());
    enc.write_all(content)
        .and_then(|()| enc.finish().map(drop))
        .map_err(|e| BundleError::Encode(Box::new(e)))?;
    Ok(out)
}

/// The content of a format-2 payload, checked against its stated length,
/// which is at most [`MAX_MODEL_BYTES`]; allocation follows the bytes
/// actually inflated.
fn decompress(payload: &[u8]) -> Result<Vec<u8>, BundleError> {
    let Some((len, deflated)) = payload.split_first_chunk::<8>() else {
        return Err(BundleError::corrupt("the payload has no length"));
    };
    let len = u64::from_le_bytes(*len);
    if len > MAX_MODEL_BYTES {
        return Err(BundleError::corrupt(format!(
            "the content would be {len} bytes uncompressed, more than the {MAX_MODEL_BYTES} allowed"
        )));
    }
    let mut content = Vec::with_capacity(len.min(1 << 20) as usize);
    flate2::read::DeflateDecoder::new(deflated)
        .take(len + 1)
        .read_to_end(&mut content)
        .map_err(|e| BundleError::Corrupt {
            what: "the compressed content does not inflate".to_owned(),
            source: Some(Box::new(e)),
        })?;
    if content.len() as u64 != len {
        return Err(BundleError::corrupt(format!(
            "the content inflates to {} bytes, not the {len} stated",
            content.len()
        )));
    }
    Ok(content)
}

fn io(path: &Path, source: std::io::Error) -> BundleError {
    BundleError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;
    use crate::forest::ForestParams;
    use crate::model::Algorithm;
    use crate::openset::UnknownTest;
    use crate::tree::TreeParams;
    use crate::tree::synth::make;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn feature_set(n: usize) -> FeatureSet {
        crate::test_data::feature_set(n, 3)
    }

    fn data() -> Dataset {
        make(300, 4, 3, 20, 1.0, 0.05, 41)
    }

    fn bundle(alg: &Algorithm) -> ModelBundle {
        let d = data();
        let mut b = ModelBundle::new(
            d.classes().to_vec(),
            feature_set(4),
            alg.fit(&d).unwrap(),
            Timestamp::from_millis(1_700_000_000_000),
            "synthetic, seed 41",
        );
        b.evaluation = Some(EvaluationSummary {
            method: "grouped 70/30".into(),
            accuracy: Some(0.9),
            macro_f1: None,
            train_rows: 210,
            test_rows: 90,
            groups: 15,
            warnings: vec!["few groups".into()],
            report: "…".into(),
        });
        b
    }

    fn blob() -> &'static [u8] {
        static BLOB: OnceLock<Vec<u8>> = OnceLock::new();
        BLOB.get_or_init(|| bundle(&Algorithm::Tree(TreeParams::default())).to_bytes().unwrap())
    }

    fn forest_blob() -> &'static [u8] {
        static BLOB: OnceLock<Vec<u8>> = OnceLock::new();
        BLOB.get_or_init(|| bundle(&small_forest()).to_bytes().unwrap())
    }

    fn small_forest() -> Algorithm {
        Algorithm::Forest(ForestParams {
            n_trees: 4,
            ..Default::default()
        })
    }

    #[test]
    fn round_trip_keeps_everything_and_predictions() {
        let d = data();
        let mut algorithms = vec![Algorithm::Tree(TreeParams::default()), small_forest()];
        algorithms.extend(Algorithm::by_name("smartcore-tree"));
        for alg in algorithms {
            let b = bundle(&alg);
            let bytes = b.to_bytes().unwrap();
            assert_eq!(&bytes[..8], MAGIC);
            let c = ModelBundle::from_bytes(&bytes).unwrap();
            assert_eq!(c.classes, b.classes);
            assert_eq!(c.feature_set, b.feature_set);
            assert_eq!(c.evaluation, b.evaluation);
            assert_eq!((c.created_at, &c.trained_on), (b.created_at, &b.trained_on));
            assert_eq!(c.model.predict_dataset(&d), b.model.predict_dataset(&d));
            assert_eq!(c.to_bytes().unwrap(), bytes);
            let text = b.to_base64().unwrap();
            let wrapped: String = text
                .as_bytes()
                .chunks(76)
                .map(|l| format!("{}\n", String::from_utf8_lossy(l)))
                .collect();
            let e = ModelBundle::from_base64(&format!("\n  {wrapped}  \n")).unwrap();
            assert_eq!(e.model.predict_dataset(&d), b.model.predict_dataset(&d));
        }
    }

    #[test]
    fn ages_round_trip_and_format_2_bundles_still_load() {
        let mut b = bundle(&Algorithm::Tree(TreeParams::default()));
        b.ages = Some(crate::age::AgeCoverage {
            young_horizon: std::time::Duration::from_secs(300),
            young: Some(crate::age::AgeRange {
                min: std::time::Duration::from_secs(30),
                max: std::time::Duration::from_secs(300),
            }),
            steady: None,
            young_rows: 10,
            steady_rows: 0,
            unknown_rows: 0,
            classes_without_young_rows: vec!["c2".into()],
            row_interval: Some(std::time::Duration::from_millis(30_500)),
        });
        let back = ModelBundle::from_bytes(&b.to_bytes().unwrap()).unwrap();
        assert_eq!(back.ages, b.ages);

        // A bundle as format 7 wrote it: the same ages without the row
        // interval (format 8 stores one None byte more without one).
        let mut no_interval = b.clone();
        if let Some(a) = no_interval.ages.as_mut() {
            a.row_interval = None;
        }
        let current = no_interval.to_bytes().unwrap();
        let content = decompress(&current[HEADER..current.len() - TRAILER]).unwrap();
        assert_eq!(content.last(), Some(&0u8), "no row interval: one None byte");
        let mut v7 = frame(7, &compress(&content[..content.len() - 1]).unwrap());
        let back = ModelBundle::from_bytes(&v7).unwrap();
        assert_eq!((back.format_version, &back.ages), (7, &no_interval.ages));
        // Read as format 8, the same bytes are refused, not misread.
        v7[8..10].copy_from_slice(&8u16.to_le_bytes());
        assert!(matches!(ModelBundle::from_bytes(&v7), Err(BundleError::Corrupt { .. })));

        // A bundle as format 2 wrote it: the same content without the ages.
        #[derive(Serialize)]
        struct V2<'a> {
            classes: &'a [String],
            feature_set: &'a FeatureSet,
            model: &'a Model,
            evaluation: &'a Option<EvaluationSummary>,
            created_at: Timestamp,
            trained_on: &'a str,
        }
        let content = postcard::to_allocvec(&V2 {
            classes: &b.classes,
            feature_set: &b.feature_set,
            model: &b.model,
            evaluation: &b.evaluation,
            created_at: b.created_at,
            trained_on: &b.trained_on,
        })
        .unwrap();
        let mut old = frame(2, &compress(&content).unwrap());
        let v2 = ModelBundle::from_bytes(&old).unwrap();
        assert_eq!((v2.format_version, v2.ages), (2, None));
        assert_eq!(v2.model.predict_dataset(&data()), b.model.predict_dataset(&data()));
        // Read as format 3, the same bytes are refused, not misread.
        old[8..10].copy_from_slice(&3u16.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&old),
            Err(BundleError::Corrupt { .. })
        ));
    }

    #[test]
    fn calibration_round_trips_and_format_3_bundles_still_load() {
        use crate::openset::confidence::Outcome;
        let d = data();
        let mut b = bundle(&Algorithm::Tree(TreeParams::default()));
        b.open_set = Some(crate::openset::NoveltyParams::default().fit(&d).unwrap());
        let outcomes: Vec<Outcome> = (0..40)
            .map(|i| Outcome {
                confidence: 0.5 + f64::from(i % 5) / 10.0,
                correct: i % 3 != 0,
            })
            .collect();
        b.confidence = Some(ConfidenceMap::fit(&outcomes).with_source(ConfidenceSource::OpenSetForest));
        // The default test of "like no known class" stores its calibration.
        let o = b.open_set.as_ref().unwrap();
        assert!(o.novelty_null().is_some() && o.unknown_test() == UnknownTest::EitherUnclaimed);
        // What formats 2 to 6 could hold: no novelty test.
        let before_7 = b.open_set.clone().map(|o| o.with_novelty_null(None));
        let bytes = b.to_bytes().unwrap();
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 8);
        let back = ModelBundle::from_bytes(&bytes).unwrap();
        assert_eq!((&back.open_set, &back.confidence), (&b.open_set, &b.confidence));
        // The map's source travels beside it.
        assert_eq!(
            back.confidence.as_ref().map(ConfidenceMap::source),
            Some(ConfidenceSource::OpenSetForest)
        );
        // The multi-window calibration travels beside the open-set model.
        assert!(back.open_set.as_ref().unwrap().windows().is_some());
        let (o, c) = (back.open_set.as_ref().unwrap(), back.confidence.as_ref().unwrap());
        for i in (0..d.n_rows()).step_by(37) {
            let row = d.row(i);
            assert_eq!(
                o.judge(&row, Some(d.label(i)), 0.01),
                b.open_set.as_ref().unwrap().judge(&row, Some(d.label(i)), 0.01)
            );
        }
        assert!(c.apply(1.0) < 1.0, "a calibrated map does not say 1.00: {c:?}");

        // A bundle as format 3 wrote it: no calibration.
        #[derive(Serialize)]
        struct V3<'a> {
            classes: &'a [String],
            feature_set: &'a FeatureSet,
            model: &'a Model,
            evaluation: &'a Option<EvaluationSummary>,
            created_at: Timestamp,
            trained_on: &'a str,
            ages: &'a Option<AgeCoverage>,
        }
        let content = postcard::to_allocvec(&V3 {
            classes: &b.classes,
            feature_set: &b.feature_set,
            model: &b.model,
            evaluation: &b.evaluation,
            created_at: b.created_at,
            trained_on: &b.trained_on,
            ages: &b.ages,
        })
        .unwrap();
        let mut old = frame(3, &compress(&content).unwrap());
        let v3 = ModelBundle::from_bytes(&old).unwrap();
        assert_eq!(v3.format_version, 3);
        assert!(v3.open_set.is_none() && v3.confidence.is_none());
        assert_eq!(v3.model.predict_dataset(&d), b.model.predict_dataset(&d));
        // Read as format 4, the same bytes are refused, not misread.
        old[8..10].copy_from_slice(&4u16.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&old),
            Err(BundleError::Corrupt { .. })
        ));

        // A bundle as format 4 wrote it: the calibration without the
        // multi-window one.
        #[derive(Serialize)]
        struct V4<'a> {
            classes: &'a [String],
            feature_set: &'a FeatureSet,
            model: &'a Model,
            evaluation: &'a Option<EvaluationSummary>,
            created_at: Timestamp,
            trained_on: &'a str,
            ages: &'a Option<AgeCoverage>,
            open_set: &'a Option<OpenSetModel>,
            confidence: &'a Option<ConfidenceMap>,
        }
        let content = postcard::to_allocvec(&V4 {
            classes: &b.classes,
            feature_set: &b.feature_set,
            model: &b.model,
            evaluation: &b.evaluation,
            created_at: b.created_at,
            trained_on: &b.trained_on,
            ages: &b.ages,
            open_set: &b.open_set,
            confidence: &b.confidence,
        })
        .unwrap();
        let mut old = frame(4, &compress(&content).unwrap());
        let v4 = ModelBundle::from_bytes(&old).unwrap();
        assert_eq!(v4.format_version, 4);
        let o4 = v4.open_set.as_ref().unwrap();
        assert!(o4.windows().is_none() && !o4.judges_windows(2) && o4.judges_windows(1));
        assert_eq!(o4, &before_7.clone().unwrap().with_windows(None));
        // Older bundles keep the test they were judged with.
        assert_eq!(o4.unknown_test(), UnknownTest::Combined);
        // Read as format 5, the same bytes are refused, not misread.
        old[8..10].copy_from_slice(&5u16.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&old),
            Err(BundleError::Corrupt { .. })
        ));

        // A bundle as format 5 wrote it: the map is of the classifier's
        // confidence.
        #[derive(Serialize)]
        struct V5<'a> {
            classes: &'a [String],
            feature_set: &'a FeatureSet,
            model: &'a Model,
            evaluation: &'a Option<EvaluationSummary>,
            created_at: Timestamp,
            trained_on: &'a str,
            ages: &'a Option<AgeCoverage>,
            open_set: &'a Option<OpenSetModel>,
            confidence: &'a Option<ConfidenceMap>,
            open_set_windows: Option<&'a WindowCalibration>,
        }
        let content = postcard::to_allocvec(&V5 {
            classes: &b.classes,
            feature_set: &b.feature_set,
            model: &b.model,
            evaluation: &b.evaluation,
            created_at: b.created_at,
            trained_on: &b.trained_on,
            ages: &b.ages,
            open_set: &b.open_set,
            confidence: &b.confidence,
            open_set_windows: b.open_set.as_ref().and_then(OpenSetModel::windows),
        })
        .unwrap();
        let mut old = frame(5, &compress(&content).unwrap());
        let v5 = ModelBundle::from_bytes(&old).unwrap();
        assert_eq!(v5.format_version, 5);
        assert_eq!(v5.open_set, before_7);
        assert_eq!(v5.open_set.as_ref().unwrap().unknown_test(), UnknownTest::Combined);
        let c5 = v5.confidence.as_ref().unwrap();
        assert_eq!(c5.source(), ConfidenceSource::Classifier);
        assert_eq!(
            c5,
            &b.confidence.clone().unwrap().with_source(ConfidenceSource::Classifier)
        );
        // Read as format 6, the same bytes are refused, not misread.
        old[8..10].copy_from_slice(&6u16.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&old),
            Err(BundleError::Corrupt { .. })
        ));

        // A bundle as format 6 wrote it: the combined test of "like no
        // known class" (format 7 stores one None byte more without a
        // novelty test, format 8 one more without a row interval).
        let mut combined = b.clone();
        combined.open_set.clone_from(&before_7);
        let current = combined.to_bytes().unwrap();
        let content = decompress(&current[HEADER..current.len() - TRAILER]).unwrap();
        assert_eq!(
            content[content.len() - 2..],
            [0u8, 0],
            "no novelty test, no row interval: two None bytes"
        );
        let mut old = frame(6, &compress(&content[..content.len() - 2]).unwrap());
        let v6 = ModelBundle::from_bytes(&old).unwrap();
        assert_eq!((v6.format_version, &v6.open_set), (6, &before_7));
        assert_eq!(v6.open_set.as_ref().unwrap().unknown_test(), UnknownTest::Combined);
        // Read as format 7, the same bytes are refused, not misread.
        old[8..10].copy_from_slice(&7u16.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&old),
            Err(BundleError::Corrupt { .. })
        ));
        // With the novelty test, it round-trips.
        let mut n = b.clone();
        n.open_set = Some(
            crate::openset::NoveltyParams {
                unknown_test: UnknownTest::EitherUnclaimed,
                ..Default::default()
            }
            .fit(&d)
            .unwrap(),
        );
        let back = ModelBundle::from_bytes(&n.to_bytes().unwrap()).unwrap();
        assert_eq!(back.open_set, n.open_set);
        assert_eq!(
            back.open_set.as_ref().unwrap().unknown_test(),
            UnknownTest::EitherUnclaimed
        );
        assert!(back.open_set.as_ref().unwrap().novelty_null().is_some());

        // A map of the open-set forest without an open-set model is refused.
        let mut lone = b.clone();
        lone.open_set = None;
        assert!(matches!(lone.to_bytes(), Err(BundleError::Inconsistent(_))));
        lone.confidence = lone.confidence.map(|m| m.with_source(ConfidenceSource::Classifier));
        assert!(lone.to_bytes().is_ok());

        // An open-set model of other features is refused.
        let other = make(300, 5, 3, 20, 1.0, 0.05, 41);
        b.open_set = Some(crate::openset::NoveltyParams::default().fit(&other).unwrap());
        assert!(matches!(b.to_bytes(), Err(BundleError::OpenSet(_))));
    }

    #[test]
    fn same_seed_gives_identical_bytes() {
        for alg in [Algorithm::Tree(TreeParams::default()), small_forest()] {
            assert_eq!(bundle(&alg).to_bytes().unwrap(), bundle(&alg).to_bytes().unwrap());
        }
    }

    #[test]
    fn each_failure_has_its_variant() {
        let good = blob();
        assert!(matches!(
            ModelBundle::from_bytes(b"CADMOD"),
            Err(BundleError::TooShort(6))
        ));
        assert!(matches!(
            ModelBundle::from_bytes(b"PK\x03\x04 zip file"),
            Err(BundleError::BadMagic)
        ));
        assert!(matches!(ModelBundle::from_bytes(b""), Err(BundleError::TooShort(0))));

        let mut older = good.to_vec();
        older[8..10].copy_from_slice(&1u16.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&older),
            Err(BundleError::OlderVersion { found: 1, oldest: 2 })
        ));
        let msg = ModelBundle::from_bytes(&older).unwrap_err().to_string();
        assert!(
            msg.contains("format 1") && msg.contains("train the model again"),
            "{msg}"
        );

        let mut newer = good.to_vec();
        newer[8..10].copy_from_slice(&9u16.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&newer),
            Err(BundleError::NewerVersion {
                found: 9,
                supported: FORMAT_VERSION
            })
        ));

        let cut = &good[..good.len() - 10];
        assert!(
            matches!(ModelBundle::from_bytes(cut), Err(BundleError::Truncated { got, .. }) if got == cut.len() as u64)
        );
        let mut huge = good.to_vec();
        huge[10..18].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            ModelBundle::from_bytes(&huge),
            Err(BundleError::Truncated { expected: u64::MAX, .. })
        ));

        let mut flipped = good.to_vec();
        flipped[HEADER + 3] ^= 0x40;
        assert!(matches!(
            ModelBundle::from_bytes(&flipped),
            Err(BundleError::ChecksumMismatch { .. })
        ));

        // Payloads that are not a bundle, with a right checksum: garbage, a
        // length over the limit, a length that does not match, content that
        // is not postcard.
        let wrap = |payload: &[u8]| frame(FORMAT_VERSION, payload);
        let junk = wrap(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
        assert!(matches!(
            ModelBundle::from_bytes(&junk),
            Err(BundleError::Corrupt { .. })
        ));
        let zeros = vec![0u8; 4 << 20];
        let bomb = compress(&zeros).unwrap();
        assert!(bomb.len() < 8 << 10, "{}", bomb.len());
        let mut over = bomb.clone();
        over[..8].copy_from_slice(&(MAX_MODEL_BYTES + 1).to_le_bytes());
        let mut short = bomb.clone();
        short[..8].copy_from_slice(&1000u64.to_le_bytes());
        let mut long = bomb.clone();
        long[..8].copy_from_slice(&((4u64 << 20) + 1).to_le_bytes());
        for p in [over, short, long, bomb, vec![1, 2, 3]] {
            let e = ModelBundle::from_bytes(&wrap(&p)).unwrap_err();
            assert!(matches!(e, BundleError::Corrupt { .. }), "{e}");
        }

        let mut b = bundle(&Algorithm::Tree(TreeParams::default()));
        b.classes.push("extra".into());
        assert!(matches!(b.to_bytes(), Err(BundleError::Inconsistent(_))));
        b.classes.pop();
        b.feature_set = feature_set(5);
        assert!(matches!(b.to_bytes(), Err(BundleError::Inconsistent(_))));

        assert!(matches!(
            ModelBundle::from_base64("not base64!"),
            Err(BundleError::Base64(_))
        ));
        assert!(matches!(
            ModelBundle::read_from("/nonexistent/cad/model.bin"),
            Err(BundleError::Io { .. })
        ));
    }

    #[test]
    fn files_are_written_atomically_and_read_back() {
        let dir = std::env::temp_dir().join(format!("cad-bundle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.cad");
        let b = bundle(&small_forest());
        b.write_to(&path).unwrap();
        b.write_to(&path).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("model.cad")]);
        let c = ModelBundle::read_from(&path).unwrap();
        assert_eq!(c.model.predict_dataset(&data()), b.model.predict_dataset(&data()));

        // Reads are bounded: a file that is not a bundle stops at its header,
        // a header announcing too much is refused before the rest is read.
        if Path::new("/dev/zero").exists() {
            assert!(matches!(
                ModelBundle::read_from("/dev/zero"),
                Err(BundleError::BadMagic)
            ));
        }
        let mut huge = blob()[..HEADER].to_vec();
        huge[10..18].copy_from_slice(&(MAX_BUNDLE_BYTES).to_le_bytes());
        std::fs::write(dir.join("huge.cadm"), &huge).unwrap();
        assert!(matches!(
            ModelBundle::read_from(dir.join("huge.cadm")),
            Err(BundleError::TooLarge { .. })
        ));
        let mut trailing = blob().to_vec();
        trailing.extend_from_slice(b"junk");
        std::fs::write(dir.join("trailing.cadm"), &trailing).unwrap();
        let bytes = read_file_bytes(&dir.join("trailing.cadm")).unwrap();
        assert_eq!(
            bytes.len(),
            blob().len() + 1,
            "reads one byte past the announced end, no more"
        );
        assert!(matches!(
            ModelBundle::from_bytes(&bytes),
            Err(BundleError::Corrupt { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..400), magic in any::<bool>()) {
            let mut bytes = bytes;
            if magic {
                let mut b = MAGIC.to_vec();
                b.extend_from_slice(&bytes);
                bytes = b;
            }
            prop_assert!(ModelBundle::from_bytes(&bytes).is_err());
        }

        #[test]
        fn truncations_are_rejected(cut in 0usize..10_000) {
            let good = blob();
            let cut = cut % good.len();
            prop_assert!(ModelBundle::from_bytes(&good[..cut]).is_err());
        }

        #[test]
        fn round_trip_reproduces_predictions(seed in 0u64..1000, spread in 0.3f64..3.0, missing in 0.0f64..0.3, forest in any::<bool>()) {
            let d = make(120, 4, 3, 10, spread, missing, seed);
            let alg = if forest { small_forest() } else { Algorithm::Tree(TreeParams::default()) };
            let b = ModelBundle::new(d.classes().to_vec(), feature_set(4), alg.fit(&d).unwrap(), Timestamp::EPOCH, "prop");
            let c = ModelBundle::from_bytes(&b.to_bytes().unwrap()).unwrap();
            prop_assert_eq!(c.model.predict_dataset(&d), b.model.predict_dataset(&d));
            let probe = [None, Some(spread), None, Some(-spread)];
            prop_assert_eq!(c.model.predict(&probe), b.model.predict(&probe));
        }

        /// Mutated content behind a right checksum (what a buggy writer, not
        /// a flipped bit, would produce) decodes to an error or to a model
        /// that predicts without panicking.
        #[test]
        fn mutated_content_never_panics(pos in 0usize..100_000, x in 1u8..=255, cut in any::<bool>(), forest in any::<bool>()) {
            let good = if forest { forest_blob() } else { blob() };
            let mut content = decompress(&good[HEADER..good.len() - TRAILER]).unwrap();
            let pos = pos % content.len();
            if cut {
                content.truncate(pos);
            } else {
                content[pos] ^= x;
            }
            let payload = compress(&content).unwrap();
            let mut b = good[..HEADER].to_vec();
            b[10..18].copy_from_slice(&(payload.len() as u64).to_le_bytes());
            b.extend_from_slice(&payload);
            b.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            if let Ok(m) = ModelBundle::from_bytes(&b) {
                let d = data();
                for p in m.model.predict_dataset(&d) {
                    prop_assert!(p.class < m.classes.len());
                }
                prop_assert!(m.model.predict(&[None, Some(1.0)]).class < m.classes.len());
            }
        }

        #[test]
        fn single_byte_mutations_are_rejected(pos in 0usize..100_000, x in 1u8..=255) {
            let mut bad = blob().to_vec();
            let pos = pos % bad.len();
            bad[pos] ^= x;
            prop_assert!(ModelBundle::from_bytes(&bad).is_err());
        }
    }
}

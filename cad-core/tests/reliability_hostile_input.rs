//! Hostile and broken input: model bundles, ARFF and CSV files made of random
//! bytes or mutated from valid ones must give an error, never a panic, and a
//! length field claiming `u64::MAX` must not be allocated.
//!
//! Related properties elsewhere: InfluxQL string literals cannot be escaped
//! (`cad-influx/src/influxql.rs`, the `proptest!` block in its tests), and
//! negative, NaN, huge or out-of-order metric values give finite features
//! (`cad-core/src/features/tests.rs`, its `proptest!` block).
#![cfg(feature = "io")]

use cad_core::bundle::ModelBundle;
use cad_core::io::{arff, csv};
use cad_core::model::Algorithm;
use cad_core::{Dataset, FeatureSet, Timestamp};
use proptest::prelude::*;
use std::sync::OnceLock;

const CASES: u32 = 2000;

/// A real, valid bundle: a tree fitted on a small data set over the legacy columns.
fn valid_blob() -> &'static [u8] {
    static BLOB: OnceLock<Vec<u8>> = OnceLock::new();
    BLOB.get_or_init(|| {
        let features = FeatureSet::legacy();
        let classes: Vec<String> = ["mysql", "nginx", "apache"].iter().map(|s| s.to_string()).collect();
        let mut d = Dataset::new(features.column_names(), classes.clone());
        for i in 0..60 {
            let c = i % 3;
            let row: Vec<Option<f64>> = (0..features.columns.len())
                .map(|j| Some((c * 100 + j) as f64 + (i as f64) * 0.01))
                .collect();
            d.push(&row, &classes[c], &format!("pod-{}", i % 12)).expect("row fits");
        }
        let model = Algorithm::default().fit(&d).expect("fit");
        ModelBundle::new(classes, features, model, Timestamp::from_secs(1_700_000_000), "test")
            .to_bytes()
            .expect("encode")
    })
}

#[test]
fn the_valid_blob_decodes() {
    let b = ModelBundle::from_bytes(valid_blob()).expect("valid");
    assert_eq!(b.classes.len(), 3);
    // The in-test CRC matches the trailer, so the checksum-fixing mutations reach postcard.
    let blob = valid_blob();
    let n = blob.len();
    assert_eq!(crc32(&blob[18..n - 4]).to_le_bytes(), blob[n - 4..]);
}

#[test]
fn a_length_field_of_u64_max_is_refused_without_allocating_it() {
    let mut blob = valid_blob().to_vec();
    // Header: 8 magic bytes, 2 version bytes, 8 length bytes.
    blob[10..18].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = ModelBundle::from_bytes(&blob).expect_err("refused");
    println!("u64::MAX length: {err}");
    // Also with a huge length and nothing after the header.
    let err = ModelBundle::from_bytes(&blob[..18]).expect_err("refused");
    println!("u64::MAX length, header only: {err}");
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let len = valid_blob().len();
    prop_oneof![
        // Flip bytes.
        proptest::collection::vec((0..len, any::<u8>()), 1..8).prop_map(|edits| {
            let mut b = valid_blob().to_vec();
            for (i, v) in edits {
                b[i] = v;
            }
            b
        }),
        // Cut it.
        (0..len).prop_map(|n| valid_blob()[..n].to_vec()),
        // Append garbage.
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|tail| {
            let mut b = valid_blob().to_vec();
            b.extend(tail);
            b
        }),
        // Flip payload bytes and fix the checksum, so postcard decoding itself is attacked.
        proptest::collection::vec((18..len - 4, any::<u8>()), 1..8).prop_map(move |edits| {
            let mut b = valid_blob().to_vec();
            for (i, v) in edits {
                b[i] = v;
            }
            let crc = crc32(&b[18..len - 4]);
            b[len - 4..].copy_from_slice(&crc.to_le_bytes());
            b
        }),
    ]
}

/// CRC-32 (IEEE), as the bundle trailer uses; hand-written to keep this test's
/// dependencies to what cad-core already has for tests.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn random_bytes_never_panic_the_bundle_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ModelBundle::from_bytes(&bytes);
    }

    #[test]
    fn random_text_never_panics_the_base64_decoder(text in ".{0,256}") {
        let _ = ModelBundle::from_base64(&text);
    }

    #[test]
    fn mutated_bundles_give_an_error_or_a_checked_bundle(bytes in mutated()) {
        if let Ok(b) = ModelBundle::from_bytes(&bytes) {
            // Whatever decodes passed the consistency check.
            prop_assert!(b.check().is_ok());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_arff_reader(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = arff::read(&bytes[..]);
    }

    #[test]
    fn arff_like_text_never_panics_the_arff_reader(
        text in "(@relation [a-z]{1,5}\n)?(@attribute [a-z']{1,5} (numeric|real|string|\\{[a-z,]{0,9}\\})\n){0,5}(@data\n)?([-0-9.?,'\"%{}a-z]{0,20}\n){0,6}"
    ) {
        let _ = arff::read(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_csv_reader(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = csv::read(&bytes[..]);
    }

    #[test]
    fn csv_like_text_never_panics_the_csv_reader(text in "([a-z_()]{0,8}(,[a-z_()]{0,8}){0,4}\n)([-0-9.e,\"a-zNA]{0,20}\n){0,8}") {
        let _ = csv::read(text.as_bytes());
    }
}

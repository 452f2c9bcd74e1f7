//! The demo model shipped in deploy/ must decode with this version of cad.

use cad_core::bundle::ModelBundle;

#[test]
fn the_shipped_demo_model_decodes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/base/model-configmap.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/base/model-configmap.yaml is part of the repository");
    let b64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("model.cadm:"))
        .expect("binaryData has model.cadm (regenerate with scripts/demo-model.sh)");
    let bundle = ModelBundle::from_base64(b64).expect("the demo model decodes (regenerate with scripts/demo-model.sh)");
    assert_eq!(bundle.feature_set.name, "behaviour");
    assert_eq!(bundle.classes.len(), 5);
    assert!(bundle.trained_on.contains("simulated"));
}

//! The README shows this example's output (section "Writing your own metric
//! adapter"):
//! every line the example prints is there, so the excerpt cannot go stale
//! again unnoticed.

#[test]
fn the_readme_shows_what_the_example_prints() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cad-adapter-example"))
        .output()
        .expect("run the example");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).expect("UTF-8 output");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    let excerpt: Vec<&str> = readme.lines().collect();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 5, "{printed}");
    // The two verdicts come at the same poll, in either order.
    for line in lines {
        assert!(excerpt.contains(&line), "README.md lacks the example's line:\n{line}");
    }
}

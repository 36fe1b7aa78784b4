//! The committed SDL in `schema/` is what the code serves, and `nexus compose` reproduces the
//! committed supergraph byte for byte.

use std::path::Path;
use std::process::Command;

use nexus::core_subgraphs::CORE_SUBGRAPHS;

const REGENERATE: &str = "regenerate with `cargo run -- export-schema && cargo run -- compose`";

#[test]
fn committed_subgraph_sdl_matches_the_code() {
    for core in &CORE_SUBGRAPHS {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schema/{}.graphql", core.name));
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}; {REGENERATE}", path.display()));
        assert!(
            committed == (core.sdl)(),
            "schema/{}.graphql is out of date with the {} subgraph's code: {REGENERATE}",
            core.name,
            core.name
        );
    }
}

#[test]
fn committed_manifest_schema_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/manifest.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == nexus::commands::manifest_schema(),
        "schema/manifest.schema.json is out of date: {REGENERATE}"
    );
}

#[test]
fn nexus_compose_reproduces_the_committed_supergraph() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new(env!("CARGO_BIN_EXE_nexus"))
        .current_dir(root)
        .args([
            "compose",
            "--supergraph-config",
            "supergraph.yaml",
            "--output",
            "-",
        ])
        .output()
        .expect("nexus runs");
    assert!(
        output.status.success(),
        "nexus compose failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = std::fs::read_to_string(Path::new(root).join("schema/supergraph.graphql"))
        .expect("schema/supergraph.graphql is committed");
    assert!(
        String::from_utf8_lossy(&output.stdout) == committed,
        "schema/supergraph.graphql is out of date: {REGENERATE}"
    );
}

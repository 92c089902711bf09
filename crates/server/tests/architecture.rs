//! The crate map of ../shared/design/ARCHITECTURE.md, enforced: an internal dependency that the
//! table does not allow fails here (normal dependencies only; dev-dependencies are free).
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// crate → the internal crates it may depend on.
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let t: &[(&str, &[&str])] = &[
        ("berth-cli", &["berth-api"]),
        ("berth-server", &["berth-daemon", "berth-api"]),
        (
            "berth-daemon",
            &[
                "berth-api",
                "berth-image",
                "berth-builder",
                "berth-net",
                "berth-shim",
            ],
        ),
        // The .dockerignore matcher lives in api: the client filters the context with it too.
        ("berth-builder", &["berth-image", "berth-api"]),
        ("berth-shim", &["berth-runtime"]),
        ("berth-api", &[]),
        ("berth-image", &[]),
        ("berth-net", &[]),
        // cgroups is the runtime's own module split out as a crate (docs/DESIGN-NOTES.md).
        ("berth-runtime", &["berth-cgroups"]),
        ("berth-cgroups", &[]),
    ];
    t.iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect()
}

#[test]
fn internal_dependencies_follow_the_crate_map() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let map = allowed();
    let members: BTreeSet<String> = v["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    let mut bad = Vec::new();
    for p in v["packages"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        let Some(ok) = map.get(name) else {
            bad.push(format!(
                "{name}: not in the crate map (add it to ARCHITECTURE.md and here)"
            ));
            continue;
        };
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dn = d["name"].as_str().unwrap_or_default();
            let normal = d["kind"].is_null();
            if normal && members.contains(dn) && !ok.contains(dn) {
                bad.push(format!("{name} depends on {dn}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "internal dependencies outside the map: {bad:?}"
    );
}

//! Shared by the integration tests (`mod support;` in each test file).
//!
//! External tools (the SAF CLI, validators, …) are installed by
//! `scripts/setup` into `$KSCAN_CACHE/bin`; the testbed writes its admin
//! kubeconfig to a known path. A test that needs either and does not find it
//! fails with a message saying how to get it: tests never skip themselves.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$KSCAN_CACHE`, default `~/.cache/kscan`.
pub fn cache() -> PathBuf {
    std::env::var_os("KSCAN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/kscan"))
}

/// An external tool installed by `scripts/setup`.
pub fn tool(name: &str) -> PathBuf {
    let path = cache().join("bin").join(name);
    assert!(path.exists(), "{} is missing: run `scripts/setup` (or `make test`) first", path.display());
    path
}

/// A `Command` for the kscan binary under test.
/// The variables kscan detects its CI platform from are removed, so that the
/// suite behaves the same inside any CI system; tests of that detection set
/// them again.
pub fn kscan() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kscan"));
    for var in ["GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "CODEBUILD_BUILD_ID", "KSCAN_CI"] {
        cmd.env_remove(var);
    }
    cmd
}

/// The testbed's admin kubeconfig (`KSCAN_TESTBED_KUBECONFIG` overrides).
pub fn testbed_kubeconfig() -> PathBuf {
    let path = std::env::var_os("KSCAN_TESTBED_KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("testbed/run/admin.kubeconfig"));
    assert!(path.exists(), "{} is missing: bring the testbed up with `tests/testbed/testbed up`", path.display());
    path
}
pub mod cluster;
pub mod postgres;
pub mod rng;
pub mod validators;

/// The paths the failed results of control `id` in the HDF `doc` name after
/// "...: " (comma-separated; a kind in parentheses after a path is left off).
pub fn named_paths(doc: &serde_json::Value, id: &str) -> std::collections::BTreeSet<String> {
    let controls = doc["profiles"][0]["controls"].as_array().expect("HDF controls");
    let control = controls.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no control {id}"));
    let mut paths = std::collections::BTreeSet::new();
    for r in control["results"].as_array().unwrap() {
        if r["status"] == "failed" {
            let message = r["message"].as_str().unwrap();
            let (_, list) = message.split_once(": ").unwrap_or_else(|| panic!("{id}: {message}"));
            paths.extend(list.split(", ").map(|p| p.split(" (").next().unwrap().to_owned()));
        }
    }
    paths
}

//! The built-in engine: the container baseline written in Rust. It needs no
//! Ruby and no shell in the target when it runs on a root path, and writes
//! the same HDF an InSpec run of `profiles/container-baseline` would.

#[macro_use]
mod outcome;
pub mod checks;
pub mod facts;
pub mod runtime;

use std::time::Instant;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::hdf::{Control, Description, Execution, Platform, Profile, SourceLocation, Statistics};
use crate::probe::Probe;
use crate::spec::PodSpecFacts;
use checks::Check;
use facts::{os_release_fields, Facts};

/// Name of the profile the engine reports.
pub const PROFILE_NAME: &str = "kscan-container-baseline";

/// The InSpec profile's control files, to point each control's
/// `source_location` at the same control in Ruby.
const PROFILE_FILES: &[(&str, &str)] = &[
    ("accounts.rb", include_str!("../../../../profiles/container-baseline/controls/accounts.rb")),
    ("filesystem.rb", include_str!("../../../../profiles/container-baseline/controls/filesystem.rb")),
    ("image.rb", include_str!("../../../../profiles/container-baseline/controls/image.rb")),
    ("processes.rb", include_str!("../../../../profiles/container-baseline/controls/processes.rb")),
    ("runtime.rb", include_str!("../../../../profiles/container-baseline/controls/runtime.rb")),
];

/// Every control of the baseline, in report order: the image and process
/// checks, then the runtime-observed ones.
pub fn all_checks() -> impl Iterator<Item = &'static Check> {
    checks::CHECKS.iter().chain(runtime::CHECKS)
}

/// Run every check against `probe`. `platform_extra` is merged into the HDF
/// `platform` (the strategy records what ran and why there); `spec` is what
/// the target's pod spec asks for, when the engine read it.
pub async fn run(
    probe: &dyn Probe,
    platform_extra: Map<String, Value>,
    spec: Option<PodSpecFacts>,
) -> Result<Execution> {
    let clock = Instant::now();
    let facts = Facts::gather(probe, spec).await?;
    let controls = all_checks().map(|check| control(check, &facts)).collect();
    let (name, release) = platform_name(&facts);
    let mut extra = platform_extra;
    extra.entry(crate::protocol::platform::ENGINE).or_insert_with(|| json!("builtin"));
    Ok(Execution {
        platform: Platform { name, release, target_id: Some(probe.target_id()), extra },
        profiles: vec![profile(controls)],
        statistics: Statistics { duration: Some(clock.elapsed().as_secs_f64()), extra: Map::new() },
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

fn platform_name(facts: &Facts) -> (String, String) {
    let fields = facts
        .os_release
        .value
        .as_ref()
        .ok()
        .and_then(|f| f.contents.as_ref())
        .map(|c| os_release_fields(&String::from_utf8_lossy(c)))
        .unwrap_or_default();
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    (get("ID").unwrap_or_else(|| "unknown".into()), get("VERSION_ID").unwrap_or_default())
}

fn profile(controls: Vec<Control>) -> Profile {
    Profile {
        name: PROFILE_NAME.to_owned(),
        title: Some("kscan container baseline".into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        summary: Some(
            "Baseline checks of a running container: accounts, processes, capabilities, filesystem, image contents"
                .into(),
        ),
        sha256: checks_digest(),
        supports: vec![json!({"platform-family": "linux"})],
        attributes: Vec::new(),
        groups: PROFILE_FILES
            .iter()
            .map(|(file, _)| {
                let ids: Vec<&str> = all_checks().filter(|c| c.file == *file).map(|c| c.id).collect();
                json!({"id": format!("controls/{file}"), "controls": ids})
            })
            .collect(),
        controls,
        parent_profile: None,
        depends: Vec::new(),
        status: Some("loaded".into()),
        status_message: None,
        extra: Map::new(),
    }
}

fn control(check: &Check, facts: &Facts) -> Control {
    let mut tags = Map::new();
    tags.insert("nist".into(), json!(check.nist));
    tags.insert("severity".into(), json!(crate::hdf::Severity::from_impact(check.impact).key()));
    for (tag, reference) in check.sources {
        let list = tags.entry(*tag).or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut() {
            list.push(json!(reference));
        }
    }
    Control {
        id: check.id.to_owned(),
        title: Some(check.title.to_owned()),
        desc: Some(check.desc.to_owned()),
        descriptions: vec![
            Description { label: "default".into(), data: check.desc.into() },
            Description { label: "check".into(), data: check.check.into() },
            Description { label: "fix".into(), data: check.fix.into() },
        ],
        impact: check.impact,
        refs: Vec::new(),
        tags,
        code: None,
        source_location: SourceLocation {
            reference: Some(format!("profiles/container-baseline/controls/{}", check.file)),
            line: control_line(check),
        },
        waiver_data: None,
        attestation_data: None,
        results: Some((check.run)(facts)),
    }
}

/// Line of `control 'ID'` in the check's InSpec file.
pub fn control_line(check: &Check) -> Option<u64> {
    let (_, text) = PROFILE_FILES.iter().find(|(f, _)| *f == check.file)?;
    let needle = format!("control '{}'", check.id);
    text.lines().position(|l| l.trim_start().starts_with(&needle)).map(|i| i as u64 + 1)
}

fn checks_digest() -> String {
    let mut h = Sha256::new();
    for c in all_checks() {
        h.update(c.id.as_bytes());
        h.update(c.impact.to_le_bytes());
        h.update(c.title.as_bytes());
    }
    format!("{:x}", h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_its_inspec_twin() {
        for check in all_checks() {
            let line = control_line(check);
            assert!(line.is_some(), "{} is missing from profiles/container-baseline/controls/{}", check.id, check.file);
            let (_, text) = PROFILE_FILES.iter().find(|(f, _)| *f == check.file).unwrap();
            let block: String = text.lines().skip(line.unwrap() as usize - 1).take(8).collect::<Vec<_>>().join("\n");
            assert!(
                block.contains(&format!("impact {}", check.impact)),
                "{}: impact differs in Ruby:\n{block}",
                check.id
            );
            assert!(
                block.contains(&format!("title \"{}\"", check.title)),
                "{}: title differs in Ruby:\n{block}",
                check.id
            );
        }
        let ruby_ids: usize = PROFILE_FILES.iter().map(|(_, t)| t.matches("\ncontrol '").count()).sum();
        assert_eq!(ruby_ids, all_checks().count(), "the Ruby profile has controls the Rust engine lacks");
    }
}

//! Reading results files (or stdin) into evaluated [`ResultSet`]s.
//!
//! A file is read whole and parsed with `serde_json::from_slice`, the fastest
//! path serde offers; peak memory is the file plus the model, which leaves out
//! each control's `code`. Anything that is not a usable exec JSON document is
//! an input error naming the file and the problem: invalid JSON, a missing
//! required key, a control without `results`, an unknown result status, no
//! profiles, or profiles that wrap each other.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::counts::Counts;
use super::evaluate::{evaluate, EvaluatedControl, EvaluatedProfile};
use super::model::{Control, Execution, Profile, ResultStatus};
use crate::error::{Error, Result};

/// Where results come from: a file, or standard input (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file path.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Source {
    /// `-` means stdin; anything else is a path.
    pub fn parse(arg: &str) -> Self {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(arg))
        }
    }

    /// How the source is named in messages.
    pub fn display(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Stdin => "<stdin>".to_owned(),
        }
    }

    /// The file's base name, as SAF lists it in `resultSets`.
    pub fn base_name(&self) -> String {
        match self {
            Source::File(p) => {
                p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
            }
            Source::Stdin => "stdin".to_owned(),
        }
    }

    fn read(&self) -> Result<Vec<u8>> {
        match self {
            Source::File(p) => std::fs::read(p).map_err(|e| Error::read_file(p, e)),
            Source::Stdin => {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf).map_err(|e| Error::read_file(Path::new("<stdin>"), e))?;
                Ok(buf)
            }
        }
    }
}

/// One results document, parsed and evaluated.
#[derive(Debug, Clone)]
pub struct ResultSet {
    /// Where it came from.
    pub source: Source,
    /// The document.
    pub execution: Execution,
    /// The profiles that count, with their evaluated controls.
    pub profiles: Vec<EvaluatedProfile>,
}

impl ResultSet {
    /// Build from a document already in memory (engines use this).
    pub fn new(source: Source, execution: Execution) -> Result<Self> {
        validate(&execution).map_err(|e| e.context(source.display()))?;
        let profiles = evaluate(&execution);
        Ok(ResultSet { source, execution, profiles })
    }

    /// Parse `bytes` as exec JSON.
    pub fn from_slice(source: Source, bytes: &[u8]) -> Result<Self> {
        let execution: Execution = serde_json::from_slice(bytes).map_err(|e| {
            let what = if e.is_syntax() || e.is_eof() { "is not valid JSON" } else { "is not InSpec exec JSON (HDF)" };
            Error::input(format!("{} {what}: {e}", source.display()))
        })?;
        ResultSet::new(source, execution)
    }

    /// Read and parse one source.
    pub fn load(source: Source) -> Result<Self> {
        let bytes = source.read()?;
        ResultSet::from_slice(source, &bytes)
    }

    /// Read and parse every source, failing on the first bad one.
    pub fn load_all(sources: impl IntoIterator<Item = Source>) -> Result<Vec<Self>> {
        sources.into_iter().map(ResultSet::load).collect()
    }

    /// The profile an evaluated profile refers to.
    pub fn profile(&self, p: &EvaluatedProfile) -> &Profile {
        &self.execution.profiles[p.profile]
    }

    /// The control whose id is reported.
    pub fn control(&self, c: &EvaluatedControl) -> &Control {
        &self.execution.profiles[c.profile].controls[c.control]
    }

    /// The copy whose data counts (differs from [`Self::control`] for overlays).
    pub fn data(&self, c: &EvaluatedControl) -> &Control {
        &self.execution.profiles[c.data_profile].controls[c.data_control]
    }

    /// Every counted control of every top profile.
    pub fn controls(&self) -> impl Iterator<Item = &EvaluatedControl> {
        self.profiles.iter().flat_map(|p| p.controls.iter())
    }

    /// Counts over every counted control.
    pub fn counts(&self) -> Counts {
        Counts::of(self.controls())
    }
}

/// Counts over several result sets.
pub fn total_counts(sets: &[ResultSet]) -> Counts {
    let mut total = Counts::default();
    for s in sets {
        total.merge(&s.counts());
    }
    total
}

fn validate(execution: &Execution) -> Result<()> {
    if execution.profiles.is_empty() {
        return Err(Error::input("has no profiles: nothing was scanned"));
    }
    for profile in &execution.profiles {
        for control in &profile.controls {
            let Some(results) = &control.results else {
                return Err(Error::input(format!(
                    "control {:?} of profile {:?} has no `results`: this is a profile (inspec json), not scan results (inspec exec --reporter json)",
                    control.id, profile.name
                )));
            };
            if let Some(bad) = results.iter().find_map(|r| match &r.status {
                Some(ResultStatus::Unknown(s)) => Some(s),
                _ => None,
            }) {
                return Err(Error::input(format!(
                    "control {:?} of profile {:?} has a result with unknown status {bad:?} (expected passed, failed, skipped or error)",
                    control.id, profile.name
                )));
            }
        }
    }
    check_parent_cycles(&execution.profiles)
}

fn check_parent_cycles(profiles: &[Profile]) -> Result<()> {
    let parent_of = |i: usize| {
        profiles[i]
            .parent_profile
            .as_ref()
            .and_then(|name| profiles.iter().position(|q| &q.name == name))
            .filter(|&p| p != i)
    };
    for start in 0..profiles.len() {
        let mut current = start;
        for _ in 0..profiles.len() {
            match parent_of(current) {
                Some(p) => current = p,
                None => break,
            }
        }
        if parent_of(current).is_some() {
            return Err(Error::input(format!(
                "profile {:?} is in a cycle of `parent_profile` links: no profile wraps the others",
                profiles[start].name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn load(text: &str) -> Result<ResultSet> {
        ResultSet::from_slice(Source::File("t.json".into()), text.as_bytes())
    }

    #[test]
    fn bad_documents_are_input_errors_naming_the_problem() {
        let cases = [
            ("{", "t.json is not valid JSON"),
            ("[]", "t.json is not InSpec exec JSON"),
            (r#"{"platform":{},"profiles":[]}"#, "has no profiles"),
            (r#"{"platform":{},"profiles":[{"name":"p","controls":[{"id":"c1"}]}]}"#, "missing field `impact`"),
            (
                r#"{"platform":{},"profiles":[{"name":"p","controls":[{"id":"c1","impact":0.5}]}]}"#,
                "\"c1\" of profile \"p\" has no `results`",
            ),
            (
                r#"{"platform":{},"profiles":[{"name":"p","controls":[{"id":"c1","impact":0.5,"results":[{"status":"pased","code_desc":""}]}]}]}"#,
                "\"c1\" of profile \"p\" has a result with unknown status \"pased\"",
            ),
            (
                r#"{"platform":{},"profiles":[{"name":"a","parent_profile":"b","controls":[]},{"name":"b","parent_profile":"a","controls":[]}]}"#,
                "cycle of `parent_profile`",
            ),
        ];
        for (text, want) in cases {
            let err = load(text).expect_err(text);
            assert_eq!(err.kind(), Kind::Input);
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = ResultSet::load(Source::parse("/nonexistent/r.json")).unwrap_err();
        assert_eq!(err.kind(), Kind::Input);
        assert!(err.to_string().contains("/nonexistent/r.json"), "{err}");
    }
}

//! Writing a threshold file from results, as `saf generate threshold` does:
//! the same keys, in the same order, in the same YAML layout.
//!
//! - `compliance.min` is the current compliance (`max` too with `exact`);
//! - per severity (critical … low, and none for `no_impact`) and status:
//!   `passed.<sev>.min` and `<other>.<sev>.max` set to the current count
//!   (both bounds everywhere with `exact`);
//! - `passed.total.min`, then `failed`, `skipped`, `error`, `no_impact`
//!   `.total.max` (also with `exact`, as SAF does);
//! - with `controls`, `<status>.<severity>.controls` lists the ids of every
//!   non-empty bucket, in document order, each id once.
//!
//! Counts are merged over every file and every top profile, as the gate
//! counts them, so a generated file always passes on its own results.

use crate::hdf::{total_counts, ControlStatus, ResultSet, Severity};

/// What to put in a generated threshold file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Both `min` and `max` for compliance and every severity count (`saf -e`).
    pub exact: bool,
    /// `controls` lists per status and severity (`saf -c`).
    pub controls: bool,
}

/// An ordered YAML tree: keys keep their first insertion position, as
/// lodash `_.set` does on a JavaScript object.
#[derive(Debug, Default)]
struct Map(Vec<(String, Node)>);

#[derive(Debug)]
enum Node {
    Number(u64),
    Ids(Vec<String>),
    Map(Map),
}

impl Map {
    fn entry(&mut self, key: &str, default: impl FnOnce() -> Node) -> &mut Node {
        let pos = match self.0.iter().position(|(k, _)| k == key) {
            Some(p) => p,
            None => {
                self.0.push((key.to_owned(), default()));
                self.0.len() - 1
            }
        };
        &mut self.0[pos].1
    }

    /// The mapping at `path`, created where missing.
    fn map_at(&mut self, path: &[&str]) -> &mut Map {
        let mut map = self;
        for key in path {
            let node = map.entry(key, || Node::Map(Map::default()));
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Map::default());
            }
            let Node::Map(m) = node else { unreachable!("just made a map") };
            map = m;
        }
        map
    }

    fn set(&mut self, path: &[&str], value: u64) {
        let (last, parents) = path.split_last().expect("a non-empty path");
        *self.map_at(parents).entry(last, || Node::Number(0)) = Node::Number(value);
    }

    fn push_id(&mut self, path: &[&str], id: &str) {
        let (last, parents) = path.split_last().expect("a non-empty path");
        let node = self.map_at(parents).entry(last, || Node::Ids(Vec::new()));
        if let Node::Ids(ids) = node {
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_owned());
            }
        }
    }

    fn write(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        for (key, node) in &self.0 {
            match node {
                Node::Number(n) => out.push_str(&format!("{pad}{key}: {n}\n")),
                Node::Ids(ids) if ids.is_empty() => out.push_str(&format!("{pad}{key}: []\n")),
                Node::Ids(ids) => {
                    out.push_str(&format!("{pad}{key}:\n"));
                    for id in ids {
                        out.push_str(&format!("{pad}  - {}\n", yaml_string(id)));
                    }
                }
                Node::Map(m) => {
                    out.push_str(&format!("{pad}{key}:\n"));
                    m.write(indent + 2, out);
                }
            }
        }
    }
}

/// `id` as a YAML scalar: plain when it reads back as the same string,
/// else double-quoted.
fn yaml_string(id: &str) -> String {
    let plain_chars = id.chars().all(|c| c.is_ascii_alphanumeric() || "-_./()".contains(c));
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let reads_back =
        || serde_yaml::from_str::<serde_yaml::Value>(id).ok() == Some(serde_yaml::Value::String(id.into()));
    if plain_chars && first_ok && reads_back() {
        id.to_owned()
    } else {
        serde_json::to_string(id).expect("a string encodes")
    }
}

/// The statuses SAF lists under a severity: all five, or `no_impact` only for `none`.
fn statuses_of(severity: Severity) -> &'static [ControlStatus] {
    if severity == Severity::None {
        &[ControlStatus::NotApplicable]
    } else {
        &ControlStatus::ALL
    }
}

/// A threshold file (YAML text) that the results in `sets` meet.
pub fn generate(sets: &[ResultSet], options: GenerateOptions) -> String {
    let counts = total_counts(sets);
    let mut doc = Map::default();
    let compliance = u64::from(counts.compliance());
    doc.set(&["compliance", "min"], compliance);
    if options.exact {
        doc.set(&["compliance", "max"], compliance);
    }
    for severity in Severity::ALL {
        for &status in statuses_of(severity) {
            let n = counts.get(status, severity);
            let passed = status == ControlStatus::Passed;
            if passed || options.exact {
                doc.set(&[status.key(), severity.key(), "min"], n);
            }
            if !passed || options.exact {
                doc.set(&[status.key(), severity.key(), "max"], n);
            }
        }
    }
    doc.set(&["passed", "total", "min"], counts.total(ControlStatus::Passed));
    for status in
        [ControlStatus::Failed, ControlStatus::NotReviewed, ControlStatus::ProfileError, ControlStatus::NotApplicable]
    {
        doc.set(&[status.key(), "total", "max"], counts.total(status));
    }
    if options.controls {
        for set in sets {
            for c in set.controls() {
                doc.push_id(&[c.status.key(), c.severity.key(), "controls"], &set.control(c).id);
            }
        }
    }
    let mut out = String::new();
    doc.write(0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{check, Thresholds};
    use crate::hdf::Source;
    use serde_json::json;

    fn set() -> ResultSet {
        let r = |s: &str| json!([{"status": s, "code_desc": "t", "start_time": ""}]);
        let doc = json!({"platform": {"name": "x", "release": "1"}, "profiles": [{"name": "p", "controls": [
            {"id": "H1", "impact": 0.7, "tags": {}, "results": r("passed")},
            {"id": "1.1", "impact": 0.7, "tags": {}, "results": r("passed")},
            {"id": "F1", "impact": 0.5, "tags": {}, "results": r("failed")},
            {"id": "E0", "impact": 0.0, "tags": {}, "results": r("error")},
            {"id": "N1", "impact": 0.0, "tags": {}, "results": r("passed")}
        ]}]});
        ResultSet::from_slice(Source::File("r.json".into()), doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn layout_and_order_follow_saf() {
        let text = generate(&[set()], GenerateOptions { exact: false, controls: true });
        let top: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
        assert_eq!(top, ["compliance:", "passed:", "failed:", "skipped:", "error:", "no_impact:"]);
        assert!(text.starts_with("compliance:\n  min: 50\npassed:\n  critical:\n    min: 0\n  high:\n    min: 2\n    controls:\n      - H1\n      - \"1.1\"\n  medium:\n"), "{text}");
        assert!(text.contains("error:\n  critical:\n    max: 0\n  high:\n    max: 0\n  medium:\n    max: 0\n  low:\n    max: 0\n  total:\n    max: 1\n  none:\n    controls:\n      - E0\nno_impact:"), "{text}");
        assert!(text.ends_with("  none:\n    max: 1\n    controls:\n      - N1\n  total:\n    max: 1\n"), "{text}");
    }

    #[test]
    fn generated_files_pass_on_their_own_results() {
        for exact in [false, true] {
            for controls in [false, true] {
                let text = generate(&[set()], GenerateOptions { exact, controls });
                let t = Thresholds::parse(&text, "generated").unwrap_or_else(|e| panic!("{e}\n{text}"));
                let v = check(&t, &[set()]);
                assert!(v.passed(), "exact {exact} controls {controls}: {:?}", v.violations);
            }
        }
    }

    #[test]
    fn exact_sets_both_bounds() {
        let text = generate(&[set()], GenerateOptions { exact: true, controls: false });
        assert!(text.starts_with("compliance:\n  min: 50\n  max: 50\npassed:\n  critical:\n    min: 0\n    max: 0\n"));
        assert!(text.contains("  total:\n    min: 2\nfailed:"), "passed.total gets no max, as in SAF: {text}");
    }

    #[test]
    fn ids_are_quoted_only_when_needed() {
        assert_eq!(yaml_string("V-1234"), "V-1234");
        assert_eq!(yaml_string("SV-1_rule"), "SV-1_rule");
        for id in ["1.1", "true", "null", "yes: no", "a b", "#x", ""] {
            let quoted = yaml_string(id);
            assert_eq!(serde_yaml::from_str::<String>(&quoted).unwrap(), id);
        }
        assert_eq!(yaml_string("1.1"), "\"1.1\"");
    }
}

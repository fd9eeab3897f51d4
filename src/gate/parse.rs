//! Reading threshold YAML into rules, strictly.
//!
//! Nested (`failed: {critical: {max: 0}}`) and flat (`failed.critical.max: 0`)
//! keys are the same thing here: every key is split on `.` and walked through
//! one grammar, so any mix of the two forms works and every key counts.
//! Anything the grammar does not know is an error naming the key path, never
//! ignored: unknown keys, `null` values, quoted or negative or fractional
//! numbers, a scalar `compliance`, duplicate control ids, a key given twice,
//! a `min` above its `max`, a file with no rules at all.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::rules::{Bound, Rule, RuleKey, Scope};
use crate::error::{Error, Result};
use crate::hdf::{ControlStatus, Severity};

/// Where a key path has got to in the grammar.
#[derive(Debug, Clone, Copy)]
enum Level {
    Root,
    Compliance,
    Status(ControlStatus),
    Total(ControlStatus),
    Severity(ControlStatus, Severity),
    /// A key that takes a value, not further keys.
    Leaf(LeafKind),
}

#[derive(Debug, Clone, Copy)]
enum LeafKind {
    Compliance(Bound),
    Count(ControlStatus, Scope, Bound),
    Controls(ControlStatus, Severity),
}

const STATUS_KEYS: [&str; 5] = ["passed", "failed", "skipped", "error", "no_impact"];
const SEVERITY_KEYS: [&str; 5] = ["critical", "high", "medium", "low", "none"];

impl Level {
    /// The keys allowed below this level.
    fn expected(self) -> Vec<&'static str> {
        match self {
            Level::Root => {
                let mut keys = vec!["compliance"];
                keys.extend(STATUS_KEYS);
                keys
            }
            Level::Compliance | Level::Total(_) => vec!["min", "max"],
            Level::Status(_) => {
                let mut keys = vec!["total"];
                keys.extend(SEVERITY_KEYS);
                keys
            }
            Level::Severity(..) => vec!["min", "max", "controls"],
            Level::Leaf(_) => Vec::new(),
        }
    }

    /// The level below this one for key `seg`, if the grammar has it.
    fn child(self, seg: &str) -> Option<Level> {
        let bound = match seg {
            "min" => Some(Bound::Min),
            "max" => Some(Bound::Max),
            _ => None,
        };
        match self {
            Level::Root if seg == "compliance" => Some(Level::Compliance),
            Level::Root => ControlStatus::from_key(seg).map(Level::Status),
            Level::Compliance => bound.map(|b| Level::Leaf(LeafKind::Compliance(b))),
            Level::Status(s) if seg == "total" => Some(Level::Total(s)),
            Level::Status(s) => severity_key(seg).map(|sev| Level::Severity(s, sev)),
            Level::Total(s) => bound.map(|b| Level::Leaf(LeafKind::Count(s, Scope::Total, b))),
            Level::Severity(s, sev) if seg == "controls" => Some(Level::Leaf(LeafKind::Controls(s, sev))),
            Level::Severity(s, sev) => bound.map(|b| Level::Leaf(LeafKind::Count(s, Scope::Severity(sev), b))),
            Level::Leaf(_) => None,
        }
    }
}

/// Severity keys are lower-case only (`HIGH` is a typo, not a severity).
fn severity_key(seg: &str) -> Option<Severity> {
    Severity::ALL.into_iter().find(|s| s.key() == seg)
}

/// Parse threshold YAML into rules keyed in SAF's order. `origin` prefixes errors.
pub fn parse_rules(text: &str, origin: &str) -> Result<BTreeMap<RuleKey, Rule>> {
    let fail = |msg: String| Error::input(format!("threshold file {origin}: {msg}"));
    let doc: Value = serde_yaml::from_str(text).map_err(|e| fail(format!("is not valid YAML: {e}")))?;
    let root = match doc {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(fail("is empty: write rules such as `compliance: {min: 80}` (see thresholds/*.yml)".into()))
        }
        other => return Err(fail(format!("must be a mapping of rules, not {}", describe(&other)))),
    };
    let mut walker = Walker { rules: BTreeMap::new() };
    walker.mapping(&root, Level::Root, "").map_err(fail)?;
    if walker.rules.is_empty() {
        return Err(fail("defines no rules: an empty gate would pass anything".into()));
    }
    check_consistency(&walker.rules).map_err(fail)?;
    Ok(walker.rules)
}

struct Walker {
    rules: BTreeMap<RuleKey, Rule>,
}

impl Walker {
    fn mapping(&mut self, map: &serde_yaml::Mapping, level: Level, prefix: &str) -> Result<(), String> {
        for (key, value) in map {
            let Value::String(key) = key else {
                return Err(format!("key {} {} is not a string", describe(key), where_(prefix)));
            };
            let mut level = level;
            let mut path = prefix.to_owned();
            for seg in key.split('.') {
                if seg.is_empty() {
                    return Err(format!("key `{key}` has an empty part (two dots, or a dot at an end)"));
                }
                let next = level.child(seg).ok_or_else(|| unknown_key(level, &path, seg))?;
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(seg);
                level = next;
            }
            self.value(value, level, &path)?;
        }
        Ok(())
    }

    fn value(&mut self, value: &Value, level: Level, path: &str) -> Result<(), String> {
        if let Value::Mapping(m) = value {
            return match level {
                Level::Leaf(_) => Err(format!("`{path}` takes a value, not a mapping")),
                _ => self.mapping(m, level, path),
            };
        }
        if value.is_null() {
            return Err(format!("`{path}` has no value (null): give a number, or remove the key"));
        }
        let rule = match level {
            Level::Leaf(LeafKind::Compliance(b)) => {
                let n = count(value, path)?;
                if n > 100 {
                    return Err(format!("`{path}` is {n}, but compliance is a percentage from 0 to 100"));
                }
                Rule::Compliance(b, n)
            }
            Level::Leaf(LeafKind::Count(s, scope, b)) => Rule::Count(s, scope, b, count(value, path)?),
            Level::Leaf(LeafKind::Controls(s, sev)) => Rule::Controls(s, sev, ids(value, path)?),
            Level::Total(s) => Rule::ExactTotal(s, count(value, path)?),
            Level::Compliance => {
                return Err(format!(
                    "`compliance` must be a mapping such as `compliance: {{min: {0}}}`, not {1} (SAF silently ignores a scalar compliance)",
                    scalar_text(value),
                    describe(value)
                ))
            }
            Level::Root | Level::Status(_) | Level::Severity(..) => {
                return Err(format!(
                    "`{path}` must be a mapping of {}, not {}",
                    level.expected().join(", "),
                    describe(value)
                ))
            }
        };
        let key = rule.key();
        if self.rules.insert(key, rule).is_some() {
            return Err(format!("`{key}` is given twice (nested and flat keys name the same rule)"));
        }
        Ok(())
    }
}

/// A count or percentage: a non-negative whole number, not quoted.
fn count(value: &Value, path: &str) -> Result<u64, String> {
    match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                return Ok(u);
            }
            if n.as_i64().is_some() {
                return Err(format!("`{path}` is {n}: a number of controls cannot be negative"));
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => Ok(f as u64),
                Some(f) if f < 0.0 => Err(format!("`{path}` is {n}: a number of controls cannot be negative")),
                _ => Err(format!("`{path}` is {n}: write a whole number")),
            }
        }
        Value::String(s) => Err(format!("`{path}` is the string {s:?}: write a number without quotes")),
        other => Err(format!("`{path}` must be a whole number, not {}", describe(other))),
    }
}

/// A list of control ids: strings, each once.
fn ids(value: &Value, path: &str) -> Result<Vec<String>, String> {
    let Value::Sequence(items) = value else {
        return Err(format!("`{path}` must be a list of control ids, not {}", describe(value)));
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(id) = item else {
            return Err(format!(
                "`{path}` lists {}: control ids are strings, quote it (\"{}\")",
                describe(item),
                scalar_text(item)
            ));
        };
        if out.contains(id) {
            return Err(format!("`{path}` lists {id:?} twice: each control id once"));
        }
        out.push(id.clone());
    }
    Ok(out)
}

/// Limits that can never all hold are a mistake in the file.
fn check_consistency(rules: &BTreeMap<RuleKey, Rule>) -> Result<(), String> {
    let get = |key: RuleKey| match rules.get(&key) {
        Some(Rule::Compliance(_, n) | Rule::Count(.., n) | Rule::ExactTotal(_, n)) => Some(*n),
        _ => None,
    };
    let mut pairs = vec![(RuleKey::Compliance(Bound::Min), RuleKey::Compliance(Bound::Max))];
    for s in ControlStatus::ALL {
        let scopes = std::iter::once(Scope::Total).chain(Severity::ALL.into_iter().map(Scope::Severity));
        for scope in scopes {
            pairs.push((RuleKey::Count(s, scope, Bound::Min), RuleKey::Count(s, scope, Bound::Max)));
        }
        let exact = RuleKey::ExactTotal(s);
        pairs.push((RuleKey::Count(s, Scope::Total, Bound::Min), exact));
        pairs.push((exact, RuleKey::Count(s, Scope::Total, Bound::Max)));
    }
    for (lo, hi) in pairs {
        if let (Some(a), Some(b)) = (get(lo), get(hi)) {
            if a > b {
                return Err(format!("`{lo}` is {a} but `{hi}` is {b}: no result can satisfy both"));
            }
        }
    }
    Ok(())
}

fn unknown_key(level: Level, path: &str, seg: &str) -> String {
    let full = if path.is_empty() { seg.to_owned() } else { format!("{path}.{seg}") };
    if let Level::Leaf(_) = level {
        return format!("unknown key `{full}`: `{path}` takes a value, not further keys");
    }
    let expected = level.expected();
    let hint = suggestion(seg, &expected).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
    format!("unknown key `{full}`{hint}; expected one of {} {}", expected.join(", "), where_(path))
}

/// "at the top level" or "under `path`".
fn where_(path: &str) -> String {
    if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("under `{path}`")
    }
}

/// The expected key closest to `seg`, if close enough to be a typo.
fn suggestion<'a>(seg: &str, expected: &[&'a str]) -> Option<&'a str> {
    let lower = seg.to_ascii_lowercase();
    expected
        .iter()
        .map(|&k| (edit_distance(&lower, k), k))
        .filter(|&(d, k)| d <= 2.max(k.len() / 4))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        _ => "…".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        parse_rules(text, "t.yml").unwrap().keys().map(ToString::to_string).collect()
    }

    fn err(text: &str) -> String {
        let e = parse_rules(text, "t.yml").expect_err(text);
        assert_eq!(e.kind(), crate::error::Kind::Input);
        e.to_string()
    }

    #[test]
    fn nested_flat_and_mixed_forms_give_the_same_rules() {
        let nested =
            "compliance: {min: 80, max: 100}\nfailed: {critical: {max: 0}, total: {max: 3}}\npassed: {total: 5}";
        let flat =
            "compliance.min: 80\ncompliance.max: 100\nfailed.critical.max: 0\nfailed.total.max: 3\npassed.total: 5";
        let mixed = "compliance.min: 80\ncompliance: {max: 100}\nfailed.critical: {max: 0}\nfailed: {total.max: 3}\npassed: {total: 5}";
        let want = ["compliance.min", "compliance.max", "passed.total", "failed.total.max", "failed.critical.max"];
        for text in [nested, flat, mixed] {
            assert_eq!(keys(text), want, "{text}");
        }
        assert_eq!(parse_rules(nested, "a").unwrap(), parse_rules(mixed, "b").unwrap());
    }

    #[test]
    fn flat_min_and_max_of_one_count_both_survive() {
        assert_eq!(keys("passed.high.min: 1\npassed.high.max: 3"), ["passed.high.min", "passed.high.max"]);
    }

    #[test]
    fn controls_keep_file_order() {
        let rules = parse_rules("passed:\n  high:\n    controls: [B, A]", "t").unwrap();
        let rule = rules.values().next().unwrap();
        assert_eq!(rule, &Rule::Controls(ControlStatus::Passed, Severity::High, vec!["B".into(), "A".into()]));
        assert_eq!(keys("error.low.controls: []"), ["error.low.controls"]);
    }

    #[test]
    fn bad_files_name_the_file_and_the_key() {
        let cases = [
            ("", "t.yml: is empty"),
            ("[1, 2", "t.yml: is not valid YAML"),
            ("- a", "must be a mapping of rules"),
            ("{}", "defines no rules"),
            ("complience: {min: 80}", "unknown key `complience` (did you mean `compliance`?)"),
            ("failed: {totl: {max: 0}}", "unknown key `failed.totl` (did you mean `total`?)"),
            ("failed.totl.max: 0", "unknown key `failed.totl` (did you mean `total`?)"),
            ("passed: {HIGH: {min: 1}}", "unknown key `passed.HIGH` (did you mean `high`?)"),
            ("failed: {critical: {max: 0, maximum: 1}}", "unknown key `failed.critical.maximum`"),
            ("failed.critical.max.x: 1", "unknown key `failed.critical.max.x`: `failed.critical.max` takes a value"),
            ("compliance: 80", "`compliance` must be a mapping such as `compliance: {min: 80}`"),
            ("compliance.min: 101", "`compliance.min` is 101, but compliance is a percentage"),
            ("passed: 5", "`passed` must be a mapping of total, critical"),
            ("passed: {high: 2}", "`passed.high` must be a mapping of min, max, controls"),
            ("failed: {total: {max: null}}", "`failed.total.max` has no value (null)"),
            ("failed:", "`failed` has no value (null)"),
            ("failed: {total: {max: \"0\"}}", "`failed.total.max` is the string \"0\": write a number without quotes"),
            ("failed: {total: \"3\"}", "`failed.total` is the string \"3\""),
            ("failed: {total: {max: -1}}", "`failed.total.max` is -1: a number of controls cannot be negative"),
            ("failed: {total: {max: 1.5}}", "`failed.total.max` is 1.5: write a whole number"),
            ("failed: {total: {max: true}}", "`failed.total.max` must be a whole number, not the boolean true"),
            ("passed: {high: {controls: [H1, H1]}}", "`passed.high.controls` lists \"H1\" twice"),
            ("passed: {high: {controls: [1.1]}}", "control ids are strings, quote it (\"1.1\")"),
            ("passed: {high: {controls: H1}}", "`passed.high.controls` must be a list of control ids"),
            ("failed.total.max: 0\nfailed: {total: {max: 1}}", "`failed.total.max` is given twice"),
            ("passed: {total: {min: 5, max: 3}}", "`passed.total.min` is 5 but `passed.total.max` is 3"),
            ("passed.total: 2\npassed.total.min: 3", "`passed.total.min` is 3 but `passed.total` is 2"),
            ("compliance: {min: 90, max: 80}", "`compliance.min` is 90 but `compliance.max` is 80"),
            ("failed..max: 1", "has an empty part"),
            ("1: {max: 1}", "key the number 1 at the top level is not a string"),
            ("a: 1\na: 2", "is not valid YAML"),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(got.starts_with("threshold file t.yml: "), "{text:?}: {got}");
            assert!(got.contains(want), "{text:?}:\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn whole_floats_are_counts() {
        assert_eq!(keys("failed.total.max: 2.0"), ["failed.total.max"]);
    }

    #[test]
    fn every_status_has_a_none_severity() {
        assert_eq!(keys("error.none.max: 0\nno_impact.none.min: 1"), ["error.none.max", "no_impact.none.min"]);
    }
}

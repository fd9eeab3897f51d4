//! GitHub Actions: workflow-command annotations for the most severe findings,
//! within GitHub's caps, and Markdown for `$GITHUB_STEP_SUMMARY`.
//!
//! GitHub shows at most 10 error, 10 warning and 10 notice annotations per
//! step and 50 per job. Findings are taken most severe first; a finding's
//! level follows its severity (critical/high `error`, medium `warning`,
//! low/none `notice`), and each level keeps its first 10. The rest are
//! counted: the annotations file ends with a plain line saying how many were
//! left out, and the summary says it too.
//!
//! Both files are templates (`github-annotations.txt.j2`,
//! `github-summary.md.j2`) rendered against the usual context plus
//! `github.annotations[]` (`level`, `file`, `line` — `file` is null for
//! synthetic locations, so the annotation attaches to the run — and
//! `control`), `github.omitted` and `github.limit_per_level`. Use them as
//! `cat kscan-github-annotations.txt` in a step and
//! `cat kscan-github-summary.md >> "$GITHUB_STEP_SUMMARY"`.

use std::io::Write;

use minijinja::value::Serde;
use minijinja::Value;
use serde::Serialize;

use super::view::{ControlView, Level};
use super::{context, Report, Templates};
use crate::error::Result;

/// Annotations of one level GitHub shows per step.
pub const PER_LEVEL: usize = 10;
/// GitHub caps a step summary at 1 MiB.
pub const SUMMARY_MAX_BYTES: usize = 1024 * 1024;

/// Template of the annotations.
pub const ANNOTATIONS_TEMPLATE: &str = "github-annotations.txt.j2";
/// Template of the step summary.
pub const SUMMARY_TEMPLATE: &str = "github-summary.md.j2";

/// Escape workflow-command data (the message): `%`, CR, LF.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escape a workflow-command property (`file`, `title`, …): as data, plus
/// `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[derive(Serialize)]
struct Annotation<'a> {
    level: &'static str,
    file: Option<String>,
    line: Option<u64>,
    control: ControlView<'a>,
}

#[derive(Serialize)]
struct GitHub<'a> {
    annotations: Vec<Annotation<'a>>,
    omitted: usize,
    limit_per_level: usize,
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Note => "notice",
    }
}

/// The context of the GitHub templates.
pub fn context(report: &Report) -> Value {
    let mut taken = [0usize; 3];
    let mut annotations = Vec::new();
    // With --only-new a pull request is annotated with what it introduced.
    for view in report.shown_findings() {
        let level = Level::of(view.severity());
        let slot = &mut taken[level as usize];
        if *slot == PER_LEVEL {
            continue;
        }
        *slot += 1;
        let location = view.location();
        let (file, line) = if location.synthetic { (None, None) } else { (Some(location.path), Some(location.line)) };
        annotations.push(Annotation { level: level_name(level), file, line, control: view });
    }
    let omitted = report.shown_findings_len() - annotations.len();
    let github = GitHub { annotations, omitted, limit_per_level: PER_LEVEL };
    context::value_with(report, minijinja::context! { github => Value::from(Serde(github)) })
}

/// Write the annotations.
pub fn write_annotations(report: &Report, templates: &Templates, out: &mut dyn Write) -> Result<()> {
    templates.render_to(ANNOTATIONS_TEMPLATE, context(report), out)
}

/// Write the step summary, cut to GitHub's 1 MiB at a line boundary with a
/// note when it is longer.
pub fn write_summary(report: &Report, templates: &Templates, out: &mut dyn Write) -> Result<()> {
    let text = templates.render(SUMMARY_TEMPLATE, context(report))?;
    let text = cap_summary(text, SUMMARY_MAX_BYTES);
    out.write_all(text.as_bytes()).map_err(|e| crate::Error::input("cannot write the step summary").with_source(e))
}

fn cap_summary(text: String, max: usize) -> String {
    const NOTE: &str = "\n\n_The summary was cut to GitHub's 1 MiB limit; the other reports have everything._\n";
    if text.len() <= max {
        return text;
    }
    let budget = max - NOTE.len();
    let cut = text[..budget].rfind('\n').unwrap_or(0);
    format!("{}{NOTE}", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_actions_toolkit() {
        assert_eq!(escape_data("50% done\r\nnext: a,b"), "50%25 done%0D%0Anext: a,b");
        assert_eq!(escape_property("50% done\r\nnext: a,b"), "50%25 done%0D%0Anext%3A a%2Cb");
    }

    #[test]
    fn long_summaries_are_cut_at_a_line() {
        let text = "line\n".repeat(1000);
        let cut = cap_summary(text.clone(), 2000);
        assert!(cut.len() <= 2000);
        assert!(cut.ends_with("have everything._\n"));
        assert!(cut.starts_with("line\nline\n"));
        assert_eq!(cap_summary(text.clone(), 10_000), text);
    }
}

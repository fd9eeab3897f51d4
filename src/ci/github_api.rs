//! The GitHub REST API through octocrab: one pull-request comment kept up
//! to date (found again by a hidden marker), and a check run whose
//! annotations go in batches of at most 50 per request, as the Checks API
//! requires.
//!
//! The token comes from `GITHUB_TOKEN` and is only handed to octocrab;
//! `GITHUB_API_URL` selects the server (GitHub Enterprise Server:
//! `https://HOST/api/v3`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::outputs::Verdict;
use crate::error::{Error, Result};
use crate::report::{is_finding, Level, Report};

/// The Checks API's limit of annotations per request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// GitHub's limit on a comment's body and a check run's summary, in characters.
pub const BODY_MAX_CHARS: usize = 65_535;

/// `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The owner (user or organisation).
    pub owner: String,
    /// The repository's name.
    pub name: String,
}

impl std::str::FromStr for Repo {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let ok = |p: &str| {
            !p.is_empty() && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        match s.split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) => Ok(Repo { owner: owner.into(), name: name.into() }),
            _ => Err(format!("{s:?} is not OWNER/NAME")),
        }
    }
}

/// A client for one repository.
pub struct GitHub {
    octo: octocrab::Octocrab,
    repo: Repo,
}

fn api_err(what: &str) -> impl Fn(octocrab::Error) -> Error + '_ {
    move |e| {
        let detail = match &e {
            octocrab::Error::GitHub { source, .. } => format!("{} ({})", source.message, source.status_code),
            other => other.to_string(),
        };
        Error::scan(format!("GitHub API: {what} failed: {detail}"))
    }
}

impl GitHub {
    /// A client for `repo` at `api_url` with `token`.
    pub fn new(api_url: &str, token: String, repo: Repo) -> Result<Self> {
        let octo = octocrab::Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| Error::input(format!("GITHUB_API_URL={api_url:?} is not a URL: {e}")))?
            .personal_token(token)
            .build()
            .map_err(|e| Error::input(format!("cannot set up the GitHub client: {e}")))?;
        Ok(GitHub { octo, repo })
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.repo.owner, self.repo.name)
    }

    /// Create the pull request's comment carrying `marker`, or update it
    /// when one exists. Returns (comment id, whether it was created).
    pub async fn upsert_comment(&self, pr: u64, marker: &str, body: &str) -> Result<(u64, bool)> {
        #[derive(Deserialize)]
        struct Comment {
            id: u64,
            body: Option<String>,
        }
        let mut page = 1;
        let existing = loop {
            let route = self.route(&format!("issues/{pr}/comments?per_page=100&page={page}"));
            let comments: Vec<Comment> =
                self.octo.get(route, None::<&()>).await.map_err(api_err("listing the pull request's comments"))?;
            if let Some(c) = comments.iter().find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker))) {
                break Some(c.id);
            }
            if comments.len() < 100 {
                break None;
            }
            page += 1;
        };
        let payload = json!({ "body": body });
        let created: Comment = match existing {
            Some(id) => self
                .octo
                .patch(self.route(&format!("issues/comments/{id}")), Some(&payload))
                .await
                .map_err(api_err("updating the comment"))?,
            None => self
                .octo
                .post(self.route(&format!("issues/{pr}/comments")), Some(&payload))
                .await
                .map_err(api_err("creating the comment"))?,
        };
        Ok((created.id, existing.is_none()))
    }

    /// Post a check run for `sha`: created with the first batch of
    /// annotations, updated with each further batch, completed with the
    /// conclusion in the last request. Returns (check run id, requests made).
    pub async fn check_run(&self, name: &str, sha: &str, run: &CheckRun) -> Result<(u64, usize)> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let batches: Vec<&[Value]> = if run.annotations.is_empty() {
            vec![&[]]
        } else {
            run.annotations.chunks(ANNOTATIONS_PER_REQUEST).collect()
        };
        let last = batches.len() - 1;
        let mut id = None;
        for (i, batch) in batches.iter().enumerate() {
            let mut body = json!({
                "output": {"title": run.title, "summary": run.summary, "annotations": batch},
            });
            if i == last {
                body["status"] = json!("completed");
                body["conclusion"] = json!(run.conclusion);
            } else {
                body["status"] = json!("in_progress");
            }
            match id {
                None => {
                    body["name"] = json!(name);
                    body["head_sha"] = json!(sha);
                    let created: Created = self
                        .octo
                        .post(self.route("check-runs"), Some(&body))
                        .await
                        .map_err(api_err("creating the check run"))?;
                    id = Some(created.id);
                }
                Some(run_id) => {
                    let _: Value = self
                        .octo
                        .patch(self.route(&format!("check-runs/{run_id}")), Some(&body))
                        .await
                        .map_err(api_err("adding annotations to the check run"))?;
                }
            }
        }
        Ok((id.expect("at least one request"), batches.len()))
    }
}

/// What a check run shows.
#[derive(Debug, Clone)]
pub struct CheckRun {
    /// The output's title.
    pub title: String,
    /// The output's summary (Markdown, cut to GitHub's limit).
    pub summary: String,
    /// One annotation per finding, most severe first.
    pub annotations: Vec<Value>,
    /// `success`, `failure` or `neutral`.
    pub conclusion: &'static str,
}

impl CheckRun {
    /// The check run of `report`, with `summary` as its Markdown.
    pub fn of(report: &Report, summary: String) -> Self {
        let annotations = report
            .findings()
            .filter(|v| is_finding(v.status()))
            .map(|v| {
                let loc = v.location();
                let level = match Level::of(v.severity()) {
                    Level::Error => "failure",
                    Level::Warning => "warning",
                    Level::Note => "notice",
                };
                let title = format!("{}: {}", v.id(), v.title().unwrap_or(v.status().label()));
                json!({
                    "path": loc.path,
                    "start_line": loc.line,
                    "end_line": loc.line,
                    "annotation_level": level,
                    "title": truncate(&title, 255),
                    "message": truncate(&format!("{} ({}) on {}: {}", v.status().label(), v.severity(), v.target(), v.reason()), 64 * 1024 - 1),
                })
            })
            .collect();
        let verdict = Verdict::of(report);
        let conclusion = match verdict {
            Verdict::Passed => "success",
            Verdict::Failed => "failure",
            Verdict::NotGated if report.findings_len() == 0 => "success",
            Verdict::NotGated => "neutral",
            // A report always has results; kept for completeness.
            Verdict::Error => "failure",
        };
        let totals = report.totals();
        let title = format!(
            "{}: {}% compliance, {} finding{}",
            match verdict {
                Verdict::Passed => "gate passed",
                Verdict::Failed => "gate failed",
                Verdict::NotGated => "not gated",
                Verdict::Error => "no results",
            },
            totals.compliance(),
            report.findings_len(),
            if report.findings_len() == 1 { "" } else { "s" }
        );
        CheckRun { title, summary: truncate(&summary, BODY_MAX_CHARS), annotations, conclusion }
    }
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_are_owner_slash_name() {
        assert_eq!("acme/shop".parse::<Repo>().unwrap(), Repo { owner: "acme".into(), name: "shop".into() });
        for bad in ["acme", "acme/", "/shop", "a/b/c", "a b/c", "../x", ".x/y"] {
            assert!(bad.parse::<Repo>().is_err(), "{bad}");
        }
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("ééé", 2), "é…");
    }
}

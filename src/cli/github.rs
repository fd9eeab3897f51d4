//! `kscan github comment` and `kscan github check-run`: publish results on
//! a pull request and as a check run through the GitHub API.

use std::path::PathBuf;

use crate::ci::github_api::{self, CheckRun, GitHub, Repo};
use crate::error::Error;
use crate::gate::Thresholds;
use crate::hdf::{ResultSet, Source};
use crate::report::{markdown, Report, Templates};
use crate::{Outcome, Result};

/// Arguments of `kscan github`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Needs GITHUB_TOKEN (never printed); GITHUB_API_URL selects the server
(default https://api.github.com; GitHub Enterprise Server: https://HOST/api/v3).

Examples:
  kscan github comment kscan-results/*.hdf.json --threshold thresholds/moderate.yml
  kscan github check-run kscan-results/*.hdf.json --threshold thresholds/moderate.yml")]
pub struct Args {
    /// What to post.
    #[command(subcommand)]
    pub command: Sub,
}

/// The GitHub subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Create or update one pull-request comment with the Markdown summary.
    Comment(CommentArgs),
    /// Post a check run with one annotation per finding (50 per request).
    CheckRun(CheckRunArgs),
}

/// What both subcommands read.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// HDF (InSpec exec JSON) files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,

    /// Gate the results against this SAF threshold file.
    #[arg(short = 'T', long, value_name = "FILE")]
    pub threshold: Option<PathBuf>,

    /// The repository (default: GITHUB_REPOSITORY).
    #[arg(long, value_name = "OWNER/NAME", env = "GITHUB_REPOSITORY")]
    pub repo: Option<String>,

    /// Directory whose templates override the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,
}

/// Arguments of `kscan github comment`.
#[derive(Debug, clap::Args)]
pub struct CommentArgs {
    /// The repository and how to reach GitHub.
    #[command(flatten)]
    pub common: Common,

    /// The pull request (default: from GITHUB_REF, refs/pull/N/merge).
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,

    /// Name of the hidden marker that finds the comment again; use another
    /// name for a second comment on the same pull request.
    #[arg(long, value_name = "NAME", default_value = "kscan")]
    pub marker: String,
}

/// Arguments of `kscan github check-run`.
#[derive(Debug, clap::Args)]
pub struct CheckRunArgs {
    /// The repository and how to reach GitHub.
    #[command(flatten)]
    pub common: Common,

    /// The commit (default: GITHUB_SHA).
    #[arg(long, value_name = "SHA", env = "GITHUB_SHA")]
    pub sha: Option<String>,

    /// The check run's name.
    #[arg(long, value_name = "NAME", default_value = "kscan")]
    pub name: String,
}

/// Run `kscan github`.
pub async fn run(args: Args) -> Result<Outcome> {
    match args.command {
        Sub::Comment(a) => comment(a).await,
        Sub::CheckRun(a) => check_run(a).await,
    }
}

/// Everything both subcommands need, checked before any request.
struct Prepared {
    github: GitHub,
    report: Report,
    summary: String,
}

fn prepare(c: &Common) -> Result<Prepared> {
    let token = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        Error::input("GITHUB_TOKEN is not set: pass the workflow's token (env: GITHUB_TOKEN: ${{ github.token }})")
    })?;
    let repo: Repo = c
        .repo
        .as_deref()
        .ok_or_else(|| Error::input("no repository: pass --repo OWNER/NAME or set GITHUB_REPOSITORY"))?
        .parse()
        .map_err(|e| Error::input(format!("--repo: {e}")))?;
    let api_url = std::env::var("GITHUB_API_URL").ok().filter(|u| !u.is_empty());
    let api_url = api_url.as_deref().unwrap_or("https://api.github.com");
    let thresholds = c.threshold.as_deref().map(Thresholds::load).transpose()?;
    let templates = Templates::new(c.template_dir.as_deref())?;
    templates.check(markdown::TEMPLATE)?;
    let sets = ResultSet::load_all(c.files.iter().map(|f| Source::parse(f)))?;
    let gate = super::report::gate_of(c.threshold.as_deref(), thresholds.as_ref(), &sets);
    let report = Report::new(sets, gate)?;
    let mut summary = Vec::new();
    markdown::write(&report, &templates, &mut summary)?;
    let summary = String::from_utf8(summary).map_err(|_| Error::input("the Markdown template wrote invalid UTF-8"))?;
    Ok(Prepared { github: GitHub::new(api_url, token, repo)?, report, summary })
}

/// The pull request number from `GITHUB_REF` (`refs/pull/N/merge`).
fn pr_from_ref(git_ref: Option<&str>) -> Option<u64> {
    git_ref?.strip_prefix("refs/pull/")?.split('/').next()?.parse().ok()
}

async fn comment(a: CommentArgs) -> Result<Outcome> {
    let pr = match a.pr.or_else(|| pr_from_ref(std::env::var("GITHUB_REF").ok().as_deref())) {
        Some(pr) => pr,
        None => return Err(Error::input("no pull request: pass --pr N (GITHUB_REF is not refs/pull/N/merge)")),
    };
    if a.marker.is_empty() || a.marker.contains("--") || a.marker.contains('>') {
        return Err(Error::input(format!("--marker {:?}: use letters, digits, - and _", a.marker)));
    }
    let p = prepare(&a.common)?;
    let marker = format!("<!-- kscan:comment:{} -->", a.marker);
    let body = github_api::truncate(&format!("{marker}\n{}", p.summary), github_api::BODY_MAX_CHARS);
    let (id, created) = p.github.upsert_comment(pr, &marker, &body).await?;
    println!("{} comment {id} on pull request #{pr}", if created { "created" } else { "updated" });
    Ok(p.report.outcome())
}

async fn check_run(a: CheckRunArgs) -> Result<Outcome> {
    let sha = a
        .sha
        .clone()
        .filter(|s| s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| Error::input("no commit: pass --sha SHA (hex) or set GITHUB_SHA"))?;
    let p = prepare(&a.common)?;
    let run = CheckRun::of(&p.report, p.summary.clone());
    let (id, requests) = p.github.check_run(&a.name, &sha, &run).await?;
    println!(
        "check run {id} ({}) with {} annotation{} in {requests} request{}",
        run.conclusion,
        run.annotations.len(),
        if run.annotations.len() == 1 { "" } else { "s" },
        if requests == 1 { "" } else { "s" }
    );
    Ok(p.report.outcome())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_numbers_come_from_merge_refs() {
        assert_eq!(pr_from_ref(Some("refs/pull/42/merge")), Some(42));
        assert_eq!(pr_from_ref(Some("refs/heads/main")), None);
        assert_eq!(pr_from_ref(None), None);
    }
}

//! Findings over time in the service: the history of one target (its
//! workload's container, across pod restarts) with its compliance trend,
//! and the diff of two scans in the classes `kscan scan --baseline` uses
//! (new, unchanged, fixed). Both read what the store kept; neither runs a
//! scan. They need the `read` scope and a token that sees the namespace,
//! like every other read.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Extension;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{Counts, ErrorBody, JobStatus};
use super::auth::{Principal, Scope};
use super::error::ApiError;
use super::routes::{load, query, AppState};
use super::store::{rfc3339, TargetRun};
use crate::hdf::{ResultSet, Source};
use crate::report::baseline::{Baseline, Finding};
use crate::target::{Label, Subdomain};

/// The history and diff routes (they need a token).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(target_history)).routes(routes!(scan_diff))
}

/// One container of one workload: what a history is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadTarget {
    /// Namespace.
    pub namespace: String,
    /// The owner's kind as the scan found it (`Deployment`, `StatefulSet`,
    /// …; `Pod` for a pod without an owner).
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// Container.
    pub container: String,
}

/// One finished scan of the target.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    /// The scan job (`GET /api/v1/scans/{id}`).
    pub scan_id: String,
    /// When it ended (RFC 3339).
    pub finished_at: String,
    /// The job's verdict (`passed`, `failed`; `error` when teardown left objects).
    pub status: JobStatus,
    /// The pod that was scanned.
    pub pod: String,
    /// Its controls by status, and compliance.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Which way compliance went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Compliance rose.
    Up,
    /// Compliance fell.
    Down,
    /// No change (or a single point).
    Flat,
}

/// Compliance over the points of this page, oldest to newest.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trend {
    /// Compliance of each point, oldest first.
    pub compliance: Vec<u64>,
    /// Newest minus oldest, in percentage points.
    pub change: i64,
    /// Which way it went.
    pub direction: Direction,
}

impl Trend {
    /// The trend of `points`, given newest first (as the store pages them).
    fn of(points: &[HistoryPoint]) -> Trend {
        let compliance: Vec<u64> = points.iter().rev().map(|p| p.counts.compliance).collect();
        let change = match (compliance.first(), compliance.last()) {
            (Some(&first), Some(&last)) => last as i64 - first as i64,
            _ => 0,
        };
        let direction = match change {
            c if c > 0 => Direction::Up,
            c if c < 0 => Direction::Down,
            _ => Direction::Flat,
        };
        Trend { compliance, change, direction }
    }
}

/// `GET /api/v1/targets/{namespace}/{kind}/{name}/{container}/history`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetHistory {
    /// The target.
    pub target: WorkloadTarget,
    /// Its finished scans, newest first.
    pub items: Vec<HistoryPoint>,
    /// Compliance over `items`.
    pub trend: Trend,
    /// The next (older) page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `…/history` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// How many points (1–500, default 100).
    limit: Option<u32>,
    /// Only points older than this cursor (from the `next` link).
    before: Option<i64>,
}

/// A kind as Kubernetes writes it: a letter, then letters and digits.
fn kind(value: &str) -> Result<&str, ApiError> {
    let ok = value.len() <= 63
        && value.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric());
    ok.then_some(value).ok_or_else(|| ApiError::invalid("kind", "a Kubernetes kind, e.g. Deployment or Pod"))
}

fn invalid(field: &str, e: crate::Error) -> ApiError {
    ApiError::invalid(field, e.to_string())
}

/// The finished scans of one workload's container, newest first, with the
/// compliance trend over them. A workload is the pod's owner (a
/// Deployment, not its ReplicaSet or pod), so the history goes on across
/// restarts and rollouts; a pod without an owner is `Pod/<name>`. Points
/// are kept as long as the server's `--retain` says.
#[utoipa::path(get, path = "/api/v1/targets/{namespace}/{kind}/{name}/{container}/history", tag = "history",
    params(("namespace" = String, Path, description = "Namespace"),
           ("kind" = String, Path, description = "Kind of the owning workload, e.g. Deployment (Pod for a bare pod)"),
           ("name" = String, Path, description = "Name of the owning workload"),
           ("container" = String, Path, description = "Container"),
           HistoryQuery),
    responses((status = 200, body = TargetHistory), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, description = "No finished scan of that target is kept", body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn target_history(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((namespace, kind_name, name, container)): Path<(String, String, String, String)>,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<TargetHistory>, ApiError> {
    who.require(Scope::Read, "reading a target's history")?;
    let q = query(q)?;
    let limit = super::routes::page_limit(q.limit)?;
    Label::parse("namespace", &namespace).map_err(|e| invalid("namespace", e))?;
    kind(&kind_name)?;
    Subdomain::parse("name", &name).map_err(|e| invalid("name", e))?;
    Label::parse("container", &container).map_err(|e| invalid("container", e))?;
    if !who.sees(&namespace) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!("this token may not read the history of namespace {namespace}"),
        ));
    }
    let workload = format!("{kind_name}/{name}");
    // One more than asked: whether there is a next page.
    let mut runs =
        state.queue.store().target_runs(&namespace, &workload, &container, q.before, limit as usize + 1).await?;
    let more = runs.len() > limit as usize;
    runs.truncate(limit as usize);
    if runs.is_empty() && q.before.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!(
                "no finished scan of {namespace}/{workload}/{container} is kept: scan it first (the kind and name \
                 are the pod's owner, as a scan's summary shows them under `workload`)"
            ),
        ));
    }
    let next = more.then(|| runs.last().map(|last| last.seq)).flatten().map(|seq| {
        format!("/api/v1/targets/{namespace}/{kind_name}/{name}/{container}/history?limit={limit}&before={seq}")
    });
    let items: Vec<HistoryPoint> = runs.iter().map(point).collect();
    Ok(Json(TargetHistory {
        target: WorkloadTarget { namespace, kind: kind_name, name, container },
        trend: Trend::of(&items),
        items,
        next,
    }))
}

fn point(run: &TargetRun) -> HistoryPoint {
    HistoryPoint {
        scan_id: run.job_id.clone(),
        finished_at: rfc3339(run.finished_ms),
        status: run.status,
        pod: run.pod.clone(),
        counts: run.counts,
    }
}

/// One finding in a scan diff.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiffFinding {
    /// The stable fingerprint (control and workload; SARIF's `partialFingerprints`).
    pub fingerprint: String,
    /// The control id.
    pub control: String,
    /// The control's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The profile.
    pub profile: String,
    /// `namespace/Kind/name/container` of the workload.
    pub workload: String,
    /// The container as that scan named it (`namespace/pod/container`).
    pub target: String,
    /// `critical`, `high`, `medium`, `low` or `none`.
    pub severity: String,
}

impl From<&Finding> for DiffFinding {
    fn from(f: &Finding) -> Self {
        DiffFinding {
            fingerprint: f.fingerprint.clone(),
            control: f.id.clone(),
            title: f.title.clone(),
            profile: f.profile.clone(),
            workload: f.identity.clone(),
            target: f.target.clone(),
            severity: f.severity.key().to_owned(),
        }
    }
}

/// `GET /api/v1/scans/{a}/diff/{b}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanDiff {
    /// The earlier scan (`a`).
    pub base: String,
    /// The later scan (`b`).
    pub head: String,
    /// Findings of `b` that `a` does not have.
    pub new: Vec<DiffFinding>,
    /// Findings both have.
    pub unchanged: Vec<DiffFinding>,
    /// Findings of `a` that `b` no longer has, on targets `b` scanned.
    pub fixed: Vec<DiffFinding>,
    /// Findings of `a` on targets `b` did not scan (neither fixed nor kept).
    pub not_compared: usize,
    /// How the two scans differ in kind (other profile versions, other
    /// targets): the classes above are computed all the same.
    pub warnings: Vec<String>,
}

/// What changed from scan `a` to scan `b`: each finding of `b` is new or
/// unchanged, each finding of `a` that `b` no longer has is fixed — matched
/// by fingerprint (control and workload), as `kscan scan --baseline` does,
/// so a pod restarted between the scans keeps its findings.
#[utoipa::path(get, path = "/api/v1/scans/{a}/diff/{b}", tag = "history",
    params(("a" = String, Path, description = "The earlier scan's id"), ("b" = String, Path, description = "The later scan's id")),
    responses((status = 200, body = ScanDiff), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "A scan has no results", body = ErrorBody)))]
async fn scan_diff(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((a, b)): Path<(String, String)>,
) -> Result<Json<ScanDiff>, ApiError> {
    let base = results(&state, &who, &a).await?;
    let head = results(&state, &who, &b).await?;
    let classes = Baseline::of(format!("scan {a}"), &base).classify(&head);
    let list = |f: &[Finding]| f.iter().map(DiffFinding::from).collect::<Vec<_>>();
    Ok(Json(ScanDiff {
        base: a,
        head: b,
        new: list(&classes.new),
        unchanged: list(&classes.unchanged),
        fixed: list(&classes.diff.fixed),
        not_compared: classes.diff.not_compared,
        warnings: classes.diff.warnings,
    }))
}

/// The stored HDF of scan `id`, which `who` must be allowed to read.
async fn results(state: &AppState, who: &Principal, id: &str) -> Result<Vec<ResultSet>, ApiError> {
    let job = load(state, who, Scope::Read, id, "compare its results").await?;
    if job.summary.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("scan {id} is {} and has no results to compare", job.status.as_str()),
        ));
    }
    let files = state.queue.store().results(&job.id).await?;
    Ok(files
        .iter()
        .map(|f| ResultSet::from_slice(Source::File(f.name.clone().into()), &f.body))
        .collect::<crate::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(compliance: u64) -> HistoryPoint {
        HistoryPoint {
            scan_id: "x".into(),
            finished_at: String::new(),
            status: JobStatus::Passed,
            pod: "p".into(),
            counts: Counts { compliance, ..Counts::default() },
        }
    }

    #[test]
    fn the_trend_runs_from_the_oldest_point_to_the_newest() {
        // Newest first, as the store pages them.
        let t = Trend::of(&[at(80), at(70), at(50)]);
        assert_eq!((t.compliance, t.change, t.direction), (vec![50, 70, 80], 30, Direction::Up));
        let t = Trend::of(&[at(40), at(60)]);
        assert_eq!((t.change, t.direction), (-20, Direction::Down));
        assert_eq!(Trend::of(&[at(40)]).direction, Direction::Flat);
        assert_eq!(Trend::of(&[]).change, 0);
    }

    #[test]
    fn kinds_are_letters_and_digits() {
        assert!(kind("Deployment").is_ok());
        assert!(kind("Pod").is_ok());
        for bad in ["", "1Pod", "Deploy-ment", "a/b", "x".repeat(64).as_str()] {
            assert!(kind(bad).is_err(), "{bad:?}");
        }
    }
}

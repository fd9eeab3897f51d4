//! The HTTP routes and their OpenAPI description. Routes are registered
//! through `utoipa_axum::routes!`, so the document served at
//! `/openapi.json` lists exactly the routes the server answers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::*;
use super::auth::{Principal, Scope};
use super::callback::CallbackBody;
use super::destination::Destinations;
use super::error::ApiError;
use super::jobs::Queue;
use super::metrics::Metrics;
use super::store::{rfc3339, Job, ResultFile};
use crate::cluster::client::Connection;
use crate::hdf::{ResultSet, Source};
use crate::report::Format;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Jobs.
    pub queue: Arc<Queue>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The server's cluster identity (posture reads).
    pub admin: Connection,
    /// Where callbacks may go (checked at submission).
    pub destinations: Destinations,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "kscan", description = "Scan running Kubernetes containers for compliance: posture, scan jobs, results."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(CallbackBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes that need a token, and the OpenAPI document of all routes.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(posture_scan))
        .routes(routes!(submit, list_scans))
        .routes(routes!(get_scan, cancel_scan))
        .routes(routes!(retry_scan))
        .routes(routes!(results))
        .routes(routes!(profiles))
        .routes(routes!(thresholds))
        .routes(routes!(metrics))
        .merge(super::history::routes())
}

/// The OpenAPI document as served. utoipa 5.5 writes the fields of link
/// objects in snake case (`operation_id`); OpenAPI spells them in camel case
/// (`operationId`), which is what clients that follow links read.
pub fn document(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).expect("the OpenAPI document serializes");
    if let Some(paths) = value.get_mut("paths").and_then(|p| p.as_object_mut()) {
        let links = paths
            .values_mut()
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
            .flat_map(|responses| responses.values_mut())
            .filter_map(|response| response.get_mut("links").and_then(|l| l.as_object_mut()))
            .flat_map(|links| links.values_mut())
            .filter_map(|link| link.as_object_mut());
        for link in links {
            for (snake, camel) in
                [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")]
            {
                if let Some(v) = link.remove(snake) {
                    link.insert(camel.to_owned(), v);
                }
            }
        }
    }
    value
}

/// The routes open to everyone.
pub fn health() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

fn location(id: &str) -> String {
    format!("/api/v1/scans/{id}")
}

/// Job ids are UUIDs; anything else cannot name a job.
fn job_id(id: &str) -> Result<&str, ApiError> {
    uuid::Uuid::parse_str(id).map(|_| id).map_err(|_| ApiError::no_job(id))
}

/// The job `id`, if `who` may `action` on it with `scope` (403 otherwise).
pub(super) async fn load(
    state: &AppState,
    who: &Principal,
    scope: Scope,
    id: &str,
    action: &str,
) -> Result<Job, ApiError> {
    who.require(scope, action)?;
    let job = state.queue.store().get(job_id(id)?).await?.ok_or_else(|| ApiError::no_job(id))?;
    who.require_on(scope, &job.id, &job.request.target.namespace, action)?;
    Ok(job)
}

fn view(job: &Job) -> ScanView {
    let duration = match (job.started_ms, job.finished_ms) {
        (Some(s), Some(f)) => Some((f - s) as f64 / 1000.0),
        _ => None,
    };
    ScanView {
        id: job.id.clone(),
        status: job.status,
        run_id: job.run_id.clone(),
        request: job.request.redacted(),
        created_at: rfc3339(job.created_ms),
        started_at: job.started_ms.map(rfc3339),
        finished_at: job.finished_ms.map(rfc3339),
        duration_seconds: duration,
        error: job.error.clone(),
        summary: job.summary.clone(),
        attempts: job.attempts,
        callback: job.callback.clone(),
    }
}

pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| {
        let text = e.body_text();
        // serde_urlencoded names the field in its message (`unknown variant`, `unknown field`).
        ApiError::malformed(None, format!("bad query string: {text}"))
    })
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", security(()), tag = "health",
    responses((status = 200, description = "The process is alive", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", security(()), tag = "health",
    responses((status = 200, description = "Ready", body = String), (status = 503, description = "Not ready", body = ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.queue.store().ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the store does not answer: {e}")).into_response()
        }
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn metrics(State(state): State<AppState>, Extension(who): Extension<Principal>) -> Result<Response, ApiError> {
    who.require(Scope::Admin, "reading the server's metrics")?;
    let gauges = state.queue.gauges().await?;
    let text = state.metrics.render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `GET /scan` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PostureQuery {
    /// Only this namespace (default: every namespace the server may read).
    #[param(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length = 1, max_length = 63)]
    namespace: Option<String>,
}

/// A posture scan of the cluster, in the shape of `kscan posture --format seed-json`.
#[utoipa::path(get, path = "/scan", tag = "posture", params(PostureQuery),
    responses((status = 200, description = "latestTag, root, summary, errors", body = Object),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 502, description = "The cluster could not be read", body = ErrorBody)))]
async fn posture_scan(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<PostureQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    who.require(Scope::Read, "reading posture")?;
    let namespaces = match &q.namespace {
        Some(ns) => {
            crate::target::Label::parse("namespace", ns).map_err(|e| ApiError::invalid("namespace", e.message()))?;
            who.require_in(Scope::Read, ns, "namespace", "read posture")?;
            vec![ns.clone()]
        }
        None => who.namespaces(),
    };
    let doc = super::posture::scan(&state.admin, namespaces).await?;
    Ok(Json(doc))
}

/// Submit a container scan.
#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", request_body = ScanRequest,
    responses((status = 202, description = "Queued", body = Accepted,
                headers(("Location" = String, description = "The job's URL")),
                links(
                    ("GetScan" = (operation_id = "get_scan", parameters(("id" = "$response.body#/id")))),
                    ("CancelScan" = (operation_id = "cancel_scan", parameters(("id" = "$response.body#/id")))),
                    ("GetResults" = (operation_id = "results", parameters(("id" = "$response.body#/id")))),
                    ("RetryScan" = (operation_id = "retry_scan", parameters(("id" = "$response.body#/id"))))
                )),
              (status = 400, description = "Not JSON of the right shape; `field` names where", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 415, description = "Not application/json", body = ErrorBody),
              (status = 422, description = "A field is not acceptable; `field` names it", body = ErrorBody),
              (status = 429, description = "The queue is full; see Retry-After", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds")))))]
async fn submit(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    who.require(Scope::Scan, "submitting scans")?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
        ));
    }
    let request = parse_body(&body)?;
    let limits = state.queue.limits();
    // Validate now (422 before anything is queued); the worker builds the plan again.
    request.plan(limits, std::env::temp_dir())?;
    who.require_in(Scope::Scan, &request.target.namespace, "target.namespace", "submit scans")?;
    if let Some(callback) = &request.callback {
        state.destinations.admit(&callback.url).await.map_err(|why| ApiError::invalid("callback.url", why))?;
    }
    let job = state.queue.submit(request).await?;
    let at = location(&job.id);
    let mut response =
        (StatusCode::ACCEPTED, Json(Accepted { id: job.id.clone(), status: job.status, location: at.clone() }))
            .into_response();
    if let Ok(v) = HeaderValue::from_str(&at) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// A body as a [`ScanRequest`], or a 400 naming the field where it broke.
pub fn parse_body(body: &[u8]) -> Result<ScanRequest, ApiError> {
    // serde would also read a struct from an array; the API takes objects only.
    if body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{') {
        return Err(ApiError::malformed(None, "the body must be a JSON object (see ScanRequest in /openapi.json)"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed: Result<ScanRequest, _> = serde_path_to_error::deserialize(&mut de);
    let request = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = (path != ".").then_some(path);
        if inner.is_syntax() || inner.is_eof() {
            ApiError::malformed(None, format!("the body is not JSON: {inner}"))
        } else {
            ApiError::malformed(field, inner.to_string())
        }
    })?;
    de.end().map_err(|e| ApiError::malformed(None, format!("the body has more after the JSON object: {e}")))?;
    Ok(request)
}

/// `GET /api/v1/scans` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// How many (1–500, default 100).
    limit: Option<u32>,
}

/// The `limit` of a listing: 1 to 500, 100 when not given.
pub(super) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "give 1 to 500"));
    }
    Ok(limit)
}

/// The latest scan jobs, newest first (API submissions and triggered scans).
#[utoipa::path(get, path = "/api/v1/scans", tag = "scans", params(ListQuery),
    responses((status = 200, body = ScanList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_scans(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ScanList>, ApiError> {
    who.require(Scope::Read, "listing scans")?;
    let limit = page_limit(query(q)?.limit)?;
    let jobs = state.queue.store().recent(&who.namespaces(), limit as usize).await?;
    Ok(Json(ScanList { items: jobs.iter().map(view).collect() }))
}

/// A scan job.
#[utoipa::path(get, path = "/api/v1/scans/{id}", tag = "scans", params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = ScanView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_scan(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ScanView>, ApiError> {
    Ok(Json(view(&load(&state, &who, Scope::Read, &id, "see it").await?)))
}

/// Cancel a scan: a queued one never runs; a running one stops and is torn
/// down before this answers (up to 120 s; then `running` is shown and
/// teardown continues).
#[utoipa::path(delete, path = "/api/v1/scans/{id}", tag = "scans", params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job after cancelling", body = ScanView),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "It already ended", body = ErrorBody)))]
async fn cancel_scan(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ScanView>, ApiError> {
    let id = load(&state, &who, Scope::Scan, &id, "cancel it").await?.id;
    let id = id.as_str();
    Ok(Json(view(&state.queue.cancel(id, Duration::from_secs(120)).await?)))
}

/// Queue an interrupted, failed-to-run or cancelled scan again.
#[utoipa::path(post, path = "/api/v1/scans/{id}/retry", tag = "scans", params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = Accepted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn retry_scan(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = load(&state, &who, Scope::Scan, &id, "retry it").await?.id;
    let id = id.as_str();
    let job = state.queue.retry(id).await?;
    let at = location(&job.id);
    Ok((StatusCode::ACCEPTED, Json(Accepted { id: job.id.clone(), status: job.status, location: at })).into_response())
}

/// `GET …/results` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ResultsQuery {
    /// Format (default: the request's `options.reportFormat`, else `hdf`).
    format: Option<ResultFormat>,
}

/// The results of a finished scan.
#[utoipa::path(get, path = "/api/v1/scans/{id}/results", tag = "scans",
    params(("id" = String, Path, description = "Job id"), ResultsQuery),
    responses((status = 200, description = "HDF (one document for one target, an array for several), JUnit XML, SARIF or Markdown",
                content((Object = "application/json"), (String = "application/xml"), (Object = "application/sarif+json"), (String = "text/markdown"))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "No results (yet)", body = ErrorBody)))]
async fn results(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<ResultsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let job = load(&state, &who, Scope::Read, &id, "read its results").await?;
    let format = q.format.or(job.request.options.report_format).unwrap_or_default();
    // A job whose teardown left objects (status error) still has its results.
    if !matches!(job.status, JobStatus::Passed | JobStatus::Failed) && job.summary.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "scan {id} is {} and has no results{}",
                job.status.as_str(),
                match job.status {
                    JobStatus::Queued | JobStatus::Running => ": poll it until it ends",
                    _ => "",
                }
            ),
        ));
    }
    let files = state.queue.store().results(&job.id).await?;
    let (content_type, body) = match format {
        ResultFormat::Hdf => ("application/json", hdf_body(&files)?),
        ResultFormat::Junit => ("application/xml", render(&job, &files, Format::Junit)?),
        ResultFormat::Sarif => ("application/sarif+json", render(&job, &files, Format::Sarif)?),
        ResultFormat::Markdown => ("text/markdown; charset=utf-8", render(&job, &files, Format::Markdown)?),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// One HDF document for one target, a JSON array for several.
fn hdf_body(files: &[ResultFile]) -> Result<Vec<u8>, ApiError> {
    match files {
        [one] => Ok(one.body.clone()),
        many => {
            let docs: Vec<serde_json::Value> = many
                .iter()
                .map(|f| serde_json::from_slice(&f.body))
                .collect::<Result<_, _>>()
                .map_err(ApiError::internal)?;
            serde_json::to_vec(&docs).map_err(ApiError::internal)
        }
    }
}

/// Render the stored HDF as `kscan report` would, with the verdict stored
/// with the job (the threshold file is not read again).
fn render(job: &Job, files: &[ResultFile], format: Format) -> Result<Vec<u8>, ApiError> {
    let sets = files
        .iter()
        .map(|f| ResultSet::from_slice(Source::File(f.name.clone().into()), &f.body))
        .collect::<crate::Result<Vec<_>>>()?;
    let verdict = job.summary.as_ref().and_then(|s| s.gate.as_ref()).map(GateSummary::verdict);
    Ok(crate::results::render(sets, verdict, format)?)
}

/// Profiles in the server's profile directory (for `scan.profile`).
#[utoipa::path(get, path = "/api/v1/profiles", tag = "catalog",
    responses((status = 200, body = NameList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn profiles(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<NameList>, ApiError> {
    who.require(Scope::Read, "listing profiles")?;
    let items = match &state.queue.limits().profiles {
        None => Vec::new(),
        Some(dir) => list_dir(dir, |p| p.join("inspec.yml").is_file().then(|| file_name(p)))?,
    };
    Ok(Json(NameList { items }))
}

/// Threshold files in the server's threshold directory (for `scan.threshold`).
#[utoipa::path(get, path = "/api/v1/thresholds", tag = "catalog",
    responses((status = 200, body = NameList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn thresholds(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<NameList>, ApiError> {
    who.require(Scope::Read, "listing thresholds")?;
    let items = match &state.queue.limits().thresholds {
        None => Vec::new(),
        Some(dir) => list_dir(dir, |p| {
            (p.is_file() && p.extension().is_some_and(|e| e == "yml"))
                .then(|| p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
        })?,
    };
    Ok(Json(NameList { items }))
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn list_dir(dir: &std::path::Path, pick: impl Fn(&std::path::Path) -> Option<String>) -> Result<Vec<String>, ApiError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ApiError::internal(format!("cannot list {}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()).filter_map(|e| pick(&e.path())).collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that ended with a failed gate, whose threshold file no longer exists.
    fn gated_job() -> (Job, Vec<ResultFile>) {
        let request = parse_body(br#"{"target": {"namespace": "shop", "pod": "web"}, "scan": {"threshold": "gone"}}"#)
            .expect("a valid body");
        let mut job = Job::queued("0b5e3b1c-5d1e-4c44-8f9e-6f7b3f3f0a11".into(), request);
        job.status = JobStatus::Failed;
        let gate = crate::report::Gate {
            threshold: "gone".into(),
            rules: 1,
            violations: vec![crate::report::GateViolation {
                rule: "failed.total.max".into(),
                message: "stored message".into(),
                detail: None,
            }],
        };
        job.summary = Some(Summary { targets: Vec::new(), gate: Some(GateSummary::of(&gate)) });
        let hdf = serde_json::json!({"platform": {"name": "x", "release": "1"}, "profiles": [{"name": "p", "controls": [
            {"id": "C-1", "impact": 0.5, "tags": {}, "results": [{"status": "passed", "code_desc": "t", "start_time": ""}]}]}]});
        (job, vec![ResultFile { name: "web.app.hdf.json".into(), body: hdf.to_string().into_bytes() }])
    }

    #[test]
    fn results_are_rendered_with_the_stored_verdict_not_a_threshold_read_again() {
        let (job, files) = gated_job();
        // Every control passed and no threshold file can be read: only the stored verdict says "failed".
        let md = String::from_utf8(render(&job, &files, Format::Markdown).unwrap()).unwrap();
        assert!(md.contains("gate failed") && md.contains("stored message"), "{md}");
        let junit = String::from_utf8(render(&job, &files, Format::Junit).unwrap()).unwrap();
        assert!(junit.starts_with("<?xml"), "{junit}");
    }

    #[test]
    fn a_stored_summary_without_rules_keeps_its_violations() {
        let summary = GateSummary {
            threshold: "t".into(),
            passed: false,
            violations: vec!["[compliance.min] Overall compliance minimum was not satisfied (compliance is 4%)".into()],
            rule_count: 0,
            rules: Vec::new(),
        };
        let gate = summary.verdict();
        assert!(!gate.passed());
        assert_eq!(gate.violations[0].rule, "compliance.min");
    }
}

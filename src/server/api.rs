//! The wire types of the scan API, with their OpenAPI schemas, and the
//! validation that turns a request body into a [`Plan`] or a 422 naming
//! the field: the server's own limits here, the rest shared with the
//! command line ([`crate::scan::plan`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::cluster::access::TokenTtl;
use crate::engine::EngineKind;
use crate::report::{Gate, GateViolation};
use crate::scan::plan::{Asked, Field};
use crate::scan::{parse_duration, Plan};
use crate::strategy::Strategy;

/// `POST /api/v1/scans`: what to scan, how, and whom to tell.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanRequest {
    /// The containers.
    pub target: TargetSpec,
    /// How to scan them.
    #[serde(default)]
    pub scan: ScanSpec,
    /// Limits and defaults.
    #[serde(default)]
    pub options: ScanOptions,
    /// Where to POST the final status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,
}

/// A pod (and optionally a container) or a label selector, in a namespace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetSpec {
    /// Namespace (RFC 1123 label).
    #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length = 1, max_length = 63)]
    pub namespace: String,
    /// One pod; give this or `selector` (RFC 1123 subdomain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        min_length = 1,
        max_length = 253
    )]
    pub pod: Option<String>,
    /// Every running pod matching this label selector; give this or `pod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Container (default: the pod's default container, or its only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length = 1, max_length = 63)]
    pub container: Option<String>,
}

/// Strategy, engine, profile and gate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanSpec {
    /// How the engine reaches the container (default `auto`).
    #[serde(default)]
    pub strategy: StrategyName,
    /// What runs the checks (default `builtin`).
    #[serde(default)]
    pub engine: EngineName,
    /// Name of a profile in the server's profile directory (`engine: cinc` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Name of a threshold file in the server's threshold directory (without `.yml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// With `debug` (and `auto` when it chooses debug): refuse a pod that
    /// already holds this many kscan scanner containers, which Kubernetes
    /// cannot remove (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ephemeral: Option<u32>,
}

/// Strategies, as on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StrategyName {
    /// exec when the container has a usable shell, else debug.
    #[default]
    Auto,
    /// The Kubernetes exec API.
    Exec,
    /// An ephemeral scanner container.
    Debug,
    /// A copy of the pod with a scanner sidecar.
    Sidecar,
}

/// Engines, as on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    /// kscan's own container baseline.
    #[default]
    Builtin,
    /// CINC Auditor / InSpec with a profile.
    Cinc,
}

/// Limits and defaults of one scan.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanOptions {
    /// Time limit of the scan, e.g. `90s`, `10m` (default: the server's `--scan-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]+[smh]?$")]
    pub timeout: Option<String>,
    /// Default format of `GET …/results`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_format: Option<ResultFormat>,
}

/// Formats of `GET /api/v1/scans/{id}/results`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResultFormat {
    /// HDF (InSpec exec JSON): one document for one target, an array for several.
    #[default]
    Hdf,
    /// JUnit XML (one suite per target), as `kscan report --format junit`.
    Junit,
    /// SARIF 2.1.0, as `kscan report --format sarif`.
    Sarif,
    /// Markdown summary, as `kscan report --format markdown`.
    Markdown,
}

/// Where the final status goes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CallbackSpec {
    /// `http://` or `https://` URL that receives a POST.
    pub url: String,
    /// Credentials sent with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<CallbackAuth>,
}

/// Callback credentials.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CallbackAuth {
    /// Only `bearer`.
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// The token, sent as `Authorization: Bearer <token>`.
    pub token: String,
}

/// Callback authentication types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// A bearer token.
    Bearer,
}

/// States of a scan job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it.
    Running,
    /// Scanned, and the gate (if any) held.
    Passed,
    /// Scanned, and the gate failed.
    Failed,
    /// The scan could not run, or teardown left objects.
    Error,
    /// Cancelled with DELETE (teardown ran).
    Cancelled,
    /// The server stopped while it ran; its objects were cleaned up; it can be retried.
    Interrupted,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Passed,
        JobStatus::Failed,
        JobStatus::Error,
        JobStatus::Cancelled,
        JobStatus::Interrupted,
    ];

    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Passed => "passed",
            JobStatus::Failed => "failed",
            JobStatus::Error => "error",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Interrupted => "interrupted",
        }
    }

    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        JobStatus::ALL.into_iter().find(|j| j.as_str() == s)
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// `202 Accepted` answer of `POST /api/v1/scans`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The job id.
    pub id: String,
    /// `queued`.
    pub status: JobStatus,
    /// Where to poll.
    pub location: String,
}

/// A scan job as `GET /api/v1/scans/{id}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanView {
    /// The job id.
    pub id: String,
    /// Where it stands.
    pub status: JobStatus,
    /// The run id of the cluster objects (`kscan cleanup --run`), once it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The request (callback token removed).
    pub request: ScanRequest,
    /// RFC 3339 times.
    pub created_at: String,
    /// When a worker took it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Seconds from start to end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Why it could not run (status `error`, `interrupted`, `cancelled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Counts per target, once scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// How many times it was queued (1 + retries).
    pub attempts: u32,
    /// Delivery of the callback, if one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackState>,
}

/// Results in brief.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// One entry per scanned container.
    pub targets: Vec<TargetSummary>,
    /// The gate's verdict, when a threshold was named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateSummary>,
}

/// Counts of one container.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetSummary {
    /// Pod.
    pub pod: String,
    /// `Kind/name` of the workload that owns the pod (`Pod/<pod>` for a
    /// bare pod): the target's identity across pod restarts, as in
    /// `GET /api/v1/targets/{namespace}/{kind}/{name}/{container}/history`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload: String,
    /// Container.
    pub container: String,
    /// The strategy that ran (auto resolves to exec or debug).
    pub strategy_used: String,
    /// Controls by status, and compliance.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Controls of one container by status, and its compliance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Controls passed.
    pub passed: u64,
    /// Controls failed.
    pub failed: u64,
    /// Not Reviewed.
    pub skipped: u64,
    /// Profile Error.
    pub error: u64,
    /// Not Applicable.
    pub no_impact: u64,
    /// Percent, as `saf summary`.
    pub compliance: u64,
}

/// The gate's verdict, computed once when the job ended and stored with
/// it: every rendering of the job's results shows this verdict, whatever
/// became of the threshold file since.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateSummary {
    /// The threshold file's name.
    pub threshold: String,
    /// Whether every rule held.
    pub passed: bool,
    /// Every violated rule, as `kscan gate` prints it.
    pub violations: Vec<String>,
    /// How many rules the threshold file had.
    #[serde(default)]
    pub rule_count: usize,
    /// Every violated rule, by parts (what the reports show).
    #[serde(default)]
    pub rules: Vec<ViolatedRule>,
}

/// One violated threshold rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViolatedRule {
    /// The rule's key, e.g. `failed.critical.max`.
    pub rule: String,
    /// What was expected and what was found.
    pub message: String,
    /// Facts the message leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl GateSummary {
    /// The stored form of `gate`.
    pub fn of(gate: &Gate) -> Self {
        GateSummary {
            threshold: gate.threshold.clone(),
            passed: gate.passed(),
            violations: gate.violations.iter().map(ToString::to_string).collect(),
            rule_count: gate.rules,
            rules: gate
                .violations
                .iter()
                .map(|v| ViolatedRule { rule: v.rule.clone(), message: v.message.clone(), detail: v.detail.clone() })
                .collect(),
        }
    }

    /// The verdict as the reports take it. Jobs stored before `rules`
    /// existed keep their violations as `[rule] message` lines.
    pub fn verdict(&self) -> Gate {
        let violations = if self.rules.is_empty() {
            self.violations
                .iter()
                .map(|line| {
                    let (rule, message) = line
                        .strip_prefix('[')
                        .and_then(|l| l.split_once("] "))
                        .map_or(("gate", line.as_str()), |(r, m)| (r, m));
                    GateViolation { rule: rule.to_owned(), message: message.to_owned(), detail: None }
                })
                .collect()
        } else {
            self.rules
                .iter()
                .map(|v| GateViolation { rule: v.rule.clone(), message: v.message.clone(), detail: v.detail.clone() })
                .collect()
        };
        Gate { threshold: self.threshold.clone(), rules: self.rule_count, violations }
    }
}

/// Callback delivery.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackState {
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Error bodies (4xx, 5xx).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do.
    pub error: String,
    /// The offending field of the request body, dotted (`target.namespace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `GET /api/v1/scans`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScanList {
    /// Newest first.
    pub items: Vec<ScanView>,
}

/// `GET /api/v1/profiles` and `GET /api/v1/thresholds`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NameList {
    /// Names to use in `scan.profile` / `scan.threshold`.
    pub items: Vec<String>,
}

/// The server's settings that requests are checked against.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Directory of InSpec profiles (`scan.profile`).
    pub profiles: Option<PathBuf>,
    /// Directory of threshold files (`scan.threshold`).
    pub thresholds: Option<PathBuf>,
    /// Default scan timeout.
    pub scan_timeout: Duration,
    /// Longest scan timeout a request may ask for.
    pub max_timeout: Duration,
    /// The scanner image for debug and sidecar.
    pub scanner_image: String,
    /// The CINC Auditor / InSpec program.
    pub engine_bin: Option<PathBuf>,
    /// `--executor jobs`: each scan runs as one Kubernetes Job (`None`: in
    /// this process).
    pub dispatch: Option<crate::scan::dispatch::Dispatch>,
}

/// What the API calls each field of a request.
fn field(f: Field) -> &'static str {
    match f {
        Field::Namespace => "target.namespace",
        Field::Pod => "target.pod",
        Field::Selector => "target.selector",
        Field::Container => "target.container",
        Field::Strategy => "scan.strategy",
        Field::Engine => "scan.engine",
        Field::Profile => "scan.profile",
        // The API has no image field: the shared checks never refuse it.
        Field::Image => "scan",
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(field, message)
}

/// Name a file in a server directory may have: no path separators, no dots first.
fn plain_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("{name:?} is not a name from the server's list (letters, digits, '-', '_', '.')")))
    }
}

impl ScanRequest {
    /// Check everything that needs no cluster and build the plan; results go
    /// to `out_dir`. What the command line shares is checked by
    /// [`Asked::plan`]; the server's own limits (timeout, the profile and
    /// threshold directories, the callback) here.
    pub fn plan(&self, limits: &Limits, out_dir: PathBuf) -> Result<Plan, ApiError> {
        let t = &self.target;
        let timeout = match &self.options.timeout {
            None => limits.scan_timeout,
            Some(s) => parse_duration(s).map_err(|e| invalid("options.timeout", e))?,
        };
        if timeout > limits.max_timeout {
            return Err(invalid(
                "options.timeout",
                format!(
                    "{} is above this server's limit of {}s",
                    crate::scan::show_duration(timeout),
                    limits.max_timeout.as_secs()
                ),
            ));
        }
        self.threshold_path(limits)?;
        let strategy = match self.scan.strategy {
            StrategyName::Auto => Strategy::Auto,
            StrategyName::Exec => Strategy::Exec,
            StrategyName::Debug => Strategy::Debug,
            StrategyName::Sidecar => Strategy::Sidecar,
        };
        let engine = match self.scan.engine {
            EngineName::Builtin => EngineKind::Builtin,
            EngineName::Cinc => EngineKind::Cinc,
        };
        if engine == EngineKind::Cinc && limits.dispatch.is_some() {
            return Err(invalid(
                "scan.engine",
                "this server runs scans as Kubernetes Jobs (--executor jobs), whose image has the builtin engine only",
            ));
        }
        // A wrong strategy or a profile without cinc: the shared checks say so.
        let profile = match (&self.scan.profile, engine) {
            (_, EngineKind::Cinc) if !strategy.supports_cinc() => None,
            (Some(name), EngineKind::Cinc) => Some(self.profile_path(name, limits)?),
            (None, EngineKind::Cinc) => {
                return Err(invalid("scan.profile", "engine cinc needs a profile: GET /api/v1/profiles lists them"))
            }
            (Some(name), EngineKind::Builtin) => Some(PathBuf::from(name)),
            (None, EngineKind::Builtin) => None,
        };
        if let Some(cb) = &self.callback {
            check_callback(cb)?;
        }
        let asked = Asked {
            namespace: &t.namespace,
            pod: t.pod.as_deref(),
            selector: t.selector.as_deref(),
            container: t.container.as_deref(),
            strategy,
            engine,
            profile: profile.as_deref(),
            engine_bin: limits.engine_bin.as_deref(),
            scanner_image: &limits.scanner_image,
            scanner_user: None,
            image: None,
            max_ephemeral: self.scan.max_ephemeral.unwrap_or(crate::strategy::DEFAULT_MAX_EPHEMERAL),
            timeout,
            ttl: TokenTtl::DEFAULT,
            concurrency: 4,
            out_dir,
        };
        asked.plan(field).map_err(|e| invalid(field(e.field), e.error.message()))
    }

    /// The profile directory `scan.profile` names in the server's `--profiles`.
    fn profile_path(&self, name: &str, limits: &Limits) -> Result<PathBuf, ApiError> {
        plain_name("scan.profile", name)?;
        let Some(dir) = &limits.profiles else {
            return Err(invalid("scan.profile", "this server has no profile directory (--profiles)"));
        };
        let path = dir.join(name);
        if !path.join("inspec.yml").is_file() {
            return Err(invalid("scan.profile", format!("no profile {name:?}: GET /api/v1/profiles lists them")));
        }
        Ok(path)
    }

    /// The threshold file `scan.threshold` names, checked to parse.
    pub fn threshold_path(&self, limits: &Limits) -> Result<Option<PathBuf>, ApiError> {
        let Some(name) = &self.scan.threshold else { return Ok(None) };
        plain_name("scan.threshold", name)?;
        let Some(dir) = &limits.thresholds else {
            return Err(invalid("scan.threshold", "this server has no threshold directory (--thresholds)"));
        };
        let path = dir.join(format!("{name}.yml"));
        if !path.is_file() {
            return Err(invalid("scan.threshold", format!("no threshold {name:?}: GET /api/v1/thresholds lists them")));
        }
        crate::gate::Thresholds::load(&path).map_err(|e| invalid("scan.threshold", e.to_string()))?;
        Ok(Some(path))
    }

    /// The request without secrets, for showing.
    pub fn redacted(&self) -> ScanRequest {
        let mut r = self.clone();
        if let Some(auth) = r.callback.as_mut().and_then(|c| c.authentication.as_mut()) {
            auth.token = "<redacted>".into();
        }
        r
    }
}

fn check_callback(cb: &CallbackSpec) -> Result<(), ApiError> {
    let url = cb.url.as_str();
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !h.contains('@') && url.parse::<hyper::Uri>().is_ok() => {}
        _ => return Err(invalid("callback.url", format!("{url:?} is not an http:// or https:// URL with a host"))),
    }
    if let Some(auth) = &cb.authentication {
        let ok = !auth.token.is_empty() && auth.token.bytes().all(|b| (0x21..0x7f).contains(&b));
        if !ok {
            return Err(invalid("callback.authentication.token", "the token must be non-empty visible ASCII"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_max_ephemeral_reaches_the_plan_with_the_default_otherwise() {
        let limits = Limits {
            profiles: None,
            thresholds: None,
            scan_timeout: Duration::from_secs(60),
            max_timeout: Duration::from_secs(600),
            scanner_image: "scanner:1".into(),
            engine_bin: None,
            dispatch: None,
        };
        let request = |scan: serde_json::Value| -> ScanRequest {
            serde_json::from_value(serde_json::json!({"target": {"namespace": "shop", "pod": "web"}, "scan": scan}))
                .unwrap()
        };
        let plan = request(serde_json::json!({"strategy": "debug", "maxEphemeral": 2})).plan(&limits, "o".into());
        assert_eq!(plan.unwrap().strategy.max_ephemeral, 2);
        let plan = request(serde_json::json!({"strategy": "debug"})).plan(&limits, "o".into());
        assert_eq!(plan.unwrap().strategy.max_ephemeral, crate::strategy::DEFAULT_MAX_EPHEMERAL);
    }
}

//! `kscan serve` over real HTTP: the binary is started on an ephemeral port
//! and driven with an HTTP client. The API-only tests give it a kubeconfig
//! of an unreachable cluster (they never scan); the others scan pods of the
//! testbed and check what is left in the cluster.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use support::cluster::{self, kscan_objects, running_pod, standard, ACCESS_OBJECTS, KEEP_RUNNING};

const TOKEN: &str = "test-token-0123456789abcdef";

/// A running `kscan serve`.
struct Server {
    child: Child,
    base: String,
    _dir: Option<tempfile::TempDir>,
}

/// How to start one.
struct Setup {
    dir: PathBuf,
    kubeconfig: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    db: Option<String>,
    log: Option<PathBuf>,
}

impl Setup {
    /// In `dir` (holds the token file and the database), against `kubeconfig`.
    fn new(dir: &Path, kubeconfig: PathBuf) -> Setup {
        std::fs::write(dir.join("tokens"), format!("# test\n{TOKEN}\n")).unwrap();
        Setup { dir: dir.to_owned(), kubeconfig, args: Vec::new(), env: Vec::new(), db: None, log: None }
    }

    /// Replace the tokens file with `lines`.
    fn tokens(self, lines: &[&str]) -> Self {
        std::fs::write(self.dir.join("tokens"), lines.join("\n") + "\n").unwrap();
        self
    }

    fn arg(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }

    /// `--db` (default: `kscan.db` in the directory).
    fn db(mut self, db: &str) -> Self {
        self.db = Some(db.to_owned());
        self
    }

    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Write the server's log (stderr) to `path` rather than the test's.
    fn log_to(mut self, path: &Path) -> Self {
        self.log = Some(path.to_owned());
        self
    }

    /// Start and wait for the "listening on" line.
    fn start(&self) -> Server {
        let mut cmd = support::kscan();
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0").arg("--token-file").arg(self.dir.join("tokens"));
        match &self.db {
            Some(db) => cmd.arg("--db").arg(db),
            None => cmd.arg("--db").arg(self.dir.join("kscan.db")),
        };
        // The testbed's scanner, not the release's published default.
        cmd.arg("--scanner-image").arg(cluster::scanner()).args(&self.args);
        cmd.env("KSCAN_KUBECONFIG", &self.kubeconfig).env("KSCAN_LOG", "info");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let stderr = match &self.log {
            Some(path) => {
                Stdio::from(std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display())))
            }
            None => Stdio::inherit(),
        };
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("starting kscan serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("kscan serve printed nothing").unwrap();
        let base = line.split("listening on ").nth(1).unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server { child, base: base.trim().to_owned(), _dir: None }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Server {
    async fn call(&self, method: Method, path: &str, auth: Option<&str>, body: Option<(&str, Vec<u8>)>) -> Answer {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut req = hyper::Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let bytes = match body {
            Some((ctype, b)) => {
                req = req.header("content-type", ctype);
                b
            }
            None => Vec::new(),
        };
        let response = client.request(req.body(Full::new(Bytes::from(bytes))).unwrap()).await.expect("HTTP request");
        let (parts, body) = response.into_parts();
        Answer { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
    }

    /// `method path` with `token` (and a JSON body).
    async fn as_token(&self, token: &str, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.call(method, path, Some(&format!("Bearer {token}")), body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, Some(&format!("Bearer {TOKEN}")), None).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, Some(&format!("Bearer {TOKEN}")), None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        let bearer = format!("Bearer {TOKEN}");
        self.call(Method::POST, path, Some(&bearer), Some(("application/json", body.to_string().into_bytes()))).await
    }

    /// Submit and return the job id.
    async fn submit(&self, body: &Value) -> String {
        let a = self.post("/api/v1/scans", body).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        let id = a.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(a.headers["location"], format!("/api/v1/scans/{id}").as_str());
        id
    }

    /// Poll until the job's status is one of `statuses`.
    async fn wait_for(&self, id: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let a = self.get(&format!("/api/v1/scans/{id}")).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text());
            let v = a.json();
            if statuses.contains(&v["status"].as_str().unwrap()) {
                return v;
            }
            assert!(Instant::now() < deadline, "scan {id} never reached {statuses:?}: {v:#}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A kubeconfig for a cluster that does not exist (the API-only tests never scan).
fn nowhere_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("nowhere.kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: nothing}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n\
         current-context: x\n",
    )
    .unwrap();
    path
}

fn api_only() -> (tempfile::TempDir, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = nowhere_kubeconfig(dir.path());
    let setup = Setup::new(dir.path(), kubeconfig).arg(&["--namespaces", "shop,billing"]);
    (dir, setup)
}

fn repo(p: &str) -> String {
    support::root().join(p).display().to_string()
}

// ---------------------------------------------------------------------------
// API only
// ---------------------------------------------------------------------------

#[tokio::test]
async fn health_is_open_and_everything_else_needs_the_token() {
    let (_dir, setup) = api_only();
    let server = setup.start();
    let a = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    for path in ["/api/v1/profiles", "/metrics", "/openapi.json", "/scan", "/api/v1/scans/x"] {
        let a = server.call(Method::GET, path, None, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}: {}", a.text());
        assert_eq!(a.headers["www-authenticate"], "Bearer realm=\"kscan\"");
        assert!(a.json()["error"].as_str().unwrap().contains("Authorization: Bearer"), "{}", a.text());
        let a = server.call(Method::GET, path, Some("Basic dXNlcjpwYXNz"), None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}: {}", a.text());
        assert!(a.json()["error"].as_str().unwrap().contains("only bearer tokens"), "{}", a.text());
        let a = server.call(Method::GET, path, Some("Bearer test-token-0123456789abcdeX"), None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.text());
        assert!(a.json()["error"].as_str().unwrap().contains("not one this server accepts"), "{}", a.text());
    }
    let body = json!({"target": {"namespace": "ns", "pod": "p"}}).to_string().into_bytes();
    let a = server.call(Method::POST, "/api/v1/scans", None, Some(("application/json", body))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = server.get("/api/v1/profiles").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json(), json!({"items": []}));
    let a = server.get("/metrics").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.text().contains("kscan_queue_depth 0\n"), "{}", a.text());
    assert!(a.text().contains("kscan_scans_total{outcome=\"passed\"} 0\n"), "{}", a.text());
}

#[tokio::test]
async fn malformed_requests_are_4xx_naming_the_field() {
    let (_dir, setup) = api_only();
    let server = setup.arg(&["--thresholds", &repo("thresholds"), "--profiles", &repo("profiles")]).start();
    let ok_target = json!({"namespace": "shop", "pod": "web-0"});
    let cases: Vec<(Value, u16, Option<&str>, &str)> = vec![
        (json!({"target": {"namespace": "Shop_1", "pod": "web-0"}}), 422, Some("target.namespace"), "RFC 1123"),
        (json!({"target": {"namespace": "shop"}}), 422, Some("target.pod"), "target.selector"),
        (
            json!({"target": {"namespace": "shop", "pod": "a", "selector": "x=y"}}),
            422,
            Some("target.selector"),
            "not both",
        ),
        (json!({"target": {"namespace": "shop", "pod": "web_0"}}), 422, Some("target.pod"), "RFC 1123"),
        (json!({"target": ok_target, "scan": {"strategy": "teleport"}}), 400, Some("scan.strategy"), "teleport"),
        (
            json!({"target": ok_target, "scan": {"threshold": "nope"}}),
            422,
            Some("scan.threshold"),
            "GET /api/v1/thresholds",
        ),
        (json!({"target": ok_target, "scan": {"threshold": "../etc/passwd"}}), 422, Some("scan.threshold"), "name"),
        (
            json!({"target": ok_target, "scan": {"profile": "container-baseline"}}),
            422,
            Some("scan.profile"),
            "engine cinc",
        ),
        (
            json!({"target": ok_target, "scan": {"engine": "cinc", "strategy": "debug", "profile": "x"}}),
            422,
            Some("scan.strategy"),
            "exec",
        ),
        (
            json!({"target": ok_target, "scan": {"engine": "cinc", "profile": "x"}}),
            422,
            Some("scan.profile"),
            "GET /api/v1/profiles",
        ),
        (json!({"target": ok_target, "scan": {"engine": "cinc"}}), 422, Some("scan.profile"), "needs a profile"),
        (json!({"target": ok_target, "options": {"timeout": "5d"}}), 422, Some("options.timeout"), "unknown unit"),
        (json!({"target": ok_target, "options": {"timeout": "2h"}}), 422, Some("options.timeout"), "limit"),
        (json!({"target": ok_target, "options": {"reportFormat": "pdf"}}), 400, Some("options.reportFormat"), "pdf"),
        (json!({"target": ok_target, "callback": {"url": "ftp://x/y"}}), 422, Some("callback.url"), "http://"),
        (
            json!({"target": ok_target, "callback": {"url": "http://x/y", "authentication": {"type": "basic", "token": "t"}}}),
            400,
            Some("callback.authentication.type"),
            "basic",
        ),
        (json!({"target": ok_target, "scna": {}}), 400, Some("scna"), "unknown field"),
        (json!({"target": {"namespace": 7, "pod": "p"}}), 400, Some("target.namespace"), "invalid type"),
        (json!({"scan": {}}), 400, None, "missing field `target`"),
        (json!([1, 2]), 400, None, "JSON object"),
    ];
    for (body, status, field, says) in cases {
        let a = server.post("/api/v1/scans", &body).await;
        assert_eq!(a.status.as_u16(), status, "{body}: {}", a.text());
        let v = a.json();
        assert_eq!(v["field"].as_str(), field, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{body}: {v}");
    }
    let bearer = format!("Bearer {TOKEN}");
    let a = server
        .call(Method::POST, "/api/v1/scans", Some(&bearer), Some(("application/json", b"{\"target\":".to_vec())))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["error"].as_str().unwrap().contains("not JSON"), "{}", a.text());
    let a = server.call(Method::POST, "/api/v1/scans", Some(&bearer), Some(("text/plain", b"{}".to_vec()))).await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", a.text());
    let big = format!("{{\"target\": {{\"namespace\": \"{}\"}}}}", "a".repeat(100_000)).into_bytes();
    let a = server.call(Method::POST, "/api/v1/scans", Some(&bearer), Some(("application/json", big))).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.text());
    let a = server.get("/api/v1/results?format=hdf").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = server.get("/api/v1/scans/0b5e3b1c-5d1e-4c44-8f9e-6f7b3f3f0a11").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.json()["error"].as_str().unwrap().contains("no scan"), "{}", a.text());
    let a = server.get("/api/v1/scans/0b5e3b1c-5d1e-4c44-8f9e-6f7b3f3f0a11/results?format=xml").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text());
    let a = server.get("/scan?namespace=Not_Valid").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert_eq!(a.json()["field"], "namespace");
    // The catalog lists what the directories hold.
    assert_eq!(server.get("/api/v1/profiles").await.json(), json!({"items": ["container-baseline"]}));
    assert_eq!(server.get("/api/v1/thresholds").await.json(), json!({"items": ["lenient", "moderate", "strict"]}));
}

const READER: &str = "reader-token-0123456789";
const SCANNER: &str = "scanner-token-0123456789";
const BILLING: &str = "billing-token-0123456789";

/// Asserts a 403 whose reason contains `says`.
fn refused(a: &Answer, says: &str) {
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
    assert!(a.json()["error"].as_str().unwrap().contains(says), "wanted {says:?} in {}", a.text());
}

#[tokio::test]
async fn each_token_sees_submits_and_cancels_only_what_its_scopes_and_namespaces_allow() {
    let (_dir, setup) = api_only();
    let server = setup
        .tokens(&[
            &format!("{READER} scopes=read namespaces=shop name=dashboard"),
            &format!("{SCANNER} scopes=scan namespaces=shop name=ci-shop"),
            &format!("{BILLING} scopes=scan namespaces=billing name=ci-billing"),
            &format!("{TOKEN} scopes=admin namespaces=*"),
        ])
        .start();
    let shop = json!({"target": {"namespace": "shop", "pod": "web"}});
    let billing = json!({"target": {"namespace": "billing", "pod": "web"}});
    // Submitting: the scope, then the namespace.
    let a = server.as_token(READER, Method::POST, "/api/v1/scans", Some(&shop)).await;
    refused(&a, "token \"dashboard\" has scope read: submitting scans needs scope scan");
    let a = server.as_token(SCANNER, Method::POST, "/api/v1/scans", Some(&billing)).await;
    refused(&a, "token \"ci-shop\" may not submit scans in namespace billing (its namespaces: shop)");
    let elsewhere = json!({"target": {"namespace": "kube-system", "pod": "x"}});
    let a = server.as_token(TOKEN, Method::POST, "/api/v1/scans", Some(&elsewhere)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert_eq!(a.json()["field"], "target.namespace");
    assert!(
        a.text().contains("namespace kube-system is not one this server serves (--namespaces billing,shop)"),
        "{}",
        a.text()
    );
    let a = server.as_token(SCANNER, Method::POST, "/api/v1/scans", Some(&shop)).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    let in_shop = a.json()["id"].as_str().unwrap().to_owned();
    let a = server.as_token(BILLING, Method::POST, "/api/v1/scans", Some(&billing)).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    let in_billing = a.json()["id"].as_str().unwrap().to_owned();
    // Listing: each sees its namespaces only.
    let ids = |a: Answer| -> Vec<String> {
        a.json()["items"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(server.as_token(READER, Method::GET, "/api/v1/scans", None).await), [in_shop.as_str()]);
    assert_eq!(ids(server.as_token(BILLING, Method::GET, "/api/v1/scans", None).await), [in_billing.as_str()]);
    assert_eq!(ids(server.as_token(TOKEN, Method::GET, "/api/v1/scans", None).await).len(), 2);
    // One job: seen by who may see its namespace, cancelled by who may scan there.
    let job = format!("/api/v1/scans/{in_shop}");
    assert_eq!(server.as_token(READER, Method::GET, &job, None).await.status, StatusCode::OK);
    for (method, path, says) in [
        (Method::GET, job.clone(), "may not see it: scan"),
        (Method::GET, format!("{job}/results"), "may not read its results: scan"),
        (Method::DELETE, job.clone(), "may not cancel it: scan"),
        (Method::POST, format!("{job}/retry"), "may not retry it: scan"),
    ] {
        let a = server.as_token(BILLING, method, &path, None).await;
        refused(&a, says);
        assert!(a.text().contains("is in a namespace it may not see"), "{}", a.text());
    }
    refused(&server.as_token(READER, Method::DELETE, &job, None).await, "cancel it needs scope scan");
    refused(&server.as_token(READER, Method::POST, &format!("{job}/retry"), None).await, "retry it needs scope scan");
    // Server-wide things: metrics for admin only; posture per namespace.
    refused(
        &server.as_token(SCANNER, Method::GET, "/metrics", None).await,
        "reading the server's metrics needs scope admin",
    );
    assert_eq!(server.as_token(TOKEN, Method::GET, "/metrics", None).await.status, StatusCode::OK);
    refused(
        &server.as_token(READER, Method::GET, "/scan?namespace=billing", None).await,
        "may not read posture in namespace billing",
    );
    let a = server.as_token(READER, Method::GET, "/scan?namespace=kube-system", None).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert_eq!(server.as_token(READER, Method::GET, "/api/v1/thresholds", None).await.status, StatusCode::OK);
    // The scanner may cancel its namespace's job (it may have ended already: 409 then).
    let a = server.as_token(SCANNER, Method::DELETE, &job, None).await;
    assert!(matches!(a.status, StatusCode::OK | StatusCode::CONFLICT), "{}", a.text());
}

#[tokio::test]
async fn callbacks_to_internal_addresses_are_refused_at_submission() {
    let (_dir, setup) = api_only();
    let server = setup.start();
    let (url, seen) = receiver(0).await; // http://127.0.0.1:PORT/hook
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap().to_owned();
    for (callback, says) in [
        (url.clone(), "callbacks must use https://"),
        (format!("https://127.0.0.1:{port}/hook"), "127.0.0.1 (a loopback address)"),
        (format!("https://localhost:{port}/hook"), "a loopback address"),
        ("https://[::1]/hook".to_owned(), "::1 (a loopback address)"),
        ("https://169.254.169.254/latest/meta-data/".to_owned(), "a cloud metadata address"),
        ("https://[fd00:ec2::254]/".to_owned(), "a cloud metadata address"),
        ("https://10.0.0.1/hook".to_owned(), "a private address"),
        ("https://[::ffff:192.168.0.1]/hook".to_owned(), "a private address"),
        ("https://user:pass@ci.example/hook".to_owned(), "URL with a host"),
        ("https://kscan-no-such-host.invalid/hook".to_owned(), "does not resolve"),
    ] {
        let body = json!({"target": {"namespace": "shop", "pod": "web"}, "callback": {"url": callback}});
        let a = server.post("/api/v1/scans", &body).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{callback}: {}", a.text());
        assert_eq!(a.json()["field"], "callback.url", "{callback}");
        assert!(a.json()["error"].as_str().unwrap().contains(says), "{callback}: wanted {says:?}: {}", a.text());
    }
    // With http allowed, loopback is still refused; an allow-listed network is not.
    let (_dir, setup) = api_only();
    let lax = setup.arg(&["--callback-allow-http"]).start();
    let body = json!({"target": {"namespace": "shop", "pod": "web"}, "callback": {"url": url}});
    let a = lax.post("/api/v1/scans", &body).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
    assert!(a.text().contains("--callback-allow-cidr"), "{}", a.text());
    assert!(seen.lock().unwrap().calls.is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn a_failed_callback_does_not_tell_whether_the_port_is_open() {
    // Both receivers are on loopback, allowed for this test: one port is
    // closed, one accepts and resets, one accepts and never answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let resets = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (resets_at, silent_at) = (resets.local_addr().unwrap(), silent.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = resets.accept().await {
            let _ = stream.set_zero_linger();
        }
    });
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = silent.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let (_dir, setup) = api_only();
    let server = setup
        .arg(&["--callback-allow-http", "--callback-allow-cidr", "127.0.0.1/32", "--callback-attempts", "1"])
        .start();
    let mut errors = Vec::new();
    for at in [closed, resets_at, silent_at] {
        let body =
            json!({"target": {"namespace": "shop", "pod": "web"}, "callback": {"url": format!("http://{at}/hook")}});
        let id = server.submit(&body).await;
        // The cluster is unreachable: the job ends in error, then the callback is tried once.
        let deadline = Instant::now() + Duration::from_secs(60);
        let job = loop {
            let job = server.get(&format!("/api/v1/scans/{id}")).await.json();
            if job["callback"]["state"] == "failed" {
                break job;
            }
            assert!(Instant::now() < deadline, "the callback never failed: {job:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        errors.push(job["callback"]["lastError"].as_str().unwrap().to_owned());
    }
    assert_eq!(errors[0], errors[1], "closed and resetting ports read the same");
    assert_eq!(errors[0], errors[2], "closed and silent ports read the same");
    assert!(
        !errors[0].to_lowercase().contains("refused") && !errors[0].contains(&closed.port().to_string()),
        "{}",
        errors[0]
    );
    drop(held);
}

#[test]
fn a_tokens_file_that_names_an_unserved_namespace_or_a_bad_scope_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = nowhere_kubeconfig(dir.path());
    for (line, says) in [
        (format!("{READER} scopes=read namespaces=billing"), "namespace billing is not one this server serves"),
        (format!("{READER} scopes=write namespaces=shop"), "unknown scope \"write\""),
        (format!("{READER} namespaces=shop"), "scopes= is missing"),
    ] {
        std::fs::write(dir.path().join("tokens"), format!("{line}\n")).unwrap();
        let output = support::kscan()
            .args(["serve", "--namespaces", "shop", "--token-file"])
            .arg(dir.path().join("tokens"))
            .arg("--db")
            .arg(dir.path().join("kscan.db"))
            .env("KSCAN_KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{line}: {stderr}");
        assert!(stderr.contains(says) && stderr.contains("line 1"), "{line}: {stderr}");
        assert!(!stderr.contains(READER), "the token is never printed: {stderr}");
    }
}

// ---------------------------------------------------------------------------
// Several replicas on PostgreSQL (a throwaway server per test)
// ---------------------------------------------------------------------------

#[test]
fn a_postgres_url_that_cannot_serve_is_exit_2_or_3_and_the_password_is_never_printed() {
    let pg = support::postgres::Postgres::start();
    let newer = pg.create_db("newer");
    pg.psql("newer", "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    pg.psql("newer", "INSERT INTO schema_migrations VALUES (999, 'from the future')");
    let password = support::postgres::PASSWORD;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let user = support::postgres::USER;
    let cases = [
        (
            format!("postgres://{user}:not-the-password-42@127.0.0.1:{}/postgres", pg.port),
            2,
            "refused the credentials",
            "not-the-password-42",
        ),
        (
            format!("postgresql://{user}:{password}@127.0.0.1:{closed}/kscan"),
            3,
            "cannot connect to PostgreSQL",
            password,
        ),
        (
            format!("postgres://{user}:{password}@127.0.0.1:{}/kscan?sslmode=require", pg.port),
            2,
            "sslmode=require needs TLS",
            password,
        ),
        (format!("postgres://{user}:{password}@127.0.0.1:x/kscan"), 2, "not a usable PostgreSQL URL", password),
        (newer, 2, "newer than this kscan knows", password),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokens"), format!("{TOKEN}\n")).unwrap();
    let kubeconfig = nowhere_kubeconfig(dir.path());
    for (url, code, says, secret) in cases {
        let output = support::kscan()
            .args(["serve", "--listen", "127.0.0.1:0", "--namespaces", "shop", "--token-file"])
            .arg(dir.path().join("tokens"))
            .args(["--db", &url])
            .env("KSCAN_KUBECONFIG", &kubeconfig)
            .env("KSCAN_LOG", "debug")
            .output()
            .unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(code), "{url}: {all}");
        assert!(all.contains(says), "{url}: {all}");
        assert!(!all.contains(secret), "the password is never printed: {all}");
        assert!(all.contains(":***@127.0.0.1"), "the URL is named, redacted: {all}");
    }
}

/// Two replicas share a queue on PostgreSQL. A job running on one that is
/// killed (SIGKILL: no clean stop) is interrupted by the other once the
/// killed one's lease ran out, never while it still renews it; scans
/// submitted to either are run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_jobs_of_a_killed_replica_are_interrupted_by_a_live_one_when_its_lease_runs_out() {
    let pg = support::postgres::Postgres::start();
    let url = pg.create_db("kscan");
    let (_dir, setup) = api_only();
    let setup = setup.db(&url).arg(&["--replica-lease", "2s", "--poll-interval", "200ms"]);
    let a = setup.arg(&["--replica-id", "replica-a"]).start();
    let (_dir_b, setup_b) = api_only();
    let b = setup_b
        .db(&url)
        .arg(&["--replica-lease", "2s", "--poll-interval", "200ms", "--replica-id", "replica-b"])
        .start();
    assert_eq!(pg.psql("kscan", "SELECT string_agg(id, ',' ORDER BY id) FROM replicas"), "replica-a,replica-b");
    // A job replica-a is running (it had created nothing yet).
    let id = "5f0c1d9e-0000-4000-8000-000000000001";
    pg.psql(
        "kscan",
        &format!(
            "INSERT INTO jobs (id, status, request, owner, created_ms, started_ms, attempts) VALUES \
             ('{id}', 'running', '{{\"target\": {{\"namespace\": \"shop\", \"pod\": \"web-0\"}}}}', \
              'replica-a', 1, 2, 1)"
        ),
    );
    // While replica-a renews its lease, replica-b leaves the job alone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(b.get(&format!("/api/v1/scans/{id}")).await.json()["status"], "running");
    let mut a = a;
    let killed = Instant::now();
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let job = b.wait_for(id, &["interrupted"]).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(6), "recovered {took:?} after the kill (lease 2s)");
    assert!(took >= Duration::from_millis(500), "not before the lease could run out: {took:?}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("it had created nothing yet") && error.contains("/retry"), "{job:#}");
    assert_eq!(pg.psql("kscan", &format!("SELECT owner FROM jobs WHERE id = '{id}'")), "replica-b");
    // Scans submitted to the survivor run there once each (the nowhere
    // cluster makes them errors, quickly).
    let body = json!({"target": {"namespace": "shop", "pod": "web-0"}});
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(b.submit(&body).await);
    }
    for id in &ids {
        let job = b.wait_for(id, &["error"]).await;
        assert_eq!(job["attempts"], 1, "{job:#}");
    }
    assert_eq!(
        pg.psql("kscan", "SELECT count(*), count(DISTINCT owner), min(owner) FROM jobs WHERE status = 'error'"),
        "4|1|replica-b"
    );
    // A clean stop gives the lease up.
    drop(b);
    assert_eq!(pg.psql("kscan", "SELECT count(*) FROM replicas WHERE id = 'replica-b'"), "0");
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let (_dir, setup) = api_only();
    let server = setup.start();
    let a = server.get("/openapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let expected = [
        ("DELETE", "/api/v1/scans/{id}"),
        ("GET", "/api/v1/profiles"),
        ("GET", "/api/v1/scans"),
        ("GET", "/api/v1/scans/{a}/diff/{b}"),
        ("GET", "/api/v1/scans/{id}"),
        ("GET", "/api/v1/scans/{id}/results"),
        ("GET", "/api/v1/targets/{namespace}/{kind}/{name}/{container}/history"),
        ("GET", "/api/v1/thresholds"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/readyz"),
        ("GET", "/scan"),
        ("POST", "/api/v1/scans"),
        ("POST", "/api/v1/scans/{id}/retry"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected);
    // Every documented route is served: none reaches the fallback.
    for (method, path) in &documented {
        let path = ["{id}", "{a}", "{b}"]
            .iter()
            .fold(path.clone(), |p, k| p.replace(k, "0b5e3b1c-5d1e-4c44-8f9e-6f7b3f3f0a11"));
        let path = path.replace("{namespace}", "shop").replace("{kind}", "Deployment");
        let path = path.replace("{name}", "web").replace("{container}", "app");
        let a = server.call(method.parse().unwrap(), &path, Some(&format!("Bearer {TOKEN}")), None).await;
        assert!(!a.text().contains("no such route"), "{method} {path} is documented but not served: {}", a.text());
    }
    let a = server.get("/api/v1/nothing").await;
    assert!(a.text().contains("no such route"), "{}", a.text());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer", "{doc}");
    assert!(doc["components"]["schemas"]["ScanRequest"].is_object());
    // Links from the 202 of a submission to the job's operations, in OpenAPI's spelling.
    let links = &doc["paths"]["/api/v1/scans"]["post"]["responses"]["202"]["links"];
    assert_eq!(links["GetScan"]["operationId"], "get_scan", "{links:#}");
    assert_eq!(links["GetScan"]["parameters"]["id"], "$response.body#/id");
    assert!(links["GetScan"].get("operation_id").is_none());
}

// ---------------------------------------------------------------------------
// Against the testbed
// ---------------------------------------------------------------------------

fn web() -> Value {
    json!([{"name": "app", "image": standard(), "command": KEEP_RUNNING}])
}

/// A server on the testbed that serves namespace `ns`.
fn testbed(dir: &Path, ns: &str) -> Setup {
    Setup::new(dir, support::testbed_kubeconfig()).arg(&["--namespaces", ns]).arg(&[
        "--thresholds",
        &repo("thresholds"),
        "--profiles",
        &repo("profiles"),
    ])
}

fn standin() -> String {
    repo("tests/standins/cinc-auditor-standin")
}

/// A scan that runs the stand-in engine (which hangs when the server runs with STANDIN_MODE=hang).
fn cinc_scan(ns: &str) -> Value {
    json!({"target": {"namespace": ns, "pod": "web"}, "scan": {"strategy": "exec", "engine": "cinc", "profile": "container-baseline"}})
}

/// The child processes of `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .collect()
}

/// Waits until the stand-in engine ran (the access objects exist then).
async fn engine_started(record: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !record.exists() {
        assert!(Instant::now() < deadline, "the engine never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a callback receiver saw.
#[derive(Default, Clone)]
struct Seen {
    calls: Vec<(Option<String>, Value)>,
}

/// A receiver on an ephemeral port that fails its first `fail` calls with 503.
async fn receiver(fail: usize) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                let mut s = state.lock().unwrap();
                s.calls.push((auth, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                if s.calls.len() <= fail {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn a_scan_runs_to_the_end_its_results_are_served_and_the_callback_lands_on_the_third_try() {
    cluster::in_namespace("serve-scan", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let dir = tempfile::tempdir().unwrap();
        let server = testbed(dir.path(), &ns)
            .arg(&["--callback-backoff", "200ms", "--callback-allow-http", "--callback-allow-cidr", "127.0.0.1/32"])
            .start();
        let (url, seen) = receiver(2).await;
        let id = server
            .submit(&json!({
                "target": {"namespace": ns, "pod": "web", "container": "app"},
                "scan": {"strategy": "auto", "threshold": "lenient"},
                "options": {"timeout": "5m", "reportFormat": "hdf"},
                "callback": {"url": url, "authentication": {"type": "bearer", "token": "receiver-secret"}},
            }))
            .await;
        let job = server.wait_for(&id, &["passed", "failed", "error"]).await;
        assert_ne!(job["status"], "error", "{job:#}");
        let target = &job["summary"]["targets"][0];
        assert_eq!(target["pod"], "web");
        assert_eq!(target["strategyUsed"], "exec", "{job:#}");
        assert!(target["passed"].as_u64().unwrap() > 0, "{job:#}");
        let gate = &job["summary"]["gate"];
        assert_eq!(gate["threshold"], "lenient");
        assert_eq!(job["status"], if gate["passed"] == json!(true) { "passed" } else { "failed" }, "{job:#}");
        assert_eq!(job["request"]["callback"]["authentication"]["token"], "<redacted>");
        assert!(job["durationSeconds"].as_f64().unwrap() > 0.0);
        // Results: the HDF document of the one target.
        let a = server.get(&format!("/api/v1/scans/{id}/results?format=hdf")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let hdf = a.json();
        assert_eq!(hdf["platform"]["kscan_strategy"], "exec");
        let passed_in_hdf = hdf["profiles"][0]["controls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["results"].as_array().unwrap().iter().all(|r| r["status"] == "passed"))
            .count() as u64;
        assert_eq!(passed_in_hdf, target["passed"].as_u64().unwrap(), "summary and HDF agree");
        // The same results as JUnit, SARIF and Markdown, gated with the job's threshold.
        let a = server.get(&format!("/api/v1/scans/{id}/results?format=junit")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.headers["content-type"], "application/xml");
        assert!(a.text().starts_with("<?xml") && a.text().contains("<testsuite"), "{}", a.text());
        let a = server.get(&format!("/api/v1/scans/{id}/results?format=sarif")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let sarif = a.json();
        assert_eq!(sarif["version"], "2.1.0");
        let failed = target["failed"].as_u64().unwrap() as usize;
        assert!(sarif["runs"][0]["results"].as_array().unwrap().len() >= failed, "{sarif:#}");
        let a = server.get(&format!("/api/v1/scans/{id}/results?format=markdown")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert!(a.headers["content-type"].to_str().unwrap().starts_with("text/markdown"));
        assert!(a.text().contains(&format!("{}%", target["compliance"])), "{}", a.text());
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "nothing left in the cluster");
        // The callback: two 503s, then delivered, with the token and the final status.
        let deadline = Instant::now() + Duration::from_secs(60);
        let job = loop {
            let job = server.get(&format!("/api/v1/scans/{id}")).await.json();
            if job["callback"]["state"] != "pending" {
                break job;
            }
            assert!(Instant::now() < deadline, "the callback never ended: {job:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(job["callback"]["state"], "delivered", "{job:#}");
        assert_eq!(job["callback"]["attempts"], 3, "{job:#}");
        let calls = seen.lock().unwrap().calls.clone();
        assert_eq!(calls.len(), 3);
        for (auth, body) in &calls {
            assert_eq!(auth.as_deref(), Some("Bearer receiver-secret"));
            assert_eq!(body["id"], id.as_str());
            assert_eq!(body["status"], job["status"]);
            assert_eq!(body["summary"], job["summary"]);
        }
        let metrics = server.get("/metrics").await.text();
        let outcome = job["status"].as_str().unwrap();
        assert!(metrics.contains(&format!("kscan_scans_total{{outcome=\"{outcome}\"}} 1\n")), "{metrics}");
        assert!(metrics.contains("kscan_scan_duration_seconds_count 1\n"), "{metrics}");
        assert!(metrics.contains("kscan_leaked_objects_total 0\n"), "{metrics}");
    })
    .await;
}

#[tokio::test]
async fn a_full_queue_answers_429_and_cancel_tears_down_mid_scan() {
    cluster::in_namespace("serve-cancel", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record.json");
        let server = testbed(dir.path(), &ns)
            .arg(&["--workers", "1", "--queue-limit", "1", "--engine-bin", &standin()])
            .env("STANDIN_MODE", "hang")
            .env("STANDIN_RECORD", &record.display().to_string())
            .start();
        let running = server.submit(&cinc_scan(&ns)).await;
        engine_started(&record).await;
        assert_eq!(server.get(&format!("/api/v1/scans/{running}")).await.json()["status"], "running");
        assert_eq!(
            kscan_objects(&client, &ns).await.len(),
            ACCESS_OBJECTS,
            "the run's access exists while the engine runs"
        );
        let queued = server.submit(&cinc_scan(&ns)).await;
        let a = server.post("/api/v1/scans", &cinc_scan(&ns)).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text());
        let retry_after: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1);
        assert!(a.json()["error"].as_str().unwrap().contains("queue is full"), "{}", a.text());
        assert!(server.get("/metrics").await.text().contains("kscan_queue_depth 1\n"));
        // Cancel the queued one: it never runs.
        let a = server.delete(&format!("/api/v1/scans/{queued}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["status"], "cancelled");
        // Cancel the running one: teardown runs before the answer.
        let a = server.delete(&format!("/api/v1/scans/{running}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let job = a.json();
        assert_eq!(job["status"], "cancelled", "{job:#}");
        assert!(job["error"].as_str().unwrap().contains("teardown ran"), "{job:#}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "cancel left objects");
        let a = server.delete(&format!("/api/v1/scans/{running}")).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
        let a = server.get(&format!("/api/v1/scans/{running}/results")).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text());
    })
    .await;
}

/// Three replicas on one PostgreSQL, on the testbed: scans of several pods
/// submitted to any of them run once each; a replica killed mid-scan
/// (SIGKILL, no teardown) has its scan cleaned up and interrupted by the
/// others within its lease, and the retry passes on a survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_postgres_run_each_scan_once_and_recover_a_killed_one() {
    let pg = support::postgres::Postgres::start();
    let url = pg.create_db("kscan");
    cluster::in_namespace("serve-replicas", |client, ns| async move {
        for pod in ["web", "web-b", "web-c"] {
            running_pod(&client, &ns, pod, web()).await;
        }
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record.json");
        let replica = |id: &str| {
            testbed(dir.path(), &ns).db(&url).arg(&[
                "--workers",
                "1",
                "--engine-bin",
                &standin(),
                "--replica-lease",
                "3s",
                "--poll-interval",
                "200ms",
                "--replica-id",
                id,
            ])
        };
        // r0 alone takes the scan whose engine hangs.
        let mut r0 =
            replica("r0").env("STANDIN_MODE", "hang").env("STANDIN_RECORD", &record.display().to_string()).start();
        let hung = r0.submit(&cinc_scan(&ns)).await;
        engine_started(&record).await;
        let (r1, r2) = (replica("r1").start(), replica("r2").start());
        let replicas = [&r0, &r1, &r2];
        let mut scans = Vec::new();
        for (i, pod) in ["web", "web-b", "web-c", "web", "web-b", "web-c"].iter().enumerate() {
            let body = json!({"target": {"namespace": ns, "pod": pod}, "scan": {"strategy": "exec"}});
            scans.push(replicas[i % 3].submit(&body).await);
        }
        // r0 dies mid-scan; its engine goes with it.
        let engine = children(r0.child.id());
        r0.child.kill().unwrap();
        r0.child.wait().unwrap();
        let killed = Instant::now();
        for pid in engine {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        let job = r1.wait_for(&hung, &["interrupted"]).await;
        let took = killed.elapsed();
        assert!(took < Duration::from_secs(15), "recovered {took:?} after the kill (lease 3s)");
        assert!(job["error"].as_str().unwrap().contains(&format!("removed {ACCESS_OBJECTS} object(s)")), "{job:#}");
        for id in &scans {
            let job = r2.wait_for(id, &["passed", "failed", "error"]).await;
            assert_eq!(job["status"], "passed", "{job:#}");
            assert_eq!(job["attempts"], 1, "{job:#}");
        }
        let owners =
            pg.psql("kscan", "SELECT string_agg(DISTINCT owner, ',' ORDER BY owner) FROM jobs WHERE status = 'passed'");
        assert!(owners.split(',').all(|o| o == "r1" || o == "r2"), "only live replicas ran them: {owners}");
        assert_eq!(pg.psql("kscan", "SELECT count(*), count(DISTINCT run_id) FROM jobs"), "7|7", "one run per job");
        let a = r2.post(&format!("/api/v1/scans/{hung}/retry"), &json!({})).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        let job = r1.wait_for(&hung, &["passed", "failed", "error"]).await;
        assert_eq!(job["status"], "passed", "the retry runs on a survivor: {job:#}");
        assert_eq!(job["attempts"], 2);
        drop((r1, r2));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

/// Per job id, the run ids a replica's log says it ran the job as
/// (`scan ID: running as run RUN`), in order.
fn runs_logged(log: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("reading {}: {e}", log.display()));
    text.lines()
        .filter_map(|line| {
            let (head, run) = line.split_once(": running as run ")?;
            let id = head.rsplit_once("scan ")?.1;
            Some((id.to_owned(), run.trim().to_owned()))
        })
        .collect()
}

/// The values of the run label of every object labelled as kscan's that
/// appears in `ns` while the returned task runs: the runs that reached the
/// cluster.
fn runs_in_cluster(
    client: &kube::Client,
    ns: &str,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<std::collections::BTreeSet<String>>>) {
    use futures::TryStreamExt;
    use kube::runtime::watcher::{self, Event};
    use kube::runtime::WatchStreamExt;
    let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let accounts: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> = kube::Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().labels("app.kubernetes.io/managed-by=kscan");
    let into = seen.clone();
    let task = tokio::spawn(async move {
        let mut stream = std::pin::pin!(watcher::watcher(accounts, config).default_backoff());
        loop {
            match stream.try_next().await {
                Ok(Some(Event::Apply(sa) | Event::InitApply(sa))) => {
                    if let Some(run) = sa.metadata.labels.and_then(|mut l| l.remove("kscan.dev/run")) {
                        into.lock().unwrap().insert(run);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(e) => eprintln!("watch of kscan's ServiceAccounts: {e}"),
            }
        }
    });
    (task, seen)
}

/// The issue's size: three replicas with four workers each on one
/// PostgreSQL take 200 builtin scans of 20 pods, submitted round-robin to
/// all three. One replica is killed (SIGKILL) while it runs scans; the
/// survivors adopt and interrupt those, their retries pass on the
/// survivors, and every scan ran to its end exactly once: the API and the
/// store say so (one attempt, or two for the interrupted ones, one run id
/// and one history point each; nothing recorded as ended by the killed
/// replica after its death), the replicas' logs say each job was started
/// once (the interrupted ones once more, on a survivor), and every run that
/// reached the cluster is one of those. Prints how long each part took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_run_200_scans_of_20_pods_once_each_through_a_kill_9() {
    const SCANS: usize = 200;
    const PODS: usize = 20;
    let pg = support::postgres::Postgres::start();
    let url = pg.create_db("kscan");
    cluster::in_namespace("serve-200", |client, ns| async move {
        let started = Instant::now();
        let pods = cluster::deployment(&client, &ns, "web", PODS).await;
        eprintln!("{PODS} target pods running after {:.1?}", started.elapsed());
        let dir = tempfile::tempdir().unwrap();
        let log = |id: &str| dir.path().join(format!("{id}.log"));
        let replica = |id: &str| {
            testbed(dir.path(), &ns)
                .db(&url)
                .arg(&["--workers", "4", "--queue-limit", "1000", "--replica-lease", "3s", "--poll-interval", "200ms"])
                .arg(&["--replica-id", id])
                .log_to(&log(id))
                .start()
        };
        let mut r0 = replica("r0");
        let (r1, r2) = (replica("r1"), replica("r2"));
        let (watch, in_cluster) = runs_in_cluster(&client, &ns);

        // r0 is killed mid run, as soon as a quarter of the scans ended and
        // it runs some; the submissions go on, to the survivors.
        let finished = "status IN ('passed', 'failed', 'error', 'interrupted', 'cancelled')";
        let mid_run = || {
            let sql = format!(
                "SELECT count(*) FILTER (WHERE {finished}), \
                 count(*) FILTER (WHERE status = 'running' AND owner = 'r0') FROM jobs"
            );
            let row = pg.psql("kscan", &sql);
            let (done, running) = row.split_once('|').unwrap_or_else(|| panic!("unexpected psql output {row:?}"));
            let (done, running): (usize, usize) = (done.parse().unwrap(), running.parse().unwrap());
            assert!(done < SCANS, "all scans ended before r0 could be killed mid run");
            done >= SCANS / 4 && running > 0
        };
        let clock = Instant::now();
        let deadline = clock + Duration::from_secs(300);
        let (mut ids, mut killed_ms) = (Vec::new(), None);
        while ids.len() < SCANS || killed_ms.is_none() {
            let i = ids.len();
            if i < SCANS {
                let body = json!({"target": {"namespace": ns, "pod": pods[i % PODS]},
                                  "scan": {"strategy": "exec", "engine": "builtin"}});
                let to = if killed_ms.is_none() { [&r0, &r1, &r2][i % 3] } else { [&r1, &r2][i % 2] };
                ids.push(to.submit(&body).await);
            } else {
                assert!(Instant::now() < deadline, "r0 was never seen running a scan mid run");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if killed_ms.is_none() && (i % 4 == 0 || i >= SCANS) && mid_run() {
                r0.child.kill().unwrap();
                r0.child.wait().unwrap();
                killed_ms =
                    Some(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis());
                eprintln!("r0 killed after {} submissions, {:.1?} after the first", ids.len(), clock.elapsed());
            }
        }
        let killed_ms = killed_ms.unwrap();
        eprintln!("{SCANS} scans submitted in {:.1?}", clock.elapsed());

        // Every scan ends; those r0 ran are interrupted by a survivor.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let left = pg.psql("kscan", &format!("SELECT count(*) FROM jobs WHERE NOT ({finished})"));
            if left == "0" {
                break;
            }
            assert!(Instant::now() < deadline, "{left} scans never ended");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!("all {SCANS} scans ended {:.1?} after the first submission", clock.elapsed());
        let lists = |sql: &str| -> Vec<String> {
            pg.psql("kscan", sql).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
        };
        let interrupted = lists("SELECT id FROM jobs WHERE status = 'interrupted' ORDER BY id");
        assert!(!interrupted.is_empty(), "r0 was killed while it ran scans, none was interrupted");
        assert_eq!(
            lists("SELECT DISTINCT status FROM jobs ORDER BY 1"),
            ["interrupted", "passed"],
            "every scan passed but those r0 ran when killed"
        );
        let r0_runs: Vec<String> = runs_logged(&log("r0")).into_iter().map(|(id, _)| id).collect();
        for id in &interrupted {
            assert!(r0_runs.contains(id), "{id} was interrupted but r0 never ran it");
            let job = r1.get(&format!("/api/v1/scans/{id}")).await.json();
            assert!(job["error"].as_str().unwrap().contains("the server stopped while this scan ran"), "{job:#}");
        }
        eprintln!("{} scan(s) of r0 interrupted", interrupted.len());

        // The interrupted ones, retried, pass on the survivors.
        for (i, id) in interrupted.iter().enumerate() {
            let a = [&r1, &r2][i % 2].post(&format!("/api/v1/scans/{id}/retry"), &json!({})).await;
            assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        }
        for id in &interrupted {
            let job = r2.wait_for(id, &["passed", "failed", "error"]).await;
            assert_eq!(job["status"], "passed", "{job:#}");
            assert_eq!(job["attempts"], 2, "{job:#}");
        }
        eprintln!("{SCANS} scans passed {:.1?} after the first submission", clock.elapsed());

        // The API: every scan passed, once, or twice for the interrupted ones.
        let listed = r1.get("/api/v1/scans?limit=500").await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
        let listed = listed.json()["items"].as_array().expect("a list of scans").clone();
        assert_eq!(listed.len(), SCANS, "the API lists every scan");
        for job in &listed {
            let id = job["id"].as_str().unwrap().to_owned();
            assert!(ids.contains(&id), "a scan nobody submitted: {job:#}");
            assert_eq!(job["status"], "passed", "{job:#}");
            let attempts = if interrupted.contains(&id) { 2 } else { 1 };
            assert_eq!(job["attempts"], attempts, "{job:#}");
        }
        // The store: one run id and one history point per scan, 10 scans of
        // each pod, and only the survivors finished any.
        assert_eq!(
            pg.psql("kscan", "SELECT count(*), count(DISTINCT id), count(DISTINCT run_id) FROM jobs"),
            format!("{SCANS}|{SCANS}|{SCANS}")
        );
        assert_eq!(
            pg.psql("kscan", "SELECT count(*), count(DISTINCT job_id) FROM target_runs"),
            format!("{SCANS}|{SCANS}"),
            "one history point per scan"
        );
        assert_eq!(
            lists("SELECT DISTINCT count(*) FROM target_runs GROUP BY pod"),
            [(SCANS / PODS).to_string()],
            "each pod scanned {} times",
            SCANS / PODS
        );
        // r0 ended scans until it was killed, and none after.
        let r0_ended = pg.psql("kscan", "SELECT count(*), coalesce(max(finished_ms), 0) FROM jobs WHERE owner = 'r0'");
        let (count, last) = r0_ended.split_once('|').unwrap();
        assert!(last.parse::<u128>().unwrap() <= killed_ms, "r0 ended a scan after it was killed: {r0_ended}");
        eprintln!("r0 ended {count} scan(s) before it was killed");
        for id in &interrupted {
            let owner = pg.psql("kscan", &format!("SELECT owner FROM jobs WHERE id = '{id}'"));
            assert!(owner == "r1" || owner == "r2", "retried scan {id} ended on {owner}");
        }
        // The logs: each scan started once, the interrupted ones once on r0
        // and once more on a survivor; the store kept the last run.
        let mut started_as: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
        for replica in ["r0", "r1", "r2"] {
            for (id, run) in runs_logged(&log(replica)) {
                started_as.entry(id).or_default().push((replica.to_owned(), run));
            }
        }
        assert_eq!(started_as.len(), SCANS, "every scan was started");
        let kept: std::collections::BTreeMap<String, String> = lists("SELECT id || ' ' || run_id FROM jobs")
            .into_iter()
            .map(|l| {
                let (id, run) = l.split_once(' ').unwrap();
                (id.to_owned(), run.to_owned())
            })
            .collect();
        let mut all_runs = std::collections::BTreeSet::new();
        for (id, runs) in &started_as {
            if interrupted.contains(id) {
                assert_eq!(runs.len(), 2, "interrupted scan {id} started as {runs:?}");
                assert_eq!(runs[0].0, "r0", "interrupted scan {id} started as {runs:?}");
                assert_ne!(runs[1].0, "r0", "retried scan {id} started as {runs:?}");
            } else {
                assert_eq!(runs.len(), 1, "scan {id} started as {runs:?}");
            }
            assert_eq!(kept[id], runs.last().unwrap().1, "the store keeps the run that ended scan {id}");
            all_runs.extend(runs.iter().map(|(_, run)| run.clone()));
        }
        // The cluster: every run it saw is one of those, and every kept run
        // reached it.
        watch.abort();
        let in_cluster = in_cluster.lock().unwrap().clone();
        let strangers: Vec<&String> = in_cluster.difference(&all_runs).collect();
        assert!(strangers.is_empty(), "runs in the cluster no replica logged: {strangers:?}");
        let missing: Vec<&String> = kept.values().filter(|run| !in_cluster.contains(*run)).collect();
        assert!(missing.is_empty(), "kept runs that never reached the cluster: {missing:?}");
        drop((r1, r2));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "nothing left in the cluster");
        eprintln!("whole test: {:.1?}", started.elapsed());
    })
    .await;
}

#[tokio::test]
async fn a_restart_mid_queue_loses_no_job_and_cleans_up_the_interrupted_one() {
    cluster::in_namespace("serve-restart", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record.json");
        let hanging = testbed(dir.path(), &ns)
            .arg(&["--workers", "1", "--engine-bin", &standin()])
            .env("STANDIN_MODE", "hang")
            .env("STANDIN_RECORD", &record.display().to_string());
        let mut first = hanging.start();
        let interrupted = first.submit(&cinc_scan(&ns)).await;
        engine_started(&record).await;
        let waiting =
            first.submit(&json!({"target": {"namespace": ns, "pod": "web"}, "scan": {"strategy": "exec"}})).await;
        assert_eq!(first.get(&format!("/api/v1/scans/{waiting}")).await.json()["status"], "queued");
        // The server dies without a chance to tear down (its hanging engine
        // is ended too, as a node losing the server would end it).
        let engine = children(first.child.id());
        first.child.kill().unwrap();
        first.child.wait().unwrap();
        for pid in engine {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
        assert_eq!(kscan_objects(&client, &ns).await.len(), ACCESS_OBJECTS, "a killed server leaves its run's objects");
        let second = testbed(dir.path(), &ns).arg(&["--workers", "1", "--engine-bin", &standin()]).start();
        let job = second.get(&format!("/api/v1/scans/{interrupted}")).await.json();
        assert_eq!(job["status"], "interrupted", "{job:#}");
        assert!(job["error"].as_str().unwrap().contains(&format!("removed {ACCESS_OBJECTS} object(s)")), "{job:#}");
        // (The queued scan may already be creating its own objects.)
        let run = format!("kscan-{}", job["runId"].as_str().unwrap());
        let left: Vec<String> = kscan_objects(&client, &ns).await.into_iter().filter(|o| o.ends_with(&run)).collect();
        assert_eq!(left, Vec::<String>::new(), "recovery removed the interrupted run's objects");
        let job = second.wait_for(&waiting, &["passed", "failed", "error"]).await;
        assert_eq!(job["status"], "passed", "the queued scan ran after the restart: {job:#}");
        // The interrupted one can be retried (the stand-in no longer hangs).
        let a = second.post(&format!("/api/v1/scans/{interrupted}/retry"), &json!({})).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
        let job = second.wait_for(&interrupted, &["passed", "failed", "error"]).await;
        assert_eq!(job["status"], "passed", "{job:#}");
        assert_eq!(job["attempts"], 2);
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn get_scan_answers_with_a_posture_scan_of_the_namespace() {
    cluster::in_namespace("serve-posture", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let dir = tempfile::tempdir().unwrap();
        let server = testbed(dir.path(), &ns).start();
        let a = server.get(&format!("/scan?namespace={ns}")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let doc = a.json();
        assert_eq!(doc["summary"]["containers"], 1, "{doc:#}");
        assert_eq!(doc["summary"]["latest_tag"], 0, "{doc:#}");
        assert_eq!(
            doc["root_containers"].as_array().map(Vec::len).unwrap_or(0)
                + doc["unknown_user_containers"].as_array().map(Vec::len).unwrap_or(0),
            1,
            "{doc:#}"
        );
        assert_eq!(doc["errors"], json!([]));
        // Without a namespace: the namespaces the server serves, no other.
        let a = server.get("/scan").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json()["summary"]["containers"], 1, "{}", a.text());
        let a = server.get("/scan?namespace=kube-system").await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
        assert!(a.json()["error"].as_str().unwrap().contains("not one this server serves"), "{}", a.text());
    })
    .await;
}

/// Creates a running pod labelled `app=<app>`.
async fn labelled_pod(client: &kube::Client, ns: &str, name: &str, app: &str) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, PostParams};
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "containers": [{"name": "app", "image": standard(), "command": KEEP_RUNNING}],
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
        }
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    cluster::wait_running(&pods, name).await;
}

/// Jobs whose target is `pod`.
async fn jobs_of(server: &Server, pod: &str) -> Vec<Value> {
    let list = server.get("/api/v1/scans").await.json();
    list["items"].as_array().unwrap().iter().filter(|j| j["request"]["target"]["pod"] == pod).cloned().collect()
}

/// The id of the first job for `pod` a trigger of `server` submits, within
/// `within`; `never` says what it means when there is none.
async fn first_job_of(server: &Server, pod: &str, within: Duration, never: &str) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(job) = jobs_of(server, pod).await.first() {
            return job["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "{never}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn watch_scans_a_pod_that_starts_after_the_server_once() {
    cluster::in_namespace("serve-watch", |client, ns| async move {
        labelled_pod(&client, &ns, "before", "watched").await;
        let dir = tempfile::tempdir().unwrap();
        let server = testbed(dir.path(), &ns)
            .arg(&["--watch", "app=watched", "--trigger-namespace", &ns, "--lease-namespace", &ns])
            .start();
        // Give the watch its initial list before the new pod appears.
        tokio::time::sleep(Duration::from_secs(2)).await;
        labelled_pod(&client, &ns, "after", "watched").await;
        labelled_pod(&client, &ns, "other", "unwatched").await;
        let id = first_job_of(&server, "after", Duration::from_secs(120), "the new pod was never scanned").await;
        let job = server.wait_for(&id, &["passed", "failed", "error"]).await;
        assert_eq!(job["status"], "passed", "{job:#}");
        assert_eq!(job["request"]["target"]["container"], "app");
        // Later updates of the pod (and the scan itself) trigger nothing more.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(jobs_of(&server, "after").await.len(), 1, "scanned once");
        assert_eq!(jobs_of(&server, "before").await.len(), 0, "pods running before the start are not events");
        assert_eq!(jobs_of(&server, "other").await.len(), 0, "pods not matching are not scanned");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

/// A kubeconfig for ServiceAccount `sa` of `ns` (a fresh token).
async fn service_account_kubeconfig(client: &kube::Client, ns: &str, sa: &str, dir: &Path) -> PathBuf {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use kube::api::{Api, PostParams};
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(900), ..Default::default() },
        ..Default::default()
    };
    let token = sas.create_token_request(sa, &PostParams::default(), &request).await.unwrap().status.unwrap().token;
    let mut kubeconfig = kube::config::Kubeconfig::read_from(support::testbed_kubeconfig()).unwrap();
    kubeconfig.auth_infos = vec![serde_json::from_value(json!({"name": sa, "user": {"token": token}})).unwrap()];
    for context in &mut kubeconfig.contexts {
        if let Some(c) = context.context.as_mut() {
            c.user = Some(sa.into());
        }
    }
    let path = dir.join("sa.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// The documents of a file under deploy/.
fn deploy_docs(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(support::root().join("deploy").join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_json::to_value(serde_yaml::Value::deserialize(doc).unwrap()).unwrap())
        .collect()
}

/// The document of `kind` in a file under deploy/.
fn deploy_doc(file: &str, kind: &str) -> Value {
    deploy_docs(file).into_iter().find(|v| v["kind"] == kind).unwrap_or_else(|| panic!("deploy/{file} has no {kind}"))
}

use serde::Deserialize;

#[test]
fn the_deploy_manifests_grant_nothing_cluster_wide_and_never_read_secrets() {
    let mut kinds = Vec::new();
    for file in
        ["kscan-serve.yaml", "kscan-serve-namespace.yaml", "kscan-serve-admission.yaml", "kscan-serve-jobs.yaml"]
    {
        kinds.extend(deploy_docs(file).into_iter().map(|d| d["kind"].as_str().unwrap().to_owned()));
    }
    assert!(!kinds.iter().any(|k| k == "ClusterRoleBinding"), "no ClusterRoleBinding: {kinds:?}");
    assert!(
        kinds.iter().any(|k| k == "ValidatingAdmissionPolicy")
            && kinds.iter().any(|k| k == "ValidatingAdmissionPolicyBinding")
    );
    let role = deploy_doc("kscan-serve.yaml", "ClusterRole");
    for rule in role["rules"].as_array().unwrap() {
        let resources: Vec<&str> = rule["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let verbs: Vec<&str> = rule["verbs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(!resources.contains(&"namespaces"), "no cluster-scoped resource: {rule}");
        assert!(
            !verbs.contains(&"*")
                && !verbs.contains(&"escalate")
                && !verbs.contains(&"bind")
                && !verbs.contains(&"impersonate"),
            "{rule}"
        );
        if resources.contains(&"secrets") {
            assert!(verbs.iter().all(|v| ["create", "delete"].contains(v)), "secrets are never read: {rule}");
        }
    }
    for file in ["kscan-serve.yaml", "kscan-serve-namespace.yaml"] {
        let binding = deploy_doc(file, "RoleBinding");
        assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"], "{file}");
    }
    // The triggers' Lease: get and update that one Lease by name, create; nothing else.
    let lease = deploy_doc("kscan-serve.yaml", "Role");
    assert_eq!(lease["metadata"]["name"], "kscan-serve-lease");
    assert_eq!(
        lease["rules"],
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["kscan-triggers"],
             "verbs": ["get", "update"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        ])
    );
    let bound = deploy_docs("kscan-serve.yaml").into_iter().filter(|d| d["kind"] == "RoleBinding").collect::<Vec<_>>();
    assert!(bound.iter().any(|b| b["roleRef"]
        == json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kscan-serve-lease"})));
    // --executor jobs: its Jobs and its shards' logs, nothing else.
    assert_eq!(
        deploy_doc("kscan-serve-jobs.yaml", "ClusterRole")["rules"],
        json!([
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "delete"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        ])
    );
    assert_eq!(deploy_doc("kscan-serve-jobs.yaml", "RoleBinding")["roleRef"]["name"], "kscan-serve-jobs");
    let deployment = deploy_doc("kscan-serve.yaml", "Deployment");
    let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains("--namespaces=kscan"), "{args}");
}

/// Installs deploy/'s ClusterRole, a RoleBinding of it in `ns` for
/// ServiceAccount `kscan-serve` of `ns`, and deploy/'s admission policy for
/// that identity, limited to `ns`; all named after `ns`.
async fn install_deploy(client: &kube::Client, ns: &str) {
    use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
    use kube::api::{Api, PostParams};
    let post = PostParams::default();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    sas.create(&post, &serde_json::from_value(json!({"metadata": {"name": "kscan-serve"}})).unwrap()).await.unwrap();
    let mut role = deploy_doc("kscan-serve.yaml", "ClusterRole");
    role["metadata"]["name"] = json!(ns);
    Api::<ClusterRole>::all(client.clone()).create(&post, &serde_json::from_value(role).unwrap()).await.unwrap();
    let mut binding = deploy_doc("kscan-serve-namespace.yaml", "RoleBinding");
    binding["roleRef"]["name"] = json!(ns);
    binding["subjects"][0]["namespace"] = json!(ns);
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&post, &serde_json::from_value(binding).unwrap())
        .await
        .unwrap();
    let identity = format!("system:serviceaccount:{ns}:kscan-serve");
    let policy = deploy_doc("kscan-serve-admission.yaml", "ValidatingAdmissionPolicy").to_string();
    let mut policy: Value =
        serde_json::from_str(&policy.replace("system:serviceaccount:kscan:kscan-serve", &identity)).unwrap();
    policy["metadata"]["name"] = json!(ns);
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
    let created = policies.create(&post, &serde_json::from_value(policy).unwrap()).await;
    if let Err(kube::Error::Api(status)) = &created {
        panic!("the API server refused deploy/kscan-serve-admission.yaml: {}", status.message);
    }
    let mut binding = deploy_doc("kscan-serve-admission.yaml", "ValidatingAdmissionPolicyBinding");
    binding["metadata"]["name"] = json!(ns);
    binding["spec"]["policyName"] = json!(ns);
    // Only in the test's namespace: other suites run beside it.
    binding["spec"]["matchResources"] =
        json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}});
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .create(&post, &serde_json::from_value(binding).unwrap())
        .await
        .unwrap();
}

/// Removes what [`install_deploy`] made outside the namespace.
async fn uninstall_deploy(client: &kube::Client, ns: &str) {
    use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
    use k8s_openapi::api::rbac::v1::ClusterRole;
    use kube::api::{Api, DeleteParams};
    let params = DeleteParams::default();
    let _ = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone()).delete(ns, &params).await;
    let _ = Api::<ValidatingAdmissionPolicy>::all(client.clone()).delete(ns, &params).await;
    let _ = Api::<ClusterRole>::all(client.clone()).delete(ns, &params).await;
}

/// Runs `body` as deploy/'s service identity in `ns` — deploy/'s
/// ClusterRole, RoleBinding and admission policy installed by
/// [`install_deploy`], and with `jobs` kscan-serve-jobs.yaml's grant too —
/// with that identity's kubeconfig and client and a directory for the
/// server; then removes what was installed outside the namespace, also
/// when `body` panics (the panic is passed on).
async fn as_deployed_identity<F, Fut>(client: &kube::Client, ns: &str, jobs: bool, body: F)
where
    F: FnOnce(PathBuf, kube::Client, tempfile::TempDir) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use k8s_openapi::api::rbac::v1::ClusterRole;
    install_deploy(client, ns).await;
    if jobs {
        install_jobs_grant(client, ns).await;
    }
    let outcome = {
        let (client, ns) = (client.clone(), ns.to_owned());
        tokio::spawn(async move {
            let dir = tempfile::tempdir().unwrap();
            let kubeconfig = service_account_kubeconfig(&client, &ns, "kscan-serve", dir.path()).await;
            let service = cluster::client_for(kube::config::Kubeconfig::read_from(&kubeconfig).unwrap()).await;
            body(kubeconfig, service, dir).await
        })
        .await
    };
    if jobs {
        let roles = kube::Api::<ClusterRole>::all(client.clone());
        let _ = roles.delete(&format!("{ns}-jobs"), &Default::default()).await;
    }
    uninstall_deploy(client, ns).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The API server's answer to `result`, for assertions: (code, message).
fn answer<T>(result: &Result<T, kube::Error>) -> (u16, String) {
    match result {
        Ok(_) => (200, String::new()),
        Err(kube::Error::Api(s)) => (s.code, s.message.clone()),
        Err(e) => (0, e.to_string()),
    }
}

#[tokio::test]
async fn the_deployed_identity_scans_but_cannot_mint_tokens_or_bind_roles_that_are_not_kscans() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::api::{Api, ListParams, PostParams};
    cluster::in_namespace("serve-deploy", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let (admin, namespace) = (client.clone(), ns.clone());
        as_deployed_identity(&admin, &namespace, false, move |kubeconfig, service, dir| async move {
                let post = PostParams::default();
                let sas: Api<ServiceAccount> = Api::namespaced(service.clone(), &ns);
                let token = |name: &str| {
                    let (sas, name) = (sas.clone(), name.to_owned());
                    async move {
                        let request: TokenRequest = serde_json::from_value(json!({"spec": {"expirationSeconds": 600}})).unwrap();
                        sas.create_token_request(&name, &PostParams::default(), &request).await
                    }
                };
                // The policy takes a moment to load: wait until it answers.
                let deadline = Instant::now() + Duration::from_secs(30);
                let refused = loop {
                    let a = answer(&token("default").await);
                    if a.1.contains("ValidatingAdmissionPolicy") || Instant::now() > deadline {
                        break a;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                };
                // RBAC lets the identity create tokens in this namespace: admission refuses `default`.
                assert_eq!(refused.0, 403, "{refused:?}");
                assert!(refused.1.contains("only for kscan's own ServiceAccounts") && refused.1.contains("default"), "{refused:?}");
                // A kscan-named account someone else made is refused without the run's Secret binding.
                let admin_sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
                let lookalike = json!({"metadata": {"name": "kscan-0123456789", "labels": {"app.kubernetes.io/managed-by": "kscan", "kscan.dev/run": "0123456789"}}});
                admin_sas.create(&post, &serde_json::from_value(lookalike).unwrap()).await.unwrap();
                let a = answer(&token("kscan-0123456789").await);
                assert_eq!(a.0, 403, "an unbound token for a kscan name: {a:?}");
                // Its own objects only, by name and label.
                let a = answer(&sas.create(&post, &serde_json::from_value(json!({"metadata": {"name": "helper"}})).unwrap()).await);
                assert!(a.0 == 403 && a.1.contains("only kscan's own serviceaccounts"), "{a:?}");
                let secrets: Api<Secret> = Api::namespaced(service.clone(), &ns);
                let a = answer(&secrets.create(&post, &serde_json::from_value(json!({"metadata": {"name": "creds"}, "stringData": {"x": "y"}})).unwrap()).await);
                assert!(a.0 == 403 && a.1.contains("only kscan's own secrets"), "{a:?}");
                let a = answer(&secrets.list(&ListParams::default()).await);
                assert_eq!(a.0, 403, "it cannot read Secrets: {a:?}");
                // Roles that grant more than a scan needs, bindings of other roles.
                let labels = json!({"app.kubernetes.io/managed-by": "kscan", "kscan.dev/run": "0123456789"});
                let roles: Api<Role> = Api::namespaced(service.clone(), &ns);
                let wide = json!({"metadata": {"name": "kscan-0123456789", "labels": labels},
                    "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]});
                let a = answer(&roles.create(&post, &serde_json::from_value(wide).unwrap()).await);
                assert!(a.0 == 403 && a.1.contains("by name"), "a Role not narrowed by name: {a:?}");
                let bindings: Api<RoleBinding> = Api::namespaced(service.clone(), &ns);
                let to_admin = json!({"metadata": {"name": "kscan-0123456789", "labels": labels},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
                    "subjects": [{"kind": "ServiceAccount", "name": "kscan-0123456789", "namespace": ns}]});
                let a = answer(&bindings.create(&post, &serde_json::from_value(to_admin).unwrap()).await);
                assert_eq!(a.0, 403, "binding the admin ClusterRole: {a:?}");
                // A pod that would run with a ServiceAccount token.
                let pods: Api<Pod> = Api::namespaced(service.clone(), &ns);
                let pod = json!({"metadata": {"name": "kscan-0123456789-0", "labels": labels},
                    "spec": {"containers": [{"name": "x", "image": standard()}]}});
                let a = answer(&pods.create(&post, &serde_json::from_value(pod).unwrap()).await);
                assert!(a.0 == 403 && a.1.contains("must not mount a ServiceAccount token"), "{a:?}");
                // Nothing outside its namespace, nothing cluster-wide.
                let a = answer(&Api::<ServiceAccount>::namespaced(service.clone(), "default").create_token_request("default", &post, &serde_json::from_value(json!({"spec": {}})).unwrap()).await);
                assert_eq!(a.0, 403, "a token in another namespace: {a:?}");
                let a = answer(&Api::<Pod>::all(service.clone()).list(&ListParams::default()).await);
                assert_eq!(a.0, 403, "pods of every namespace: {a:?}");
                let a = answer(&Api::<Pod>::namespaced(service.clone(), "kube-system").list(&ListParams::default()).await);
                assert_eq!(a.0, 403, "pods of kube-system: {a:?}");

                // And kscan's own scans through this identity work, under the policy.
                let server = Setup::new(dir.path(), kubeconfig).arg(&["--workers", "1", "--namespaces", &ns]).start();
                let mut ids = Vec::new();
                for strategy in ["auto", "exec", "sidecar"] {
                    let body = json!({"target": {"namespace": ns, "pod": "web"}, "scan": {"strategy": strategy}});
                    ids.push((strategy, server.submit(&body).await));
                }
                for (strategy, id) in ids {
                    let job = server.wait_for(&id, &["passed", "failed", "error"]).await;
                    assert_eq!(job["status"], "passed", "{strategy}: {job:#}");
                    assert!(job["error"].is_null(), "{strategy}: {job:#}");
                }
                let a = server.get("/scan").await;
                assert_eq!(a.status, StatusCode::OK, "{}", a.text());
                assert_eq!(a.json()["summary"]["containers"], 1, "{}", a.text());
                assert_eq!(a.json()["errors"], json!([]), "{}", a.text());
                let left: Vec<String> = kscan_objects(&client, &ns).await.into_iter().filter(|o| !o.ends_with("kscan-0123456789")).collect();
                assert_eq!(left, Vec::<String>::new());
        })
        .await;
    })
    .await;
}

/// Installs deploy/kscan-serve-jobs.yaml's ClusterRole (named `NS-jobs`)
/// and binds it in `ns` to the `kscan-serve` ServiceAccount of `ns`.
async fn install_jobs_grant(client: &kube::Client, ns: &str) {
    use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
    use kube::api::{Api, PostParams};
    let post = PostParams::default();
    let mut role = deploy_doc("kscan-serve-jobs.yaml", "ClusterRole");
    role["metadata"]["name"] = json!(format!("{ns}-jobs"));
    Api::<ClusterRole>::all(client.clone()).create(&post, &serde_json::from_value(role).unwrap()).await.unwrap();
    let mut binding = deploy_doc("kscan-serve-jobs.yaml", "RoleBinding");
    binding["metadata"]["namespace"] = json!(ns);
    binding["roleRef"]["name"] = json!(format!("{ns}-jobs"));
    binding["subjects"][0]["namespace"] = json!(ns);
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&post, &serde_json::from_value(binding).unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_executor_runs_each_scan_as_a_job_at_most_workers_at_once_under_the_deployed_identity() {
    use k8s_openapi::api::batch::v1::Job;
    use kube::api::{Api, ListParams, PostParams};
    cluster::in_namespace("serve-jobs", |client, ns| async move {
        for pod in ["web-a", "web-b", "web-c"] {
            labelled_pod(&client, &ns, pod, "web").await;
        }
        let (admin, namespace) = (client.clone(), ns.clone());
        as_deployed_identity(&admin, &namespace, true, move |kubeconfig, service, dir| async move {
            // What the identity can NOT do with its grant on Jobs: run a
            // Job as any account but its run's, or a Job that is not kscan's.
            let jobs: Api<Job> = Api::namespaced(service.clone(), &ns);
            let labels = json!({"app.kubernetes.io/managed-by": "kscan", "kscan.dev/run": "0123456789"});
            let job = |name: &str, account: &str, volumes: Value| -> Job {
                serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
                        "spec": {"template": {"spec": {"serviceAccountName": account, "restartPolicy": "Never",
                            "volumes": volumes,
                            "containers": [{"name": "x", "image": standard(),
                                "securityContext": {"allowPrivilegeEscalation": false}}]}}}}))
                .unwrap()
            };
            // Dry runs: admission decides, and nothing is made while the policy loads.
            let post = PostParams { dry_run: true, ..PostParams::default() };
            // The policy takes a moment to load: wait until it answers.
            let deadline = Instant::now() + Duration::from_secs(30);
            let as_default = loop {
                let a = answer(&jobs.create(&post, &job("kscan-0123456789", "default", json!([]))).await);
                if a.1.contains("ValidatingAdmissionPolicy") || Instant::now() > deadline {
                    break a;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert!(as_default.0 == 403 && as_default.1.contains("run's own ServiceAccount"), "{as_default:?}");
            let a = answer(&jobs.create(&post, &job("kscan-0123456789", "kscan-serve", json!([]))).await);
            assert!(a.0 == 403 && a.1.contains("run's own ServiceAccount"), "as the service itself: {a:?}");
            let host = json!([{"name": "root", "hostPath": {"path": "/"}}]);
            let a = answer(&jobs.create(&post, &job("kscan-0123456789", "kscan-0123456789", host)).await);
            assert!(a.0 == 403 && a.1.contains("only emptyDir volumes"), "a hostPath volume: {a:?}");
            let a = answer(&jobs.create(&post, &job("backup", "kscan-0123456789", json!([]))).await);
            assert!(a.0 == 403 && a.1.contains("only kscan's own jobs"), "a Job not named after a run: {a:?}");
            let a = answer(&Api::<Job>::namespaced(service.clone(), "default").list(&ListParams::default()).await);
            assert_eq!(a.0, 403, "Jobs of another namespace: {a:?}");

            // Three scans of three pods each, two workers: at most two Jobs at once.
            let server = Setup::new(dir.path(), kubeconfig)
                .arg(&["--workers", "2", "--namespaces", &ns, "--executor", "jobs"])
                .arg(&["--dispatch-image", cluster::dispatch_image(), "--dispatch-api-server", &cluster::api_server()])
                .start();
            let cinc = server
                .post(
                    "/api/v1/scans",
                    &json!({"target": {"namespace": ns, "pod": "web-a"},
                    "scan": {"engine": "cinc", "profile": "container-baseline"}}),
                )
                .await;
            assert_eq!(cinc.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", cinc.text());
            assert!(cinc.text().contains("scan.engine") && cinc.text().contains("--executor jobs"), "{}", cinc.text());
            let seen = Arc::new(Mutex::new((0usize, BTreeSet::new())));
            let watching = {
                let (seen, jobs) = (seen.clone(), Api::<Job>::namespaced(client.clone(), &ns));
                tokio::spawn(async move {
                    let params = ListParams::default().labels("app.kubernetes.io/managed-by=kscan");
                    loop {
                        let names: BTreeSet<String> = jobs
                            .list_metadata(&params)
                            .await
                            .unwrap()
                            .into_iter()
                            .filter_map(|j| j.metadata.name)
                            .collect();
                        {
                            let mut s = seen.lock().unwrap();
                            s.0 = s.0.max(names.len());
                            s.1.extend(names);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                })
            };
            let body = json!({"target": {"namespace": ns, "selector": "app=web"}, "scan": {"strategy": "exec"}});
            let mut ids = Vec::new();
            for _ in 0..3 {
                ids.push(server.submit(&body).await);
            }
            let mut summaries = Vec::new();
            for id in &ids {
                let job = server.wait_for(id, &["passed", "failed", "error"]).await;
                assert_ne!(job["status"], "error", "{job:#}");
                assert!(job["error"].is_null(), "{job:#}");
                summaries.push(job["summary"]["targets"].clone());
            }
            watching.abort();
            let (most, names) = seen.lock().unwrap().clone();
            assert_eq!(most, 2, "two workers run two Jobs at once, never more (Jobs seen: {names:?})");
            assert_eq!(names.len(), 3, "one Job per scan: {names:?}");
            // The same summaries as an in-process scan of the same pods.
            let local_dir = tempfile::tempdir().unwrap();
            let local = testbed(local_dir.path(), &ns).start();
            let id = local.submit(&body).await;
            let job = local.wait_for(&id, &["passed", "failed", "error"]).await;
            assert_ne!(job["status"], "error", "{job:#}");
            let by_pod = |targets: &Value| -> BTreeMap<String, Value> {
                targets.as_array().unwrap().iter().map(|t| (t["pod"].as_str().unwrap().to_owned(), t.clone())).collect()
            };
            let expected = by_pod(&job["summary"]["targets"]);
            assert_eq!(expected.len(), 3, "{job:#}");
            for targets in &summaries {
                assert_eq!(by_pod(targets), expected);
            }
            assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "no Job, pod or access is left");
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn two_replicas_watch_under_one_lease_and_the_other_takes_over_when_the_leader_is_killed() {
    use k8s_openapi::api::coordination::v1::Lease;
    cluster::in_namespace("serve-lease", |client, ns| async move {
        let dir = tempfile::tempdir().unwrap();
        // One store for both (one SQLite file on one host): the watch's
        // memory of what it queued is shared, as with PostgreSQL.
        let setup = testbed(dir.path(), &ns).arg(&[
            "--watch",
            "app=leased",
            "--trigger-namespace",
            &ns,
            "--lease-namespace",
            &ns,
            "--lease-duration",
            "3s",
        ]);
        let mut first = setup.start();
        let leases: kube::Api<Lease> = kube::Api::namespaced(client.clone(), &ns);
        let holder = |lease: &Lease| lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        let leader = loop {
            if let Some(h) = leases.get_opt("kscan-triggers").await.unwrap().as_ref().and_then(holder) {
                break h;
            }
            assert!(Instant::now() < deadline, "the first replica never took the Lease");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let second = setup.start();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(leases.get("kscan-triggers").await.map(|l| holder(&l)).unwrap(), Some(leader.clone()));

        labelled_pod(&client, &ns, "one", "leased").await;
        let id = first_job_of(&second, "one", Duration::from_secs(120), "the new pod was never scanned").await;
        second.wait_for(&id, &["passed", "failed", "error"]).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(jobs_of(&second, "one").await.len(), 1, "two replicas, one scan");

        // The leader dies without releasing the Lease; a pod starts meanwhile.
        first.child.kill().unwrap();
        first.child.wait().unwrap();
        let killed = Instant::now();
        labelled_pod(&client, &ns, "two", "leased").await;
        let id = first_job_of(
            &second,
            "two",
            Duration::from_secs(60),
            "the pod that started after the leader died was never scanned",
        )
        .await;
        let taken_over = killed.elapsed();
        // The lease time (3 s), one renewal period (1 s), and the pod's start.
        assert!(taken_over < Duration::from_secs(12), "took {taken_over:?}");
        let job = second.wait_for(&id, &["passed", "failed", "error"]).await;
        assert_eq!(job["status"], "passed", "{job:#}");
        let lease = leases.get("kscan-triggers").await.unwrap();
        let new_leader = holder(&lease).expect("a holder");
        assert_ne!(new_leader, leader, "the other replica holds the Lease");
        assert_eq!(lease.spec.as_ref().unwrap().lease_transitions, Some(1));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(jobs_of(&second, "one").await.len(), 1, "the new leader remembers what the old one scanned");
        assert_eq!(jobs_of(&second, "two").await.len(), 1);

        // A stopping leader releases the Lease at once.
        drop(second);
        let released = leases.get("kscan-triggers").await.unwrap();
        assert_eq!(holder(&released), None, "{released:?}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn schedule_rescans_matching_pods_at_each_tick() {
    cluster::in_namespace("serve-schedule", |client, ns| async move {
        labelled_pod(&client, &ns, "cron", "scheduled").await;
        let dir = tempfile::tempdir().unwrap();
        let server = testbed(dir.path(), &ns)
            .arg(&["--schedule", "*/5 * * * * *", "--schedule-selector", "app=scheduled", "--trigger-namespace", &ns])
            .arg(&["--trigger-threshold", "lenient", "--lease-namespace", &ns])
            .start();
        let deadline = Instant::now() + Duration::from_secs(120);
        let jobs = loop {
            let jobs = jobs_of(&server, "cron").await;
            if jobs.len() >= 2 {
                break jobs;
            }
            assert!(Instant::now() < deadline, "fewer than two scheduled scans: {jobs:#?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        for job in &jobs[..2] {
            let id = job["id"].as_str().unwrap();
            let job = server.wait_for(id, &["passed", "failed", "error"]).await;
            assert_ne!(job["status"], "error", "{job:#}");
            assert_eq!(job["request"]["scan"]["threshold"], "lenient");
            assert_eq!(job["summary"]["gate"]["threshold"], "lenient", "{job:#}");
        }
    })
    .await;
}

#[test]
fn bad_trigger_flags_are_usage_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(dir.path(), nowhere_kubeconfig(dir.path()));
    for (args, says) in [
        (vec!["--schedule", "every hour"], "--schedule"),
        (vec!["--schedule", "0 * * * *"], "--schedule-selector"),
        (vec!["--watch", "app=x", "--trigger-threshold", "lenient"], "--thresholds"),
        (vec!["--watch", "app=x", "--trigger-namespace", "Bad_NS"], "--trigger-namespace"),
        (vec!["--watch", "app=x", "--namespaces", "shop", "--trigger-namespace", "other"], "not one of --namespaces"),
        (vec!["--namespaces", "shop,Not_OK"], "--namespaces"),
        (vec!["--watch", "app=x", "--lease-name", "Not_OK"], "--lease-name"),
        (vec!["--watch", "app=x", "--lease-duration", "0s"], "--lease-duration"),
    ] {
        let output = support::kscan()
            .arg("serve")
            .arg("--token-file")
            .arg(setup.dir.join("tokens"))
            .arg("--db")
            .arg(setup.dir.join("kscan.db"))
            .args(&args)
            .env("KSCAN_KUBECONFIG", &setup.kubeconfig)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let output = support::kscan()
        .args(["serve", "--token-file"])
        .arg(dir.path().join("missing-tokens"))
        .env("KSCAN_KUBECONFIG", &setup.kubeconfig)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing-tokens"));
}

#[tokio::test]
async fn sigterm_stops_running_scans_with_teardown_and_they_come_back_interrupted() {
    cluster::in_namespace("serve-term", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("record.json");
        let hanging = testbed(dir.path(), &ns)
            .arg(&["--engine-bin", &standin()])
            .env("STANDIN_MODE", "hang")
            .env("STANDIN_RECORD", &record.display().to_string());
        let mut first = hanging.start();
        let id = first.submit(&cinc_scan(&ns)).await;
        engine_started(&record).await;
        assert_eq!(kscan_objects(&client, &ns).await.len(), ACCESS_OBJECTS);
        let status = Command::new("kill").args(["-TERM", &first.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exit = first.child.wait().unwrap();
        assert!(exit.success(), "kscan serve exits 0 after a clean shutdown: {exit:?}");
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new(), "teardown ran before the exit");
        let second = testbed(dir.path(), &ns).start();
        let job = second.get(&format!("/api/v1/scans/{id}")).await.json();
        assert_eq!(job["status"], "interrupted", "{job:#}");
        assert!(job["error"].as_str().unwrap().contains("teardown ran"), "{job:#}");
    })
    .await;
}

#[tokio::test]
async fn dropping_a_running_scan_future_still_tears_down() {
    use kscan::cluster::client::ClusterArgs;
    use kscan::scan::{run_until, Plan};
    use kscan::strategy::{Strategy, StrategyConfig};
    use kscan::target::{Label, Subdomain};
    use kscan::target::{Request, Selection};
    cluster::in_namespace("serve-drop", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let out = tempfile::tempdir().unwrap();
        let plan = Plan {
            request: Request {
                namespace: Label::parse("namespace", &ns).unwrap(),
                pods: Selection::Pod(Subdomain::parse("pod", "web").unwrap()),
                container: None,
            },
            strategy: StrategyConfig {
                kind: Strategy::Exec,
                scanner_image: cluster::scanner().into(),
                scanner_user: None,
                image: None,
                max_ephemeral: kscan::strategy::DEFAULT_MAX_EPHEMERAL,
            },
            engine: kscan::engine::Engine::Builtin,
            ttl: kscan::cluster::access::TokenTtl::DEFAULT,
            timeout: Duration::from_secs(300),
            command_timeout: Duration::from_secs(60),
            concurrency: 1,
            out_dir: out.path().join("results"),
        };
        let admin =
            ClusterArgs { kubeconfig: Some(support::testbed_kubeconfig()), context: None }.connect().await.unwrap();
        let scan = run_until(admin, plan, kscan::cluster::RunId::generate(), std::future::pending());
        // One cheap list of what access creates last (its RoleBinding): the
        // whole exec scan takes a few hundred milliseconds after it.
        let bindings: kube::Api<k8s_openapi::api::rbac::v1::RoleBinding> = kube::Api::namespaced(client.clone(), &ns);
        let ours = kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=kscan");
        let created = async {
            while bindings.list_metadata(&ours).await.expect("listing RoleBindings").items.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            outcome = scan => panic!("the scan ended before its objects were seen: {:?}", outcome.map(|f| f.run)),
            () = created => {}
        }
        // The scan future is dropped here, mid-scan.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !kscan_objects(&client, &ns).await.is_empty() {
            assert!(Instant::now() < deadline, "objects left after the scan future was dropped");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn results_after_the_threshold_file_changed_show_the_verdict_the_job_was_gated_with() {
    cluster::in_namespace("serve-verdict", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let dir = tempfile::tempdir().unwrap();
        let thresholds = dir.path().join("thresholds");
        std::fs::create_dir_all(&thresholds).unwrap();
        // Nothing may fail: the testbed's root container fails it.
        std::fs::write(thresholds.join("gate.yml"), "failed:\n  total:\n    max: 0\n").unwrap();
        let server = Setup::new(dir.path(), support::testbed_kubeconfig())
            .arg(&["--thresholds", thresholds.to_str().unwrap(), "--namespaces", &ns])
            .start();
        let id =
            server.submit(&json!({"target": {"namespace": ns, "pod": "web"}, "scan": {"threshold": "gate"}})).await;
        let job = server.wait_for(&id, &["passed", "failed", "error"]).await;
        assert_eq!(job["status"], "failed", "{job:#}");
        let rule = job["summary"]["gate"]["rules"][0]["rule"].clone();
        assert_eq!(rule, "failed.total.max", "{job:#}");

        // The file now lets everything through; the job's results keep its verdict.
        std::fs::write(thresholds.join("gate.yml"), "failed:\n  total:\n    max: 100000\n").unwrap();
        let a = server.get(&format!("/api/v1/scans/{id}/results?format=markdown")).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert!(a.text().contains("gate failed") && a.text().contains("failed.total.max"), "{}", a.text());
        let a = server.get(&format!("/api/v1/scans/{id}")).await;
        assert_eq!(a.json()["summary"]["gate"]["passed"], json!(false));
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn a_targets_history_pages_with_a_trend_scans_diff_and_retention_prunes_the_oldest() {
    cluster::in_namespace("serve-history", |client, ns| async move {
        running_pod(&client, &ns, "web", web()).await;
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client.clone(), &ns);
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = "kscan-history-elsewhere";
        let reader = "reader-token-0123456789abcdef";
        let outsider = "outsider-token-0123456789abcdef";
        let setup = testbed(dir.path(), &format!("{ns},{elsewhere}")).tokens(&[
            &format!("{TOKEN} scopes=scan namespaces=*"),
            &format!("{reader} scopes=read namespaces={ns}"),
            &format!("{outsider} scopes=admin namespaces={elsewhere}"),
        ]);
        let server = setup.start();
        let scan =
            || json!({"target": {"namespace": ns, "pod": "web", "container": "app"}, "scan": {"strategy": "exec"}});
        let mut ids = Vec::new();
        let mut finished = Vec::new();
        // Clean, then a planted defect (/etc/passwd group-writable), then clean again.
        for chmod in [None, Some("0664"), Some("0644")] {
            if let Some(mode) = chmod {
                cluster::exec_ok(&pods, "web", "app", &["chmod", mode, "/etc/passwd"]).await;
            }
            let id = server.submit(&scan()).await;
            let job = server.wait_for(&id, &["passed", "failed", "error"]).await;
            assert_eq!(job["status"], "passed", "{job:#}");
            assert_eq!(job["summary"]["targets"][0]["workload"], "Pod/web", "{job:#}");
            finished.push(chrono::DateTime::parse_from_rfc3339(job["finishedAt"].as_str().unwrap()).unwrap());
            ids.push(id);
            // Whole seconds apart, so that a retention in seconds can fall between two scans.
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        let history = format!("/api/v1/targets/{ns}/Pod/web/app/history");

        let all = server.as_token(reader, Method::GET, &history, None).await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.text());
        let all = all.json();
        let points: Vec<&str> =
            all["items"].as_array().unwrap().iter().map(|p| p["scanId"].as_str().unwrap()).collect();
        assert_eq!(points, [&ids[2], &ids[1], &ids[0]].map(String::as_str), "newest first: {all:#}");
        let compliance: Vec<u64> =
            all["trend"]["compliance"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
        assert_eq!(compliance.len(), 3, "a three-point trend: {all:#}");
        assert!(compliance[1] < compliance[0], "the planted defect lowers compliance: {compliance:?}");
        assert_eq!(compliance[2], compliance[0], "removing it restores it: {compliance:?}");
        assert_eq!(all["trend"]["direction"], "flat");
        assert!(all.get("next").is_none(), "{all:#}");

        // Pages of two: the second is reached through `next`.
        let page = server.get(&format!("{history}?limit=2")).await.json();
        assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page:#}");
        assert_eq!(page["trend"]["direction"], "up", "{page:#}");
        let next = page["next"].as_str().expect("a next page").to_owned();
        let rest = server.get(&next).await.json();
        assert_eq!(rest["items"][0]["scanId"], ids[0].as_str(), "{rest:#}");
        assert!(rest.get("next").is_none(), "{rest:#}");

        // The diff of two scans, in the classes of --baseline.
        let diff =
            server.as_token(reader, Method::GET, &format!("/api/v1/scans/{}/diff/{}", ids[0], ids[1]), None).await;
        assert_eq!(diff.status, StatusCode::OK, "{}", diff.text());
        let diff = diff.json();
        let controls = |class: &str| -> Vec<String> {
            diff[class].as_array().unwrap().iter().map(|f| f["control"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(controls("new"), ["kscan-passwd-owner-mode"], "{diff:#}");
        assert!(controls("fixed").is_empty(), "{diff:#}");
        assert_eq!(diff["new"][0]["workload"], format!("{ns}/Pod/web/app"));
        assert!(!controls("unchanged").is_empty(), "a root container has findings either way: {diff:#}");
        let back = server.get(&format!("/api/v1/scans/{}/diff/{}", ids[1], ids[2])).await.json();
        let fixed: Vec<&str> =
            back["fixed"].as_array().unwrap().iter().map(|f| f["control"].as_str().unwrap()).collect();
        assert_eq!(fixed, ["kscan-passwd-owner-mode"], "{back:#}");
        assert_eq!(back["new"], json!([]), "{back:#}");

        // Read-back has the same scopes as the rest: a token of another namespace sees none of it.
        let a = server.as_token(outsider, Method::GET, &history, None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        let a =
            server.as_token(outsider, Method::GET, &format!("/api/v1/scans/{}/diff/{}", ids[0], ids[1]), None).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text());
        let a = server.get(&format!("/api/v1/targets/{ns}/Pod/nothing/app/history")).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text());
        let a = server.get(&format!("/api/v1/targets/{ns}/Pod/web/app/history?limit=0")).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
        let a = server.get(&format!("/api/v1/targets/{ns}/Pod/Web_1/app/history")).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text());
        drop(server);

        // Restarted with a retention that ends between the first and the second scan.
        let now = chrono::Utc::now();
        let cutoff = finished[0] + (finished[1] - finished[0]) / 2;
        let retain = (now - cutoff.with_timezone(&chrono::Utc)).num_seconds();
        let server = setup.arg(&["--retain", &format!("{retain}s")]).start();
        let kept = server.get(&history).await.json();
        let points: Vec<&str> =
            kept["items"].as_array().unwrap().iter().map(|p| p["scanId"].as_str().unwrap()).collect();
        assert_eq!(points, [&ids[2], &ids[1]].map(String::as_str), "the oldest is pruned: {kept:#}");
        let a = server.get(&format!("/api/v1/scans/{}", ids[0])).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "its job went with it: {}", a.text());
        assert_eq!(kscan_objects(&client, &ns).await, Vec::<String>::new());
    })
    .await;
}

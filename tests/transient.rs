//! Transient API answers during create and delete: a real HTTP server on a
//! loopback port speaks the Kubernetes API's wire format and answers from a
//! script — 500, 502, 503, 429, a connection reset mid-request — and kscan's
//! own client code (kube-rs, the teardown guard, the access setup) talks to
//! it as to any API server. The testbed's real API server cannot be made to
//! fail on demand; this one can, and nothing in kscan is replaced.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kscan::cluster::access::{self, AccessSpec, Grant, TokenTtl};
use kscan::cluster::client::Connection;
use kscan::cluster::retry::Backoff;
use kscan::cluster::teardown::{Owned, Teardown};
use kscan::cluster::RunId;
use kscan::target::Label;
use kube::api::Api;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Debug, Clone)]
enum Reply {
    /// Answer with this status and a JSON body.
    Json(u16, Value),
    /// Reset the connection (RST) after reading the request.
    Reset,
}

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: Value,
}

type Handler = dyn Fn(&Seen, &mut State) -> Reply + Send + Sync;

/// What the script remembers between requests.
#[derive(Default)]
struct State {
    /// Requests so far, in order.
    seen: Vec<Seen>,
    /// Objects created, by path.
    objects: HashMap<String, Value>,
    /// Calls so far per `METHOD path`.
    calls: HashMap<String, usize>,
}

impl State {
    /// Count this call and return how many there were, this one included.
    fn count(&mut self, req: &Seen) -> usize {
        let n = self.calls.entry(format!("{} {}", req.method, req.path)).or_default();
        *n += 1;
        *n
    }
}

/// A scripted API server on 127.0.0.1.
struct FakeApi {
    url: String,
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    async fn start(handler: impl Fn(&Seen, &mut State) -> Reply + Send + Sync + 'static) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let handler: Arc<Handler> = Arc::new(handler);
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (state, handler) = (shared.clone(), handler.clone());
                tokio::spawn(async move { serve(stream, state, handler).await });
            }
        });
        FakeApi { url, state }
    }

    fn connection(&self) -> Connection {
        let config = kube::Config::new(self.url.parse().unwrap());
        let client = kube::Client::try_from(config.clone()).unwrap();
        Connection { client, config, source: "the scripted API server".into() }
    }

    /// Requests seen so far for `method path`.
    fn calls(&self, method: &str, path: &str) -> usize {
        self.state.lock().unwrap().seen.iter().filter(|s| s.method == method && s.path == path).count()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

/// Read requests from one connection and answer each (one per connection:
/// every answer closes it, so each retry opens a new one).
async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, handler: Arc<Handler>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().split('?').next().unwrap_or_default().to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    let seen = Seen { method, path, body };
    let reply = {
        let mut state = state.lock().unwrap();
        state.seen.push(seen.clone());
        handler(&seen, &mut state)
    };
    match reply {
        Reply::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Reply::Json(code, value) => {
            let body = value.to_string();
            let response = format!(
                "HTTP/1.1 {code} Status\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// A Kubernetes `Status` answer.
fn status(code: u16, reason: &str) -> Reply {
    Reply::Json(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason, "reason": reason, "code": code}),
    )
}

/// Store the posted object under its path and answer 201 with it.
fn created(req: &Seen, state: &mut State) -> Reply {
    let name = req.body["metadata"]["name"].as_str().unwrap_or_default();
    let mut object = req.body.clone();
    object["metadata"]["uid"] = json!(format!("uid-{name}"));
    state.objects.insert(format!("{}/{name}", req.path), object.clone());
    Reply::Json(201, object)
}

/// Answer a GET of a stored object, or 404.
fn get(req: &Seen, state: &State) -> Reply {
    match state.objects.get(&req.path) {
        Some(o) => Reply::Json(200, o.clone()),
        None => status(404, "NotFound"),
    }
}

/// Fast retries, so the tests do not wait for the real policy's delays.
const FAST: Backoff = Backoff {
    attempts: 4,
    first: Duration::from_millis(10),
    max: Duration::from_millis(40),
    deadline: Duration::from_secs(10),
};

const NS: &str = "shop";
const SA_PATH: &str = "/api/v1/namespaces/shop/serviceaccounts";

fn account(run: &RunId) -> ServiceAccount {
    serde_json::from_value(json!({"metadata": {
        "name": run.object_name(), "namespace": NS,
        "labels": {"app.kubernetes.io/managed-by": "kscan", "kscan.dev/run": run.as_str()}}}))
    .unwrap()
}

fn owned_account(run: &RunId) -> Owned {
    Owned::ServiceAccount { namespace: NS.into(), name: run.object_name() }
}

#[tokio::test]
async fn a_create_answered_500_after_it_took_effect_is_retried_and_the_object_stays_owned() {
    // The first POST creates the object and then answers 500 (as a server
    // whose answer broke after the write does); the retry meets 409.
    let api = FakeApi::start(|req, state| match (req.method.as_str(), state.count(req)) {
        ("POST", 1) => {
            created(req, state);
            status(500, "InternalError")
        }
        ("POST", _) => status(409, "AlreadyExists"),
        ("GET", _) => get(req, state),
        ("DELETE", 1) => status(502, "BadGateway"),
        ("DELETE", _) => Reply::Json(200, json!({"kind": "Status", "status": "Success"})),
        _ => status(405, "MethodNotAllowed"),
    })
    .await;
    let run = RunId::generate();
    let teardown = Teardown::new(api.connection().client).with_backoff(FAST);
    let sas: Api<ServiceAccount> = Api::namespaced(api.connection().client, NS);
    let made = teardown.create_object(owned_account(&run), &sas, &account(&run)).await;
    let made = made.expect("a create whose answer was lost is taken as created once the object is found");
    assert_eq!(made.metadata.uid.as_deref(), Some(format!("uid-{}", run.object_name()).as_str()));
    assert_eq!(teardown.objects(), vec![owned_account(&run)]);
    assert_eq!(api.calls("POST", SA_PATH), 2);
    // Teardown retries the 502 of the delete and removes the object.
    let report = teardown.finish().await;
    assert!(report.left.is_empty(), "{:?}", report.left);
    assert_eq!(report.deleted, vec![owned_account(&run)]);
    assert_eq!(api.calls("DELETE", &format!("{SA_PATH}/{}", run.object_name())), 2);
}

#[tokio::test]
async fn a_connection_reset_during_create_is_retried() {
    let api = FakeApi::start(|req, state| match (req.method.as_str(), state.count(req)) {
        ("POST", 1) => Reply::Reset,
        ("POST", _) => created(req, state),
        _ => status(405, "MethodNotAllowed"),
    })
    .await;
    let run = RunId::generate();
    let teardown = Teardown::new(api.connection().client).with_backoff(FAST);
    let sas: Api<ServiceAccount> = Api::namespaced(api.connection().client, NS);
    teardown.create_object(owned_account(&run), &sas, &account(&run)).await.expect("the reset is retried");
    assert_eq!(api.calls("POST", SA_PATH), 2);
    teardown.release();
}

#[tokio::test]
async fn a_create_that_keeps_failing_is_bounded_and_never_taken_for_not_created() {
    let api = FakeApi::start(|req, state| match req.method.as_str() {
        "POST" => status(500, "InternalError"),
        "DELETE" if state.count(req) <= 2 => status(503, "ServiceUnavailable"),
        "DELETE" => status(404, "NotFound"),
        _ => status(405, "MethodNotAllowed"),
    })
    .await;
    let run = RunId::generate();
    let teardown = Teardown::new(api.connection().client).with_backoff(FAST);
    let sas: Api<ServiceAccount> = Api::namespaced(api.connection().client, NS);
    let start = Instant::now();
    let err = teardown.create_object(owned_account(&run), &sas, &account(&run)).await.unwrap_err();
    assert!(err.to_string().contains("500") || err.to_string().contains("InternalError"), "{err}");
    assert_eq!(api.calls("POST", SA_PATH), FAST.attempts as usize, "every attempt the policy allows, no more");
    assert!(start.elapsed() < Duration::from_secs(5), "bounded: {:?}", start.elapsed());
    assert_eq!(teardown.objects(), vec![owned_account(&run)], "a 5xx may hide a create that took effect");
    // Teardown still owns it: it deletes (503 twice, then 404 = gone).
    let report = teardown.finish().await;
    assert!(report.left.is_empty(), "{:?}", report.left);
    assert_eq!(report.deleted, vec![owned_account(&run)]);
}

#[tokio::test]
async fn a_refused_create_is_not_owned_and_a_conflict_with_another_runs_object_is_not_taken() {
    let api = FakeApi::start(|req, _state| match req.method.as_str() {
        "POST" if req.body["metadata"]["name"].as_str().unwrap_or_default().ends_with('0') => status(403, "Forbidden"),
        "POST" => status(409, "AlreadyExists"),
        // The object of that name belongs to another run.
        "GET" => Reply::Json(
            200,
            json!({"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "x", "namespace": NS,
                "labels": {"kscan.dev/run": "0000000000"}}}),
        ),
        _ => status(405, "MethodNotAllowed"),
    })
    .await;
    let teardown = Teardown::new(api.connection().client).with_backoff(FAST);
    let sas: Api<ServiceAccount> = Api::namespaced(api.connection().client, NS);
    let refused = RunId::parse("aaaaaaaaa0").unwrap();
    teardown.create_object(owned_account(&refused), &sas, &account(&refused)).await.unwrap_err();
    assert_eq!(api.calls("POST", SA_PATH), 1, "a 403 is not retried");
    let taken = RunId::parse("aaaaaaaaa1").unwrap();
    teardown.create_object(owned_account(&taken), &sas, &account(&taken)).await.unwrap_err();
    assert!(teardown.objects().is_empty(), "neither is the run's: {:?}", teardown.objects());
    let report = teardown.finish().await;
    assert!(report.deleted.is_empty() && report.left.is_empty());
}

#[tokio::test]
async fn access_setup_rides_out_transient_answers_on_every_step() {
    // Each step meets one transient failure first: 503, a reset, 429, 502, a reset, 500.
    let api = FakeApi::start(|req, state| {
        let n = state.count(req);
        let kind = req.path.rsplit('/').next().unwrap_or_default().to_owned();
        match (req.method.as_str(), kind.as_str(), n) {
            ("POST", "serviceaccounts", 1) => status(503, "ServiceUnavailable"),
            ("POST", "secrets", 1) => Reply::Reset,
            ("POST", "roles", 1) => status(429, "TooManyRequests"),
            ("POST", "rolebindings", 1) => status(502, "BadGateway"),
            ("POST", "token", 1) => Reply::Reset,
            ("POST", "token", _) => Reply::Json(
                201,
                json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "spec": req.body["spec"],
                    "status": {"token": "not-a-real-token", "expirationTimestamp": "2999-01-01T00:00:00Z"}}),
            ),
            ("POST", "selfsubjectaccessreviews", _) => Reply::Json(
                201,
                json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                    "spec": req.body["spec"], "status": {"allowed": true}}),
            ),
            ("POST", _, _) => created(req, state),
            ("DELETE", _, _) => Reply::Json(200, json!({"kind": "Status", "status": "Success"})),
            _ => status(405, "MethodNotAllowed"),
        }
    })
    .await;
    let admin = api.connection();
    let run = RunId::generate();
    let teardown = Teardown::new(admin.client.clone()).with_backoff(FAST);
    let spec = AccessSpec {
        namespace: Label::parse("namespace", NS).unwrap(),
        grants: vec![Grant { resource: "pods/exec", verbs: &["get", "create"], names: vec!["web-0".into()] }],
        ttl: TokenTtl::DEFAULT,
    };
    let scoped = access::create(&admin, &run, &spec, &teardown).await.expect("every step is retried");
    assert!(scoped.kubeconfig.exists());
    // The token is bound to the run's Secret, by name and UID.
    let token = api.seen().into_iter().rfind(|s| s.path.ends_with("/token")).unwrap();
    let name = run.object_name();
    assert_eq!(
        token.body["spec"]["boundObjectRef"],
        json!({"apiVersion": "v1", "kind": "Secret", "name": name, "uid": format!("uid-{name}")})
    );
    let secret = api.seen().into_iter().find(|s| s.path.ends_with("/secrets")).unwrap();
    assert_eq!(secret.body["type"], "kscan.dev/token-binding");
    assert!(secret.body.get("data").is_none(), "the Secret holds nothing");
    let posts: BTreeMap<String, usize> =
        api.seen().iter().filter(|s| s.method == "POST").fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s.path.rsplit('/').next().unwrap().to_owned()).or_default() += 1;
            m
        });
    for kind in ["serviceaccounts", "secrets", "roles", "rolebindings", "token", "selfsubjectaccessreviews"] {
        assert_eq!(posts.get(kind), Some(&2), "{kind}: {posts:?}");
    }
    let report = teardown.finish().await;
    assert!(report.left.is_empty(), "{:?}", report.left);
    // The Secret goes first: the token is dead before the rest is removed.
    let deletes: Vec<String> = api.seen().into_iter().filter(|s| s.method == "DELETE").map(|s| s.path).collect();
    assert!(deletes[0].ends_with(&format!("/secrets/{name}")), "{deletes:?}");
}

//! A local HTTP/1.1 server that stands where the GitHub REST API stands and
//! records every request: enough of the issue-comment and check-run routes
//! to answer as GitHub does, keep-alive included.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    comments: Vec<(u64, String)>,
    next_id: u64,
    status_override: Option<u16>,
}

/// The server; it stops with the test process.
#[derive(Clone)]
pub struct Server {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Listen on a free local port; the API lives under `/api/v3` as on
    /// GitHub Enterprise Server.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/api/v3", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State { next_id: 1001, ..State::default() }));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let s = s.clone();
                std::thread::spawn(move || serve(conn.unwrap(), s));
            }
        });
        Server { base, state }
    }

    /// Answer every request with this status and a GitHub error body.
    pub fn fail_with(&self, status: u16) {
        self.state.lock().unwrap().status_override = Some(status);
    }

    /// The requests so far, and forget them.
    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    /// The comments on the pull request.
    pub fn comments(&self) -> Vec<(u64, String)> {
        self.state.lock().unwrap().comments.clone()
    }
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        let (mut length, mut authorization) = (0usize, None);
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap() };
        let (status, reply) = answer(&state, &method, &path, &body);
        state.lock().unwrap().requests.push(Request { method, path, authorization, body });
        let text = reply.to_string();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        if out.write_all(head.as_bytes()).and_then(|_| out.write_all(text.as_bytes())).is_err() {
            return;
        }
    }
}

fn answer(state: &Mutex<State>, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let mut s = state.lock().unwrap();
    if let Some(status) = s.status_override {
        return (status, json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}));
    }
    let route = path.split('?').next().unwrap();
    let rest = route.strip_prefix("/api/v3/repos/acme/shop/").unwrap_or("");
    let segments: Vec<&str> = rest.split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["issues", "7", "comments"]) => {
            let list: Vec<Value> = s.comments.iter().map(|(id, b)| json!({"id": id, "body": b})).collect();
            (200, Value::Array(list))
        }
        ("POST", ["issues", "7", "comments"]) => {
            let id = s.next_id;
            s.next_id += 1;
            let text = body["body"].as_str().unwrap().to_owned();
            s.comments.push((id, text.clone()));
            (201, json!({"id": id, "body": text}))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap();
            let text = body["body"].as_str().unwrap().to_owned();
            match s.comments.iter_mut().find(|(c, _)| *c == id) {
                Some(c) => {
                    c.1 = text.clone();
                    (200, json!({"id": id, "body": text}))
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("POST", ["check-runs"]) => (201, json!({"id": 555, "name": body["name"], "head_sha": body["head_sha"]})),
        ("PATCH", ["check-runs", "555"]) => (200, json!({"id": 555})),
        _ => (404, json!({"message": "Not Found"})),
    }
}

//! Who may do what: bearer tokens from `--token-file`, each with its scope
//! and namespaces, kept as SHA-256 digests and compared in constant time
//! against every configured token (neither the match nor its position leaks
//! through timing), and the one place that decides what a token may see,
//! submit and cancel ([`Principal`]).
//!
//! A line of the file is `TOKEN scopes=LIST namespaces=LIST [name=NAME]`;
//! `TOKEN` may be written as `sha256:HEX` (its digest) so the file need not
//! hold the token itself. Scopes: `read` (see scans, results, catalogs,
//! posture), `scan` (read, and submit, cancel and retry scans), `admin`
//! (scan, and `/metrics`). Namespaces: a comma-separated list, or `*` for
//! every namespace the server serves (`--namespaces`). A line with the token
//! alone is the format of earlier releases: it is read as `scopes=admin
//! namespaces=*`, with a warning that says how to narrow it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::ApiError;
use crate::error::{Error, Result};

/// Shortest token accepted in the file.
const MIN_TOKEN_LEN: usize = 16;

/// What a token may do; each scope includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// See scans, results, the catalogs and posture.
    Read,
    /// Also submit, cancel and retry scans.
    Scan,
    /// Also the server's own metrics.
    Admin,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "scan" => Some(Scope::Scan),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The name in the tokens file.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Scan => "scan",
            Scope::Admin => "admin",
        }
    }
}

/// The namespaces a token may act in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace the server serves.
    All,
    /// These (the server must serve them too).
    Only(BTreeSet<String>),
}

impl Namespaces {
    fn contains(&self, ns: &str) -> bool {
        match self {
            Namespaces::All => true,
            Namespaces::Only(set) => set.contains(ns),
        }
    }
}

/// One token of the file.
#[derive(Debug, Clone)]
struct Grant {
    name: String,
    digest: [u8; 32],
    scope: Scope,
    namespaces: Namespaces,
}

/// The accepted tokens, and the namespaces the server serves.
#[derive(Clone)]
pub struct Tokens {
    grants: Arc<Vec<Grant>>,
    served: Arc<BTreeSet<String>>,
}

impl Tokens {
    /// Read `path` (see the module's documentation for the format); the
    /// server serves `served`.
    pub fn load(path: &Path, served: BTreeSet<String>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::read_file(path, e).context("--token-file"))?;
        Tokens::parse(&text, &path.display().to_string(), served)
    }

    /// Parse the text of a tokens file named `origin`.
    pub fn parse(text: &str, origin: &str, served: BTreeSet<String>) -> Result<Self> {
        let mut grants = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("--token-file {origin} line {}", n + 1);
            let grant = parse_line(line, n + 1).map_err(|why| Error::input(format!("{}: {why}", at())))?;
            if let Namespaces::Only(set) = &grant.namespaces {
                if let Some(ns) = set.iter().find(|ns| !served.contains(*ns)) {
                    return Err(Error::input(format!(
                        "{}: namespace {ns} is not one this server serves (--namespaces {})",
                        at(),
                        list(&served)
                    )));
                }
            }
            if grants.iter().any(|g: &Grant| g.digest == grant.digest) {
                return Err(Error::input(format!("{}: the same token is listed twice", at())));
            }
            grants.push(grant);
        }
        if grants.is_empty() {
            return Err(Error::input(format!(
                "--token-file {origin} holds no token: put one per line, e.g. \
                 `$(openssl rand -hex 32) scopes=scan namespaces={}`",
                served.iter().next().map(String::as_str).unwrap_or("NS")
            )));
        }
        Ok(Tokens { grants: Arc::new(grants), served: Arc::new(served) })
    }

    /// The grant of `token`, looked up in constant time over all of them.
    fn find(&self, token: &str) -> Option<&Grant> {
        let presented = digest(token.as_bytes());
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, known) in self.grants.iter().enumerate() {
            let same = known.digest.ct_eq(&presented);
            index = u64::conditional_select(&index, &(i as u64), same);
            found |= same;
        }
        bool::from(found).then(|| &self.grants[index as usize])
    }

    /// Whether `token` is one of them.
    pub fn accepts(&self, token: &str) -> bool {
        self.find(token).is_some()
    }

    /// Who presents `token`, if it is accepted.
    pub fn principal(&self, token: &str) -> Option<Principal> {
        self.find(token).map(|g| Principal { grant: g.clone(), served: self.served.clone() })
    }
}

fn parse_line(line: &str, n: usize) -> std::result::Result<Grant, String> {
    let mut fields = line.split_whitespace();
    let token = fields.next().unwrap_or_default();
    let digest = match token.strip_prefix("sha256:") {
        Some(hex) => from_hex(hex).ok_or("sha256: must be followed by the 64 hex digits of the token's SHA-256")?,
        None if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| (0x21..0x7f).contains(&b)) => {
            return Err(format!(
                "a token must be at least {MIN_TOKEN_LEN} visible ASCII characters (e.g. `openssl rand -hex 32`)"
            ))
        }
        None => digest(token.as_bytes()),
    };
    let rest: Vec<&str> = fields.collect();
    if rest.is_empty() {
        tracing::warn!(
            "--token-file line {n}: a token without scopes= and namespaces= (the format of earlier releases) \
             is read as `scopes=admin namespaces=*`; narrow it, e.g. `TOKEN scopes=scan namespaces=shop`"
        );
        return Ok(Grant { name: format!("line {n}"), digest, scope: Scope::Admin, namespaces: Namespaces::All });
    }
    let (mut scope, mut namespaces, mut name) = (None, None, None);
    for field in rest {
        let Some((key, value)) = field.split_once('=') else {
            return Err(format!("{field:?} is not key=value (scopes=, namespaces=, name=)"));
        };
        match key {
            "scopes" => {
                let mut best = None;
                for s in value.split(',') {
                    let s = Scope::parse(s).ok_or_else(|| format!("unknown scope {s:?}: use read, scan or admin"))?;
                    best = best.max(Some(s));
                }
                scope = best;
            }
            "namespaces" if value == "*" => namespaces = Some(Namespaces::All),
            "namespaces" => {
                let mut set = BTreeSet::new();
                for ns in value.split(',') {
                    crate::target::Label::parse("namespace", ns).map_err(|e| e.message().to_owned())?;
                    set.insert(ns.to_owned());
                }
                namespaces = Some(Namespaces::Only(set));
            }
            "name" if !value.is_empty() => name = Some(value.to_owned()),
            _ => return Err(format!("unknown key {key:?}: a line is `TOKEN scopes=LIST namespaces=LIST [name=NAME]`")),
        }
    }
    let scope = scope.ok_or("scopes= is missing (read, scan or admin)")?;
    let namespaces =
        namespaces.ok_or("namespaces= is missing (a comma-separated list, or * for every namespace served)")?;
    Ok(Grant { name: name.unwrap_or_else(|| format!("line {n}")), digest, scope, namespaces })
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

/// The holder of an accepted token: what it may do, where. Every route asks
/// it before acting.
#[derive(Debug, Clone)]
pub struct Principal {
    grant: Grant,
    served: Arc<BTreeSet<String>>,
}

impl Principal {
    /// The token's name (for logs; never the token).
    pub fn name(&self) -> &str {
        &self.grant.name
    }

    /// 403 unless the token's scope includes `scope`; `action` says what was asked.
    pub fn require(&self, scope: Scope, action: &str) -> std::result::Result<(), ApiError> {
        if self.grant.scope >= scope {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} has scope {}: {action} needs scope {}",
                self.grant.name,
                self.grant.scope.as_str(),
                scope.as_str()
            ),
        ))
    }

    /// `scope` in namespace `ns`, which a request names in `field`: 422 when
    /// the server does not serve it, 403 when this token may not act there.
    pub fn require_in(&self, scope: Scope, ns: &str, field: &str, action: &str) -> std::result::Result<(), ApiError> {
        self.require(scope, action)?;
        if !self.served.contains(ns) {
            return Err(ApiError::invalid(
                field,
                format!("namespace {ns} is not one this server serves (--namespaces {})", list(&self.served)),
            ));
        }
        if !self.grant.namespaces.contains(ns) {
            let visible = self.namespaces();
            let visible = if visible.is_empty() { "none".to_owned() } else { visible.join(",") };
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("token {:?} may not {action} in namespace {ns} (its namespaces: {visible})", self.grant.name),
            ));
        }
        Ok(())
    }

    /// `scope` on the existing scan `id` in namespace `ns`: 403 when the
    /// token may not see (or act in) that namespace.
    pub fn require_on(&self, scope: Scope, id: &str, ns: &str, action: &str) -> std::result::Result<(), ApiError> {
        self.require(scope, action)?;
        if self.sees(ns) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("token {:?} may not {action}: scan {id} is in a namespace it may not see", self.grant.name),
        ))
    }

    /// Whether scans and pods of `ns` are visible to this token.
    pub fn sees(&self, ns: &str) -> bool {
        self.served.contains(ns) && self.grant.namespaces.contains(ns)
    }

    /// The namespaces this token sees, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        self.served.iter().filter(|ns| self.grant.namespaces.contains(ns)).cloned().collect()
    }
}

/// Middleware: 401 without a bearer token, 403 with one that is not
/// accepted; else the request carries the token's [`Principal`].
pub async fn require(State(tokens): State<Tokens>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
    let Some(header) = header else {
        return ApiError::unauthenticated("no credentials: send `Authorization: Bearer <token>`").into_response();
    };
    let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim);
    let principal = match token {
        None | Some("") => {
            return ApiError::unauthenticated(
                "the Authorization header is not `Bearer <token>`: only bearer tokens are accepted",
            )
            .into_response()
        }
        Some(t) => tokens.principal(t),
    };
    match principal {
        Some(p) => {
            request.extensions_mut().insert(p);
            next.run(request).await
        }
        None => ApiError::new(
            StatusCode::FORBIDDEN,
            "the bearer token is not one this server accepts (see its --token-file)",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> BTreeSet<String> {
        ["shop", "billing", "kscan"].iter().map(|s| s.to_string()).collect()
    }

    fn parse(text: &str) -> Result<Tokens> {
        Tokens::parse(text, "tokens", served())
    }

    #[test]
    fn tokens_are_read_one_per_line_and_short_ones_refused() {
        let tokens = parse("# ci\n0123456789abcdef0123\n\nfedcba9876543210fedc\n").unwrap();
        assert!(tokens.accepts("0123456789abcdef0123"));
        assert!(tokens.accepts("fedcba9876543210fedc"));
        assert!(!tokens.accepts("0123456789abcdef012"));
        assert!(!tokens.accepts(""));
        let err = parse("short\n").err().unwrap();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(parse("# nothing\n").err().unwrap().to_string().contains("holds no token"));
    }

    #[test]
    fn a_bare_token_keeps_the_old_meaning_admin_everywhere_served() {
        let p = parse("0123456789abcdef0123\n").unwrap().principal("0123456789abcdef0123").unwrap();
        assert!(p.require(Scope::Admin, "x").is_ok());
        assert_eq!(p.namespaces(), ["billing", "kscan", "shop"]);
        assert_eq!(p.name(), "line 1");
    }

    #[test]
    fn scopes_namespaces_and_names_are_read() {
        let hash = hex(&digest(b"reader-token-0123456789"));
        let text = format!(
            "scanner-token-0123456789 scopes=scan namespaces=shop name=ci-shop\nsha256:{hash} scopes=read namespaces=*\n"
        );
        let tokens = parse(&text).unwrap();
        let scanner = tokens.principal("scanner-token-0123456789").unwrap();
        assert_eq!(scanner.name(), "ci-shop");
        assert!(scanner.require_in(Scope::Scan, "shop", "target.namespace", "submit").is_ok());
        assert!(scanner.require(Scope::Read, "list").is_ok(), "scan includes read");
        let err = scanner.require(Scope::Admin, "read the metrics").unwrap_err();
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert!(
            err.message().contains("has scope scan") && err.message().contains("needs scope admin"),
            "{}",
            err.message()
        );
        let err = scanner.require_in(Scope::Scan, "billing", "target.namespace", "submit scans").unwrap_err();
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert!(
            err.message().contains("may not submit scans in namespace billing (its namespaces: shop)"),
            "{}",
            err.message()
        );
        let err = scanner.require_in(Scope::Scan, "elsewhere", "target.namespace", "submit").unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.message().contains("not one this server serves"), "{}", err.message());
        let reader = tokens.principal("reader-token-0123456789").unwrap();
        assert_eq!(reader.name(), "line 2");
        assert!(reader.sees("billing"));
        assert!(reader.require(Scope::Scan, "cancel").is_err());
        let err = scanner.require_on(Scope::Read, "j1", "billing", "see it").unwrap_err();
        assert!(err.message().contains("scan j1 is in a namespace it may not see"), "{}", err.message());
    }

    #[test]
    fn bad_lines_say_what_to_write() {
        for (text, says) in [
            ("0123456789abcdef0123 scopes=scan", "namespaces= is missing"),
            ("0123456789abcdef0123 namespaces=shop", "scopes= is missing"),
            ("0123456789abcdef0123 scopes=write namespaces=shop", "unknown scope \"write\""),
            ("0123456789abcdef0123 scopes=read namespaces=Shop_1", "RFC 1123"),
            ("0123456789abcdef0123 scopes=read namespaces=other", "not one this server serves"),
            ("0123456789abcdef0123 scope=read namespaces=shop", "unknown key \"scope\""),
            ("0123456789abcdef0123 read", "not key=value"),
            ("sha256:abcd scopes=read namespaces=shop", "64 hex digits"),
            ("0123456789abcdef0123\n0123456789abcdef0123", "listed twice"),
        ] {
            let err = parse(text).err().unwrap_or_else(|| panic!("{text} was accepted"));
            assert!(err.to_string().contains(says), "{text}: {err}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

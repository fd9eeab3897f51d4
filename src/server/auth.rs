//! Bearer-token authentication: tokens from `--token-file` (one per line),
//! kept as SHA-256 digests and compared in constant time against every
//! configured token, so neither the match nor its position leaks through
//! timing.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::error::{Error, Result};

/// Shortest token accepted in the file.
const MIN_TOKEN_LEN: usize = 16;

/// The accepted tokens.
#[derive(Clone)]
pub struct Tokens(Arc<Vec<[u8; 32]>>);

impl Tokens {
    /// Read `path`: one token per line; blank lines and `#` comments ignored.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::read_file(path, e).context("--token-file"))?;
        let mut digests = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                return Err(Error::input(format!(
                    "--token-file {} line {}: a token must be at least {MIN_TOKEN_LEN} visible ASCII characters \
                     (e.g. `openssl rand -hex 32`)",
                    path.display(),
                    n + 1
                )));
            }
            digests.push(digest(token.as_bytes()));
        }
        if digests.is_empty() {
            return Err(Error::input(format!(
                "--token-file {} holds no token: put one per line (e.g. `openssl rand -hex 32 > {}`)",
                path.display(),
                path.display()
            )));
        }
        Ok(Tokens(Arc::new(digests)))
    }

    /// Whether `token` is one of them.
    pub fn accepts(&self, token: &str) -> bool {
        let presented = digest(token.as_bytes());
        let mut found = subtle::Choice::from(0);
        for known in self.0.iter() {
            found |= known.ct_eq(&presented);
        }
        found.into()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Middleware: 401 without a bearer token, 403 with one that is not accepted.
pub async fn require(State(tokens): State<Tokens>, request: Request, next: Next) -> Response {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
    let Some(header) = header else {
        return ApiError::unauthenticated("no credentials: send `Authorization: Bearer <token>`").into_response();
    };
    let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim);
    match token {
        None | Some("") => ApiError::unauthenticated(
            "the Authorization header is not `Bearer <token>`: only bearer tokens are accepted",
        )
        .into_response(),
        Some(t) if tokens.accepts(t) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            "the bearer token is not one this server accepts (see its --token-file)",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_one_per_line_and_short_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "# ci\n0123456789abcdef0123\n\nfedcba9876543210fedc\n").unwrap();
        let tokens = Tokens::load(&file).unwrap();
        assert!(tokens.accepts("0123456789abcdef0123"));
        assert!(tokens.accepts("fedcba9876543210fedc"));
        assert!(!tokens.accepts("0123456789abcdef012"));
        assert!(!tokens.accepts(""));
        std::fs::write(&file, "short\n").unwrap();
        let err = Tokens::load(&file).err().unwrap();
        assert!(err.to_string().contains("line 1"), "{err}");
        std::fs::write(&file, "# nothing\n").unwrap();
        assert!(Tokens::load(&file).err().unwrap().to_string().contains("holds no token"));
    }
}

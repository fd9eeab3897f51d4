//! `GET /scan`: a posture scan of the namespaces a token sees, with the
//! server's own identity, answered in the seed-json shape of `kscan posture`.

use axum::http::StatusCode;

use super::error::ApiError;
use crate::cluster::client::Connection;
use crate::posture::live::{self, Selection, PAGE_SIZE};
use crate::posture::pss::Level;
use crate::posture::scan::{Origin, Scan, SourceError};

/// Read the pods of `namespaces` and check them (none: an empty scan; the
/// server never reads every namespace).
pub async fn scan(admin: &Connection, namespaces: Vec<String>) -> Result<serde_json::Value, ApiError> {
    if namespaces.is_empty() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "this token sees no namespace this server serves"));
    }
    let selection = Selection { namespaces, exclude: Vec::new(), concurrency: 4, page_size: PAGE_SIZE };
    let mut scan = Scan::new(Level::Restricted);
    let mut errors = Vec::new();
    let totals = live::read(
        admin.client.clone(),
        &selection,
        &mut |w| scan.add(&w, &Origin::Live),
        &mut |ns, reason, message| {
            errors.push(SourceError { source: ns, reason: reason.to_owned(), message });
        },
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the cluster could not be read: {e}")))?;
    scan.errors = errors;
    scan.sources = totals.namespaces;
    let mut seed = Vec::new();
    scan.write_seed_json(&mut seed).map_err(ApiError::internal)?;
    serde_json::from_slice(&seed).map_err(ApiError::internal)
}

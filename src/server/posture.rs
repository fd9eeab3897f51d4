//! `GET /scan`: a posture scan of the live cluster with the server's own
//! identity, answered in the seed-json shape of `kscan posture`.

use axum::http::StatusCode;

use super::error::ApiError;
use crate::cluster::client::Connection;
use crate::posture::live::{self, Selection, PAGE_SIZE};
use crate::posture::pss::Level;
use crate::posture::scan::{Origin, Scan, SourceError};

/// Read the pods of `namespace` (or every namespace) and check them.
pub async fn scan(admin: &Connection, namespace: Option<String>) -> Result<serde_json::Value, ApiError> {
    let selection = Selection {
        namespaces: namespace.into_iter().collect(),
        exclude: Vec::new(),
        concurrency: 4,
        page_size: PAGE_SIZE,
    };
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

//! kscan: scan running Kubernetes containers for compliance from CI, gate
//! the results, and leave nothing behind.
//!
//! The modules follow the pipeline:
//!
//! ```text
//! target ──► access ──► strategy ──► engine ──► hdf ──► gate ──► report
//!            (cluster)                                     teardown (cluster)
//! ```
//!
//! [`hdf`] is the result model every producer writes and every consumer
//! reads; [`error`] maps every failure to one of the documented exit codes.

pub mod ci;
pub mod cli;
pub mod cluster;
pub mod engine;
pub use kscan_agent::error;
pub mod gate;
pub mod hdf;
pub mod posture;
pub mod report;
pub mod scan;
pub mod server;
pub mod strategy;
pub mod target;

pub use error::{Error, Outcome, Result};

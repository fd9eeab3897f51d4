//! HDF — the one result model in the middle of the pipeline.
//!
//! Everything that produces results (engines, posture) produces an
//! [`Execution`](model::Execution); everything that reports consumes
//! [`ResultSet`]s. Status, severity and compliance follow inspecjs exactly so
//! that kscan's numbers match the SAF CLI and Heimdall; see [`status`] and
//! [`evaluate`] for the rules and the overlay handling.

pub mod counts;
pub mod evaluate;
pub mod load;
pub use kscan_agent::hdf as model;
pub mod status;
pub mod summary;

pub use counts::Counts;
pub use evaluate::{EvaluatedControl, EvaluatedProfile};
pub use load::{total_counts, ResultSet, Source};
pub use model::{Control, Execution, Profile, TestResult};
pub use status::{ControlStatus, Severity};

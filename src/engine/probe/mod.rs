//! How the built-in engine looks at a target. The probe trait, the probe
//! over a local root path and the `/proc` parsers are the agent's
//! ([`kscan_agent::probe`], re-exported here); [`exec`] adds the probe over
//! the Kubernetes exec API, which only kscan's side has.

pub use kscan_agent::probe::*;

pub mod exec;

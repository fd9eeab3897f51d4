//! Posture: the pod-spec checks (`:latest` tags, root users, Pod Security
//! Standards) over Pods and the pod templates of workloads, from manifests or
//! a live cluster. It is the pipeline's engine for specs: it produces HDF, so
//! the gate and the reports are the ones of container scans.

pub mod image;
pub mod json;
pub mod jsonread;
pub mod lines;
pub mod live;
pub mod manifest;
pub mod pss;
pub mod scan;
pub mod spec;
pub mod user;
pub mod workload;

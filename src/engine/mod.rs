//! Engines: what produces the HDF. `builtin` runs kscan's own checks through
//! a [`probe::Probe`]; `cinc` runs CINC Auditor / InSpec as an external program.

pub mod builtin;
pub mod probe;

//! Errors and the one place where outcomes become process exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | the run passed the gate (or there was no gate) |
//! | 1 | the gate failed |
//! | 2 | usage or input error: bad flags, missing/malformed files, invalid names |
//! | 3 | the scan could not run: cluster, access, engine, timeout |
//! | 4 | teardown left objects behind |
//!
//! A run that could not scan never exits 0: every failure path returns an
//! [`Error`] whose [`Kind`] picks the code.

use std::fmt;
use std::path::Path;

/// What a successful run concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to gate, or every threshold held.
    Passed,
    /// At least one threshold was violated.
    GateFailed,
}

impl Outcome {
    /// `Passed` when the gate held, else `GateFailed`.
    pub fn of_gate(passed: bool) -> Self {
        if passed {
            Outcome::Passed
        } else {
            Outcome::GateFailed
        }
    }
}

/// The class of an error, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad flags, missing or malformed input files, invalid names. Exit 2.
    Input,
    /// The scan could not run: cluster, access, engine or timeout. Exit 3.
    Scan,
    /// Teardown failed and objects were left behind. Exit 4.
    Teardown,
}

/// An error with its class, a message that says what went wrong and what to
/// do, and the underlying cause.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with kscan's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }

    /// An input/usage error (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        Error::new(Kind::Input, message)
    }

    /// A could-not-scan error (exit 3).
    pub fn scan(message: impl Into<String>) -> Self {
        Error::new(Kind::Scan, message)
    }

    /// A teardown error (exit 4).
    pub fn teardown(message: impl Into<String>) -> Self {
        Error::new(Kind::Teardown, message)
    }

    /// Attach the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Prefix the message with what was being done, keeping kind and cause.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The class of this error.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The message without the cause chain.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Input => 2,
            Kind::Scan => 3,
            Kind::Teardown => 4,
        }
    }

    /// An input error for a file that could not be read.
    pub fn read_file(path: &Path, err: std::io::Error) -> Self {
        let hint = match err.kind() {
            std::io::ErrorKind::NotFound => " (no such file; check the path)",
            std::io::ErrorKind::PermissionDenied => " (permission denied)",
            _ => "",
        };
        Error::input(format!("cannot read {}{hint}", path.display())).with_source(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut source = self.source.as_deref().map(|s| s as &dyn std::error::Error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() && !self.message.contains(&text) {
                write!(f, ": {text}")?;
            }
            source = cause.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Exit code for an outcome.
pub fn outcome_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Passed => 0,
        Outcome::GateFailed => 1,
    }
}

/// Adds kscan context to foreign errors.
pub trait ResultExt<T> {
    /// Wrap the error as an input error (exit 2) with `what` as the message.
    fn input_err(self, what: impl FnOnce() -> String) -> Result<T>;
    /// Wrap the error as a could-not-scan error (exit 3) with `what` as the message.
    fn scan_err(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> ResultExt<T> for std::result::Result<T, E> {
    fn input_err(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::input(what()).with_source(e))
    }
    fn scan_err(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::scan(what()).with_source(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_documented_codes() {
        assert_eq!(outcome_code(Outcome::Passed), 0);
        assert_eq!(outcome_code(Outcome::GateFailed), 1);
        assert_eq!(Error::input("x").exit_code(), 2);
        assert_eq!(Error::scan("x").exit_code(), 3);
        assert_eq!(Error::teardown("x").exit_code(), 4);
    }

    #[test]
    fn display_chains_causes_and_context() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::read_file(Path::new("a.json"), io).context("loading results");
        assert_eq!(e.to_string(), "loading results: cannot read a.json (no such file; check the path): gone");
        assert_eq!(e.kind(), Kind::Input);
    }
}

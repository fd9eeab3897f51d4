//! HDF results of the built-in checks, timed by the fact they judge.

use super::facts::Fact;
use crate::hdf::{ResultStatus, TestResult};

/// Why a check over processes is skipped on a directory.
pub const NO_PROCESSES: &str = "a directory scan has no processes; scan the running container to check this";

fn result<T>(fact: &Fact<T>, status: ResultStatus, code_desc: String, message: Option<String>) -> TestResult {
    let skip_message = if status == ResultStatus::Skipped { message.clone() } else { None };
    TestResult {
        message: if status == ResultStatus::Skipped { None } else { message },
        skip_message,
        status: Some(status),
        code_desc,
        run_time: Some(fact.took.as_secs_f64()),
        start_time: fact.start_time(),
        exception: None,
        backtrace: None,
        resource: None,
        resource_id: None,
    }
}

/// A passed result.
pub fn pass<T>(fact: &Fact<T>, code_desc: impl Into<String>) -> TestResult {
    result(fact, ResultStatus::Passed, code_desc.into(), None)
}

/// A failed result with what failed.
pub fn fail<T>(fact: &Fact<T>, code_desc: impl Into<String>, message: impl Into<String>) -> TestResult {
    result(fact, ResultStatus::Failed, code_desc.into(), Some(message.into()))
}

/// A skipped result with why.
pub fn skip<T>(fact: &Fact<T>, code_desc: impl Into<String>, why: impl Into<String>) -> TestResult {
    result(fact, ResultStatus::Skipped, code_desc.into(), Some(why.into()))
}

/// An error result: the target would not tell.
pub fn error<T>(fact: &Fact<T>, code_desc: impl Into<String>, message: impl Into<String>) -> TestResult {
    let mut r = result(fact, ResultStatus::Error, code_desc.into(), Some(message.into()));
    r.exception = Some("ProbeRefused".into());
    r
}

/// The fact's value, or an error result saying why it is missing.
pub fn known<'a, T>(fact: &'a Fact<T>, code_desc: &str) -> Result<&'a T, Vec<TestResult>> {
    fact.value.as_ref().map_err(|why| vec![error(fact, code_desc, format!("could not read the target: {why}"))])
}

/// The value of a fact only a running container has (its processes, the
/// main process's runtime view): an error result when it could not be
/// read, a skip on a directory scan (`None`).
pub fn running<'a, T>(fact: &'a Fact<Option<T>>, code_desc: &str) -> Result<&'a T, Vec<TestResult>> {
    known(fact, code_desc)?.as_ref().ok_or_else(|| vec![skip(fact, code_desc, NO_PROCESSES)])
}

/// The value, or return the results [`running`] made.
macro_rules! running_or_return {
    ($fact:expr, $desc:expr) => {
        match $crate::builtin::outcome::running($fact, $desc) {
            Ok(v) => v,
            Err(results) => return results,
        }
    };
}

/// The fact's value, or return the error results [`known`] made.
macro_rules! known_or_return {
    ($fact:expr, $desc:expr) => {
        match $crate::builtin::outcome::known($fact, $desc) {
            Ok(v) => v,
            Err(results) => return results,
        }
    };
}

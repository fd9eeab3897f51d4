//! The part of kscan that runs inside a scanner container, and the pieces of
//! the pipeline it shares with the `kscan` binary.
//!
//! The debug and sidecar strategies start a scanner container beside the
//! target; its whole content is the static `kscan-agent` binary built from
//! this crate. The crate therefore holds only what that binary needs:
//!
//! - [`probe`]: how the built-in checks look at a target (a root path here;
//!   `kscan` adds a probe over the Kubernetes exec API on its side);
//! - [`builtin`]: the built-in checks, gathering facts through a probe and
//!   writing [`hdf`];
//! - [`hdf`]: the result model (InSpec exec JSON), which `kscan` evaluates,
//!   gates and reports;
//! - [`protocol`]: the argument vectors `kscan` sends and the agent parses,
//!   and the keys both write into the HDF `platform`;
//! - [`spec`]: what the pod spec asks of the kernel, for the runtime controls;
//! - [`agent`]: what the agent does for each command;
//! - [`error`]: errors and the exit codes every kscan program uses.
//!
//! No Kubernetes client, HTTP server or template engine is linked in here.

pub mod agent;
pub mod builtin;
pub mod error;
pub mod hdf;
pub mod probe;
pub mod protocol;
pub mod spec;

pub use error::{Error, Outcome, Result};

/// Run `future` to completion on this thread.
///
/// The agent's futures never wait on anything but the local filesystem
/// (the probe's reads are plain system calls), so a thread-parking executor
/// is all it needs; an async runtime would double the binary for nothing.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

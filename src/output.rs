//! Standard output for every command. A reader that stops early (`kscan
//! summary … | head`) closes the pipe: kscan then stops writing and the run
//! ends as it would have, instead of failing on the broken pipe.

use std::io::Write;

use crate::error::{Result, ResultExt};

/// Write `text` to standard output and flush it; a closed pipe is not an error.
pub fn stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.scan_err(|| "cannot write to standard output".into()),
    }
}

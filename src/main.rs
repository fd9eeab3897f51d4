//! The `kscan` binary: parse the command line, run, map the result to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = kscan::cli::parse();
    kscan::cli::init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(kscan::cli::run(cli)) {
        Ok(outcome) => ExitCode::from(kscan::error::outcome_code(outcome)),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

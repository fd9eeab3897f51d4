//! `kscan-agent`: parse the argument vector kscan sent, run the command, map
//! the result to kscan's exit codes (0 done, 2 usage, 3 could not scan).

use std::process::ExitCode;

use kscan_agent::protocol::{Command, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("kscan-agent {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let outcome = Command::parse(args).and_then(|command| kscan_agent::agent::run(command, &mut std::io::stdout()));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kscan-agent: error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

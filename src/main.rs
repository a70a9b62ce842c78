//! The `cohere-bundle` binary: parse, run, map errors to exit codes (0 ok, 1 failure, 2 usage or bad input,
//! 3 leak check refused the bundle). Everything is in the command line's library target, which the Python
//! extension runs too.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    ExitCode::from(cohere_bundle_cli::run_args(&args))
}

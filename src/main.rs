//! The `cohere-bundle` binary: parse, run, map errors to exit codes (0 ok, 1 failure, 2 usage or bad input,
//! 3 leak check refused the bundle).

mod cli;
mod help;
mod settings;
mod term;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => return ExitCode::from(cli::parse_error(e, &args)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cohere-bundle: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(cli::main(cli));
    // Blocking writers still running after an interrupt get a moment, then whatever they left is removed.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    cohere_bundle::cleanup::remove_unfinished();
    ExitCode::from(code)
}

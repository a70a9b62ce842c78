//! The `cohere-bundle` binary: parse, run, map errors to exit codes (0 ok, 1 failure, 2 usage or bad input,
//! 3 leak check refused the bundle).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<cohere_bundle::Error>())
        .map(cohere_bundle::Error::exit_code)
        .unwrap_or(1)
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
            eprintln!("cohere-bundle: {}", chain.join(": "));
            ExitCode::from(exit_code(&err))
        }
    }
}

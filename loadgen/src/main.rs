//! The `mignet-loadgen` binary: argument parsing and dispatch only.

use std::process::ExitCode;

use clap::Parser;
use mignet_loadgen::cli::{self, Cli};

fn main() -> ExitCode {
    match cli::execute(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mignet-loadgen: {err}");
            ExitCode::from(2)
        }
    }
}

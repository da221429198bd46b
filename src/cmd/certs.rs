//! `mignet certs`: a development CA and serving pair, generated in Rust (no openssl).

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use mignet::certs;

/// Arguments of `mignet certs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write ca.crt, tls.crt and tls.key into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Subject alternative names (DNS names or IP addresses); repeatable. Default: localhost,
    /// 127.0.0.1, ::1 and mignet.mignet-system.svc.
    #[arg(long = "san", value_name = "NAME|IP")]
    sans: Vec<String>,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

/// Generates and writes the files, naming each one written.
pub fn run(args: Args) -> Result<ExitCode> {
    let sans = if args.sans.is_empty() {
        certs::DEFAULT_SANS.iter().map(|s| s.to_string()).collect()
    } else {
        args.sans
    };
    let generated = certs::generate(&sans)?;
    for path in certs::write(&args.out, &generated, args.force)? {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

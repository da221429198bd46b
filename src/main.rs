//! The `mignet` binary: argument parsing and dispatch only.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps KubeVirt / OpenShift Virtualization live-migration networks correct.
#[derive(Debug, Parser)]
#[command(name = "mignet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge NADs and HyperConvergeds in YAML/JSON files, offline (for CI).
    Check(cmd::check::Args),
    /// Serve the TLS admission webhook the API server calls.
    Serve(cmd::serve::Args),
    /// Answer one AdmissionReview as the server would (debugging, replaying API server requests).
    Review(cmd::review::Args),
    /// Write a development CA and serving certificate (ca.crt, tls.crt, tls.key).
    Certs(cmd::certs::Args),
    /// Print what the live cluster view sees: claimed ranges and owners, overlaps, nodes, capacity.
    View(cmd::view::Args),
    /// Prove that live migrations use the dedicated network: HyperConverged, KubeVirt, virt-handler, VMIs.
    Verify(cmd::verify::Args),
}

fn main() -> ExitCode {
    // One crypto provider for every TLS user (the server, kube's client), chosen before any is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Review(args) => cmd::review::run(args),
        Command::Certs(args) => cmd::certs::run(args),
        Command::View(args) => cmd::view::run(args),
        Command::Verify(args) => cmd::verify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mignet: {}", describe(&err));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == BrokenPipe)
            || e.downcast_ref::<serde_json::Error>().is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}

/// The error chain on one line, skipping causes whose text the outer message already quotes.
fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // serde_json appends " at line L column C", which the outer message already gives as path:line:col
        let core = match cause.downcast_ref::<serde_json::Error>() {
            Some(_) => text.split(" at line ").next().unwrap_or(&text),
            None => &text,
        };
        if !out.contains(core) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        // these say everything their causes say, in their own words
        if cause.is::<mignet::input::InputError>() || cause.is::<mignet::policy::PolicyError>() {
            break;
        }
    }
    out
}

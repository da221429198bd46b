//! `mignet review`: answers one AdmissionReview exactly as the server would, for debugging and for
//! replaying what an API server sent.

use std::{
    convert::Infallible,
    io::{Read, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context, Result};
use mignet::server::{admission, metrics::Webhook};

use super::load;

/// Arguments of `mignet review`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy file (YAML); the defaults apply without one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Answer as the mutating webhook (/mutate) instead of the validating one (/validate).
    #[arg(long)]
    mutate: bool,
    /// Files or directories describing the cluster, as for `serve --cluster off`.
    #[arg(long = "cluster-state", value_name = "PATH")]
    cluster_state: Vec<PathBuf>,
    /// The AdmissionReview (JSON), or - for stdin.
    #[arg(value_name = "FILE", default_value = "-")]
    file: PathBuf,
}

/// Prints the AdmissionReview response; exit 0 when allowed, 1 when denied, 2 when the input is bad.
pub fn run(args: Args) -> Result<ExitCode> {
    let policy = load::policy(args.policy.as_deref())?;
    let objects = load::objects(&args.cluster_state)?;
    let Ok((policy, view)) = load::settled(policy, |p| Ok::<_, Infallible>(load::view(p, &objects)));
    let body = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).context("cannot read stdin")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let webhook = if args.mutate { Webhook::Mutate } else { Webhook::Validate };
    let reviewed = admission::review(&body, webhook, &policy, &view, admission::unix_now())
        .with_context(|| format!("{}", args.file.display()))?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &reviewed.response)?;
    writeln!(out)?;
    let allowed = reviewed.response.response.as_ref().is_some_and(|r| r.allowed);
    Ok(if allowed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

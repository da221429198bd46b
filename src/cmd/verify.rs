//! `mignet verify`: proves that live migrations use the dedicated network, from the live cluster or
//! from objects dumped to files.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{Context, Result};
use clap::{ValueEnum, builder::NonEmptyStringValueParser};
use mignet::{
    policy::Policy,
    verify::{self, Inputs, Options, VmiRef, files, live},
};

use super::load;

/// Arguments of `mignet verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig file; without it, KUBECONFIG, ~/.kube/config or the pod's service account.
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    kubeconfig: Option<PathBuf>,
    /// Namespace of the HyperConverged, the KubeVirt CR and virt-handler (default: the policy's
    /// migrationNamespace, openshift-cnv); also where the migration NAD must be.
    #[arg(long, short = 'n', value_name = "NS", value_parser = NonEmptyStringValueParser::new())]
    namespace: Option<String>,
    /// Judge only this VMI (NAME or NAMESPACE/NAME); fails when it has not migrated.
    #[arg(long, value_name = "NAME")]
    vmi: Option<VmiRef>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Policy file (YAML) for the migration NAD rules; the defaults apply without one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Verify objects dumped to files or directories (`oc get … -o yaml`, a must-gather) instead of the
    /// live cluster.
    #[arg(long, value_name = "DIR")]
    from: Vec<PathBuf>,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// `PASS|FAIL|SKIP <check>: <evidence>` lines, details indented below.
    Text,
    /// One JSON document with every check and a summary.
    Json,
}

/// Runs the checks; exit 0 when none fails, 1 when one does (errors reading the cluster or files: 2).
pub fn run(args: Args) -> Result<ExitCode> {
    let policy = policy(&args)?;
    let options = Options {
        namespace: policy.migration_namespace().to_owned(),
        vmi: args.vmi.clone(),
        from_files: !args.from.is_empty(),
    };
    let inputs = if args.from.is_empty() { from_cluster(&args, &options)? } else { files::read(&args.from)? };
    let report = verify::verify(&policy, &inputs, &options);
    let mut out = io::stdout().lock();
    match args.output {
        Output::Text => report.write_text(&mut out)?,
        Output::Json => report.write_json(&mut out)?,
    }
    out.flush()?;
    Ok(if report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The policy file, with `--namespace` as its migration namespace: the NAD must live where
/// virt-handler does.
fn policy(args: &Args) -> Result<Policy> {
    let policy = load::policy(args.policy.as_deref())?;
    match &args.namespace {
        Some(ns) if ns != policy.migration_namespace() => {
            let mut file = policy.file().clone();
            file.migration_namespace = ns.clone();
            Policy::compile(file).context("--namespace")
        }
        _ => Ok(policy),
    }
}

fn from_cluster(args: &Args, options: &Options) -> Result<Inputs> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let conn = live::connect(args.kubeconfig.as_deref()).await?;
        Ok(live::collect(&conn, &options.namespace, options.vmi.as_ref()).await?)
    })
}

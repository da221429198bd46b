//! `mignet view`: what the live cluster view sees, the way `mignet serve --cluster auto` sees it.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use anyhow::Result;
use arc_swap::ArcSwap;
use clap::ValueEnum;
use mignet::{
    cluster::{
        ClusterError, connect,
        live::{self, LiveView, Settings},
        report::Report,
    },
    policy::view::View,
    server::reload::Judge,
};

use super::load;

/// Arguments of `mignet view`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig to use; without it: KUBECONFIG or ~/.kube/config, else the pod's service account.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Policy file (YAML) deciding migration NADs, node selector and default ranges; the defaults without one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// How long to wait for the initial lists.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout_seconds: u64,
}

/// How the view is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table of ranges by address, then nodes, HyperConvergeds and watched resources.
    Text,
    /// One JSON document.
    Json,
    /// One self-contained HTML page: the address map, the migration network and free subnets.
    Html,
}

/// Connects, waits for every served resource's initial list, prints the view and exits 0.
pub fn run(args: Args) -> Result<ExitCode> {
    // watch problems while loading (RBAC, connectivity) go to stderr; RUST_LOG overrides
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).init();
    let policy = load::policy(args.policy.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(async {
        let client = live::connect(args.kubeconfig.as_deref()).await.map_err(|e| match e {
            ClusterError::Connect(connect::ConnectError::NoConfig { .. }) => {
                anyhow::Error::new(e).context("mignet view needs a cluster: pass --kubeconfig FILE")
            }
            e => anyhow::Error::new(e),
        })?;
        let judge = Arc::new(Judge { policy: ArcSwap::from_pointee(policy), view: RwLock::new(View::new()) });
        let settings = Settings { discovery_interval: Duration::from_secs(3600), resync_interval: None };
        let live = LiveView::start(client, judge.clone(), settings);
        live.wait_ready(Duration::from_secs(args.timeout_seconds)).await?;
        let view = judge.view.read().unwrap_or_else(|p| p.into_inner()).clone();
        let resources = live.status().report(Instant::now());
        live.stop();
        Ok::<_, anyhow::Error>(Report::build(&judge.policy.load(), &view, resources))
    })?;
    let mut out = io::stdout().lock();
    match args.output {
        Output::Text => out.write_all(report.to_text().as_bytes())?,
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Output::Html => out.write_all(mignet::html::view_page(&report).as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

//! `mignet serve`: the TLS admission webhook.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, Result, bail};
use arc_swap::ArcSwap;
use axum_server::{Handle, tls_rustls::RustlsConfig};
use clap::ValueEnum;
use mignet::{
    cluster::{
        ClusterError, connect,
        live::{self, LiveView, Settings},
    },
    policy::Policy,
    server::{
        self, AppState,
        metrics::Metrics,
        reload::{Judge, PolicyReloader, Rebuild},
        tls::{self, TlsPaths},
    },
};
use tokio::sync::watch;

use super::load;

/// Arguments of `mignet serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address of the HTTPS listener (port 0 picks a free port; the log says which).
    #[arg(long, default_value = "0.0.0.0:8443")]
    addr: SocketAddr,
    /// Serving certificate (PEM, leaf first); re-read when it changes.
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Private key of the serving certificate (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Require and verify client certificates signed by this CA (mTLS).
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// Policy file (YAML); reloaded when it changes. The defaults apply without one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Where the cluster view comes from: `off` = only the --cluster-state files.
    #[arg(long, value_enum, default_value_t = ClusterMode::Auto)]
    cluster: ClusterMode,
    /// Files or directories of objects forming the view (with --cluster off).
    #[arg(long = "cluster-state", value_name = "PATH")]
    cluster_state: Vec<PathBuf>,
    /// Kubeconfig for --cluster auto; without it: KUBECONFIG or ~/.kube/config, else the pod's service account.
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// How often API discovery runs (--cluster auto), so a CRD installed later gets watched.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    discovery_interval_seconds: u64,
    /// How often every watcher relists (--cluster auto), bounding staleness on a quiet cluster; 0 = never.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    resync_seconds: u64,
    /// Also serve /healthz, /readyz and /metrics over plain HTTP on this address.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// On SIGTERM, how long requests in flight may take to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    drain_seconds: u64,
    /// How often the certificate and policy files are checked for changes.
    #[arg(long, value_name = "MILLISECONDS", default_value_t = 2000)]
    reload_interval_ms: u64,
}

/// Source of the cluster view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterMode {
    /// The live view from the API server.
    Auto,
    /// A fixed view from --cluster-state files.
    Off,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Serves until SIGTERM or SIGINT, then drains and exits 0.
pub fn run(args: Args) -> Result<ExitCode> {
    init_logs(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<ExitCode> {
    let client = match args.cluster {
        ClusterMode::Auto => Some(cluster_client(&args).await?),
        ClusterMode::Off if args.kubeconfig.is_some() => {
            bail!("--kubeconfig is only read with --cluster auto")
        }
        ClusterMode::Off => None,
    };
    let (policy, policy_bytes) = load::policy_and_bytes(args.policy.as_deref())?;
    let (policy, view) = load::settled(policy, |p| load::view_from(p, &args.cluster_state))?;
    let metrics = Arc::new(Metrics::new());
    metrics.set_view_objects("nad", view.nad_count() as i64);
    let judge = Arc::new(Judge { policy: ArcSwap::from_pointee(policy), view: RwLock::new(view) });
    let live = client.map(|c| LiveView::start(c, judge.clone(), live_settings(&args)));

    let paths =
        TlsPaths { cert: args.cert.clone(), key: args.key.clone(), client_ca: args.client_ca.clone() };
    let tls_config = tls::load(&paths)?;
    let rustls = RustlsConfig::from_config(Arc::new(tls_config));
    let interval = Duration::from_millis(args.reload_interval_ms.max(10));
    let reloader = tls::Reloader::new(paths, rustls.clone(), interval);

    let state = Arc::new(AppState {
        judge: judge.clone(),
        metrics: metrics.clone(),
        ready: AtomicBool::new(live.is_none()),
        cert_expiry: reloader.expiry_handle(),
        cluster: live.as_ref().map(LiveView::status),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tokio::spawn(reloader.run(stopped(stop_rx.clone())));
    if let Some(live) = &live {
        let ready = state.clone();
        let on_ready = move |r: bool| ready.ready.store(r, Ordering::Relaxed);
        let every = Duration::from_secs(1);
        tokio::spawn(live::publish(
            live.status(),
            metrics.clone(),
            on_ready,
            every,
            stopped(stop_rx.clone()),
        ));
    }
    if let Some(path) = args.policy.clone() {
        let rebuild: Rebuild = match &live {
            // the watchers relist what the policy changes; the view is never rebuilt from scratch
            Some(live) => {
                let notifier = live.policy_notifier();
                Arc::new(move |policy: &Policy| {
                    notifier.notify(policy);
                    Ok(None)
                })
            }
            // only the view is kept, so the files are read again
            None => {
                let paths = args.cluster_state.clone();
                Arc::new(move |policy: &Policy| {
                    load::view_from(policy, &paths).map(Some).map_err(|e| format!("{e:#}"))
                })
            }
        };
        let reloader =
            PolicyReloader { path, interval, judge: judge.clone(), metrics: metrics.clone(), rebuild };
        tokio::spawn(reloader.run(policy_bytes, stopped(stop_rx.clone())));
    }

    let handle: Handle<SocketAddr> = Handle::new();
    let app = server::router(state.clone());
    let listener = server::http::limit(server::http::bind(args.addr, rustls), &Default::default())
        .handle(handle.clone());
    let https = tokio::spawn(async move { listener.serve(app.into_make_service()).await });
    let Some(bound) = handle.listening().await else {
        let err = https.await.map_err(anyhow::Error::from).and_then(|r| r.map_err(anyhow::Error::from));
        return Err(err.err().unwrap_or_else(|| anyhow::anyhow!("listener stopped")))
            .with_context(|| format!("cannot listen on {}", args.addr));
    };
    let probes = match args.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--metrics-addr)"))?;
            let plain = listener.local_addr()?;
            tracing::info!(addr = %plain, "serving /healthz, /readyz and /metrics over plain HTTP");
            let router = server::probes_router(state.clone());
            let rx = stop_rx.clone();
            Some(tokio::spawn(async move {
                axum::serve(listener, router).with_graceful_shutdown(stopped(rx)).await
            }))
        }
        None => None,
    };
    let nads = judge.view.read().map(|v| v.nad_count()).unwrap_or_default();
    tracing::info!(addr = %bound, nads, "listening on https://{bound}");
    tracing::info!(
        "try: curl --cacert certs/ca.crt -H 'Content-Type: application/json' \
         --data @examples/reviews/nad-create.json https://{}/validate",
        if bound.ip().is_unspecified() {
            SocketAddr::new([127, 0, 0, 1].into(), bound.port())
        } else {
            bound
        }
    );

    shutdown_signal().await;
    tracing::info!(drain_seconds = args.drain_seconds, "stopping: finishing requests in flight");
    handle.graceful_shutdown(Some(Duration::from_secs(args.drain_seconds)));
    let _ = stop_tx.send(true);
    https.await.context("server task")?.context("server")?;
    if let Some(p) = probes {
        let _ = p.await;
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The API client for `--cluster auto`, with the way out when there is no cluster to talk to.
async fn cluster_client(args: &Args) -> Result<kube::Client> {
    if !args.cluster_state.is_empty() {
        bail!(
            "--cluster-state is only read with --cluster off (with --cluster auto the view comes from the cluster)"
        );
    }
    live::connect(args.kubeconfig.as_deref()).await.map_err(|e| {
        let hint = match e {
            ClusterError::Connect(connect::ConnectError::NoConfig { .. }) => {
                "--cluster auto needs a cluster: pass --kubeconfig FILE, or judge against files with \
                 --cluster off --cluster-state PATH"
            }
            _ => "--cluster auto",
        };
        anyhow::Error::new(e).context(hint)
    })
}

fn live_settings(args: &Args) -> Settings {
    Settings {
        discovery_interval: Duration::from_secs(args.discovery_interval_seconds.max(1)),
        resync_interval: (args.resync_seconds > 0).then(|| Duration::from_secs(args.resync_seconds)),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

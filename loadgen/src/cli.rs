//! Command-line arguments and what each subcommand does with them.

use std::{
    io::Write,
    path::PathBuf,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    client::{ClientError, HttpVersion, Tls},
    mix::{Mix, MixError, RequestSpec},
    pace::{parse_duration, parse_rate},
    ready::{self, ReadyError},
    report::{self, Report, Rss, RssError, ServerUsage},
    run::{self, RunConfig, RunError},
    state,
    target::{Target, TargetError},
};

/// Longest run accepted: load runs are bounded.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Most connections one run opens.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Load generator for admission webhooks on this machine (loopback only).
#[derive(Debug, Parser)]
#[command(name = "mignet-loadgen", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send AdmissionReviews to a webhook for a fixed duration and report throughput and latency.
    Run(RunArgs),
    /// Print a synthetic cluster state (tenant NADs and nodes) as a JSON stream.
    GenState(GenStateArgs),
    /// Poll a readiness URL until it answers 200.
    WaitReady(ReadyArgs),
    /// Start a server command, time it until its readiness URL answers 200, report its idle memory.
    Startup(StartupArgs),
}

/// `--http 1|2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HttpArg {
    #[value(name = "1")]
    One,
    #[value(name = "2")]
    Two,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Webhook URL, e.g. https://127.0.0.1:8443/validate (the host must be loopback).
    #[arg(long)]
    pub url: String,
    /// CA certificate(s) to trust for the server (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// AdmissionReview JSON file to send, with an optional weight; repeat for a mix.
    #[arg(long = "request", value_name = "FILE[:WEIGHT]", required = true, value_parser = RequestSpec::parse)]
    pub requests: Vec<RequestSpec>,
    /// HTTP version on every connection.
    #[arg(long, value_enum, default_value = "1")]
    pub http: HttpArg,
    /// Number of connections.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub connections: usize,
    /// Requests in flight per connection (HTTP/2 streams).
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Measured duration (10s, 500ms, 2m).
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured load before the measured duration.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Open loop at this many requests per second (e.g. 5000/s); closed loop without it.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u64>,
    /// A new TCP connection and full TLS handshake for every request.
    #[arg(long)]
    pub new_connection: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Report this process's memory (VmRSS, VmHWM from /proc/PID/status).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Runtime worker threads of the generator (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

/// Arguments of `gen-state`.
#[derive(Debug, clap::Args)]
pub struct GenStateArgs {
    /// Number of tenant NADs.
    #[arg(long)]
    pub nads: usize,
    /// Number of virt-handler nodes.
    #[arg(long, default_value_t = 50)]
    pub nodes: usize,
    /// Write one `List` (as `oc get -o json` prints) instead of a stream of objects.
    #[arg(long)]
    pub list: bool,
}

/// Arguments of `wait-ready`.
#[derive(Debug, clap::Args)]
pub struct ReadyArgs {
    /// Readiness URL, e.g. https://127.0.0.1:8443/readyz (the host must be loopback).
    #[arg(long)]
    pub url: String,
    /// CA certificate(s) to trust for the server (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// Give up after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Arguments of `startup`.
#[derive(Debug, clap::Args)]
pub struct StartupArgs {
    #[command(flatten)]
    pub ready: ReadyArgs,
    /// How long the server idles after ready before its memory is read.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Write the server's standard error here.
    #[arg(long, value_name = "FILE")]
    pub server_log: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON result to this file.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// The server command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Why a subcommand failed (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Mix(#[from] MixError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Ready(#[from] ReadyError),
    #[error(transparent)]
    Rss(#[from] RssError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    JsonOut {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the report: {0}")]
    Json(#[source] serde_json::Error),
}

impl RunArgs {
    /// Checks the combination of arguments and resolves the URL.
    pub fn config(&self) -> Result<RunConfig, CliError> {
        let usage = |m: &str| Err(CliError::Usage(m.into()));
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            return usage(&format!("--connections must be from 1 to {MAX_CONNECTIONS}"));
        }
        if self.streams == 0 || self.streams > 1000 {
            return usage("--streams must be from 1 to 1000");
        }
        if self.streams > 1 && (self.http == HttpArg::One || self.new_connection) {
            return usage(
                "--streams above 1 needs --http 2 and keep-alive (HTTP/1.1 carries one request at a time)",
            );
        }
        if self.duration.is_zero() || self.duration + self.warmup > MAX_DURATION {
            return usage("--duration must be above 0 and, with --warmup, at most 24h");
        }
        if self.timeout.is_zero() {
            return usage("--timeout must be above 0");
        }
        if self.threads == Some(0) {
            return usage("--threads must be at least 1");
        }
        Ok(RunConfig {
            target: Target::parse(&self.url)?,
            ca: self.ca.clone(),
            http: match self.http {
                HttpArg::One => HttpVersion::Http1,
                HttpArg::Two => HttpVersion::Http2,
            },
            connections: self.connections,
            streams: self.streams,
            duration: self.duration,
            warmup: self.warmup,
            rate: self.rate,
            new_connection: self.new_connection,
            timeout: self.timeout,
        })
    }
}

/// Runs a parsed command line; the exit status is 1 when a load run got no successful answer.
pub fn execute(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Run(args) => {
            let config = args.config()?;
            let mix = Mix::load(&args.requests)?;
            let report = runtime(args.threads)?.block_on(run_and_report(&config, mix, args.server_pid))?;
            let text = if args.json { json(&report)? } else { report.text() };
            print(&text)?;
            save(args.json_out.as_ref(), &report)?;
            Ok(if report.ok == 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::GenState(args) => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let shape = if args.list { state::Shape::List } else { state::Shape::Stream };
            match state::write(&mut out, args.nads, args.nodes, shape) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Command::WaitReady(args) => {
            let target = Target::parse(&args.url)?;
            let tls = Tls::new(&args.ca, HttpVersion::Http1, false)?;
            let polls = runtime(Some(1))?.block_on(ready::wait_ready(&target, &tls, args.timeout))?;
            print(&format!("ready after {polls} polls\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Startup(args) => {
            let target = Target::parse(&args.ready.url)?;
            let tls = Tls::new(&args.ready.ca, HttpVersion::Http1, false)?;
            let startup = runtime(Some(1))?.block_on(ready::startup(
                &target,
                &tls,
                &args.command,
                args.ready.timeout,
                args.settle,
                args.server_log.as_ref(),
            ))?;
            print(&if args.json { json(&startup)? } else { startup.text() })?;
            save(args.json_out.as_ref(), &startup)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime(threads: Option<usize>) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    builder.enable_all().build().map_err(CliError::Runtime)
}

/// Runs the load, sampling the server's memory every 100 ms when its pid is given.
pub async fn run_and_report(config: &RunConfig, mix: Mix, pid: Option<u32>) -> Result<Report, CliError> {
    let names = mix.requests.iter().map(|r| (r.name.clone(), r.weight)).collect();
    let before = pid.map(Rss::of).transpose()?;
    let cpu_before = pid.map(|p| report::cpu_seconds(Some(p))).transpose()?;
    let own_before = report::cpu_seconds(None)?;
    let peak = Arc::new(AtomicU64::new(before.map_or(0, |b| b.rss_kib)));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = pid.map(|pid| {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Ok(now) = Rss::of(pid) {
                    peak.fetch_max(now.rss_kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    let outcome = run::run(config, mix).await;
    done.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.await;
    }
    let outcome = outcome?;
    let server = match (pid, before, cpu_before) {
        (Some(pid), Some(before), Some(cpu_before)) => {
            let after = Rss::of(pid)?;
            let peak_rss_kib = peak.load(Ordering::Relaxed).max(after.rss_kib);
            let cpu_s = report::cpu_seconds(Some(pid))? - cpu_before;
            Some(ServerUsage { pid, before, after, peak_rss_kib, cpu_s })
        }
        _ => None,
    };
    let own = report::cpu_seconds(None)? - own_before;
    Ok(Report::new(config, names, &outcome, server, own))
}

fn json(value: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value).map(|s| s + "\n").map_err(CliError::Json)
}

fn save(path: Option<&PathBuf>, value: &impl serde::Serialize) -> Result<(), CliError> {
    let Some(path) = path else { return Ok(()) };
    std::fs::write(path, json(value)?).map_err(|source| CliError::JsonOut { path: path.clone(), source })
}

fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["mignet-loadgen"].iter().chain(args))
    }

    fn run_args(args: &[&str]) -> RunArgs {
        let base = ["run", "--url", "https://127.0.0.1:8443/validate", "--ca", "ca.crt"];
        match parse(&[&base[..], args].concat()).unwrap().command {
            Command::Run(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_defaults_are_a_closed_loop_over_http1() {
        let r = run_args(&["--request", "a.json"]);
        let c = r.config().unwrap();
        assert_eq!((c.connections, c.streams, c.http, c.rate), (32, 1, HttpVersion::Http1, None));
        assert_eq!(
            (c.duration, c.warmup, c.timeout),
            (Duration::from_secs(10), Duration::from_secs(1), Duration::from_secs(10))
        );
        assert!(!c.new_connection && !r.json && r.server_pid.is_none());
        assert_eq!(c.target.addr, "127.0.0.1:8443".parse().unwrap());
    }

    #[test]
    fn parses_every_run_option() {
        let r = run_args(&[
            "--request",
            "allow.json:3",
            "--request",
            "deny.json",
            "--http",
            "2",
            "-c",
            "4",
            "--streams",
            "8",
            "-d",
            "1.5s",
            "--warmup",
            "0s",
            "--rate",
            "5000/s",
            "--timeout",
            "250ms",
            "--server-pid",
            "42",
            "--threads",
            "1",
            "--json",
            "--json-out",
            "r.json",
        ]);
        assert_eq!(
            r.requests,
            vec![
                RequestSpec { path: "allow.json".into(), weight: 3 },
                RequestSpec { path: "deny.json".into(), weight: 1 }
            ]
        );
        let c = r.config().unwrap();
        assert_eq!((c.http, c.connections, c.streams, c.rate), (HttpVersion::Http2, 4, 8, Some(5000)));
        assert_eq!(
            (c.duration, c.warmup, c.timeout),
            (Duration::from_millis(1500), Duration::ZERO, Duration::from_millis(250))
        );
        assert_eq!((r.server_pid, r.threads, r.json), (Some(42), Some(1), true));
        assert_eq!(r.json_out, Some(PathBuf::from("r.json")));
        assert!(run_args(&["--request", "a.json", "--new-connection"]).config().unwrap().new_connection);
    }

    #[test]
    fn refuses_bad_run_arguments() {
        assert!(
            parse(&["run", "--url", "https://127.0.0.1/", "--ca", "c"]).is_err(),
            "a request is required"
        );
        assert!(
            parse(&["run", "--url", "https://127.0.0.1/", "--ca", "c", "--request", "a", "--http", "3"])
                .is_err()
        );
        assert!(
            parse(&["run", "--url", "https://127.0.0.1/", "--ca", "c", "--request", "a", "--rate", "0"])
                .is_err()
        );
        assert!(
            parse(&["run", "--url", "https://127.0.0.1/", "--ca", "c", "--request", "a", "-d", "soon"])
                .is_err()
        );
        assert!(parse(&["run", "--url", "https://127.0.0.1/", "--ca", "c", "--request", "a:0"]).is_err());
        let usage = |extra: &[&str]| {
            let e = run_args(&[&["--request", "a.json"], extra].concat()).config().unwrap_err();
            assert!(matches!(e, CliError::Usage(_)), "{extra:?}: {e}");
            e.to_string()
        };
        assert!(usage(&["-c", "0"]).contains("--connections"));
        assert!(usage(&["--streams", "2"]).contains("--http 2"));
        assert!(usage(&["--http", "2", "--streams", "2", "--new-connection"]).contains("keep-alive"));
        assert!(usage(&["-d", "0s"]).contains("--duration"));
        assert!(usage(&["-d", "25h"]).contains("24h"));
        assert!(usage(&["--timeout", "0s"]).contains("--timeout"));
        assert!(usage(&["--threads", "0"]).contains("--threads"));
    }

    #[test]
    fn refuses_non_loopback_urls_before_any_traffic() {
        let r = match parse(&[
            "run",
            "--url",
            "https://192.168.1.10:8443/validate",
            "--ca",
            "c",
            "--request",
            "a",
        ])
        .unwrap()
        .command
        {
            Command::Run(r) => r,
            other => panic!("{other:?}"),
        };
        let err = r.config().unwrap_err();
        assert!(matches!(err, CliError::Target(TargetError::NotLoopback { .. })), "{err}");
    }

    #[test]
    fn parses_the_other_subcommands() {
        let Command::GenState(g) = parse(&["gen-state", "--nads", "100000"]).unwrap().command else {
            panic!()
        };
        assert_eq!((g.nads, g.nodes), (100_000, 50));
        let Command::Startup(s) = parse(&[
            "startup",
            "--url",
            "https://localhost:1/readyz",
            "--ca",
            "c",
            "--",
            "mignet",
            "serve",
            "--x",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(s.command, ["mignet", "serve", "--x"]);
        assert_eq!((s.settle, s.ready.timeout), (Duration::from_secs(1), Duration::from_secs(30)));
        assert!(
            parse(&["startup", "--url", "https://localhost:1/readyz", "--ca", "c"]).is_err(),
            "needs a command"
        );
    }
}

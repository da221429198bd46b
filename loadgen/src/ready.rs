//! Start-to-ready time: spawn the server, poll its readiness URL over TLS until it answers 200, and
//! read its memory once idle.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    client::{self, HttpVersion, Tls},
    report::{Rss, RssError},
    target::Target,
};

/// Pause between two readiness polls.
pub const POLL_EVERY: Duration = Duration::from_millis(1);

/// Why readiness could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    #[error("{url} was not ready within {waited:?} (last answer: {last})")]
    Timeout { url: String, waited: Duration, last: String },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the server log {path}: {source}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the server exited ({status}) before it was ready")]
    Exited { status: std::process::ExitStatus },
    #[error("waiting for the server: {0}")]
    Wait(#[source] std::io::Error),
    #[error(transparent)]
    Rss(#[from] RssError),
}

/// Polls `target` with GET until it answers 200; returns the number of polls.
pub async fn wait_ready(target: &Target, tls: &Tls, timeout: Duration) -> Result<u32, ReadyError> {
    let started = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        let last = match poll(target, tls).await {
            Ok(200) => return Ok(polls),
            Ok(status) => format!("HTTP {status}"),
            Err(e) => e,
        };
        if started.elapsed() >= timeout {
            return Err(ReadyError::Timeout { url: target.uri.to_string(), waited: timeout, last });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn poll(target: &Target, tls: &Tls) -> Result<u16, String> {
    let mut sender = client::connect(target, tls, HttpVersion::Http1).await.map_err(|e| e.to_string())?;
    let answer = sender.send(target, None).await.map_err(|e| e.to_string())?;
    Ok(answer.status.as_u16())
}

/// What starting the server took.
#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    pub command: Vec<String>,
    /// From spawn to the first 200 of the readiness URL.
    pub ready_ms: f64,
    pub polls: u32,
    /// Memory after `settle_ms` of idling once ready.
    pub idle: Rss,
    pub settle_ms: u64,
}

impl Startup {
    /// The human-readable form.
    pub fn text(&self) -> String {
        format!(
            "command:   {}\nready in:  {:.1} ms ({} polls)\nidle:      VmRSS {} after {} ms, VmHWM {}\n",
            self.command.join(" "),
            self.ready_ms,
            self.polls,
            crate::report::mib(self.idle.rss_kib),
            self.settle_ms,
            crate::report::mib(self.idle.hwm_kib),
        )
    }
}

/// Spawns `command`, measures the time until `target` answers 200, lets it idle for `settle`, reads
/// its memory and kills it.
pub async fn startup(
    target: &Target,
    tls: &Tls,
    command: &[String],
    timeout: Duration,
    settle: Duration,
    log: Option<&PathBuf>,
) -> Result<Startup, ReadyError> {
    let Some((program, args)) = command.split_first() else {
        return Err(ReadyError::Spawn {
            program: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command given"),
        });
    };
    let stderr = match log {
        Some(path) => Stdio::from(
            std::fs::File::create(path).map_err(|source| ReadyError::Log { path: path.clone(), source })?,
        ),
        None => Stdio::null(),
    };
    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ReadyError::Spawn { program: program.clone(), source })?;
    let pid = child.id().unwrap_or_default();
    let polls = tokio::select! {
        ready = wait_ready(target, tls, timeout) => ready?,
        status = child.wait() => return Err(ReadyError::Exited { status: status.map_err(ReadyError::Wait)? }),
    };
    let ready_ms = spawned.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(settle).await;
    let idle = Rss::of(pid)?;
    let _ = child.start_kill();
    child.wait().await.map_err(ReadyError::Wait)?;
    Ok(Startup {
        command: command.to_vec(),
        ready_ms,
        polls,
        idle,
        settle_ms: u64::try_from(settle.as_millis()).unwrap_or(u64::MAX),
    })
}

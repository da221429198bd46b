//! A load run: C connections for a fixed duration, closed loop (each connection sends as soon as its
//! previous answer is in) or open loop (requests released at a fixed rate, latency counted from when
//! each was due), with optional new TLS handshake per request.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::{
    sync::{Mutex, mpsc},
    task::JoinSet,
};

use crate::{
    client::{self, Answer, ClientError, HttpVersion, Sender, Tls},
    mix::Mix,
    pace::Schedule,
    target::Target,
};

/// Highest latency the histograms hold, in microseconds (longer ones are clamped to it).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Pause after a failed connection attempt, so a dead server is not hammered in a tight loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: Target,
    pub ca: PathBuf,
    pub http: HttpVersion,
    pub connections: usize,
    /// Requests in flight per connection (HTTP/2 streams); 1 for HTTP/1.1.
    pub streams: usize,
    pub duration: Duration,
    /// Sent but not counted, before the measured `duration`.
    pub warmup: Duration,
    /// Open loop at this many requests per second; closed loop when `None`.
    pub rate: Option<u64>,
    /// A new TCP connection and full TLS handshake for every request.
    pub new_connection: bool,
    pub timeout: Duration,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot connect to {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: ClientError,
    },
    #[error("a pacing thread or task failed: {0}")]
    Task(String),
}

/// How a request ended, when it did not end well.
#[derive(Debug)]
enum Failure {
    Client(ClientError),
    Timeout,
    Status(u16),
}

impl Failure {
    fn kind(&self) -> String {
        match self {
            Failure::Client(e) => e.kind().to_owned(),
            Failure::Timeout => "timeout".to_owned(),
            Failure::Status(code) => format!("status {code}"),
        }
    }
}

/// Verdicts found in 200 answers (a substring look, not a parse, to keep the generator cheap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verdicts {
    pub allowed: u64,
    pub denied: u64,
    /// Allowed answers that carry a patch (`/mutate`).
    pub patched: u64,
    /// 200 answers with neither `"allowed":true` nor `"allowed":false`.
    pub unrecognised: u64,
}

impl Verdicts {
    fn count(&mut self, body: &[u8]) {
        use memchr::memmem::find;
        if find(body, br#""allowed":true"#).is_some() {
            self.allowed += 1;
            if find(body, br#""patch":"#).is_some() {
                self.patched += 1;
            }
        } else if find(body, br#""allowed":false"#).is_some() {
            self.denied += 1;
        } else {
            self.unrecognised += 1;
        }
    }

    fn add(&mut self, other: &Verdicts) {
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.patched += other.patched;
        self.unrecognised += other.unrecognised;
    }
}

/// What a run measured; merged from every worker.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of every measured request that got an answer, in microseconds.
    pub latency: Histogram<u64>,
    /// 2xx answers in the measured window.
    pub ok: u64,
    /// Failures in the measured window by kind (`timeout`, `connect`, `status 503`, …).
    pub errors: BTreeMap<String, u64>,
    pub verdicts: Verdicts,
    /// Open loop: requests still waiting for a connection when the run's grace period ended.
    pub unsent: u64,
    /// When the last measured request finished.
    pub last_done: Option<Instant>,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Stats {
        Stats {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .unwrap_or_else(|e| unreachable!("constant histogram bounds: {e}")),
            ok: 0,
            errors: BTreeMap::new(),
            verdicts: Verdicts::default(),
            unsent: 0,
            last_done: None,
        }
    }

    /// Adds another worker's numbers.
    pub fn merge(&mut self, other: &Stats) {
        // both histograms have the same bounds and values are clamped, so adding cannot fail
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        self.verdicts.add(&other.verdicts);
        self.unsent += other.unsent;
        self.last_done = self.last_done.max(other.last_done);
    }

    /// Number of failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn record(&mut self, started: Instant, outcome: &Result<Answer, Failure>) {
        let done = Instant::now();
        self.last_done = Some(done);
        match outcome {
            Ok(answer) => {
                let micros =
                    u64::try_from(done.saturating_duration_since(started).as_micros()).unwrap_or(u64::MAX);
                self.latency.saturating_record(micros.clamp(1, MAX_LATENCY_US));
                self.ok += 1;
                if answer.status == hyper::StatusCode::OK {
                    self.verdicts.count(&answer.body);
                }
            }
            Err(failure) => self.error(failure.kind()),
        }
    }

    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

/// The measured result and the window it covers.
#[derive(Debug)]
pub struct Outcome {
    pub stats: Stats,
    /// From the end of the warm-up to the last answer (or the planned end, if later).
    pub window: Duration,
    /// Open loop: how many requests the schedule released.
    pub released: Option<u64>,
    /// Requests sent in all, warm-up included (what the CPU time of the run paid for).
    pub sent: u64,
}

/// One connection, shared by its streams; the generation tells a stale failure from a fresh connection.
struct Slot {
    conn: Mutex<Option<(u64, Sender)>>,
    generation: AtomicUsize,
}

impl Slot {
    fn new(initial: Option<Sender>) -> Slot {
        Slot { conn: Mutex::new(initial.map(|s| (0, s))), generation: AtomicUsize::new(1) }
    }

    /// A sender for one request: HTTP/2 shares the connection, HTTP/1.1 takes it until `checkin`.
    async fn checkout(&self, run: &Shared) -> Result<(u64, Sender), ClientError> {
        let mut conn = self.conn.lock().await;
        if let Some((generation, sender)) = conn.as_ref()
            && let Some(shared) = sender.share()
        {
            return Ok((*generation, shared));
        }
        if let Some(taken) = conn.take() {
            return Ok(taken);
        }
        let sender = client::connect(&run.target, &run.tls, run.http).await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) as u64;
        match sender.share() {
            Some(shared) => {
                *conn = Some((generation, shared));
                Ok((generation, sender))
            }
            None => Ok((generation, sender)),
        }
    }

    async fn checkin(&self, generation: u64, sender: Sender) {
        if matches!(sender, Sender::H1(_)) {
            *self.conn.lock().await = Some((generation, sender));
        }
    }

    async fn discard(&self, generation: u64) {
        let mut conn = self.conn.lock().await;
        if conn.as_ref().is_some_and(|(g, _)| *g == generation) {
            *conn = None;
        }
    }
}

/// Everything the workers share.
struct Shared {
    target: Target,
    tls: Tls,
    http: HttpVersion,
    mix: Mix,
    next: AtomicUsize,
    new_connection: bool,
    timeout: Duration,
    measure_from: Instant,
    end: Instant,
}

impl Shared {
    /// Sends the next request of the mix, on `slot`'s connection or on a new one.
    async fn exchange(&self, slot: &Slot) -> Result<Answer, Failure> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = self.mix.nth(n).body.clone();
        let attempt = async {
            if self.new_connection {
                let mut sender = client::connect(&self.target, &self.tls, self.http).await?;
                return sender.send(&self.target, Some(body)).await;
            }
            let (generation, mut sender) = slot.checkout(self).await?;
            let result = sender.send(&self.target, Some(body)).await;
            match result {
                Ok(_) => slot.checkin(generation, sender).await,
                Err(_) => slot.discard(generation).await,
            }
            result
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Err(e)) => Err(Failure::Client(e)),
            Ok(Ok(answer)) if answer.status.is_success() => Ok(answer),
            Ok(Ok(answer)) => Err(Failure::Status(answer.status.as_u16())),
        }
    }

    fn pause_after(&self, outcome: &Result<Answer, Failure>) -> bool {
        matches!(
            outcome,
            Err(Failure::Client(
                ClientError::Connect(_) | ClientError::Handshake(_) | ClientError::HttpHandshake(_)
            ))
        )
    }
}

/// Runs the load described by `config` with the requests of `mix`.
pub async fn run(config: &RunConfig, mix: Mix) -> Result<Outcome, RunError> {
    let tls = Tls::new(&config.ca, config.http, !config.new_connection)?;
    let url = config.target.uri.to_string();
    // Prove the server answers before starting the clock: a wrong port or CA is one clear error.
    let probe = client::connect(&config.target, &tls, config.http)
        .await
        .map_err(|source| RunError::Unreachable { url: url.clone(), source })?;
    let mut slots = Vec::with_capacity(config.connections);
    if !config.new_connection {
        let mut opening = JoinSet::new();
        for _ in 1..config.connections {
            let (target, tls, http) = (config.target.clone(), tls.clone(), config.http);
            opening.spawn(async move { client::connect(&target, &tls, http).await });
        }
        slots.push(Arc::new(Slot::new(Some(probe))));
        while let Some(joined) = opening.join_next().await {
            let sender = joined.map_err(|e| RunError::Task(e.to_string()))?.ok();
            slots.push(Arc::new(Slot::new(sender)));
        }
    } else {
        drop(probe);
        slots.extend((0..config.connections).map(|_| Arc::new(Slot::new(None))));
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        target: config.target.clone(),
        tls,
        http: config.http,
        mix,
        next: AtomicUsize::new(0),
        new_connection: config.new_connection,
        timeout: config.timeout,
        measure_from: start + config.warmup,
        end: start + config.warmup + config.duration,
    });
    let (stats, released) = match config.rate {
        None => (closed_loop(&shared, &slots, config.streams).await?, None),
        Some(rate) => {
            let (stats, released) = open_loop(&shared, &slots, config.streams, rate, start).await?;
            (stats, Some(released))
        }
    };
    let until = stats.last_done.unwrap_or(shared.end).max(shared.end);
    let sent = shared.next.load(Ordering::Relaxed) as u64;
    Ok(Outcome { window: until.saturating_duration_since(shared.measure_from), stats, released, sent })
}

async fn closed_loop(shared: &Arc<Shared>, slots: &[Arc<Slot>], streams: usize) -> Result<Stats, RunError> {
    let mut workers = JoinSet::new();
    for slot in slots {
        for _ in 0..streams {
            let (shared, slot) = (shared.clone(), slot.clone());
            workers.spawn(async move {
                let mut stats = Stats::new();
                loop {
                    let started = Instant::now();
                    if started >= shared.end {
                        break;
                    }
                    let outcome = shared.exchange(&slot).await;
                    if started >= shared.measure_from {
                        stats.record(started, &outcome);
                    }
                    if shared.pause_after(&outcome) {
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                    }
                }
                stats
            });
        }
    }
    collect(workers).await
}

async fn open_loop(
    shared: &Arc<Shared>,
    slots: &[Arc<Slot>],
    streams: usize,
    rate: u64,
    start: Instant,
) -> Result<(Stats, u64), RunError> {
    let schedule = Schedule { start, rate, end: shared.end };
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let pacer = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("pacer".into())
            .spawn(move || schedule.pace(tx, stop))
            .map_err(|e| RunError::Task(e.to_string()))?
    };
    let queue = Arc::new(Mutex::new(rx));
    // requests due before the end may still be sent during this grace period; later ones are unsent
    let give_up = shared.end + shared.timeout;
    let mut workers = JoinSet::new();
    for slot in slots {
        for _ in 0..streams {
            let (shared, slot, queue) = (shared.clone(), slot.clone(), queue.clone());
            workers.spawn(async move {
                let mut stats = Stats::new();
                loop {
                    let due = queue.lock().await.recv().await;
                    let Some(due) = due else { break };
                    if Instant::now() >= give_up {
                        stats.unsent += u64::from(due >= shared.measure_from);
                        continue;
                    }
                    let outcome = shared.exchange(&slot).await;
                    if due >= shared.measure_from {
                        stats.record(due, &outcome);
                    }
                }
                stats
            });
        }
    }
    let stats = collect(workers).await;
    stop.store(true, Ordering::Relaxed);
    let released = pacer.join().map_err(|_| RunError::Task("the pacer thread panicked".into()))?;
    Ok((stats?, released))
}

async fn collect(mut workers: JoinSet<Stats>) -> Result<Stats, RunError> {
    let mut total = Stats::new();
    while let Some(joined) = workers.join_next().await {
        total.merge(&joined.map_err(|e| RunError::Task(e.to_string()))?);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_verdicts_by_substring() {
        let mut v = Verdicts::default();
        v.count(br#"{"response":{"uid":"u","allowed":true}}"#);
        v.count(br#"{"response":{"uid":"u","allowed":true,"patchType":"JSONPatch","patch":"W10="}}"#);
        v.count(br#"{"response":{"uid":"u","allowed":false,"status":{"code":403}}}"#);
        v.count(b"ok");
        assert_eq!(v, Verdicts { allowed: 2, denied: 1, patched: 1, unrecognised: 1 });
    }

    #[test]
    fn merges_worker_stats() {
        let mut a = Stats::new();
        let mut b = Stats::new();
        let t = Instant::now();
        a.record(t, &Err(Failure::Timeout));
        b.record(t, &Err(Failure::Status(503)));
        b.record(t, &Err(Failure::Status(503)));
        b.latency.saturating_record(MAX_LATENCY_US * 10);
        b.ok += 1;
        a.merge(&b);
        assert_eq!(a.error_count(), 3);
        assert_eq!(a.errors["status 503"], 2);
        assert_eq!(a.errors["timeout"], 1);
        assert_eq!(a.ok, 1);
        assert_eq!(a.latency.len(), 1);
        assert!(a.last_done.is_some());
    }
}

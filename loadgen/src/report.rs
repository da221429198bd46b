//! What a run reports: throughput, latency percentiles, errors by kind and the server's memory, as
//! text for people and JSON for scripts.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use serde::Serialize;

use crate::{
    client::HttpVersion,
    run::{Outcome, RunConfig, Verdicts},
};

/// Why the server's memory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RssError {
    #[error("--server-pid {pid}: cannot read /proc/{pid}/status: {source}")]
    Read {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("--server-pid {pid}: /proc/{pid}/status has no {field} line")]
    Missing { pid: u32, field: &'static str },
}

/// A process's resident memory, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rss {
    /// Resident now (`VmRSS`).
    pub rss_kib: u64,
    /// Highest resident since the process started (`VmHWM`).
    pub hwm_kib: u64,
}

impl Rss {
    /// Reads `/proc/<pid>/status`.
    pub fn of(pid: u32) -> Result<Rss, RssError> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|source| RssError::Read { pid, source })?;
        Rss::parse(pid, &text)
    }

    /// Reads the `VmRSS` and `VmHWM` lines of a `/proc/<pid>/status` text.
    pub fn parse(pid: u32, status: &str) -> Result<Rss, RssError> {
        let field = |name: &'static str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
                .ok_or(RssError::Missing { pid, field: name })
        };
        Ok(Rss { rss_kib: field("VmRSS")?, hwm_kib: field("VmHWM")? })
    }
}

/// CPU time a process has used, user plus system, in seconds (`/proc/<pid>/stat`, 10 ms ticks).
pub fn cpu_seconds(pid: Option<u32>) -> Result<f64, RssError> {
    let (path, pid) = match pid {
        Some(p) => (format!("/proc/{p}/stat"), p),
        None => ("/proc/self/stat".to_owned(), std::process::id()),
    };
    let text = std::fs::read_to_string(path).map_err(|source| RssError::Read { pid, source })?;
    parse_cpu(&text).ok_or(RssError::Missing { pid, field: "utime/stime" })
}

/// User plus system time from a `/proc/<pid>/stat` line (USER_HZ is 100 on Linux).
pub fn parse_cpu(stat: &str) -> Option<f64> {
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The server's memory and CPU around a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    pub before: Rss,
    pub after: Rss,
    /// Highest `VmRSS` seen while sampling during the run.
    pub peak_rss_kib: u64,
    /// CPU seconds the server used during the run (warm-up included).
    pub cpu_s: f64,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p99_9_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

/// One run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub mode: &'static str,
    pub http: HttpVersion,
    pub connections: usize,
    pub streams_per_connection: usize,
    pub new_connection_per_request: bool,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Open loop: the offered rate.
    pub target_rate_per_s: Option<u64>,
    pub requests: Vec<(String, u32)>,
    /// Successful (2xx) answers in the measured window.
    pub ok: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Open loop: requests never sent because every connection stayed busy past the grace period.
    pub unsent: u64,
    pub requests_per_s: f64,
    /// Requests sent in all, warm-up included; CPU times are divided by this.
    pub sent_total: u64,
    pub latency: Latency,
    pub verdicts: Verdicts,
    pub server: Option<ServerUsage>,
    /// CPU seconds the generator itself used (warm-up included): on a shared machine, load costs too.
    pub loadgen_cpu_s: f64,
}

impl Report {
    /// Summarises a run.
    pub fn new(
        config: &RunConfig,
        requests: Vec<(String, u32)>,
        outcome: &Outcome,
        server: Option<ServerUsage>,
        loadgen_cpu_s: f64,
    ) -> Report {
        let s = &outcome.stats;
        let h = &s.latency;
        let q = |quantile: f64| if h.is_empty() { 0 } else { h.value_at_quantile(quantile) };
        let seconds = outcome.window.as_secs_f64();
        Report {
            url: config.target.uri.to_string(),
            mode: if config.rate.is_some() { "open loop" } else { "closed loop" },
            http: config.http,
            connections: config.connections,
            streams_per_connection: config.streams,
            new_connection_per_request: config.new_connection,
            duration_s: config.duration.as_secs_f64(),
            warmup_s: config.warmup.as_secs_f64(),
            target_rate_per_s: config.rate,
            requests,
            ok: s.ok,
            errors: s.error_count(),
            errors_by_kind: s.errors.clone(),
            unsent: s.unsent,
            requests_per_s: if seconds > 0.0 { s.ok as f64 / seconds } else { 0.0 },
            sent_total: outcome.sent,
            latency: Latency {
                p50_us: q(0.5),
                p90_us: q(0.9),
                p99_us: q(0.99),
                p99_9_us: q(0.999),
                max_us: if h.is_empty() { 0 } else { h.max() },
                mean_us: if h.is_empty() { 0.0 } else { h.mean() },
            },
            verdicts: s.verdicts,
            server,
            loadgen_cpu_s,
        }
    }

    /// The human-readable form.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let http = match self.http {
            HttpVersion::Http1 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
        };
        let conn =
            if self.new_connection_per_request { "new TLS connection per request" } else { "keep-alive" };
        let streams = if self.streams_per_connection > 1 {
            format!(" x {} streams", self.streams_per_connection)
        } else {
            String::new()
        };
        let mode = match self.target_rate_per_s {
            Some(rate) => format!("{} at {rate}/s", self.mode),
            None => self.mode.to_owned(),
        };
        let _ = writeln!(
            out,
            "{mode}, {http} {conn}, {} connections{streams}, {} (+{} warm-up)",
            self.connections,
            secs(self.duration_s),
            secs(self.warmup_s),
        );
        let mix: Vec<String> = self.requests.iter().map(|(n, w)| format!("{n} x{w}")).collect();
        let _ = writeln!(out, "target:    {} ({})", self.url, mix.join(", "));
        let _ = writeln!(
            out,
            "requests:  {} ok, {} errors, {:.1} requests/s",
            self.ok, self.errors, self.requests_per_s
        );
        let v = &self.verdicts;
        let _ = writeln!(
            out,
            "verdicts:  {} allowed ({} patched), {} denied, {} unrecognised",
            v.allowed, v.patched, v.denied, v.unrecognised
        );
        let l = &self.latency;
        let _ = writeln!(
            out,
            "latency:   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {:.3} ms)",
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.p99_9_us),
            ms(l.max_us),
            l.mean_us / 1000.0
        );
        let errors: Vec<String> = self.errors_by_kind.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        let _ =
            writeln!(out, "errors:    {}", if errors.is_empty() { "none".into() } else { errors.join(", ") });
        if self.unsent > 0 {
            let _ = writeln!(
                out,
                "unsent:    {} (every connection stayed busy past the grace period)",
                self.unsent
            );
        }
        let per_request = |cpu_s: f64| match self.sent_total {
            0 => String::new(),
            sent => format!(" ({:.1} us per request sent)", cpu_s * 1e6 / sent as f64),
        };
        if let Some(m) = &self.server {
            let _ = writeln!(
                out,
                "server:    pid {}: VmRSS {} before, {} peak during, {} after; VmHWM {}; CPU {:.2} s{}",
                m.pid,
                mib(m.before.rss_kib),
                mib(m.peak_rss_kib),
                mib(m.after.rss_kib),
                mib(m.after.hwm_kib),
                m.cpu_s,
                per_request(m.cpu_s)
            );
        }
        let _ =
            writeln!(out, "loadgen:   CPU {:.2} s{}", self.loadgen_cpu_s, per_request(self.loadgen_cpu_s));
        out
    }
}

fn secs(s: f64) -> String {
    humanish(Duration::from_secs_f64(s))
}

fn humanish(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.3}s", d.as_secs_f64()) }
}

fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str =
        "Name:\tmignet\nVmPeak:\t  900000 kB\nVmHWM:\t   21000 kB\nVmRSS:\t   18432 kB\nThreads:\t3\n";

    #[test]
    fn reads_rss_lines() {
        assert_eq!(Rss::parse(7, STATUS).unwrap(), Rss { rss_kib: 18432, hwm_kib: 21000 });
        let err = Rss::parse(7, "Name:\tx\nVmRSS:\t1 kB\n").unwrap_err();
        assert!(err.to_string().contains("no VmHWM line"), "{err}");
        assert!(matches!(Rss::of(u32::MAX), Err(RssError::Read { .. })));
        let me = Rss::of(std::process::id()).unwrap();
        assert!(me.rss_kib > 0 && me.hwm_kib >= me.rss_kib);
    }

    #[test]
    fn reads_cpu_time() {
        let stat = "4242 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu(stat), Some(3.25));
        assert_eq!(parse_cpu("4242 (x) S 1 2"), None);
        assert!(cpu_seconds(None).unwrap() >= 0.0);
        assert!(cpu_seconds(Some(std::process::id())).is_ok());
    }

    #[test]
    fn formats_sizes_and_latencies() {
        assert_eq!(mib(18432), "18.0 MiB");
        assert_eq!(ms(1534), "1.534 ms");
        assert_eq!(humanish(Duration::from_secs(10)), "10s");
        assert_eq!(humanish(Duration::from_millis(1500)), "1.500s");
    }
}

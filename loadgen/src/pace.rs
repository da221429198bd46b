//! Time in the load generator: durations and rates from the command line, and the open-loop schedule.
//!
//! Open loop means every request has an intended send time fixed in advance (`start + n / rate`) and its
//! latency is measured from that time, not from when a free connection finally sent it: a stalled
//! server then shows up as queueing delay instead of silently lowering the offered load (coordinated
//! omission).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc::UnboundedSender;

/// Highest open-loop rate accepted.
pub const MAX_RATE: u64 = 10_000_000;

/// Why a duration or rate argument is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PaceError {
    #[error("{0:?} is not a duration: use e.g. 10s, 500ms, 2m or 1.5s")]
    Duration(String),
    #[error("{0:?} is not a rate: use requests per second, e.g. 5000 or 5000/s, from 1 to {MAX_RATE}")]
    Rate(String),
}

/// Parses `10s`, `500ms`, `2m`, `1.5s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, PaceError> {
    let err = || PaceError::Duration(text.into());
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| err())?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1_000.0,
        "us" | "µs" => value / 1_000_000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3_600.0,
        _ => return Err(err()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| err())
}

/// Parses `5000` or `5000/s` requests per second.
pub fn parse_rate(text: &str) -> Result<u64, PaceError> {
    let t = text.trim();
    let number = t.strip_suffix("/s").unwrap_or(t);
    number
        .parse::<u64>()
        .ok()
        .filter(|r| (1..=MAX_RATE).contains(r))
        .ok_or_else(|| PaceError::Rate(text.into()))
}

/// Fixed-rate send times, computed from the start so rounding never accumulates.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub rate: u64,
    pub end: Instant,
}

impl Schedule {
    /// When the `n`-th request (from 0) is due.
    pub fn intended(&self, n: u64) -> Instant {
        let nanos = u128::from(n) * 1_000_000_000 / u128::from(self.rate.max(1));
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How many requests fall before `end`.
    pub fn count(&self) -> u64 {
        let span = self.end.saturating_duration_since(self.start).as_nanos();
        let n = (span * u128::from(self.rate)).div_ceil(1_000_000_000);
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Releases each intended send time into `slots` when it is due, from a thread of its own, since
    /// the async timer only has millisecond resolution. Stops early when `stop` is set or nobody listens.
    pub fn pace(self, slots: UnboundedSender<Instant>, stop: Arc<AtomicBool>) -> u64 {
        let mut sent = 0;
        for n in 0..self.count() {
            let due = self.intended(n);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if stop.load(Ordering::Relaxed) || slots.send(due).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "ten", "10x", "-1s", "1e999s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("5000"), Ok(5000));
        assert_eq!(parse_rate("5000/s"), Ok(5000));
        for bad in ["0", "-5", "5000/m", "fast", "", "20000000"] {
            assert_eq!(parse_rate(bad), Err(PaceError::Rate(bad.into())), "{bad}");
        }
    }

    #[test]
    fn schedule_is_evenly_spaced_without_drift() {
        let start = Instant::now();
        let s = Schedule { start, rate: 3, end: start + Duration::from_secs(2) };
        assert_eq!(s.intended(0), start);
        assert_eq!(s.intended(1) - start, Duration::from_nanos(333_333_333));
        assert_eq!(s.intended(3) - start, Duration::from_secs(1));
        assert_eq!(s.intended(3_000_000) - start, Duration::from_secs(1_000_000));
        assert_eq!(s.count(), 6);
        let s = Schedule { start, rate: 5000, end: start + Duration::from_millis(1001) };
        assert_eq!(s.count(), 5005);
        assert!(s.intended(s.count() - 1) < s.end && s.intended(s.count()) >= s.end);
        assert_eq!(Schedule { start, rate: 10, end: start }.count(), 0);
    }

    #[test]
    fn pacer_releases_every_slot_in_order_and_stops_when_asked() {
        let start = Instant::now();
        let s = Schedule { start, rate: 1000, end: start + Duration::from_millis(20) };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        assert_eq!(s.pace(tx, Arc::new(AtomicBool::new(false))), 20);
        let mut got = Vec::new();
        while let Ok(t) = rx.try_recv() {
            got.push(t);
        }
        assert_eq!(got, (0..20).map(|n| s.intended(n)).collect::<Vec<_>>());

        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        assert_eq!(s.pace(tx, Arc::new(AtomicBool::new(true))), 0);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        drop(rx);
        assert_eq!(s.pace(tx, Arc::new(AtomicBool::new(false))), 0);
    }
}

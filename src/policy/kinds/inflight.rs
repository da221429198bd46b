//! The in-flight guard: no change to the migration network while a live migration is unfinished.
//!
//! Changing the network, the NAD's master or range, or the host interface under it moves or removes
//! the target virt-handler's migration address, and the running migration breaks. A migration stuck
//! unfinished must not lock the network forever: one older than the policy's
//! `inFlightMaxAgeSeconds` is taken as stuck, ignored, and named in a warning.

use std::fmt::Write;

use crate::policy::{
    Ctx, Rule,
    decision::{Findings, msg},
    view::inflight::{Migration, MigrationKey},
};

/// How many running migrations a message names.
const NAMED: usize = 3;

/// Denies `change` at `field` while a migration is unfinished; warns of the stuck ones it ignores.
pub(in crate::policy) fn guard(ctx: &Ctx<'_>, field: &str, change: &str, f: &mut Findings) {
    let in_flight = ctx.view.in_flight();
    if in_flight.is_empty() {
        return;
    }
    let now = ctx.options.now;
    let max_age = ctx.policy.file().in_flight_max_age_seconds;
    let stuck = |m: &Migration| max_age > 0 && m.age(now).is_some_and(|a| a > max_age as i64);
    // the oldest first: the likeliest to be stuck, and what a reader must look at
    let (mut running, mut stale) = (Oldest::default(), Oldest::default());
    for (key, m) in in_flight.iter() {
        if stuck(m) { stale.add(key, m) } else { running.add(key, m) }
    }
    if running.count > 0 {
        f.deny(
            Rule::MigrationInFlight,
            field,
            msg::forbidden(format!(
                "{change} while {} breaks {}: {}; wait until {} finished, or cancel with `kubectl delete vmim -n \
                 NAMESPACE NAME`",
                running.phrase("live migration is unfinished", "live migrations are unfinished"),
                if running.count == 1 { "it" } else { "them" },
                running.list(now),
                if running.count == 1 { "it has" } else { "they have" },
            )),
        );
    }
    if stale.count > 0 {
        f.warn(
            Rule::MigrationInFlightStale,
            field,
            format!(
                "{} unfinished for over {max_age} s (inFlightMaxAgeSeconds) taken as stuck and ignored: {}",
                stale.phrase("migration", "migrations"),
                stale.list(now)
            ),
        );
    }
}

/// A count, and the few oldest seen (unknown creation times last).
#[derive(Default)]
struct Oldest<'a> {
    count: usize,
    few: Vec<(&'a MigrationKey, &'a Migration)>,
}

impl<'a> Oldest<'a> {
    fn add(&mut self, key: &'a MigrationKey, m: &'a Migration) {
        self.count += 1;
        let rank = |m: &Migration| m.created.unwrap_or(i64::MAX);
        let at = self.few.iter().position(|(_, o)| rank(m) < rank(o)).unwrap_or(self.few.len());
        if at < NAMED {
            self.few.insert(at, (key, m));
            self.few.truncate(NAMED);
        }
    }

    fn phrase(&self, one: &str, many: &str) -> String {
        if self.count == 1 { format!("1 {one}") } else { format!("{} {many}", self.count) }
    }

    fn list(&self, now: Option<i64>) -> String {
        let mut out = String::new();
        for (i, (key, m)) in self.few.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let vmi = if m.vmi.is_empty() { "no vmiName" } else { &m.vmi };
            let phase = if m.phase.is_empty() { "no phase yet" } else { &m.phase };
            let _ = write!(out, "{key} (VMI {vmi}, {phase}, {})", age(m.age(now)));
        }
        if self.count > self.few.len() {
            let _ = write!(out, " and {} more", self.count - self.few.len());
        }
        out
    }
}

/// An age as people read it: `45s`, `12m`, `3h20m`, `2d4h`.
pub(in crate::policy) fn age(seconds: Option<i64>) -> String {
    let Some(s) = seconds else { return "age unknown".to_owned() };
    let with = |s: String| format!("age {s}");
    with(match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(age(Some(45)), "age 45s");
        assert_eq!(age(Some(720)), "age 12m");
        assert_eq!(age(Some(12_000)), "age 3h20m");
        assert_eq!(age(Some(187_200)), "age 2d4h");
        assert_eq!(age(None), "age unknown");
    }

    #[test]
    fn the_oldest_few_are_kept_in_order() {
        let keys: Vec<MigrationKey> =
            (0..6).map(|i| MigrationKey { namespace: "ns".into(), name: format!("m{i}").into() }).collect();
        let ms: Vec<Migration> = [50, 10, 0, 40, 30, 20]
            .iter()
            .enumerate()
            .map(|(i, c)| Migration {
                vmi: "vm".into(),
                phase: "Running".into(),
                created: if i == 2 { None } else { Some(*c) },
            })
            .collect();
        let mut o = Oldest::default();
        for (k, m) in keys.iter().zip(&ms) {
            o.add(k, m);
        }
        let names: Vec<String> = o.few.iter().map(|(k, _)| k.name.to_string()).collect();
        assert_eq!(names, ["m1", "m5", "m4"]);
        assert_eq!(o.count, 6);
        assert!(o.list(Some(100)).ends_with(" and 3 more"), "{}", o.list(Some(100)));
    }
}

#[cfg(test)]
#[path = "inflight_tests.rs"]
mod scenarios;

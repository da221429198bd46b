//! Live migrations in flight: the unfinished VirtualMachineInstanceMigrations, per namespace and name.
//!
//! A cluster keeps many more finished migrations than running ones (KubeVirt garbage-collects them
//! late), so only unfinished ones are held: a finished one is a removal, and costs nothing.

use std::{collections::BTreeMap, fmt};

/// The phases after which a migration no longer uses the network; any other phase (`""`, `Pending`,
/// ..., `Running`, and phases newer KubeVirt adds) counts as in flight.
pub const FINISHED: [&str; 2] = ["Succeeded", "Failed"];

/// One unfinished migration as the view keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// `spec.vmiName`, empty when not given.
    pub vmi: Box<str>,
    /// `status.phase`, empty when the migration has no status yet.
    pub phase: Box<str>,
    /// `metadata.creationTimestamp` in Unix seconds, when known.
    pub created: Option<i64>,
}

impl Migration {
    /// Its age in seconds at `now`, when both are known.
    pub fn age(&self, now: Option<i64>) -> Option<i64> {
        Some(now? - self.created?).map(|a| a.max(0))
    }
}

/// A migration's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MigrationKey {
    pub namespace: Box<str>,
    pub name: Box<str>,
}

impl fmt::Display for MigrationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The unfinished migrations, ordered by namespace and name.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    unfinished: BTreeMap<MigrationKey, Migration>,
}

impl InFlight {
    /// Records a migration: an unfinished one is added or replaced, a finished one (`None`) removed.
    pub fn set(&mut self, key: MigrationKey, state: Option<Migration>) {
        match state {
            Some(m) => {
                self.unfinished.insert(key, m);
            }
            None => {
                self.unfinished.remove(&key);
            }
        }
    }

    /// Forgets a migration (deleted); unknown keys are ignored.
    pub fn remove(&mut self, key: &MigrationKey) -> bool {
        self.unfinished.remove(key).is_some()
    }

    /// How many migrations are unfinished.
    pub fn len(&self) -> usize {
        self.unfinished.len()
    }

    /// Whether no migration is unfinished.
    pub fn is_empty(&self) -> bool {
        self.unfinished.is_empty()
    }

    /// Every unfinished migration, by namespace and name.
    pub fn iter(&self) -> impl Iterator<Item = (&MigrationKey, &Migration)> {
        self.unfinished.iter()
    }

    /// The unfinished migrations of one VMI (KubeVirt runs at most one at a time, but a stuck
    /// one may linger beside a new one).
    pub fn of_vmi<'a>(
        &'a self,
        namespace: &'a str,
        vmi: &'a str,
    ) -> impl Iterator<Item = (&'a MigrationKey, &'a Migration)> {
        self.unfinished.iter().filter(move |(k, m)| &*k.namespace == namespace && &*m.vmi == vmi)
    }
}

/// Whether a phase means the migration is over.
pub fn finished(phase: &str) -> bool {
    FINISHED.contains(&phase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str) -> MigrationKey {
        MigrationKey { namespace: ns.into(), name: name.into() }
    }

    fn running(vmi: &str) -> Option<Migration> {
        Some(Migration { vmi: vmi.into(), phase: "Running".into(), created: Some(100) })
    }

    #[test]
    fn finished_migrations_are_removed_and_unknown_phases_stay() {
        let mut f = InFlight::default();
        f.set(key("a", "m1"), running("vm1"));
        f.set(key("a", "m2"), running("vm2"));
        assert_eq!(f.len(), 2);
        f.set(key("a", "m1"), None);
        assert_eq!(f.len(), 1);
        f.set(key("zz", "never-seen"), None);
        assert_eq!(f.len(), 1);
        assert!(finished("Succeeded") && finished("Failed"));
        assert!(!finished("") && !finished("Running") && !finished("WaitingForSync"));
        assert_eq!(f.of_vmi("a", "vm2").count(), 1);
        assert_eq!(f.of_vmi("b", "vm2").count(), 0);
        assert!(f.remove(&key("a", "m2")));
        assert!(!f.remove(&key("a", "m2")));
        assert!(f.is_empty());
    }

    #[test]
    fn ages_need_both_times() {
        let m = running("vm").unwrap();
        assert_eq!(m.age(Some(160)), Some(60));
        assert_eq!(m.age(Some(50)), Some(0), "a skewed clock gives no negative age");
        assert_eq!(m.age(None), None);
        assert_eq!(Migration { created: None, ..m }.age(Some(1)), None);
    }
}

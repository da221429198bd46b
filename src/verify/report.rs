//! The outcome of `mignet verify`: one verdict per check, with the evidence a support engineer reads.

use std::io::{self, Write};

use serde::Serialize;

use crate::text::printable;

/// A check's verdict; `Skip` means there was nothing to judge (a prerequisite failed or no migration
/// happened yet), which is not a failure by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    /// The word that starts a check's line in text output.
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// The checks, in the order they build on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CheckId {
    /// The HyperConverged names an existing NAD that passes every migration NAD rule.
    #[serde(rename = "hc-network")]
    HcNetwork,
    /// The KubeVirt CR carries the same network (HCO propagated it).
    #[serde(rename = "kubevirt-network")]
    KubevirtNetwork,
    /// The migration master is present and up on every virt-handler node (NodeNetworkStates).
    #[serde(rename = "host-master")]
    HostMaster,
    /// Every virt-handler pod has migration0 on that network, with an address in its range, and is Ready.
    #[serde(rename = "virt-handler-attached")]
    VirtHandlerAttached,
    /// Addresses in use on the migration network versus what its range can hand out.
    #[serde(rename = "address-headroom")]
    AddressHeadroom,
    /// Migrated VMIs' target addresses lie on the migration network.
    #[serde(rename = "vmi-migrations")]
    VmiMigrations,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 6] = [
        CheckId::HcNetwork,
        CheckId::KubevirtNetwork,
        CheckId::HostMaster,
        CheckId::VirtHandlerAttached,
        CheckId::AddressHeadroom,
        CheckId::VmiMigrations,
    ];

    /// The stable id shown in every output format.
    pub fn id(self) -> &'static str {
        match self {
            CheckId::HcNetwork => "hc-network",
            CheckId::KubevirtNetwork => "kubevirt-network",
            CheckId::HostMaster => "host-master",
            CheckId::VirtHandlerAttached => "virt-handler-attached",
            CheckId::AddressHeadroom => "address-headroom",
            CheckId::VmiMigrations => "vmi-migrations",
        }
    }
}

/// Whether a detail line proves something, shows a problem, or only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Ok,
    Fail,
    Note,
}

impl Mark {
    fn word(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Fail => "fail",
            Mark::Note => "note",
        }
    }
}

/// One piece of evidence under a check: a pod, a VMI, a rule the NAD breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub status: Mark,
    pub text: String,
}

impl Detail {
    /// Evidence that something is as it should be.
    pub fn ok(text: impl Into<String>) -> Self {
        Detail { status: Mark::Ok, text: text.into() }
    }

    /// Evidence of a problem.
    pub fn fail(text: impl Into<String>) -> Self {
        Detail { status: Mark::Fail, text: text.into() }
    }

    /// Context that is neither proof nor problem.
    pub fn note(text: impl Into<String>) -> Self {
        Detail { status: Mark::Note, text: text.into() }
    }
}

/// One check's verdict with its one-line evidence and the details behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: CheckId,
    pub status: Status,
    pub evidence: String,
    pub details: Vec<Detail>,
}

impl Check {
    /// A check with its verdict and evidence, details to be added.
    pub fn new(id: CheckId, status: Status, evidence: impl Into<String>) -> Self {
        Check { id, status, evidence: evidence.into(), details: Vec::new() }
    }

    /// The same check with details attached.
    pub fn with(mut self, details: Vec<Detail>) -> Self {
        self.details = details;
        self
    }
}

/// Counts of verdicts, for the summary line and the JSON `summary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Everything `mignet verify` concluded, in the order of [`CheckId::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Where the HyperConverged, KubeVirt CR and virt-handler pods were looked for.
    pub namespace: String,
    /// The migration network verified (`namespace/name`), when one is configured.
    pub network: Option<String>,
    /// The migration network's address ranges, when its NAD was found.
    pub ranges: Vec<String>,
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether any check failed (exit status 1).
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// How many checks passed, failed and were skipped.
    pub fn summary(&self) -> Summary {
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
        Summary { passed: count(Status::Pass), failed: count(Status::Fail), skipped: count(Status::Skip) }
    }

    /// `PASS|FAIL|SKIP <check>: <evidence>` per check, its details indented below, then a summary.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        for c in &self.checks {
            writeln!(out, "{} {}: {}", c.status.word(), c.id.id(), printable(&c.evidence))?;
            for d in &c.details {
                writeln!(out, "  {}: {}", d.status.word(), printable(&d.text))?;
            }
        }
        let s = self.summary();
        let subject = printable(&self.subject()).into_owned();
        writeln!(out, "verified {subject}: {} passed, {} failed, {} skipped", s.passed, s.failed, s.skipped)
    }

    /// One JSON document: the report's fields plus `summary`; field order is part of the format.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        #[derive(Serialize)]
        struct Doc<'a> {
            #[serde(flatten)]
            report: &'a Report,
            summary: Summary,
        }
        serde_json::to_writer_pretty(&mut *out, &Doc { report: self, summary: self.summary() })?;
        writeln!(out)
    }

    fn subject(&self) -> String {
        match &self.network {
            Some(n) => format!("live-migration network {n}"),
            None => format!("live migration in {}", self.namespace),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            namespace: "openshift-cnv".into(),
            network: Some("openshift-cnv/migration-bridge".into()),
            ranges: vec!["192.168.99.0/24".into()],
            checks: vec![
                Check::new(CheckId::HcNetwork, Status::Pass, "fine"),
                Check::new(CheckId::VirtHandlerAttached, Status::Fail, "1 of 2 pods not attached").with(
                    vec![Detail::ok("Pod a: migration0 192.168.99.10"), Detail::fail("Pod b: no migration0")],
                ),
                Check::new(CheckId::VmiMigrations, Status::Skip, "nothing migrated"),
            ],
        }
    }

    #[test]
    fn text_has_one_line_per_check_and_indented_details() {
        let mut out = Vec::new();
        report().write_text(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PASS hc-network: fine\n\
             FAIL virt-handler-attached: 1 of 2 pods not attached\n  \
             ok: Pod a: migration0 192.168.99.10\n  \
             fail: Pod b: no migration0\n\
             SKIP vmi-migrations: nothing migrated\n\
             verified live-migration network openshift-cnv/migration-bridge: 1 passed, 1 failed, 1 skipped\n"
        );
    }

    #[test]
    fn json_keeps_ids_statuses_and_summary() {
        let mut out = Vec::new();
        report().write_json(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["network"], "openshift-cnv/migration-bridge");
        assert_eq!(v["checks"][1]["id"], "virt-handler-attached");
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(v["checks"][1]["details"][1]["status"], "fail");
        assert_eq!(v["summary"], serde_json::json!({"passed": 1, "failed": 1, "skipped": 1}));
        let text = String::from_utf8(out).unwrap();
        let at: Vec<usize> = ["\"namespace\"", "\"network\"", "\"ranges\"", "\"checks\"", "\"summary\""]
            .iter()
            .map(|k| text.find(k).unwrap())
            .collect();
        assert!(at.is_sorted(), "{text}");
    }

    #[test]
    fn skips_do_not_fail() {
        let mut r = report();
        assert!(r.failed());
        r.checks.retain(|c| c.status != Status::Fail);
        assert!(!r.failed());
    }

    #[test]
    fn names_cannot_forge_lines() {
        let mut r = report();
        r.checks[0].evidence = "HyperConverged x\nPASS vmi-migrations: forged\u{1b}[2K\u{202e}".into();
        let mut out = Vec::new();
        r.write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 6, "{text}");
        assert!(text.starts_with(
            "PASS hc-network: HyperConverged x\\nPASS vmi-migrations: forged\\u{1b}[2K\\u{202e}\n"
        ));
    }
}

//! How complete and how fresh the live view is, per watched resource: what `/readyz` decides on, what
//! `/readyz?verbose` and the staleness metric show, and what `mignet view` waits for.

use std::{collections::BTreeMap, fmt::Write as _, sync::Mutex, time::Instant};

use serde::Serialize;

use super::{Resource, apply::Applied, discovery::Watch};

/// Shared between the watchers (writers) and the probes and reports (readers).
#[derive(Debug, Default)]
pub struct Status {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    discovered: bool,
    /// Set the first time the view was complete; readiness never drops after that.
    was_ready: bool,
    discovery_error: Option<String>,
    resources: BTreeMap<Resource, State>,
}

#[derive(Debug, Clone)]
struct State {
    watch: Watch,
    started: Instant,
    synced: bool,
    last_ok: Option<Instant>,
    objects: usize,
    error: Option<String>,
}

/// One resource as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceReport {
    pub resource: &'static str,
    /// Whether the cluster serves it (absent ones leave the policy's values in force).
    pub present: bool,
    /// What is watched, e.g. `hco.kubevirt.io/v1beta1 hyperconvergeds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watching: Option<&'static str>,
    /// Why that version and shape is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// Whether its initial list completed.
    pub synced: bool,
    /// Seconds since the last event or completed (re)list (since the watch started, before the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staleness_seconds: Option<f64>,
    pub objects: usize,
    /// The last watch error, until the watch delivers again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ResourceReport {
    /// A resource the cluster does not serve.
    pub fn absent(resource: &'static str) -> Self {
        ResourceReport {
            resource,
            present: false,
            watching: None,
            reason: None,
            synced: false,
            staleness_seconds: None,
            objects: 0,
            error: None,
        }
    }
}

impl Status {
    /// A status with nothing discovered yet (not ready).
    pub fn new() -> Self {
        Status::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a discovery round; the first success makes readiness depend on the watchers alone.
    pub fn discovery(&self, result: Result<(), String>) {
        let mut inner = self.lock();
        match result {
            Ok(()) => {
                inner.discovered = true;
                inner.discovery_error = None;
            }
            Err(e) => inner.discovery_error = Some(e),
        }
    }

    /// A watcher started, switched version (keeping what it has), or stopped (`None`: not served).
    pub fn set_watch(&self, resource: Resource, watch: Option<Watch>, now: Instant) {
        let mut inner = self.lock();
        match watch {
            None => {
                inner.resources.remove(&resource);
            }
            Some(watch) => {
                let state = inner.resources.entry(resource).or_insert(State {
                    watch,
                    started: now,
                    synced: false,
                    last_ok: None,
                    objects: 0,
                    error: None,
                });
                state.watch = watch;
            }
        }
    }

    /// Records what an applied event did and how many entries the watcher now holds.
    pub fn record(&self, resource: Resource, applied: Applied, objects: usize, now: Instant) {
        let mut inner = self.lock();
        let Some(state) = inner.resources.get_mut(&resource) else { return };
        state.objects = objects;
        state.error = None;
        match applied {
            Applied::Changed => state.last_ok = Some(now),
            Applied::ListDone { .. } => {
                state.synced = true;
                state.last_ok = Some(now);
            }
            Applied::ListStarted | Applied::Listed => {}
        }
    }

    /// Records a watch error; the watcher retries with backoff and the view keeps its last state.
    pub fn record_error(&self, resource: Resource, error: String) {
        if let Some(state) = self.lock().resources.get_mut(&resource) {
            state.error = Some(error);
        }
    }

    /// Ready once discovery has run and every served resource finished its initial list; it stays ready
    /// after that. An outage keeps the last state judged, and a CRD installed later is judged as soon as
    /// it is listed (until then its absence is what the view has always known): turning every replica
    /// unready at once would fail admissions cluster-wide under `failurePolicy: Fail`.
    pub fn ready(&self) -> bool {
        let mut inner = self.lock();
        if !inner.was_ready {
            inner.was_ready = inner.discovered && inner.resources.values().all(|s| s.synced);
        }
        inner.was_ready
    }

    /// Every resource, served or not, at `now`.
    pub fn report(&self, now: Instant) -> Vec<ResourceReport> {
        let inner = self.lock();
        Resource::ALL
            .iter()
            .map(|r| match inner.resources.get(r) {
                None => ResourceReport::absent(r.name()),
                Some(s) => ResourceReport {
                    resource: r.name(),
                    present: true,
                    watching: Some(s.watch.describe()),
                    reason: Some(s.watch.reason()),
                    synced: s.synced,
                    staleness_seconds: Some(
                        now.saturating_duration_since(s.last_ok.unwrap_or(s.started)).as_secs_f64(),
                    ),
                    objects: s.objects,
                    error: s.error.clone(),
                },
            })
            .collect()
    }

    /// Why the view is not ready, for an error message: the resources still loading and their errors.
    pub fn pending(&self) -> String {
        let inner = self.lock();
        if !inner.discovered {
            return match &inner.discovery_error {
                Some(e) => format!("API discovery has not succeeded ({e})"),
                None => "API discovery has not completed".to_owned(),
            };
        }
        let waiting: Vec<String> = inner
            .resources
            .iter()
            .filter(|(_, s)| !s.synced)
            .map(|(r, s)| match &s.error {
                Some(e) => format!("{r} ({e})"),
                None => format!("{r} (still listing)"),
            })
            .collect();
        waiting.join("; ")
    }

    /// The `/readyz?verbose` body: one line per resource, `[+]` when it does not hold readiness back.
    pub fn render_verbose(&self, now: Instant) -> String {
        let ready = self.ready();
        let mut out = String::new();
        {
            let inner = self.lock();
            let mark = if inner.discovered { '+' } else { '-' };
            let _ = write!(out, "[{mark}]discovery done={}", inner.discovered);
            if let Some(e) = &inner.discovery_error {
                let _ = write!(out, " last_error={e:?}");
            }
            out.push('\n');
        }
        for r in self.report(now) {
            let mark = if !r.present || r.synced { '+' } else { '-' };
            let _ = write!(out, "[{mark}]{} present={}", r.resource, r.present);
            if r.present {
                let _ = write!(out, " synced={} objects={}", r.synced, r.objects);
                if let Some(s) = r.staleness_seconds {
                    let _ = write!(out, " staleness_seconds={s:.1}");
                }
                if let Some(w) = r.watching {
                    let _ = write!(out, " watching={w:?}");
                }
                if let Some(why) = r.reason {
                    let _ = write!(out, " why={why:?}");
                }
                if let Some(e) = &r.error {
                    let _ = write!(out, " last_error={e:?}");
                }
            }
            out.push('\n');
        }
        out.push_str(if ready { "readyz check passed\n" } else { "readyz check failed\n" });
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{cluster::discovery::HcVersions, policy::HcVersion};

    #[test]
    fn not_ready_before_discovery() {
        let s = Status::new();
        assert!(!s.ready());
        assert!(s.pending().contains("discovery"));
        s.discovery(Err("connection refused".into()));
        assert!(!s.ready());
        assert!(s.pending().contains("connection refused"));
        s.discovery(Ok(()));
        assert!(s.ready(), "a cluster serving nothing watched is ready");
    }

    #[test]
    fn ready_once_every_present_resource_listed() {
        let s = Status::new();
        let t0 = Instant::now();
        s.discovery(Ok(()));
        s.set_watch(Resource::Nads, Some(Watch::Nads), t0);
        s.set_watch(Resource::Nodes, Some(Watch::Nodes), t0);
        assert!(!s.ready());
        s.record(Resource::Nads, Applied::ListDone { removed: 0 }, 4, t0);
        assert!(!s.ready());
        assert_eq!(s.pending(), "nodes (still listing)");
        s.record_error(Resource::Nodes, "403 forbidden".into());
        assert_eq!(s.pending(), "nodes (403 forbidden)");
        s.record(Resource::Nodes, Applied::ListDone { removed: 0 }, 2, t0);
        assert!(s.ready());
        // errors and relists later keep it ready: the last state is judged
        s.record_error(Resource::Nodes, "connection refused".into());
        s.record(Resource::Nodes, Applied::ListStarted, 2, t0);
        assert!(s.ready());
        // a CRD installed later does not take readiness back while it lists
        s.set_watch(
            Resource::HyperConvergeds,
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1))),
            t0,
        );
        assert!(s.ready());
        assert_eq!(s.pending(), "hyperconvergeds (still listing)");
    }

    #[test]
    fn a_resource_not_served_does_not_count() {
        let s = Status::new();
        let t0 = Instant::now();
        s.set_watch(
            Resource::HyperConvergeds,
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1))),
            t0,
        );
        s.set_watch(Resource::HyperConvergeds, None, t0);
        s.discovery(Ok(()));
        assert!(s.ready());
    }

    #[test]
    fn staleness_counts_from_the_last_event_or_list() {
        let s = Status::new();
        let t0 = Instant::now();
        s.set_watch(Resource::Nads, Some(Watch::Nads), t0);
        let staleness = |at: Instant| s.report(at)[0].staleness_seconds;
        assert_eq!(staleness(t0 + Duration::from_secs(3)), Some(3.0), "before the first list: since start");
        s.record(Resource::Nads, Applied::ListDone { removed: 0 }, 1, t0 + Duration::from_secs(5));
        assert_eq!(staleness(t0 + Duration::from_secs(7)), Some(2.0));
        s.record(Resource::Nads, Applied::Listed, 1, t0 + Duration::from_secs(8));
        assert_eq!(staleness(t0 + Duration::from_secs(9)), Some(4.0), "a page of a relist is not a sync");
        s.record(Resource::Nads, Applied::Changed, 2, t0 + Duration::from_secs(9));
        assert_eq!(staleness(t0 + Duration::from_secs(10)), Some(1.0));
        assert_eq!(s.report(t0)[0].objects, 2);
    }

    #[test]
    fn errors_show_until_the_watch_delivers_again() {
        let s = Status::new();
        let t0 = Instant::now();
        s.set_watch(Resource::Nads, Some(Watch::Nads), t0);
        s.record_error(Resource::Nads, "watch stream failed".into());
        assert_eq!(s.report(t0)[0].error.as_deref(), Some("watch stream failed"));
        s.record(Resource::Nads, Applied::Changed, 0, t0);
        assert_eq!(s.report(t0)[0].error, None);
    }

    #[test]
    fn switching_version_keeps_the_sync() {
        let s = Status::new();
        let t0 = Instant::now();
        s.discovery(Ok(()));
        s.set_watch(
            Resource::HyperConvergeds,
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1Beta1))),
            t0,
        );
        s.record(Resource::HyperConvergeds, Applied::ListDone { removed: 0 }, 1, t0);
        s.set_watch(
            Resource::HyperConvergeds,
            Some(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1))),
            t0,
        );
        assert!(s.ready());
        assert_eq!(s.report(t0)[1].watching, Some("hco.kubevirt.io/v1 hyperconvergeds"));
    }

    #[test]
    fn verbose_lists_every_resource() {
        let s = Status::new();
        let t0 = Instant::now();
        s.discovery(Ok(()));
        s.set_watch(Resource::Nads, Some(Watch::Nads), t0);
        s.record(Resource::Nads, Applied::ListDone { removed: 0 }, 3, t0);
        s.set_watch(Resource::Nodes, Some(Watch::Nodes), t0);
        s.record_error(Resource::Nodes, "forbidden \"x\"".into());
        let text = s.render_verbose(t0 + Duration::from_millis(1500));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11, "{text}");
        assert_eq!(lines[0], "[+]discovery done=true");
        assert_eq!(
            lines[1],
            "[+]network-attachment-definitions present=true synced=true objects=3 staleness_seconds=1.5 \
             watching=\"k8s.cni.cncf.io/v1 network-attachment-definitions\" \
             why=\"the only version; spec.config is a string there, read as the CNI config\""
        );
        assert_eq!(lines[2], "[+]hyperconvergeds present=false");
        assert!(lines[3].starts_with("[-]nodes present=true synced=false objects=0"), "{}", lines[3]);
        assert!(lines[3].ends_with(r#"last_error="forbidden \"x\"""#), "{}", lines[3]);
        assert_eq!(lines[7], "[+]nodenetworkstates present=false");
        assert_eq!(lines[8], "[+]userdefinednetworks present=false");
        assert_eq!(lines[9], "[+]clusteruserdefinednetworks present=false");
        assert_eq!(lines[10], "readyz check failed");
    }
}

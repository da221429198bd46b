//! Applying watch events to the view: pure, so add, modify, delete and relist are tested without a cluster.
//!
//! Each watcher keeps a [`Tracker`] of the view entries it put there. A relist (the watcher's `Init`,
//! `InitApply`…, `InitDone`) updates entries as they arrive, so the view is never emptied while a relist
//! runs, and at `InitDone` removes the entries the relist did not see again (objects deleted while the
//! watch was down). NADs, the only kind that comes by the hundred thousand, are not listed in the
//! tracker: the view marks each with the relist that last saw it.

use std::collections::BTreeSet;

use kube::runtime::watcher::Event;

use crate::{
    policy::HcVersion,
    policy::host::{HostError, HostNetwork},
    policy::view::{
        Discovered, HcRead, KvEntry, NadEntry, NadName, NetEntry, NetName, NodeInfo, ReservedKind, View,
        inflight::{Migration, MigrationKey},
    },
};

/// A cluster-wide object that only sets discovered cluster networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Singleton {
    /// `networks.config.openshift.io/cluster`.
    ClusterNetwork,
    /// `networks.operator.openshift.io/cluster`.
    OperatorNetwork,
    /// ConfigMap `kube-system/cluster-config-v1`.
    InstallConfig,
}

impl Singleton {
    /// The cluster networks this object describes; a later version that omits one gives it back to the
    /// policy.
    pub fn kinds(self) -> &'static [ReservedKind] {
        match self {
            Singleton::ClusterNetwork => {
                &[ReservedKind::Pod, ReservedKind::Service, ReservedKind::ExternalIp]
            }
            Singleton::OperatorNetwork => {
                &[ReservedKind::OvnJoin, ReservedKind::OvnTransit, ReservedKind::OvnMasquerade]
            }
            Singleton::InstallConfig => &[ReservedKind::Machine],
        }
    }
}

/// What one watched object contributes to the view.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Nad(NadEntry),
    /// A HyperConverged as read through one version; the view merges the reads of each object.
    Hc(HcRead),
    /// A node: whether it runs virt-handler and its labels (NNCPs select nodes by them).
    Node {
        name: String,
        info: NodeInfo,
    },
    /// A node's NodeNetworkState, or why it cannot be read (the node then counts as unknown).
    HostNetwork {
        node: String,
        state: Result<HostNetwork, HostError>,
    },
    /// Discovered cluster networks; kinds of `source` absent here fall back to the policy.
    Networks {
        source: Singleton,
        found: Vec<(ReservedKind, Discovered)>,
    },
    /// A KubeVirt CR's migration network.
    KubeVirt(KvEntry),
    /// A VirtualMachineInstanceMigration; `None` once finished, which removes it: finished
    /// migrations are held neither in the view nor in the tracker.
    Migration {
        key: MigrationKey,
        state: Option<Migration>,
    },
    /// A UserDefinedNetwork or ClusterUserDefinedNetwork.
    Net(NetEntry),
}

/// The identity of a view entry, enough to remove it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Nad(NadName),
    Hc { namespace: String, name: String, through: HcVersion },
    Node(String),
    HostNetwork(String),
    Singleton(Singleton),
    KubeVirt { namespace: String, name: String },
    Migration(MigrationKey),
    Net(NetName),
}

impl Item {
    /// The entry this item replaces or removes.
    pub fn key(&self) -> Key {
        match self {
            Item::Nad(e) => Key::Nad(e.key.clone()),
            Item::Hc(r) => Key::Hc {
                namespace: r.entry.namespace.clone(),
                name: r.entry.name.clone(),
                through: r.through,
            },
            Item::Node { name, .. } => Key::Node(name.clone()),
            Item::HostNetwork { node, .. } => Key::HostNetwork(node.clone()),
            Item::Networks { source, .. } => Key::Singleton(*source),
            Item::KubeVirt(e) => Key::KubeVirt { namespace: e.namespace.clone(), name: e.name.clone() },
            Item::Migration { key, .. } => Key::Migration(key.clone()),
            Item::Net(e) => Key::Net(e.key.clone()),
        }
    }
}

/// The entries one watcher put into the view, and those seen again by the relist in progress.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Entries other than NADs.
    known: BTreeSet<Key>,
    relist: Option<BTreeSet<Key>>,
    /// NADs held; the view marks them with `generation`.
    nads: usize,
    /// The current relist; NADs marked otherwise at its end were not seen again.
    generation: u32,
}

/// What an event did, for readiness and staleness bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// An object was added, changed or deleted while watching.
    Changed,
    /// A (re)list started; the view keeps its entries until it completes.
    ListStarted,
    /// An object arrived during a (re)list.
    Listed,
    /// A (re)list completed; `removed` entries were not seen again and are gone.
    ListDone { removed: usize },
}

impl Tracker {
    /// How many view entries this watcher holds.
    pub fn len(&self) -> usize {
        self.known.len() + self.nads
    }

    /// Whether this watcher holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry this watcher put in the view (its resource went away from the cluster).
    pub fn clear(&mut self, view: &mut View) -> usize {
        let mut removed = self.known.len();
        for key in std::mem::take(&mut self.known) {
            remove(view, &key);
        }
        if self.nads > 0 {
            // no NAD carries a mark past the current relist
            removed += view.sweep_nads(self.generation.wrapping_add(1));
            self.nads = 0;
        }
        self.relist = None;
        removed
    }

    /// Adds or replaces an entry, counting it as this watcher's.
    fn upsert(&mut self, view: &mut View, item: Item) {
        match item {
            Item::Nad(entry) => {
                if view.upsert_nad_marked(entry, self.generation) {
                    self.nads += 1;
                }
            }
            Item::Migration { key, state: None } => self.remove(view, &Key::Migration(key)),
            other => {
                let key = other.key();
                if let Some(seen) = self.relist.as_mut() {
                    seen.insert(key.clone());
                }
                self.known.insert(key);
                upsert(view, other);
            }
        }
    }

    /// Removes an entry, if it is there.
    fn remove(&mut self, view: &mut View, key: &Key) {
        match key {
            Key::Nad(name) => {
                if view.remove_nad(name.namespace(), name.name()).is_some() {
                    self.nads = self.nads.saturating_sub(1);
                }
            }
            _ => {
                remove(view, key);
                self.known.remove(key);
                if let Some(seen) = self.relist.as_mut() {
                    seen.remove(key);
                }
            }
        }
    }
}

/// Applies one watch event to the view.
pub fn apply(view: &mut View, tracker: &mut Tracker, event: Event<Item>) -> Applied {
    match event {
        Event::Apply(item) => {
            tracker.upsert(view, item);
            Applied::Changed
        }
        Event::Delete(item) => {
            tracker.remove(view, &item.key());
            Applied::Changed
        }
        Event::Init => {
            tracker.relist = Some(BTreeSet::new());
            tracker.generation = tracker.generation.wrapping_add(1);
            Applied::ListStarted
        }
        Event::InitApply(item) => {
            tracker.relist.get_or_insert_default();
            tracker.upsert(view, item);
            Applied::Listed
        }
        Event::InitDone => {
            let seen = tracker.relist.take().unwrap_or_default();
            let gone: Vec<Key> = tracker.known.difference(&seen).cloned().collect();
            for key in &gone {
                remove(view, key);
            }
            tracker.known = seen;
            // only the watcher that put NADs in the view sweeps them
            let nads = if tracker.nads > 0 { view.sweep_nads(tracker.generation) } else { 0 };
            tracker.nads = tracker.nads.saturating_sub(nads);
            Applied::ListDone { removed: gone.len() + nads }
        }
    }
}

fn upsert(view: &mut View, item: Item) {
    match item {
        Item::Nad(entry) => view.upsert_nad(entry),
        Item::Hc(read) => view.upsert_hc_read(read),
        Item::Node { name, info } => view.upsert_node_info(name, info),
        Item::HostNetwork { node, state } => view.upsert_host_network(&node, state),
        Item::Net(entry) => view.upsert_net(entry),
        Item::Networks { source, found } => {
            for kind in source.kinds() {
                view.clear_discovered(*kind);
            }
            for (kind, discovered) in found {
                if source.kinds().contains(&kind) {
                    view.set_discovered(kind, discovered);
                }
            }
        }
        Item::KubeVirt(entry) => view.upsert_kubevirt(entry),
        Item::Migration { key, state } => view.set_migration(key, state),
    }
}

fn remove(view: &mut View, key: &Key) {
    match key {
        Key::Nad(name) => {
            view.remove_nad(name.namespace(), name.name());
        }
        Key::Hc { namespace, name, through } => view.remove_hc_read(namespace, name, *through),
        Key::Node(name) => view.remove_node(name),
        Key::HostNetwork(node) => {
            view.remove_host_network(node);
        }
        Key::Singleton(source) => {
            for kind in source.kinds() {
                view.clear_discovered(*kind);
            }
        }
        Key::KubeVirt { namespace, name } => {
            view.remove_kubevirt(namespace, name);
        }
        Key::Migration(key) => {
            view.remove_migration(key);
        }
        Key::Net(key) => {
            view.remove_net(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testutil;

    fn nad(ns: &str, name: &str, range: &str) -> Item {
        Item::Nad(testutil::nad_entry(ns, name, &[range], None))
    }

    fn hc(network: Option<&str>) -> Item {
        hc_through(HcVersion::V1Beta1, network)
    }

    fn hc_through(through: HcVersion, network: Option<&str>) -> Item {
        Item::Hc(testutil::hc_read(through, network))
    }

    fn node(name: &str, runs: bool) -> Item {
        Item::Node { name: name.into(), info: NodeInfo { virt_handler: runs, ..NodeInfo::default() } }
    }

    fn owners(view: &View, net: &str) -> Vec<String> {
        let mut v: Vec<String> =
            view.overlapping(&net.parse().unwrap()).iter().map(|(_, e)| e.key.to_string()).collect();
        v.sort();
        v
    }

    fn pod_network(cidr: &str) -> Item {
        Item::Networks {
            source: Singleton::ClusterNetwork,
            found: vec![(
                ReservedKind::Pod,
                Discovered { nets: vec![cidr.parse().unwrap()], source: "Network cluster".into() },
            )],
        }
    }

    /// Runs a whole initial list.
    fn list(view: &mut View, t: &mut Tracker, items: Vec<Item>) -> Applied {
        apply(view, t, Event::Init);
        for item in items {
            assert_eq!(apply(view, t, Event::InitApply(item)), Applied::Listed);
        }
        apply(view, t, Event::InitDone)
    }

    #[test]
    fn add_modify_delete_a_nad() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        assert_eq!(apply(&mut view, &mut t, Event::Apply(nad("a", "n", "10.1.0.0/24"))), Applied::Changed);
        assert_eq!(owners(&view, "10.1.0.0/16"), vec!["a/n"]);
        apply(&mut view, &mut t, Event::Apply(nad("a", "n", "10.2.0.0/24")));
        assert!(owners(&view, "10.1.0.0/16").is_empty(), "the old range is released on modify");
        assert_eq!(owners(&view, "10.2.0.0/16"), vec!["a/n"]);
        assert_eq!(t.len(), 1);
        apply(&mut view, &mut t, Event::Delete(nad("a", "n", "10.2.0.0/24")));
        assert!(owners(&view, "10.2.0.0/16").is_empty());
        assert_eq!(view.nad_count(), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn initial_list_fills_the_view() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        let done = list(&mut view, &mut t, vec![nad("a", "x", "10.1.0.0/24"), nad("b", "y", "10.2.0.0/24")]);
        assert_eq!(done, Applied::ListDone { removed: 0 });
        assert_eq!(view.nad_count(), 2);
        assert_eq!(t.len(), 2);
    }

    fn migration(name: &str, phase: Option<&str>) -> Item {
        let key = MigrationKey { namespace: "vms".into(), name: name.into() };
        let state = phase.map(|p| Migration { vmi: "vm".into(), phase: p.into(), created: None });
        Item::Migration { key, state }
    }

    #[test]
    fn finished_migrations_are_held_nowhere() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        // a relist of 10,000 finished migrations and 2 running ones keeps the 2
        apply(&mut view, &mut t, Event::Init);
        for i in 0..10_000 {
            apply(&mut view, &mut t, Event::InitApply(migration(&format!("done-{i}"), None)));
        }
        apply(&mut view, &mut t, Event::InitApply(migration("a", Some("Running"))));
        apply(&mut view, &mut t, Event::InitApply(migration("b", Some(""))));
        assert_eq!(apply(&mut view, &mut t, Event::InitDone), Applied::ListDone { removed: 0 });
        assert_eq!((view.in_flight().len(), t.len()), (2, 2));
        // one finishes (a MODIFIED event): gone from the view and the tracker
        apply(&mut view, &mut t, Event::Apply(migration("a", None)));
        assert_eq!((view.in_flight().len(), t.len()), (1, 1));
        // a relist that no longer sees the other removes it
        assert_eq!(list(&mut view, &mut t, vec![migration("c", None)]), Applied::ListDone { removed: 1 });
        assert!(view.in_flight().is_empty() && t.is_empty());
        // KubeVirt CRs come and go like the others
        let kv = Item::KubeVirt(KvEntry {
            namespace: "kubevirt".into(),
            name: "kubevirt".into(),
            network: Some("lm".into()),
            hco_managed: false,
        });
        apply(&mut view, &mut t, Event::Apply(kv.clone()));
        assert_eq!(view.network_users("kubevirt", "lm").count(), 1);
        apply(&mut view, &mut t, Event::Delete(kv));
        assert_eq!(view.kubevirts().count(), 0);
    }

    #[test]
    fn relist_removes_what_was_not_seen_again_and_keeps_entries_meanwhile() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        list(&mut view, &mut t, vec![nad("a", "x", "10.1.0.0/24"), nad("b", "y", "10.2.0.0/24")]);

        // the watch broke; b/y was deleted and a/z created while it was down
        assert_eq!(apply(&mut view, &mut t, Event::Init), Applied::ListStarted);
        assert_eq!(view.nad_count(), 2, "a relist in progress does not empty the view");
        apply(&mut view, &mut t, Event::InitApply(nad("a", "x", "10.1.0.0/24")));
        apply(&mut view, &mut t, Event::InitApply(nad("a", "z", "10.3.0.0/24")));
        assert_eq!(owners(&view, "10.2.0.0/16"), vec!["b/y"], "still judged with the last state");
        assert_eq!(apply(&mut view, &mut t, Event::InitDone), Applied::ListDone { removed: 1 });
        assert!(owners(&view, "10.2.0.0/16").is_empty());
        assert_eq!(owners(&view, "10.0.0.0/8"), vec!["a/x", "a/z"]);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_relist_that_restarts_counts_only_the_last_one() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        list(&mut view, &mut t, vec![nad("a", "x", "10.1.0.0/24"), nad("b", "y", "10.2.0.0/24")]);
        apply(&mut view, &mut t, Event::Init);
        apply(&mut view, &mut t, Event::InitApply(nad("a", "x", "10.1.0.0/24")));
        // the list failed midway and started over
        let done = list(&mut view, &mut t, vec![nad("b", "y", "10.2.0.0/24")]);
        assert_eq!(done, Applied::ListDone { removed: 1 });
        assert_eq!(owners(&view, "10.0.0.0/8"), vec!["b/y"]);
    }

    #[test]
    fn delete_during_a_relist_is_not_resurrected() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        apply(&mut view, &mut t, Event::Init);
        apply(&mut view, &mut t, Event::InitApply(nad("a", "x", "10.1.0.0/24")));
        apply(&mut view, &mut t, Event::Delete(nad("a", "x", "10.1.0.0/24")));
        apply(&mut view, &mut t, Event::InitDone);
        assert_eq!(view.nad_count(), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn hyperconverged_modify_and_relist() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        list(&mut view, &mut t, vec![hc(Some("mig"))]);
        assert_eq!(view.hcs_using("openshift-cnv", "mig").count(), 1);
        apply(&mut view, &mut t, Event::Apply(hc(None)));
        assert_eq!(view.hcs_using("openshift-cnv", "mig").count(), 0);
        assert_eq!(view.hcs().count(), 1);
        let done = list(&mut view, &mut t, vec![]);
        assert_eq!(done, Applied::ListDone { removed: 1 });
        assert_eq!(view.hcs().count(), 0);
    }

    #[test]
    fn each_versions_watcher_relists_only_its_own_reads() {
        let (mut view, mut beta, mut v1) = (View::new(), Tracker::default(), Tracker::default());
        list(&mut view, &mut beta, vec![hc_through(HcVersion::V1Beta1, Some("mig"))]);
        list(&mut view, &mut v1, vec![hc_through(HcVersion::V1, None)]);
        assert_eq!(view.hcs_using("openshift-cnv", "mig").count(), 1, "the pruned v1 read hides nothing");
        // the v1 watcher relists and still sees its (pruned) read: nothing of v1beta1's goes
        assert_eq!(
            list(&mut view, &mut v1, vec![hc_through(HcVersion::V1, None)]),
            Applied::ListDone { removed: 0 }
        );
        assert_eq!(view.hcs_using("openshift-cnv", "mig").count(), 1);
        // v1 is no longer served: its watcher clears its reads, the object stays
        assert_eq!(v1.clear(&mut view), 1);
        assert_eq!(view.hcs_using("openshift-cnv", "mig").count(), 1);
        assert_eq!(beta.clear(&mut view), 1);
        assert_eq!(view.hcs().count(), 0);
    }

    #[test]
    fn nodes_count_and_go() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        list(&mut view, &mut t, vec![node("w1", true), node("w2", true), node("w3", false)]);
        assert_eq!(view.virt_handler_nodes(), Some(2));
        apply(&mut view, &mut t, Event::Apply(node("w3", true)));
        assert_eq!(view.virt_handler_nodes(), Some(3));
        apply(&mut view, &mut t, Event::Delete(node("w1", true)));
        assert_eq!(view.virt_handler_nodes(), Some(2));
        list(&mut view, &mut t, vec![]);
        assert_eq!(view.virt_handler_nodes(), None);
    }

    #[test]
    fn singleton_replaces_and_clears_its_networks_only() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        view.set_discovered(
            ReservedKind::Machine,
            Discovered { nets: vec!["10.0.0.0/16".parse().unwrap()], source: "ConfigMap".into() },
        );
        apply(&mut view, &mut t, Event::Apply(pod_network("10.132.0.0/14")));
        let pods = |v: &View| v.discovered(ReservedKind::Pod).map(|d| d.nets[0].to_string());
        assert_eq!(pods(&view).as_deref(), Some("10.132.0.0/14"));
        // a later version without the pod network gives it back to the policy
        apply(
            &mut view,
            &mut t,
            Event::Apply(Item::Networks { source: Singleton::ClusterNetwork, found: vec![] }),
        );
        assert_eq!(pods(&view), None);
        apply(&mut view, &mut t, Event::Apply(pod_network("10.132.0.0/14")));
        apply(&mut view, &mut t, Event::Delete(pod_network("10.132.0.0/14")));
        assert_eq!(pods(&view), None);
        assert!(view.discovered(ReservedKind::Machine).is_some(), "other sources are untouched");
    }

    #[test]
    fn singleton_kinds_are_confined_to_their_source() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        let stray = Item::Networks {
            source: Singleton::InstallConfig,
            found: vec![(
                ReservedKind::Pod,
                Discovered { nets: vec!["10.9.0.0/16".parse().unwrap()], source: "x".into() },
            )],
        };
        apply(&mut view, &mut t, Event::Apply(stray));
        assert!(view.discovered(ReservedKind::Pod).is_none());
    }

    #[test]
    fn clear_removes_everything_a_watcher_added() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        list(&mut view, &mut t, vec![hc(Some("mig"))]);
        let mut other = Tracker::default();
        list(&mut view, &mut other, vec![nad("a", "x", "10.1.0.0/24")]);
        assert_eq!(t.clear(&mut view), 1);
        assert_eq!(view.hcs().count(), 0);
        assert_eq!(view.nad_count(), 1, "another watcher's entries stay");
        assert!(t.is_empty());
        assert_eq!(other.clear(&mut view), 1);
        assert_eq!(view.nad_count(), 0);
        assert!(view.overlapping(&"10.0.0.0/8".parse().unwrap()).is_empty(), "the index forgets them too");
    }

    #[test]
    fn another_watchers_relist_leaves_the_nads_alone() {
        let (mut view, mut nads, mut nodes) = (View::new(), Tracker::default(), Tracker::default());
        list(&mut view, &mut nads, vec![nad("a", "x", "10.1.0.0/24")]);
        list(&mut view, &mut nodes, vec![node("w1", true)]);
        assert_eq!(list(&mut view, &mut nodes, vec![node("w1", true)]), Applied::ListDone { removed: 0 });
        assert_eq!(view.nad_count(), 1);
        // the NAD watcher's own relist of nothing removes its NAD
        assert_eq!(list(&mut view, &mut nads, vec![]), Applied::ListDone { removed: 1 });
        assert_eq!((view.nad_count(), nads.len()), (0, 0));
    }

    #[test]
    fn nads_are_counted_through_adds_modifies_deletes_and_relists() {
        let (mut view, mut t) = (View::new(), Tracker::default());
        list(&mut view, &mut t, (0..5).map(|i| nad("a", &format!("n{i}"), "10.1.0.0/24")).collect());
        assert_eq!(t.len(), 5);
        apply(&mut view, &mut t, Event::Apply(nad("a", "n0", "10.2.0.0/24")));
        apply(&mut view, &mut t, Event::Apply(nad("a", "n9", "10.2.0.0/24")));
        apply(&mut view, &mut t, Event::Delete(nad("a", "n1", "10.1.0.0/24")));
        apply(&mut view, &mut t, Event::Delete(nad("a", "gone", "10.1.0.0/24")));
        assert_eq!((t.len(), view.nad_count()), (5, 5));
        // a relist that sees n0 and n9 only, with an add while it runs
        apply(&mut view, &mut t, Event::Init);
        apply(&mut view, &mut t, Event::InitApply(nad("a", "n0", "10.2.0.0/24")));
        apply(&mut view, &mut t, Event::Apply(nad("a", "late", "10.3.0.0/24")));
        apply(&mut view, &mut t, Event::InitApply(nad("a", "n9", "10.2.0.0/24")));
        assert_eq!(apply(&mut view, &mut t, Event::InitDone), Applied::ListDone { removed: 3 });
        assert_eq!((t.len(), view.nad_count()), (3, 3));
        let mut names: Vec<String> = view.nads().map(|e| e.key.to_string()).collect();
        names.sort();
        assert_eq!(names, ["a/late", "a/n0", "a/n9"]);
        assert_eq!(view.overlapping(&"10.1.0.0/24".parse().unwrap()).len(), 0, "swept NADs leave the index");
    }
}

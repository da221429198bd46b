//! The running live view: discovery on a timer, one `kube::runtime::watcher` per served resource, each
//! event applied to the [`Judge`]'s view under a short write lock.
//!
//! A watcher relists (with the view kept meanwhile) when the policy changes in a way that changes how
//! its objects are read, and every resync interval, so staleness stays bounded on a quiet cluster.

use std::{
    future::{self, Future},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::{
    Api, Client,
    core::{ApiResource, PartialObjectMeta},
    runtime::{
        WatchStreamExt,
        watcher::{self, Event},
    },
};
use tokio::{sync::watch as channel, task::JoinHandle, time::MissedTickBehavior};

use super::{
    ClusterError, Resource,
    apply::{self, Applied, Item, Tracker},
    convert,
    discovery::{self, Watch},
    status::Status,
};
use crate::{
    policy::view::ReservedKind,
    policy::{HcVersion, Policy, udn::NetKind},
    server::{metrics::Metrics, reload::Judge},
};

/// How often discovery runs and how often watchers relist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Between discovery rounds (a CRD installed later is picked up within this).
    pub discovery_interval: Duration,
    /// Between full relists of every watcher; `None` relists only when the watch cannot resume.
    pub resync_interval: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            discovery_interval: Duration::from_secs(60),
            resync_interval: Some(Duration::from_secs(600)),
        }
    }
}

/// A client from `--kubeconfig FILE`, or else the usual places: KUBECONFIG or ~/.kube/config, then the
/// pod's service account.
pub async fn connect(kubeconfig: Option<&Path>) -> Result<Client, ClusterError> {
    // kube's default timeouts suit watches: a read timeout longer than the server's watch timeout
    Ok(super::connect::connect(kubeconfig, |_| {}).await?.client)
}

/// The running watchers; stopping (or dropping) it stops them all.
pub struct LiveView {
    status: Arc<Status>,
    policy: channel::Sender<Arc<Policy>>,
    supervisor: JoinHandle<()>,
}

/// Tells the watchers the policy changed, so those whose reading depends on it relist.
#[derive(Clone)]
pub struct PolicyNotifier(channel::Sender<Arc<Policy>>);

impl PolicyNotifier {
    /// Hands the new policy to the watchers.
    pub fn notify(&self, policy: &Policy) {
        self.0.send_replace(Arc::new(policy.clone()));
    }
}

/// What every watcher task shares.
struct Shared {
    client: Client,
    /// Where a policy with a newly discovered migration namespace goes, so the NAD watcher relists.
    policy_tx: channel::Sender<Arc<Policy>>,
    judge: Arc<Judge>,
    status: Arc<Status>,
    settings: Settings,
}

impl LiveView {
    /// Starts discovery and the watchers; the judge's view fills as they list. Must run in a tokio runtime.
    pub fn start(client: Client, judge: Arc<Judge>, settings: Settings) -> LiveView {
        let status = Arc::new(Status::new());
        let (policy, policy_rx) = channel::channel(judge.policy.load_full());
        let shared =
            Arc::new(Shared { client, judge, status: status.clone(), settings, policy_tx: policy.clone() });
        let supervisor = tokio::spawn(supervise(shared, policy_rx));
        LiveView { status, policy, supervisor }
    }

    /// Readiness and staleness, for probes and reports.
    pub fn status(&self) -> Arc<Status> {
        self.status.clone()
    }

    /// A handle for the policy reloader.
    pub fn policy_notifier(&self) -> PolicyNotifier {
        PolicyNotifier(self.policy.clone())
    }

    /// Waits until every served resource finished its initial list.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if self.status.ready() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClusterError::NotReady {
                    seconds: timeout.as_secs(),
                    pending: self.status.pending(),
                });
            }
        }
    }

    /// Stops discovery and every watcher.
    pub fn stop(self) {}
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

/// A watcher task and the channel that retargets or stops it; aborted when dropped.
struct Running {
    watch: channel::Sender<Option<Watch>>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn supervise(shared: Arc<Shared>, policy: channel::Receiver<Arc<Policy>>) {
    let mut running: Vec<(Resource, Running)> = Vec::new();
    let mut ticker = tokio::time::interval(shared.settings.discovery_interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticker.tick().await;
        let served = match discovery::discover(&shared.client).await {
            Ok(served) => served,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "API discovery failed; retrying, judging with the last state");
                }
                failing = true;
                shared.status.discovery(Err(e.to_string()));
                continue;
            }
        };
        if failing {
            tracing::info!("API discovery works again");
        }
        failing = false;
        for resource in Resource::ALL {
            reconcile(&shared, &mut running, resource, served.get(resource), &policy).await;
        }
        shared.status.discovery(Ok(()));
    }
}

/// Starts, retargets or stops the watcher of one resource to match discovery.
async fn reconcile(
    shared: &Arc<Shared>,
    running: &mut Vec<(Resource, Running)>,
    resource: Resource,
    want: Option<Watch>,
    policy: &channel::Receiver<Arc<Policy>>,
) {
    let at = running.iter().position(|(r, _)| *r == resource);
    match (at, want) {
        (None, None) => {}
        (None, Some(watch)) => {
            tracing::info!(resource = resource.name(), watching = watch.describe(), "watching");
            shared.status.set_watch(resource, Some(watch), Instant::now());
            let (tx, rx) = channel::channel(Some(watch));
            let task = tokio::spawn(run_watch(shared.clone(), resource, rx, policy.clone()));
            running.push((resource, Running { watch: tx, task }));
        }
        (Some(i), Some(watch)) => {
            if *running[i].1.watch.borrow() != Some(watch) {
                tracing::info!(resource = resource.name(), watching = watch.describe(), "switching version");
                shared.status.set_watch(resource, Some(watch), Instant::now());
                running[i].1.watch.send_replace(Some(watch));
            }
        }
        (Some(i), None) => {
            let (_, mut gone) = running.remove(i);
            tracing::info!(
                resource = resource.name(),
                "no longer served by the cluster; the policy's values apply again"
            );
            gone.watch.send_replace(None);
            // the task removes its entries and ends; wait, so a watcher started later cannot race it
            let _ = (&mut gone.task).await;
            shared.status.set_watch(resource, None, Instant::now());
        }
    }
}

/// Why a watcher's stream is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    Retarget,
    Policy,
    Resync,
    Ended,
    Stop,
}

/// One stream of a watcher: HyperConvergeds have one per served version, the others one.
type Part = Option<HcVersion>;

async fn run_watch(
    shared: Arc<Shared>,
    resource: Resource,
    mut target: channel::Receiver<Option<Watch>>,
    mut policy_rx: channel::Receiver<Arc<Policy>>,
) {
    // each part keeps its own tracker, so one version's relist never drops another's reads
    let mut trackers: Vec<(Part, Tracker)> = Vec::new();
    let mut policy = policy_rx.borrow_and_update().clone();
    let mut policy_open = true;
    let mut failing = false;
    loop {
        let Some(watch) = *target.borrow_and_update() else { break };
        let parts = parts(watch);
        let gone: Vec<Tracker> = {
            let (keep, gone): (Vec<_>, Vec<_>) = trackers.drain(..).partition(|(p, _)| parts.contains(p));
            trackers = keep;
            gone.into_iter().map(|(_, t)| t).collect()
        };
        if !gone.is_empty() {
            let mut view = shared.judge.view.write().unwrap_or_else(|p| p.into_inner());
            for mut t in gone {
                t.clear(&mut view);
            }
        }
        for part in &parts {
            if !trackers.iter().any(|(p, _)| p == part) {
                trackers.push((*part, Tracker::default()));
            }
        }
        // the resource counts as listed once every part has listed since these streams opened
        let mut listed: Vec<Part> = Vec::new();
        let mut stream = futures::stream::select_all(
            parts
                .iter()
                .map(|part| open(&shared.client, watch, *part, policy.clone()).map(move |e| (*part, e))),
        );
        let resync = sleep_or_never(shared.settings.resync_interval);
        tokio::pin!(resync);
        let restart = loop {
            tokio::select! {
                next = stream.next() => match next {
                    Some((part, Ok(event))) => {
                        let (applied, objects) = {
                            let mut view = shared.judge.view.write().unwrap_or_else(|p| p.into_inner());
                            let tracker = &mut trackers.iter_mut().find(|(p, _)| *p == part).expect("a tracker per part").1;
                            let applied = apply::apply(&mut view, tracker, event);
                            let objects = match resource {
                                // one object, read through several versions
                                Resource::HyperConvergeds => view.hcs().count(),
                                _ => trackers.iter().map(|(_, t)| t.len()).sum(),
                            };
                            (applied, objects)
                        };
                        let applied = match applied {
                            Applied::ListDone { removed } => {
                                if !listed.contains(&part) {
                                    listed.push(part);
                                }
                                if listed.len() == parts.len() { Applied::ListDone { removed } } else { Applied::Listed }
                            }
                            other => other,
                        };
                        if resource == Resource::KubeVirts {
                            rediscover_namespace(&shared);
                        }
                        shared.status.record(resource, applied, objects, Instant::now());
                        if failing && applied != Applied::ListStarted {
                            tracing::info!(resource = resource.name(), "watch delivers again");
                            failing = false;
                        }
                        if let Applied::ListDone { removed } = applied {
                            tracing::debug!(resource = resource.name(), objects, removed, "listed");
                        }
                    }
                    Some((_, Err(e))) => {
                        if !failing {
                            tracing::warn!(
                                resource = resource.name(), error = %e,
                                "watch failed; retrying with backoff, judging with the last state"
                            );
                        }
                        failing = true;
                        shared.status.record_error(resource, e.to_string());
                    }
                    None => break Restart::Ended,
                },
                changed = target.changed() => break if changed.is_ok() { Restart::Retarget } else { Restart::Stop },
                changed = policy_rx.changed(), if policy_open => {
                    if changed.is_err() {
                        policy_open = false;
                        continue;
                    }
                    let new = policy_rx.borrow_and_update().clone();
                    let relist = reads_policy(watch, &policy, &new);
                    policy = new;
                    if relist {
                        break Restart::Policy;
                    }
                }
                () = &mut resync => break Restart::Resync,
            }
        };
        match restart {
            Restart::Stop => return,
            Restart::Policy => tracing::info!(resource = resource.name(), "policy changed: relisting"),
            Restart::Ended => tracing::warn!(resource = resource.name(), "watch stream ended: restarting"),
            Restart::Retarget | Restart::Resync => {
                tracing::debug!(resource = resource.name(), ?restart, "relisting")
            }
        }
    }
    let removed: usize = {
        let mut view = shared.judge.view.write().unwrap_or_else(|p| p.into_inner());
        trackers.iter_mut().map(|(_, t)| t.clear(&mut view)).sum()
    };
    tracing::debug!(resource = resource.name(), removed, "stopped watching");
}

/// Where the policy leaves the migration namespace open, follows the KubeVirt CR: a new namespace
/// goes to the judge, and to the watchers (the NADs relist to keep configs there).
fn rediscover_namespace(shared: &Shared) {
    let current = shared.judge.policy.load_full();
    let next = {
        let view = shared.judge.view.read().unwrap_or_else(|p| p.into_inner());
        current.with_discovered_namespace(&view)
    };
    if next.migration_namespace() != current.migration_namespace() {
        tracing::info!(
            namespace = next.migration_namespace(),
            source = %next.migration_namespace_source(),
            "migration namespace"
        );
        let next = Arc::new(next);
        shared.judge.policy.store(next.clone());
        shared.policy_tx.send_replace(next);
    }
}

/// The streams a watch is made of.
fn parts(watch: Watch) -> Vec<Part> {
    match watch {
        Watch::HyperConvergeds(versions) => versions.iter().map(Some).collect(),
        _ => vec![None],
    }
}

async fn sleep_or_never(after: Option<Duration>) {
    match after {
        Some(d) => tokio::time::sleep(d).await,
        None => future::pending().await,
    }
}

/// Whether a policy change changes how a watcher reads its objects (so it must relist).
fn reads_policy(watch: Watch, old: &Policy, new: &Policy) -> bool {
    match watch {
        Watch::Nads => {
            old.label_key() != new.label_key()
                || old.migration_namespace() != new.migration_namespace()
                || old.file().name_globs != new.file().name_globs
        }
        Watch::Nodes => old.file().virt_handler_node_selector != new.file().virt_handler_node_selector,
        Watch::OperatorNetwork => {
            [ReservedKind::OvnJoin, ReservedKind::OvnTransit, ReservedKind::OvnMasquerade]
                .iter()
                .any(|k| old.reserved_for(*k) != new.reserved_for(*k))
        }
        Watch::HyperConvergeds(_)
        | Watch::UserDefinedNetworks
        | Watch::ClusterUserDefinedNetworks
        | Watch::ClusterNetwork
        | Watch::InstallConfig
        | Watch::NodeNetworkStates(_)
        | Watch::KubeVirts
        | Watch::Migrations => false,
    }
}

type Events = BoxStream<'static, Result<Event<Item>, watcher::Error>>;

fn api_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The watch stream of one resource (of one version, for HyperConvergeds), with kube's default
/// backoff, already turned into view items.
fn open(client: &Client, watch: Watch, part: Part, policy: Arc<Policy>) -> Events {
    let all = watcher::Config::default();
    let named = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    match watch {
        Watch::Nads => {
            let ar = api_resource(
                "k8s.cni.cncf.io",
                "v1",
                "NetworkAttachmentDefinition",
                "network-attachment-definitions",
            );
            items(watcher::watcher(Api::all_with(client.clone(), &ar), all), move |o| {
                convert::nad(&policy, o)
            })
        }
        Watch::HyperConvergeds(_) => {
            let version = part.unwrap_or(HcVersion::V1Beta1);
            let v = match version {
                HcVersion::V1 => "v1",
                HcVersion::V1Beta1 => "v1beta1",
            };
            let ar = api_resource("hco.kubevirt.io", v, "HyperConverged", "hyperconvergeds");
            items(watcher::watcher(Api::all_with(client.clone(), &ar), all), move |o| {
                convert::hyperconverged(o, version)
            })
        }
        Watch::Nodes => {
            let api = Api::<PartialObjectMeta<Node>>::all(client.clone());
            items(watcher::watcher(api, all), move |m| convert::node(&policy, m))
        }
        Watch::ClusterNetwork => {
            let ar = api_resource("config.openshift.io", "v1", "Network", "networks");
            items(
                watcher::watcher(Api::all_with(client.clone(), &ar), named(convert::CLUSTER)),
                convert::cluster_network,
            )
        }
        Watch::OperatorNetwork => {
            let ar = api_resource("operator.openshift.io", "v1", "Network", "networks");
            items(watcher::watcher(Api::all_with(client.clone(), &ar), named(convert::CLUSTER)), move |o| {
                convert::operator_network(&policy, o)
            })
        }
        Watch::InstallConfig => {
            let api = Api::<ConfigMap>::namespaced(client.clone(), "kube-system");
            items(watcher::watcher(api, named("cluster-config-v1")), convert::install_config)
        }
        Watch::NodeNetworkStates(version) => {
            let ar = api_resource("nmstate.io", version.as_str(), "NodeNetworkState", "nodenetworkstates");
            items(watcher::watcher(Api::all_with(client.clone(), &ar), all), convert::node_network_state)
        }
        Watch::KubeVirts => {
            let ar = api_resource("kubevirt.io", "v1", "KubeVirt", "kubevirts");
            items(watcher::watcher(Api::all_with(client.clone(), &ar), all), convert::kubevirt)
        }
        Watch::Migrations => {
            let ar = api_resource(
                "kubevirt.io",
                "v1",
                "VirtualMachineInstanceMigration",
                "virtualmachineinstancemigrations",
            );
            items(watcher::watcher(Api::all_with(client.clone(), &ar), all), convert::migration)
        }
        Watch::UserDefinedNetworks | Watch::ClusterUserDefinedNetworks => {
            let (kind, plural) = match watch {
                Watch::UserDefinedNetworks => (NetKind::Udn, "userdefinednetworks"),
                _ => (NetKind::Cudn, "clusteruserdefinednetworks"),
            };
            let ar = api_resource("k8s.ovn.org", "v1", kind.as_str(), plural);
            items(watcher::watcher(Api::all_with(client.clone(), &ar), all), move |o| {
                convert::user_defined_network(&policy, o, kind)
            })
        }
    }
}

/// Adds kube's default backoff and converts each object; objects that convert to nothing are dropped.
fn items<K, S, F>(stream: S, convert: F) -> Events
where
    S: futures::Stream<Item = watcher::Result<Event<K>>> + Send + 'static,
    K: Send + 'static,
    F: Fn(&K) -> Option<Item> + Send + Sync + 'static,
{
    stream
        .default_backoff()
        .try_filter_map(move |event| future::ready(Ok(map_event(event, &convert))))
        .boxed()
}

fn map_event<K>(event: Event<K>, convert: impl Fn(&K) -> Option<Item>) -> Option<Event<Item>> {
    Some(match event {
        Event::Apply(o) => Event::Apply(convert(&o)?),
        Event::Delete(o) => Event::Delete(convert(&o)?),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(convert(&o)?),
        Event::InitDone => Event::InitDone,
    })
}

/// Keeps readiness and the staleness and object-count metrics current until `shutdown`.
pub async fn publish(
    status: Arc<Status>,
    metrics: Arc<Metrics>,
    on_ready: impl Fn(bool),
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seen: Vec<&'static str> = Vec::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        on_ready(status.ready());
        for (resource, r) in Resource::ALL.iter().zip(status.report(Instant::now())) {
            if let Some(kind) = resource.metric_kind() {
                metrics.set_view_objects(kind, r.objects as i64);
            }
            match r.staleness_seconds {
                Some(s) => {
                    metrics.set_staleness(r.resource, s);
                    if !seen.contains(&r.resource) {
                        seen.push(r.resource);
                    }
                }
                // no longer served: nothing is stale
                None if seen.contains(&r.resource) => metrics.set_staleness(r.resource, 0.0),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::discovery::{HcVersions, NmstateVersion};

    fn policy(yaml: &str) -> Policy {
        Policy::from_yaml(yaml).unwrap()
    }

    #[test]
    fn only_relevant_policy_changes_relist() {
        let base = Policy::default();
        let label = policy("migrationLabel: example.com/migration\n");
        let ns = policy("migrationNamespace: kubevirt-hyperconverged\n");
        let nodes = policy("virtHandlerNodeSelector: {node-role.kubernetes.io/worker: \"\"}\n");
        let ovn = policy("reservedRanges:\n  ovnJoin: [100.65.0.0/16]\n");
        let globs = policy("nameGlobs: [\"lm-*\"]\n");
        let unrelated = policy("allowedPluginTypes: [macvlan, bridge]\n");
        assert!(reads_policy(Watch::Nads, &base, &label));
        assert!(reads_policy(Watch::Nads, &base, &ns));
        assert!(reads_policy(Watch::Nads, &base, &globs), "the view flags NADs by name");
        assert!(!reads_policy(Watch::Nodes, &base, &globs));
        assert!(!reads_policy(Watch::Nads, &base, &nodes));
        assert!(reads_policy(Watch::Nodes, &base, &nodes));
        assert!(!reads_policy(Watch::Nodes, &base, &label));
        assert!(reads_policy(Watch::OperatorNetwork, &base, &ovn));
        assert!(!reads_policy(Watch::OperatorNetwork, &base, &label));
        for w in [
            Watch::Nads,
            Watch::Nodes,
            Watch::OperatorNetwork,
            Watch::HyperConvergeds(HcVersions::only(HcVersion::V1)),
            Watch::ClusterNetwork,
            Watch::InstallConfig,
            Watch::NodeNetworkStates(NmstateVersion::V1),
        ] {
            assert!(!reads_policy(w, &base, &unrelated), "{w:?}");
            assert!(!reads_policy(w, &base, &base.clone()), "{w:?}");
        }
        assert!(!reads_policy(Watch::HyperConvergeds(HcVersions::only(HcVersion::V1)), &base, &ns));
    }

    #[test]
    fn hyperconvergeds_watch_a_stream_per_version() {
        let both = HcVersions { v1beta1: true, v1: true };
        assert_eq!(parts(Watch::HyperConvergeds(both)), vec![Some(HcVersion::V1Beta1), Some(HcVersion::V1)]);
        assert_eq!(parts(Watch::Nads), vec![None]);
    }

    #[test]
    fn events_map_and_skip_objects_that_convert_to_nothing() {
        let half = |n: &u32| {
            n.is_multiple_of(2).then(|| Item::Node { name: n.to_string(), info: Default::default() })
        };
        assert!(matches!(map_event(Event::Apply(2), half), Some(Event::Apply(Item::Node { .. }))));
        assert!(map_event(Event::Apply(3), half).is_none());
        assert!(map_event(Event::Delete(3), half).is_none());
        assert!(map_event(Event::InitApply(1), half).is_none());
        assert!(matches!(map_event(Event::Init, half), Some(Event::Init)));
        assert!(matches!(map_event(Event::InitDone, half), Some(Event::InitDone)));
    }
}

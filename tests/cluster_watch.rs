//! The live view in-process against the fake API server: first that the fake answers kube-rs the way
//! kube-apiserver does (lists, pages, watches, 410 Gone, dropped connections), then that the live view
//! follows the cluster through all of that.

mod support;

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client,
    api::ListParams,
    core::{ApiResource, DynamicObject, PartialObjectMeta},
    runtime::watcher::{self, Event},
};
use mignet::{
    cluster::{
        Resource,
        live::{self, LiveView, Settings},
    },
    policy::Policy,
    policy::view::{ReservedKind, View},
    server::reload::Judge,
};
use support::{
    PATIENCE, eventually,
    fake_apiserver::{FakeApiServer, HcoRelease, ResourceDef, openshift_with_nmstate, plain_kubernetes},
    hyperconverged, nad,
};

async fn client(fake: &FakeApiServer, dir: &tempfile::TempDir) -> Client {
    live::connect(Some(&fake.write_kubeconfig(dir.path()))).await.unwrap()
}

fn nad_api(client: &Client) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "k8s.cni.cncf.io".into(),
        version: "v1".into(),
        api_version: "k8s.cni.cncf.io/v1".into(),
        kind: "NetworkAttachmentDefinition".into(),
        plural: "network-attachment-definitions".into(),
    };
    Api::all_with(client.clone(), &ar)
}

/// The next watcher event, with a bound.
async fn next<S, K>(stream: &mut S) -> Result<Event<K>, watcher::Error>
where
    S: futures::Stream<Item = Result<Event<K>, watcher::Error>> + Unpin,
{
    tokio::time::timeout(PATIENCE, stream.next()).await.expect("watcher event in time").expect("stream open")
}

fn name_of(e: &Event<DynamicObject>) -> String {
    match e {
        Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => {
            o.metadata.name.clone().unwrap_or_default()
        }
        Event::Init => "<init>".into(),
        Event::InitDone => "<done>".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_answers_kube_watcher_like_the_api_server() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    fake.apply(nad("tenant", "a", "10.1.0.0/24"));
    let client = client(&fake, &dir).await;
    let mut w = watcher::watcher(nad_api(&client), watcher::Config::default()).boxed();
    assert!(matches!(next(&mut w).await.unwrap(), Event::Init));
    assert_eq!(name_of(&next(&mut w).await.unwrap()), "a");
    assert!(matches!(next(&mut w).await.unwrap(), Event::InitDone));

    fake.apply(nad("tenant", "b", "10.2.0.0/24"));
    let e = next(&mut w).await.unwrap();
    assert!(matches!(e, Event::Apply(_)) && name_of(&e) == "b", "{e:?}");
    fake.apply(nad("tenant", "b", "10.3.0.0/24"));
    let Event::Apply(o) = next(&mut w).await.unwrap() else { panic!("modify") };
    assert!(o.data["spec"]["config"].as_str().unwrap().contains("10.3.0.0/24"));
    assert!(fake.delete("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "tenant", "b"));
    let e = next(&mut w).await.unwrap();
    assert!(matches!(e, Event::Delete(_)) && name_of(&e) == "b", "{e:?}");

    // what kube-rs asked: a paged list, then a watch from the list's version with bookmarks
    let requests = fake.requests();
    let list = requests.iter().find(|r| r.contains("network-attachment-definitions?")).unwrap();
    assert!(list.contains("limit=500") && !list.contains("watch"), "{list}");
    let watch = requests.iter().find(|r| r.contains("watch=true")).unwrap();
    assert!(watch.contains("allowWatchBookmarks=true") && watch.contains("resourceVersion="), "{watch}");
    assert!(watch.contains("timeoutSeconds=290"), "{watch}");
}

/// Polls a watcher in the background (so it reconnects while the test waits) and hands over its events.
fn forward<S>(
    mut stream: S,
) -> tokio::sync::mpsc::UnboundedReceiver<Result<Event<DynamicObject>, watcher::Error>>
where
    S: futures::Stream<Item = Result<Event<DynamicObject>, watcher::Error>> + Send + Unpin + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = stream.next().await {
            if tx.send(e).is_err() {
                return;
            }
        }
    });
    rx
}

async fn recv(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Result<Event<DynamicObject>, watcher::Error>>,
) -> Result<Event<DynamicObject>, watcher::Error> {
    tokio::time::timeout(PATIENCE, rx.recv()).await.expect("watcher event in time").expect("watcher running")
}

fn watch_requests(fake: &FakeApiServer) -> usize {
    fake.requests().iter().filter(|r| r.contains("watch=true")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watch_resumes_and_gone_relists() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    fake.apply(nad("tenant", "a", "10.1.0.0/24"));
    let client = client(&fake, &dir).await;
    let mut rx = forward(watcher::watcher(nad_api(&client), watcher::Config::default()).boxed());
    for want in ["<init>", "a", "<done>"] {
        assert_eq!(name_of(&recv(&mut rx).await.unwrap()), want);
    }
    eventually("the watch to open", || async { (fake.open_watches() == 1).then_some(()) }).await;

    // a cut connection: the watch resumes from its version, nothing is relisted
    fake.drop_watches();
    eventually("a second watch", || async {
        (watch_requests(&fake) == 2 && fake.open_watches() == 1).then_some(())
    })
    .await;
    let resumed = fake.requests().into_iter().filter(|r| r.contains("watch=true")).nth(1).unwrap();
    let list_rv = fake.requests()[0].clone();
    assert!(
        resumed.contains("resourceVersion=101"),
        "resumed from the list's version: {resumed} after {list_rv}"
    );
    fake.apply(nad("tenant", "b", "10.2.0.0/24"));
    let e = recv(&mut rx).await.unwrap();
    assert!(matches!(e, Event::Apply(_)) && name_of(&e) == "b", "resuming must not relist: {e:?}");
    assert!(fake.delete("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "tenant", "a"));
    let e = recv(&mut rx).await.unwrap();
    assert!(matches!(e, Event::Delete(_)) && name_of(&e) == "a", "{e:?}");

    // the version expired meanwhile: 410 Gone, then a full relist
    fake.compact();
    fake.drop_watches();
    let e = recv(&mut rx).await;
    let Err(watcher::Error::WatchError(status)) = e else { panic!("expected 410 Gone, got {e:?}") };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
    let mut events = Vec::new();
    loop {
        let e = recv(&mut rx).await.unwrap();
        events.push(name_of(&e));
        if matches!(e, Event::InitDone) {
            break;
        }
    }
    assert_eq!(events, vec!["<init>", "b", "<done>"]);
    let lists = fake.requests().iter().filter(|r| !r.contains("watch=true")).count();
    assert_eq!(lists, 2, "{:#?}", fake.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pages_lists_and_serves_metadata_only() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        fake.apply(nad("tenant", &format!("n{i}"), &format!("10.{i}.0.0/24")));
        fake.apply(support::node(&format!("w{i}"), i % 2 == 0));
    }
    let client = client(&fake, &dir).await;
    let first = nad_api(&client).list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().unwrap();
    let rest = nad_api(&client).list(&ListParams::default().limit(10).continue_token(&token)).await.unwrap();
    assert_eq!(rest.items.len(), 3);
    assert_eq!(rest.metadata.continue_.as_deref().unwrap_or_default(), "");

    let nodes =
        Api::<PartialObjectMeta<Node>>::all(client.clone()).list(&ListParams::default()).await.unwrap();
    assert_eq!(nodes.items.len(), 5);
    assert_eq!(nodes.items[0].metadata.labels.as_ref().unwrap()["kubevirt.io/schedulable"], "true");
    let typed = Api::<Node>::all(client.clone())
        .list(&ListParams::default().fields("metadata.name=w3"))
        .await
        .unwrap();
    assert_eq!(typed.items.len(), 1);
    assert!(typed.items[0].status.is_some(), "a full list carries the whole object");

    // a CRD the cluster lacks is a 404 Status, as discovery and lists report it
    let err = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource {
            group: "hco.kubevirt.io".into(),
            version: "v1beta1".into(),
            api_version: "hco.kubevirt.io/v1beta1".into(),
            kind: "HyperConverged".into(),
            plural: "hyperconvergeds".into(),
        },
    )
    .list(&ListParams::default())
    .await
    .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_watch_honours_timeout_bookmarks_and_streaming_lists() {
    use kube::api::{WatchEvent, WatchParams};
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    fake.apply(nad("tenant", "a", "10.1.0.0/24"));
    let client = client(&fake, &dir).await;

    // from "0": the current objects as ADDED; at timeoutSeconds a BOOKMARK, then a clean end
    let stream = nad_api(&client).watch(&WatchParams::default().timeout(1), "0").await.unwrap();
    let events: Vec<_> = tokio::time::timeout(PATIENCE, stream.collect::<Vec<_>>()).await.unwrap();
    let kinds: Vec<String> = events
        .into_iter()
        .map(|e| match e.unwrap() {
            WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.unwrap()),
            WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, vec!["ADDED a".to_owned(), format!("BOOKMARK {}", fake.resource_version())]);

    // a streaming list (sendInitialEvents) ends its initial events with the annotated bookmark
    let mut w = watcher::watcher(nad_api(&client), watcher::Config::default().streaming_lists()).boxed();
    let names: Vec<String> = [next(&mut w).await, next(&mut w).await, next(&mut w).await]
        .into_iter()
        .map(|e| name_of(&e.unwrap()))
        .collect();
    assert_eq!(names, vec!["<init>", "a", "<done>"]);
    assert!(fake.requests().iter().any(|r| r.contains("sendInitialEvents=true")));
    fake.apply(nad("tenant", "b", "10.2.0.0/24"));
    assert_eq!(name_of(&next(&mut w).await.unwrap()), "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_bookmarks_move_the_resume_point_and_lose_nothing() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    fake.set_bookmark_interval(Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(Policy::default());
    let live = LiveView::start(client(&fake, &dir).await, judge.clone(), fast());
    live.wait_ready(PATIENCE).await.unwrap();
    for i in 0..20 {
        fake.apply(nad("tenant", &format!("n{i}"), "10.1.0.0/24"));
        // nodes change too: the NAD watch's bookmarks move past versions that were not its own
        fake.apply(support::node(&format!("w{i}"), true));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    view_matches(&judge, "the 20 NADs", |v| v.nad_count() == 20).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lists = |fake: &FakeApiServer| {
        fake.requests()
            .iter()
            .filter(|r| r.contains("network-attachment-definitions?") && !r.contains("watch"))
            .count()
    };
    let before = lists(&fake);
    let resumed_from = fake.resource_version();
    fake.drop_watches();
    fake.apply(nad("tenant", "late", "10.2.0.0/24"));
    view_matches(&judge, "the NAD written after the drop", |v| v.nad("tenant", "late").is_some()).await;
    assert_eq!(judge.view.read().unwrap().nad_count(), 21);
    assert_eq!(lists(&fake), before, "resumed from the last bookmark, without a relist");
    let rewatch = fake
        .requests()
        .into_iter()
        .rfind(|r| r.contains("network-attachment-definitions?") && r.contains("watch=true"))
        .unwrap();
    let rv: u64 =
        rewatch.split("resourceVersion=").nth(1).unwrap().split('&').next().unwrap().parse().unwrap();
    // without bookmarks it would resume at n19, one version before the node w19 written after it
    assert!(rv >= resumed_from, "the resume point moved with the bookmarks: {rewatch} (at {resumed_from})");
}

fn judge(policy: Policy) -> Arc<Judge> {
    Arc::new(Judge { policy: ArcSwap::from_pointee(policy), view: RwLock::new(View::new()) })
}

fn fast() -> Settings {
    Settings { discovery_interval: Duration::from_millis(200), resync_interval: None }
}

async fn view_matches(judge: &Judge, what: &str, test: impl Fn(&View) -> bool) {
    eventually(what, || async { test(&judge.view.read().unwrap()).then_some(()) }).await;
}

fn owners(view: &View, net: &str) -> Vec<String> {
    let mut v: Vec<String> =
        view.overlapping(&net.parse().unwrap()).iter().map(|(_, e)| e.key.to_string()).collect();
    v.sort();
    v
}

fn openshift_objects(fake: &FakeApiServer) {
    fake.apply(nad("openshift-cnv", "migration-bridge", "192.168.99.0/24"));
    fake.apply(nad("tenant", "other", "10.50.0.0/24"));
    fake.apply(hyperconverged("openshift-cnv", Some("migration-bridge")));
    for (i, sched) in [true, true, false].iter().enumerate() {
        fake.apply(support::node(&format!("w{i}"), *sched));
    }
    fake.apply_with_status(support::cluster_network("10.132.0.0/14"));
    fake.apply(support::install_config("10.0.0.0/16"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_follows_an_openshift_cluster() {
    let fake = FakeApiServer::start(openshift_with_nmstate(HcoRelease::V1_17)).await;
    let dir = tempfile::tempdir().unwrap();
    openshift_objects(&fake);
    let judge = judge(Policy::default());
    let live = LiveView::start(client(&fake, &dir).await, judge.clone(), fast());
    live.wait_ready(PATIENCE).await.unwrap();
    {
        let view = judge.view.read().unwrap();
        assert_eq!(view.nad_count(), 2);
        assert_eq!(view.hcs_using("openshift-cnv", "migration-bridge").count(), 1);
        assert_eq!(view.virt_handler_nodes(), Some(2));
        let pod = view.discovered(ReservedKind::Pod).unwrap();
        assert_eq!(pod.nets, vec!["10.132.0.0/14".parse().unwrap()]);
        let machine = view.discovered(ReservedKind::Machine).unwrap();
        assert_eq!(machine.nets, vec!["10.0.0.0/16".parse().unwrap()]);
        assert!(view.nad("openshift-cnv", "migration-bridge").unwrap().config.is_some());
        assert!(view.nad("tenant", "other").unwrap().config.is_none());
        assert!(view.discovered(ReservedKind::OvnJoin).is_none(), "no operator Network object");
    }
    let report = live.status().report(Instant::now());
    // every resource this cluster serves (KubeVirt's own kubevirt.io resources it does not)
    let kubevirt = ["kubevirts", "virtualmachineinstancemigrations"];
    assert!(
        report.iter().filter(|r| !kubevirt.contains(&r.resource)).all(|r| r.present && r.synced),
        "{report:?}"
    );

    fake.apply(nad("tenant", "late", "10.60.0.0/24"));
    view_matches(&judge, "a new NAD", |v| owners(v, "10.60.0.0/16") == ["tenant/late"]).await;
    fake.apply(nad("tenant", "late", "10.61.0.0/24"));
    view_matches(&judge, "a modified NAD", |v| {
        owners(v, "10.61.0.0/16") == ["tenant/late"] && owners(v, "10.60.0.0/16").is_empty()
    })
    .await;
    fake.delete("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "tenant", "late");
    view_matches(&judge, "a deleted NAD", |v| owners(v, "10.61.0.0/16").is_empty()).await;
    fake.apply(hyperconverged("openshift-cnv", None));
    view_matches(&judge, "the HyperConverged dropping its network", |v| {
        v.hcs_using("openshift-cnv", "migration-bridge").count() == 0 && v.hcs().count() == 1
    })
    .await;
    fake.delete("config.openshift.io/v1", "Network", "", "cluster");
    view_matches(&judge, "the pod network back to the policy", |v| v.discovered(ReservedKind::Pod).is_none())
        .await;
    fake.delete("v1", "Node", "", "w0");
    view_matches(&judge, "a node gone", |v| v.virt_handler_nodes() == Some(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relist_after_gone_forgets_what_was_deleted_meanwhile() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    fake.apply(nad("tenant", "a", "10.1.0.0/24"));
    fake.apply(nad("tenant", "b", "10.2.0.0/24"));
    let judge = judge(Policy::default());
    let live = LiveView::start(client(&fake, &dir).await, judge.clone(), fast());
    live.wait_ready(PATIENCE).await.unwrap();
    eventually("watches open", || async { (fake.open_watches() >= 2).then_some(()) }).await;

    // the webhook loses the API server; meanwhile b is deleted and the history compacted
    fake.set_unavailable(true);
    eventually("the outage to show", || async {
        let r = live.status().report(Instant::now());
        r.iter().any(|r| r.error.is_some()).then_some(())
    })
    .await;
    assert!(live.status().ready(), "an outage keeps the last state in force");
    assert_eq!(judge.view.read().unwrap().nad_count(), 2);
    fake.delete("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "tenant", "b");
    fake.compact();
    fake.set_unavailable(false);
    view_matches(&judge, "b gone after the relist", |v| owners(v, "10.0.0.0/8") == ["tenant/a"]).await;
    let nads = live
        .status()
        .report(Instant::now())
        .into_iter()
        .find(|r| r.resource == "network-attachment-definitions");
    let nads = nads.unwrap();
    assert_eq!(nads.objects, 1);
    eventually("the error to clear", || async {
        let r = live.status().report(Instant::now());
        r.iter().all(|r| r.error.is_none()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_api_server_refusing_until_its_caches_sync_is_waited_out() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    fake.apply(nad("tenant", "a", "10.1.0.0/24"));
    fake.apply(nad("tenant", "b", "10.2.0.0/24"));
    let judge = judge(Policy::default());
    let live = LiveView::start(client(&fake, &dir).await, judge.clone(), fast());
    live.wait_ready(PATIENCE).await.unwrap();
    eventually("watches open", || async { (fake.open_watches() >= 2).then_some(()) }).await;

    // down, b deleted meanwhile; back, but refusing every read with 403 and discovery with 503
    fake.set_unavailable(true);
    eventually("the outage to show", || async {
        let r = live.status().report(Instant::now());
        r.iter().any(|r| r.error.is_some()).then_some(())
    })
    .await;
    fake.delete("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "tenant", "b");
    fake.compact();
    fake.set_starting(true);
    fake.set_unavailable(false);
    eventually("the refusal to show", || async {
        let r = live.status().report(Instant::now());
        r.iter().any(|r| r.error.as_deref().is_some_and(|e| e.contains("403"))).then_some(())
    })
    .await;
    assert!(live.status().ready(), "a refusing API server keeps the last state in force");
    assert_eq!(judge.view.read().unwrap().nad_count(), 2, "nothing forgotten on a 403");
    fake.set_starting(false);
    view_matches(&judge, "b gone once the API server answers", |v| owners(v, "10.0.0.0/8") == ["tenant/a"])
        .await;
    eventually("the error to clear", || async {
        let r = live.status().report(Instant::now());
        r.iter().all(|r| r.error.is_none()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_come_and_go_with_discovery() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(Policy::default());
    let live = LiveView::start(client(&fake, &dir).await, judge.clone(), fast());
    live.wait_ready(PATIENCE).await.unwrap();
    let present = |r: Resource| {
        live.status().report(Instant::now()).into_iter().find(|x| x.resource == r.name()).unwrap().present
    };
    assert!(!present(Resource::HyperConvergeds), "no HCO CRD: not watched, and ready anyway");
    assert!(!present(Resource::ClusterNetwork));

    // HCO installed later
    fake.serve(ResourceDef::HCO_V1BETA1);
    fake.apply(hyperconverged("openshift-cnv", Some("mig")));
    view_matches(&judge, "the HyperConverged of a CRD installed later", |v| {
        v.hcs_using("openshift-cnv", "mig").count() == 1
    })
    .await;
    assert!(present(Resource::HyperConvergeds));

    // and removed again: its entries go, readiness does not wait for it
    fake.unserve(&ResourceDef::HCO_V1BETA1);
    view_matches(&judge, "the HyperConverged gone with its CRD", |v| v.hcs().count() == 0).await;
    eventually("the resource to be reported absent", || async {
        (!present(Resource::HyperConvergeds)).then_some(())
    })
    .await;
    assert!(live.status().ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_change_relists_with_the_new_reading() {
    let fake = FakeApiServer::start(plain_kubernetes()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut labelled = nad("tenant", "x", "10.1.0.0/24");
    labelled["metadata"]["labels"] = serde_json::json!({"example.com/migration": "true"});
    fake.apply(labelled);
    fake.apply(support::node("w0", false));
    let mut worker = support::node("w1", false);
    worker["metadata"]["labels"] = serde_json::json!({"role": "virt"});
    fake.apply(worker);
    let judge = judge(Policy::default());
    let live = LiveView::start(client(&fake, &dir).await, judge.clone(), fast());
    live.wait_ready(PATIENCE).await.unwrap();
    assert_eq!(judge.view.read().unwrap().nad("tenant", "x").unwrap().migration_label, None);
    assert_eq!(judge.view.read().unwrap().virt_handler_nodes(), Some(2));

    let policy = Policy::from_yaml(
        "migrationLabel: example.com/migration\nmigrationNamespace: tenant\nvirtHandlerNodeSelector: {role: virt}\n",
    )
    .unwrap();
    live.policy_notifier().notify(&policy);
    view_matches(&judge, "NADs read with the new label and namespace", |v| {
        v.nad("tenant", "x").is_some_and(|e| e.migration_label == Some(true) && e.config.is_some())
    })
    .await;
    view_matches(&judge, "nodes read with the new selector", |v| v.virt_handler_nodes() == Some(1)).await;
}

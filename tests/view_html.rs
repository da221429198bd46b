//! `mignet view --output html` against the fake API server, loaded in headless Chromium; and the
//! JSON carrying the same data the page shows.

mod browser;
mod support;

use serde_json::Value;
use support::{
    fake_apiserver::{FakeApiServer, openshift},
    nad, run,
};

fn cluster(fake: &FakeApiServer) {
    support::view_sample(fake);
    fake.apply(nad("tenant", "<img src=x onerror=alert(1)>", "10.51.0.0/24"));
    fake.apply(nad("tenant", "six", "fd10::/64"));
}

async fn view(fake: &FakeApiServer, dir: &std::path::Path, output: &str) -> String {
    let kubeconfig = fake.write_kubeconfig(dir);
    let args = ["view", "--kubeconfig", kubeconfig.to_str().unwrap(), "--output", output];
    let (code, out, err) = run(args.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(code, 0, "{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_page_in_the_browser() {
    let Some(chromium) = browser::chromium() else { return };
    let fake = FakeApiServer::start(openshift()).await;
    cluster(&fake);
    let dir = tempfile::tempdir().unwrap();
    let html = view(&fake, dir.path(), "html").await;
    let json: Value = serde_json::from_str(&view(&fake, dir.path(), "json").await).unwrap();
    let path = dir.path().join("view.html");
    std::fs::write(&path, &html).unwrap();
    let loaded = browser::load(&chromium, &path);
    assert!(loaded.console.is_empty(), "console messages: {:?}", loaded.console);
    let dom = loaded.dom;
    // discovered ranges with their source, in the hover text
    assert!(dom.contains(r#"<g class="range r" data-cidr="10.132.0.0/14">"#), "discovered pod network");
    assert!(dom.contains("pod network (Network cluster status.clusterNetwork)"));
    assert!(dom.contains("machine network (ConfigMap kube-system/cluster-config-v1)"));
    assert!(dom.contains(r#"<g class="range n x" data-cidr="192.168.99.128/25">"#));
    assert!(dom.contains(
        "overlap at 192.168.99.128/25: tenant/blue with openshift-cnv/migration-bridge (192.168.99.0/24)"
    ));
    assert!(dom.contains(r#"<g class="range n" data-cidr="fd10::/64">"#), "IPv6 NAD");
    assert!(
        dom.contains("254 usable addresses for 2 virt-handler nodes"),
        "capacity against virt-handler nodes"
    );
    assert!(dom.contains("HyperConverged openshift-cnv/kubevirt-hyperconverged"));
    assert!(dom.contains("hco.kubevirt.io/v1beta1 hyperconvergeds: synced, 1 object"), "watched resources");
    assert!(dom.contains("tenant/&lt;img src=x onerror=alert(1)&gt;"), "hostile name as text");
    assert!(!dom.contains("<img"), "no element from a name");
    // the page shows what the JSON says: the same suggestions, the same migration network
    let free: Vec<&str> =
        json["freeSubnets"][0]["subnets"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(free, ["192.168.100.0/24", "192.168.101.0/24", "192.168.102.0/24"]);
    for s in &free {
        assert!(dom.contains(&format!(r#"<li class="free"><code>{s}</code></li>"#)), "{s}");
    }
    assert_eq!(json["migrationNetworks"][0]["usable"], 254);
    assert_eq!(json["migrationNetworks"][0]["virtHandlerNodes"], 2);
    assert_eq!(json["migrationNetworks"][0]["master"], "bond2");
    let drawn = browser::count(&dom, r#"<g class="range "#);
    assert!(drawn >= json["ranges"].as_array().unwrap().len(), "every range drawn at least once");
    assert!(json.get("hosts").is_none(), "no host section without host networks");
    assert!(!dom.contains("Host interfaces"));
    let png = dir.path().join("view.png");
    assert_eq!(browser::screenshot(&chromium, &path, &png, 1280, 1400), (1280, 1400));
}

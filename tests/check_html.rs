//! `mignet check --output html` end to end: the built binary writes the page, headless Chromium loads
//! it, and the test reads what the browser built (see tests/browser/mod.rs for how).

mod browser;
mod common;

use std::{fmt::Write as _, path::Path};

use browser::{Loaded, chromium, count};
use common::{repo, run};

/// Runs `mignet check --output html ARGS`, writes the page to `dir/name.html`, returns its path.
fn page(dir: &Path, name: &str, args: &[&str]) -> (i32, std::path::PathBuf) {
    let mut all = vec!["check", "--output", "html"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all, None);
    assert!((0..=2).contains(&code), "exit {code}: {err}");
    assert!(out.starts_with("<!DOCTYPE html>"), "{out:.200}{err}");
    let path = dir.join(format!("{name}.html"));
    std::fs::write(&path, out).unwrap();
    (code, path)
}

fn loaded_clean(chromium: &Path, page: &Path) -> Loaded {
    let loaded = browser::load(chromium, page);
    assert!(loaded.console.is_empty(), "console messages: {:?}", loaded.console);
    assert!(loaded.dom.contains("</html>"), "page loaded: {:.300}", loaded.dom);
    loaded
}

#[test]
fn examples_map_in_the_browser() {
    let Some(chromium) = chromium() else { return };
    browser::console_detection_works(&chromium);
    let dir = tempfile::tempdir().unwrap();
    let (code, path) = page(
        dir.path(),
        "examples",
        &[
            "--cluster-state",
            &repo("examples/cluster"),
            &repo("examples/migration-nad.yaml"),
            &repo("examples/hyperconverged.yaml"),
        ],
    );
    assert_eq!(code, 0);
    let dom = loaded_clean(&chromium, &path).dom;
    // both families, reserved ranges from the Network object and defaults, the migration NAD
    assert!(dom.contains(r#"data-family="IPv4""#) && dom.contains(r#"data-family="IPv6""#));
    assert!(dom.contains(r#"<g class="range r" data-cidr="10.128.0.0/14">"#), "pod network drawn");
    assert!(dom.contains(r#"<g class="range r" data-cidr="172.30.0.0/16">"#), "service network drawn");
    assert!(dom.contains(r#"<g class="range m" data-cidr="192.168.99.0/24">"#), "migration NAD drawn");
    assert!(dom.contains("NAD openshift-cnv/migration-bridge"));
    assert!(dom.contains("254 usable addresses for 3 virt-handler nodes"), "capacity in the panel");
    assert!(dom.contains("<th>completionTimeoutPerGiB</th><td>800</td>"), "HyperConverged settings");
    // a /24 in 0.0.0.0/0 gets a zoomed track of its own
    assert!(dom.contains(r#"data-window="192.168.0.0/16""#));
    for free in ["192.168.100.0/24", "192.168.101.0/24", "192.168.102.0/24"] {
        assert!(dom.contains(&format!(r#"<li class="free"><code>{free}</code></li>"#)), "{free} suggested");
        assert!(dom.contains(&format!(r#"<g class="range f" data-cidr="{free}">"#)), "{free} on the map");
    }
    assert_eq!(count(&dom, r#"class="overlap-mark""#), 0, "the examples overlap nothing");
    assert!(dom.contains("Nothing denied, nothing to warn about."));
    let png = dir.path().join("examples.png");
    assert_eq!(browser::screenshot(&chromium, &path, &png, 1280, 1600), (1280, 1600));
    assert!(std::fs::metadata(&png).unwrap().len() > 20_000, "a picture, not a blank page");
}

#[test]
fn findings_and_overlaps_in_the_browser() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // a HyperConverged as the docs show it: only the network, the webhook fills in the rest
    let hc = dir.path().join("hc.yaml");
    std::fs::write(
        &hc,
        "apiVersion: hco.kubevirt.io/v1beta1\nkind: HyperConverged\nmetadata:\n  name: kubevirt-hyperconverged\n  \
         namespace: openshift-cnv\nspec:\n  liveMigrationConfig:\n    network: migration-bridge\n",
    )
    .unwrap();
    let (code, path) = page(
        dir.path(),
        "broken",
        &[
            "--cluster-state",
            &repo("examples/cluster"),
            "--cluster-state",
            &repo("examples/migration-nad.yaml"),
            &repo("examples/broken/vm-network-on-migration-subnet.yaml"),
            &repo("examples/broken/nad-without-master.yaml"),
            hc.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "denied");
    let dom = loaded_clean(&chromium, &path).dom;
    assert!(dom.contains(r#"<g class="range m x" data-cidr="192.168.99.0/24">"#), "migration NAD marked");
    assert!(dom.contains(r#"<g class="range n x" data-cidr="192.168.99.128/25">"#), "tenant NAD marked");
    assert!(dom.contains(
        "overlap at 192.168.99.128/25: vms/tenant-vlan with openshift-cnv/migration-bridge (192.168.99.0/24)"
    ));
    assert!(count(&dom, r#"class="overlap-mark""#) >= 1);
    // each finding: rule id, field and file:line
    let vm = repo("examples/broken/vm-network-on-migration-subnet.yaml");
    assert!(dom.contains("<code>nad-overlap-migration</code>"), "rule id");
    assert!(dom.contains("<code>spec.config.ipam.range</code>"), "field");
    assert!(dom.contains(&format!("<code>{vm}:2</code>")), "file:line");
    assert!(dom.contains("<code>nad-master</code>"));
    assert!(dom.contains(r#"<tr class="finding error">"#));
    // the defaults the mutating webhook would add are notes, as in the text output
    assert!(
        dom.contains(r#"<tr class="finding note"><td>note</td><td><code>hc-defaults</code></td>"#),
        "note"
    );
    assert!(dom.contains("the webhook adds /spec/liveMigrationConfig/"), "what is added");
    assert!(dom.contains(&format!("<code>{}:1</code>", hc.display())), "the note's file:line");
    assert!(dom.contains("<th>network</th><td>migration-bridge</td>"), "the HyperConverged's settings");
}

/// The fixture for a big, mixed cluster: `n` tenant NADs in 10.60.0.0/14, IPv6 NADs, one overlapping
/// the migration network and one named like markup.
fn big_cluster(n: usize) -> String {
    let mut y = String::from(
        "# NADs as `oc get net-attach-def -A -o yaml` lists them\napiVersion: v1\nkind: List\nitems:\n",
    );
    let mut add = |ns: &str, name: &str, range: &str| {
        let config = format!(
            r#"{{"cniVersion":"0.3.1","name":"{name}","type":"bridge","bridge":"br1","ipam":{{"type":"whereabouts","range":"{range}"}}}}"#
        );
        let _ = write!(
            y,
            "  - apiVersion: k8s.cni.cncf.io/v1\n    kind: NetworkAttachmentDefinition\n    metadata:\n      name: '{name}'\n      namespace: {ns}\n    spec:\n      config: '{config}'\n"
        );
    };
    for i in 0..n {
        add(
            &format!("tenant-{}", i % 50),
            &format!("net-{i}"),
            &format!("10.{}.{}.0/24", 60 + i / 256, i % 256),
        );
    }
    for i in 0..20 {
        add("tenant-v6", &format!("v6-{i}"), &format!("fd10:0:0:{i:x}::/64"));
    }
    add("vms", "squatter", "192.168.99.128/25");
    add("tenant-0", "<script>alert(1)</script>", "10.250.0.0/24");
    y
}

#[test]
fn a_thousand_nads_with_ipv6_overlaps_and_a_hostile_name() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("nads.yaml");
    std::fs::write(&state, big_cluster(1000)).unwrap();
    let (_, path) = page(
        dir.path(),
        "big",
        &[
            "--cluster-state",
            &repo("examples/cluster"),
            "--cluster-state",
            state.to_str().unwrap(),
            &repo("examples/migration-nad.yaml"),
            &repo("examples/hyperconverged.yaml"),
        ],
    );
    let dom = loaded_clean(&chromium, &path).dom;
    // every tenant /24 is drawn (in a zoomed /16 track), every range is listed
    for i in [0usize, 255, 256, 999] {
        let cidr = format!("10.{}.{}.0/24", 60 + i / 256, i % 256);
        assert!(dom.contains(&format!(r#"<g class="range n" data-cidr="{cidr}">"#)), "{cidr} drawn");
        assert!(dom.contains(&format!("NAD tenant-{}/net-{i}", i % 50)), "{cidr} owner");
    }
    for w in ["10.60.0.0/16", "10.61.0.0/16", "10.62.0.0/16", "10.63.0.0/16"] {
        assert!(dom.contains(&format!(r#"data-window="{w}""#)), "zoom {w}");
    }
    assert!(count(&dom, r#"<g class="range n" data-cidr="10.6"#) >= 1000);
    assert!(dom.contains(r#"<g class="range n" data-cidr="fd10:0:0:13::/64">"#), "IPv6 NADs drawn");
    assert!(dom.contains(r#"<g class="range n x" data-cidr="192.168.99.128/25">"#));
    assert!(dom.contains("overlap at 192.168.99.128/25: vms/squatter with openshift-cnv/migration-bridge"));
    // the hostile name is text in the DOM: no element came of it
    assert!(dom.contains("tenant-0/&lt;script&gt;alert(1)&lt;/script&gt;"), "name shown as text");
    assert_eq!(count(&dom, "<script"), 0, "no script element");
    let png = dir.path().join("big.png");
    browser::screenshot(&chromium, &path, &png, 1280, 1600);
}

/// A file that cannot be read is an error on the page, as in every other output, and the rest is drawn.
#[test]
fn unreadable_files_are_findings_too() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed\n").unwrap();
    let (code, path) =
        page(dir.path(), "bad", &[&repo("examples/migration-nad.yaml"), bad.to_str().unwrap()]);
    assert_eq!(code, 2, "an unreadable input");
    let html = std::fs::read_to_string(path).unwrap();
    assert!(html.contains("<td>error</td><td><code>input-error</code></td>"), "{html}");
    assert!(html.contains(&format!("<code>{}:1:7</code>", bad.display())), "its file:line:column");
    assert!(html.contains("invalid YAML: unclosed bracket"), "the message");
    assert!(
        html.contains(r#"<g class="range m" data-cidr="192.168.99.0/24">"#),
        "the readable file is drawn"
    );
}

/// No browser needed: the page is one file with nothing fetched from elsewhere.
#[test]
fn the_page_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("nads.yaml");
    std::fs::write(&state, big_cluster(50)).unwrap();
    let (_, path) = page(
        dir.path(),
        "small",
        &["--cluster-state", state.to_str().unwrap(), &repo("examples/migration-nad.yaml")],
    );
    let html = std::fs::read_to_string(path).unwrap();
    for remote in ["http://", "https://", "<script", "<link", "@import", "src="] {
        assert!(!html.contains(remote), "{remote} in the page");
    }
    assert!(html.contains("default-src 'none'"), "a CSP that allows nothing remote");
}

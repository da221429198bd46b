//! `mignet check --strict`, `mignet review` and a running `mignet serve` give the same verdict and
//! the same rule ids on random NetworkAttachmentDefinitions and HyperConvergeds.

mod common;

use common::{
    run,
    server::{Server, client, example_state, post, review},
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use serde_json::{Map, Value, json};

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &[T]) -> impl Strategy<Value = T> + use<T> {
    prop::sample::select(items.to_vec())
}

/// A field that is absent (`None`), or one of the values given.
fn maybe(items: &[Value]) -> impl Strategy<Value = Option<Value>> + use<> {
    prop::option::weighted(0.8, pick(items))
}

fn ranges() -> Vec<Value> {
    [
        "192.168.99.0/24",
        "192.168.98.0/24",
        "192.168.99.128/25",
        "192.168.98.10-192.168.98.200/24",
        "192.168.98.200-192.168.98.10/24",
        "192.168.97.0/30",
        "192.168.96.0/31",
        "10.129.64.0/24",
        "172.30.5.0/24",
        "127.0.0.0/24",
        "0.0.0.0/0",
        "::/0",
        "fd00:99::/120",
        "fd00:98::/64",
        "192.168.95.7/24",
        "nope",
    ]
    .map(Value::from)
    .to_vec()
}

fn cni_config() -> impl Strategy<Value = String> {
    let ipam = (
        maybe(&["whereabouts", "host-local", "static", ""].map(Value::from)),
        maybe(&ranges()),
        prop::option::weighted(0.3, prop::collection::vec(pick(&ranges()), 0..3)),
        maybe(&["192.168.98.0/28", "192.168.99.1", "10.0.0.0/8", "x"].map(Value::from)),
        maybe(&["192.168.98.1", "192.168.99.1", "fd00:99::1", "gw"].map(Value::from)),
    )
        .prop_map(|(kind, range, ip_ranges, exclude, gateway)| {
            let mut ipam = Map::new();
            kind.map(|v| ipam.insert("type".into(), v));
            range.map(|v| ipam.insert("range".into(), v));
            if let Some(list) = ip_ranges {
                ipam.insert("ipRanges".into(), list.into_iter().map(|r| json!({"range": r})).collect());
            }
            exclude.map(|v| ipam.insert("exclude".into(), json!([v])));
            gateway.map(|v| ipam.insert("gateway".into(), v));
            Value::Object(ipam)
        });
    let plugin = (
        maybe(&["macvlan", "bridge", ""].map(Value::from)),
        maybe(
            &["bond2", "bond3", "lo", "br-ex", "eth0.100", "br-ex.7", "a-very-long-interface-name", "bönd"]
                .map(Value::from),
        ),
        maybe(&["bridge", "passthru", "vepa", "passthrough"].map(Value::from)),
        maybe(&[json!(9000), json!(0), json!(50), json!("1500"), json!(1.5), json!(70000)]),
        prop::option::weighted(0.9, ipam),
    )
        .prop_map(|(kind, master, mode, mtu, ipam)| {
            let mut p = Map::new();
            kind.map(|v| p.insert("type".into(), v));
            master.map(|v| p.insert("master".into(), v));
            mode.map(|v| p.insert("mode".into(), v));
            mtu.map(|v| p.insert("mtu".into(), v));
            ipam.map(|v| p.insert("ipam".into(), v));
            Value::Object(p)
        });
    let version = maybe(&["0.3.1", "1.0.0", "0.5.0"].map(Value::from));
    (version, plugin, 0u8..10).prop_map(|(version, plugin, shape)| {
        let mut root = match shape {
            0 => return "{not json".to_owned(),
            1 => return String::new(),
            2 | 3 => json!({"plugins": [plugin, {"type": "tuning"}]}),
            _ => plugin,
        };
        if let (Some(v), Some(root)) = (version, root.as_object_mut()) {
            root.insert("cniVersion".into(), v);
        }
        root.to_string()
    })
}

fn nad() -> impl Strategy<Value = Value> {
    (
        pick(&["migration-bridge", "migration-two", "tenant-net", "migration-网络"]),
        pick(&["openshift-cnv", "vms", "default"]),
        maybe(&["true", "false", "yes"].map(Value::from)),
        cni_config(),
    )
        .prop_map(|(name, namespace, label, config)| {
            let mut nad = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": namespace}, "spec": {"config": config}});
            if let Some(label) = label {
                nad["metadata"]["labels"] = json!({"mignet.io/live-migration": label});
            }
            nad
        })
}

fn hyperconverged() -> impl Strategy<Value = Value> {
    let int = || maybe(&[json!(150), json!(0), json!(-1), json!(10), json!(1.5), json!("150"), json!(1e30)]);
    (
        any::<bool>(),
        pick(&["openshift-cnv", "default"]),
        maybe(
            &["migration-bridge", "missing-nad", "openshift-cnv/migration-bridge", "Bad_Name"]
                .map(Value::from),
        ),
        (int(), int(), int(), int()),
        maybe(&["64Mi", "512Ki", "0", "-64Mi", "fast"].map(Value::from)),
    )
        .prop_map(|(v1, namespace, network, (c, p, m, o), bandwidth)| {
            let mut lm = Map::new();
            network.map(|v| lm.insert("network".into(), v));
            c.map(|v| lm.insert("completionTimeoutPerGiB".into(), v));
            p.map(|v| lm.insert("progressTimeout".into(), v));
            m.map(|v| lm.insert("parallelMigrationsPerCluster".into(), v));
            o.map(|v| lm.insert("parallelOutboundMigrationsPerNode".into(), v));
            bandwidth.map(|v| lm.insert("bandwidthPerMigration".into(), v));
            let (api, spec) = if v1 {
                ("hco.kubevirt.io/v1", json!({"virtualization": {"liveMigrationConfig": lm}}))
            } else {
                ("hco.kubevirt.io/v1beta1", json!({"liveMigrationConfig": lm}))
            };
            json!({"apiVersion": api, "kind": "HyperConverged",
                   "metadata": {"name": "kubevirt-hyperconverged", "namespace": namespace}, "spec": spec})
        })
}

fn object() -> impl Strategy<Value = Value> {
    prop_oneof![3 => nad(), 2 => hyperconverged()]
}

fn with_state(mut args: Vec<String>, last: &str) -> Vec<String> {
    args.extend(example_state());
    args.push(last.to_owned());
    args
}

/// Judges one object three ways and compares; returns the rule ids denied, to see what was covered.
fn compare(
    object: &Value,
    server: &Server,
    http: &reqwest::Client,
    rt: &tokio::runtime::Runtime,
) -> Result<Vec<String>, TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("object.json");
    std::fs::write(&file, object.to_string()).unwrap();
    let args = with_state(
        ["check", "--strict", "--output", "json"].map(String::from).to_vec(),
        file.to_str().unwrap(),
    );
    let (code, out, err) = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), None);
    let report: Value =
        serde_json::from_str(&out).map_err(|e| TestCaseError::fail(format!("check: {e}: {err}")))?;
    let result = &report["results"][0];
    let mut check_rules: Vec<&str> =
        result["denials"].as_array().unwrap().iter().map(|d| d["rule"].as_str().unwrap()).collect();
    check_rules.dedup();
    prop_assert_eq!(code, if result["allowed"] == true { 0 } else { 1 });

    let body = review("u-prop", "CREATE", object, &Value::Null, false);
    let (status, served, _) = rt.block_on(post(http, &server.url("/validate"), &body));
    prop_assert_eq!(status, 200, "{}", served);
    let response = &served["response"];
    prop_assert_eq!(&response["allowed"], &result["allowed"], "check and server: {}", served);
    let audit = response["auditAnnotations"]["denied-rules"].as_str().unwrap_or_default();
    prop_assert_eq!(audit, check_rules.join(","), "same rules");

    let args = with_state(vec!["review".into()], "-");
    let (code, replayed, err) =
        run(&args.iter().map(String::as_str).collect::<Vec<_>>(), Some(&body.to_string()));
    let replayed: Value =
        serde_json::from_str(&replayed).map_err(|e| TestCaseError::fail(format!("review: {e}: {err}")))?;
    prop_assert_eq!(&replayed, &served, "review and server");
    prop_assert_eq!(code, if response["allowed"] == true { 0 } else { 1 });
    Ok(check_rules.into_iter().map(String::from).collect())
}

#[test]
fn check_review_and_server_agree_on_random_objects() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start(&example_state());
    let http = client(&server.ca(), false);
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let seen = std::sync::Mutex::new((0, std::collections::BTreeSet::new()));
    runner
        .run(&object(), |object| {
            let rules = compare(&object, &server, &http, &rt)?;
            let mut seen = seen.lock().unwrap();
            seen.0 += usize::from(rules.is_empty());
            seen.1.extend(rules);
            Ok(())
        })
        .unwrap();
    // the generator reaches both verdicts and many rules, or the agreement says little
    let (allowed, rules) = seen.into_inner().unwrap();
    assert!(allowed > 0 && rules.len() >= 10, "{allowed} allowed; rules denied: {rules:?}");
}

//! The mutating webhook's defaults patch on random HyperConverged objects: it only adds, applies,
//! never touches a value a user wrote, and applying it leaves nothing more to add.

use mignet::policy::{HcDefaults, HcVersion, defaults::patch};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const FIELDS: [&str; 4] = [
    "completionTimeoutPerGiB",
    "progressTimeout",
    "parallelMigrationsPerCluster",
    "parallelOutboundMigrationsPerNode",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z0-9]{0,6}".prop_map(Value::from),
        Just(json!([1, "x"])),
    ]
}

/// `None` is an absent key; objects get the keys that matter plus noise.
fn node(keys: &'static [&'static str], inner: BoxedStrategy<Option<Value>>) -> BoxedStrategy<Option<Value>> {
    let object =
        (prop::collection::vec(inner, keys.len()), prop::collection::btree_map("[a-z]{1,4}", scalar(), 0..3))
            .prop_map(move |(values, noise)| {
                let mut map: Map<String, Value> = noise.into_iter().collect();
                for (k, v) in keys.iter().zip(values) {
                    match v {
                        Some(v) => map.insert((*k).to_owned(), v),
                        None => map.remove(*k),
                    };
                }
                Some(Value::Object(map))
            });
    prop_oneof![1 => Just(None), 1 => scalar().prop_map(Some), 4 => object].boxed()
}

fn live_migration_config() -> BoxedStrategy<Option<Value>> {
    let field = prop_oneof![2 => Just(None), 1 => scalar().prop_map(Some), 1 => (0i64..1000).prop_map(|n| Some(n.into()))];
    node(&FIELDS, field.boxed())
}

fn hyperconverged() -> impl Strategy<Value = Value> {
    let virtualization = node(&["liveMigrationConfig"], live_migration_config());
    let spec_inner = prop_oneof![live_migration_config(), virtualization].boxed();
    let spec =
        (live_migration_config(), node(&["liveMigrationConfig"], live_migration_config()), any::<u8>())
            .prop_map(|(lm, virt, pick)| {
                let mut spec = Map::new();
                if pick % 3 != 1 {
                    lm.map(|v| spec.insert("liveMigrationConfig".into(), v));
                }
                if pick % 3 != 0 {
                    virt.map(|v| spec.insert("virtualization".into(), v));
                }
                Some(Value::Object(spec))
            });
    let spec = prop_oneof![1 => Just(None), 1 => scalar().prop_map(Some), 1 => spec_inner, 5 => spec];
    spec.prop_map(|spec| {
        let mut hc = json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
                            "metadata": {"name": "kubevirt-hyperconverged", "namespace": "openshift-cnv"}});
        if let Some(spec) = spec {
            hc["spec"] = spec;
        }
        hc
    })
}

fn defaults() -> impl Strategy<Value = HcDefaults> {
    (0i64..10_000, 0i64..10_000, 1u32..100, 1u32..100).prop_map(|(c, p, m, o)| HcDefaults {
        completion_timeout_per_gib: c,
        progress_timeout: p,
        parallel_migrations_per_cluster: m,
        parallel_outbound_migrations_per_node: o,
    })
}

/// JSON pointers of every non-object value (arrays count as values), with the value.
fn leaves(v: &Value, at: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                leaves(child, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        other => out.push((at, other.clone())),
    }
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_patch_only_adds_and_is_idempotent(hc in hyperconverged(), v1 in any::<bool>(), defaults in defaults()) {
        let version = if v1 { HcVersion::V1 } else { HcVersion::V1Beta1 };
        let p = patch(&hc, version, &defaults);
        for op in &p.0 {
            let json_patch::PatchOperation::Add(add) = op else {
                return Err(TestCaseError::fail(format!("not an add: {op:?}")));
            };
            // only absent or null places are written
            let before = hc.pointer(add.path.as_str());
            prop_assert!(before.is_none_or(Value::is_null), "{} overwrites {:?}", add.path, before);
        }
        let mut patched = hc.clone();
        json_patch::patch(&mut patched, &p).map_err(|e| TestCaseError::fail(format!("{e}: {hc}")))?;
        // re-patching the patched object adds nothing
        prop_assert!(patch(&patched, version, &defaults).0.is_empty(), "{}", patched);
        // every value the user wrote is still there, unchanged (null counts as absent)
        let mut written = Vec::new();
        leaves(&hc, String::new(), &mut written);
        for (pointer, value) in written.into_iter().filter(|(_, v)| !v.is_null()) {
            prop_assert_eq!(patched.pointer(&pointer), Some(&value), "{}", pointer);
        }
        // a non-empty patch completes the settings with the policy's values
        if !p.0.is_empty() {
            let lm = at(&patched, version.path()).and_then(Value::as_object);
            prop_assert!(lm.is_some(), "{}", patched);
            let want = [
                json!(defaults.completion_timeout_per_gib),
                json!(defaults.progress_timeout),
                json!(defaults.parallel_migrations_per_cluster),
                json!(defaults.parallel_outbound_migrations_per_node),
            ];
            for (field, default) in FIELDS.iter().zip(want) {
                let before = at(&hc, version.path()).and_then(|lm| lm.get(field)).filter(|v| !v.is_null());
                let after = lm.and_then(|lm| lm.get(*field));
                prop_assert_eq!(after, Some(before.unwrap_or(&default)), "{}", field);
            }
        }
    }

    #[test]
    fn the_patch_is_empty_only_when_nothing_can_be_added(hc in hyperconverged(), v1 in any::<bool>()) {
        let version = if v1 { HcVersion::V1 } else { HcVersion::V1Beta1 };
        let p = patch(&hc, version, &HcDefaults::default());
        let lost_layout = !v1 && hc.pointer("/spec/virtualization").is_some_and(|v| !v.is_null());
        let path = version.path();
        let blocked = (1..=path.len()).any(|n| at(&hc, &path[..n]).is_some_and(|v| !v.is_null() && !v.is_object()));
        let complete = at(&hc, path).and_then(Value::as_object).is_some_and(|lm| {
            FIELDS.iter().all(|f| lm.get(*f).is_some_and(|v| !v.is_null()))
        });
        prop_assert_eq!(p.0.is_empty(), lost_layout || blocked || complete, "{}", hc);
    }
}

//! The mutating half: fill in absent live-migration settings, never touching what a user wrote.

use json_patch::{AddOperation, Patch, PatchOperation, jsonptr::PointerBuf};
use serde_json::{Map, Value, json};

use super::{HcVersion, file::HcDefaults};

/// The `add` operations that give every absent field its default, creating absent parents whole.
///
/// Applying the result and calling this again yields an empty patch. A present non-object parent
/// is left alone (the validating rules report it), and so is a v1beta1 object in the v1 layout.
pub fn patch(data: &Value, version: HcVersion, defaults: &HcDefaults) -> Patch {
    if super::hco::lost_settings_layout(data, version) {
        return Patch::default();
    }
    let fields = [
        ("completionTimeoutPerGiB", json!(defaults.completion_timeout_per_gib)),
        ("progressTimeout", json!(defaults.progress_timeout)),
        ("parallelMigrationsPerCluster", json!(defaults.parallel_migrations_per_cluster)),
        ("parallelOutboundMigrationsPerNode", json!(defaults.parallel_outbound_migrations_per_node)),
    ];
    let path = version.path();
    let mut at = data;
    for (depth, key) in path.iter().enumerate() {
        match at.get(key) {
            Some(Value::Object(_)) => at = &at[key],
            None | Some(Value::Null) => {
                let mut value =
                    Value::Object(fields.iter().cloned().map(|(k, v)| (k.to_owned(), v)).collect());
                for inner in path[depth + 1..].iter().rev() {
                    value = Value::Object(Map::from_iter([((*inner).to_owned(), value)]));
                }
                return Patch(vec![add(&path[..=depth], value)]);
            }
            Some(_) => return Patch::default(),
        }
    }
    let ops = fields
        .into_iter()
        .filter(|(k, _)| at.get(k).is_none_or(Value::is_null))
        .map(|(k, v)| {
            let mut tokens = path.to_vec();
            tokens.push(k);
            add(&tokens, v)
        })
        .collect();
    Patch(ops)
}

fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path: PointerBuf::from_tokens(tokens.iter().copied()), value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(data: &Value, p: &Patch) -> Value {
        let mut doc = data.clone();
        json_patch::patch(&mut doc, p).unwrap();
        doc
    }

    fn d() -> HcDefaults {
        HcDefaults::default()
    }

    #[test]
    fn fills_absent_fields_only() {
        let data = json!({"spec": {"liveMigrationConfig": {"completionTimeoutPerGiB": 800, "network": "m"}}});
        let p = patch(&data, HcVersion::V1Beta1, &d());
        assert!(p.0.iter().all(|op| matches!(op, PatchOperation::Add(_))));
        let after = apply(&data, &p);
        let lm = &after["spec"]["liveMigrationConfig"];
        assert_eq!(lm["completionTimeoutPerGiB"], 800);
        assert_eq!(lm["network"], "m");
        assert_eq!(lm["progressTimeout"], 150);
        assert_eq!(lm["parallelMigrationsPerCluster"], 5);
        assert_eq!(lm["parallelOutboundMigrationsPerNode"], 1);
        assert_eq!(p.0.len(), 3);
        assert!(patch(&after, HcVersion::V1Beta1, &d()).0.is_empty());
    }

    #[test]
    fn creates_absent_parents() {
        for (data, version) in [
            (json!({}), HcVersion::V1Beta1),
            (json!({"spec": {}}), HcVersion::V1Beta1),
            (json!({"spec": null}), HcVersion::V1Beta1),
            (json!({"spec": {}}), HcVersion::V1),
            (json!({"spec": {"virtualization": {}}}), HcVersion::V1),
        ] {
            let p = patch(&data, version, &d());
            assert_eq!(p.0.len(), 1, "{data}");
            let after = apply(&data, &p);
            let lm = super::super::object::get(&after, version.path()).unwrap();
            assert_eq!(lm["progressTimeout"], 150, "{data}");
            assert!(patch(&after, version, &d()).0.is_empty());
        }
    }

    #[test]
    fn null_fields_count_as_absent() {
        let data = json!({"spec": {"liveMigrationConfig": {"progressTimeout": null}}});
        let after = apply(&data, &patch(&data, HcVersion::V1Beta1, &d()));
        assert_eq!(after["spec"]["liveMigrationConfig"]["progressTimeout"], 150);
    }

    #[test]
    fn leaves_wrong_types_and_lost_layout_alone() {
        assert!(patch(&json!({"spec": {"liveMigrationConfig": "x"}}), HcVersion::V1Beta1, &d()).0.is_empty());
        assert!(patch(&json!({"spec": 7}), HcVersion::V1Beta1, &d()).0.is_empty());
        let v1_layout = json!({"spec": {"virtualization": {"liveMigrationConfig": {}}}});
        assert!(patch(&v1_layout, HcVersion::V1Beta1, &d()).0.is_empty());
    }

    #[test]
    fn uses_policy_values() {
        let custom = HcDefaults { completion_timeout_per_gib: 800, progress_timeout: 300, ..d() };
        let after = apply(&json!({}), &patch(&json!({}), HcVersion::V1Beta1, &custom));
        assert_eq!(after["spec"]["liveMigrationConfig"]["completionTimeoutPerGiB"], 800);
        assert_eq!(after["spec"]["liveMigrationConfig"]["progressTimeout"], 300);
    }
}

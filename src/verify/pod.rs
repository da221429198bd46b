//! What a virt-handler pod tells about its migration interface: Multus's network-status annotation
//! (which networks it attached, on which interface, with which addresses) and whether the pod is Ready.

use std::net::IpAddr;

use kube::core::DynamicObject;
use serde_json::Value;

use crate::policy::object;

/// The annotation Multus writes with every attachment it made.
pub const NETWORK_STATUS: &str = "k8s.v1.cni.cncf.io/network-status";
/// The name older Multus releases wrote the same list under.
const OLD_NETWORK_STATUS: &str = "k8s.v1.cni.cncf.io/networks-status";
/// The annotation virt-operator sets to request the migration network (`<network>@migration0`).
pub const NETWORKS: &str = "k8s.v1.cni.cncf.io/networks";
/// The interface virt-handler looks for; without it, it migrates over the pod network.
pub const MIGRATION_INTERFACE: &str = "migration0";

/// One network Multus attached to the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `namespace/nad` as Multus writes it.
    pub name: String,
    pub interface: Option<String>,
    pub ips: Vec<IpAddr>,
}

/// Why the network-status annotation cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("annotation {NETWORK_STATUS} is not valid JSON: {0}")]
    Json(String),
    #[error("annotation {NETWORK_STATUS} must be a JSON array of attachments")]
    NotArray,
    #[error("annotation {NETWORK_STATUS}: entry {index} {problem}")]
    Entry { index: usize, problem: &'static str },
}

fn annotation<'a>(obj: &'a DynamicObject, key: &str) -> Option<&'a str> {
    obj.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The pod's attachments; `Ok(None)` when Multus has written no status.
pub fn attachments(obj: &DynamicObject) -> Result<Option<Vec<Attachment>>, StatusError> {
    let Some(text) = annotation(obj, NETWORK_STATUS).or_else(|| annotation(obj, OLD_NETWORK_STATUS)) else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(text).map_err(|e| StatusError::Json(e.to_string()))?;
    let Value::Array(entries) = value else { return Err(StatusError::NotArray) };
    entries.iter().enumerate().map(|(index, e)| attachment(index, e)).collect::<Result<_, _>>().map(Some)
}

fn attachment(index: usize, entry: &Value) -> Result<Attachment, StatusError> {
    let problem = |problem| StatusError::Entry { index, problem };
    let Value::Object(map) = entry else { return Err(problem("is not an object")) };
    let name = map.get("name").and_then(Value::as_str).ok_or_else(|| problem("has no \"name\""))?;
    let interface = map.get("interface").and_then(Value::as_str).map(str::to_owned);
    let ips = match map.get("ips") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ips)) => ips.iter().filter_map(Value::as_str).filter_map(parse_ip).collect(),
        Some(_) => return Err(problem("has \"ips\" that is not a list")),
    };
    Ok(Attachment { name: name.to_owned(), interface, ips })
}

/// An address as Multus or KubeVirt writes it: bare, with a prefix length, or in brackets.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let bare = text.trim().trim_start_matches('[').trim_end_matches(']');
    let bare = bare.split_once('/').map_or(bare, |(ip, _)| ip);
    bare.parse().ok()
}

/// The networks the pod asked Multus for, as written.
pub fn requested(obj: &DynamicObject) -> Option<&str> {
    annotation(obj, NETWORKS)
}

/// The node the pod runs on, `-` before it is scheduled.
pub fn node(obj: &DynamicObject) -> &str {
    object::get(&obj.data, &["spec", "nodeName"]).and_then(Value::as_str).unwrap_or("-")
}

/// `Ok` when the pod is Ready; otherwise what its status says instead (phase, waiting reasons).
pub fn readiness(obj: &DynamicObject) -> Result<(), String> {
    let status = obj.data.get("status");
    let conditions = status.and_then(|s| s.get("conditions")).and_then(Value::as_array);
    let ready = conditions
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str);
    if ready == Some("True") {
        return Ok(());
    }
    let phase = status.and_then(|s| s.get("phase")).and_then(Value::as_str).unwrap_or("unknown");
    let mut why = format!("not Ready (phase {phase}");
    let containers = status.and_then(|s| s.get("containerStatuses")).and_then(Value::as_array);
    for c in containers.into_iter().flatten() {
        let waiting = c.pointer("/state/waiting/reason").and_then(Value::as_str);
        if let Some(reason) = waiting {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
            why.push_str(&format!(", container {name} {reason}"));
        }
    }
    why.push(')');
    Err(why)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(annotations: Value, status: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "virt-handler-x", "annotations": annotations},
            "spec": {"nodeName": "worker-0"},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn reads_multus_network_status() {
        let status = r#"[{"name":"ovn-kubernetes","interface":"eth0","ips":["10.128.2.7"],"default":true},
            {"name":"openshift-cnv/migration-bridge","interface":"migration0","ips":["192.168.99.10","fd00::a/64"],
             "mac":"0a:58:c0:a8:63:0a","dns":{}}]"#;
        let a = attachments(&pod(json!({ NETWORK_STATUS: status }), json!({}))).unwrap().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].name, "openshift-cnv/migration-bridge");
        assert_eq!(a[1].interface.as_deref(), Some("migration0"));
        assert_eq!(a[1].ips, vec!["192.168.99.10".parse::<IpAddr>().unwrap(), "fd00::a".parse().unwrap()]);
    }

    #[test]
    fn old_annotation_name_is_read_too() {
        let status = r#"[{"name":"cnv/m","interface":"migration0","ips":["192.168.99.10"]}]"#;
        let a = attachments(&pod(json!({ OLD_NETWORK_STATUS: status }), json!({}))).unwrap().unwrap();
        assert_eq!(a[0].name, "cnv/m");
    }

    #[test]
    fn missing_and_broken_annotations() {
        assert_eq!(attachments(&pod(json!({}), json!({}))).unwrap(), None);
        let bad = |s: &str| attachments(&pod(json!({ NETWORK_STATUS: s }), json!({}))).unwrap_err();
        assert!(matches!(bad("[{"), StatusError::Json(_)));
        assert_eq!(bad("{}"), StatusError::NotArray);
        assert_eq!(bad("[3]"), StatusError::Entry { index: 0, problem: "is not an object" });
        assert_eq!(
            bad(r#"[{"interface":"eth0"}]"#),
            StatusError::Entry { index: 0, problem: "has no \"name\"" }
        );
        assert!(bad(r#"[{"name":"a","ips":"10.0.0.1"}]"#).to_string().contains("not a list"));
    }

    #[test]
    fn parses_addresses_in_every_written_form() {
        assert_eq!(parse_ip("192.168.99.10"), Some("192.168.99.10".parse().unwrap()));
        assert_eq!(parse_ip("192.168.99.10/24"), Some("192.168.99.10".parse().unwrap()));
        assert_eq!(parse_ip("[fd00::1]"), Some("fd00::1".parse().unwrap()));
        assert_eq!(parse_ip("pod-network"), None);
    }

    #[test]
    fn readiness_explains_what_is_wrong() {
        let ready = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(readiness(&pod(json!({}), ready)), Ok(()));
        let crashing = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "virt-handler", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
        assert_eq!(
            readiness(&pod(json!({}), crashing)),
            Err("not Ready (phase Running, container virt-handler CrashLoopBackOff)".into())
        );
        assert_eq!(readiness(&pod(json!({}), json!(null))), Err("not Ready (phase unknown)".into()));
        assert_eq!(node(&pod(json!({}), json!({}))), "worker-0");
    }
}

//! Synthetic cluster state for scale runs: tenant NADs on distinct subnets and virt-handler nodes, as
//! a JSON stream or a `List` (as `oc get -o json` prints) that `mignet serve --cluster off
//! --cluster-state FILE.json` reads.

use std::io::{self, Write};

use serde_json::json;

/// Distinct /27 subnets in 10.64.0.0/10 (the block tenant NADs are spread over); past this many NADs
/// the ranges repeat, as re-used subnets of different namespaces do.
pub const DISTINCT_RANGES: usize = 1 << 17;

/// Namespaces the tenant NADs are spread over.
pub const NAMESPACES: usize = 500;

/// The subnet of the `i`-th tenant NAD: never overlaps the reference migration subnet
/// (192.168.99.0/24) nor the default cluster networks.
pub fn tenant_range(i: usize) -> String {
    let offset = u32::try_from(i % DISTINCT_RANGES).unwrap_or(0) * 32;
    let addr = std::net::Ipv4Addr::from(0x0A40_0000u32 + offset);
    format!("{addr}/27")
}

/// How the objects are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON object per line.
    Stream,
    /// One `List` object with the objects as `items`, keys in the order `oc get -o json` prints them.
    List,
}

/// Writes `nads` tenant NADs and `nodes` virt-handler nodes.
pub fn write(out: &mut impl Write, nads: usize, nodes: usize, shape: Shape) -> io::Result<()> {
    let (open, between, close): (&[u8], &[u8], &[u8]) = match shape {
        Shape::Stream => (b"", b"\n", b"\n"),
        Shape::List => {
            (b"{\"apiVersion\":\"v1\",\"items\":[\n", b",\n", b"\n],\"kind\":\"List\",\"metadata\":{}}\n")
        }
    };
    out.write_all(open)?;
    let mut first = true;
    let mut put = |out: &mut dyn Write, object: &serde_json::Value| -> io::Result<()> {
        if !std::mem::take(&mut first) {
            out.write_all(between)?;
        }
        serde_json::to_writer(&mut *out, object).map_err(io::Error::from)
    };
    for i in 0..nads {
        let name = format!("net-{i}");
        let config = json!({
            "cniVersion": "0.3.1", "name": name, "type": "macvlan", "master": "bond1", "mode": "bridge",
            "ipam": {"type": "whereabouts", "range": tenant_range(i)}
        });
        let nad = json!({
            "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
            "metadata": {"name": name, "namespace": format!("tenant-{}", i % NAMESPACES),
                         "uid": format!("00000000-0000-4000-8000-{i:012}"), "resourceVersion": (1000 + i).to_string()},
            "spec": {"config": config.to_string()}
        });
        put(out, &nad)?;
    }
    for i in 0..nodes {
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("worker-{i}"), "labels": {"kubevirt.io/schedulable": "true"}}
        });
        put(out, &node)?;
    }
    if !first || shape == Shape::List {
        out.write_all(close)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::Value;

    use super::*;

    #[test]
    fn ranges_are_distinct_and_inside_the_tenant_block() {
        assert_eq!(tenant_range(0), "10.64.0.0/27");
        assert_eq!(tenant_range(1), "10.64.0.32/27");
        assert_eq!(tenant_range(DISTINCT_RANGES - 1), "10.127.255.224/27");
        assert_eq!(tenant_range(DISTINCT_RANGES), tenant_range(0));
        let distinct: HashSet<String> = (0..100_000).map(tenant_range).collect();
        assert_eq!(distinct.len(), 100_000);
    }

    #[test]
    fn writes_one_object_per_line() {
        let mut out = Vec::new();
        write(&mut out, 3, 2, Shape::Stream).unwrap();
        let lines: Vec<Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[2]["metadata"]["name"], "net-2");
        assert_eq!(lines[2]["metadata"]["namespace"], "tenant-2");
        let config: Value = serde_json::from_str(lines[2]["spec"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(config["ipam"]["range"], "10.64.0.64/27");
        assert_eq!(lines[4]["kind"], "Node");
        assert_eq!(lines[4]["metadata"]["labels"]["kubevirt.io/schedulable"], "true");
    }

    #[test]
    fn a_list_holds_the_same_objects_as_the_stream() {
        let mut stream = Vec::new();
        write(&mut stream, 3, 2, Shape::Stream).unwrap();
        let mut list = Vec::new();
        write(&mut list, 3, 2, Shape::List).unwrap();
        let list: Value = serde_json::from_slice(&list).unwrap();
        assert_eq!(list["kind"], "List");
        let objects: Vec<Value> =
            String::from_utf8(stream).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(list["items"].as_array().unwrap(), &objects);
        let mut empty = Vec::new();
        write(&mut empty, 0, 0, Shape::List).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&empty).unwrap()["items"], serde_json::json!([]));
        let mut none = Vec::new();
        write(&mut none, 0, 0, Shape::Stream).unwrap();
        assert!(none.is_empty());
    }
}

//! Synthetic cluster state for scale runs: tenant NADs on distinct subnets and virt-handler nodes, as
//! a JSON stream that `mignet serve --cluster off --cluster-state FILE.json` reads.

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

/// Writes `nads` tenant NADs and `nodes` virt-handler nodes, one JSON object per line.
pub fn write(out: &mut impl Write, nads: usize, nodes: usize) -> io::Result<()> {
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
        serde_json::to_writer(&mut *out, &nad)?;
        out.write_all(b"\n")?;
    }
    for i in 0..nodes {
        let node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("worker-{i}"), "labels": {"kubevirt.io/schedulable": "true"}}
        });
        serde_json::to_writer(&mut *out, &node)?;
        out.write_all(b"\n")?;
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
        write(&mut out, 3, 2).unwrap();
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
}

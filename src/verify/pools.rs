//! The migration NAD's address ranges and how many addresses each can hand out, so addresses seen on
//! pods and VMIs can be placed on (or off) the migration network and counted against its capacity.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::policy::{cni, ranges};

/// One range of the migration network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The network addresses come from (host bits masked).
    pub cidr: IpNet,
    /// Where the range is written in the NAD (`spec.config.ipam.range`).
    pub field: String,
    /// Addresses it can hand out: for whereabouts, exactly what `ranges::allocatable` finds; for other
    /// IPAM kinds, what host-local hands out by default.
    pub usable: u128,
}

impl Pool {
    /// Whether an address belongs to this range's network.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.cidr.contains(ip)
    }
}

/// Every range of a NAD config: whereabouts `range` and `ipRanges` with their bounds and excludes,
/// and the networks of other IPAM kinds (host-local, static) counted whole. Lenient: reads what parses.
pub fn pools(config: &str) -> Vec<Pool> {
    let Ok(root) = serde_json::from_str::<Value>(config) else { return Vec::new() };
    let mut out = Vec::new();
    for (base, ipam) in ipams(&root) {
        if ipam.get("range").is_some_and(Value::is_string) {
            out.extend(whereabouts(ipam, &base));
        }
        let entries = ipam.get("ipRanges").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (i, entry) in entries.iter().enumerate() {
            out.extend(whereabouts(entry, &format!("{base}.ipRanges[{i}]")));
        }
    }
    for claim in cni::claimed_ranges_at(config) {
        if !claim.field.ends_with(".range") {
            out.push(Pool { cidr: claim.net, usable: host_local_default(&claim.net), field: claim.field });
        }
    }
    out
}

/// The first range whose network holds the address.
pub fn find<'a>(pools: &'a [Pool], ip: &IpAddr) -> Option<&'a Pool> {
    pools.iter().find(|p| p.contains(ip))
}

/// The ranges as a person reads them: `192.168.99.0/24, fd00:99::/64`.
pub fn describe(pools: &[Pool]) -> String {
    pools.iter().map(|p| p.cidr.to_string()).collect::<Vec<_>>().join(", ")
}

/// The `ipam` objects of a config or conflist, with their field paths.
fn ipams(root: &Value) -> Vec<(String, &Value)> {
    match root.get("plugins").and_then(Value::as_array) {
        Some(plugins) => plugins
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.get("ipam").map(|ipam| (format!("spec.config.plugins[{i}].ipam"), ipam)))
            .collect(),
        None => root.get("ipam").map(|ipam| ("spec.config.ipam".to_owned(), ipam)).into_iter().collect(),
    }
}

/// One whereabouts range held by `holder` (the ipam block or an `ipRanges` entry).
fn whereabouts(holder: &Value, base: &str) -> Option<Pool> {
    let alloc = ranges::read_entry(holder.as_object()?)?;
    Some(Pool { cidr: alloc.net(), field: format!("{base}.range"), usable: alloc.count() })
}

/// What host-local hands out from a subnet without `rangeStart`/`rangeEnd`: network + 1 to the last
/// address, the IPv4 broadcast address left out (containernetworking/plugins `Range.Canonicalize`).
fn host_local_default(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let size = 1u128.checked_shl(host_bits).unwrap_or(0).wrapping_sub(1); // addresses − 1, saturated
    match net {
        IpNet::V4(_) => size.saturating_sub(1),
        IpNet::V6(_) => size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(config: &str) -> (String, u128) {
        let p = pools(config);
        assert_eq!(p.len(), 1, "{p:?}");
        (p[0].cidr.to_string(), p[0].usable)
    }

    #[test]
    fn plain_cidr_counts_every_host() {
        let c = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;
        assert_eq!(one(c), ("192.168.99.0/24".into(), 254));
        assert_eq!(pools(c)[0].field, "spec.config.ipam.range");
    }

    #[test]
    fn bounds_and_excludes_shrink_the_pool() {
        let c = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"192.168.99.0/24",
            "range_start":"192.168.99.10","range_end":"192.168.99.19","exclude":["192.168.99.15/32"]}}"#;
        assert_eq!(one(c), ("192.168.99.0/24".into(), 9));
        let span = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"10.1.0.10-10.1.0.20/24"}}"#;
        assert_eq!(one(span), ("10.1.0.0/24".into(), 11));
        let v6 = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"fd00:99::/125","exclude":["fd00:99::1"]}}"#;
        assert_eq!(one(v6), ("fd00:99::/125".into(), 5));
    }

    #[test]
    fn bounds_outside_the_range_are_ignored() {
        let c = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"192.168.99.0/24",
            "range_start":"10.0.0.1","range_end":"nonsense"}}"#;
        assert_eq!(one(c), ("192.168.99.0/24".into(), 254));
    }

    #[test]
    fn ip_ranges_and_conflists() {
        let c = r#"{"cniVersion":"1.0.0","plugins":[{"type":"macvlan","ipam":{"type":"whereabouts",
            "ipRanges":[{"range":"192.168.99.0/28"},{"range":"fd00:99::/120"}]}},{"type":"tuning"}]}"#;
        let p = pools(c);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].field, "spec.config.plugins[0].ipam.ipRanges[0].range");
        assert_eq!(p[0].usable, 14);
        // whereabouts leaves out the first and the all-ones address of IPv6 ranges too
        assert_eq!(p[1].usable, 254);
        assert_eq!(describe(&p), "192.168.99.0/28, fd00:99::/120");
        assert_eq!(find(&p, &"fd00:99::5".parse().unwrap()).map(|p| p.usable), Some(254));
        assert!(find(&p, &"192.168.99.200".parse().unwrap()).is_none());
    }

    #[test]
    fn other_ipam_kinds_count_the_whole_network() {
        let c = r#"{"type":"macvlan","ipam":{"type":"host-local","subnet":"10.9.0.0/29"}}"#;
        assert_eq!(one(c), ("10.9.0.0/29".into(), 6));
        // host-local hands out an IPv6 subnet's all-ones address
        let c = r#"{"type":"macvlan","ipam":{"type":"host-local","subnet":"fd09::/125"}}"#;
        assert_eq!(one(c), ("fd09::/125".into(), 7));
    }

    #[test]
    fn unreadable_configs_have_no_pools() {
        assert!(pools("not json").is_empty());
        assert!(pools(r#"{"type":"macvlan"}"#).is_empty());
        assert!(pools(r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"nope"}}"#).is_empty());
    }
}

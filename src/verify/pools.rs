//! The migration NAD's address ranges and how many addresses each can hand out, so addresses seen on
//! pods and VMIs can be placed on (or off) the migration network and counted against its capacity.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::policy::{
    cni,
    ranges::{self, parse_cidr_or_ip, parse_range},
};

/// One range of the migration network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The network addresses come from (host bits masked).
    pub cidr: IpNet,
    /// Where the range is written in the NAD (`spec.config.ipam.range`).
    pub field: String,
    /// Addresses it can hand out: inside `range_start`/`range_end`, less `exclude`, less IPv4 network
    /// and broadcast addresses.
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
            let (lo, hi) = ranges::bounds(&claim.net);
            out.push(Pool {
                cidr: claim.net,
                field: claim.field,
                usable: ranges::usable(&claim.net, lo, hi, &[]),
            });
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
    let range = parse_range(holder.get("range")?.as_str()?).ok()?;
    let cidr = range.cidr();
    let (mut lo, mut hi) = match range.span {
        Some((start, end)) => (ranges::to_u128(start), ranges::to_u128(end)),
        None => ranges::bounds(&cidr),
    };
    // whereabouts ignores a range_start or range_end outside the range; so do we
    let bound = |key: &str| {
        holder
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
            .filter(|ip| cidr.contains(ip))
    };
    if let Some(start) = bound("range_start") {
        lo = lo.max(ranges::to_u128(start));
    }
    if let Some(end) = bound("range_end") {
        hi = hi.min(ranges::to_u128(end));
    }
    let excludes: Vec<IpNet> = holder
        .get("exclude")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.as_str().and_then(parse_cidr_or_ip))
        .collect();
    Some(Pool { cidr, field: format!("{base}.range"), usable: ranges::usable(&cidr, lo, hi, &excludes) })
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
        assert_eq!(p[1].usable, 256);
        assert_eq!(describe(&p), "192.168.99.0/28, fd00:99::/120");
        assert_eq!(find(&p, &"fd00:99::5".parse().unwrap()).map(|p| p.usable), Some(256));
        assert!(find(&p, &"192.168.99.200".parse().unwrap()).is_none());
    }

    #[test]
    fn other_ipam_kinds_count_the_whole_network() {
        let c = r#"{"type":"macvlan","ipam":{"type":"host-local","subnet":"10.9.0.0/29"}}"#;
        assert_eq!(one(c), ("10.9.0.0/29".into(), 6));
    }

    #[test]
    fn unreadable_configs_have_no_pools() {
        assert!(pools("not json").is_empty());
        assert!(pools(r#"{"type":"macvlan"}"#).is_empty());
        assert!(pools(r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"nope"}}"#).is_empty());
    }
}

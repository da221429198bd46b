//! Address arithmetic for whereabouts ranges: parsing the forms people write and counting what can be handed out.

use std::net::IpAddr;

use ipnet::IpNet;

/// Addresses as integers so IPv4 and IPv6 share one arithmetic.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// First and last address of a network, as integers.
pub fn bounds(net: &IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

/// CIDRs either nest or are disjoint, so overlap is containment one way or the other.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// Whether a network is too small for whereabouts to allocate from (it refuses /31, /32, /127, /128).
pub fn too_small(net: &IpNet) -> bool {
    net.max_prefix_len() - net.prefix_len() < 2
}

/// A whereabouts `range` as written: a CIDR, or `start-end/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhereaboutsRange {
    /// The network as written; host bits kept so they can be reported.
    pub written: IpNet,
    /// Start and end of the `start-end/prefix` form.
    pub span: Option<(IpAddr, IpAddr)>,
}

impl WhereaboutsRange {
    /// The network whereabouts allocates from (host bits masked, as whereabouts does).
    pub fn cidr(&self) -> IpNet {
        self.written.trunc()
    }

    /// Whether a CIDR was written with host bits set (`192.168.99.5/24`).
    pub fn has_host_bits(&self) -> bool {
        self.span.is_none() && self.written.addr() != self.written.network()
    }
}

/// Why a range string is not one whereabouts can use; the text completes "Invalid value: …: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "not a CIDR (like 192.168.99.0/24) or a start-end/prefix range (like 192.168.99.10-192.168.99.200/24)"
    )]
    Syntax,
    #[error("start {0} is not an IP address")]
    Start(String),
    #[error("start {start} is outside {cidr}")]
    StartOutside { start: IpAddr, cidr: IpNet },
    #[error("start {start} is after end {end}")]
    Reversed { start: IpAddr, end: IpAddr },
}

/// Parses a whereabouts range in either accepted form.
pub fn parse_range(text: &str) -> Result<WhereaboutsRange, RangeError> {
    let text = text.trim();
    match text.split_once('-') {
        None => {
            let written: IpNet = text.parse().map_err(|_| RangeError::Syntax)?;
            Ok(WhereaboutsRange { written, span: None })
        }
        Some((start, end_cidr)) => {
            let written: IpNet = end_cidr.trim().parse().map_err(|_| RangeError::Syntax)?;
            let start: IpAddr =
                start.trim().parse().map_err(|_| RangeError::Start(start.trim().to_owned()))?;
            let end = written.addr();
            let cidr = written.trunc();
            if !cidr.contains(&start) {
                return Err(RangeError::StartOutside { start, cidr });
            }
            if to_u128(start) > to_u128(end) {
                return Err(RangeError::Reversed { start, end });
            }
            Ok(WhereaboutsRange { written, span: Some((start, end)) })
        }
    }
}

/// Parses an `exclude` entry, which may be a CIDR or a bare address.
pub fn parse_cidr_or_ip(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The addresses whereabouts hands out from one range entry, as disjoint spans in address order.
///
/// Built by [`allocatable`]; every rule and report that counts or places addresses asks this one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocatable {
    net: IpNet,
    /// Inclusive `(first, last)` spans, sorted, disjoint and not adjacent.
    spans: Vec<(u128, u128)>,
}

impl Allocatable {
    /// The network the range allocates from (host bits masked).
    pub fn net(&self) -> IpNet {
        self.net
    }

    /// The addresses handed out, as inclusive integer spans in address order.
    pub fn spans(&self) -> &[(u128, u128)] {
        &self.spans
    }

    /// How many addresses can be handed out: the most is 2^128 - 2 (`::/0`), so it never overflows.
    pub fn count(&self) -> u128 {
        self.spans.iter().map(|&(a, b)| b - a + 1).sum()
    }

    /// Whether whereabouts can hand `ip` out from this range.
    pub fn hands_out(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != matches!(self.net, IpNet::V4(_)) {
            return false;
        }
        let n = to_u128(ip);
        let i = self.spans.partition_point(|&(_, last)| last < n);
        self.spans.get(i).is_some_and(|&(first, _)| first <= n)
    }
}

/// Which addresses whereabouts hands out from one range entry (`range`, or an `ipRanges` item) with its
/// `range_start`, `range_end` and `exclude`, for both families alike.
///
/// Follows k8snetworkplumbingwg/whereabouts as of its allocator rework (PR #322, 2023: one set of rules
/// for IPv4 and IPv6) and bare-address excludes (PR #365, 2023); older releases treated IPv6 differently:
/// - `pkg/config` `LoadIPAMConfig`: the top-level `range` becomes the first `ipRanges` entry with the
///   top-level `range_start`, `range_end` and `exclude`; a `START-END/PREFIX` range sets start and end
///   itself, replacing any `range_start`/`range_end`; a CIDR's host bits are masked.
/// - `pkg/iphelpers` `GetIPRange`: the walk runs from `FirstUsableIP` (network + 1) to `LastUsableIP`
///   (all-ones address − 1) in both families; `HasUsableIPs` refuses /31, /32, /127 and /128 outright.
///   `range_start` replaces the first address only when it lies between them, then `range_end` replaces
///   the last only when it lies between that first address and the last: anything else is ignored.
/// - `pkg/allocate` `IterateForAssignment`, `skipExcludedSubnets`, `parseExcludedRange`: each address
///   inside an excluded network (a CIDR, or a bare address as /32 or /128) is skipped; an exclude of the
///   other family never matches.
///
/// Not modelled: whereabouts' Go addresses treat IPv4-mapped IPv6 addresses (`::ffff:0:0/96`, which
/// `nad-range-unroutable` refuses) as IPv4, and its walk wraps around past the family's all-ones address,
/// which only a `/0` range excluding its last address reaches.
pub fn allocatable(
    range: &WhereaboutsRange,
    range_start: Option<IpAddr>,
    range_end: Option<IpAddr>,
    exclude: &[IpNet],
) -> Allocatable {
    let net = range.cidr();
    let mut spans = Vec::new();
    if too_small(&net) {
        return Allocatable { net, spans };
    }
    let (start, end) = match range.span {
        Some((start, end)) => (Some(start), Some(end)),
        None => (range_start, range_end),
    };
    let v4 = matches!(net, IpNet::V4(_));
    // Go compares addresses in their 16-byte form: `::ffff:a.b.c.d` is the IPv4 address a.b.c.d
    let same_family = |ip: IpAddr| {
        let ip = ip.to_canonical();
        (ip.is_ipv4() == v4).then(|| to_u128(ip))
    };
    let (network, all_ones) = bounds(&net);
    let (mut first, mut last) = (network + 1, all_ones - 1);
    if let Some(s) = start.and_then(same_family)
        && (first..=last).contains(&s)
    {
        first = s;
    }
    if let Some(e) = end.and_then(same_family)
        && (first..=last).contains(&e)
    {
        last = e;
    }
    let mut cut: Vec<(u128, u128)> = exclude
        .iter()
        .filter(|e| e.max_prefix_len() == net.max_prefix_len())
        .map(|e| bounds(&e.trunc()))
        .filter_map(|(a, b)| {
            let (a, b) = (a.max(first), b.min(last));
            (a <= b).then_some((a, b))
        })
        .collect();
    cut.sort_unstable();
    // `next` is the first address not yet handed out or skipped; it ends at most at last + 1 < 2^128
    let mut next = first;
    for (a, b) in cut {
        if a > next {
            spans.push((next, a - 1));
        }
        next = next.max(b + 1);
    }
    if next <= last {
        spans.push((next, last));
    }
    Allocatable { net, spans }
}

/// Reads one range entry (`range`, or an `ipRanges` item) leniently, for reports on what is already
/// stored: a bound or exclude that does not parse is left out, and an entry without a readable `range`
/// gives `None`.
pub fn read_entry(holder: &serde_json::Map<String, serde_json::Value>) -> Option<Allocatable> {
    use serde_json::Value;
    let range = parse_range(holder.get("range")?.as_str()?).ok()?;
    let addr = |key: &str| holder.get(key).and_then(Value::as_str).and_then(|s| s.trim().parse().ok());
    let exclude: Vec<IpNet> = holder
        .get("exclude")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(parse_cidr_or_ip)
        .collect();
    Some(allocatable(&range, addr("range_start"), addr("range_end"), &exclude))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// What whereabouts hands out from `range` with optional start, end and excludes.
    fn alloc(range: &str, start: Option<&str>, end: Option<&str>, excludes: &[&str]) -> Allocatable {
        let ex: Vec<IpNet> = excludes.iter().map(|e| parse_cidr_or_ip(e).unwrap()).collect();
        allocatable(&parse_range(range).unwrap(), start.map(ip), end.map(ip), &ex)
    }

    fn count(range: &str, excludes: &[&str]) -> u128 {
        alloc(range, None, None, excludes).count()
    }

    #[test]
    fn parses_cidr_and_keeps_host_bits() {
        let r = parse_range("192.168.99.5/24").unwrap();
        assert_eq!(r.cidr(), net("192.168.99.0/24"));
        assert!(r.has_host_bits());
        assert!(!parse_range("192.168.99.0/24").unwrap().has_host_bits());
    }

    #[test]
    fn parses_start_end_form() {
        let r = parse_range("192.168.99.10-192.168.99.200/24").unwrap();
        assert_eq!(r.cidr(), net("192.168.99.0/24"));
        assert_eq!(r.span, Some(("192.168.99.10".parse().unwrap(), "192.168.99.200".parse().unwrap())));
        assert!(!r.has_host_bits());
        let v6 = parse_range("fd00::10-fd00::20/64").unwrap();
        assert_eq!(v6.cidr(), net("fd00::/64"));
    }

    #[test]
    fn rejects_bad_ranges() {
        assert_eq!(parse_range("192.168.99.0"), Err(RangeError::Syntax));
        assert_eq!(parse_range("banana"), Err(RangeError::Syntax));
        assert_eq!(parse_range("x-192.168.99.200/24"), Err(RangeError::Start("x".into())));
        assert!(matches!(
            parse_range("192.168.98.10-192.168.99.200/24"),
            Err(RangeError::StartOutside { .. })
        ));
        assert!(matches!(parse_range("192.168.99.200-192.168.99.10/24"), Err(RangeError::Reversed { .. })));
    }

    #[test]
    fn counts_usable_addresses() {
        assert_eq!(count("192.168.99.0/24", &[]), 254);
        assert_eq!(count("192.168.99.0/30", &[]), 2);
        assert_eq!(count("192.168.99.0/24", &["192.168.99.0/28"]), 254 - 15);
        // overlapping and repeated excludes count once
        assert_eq!(
            count("192.168.99.0/24", &["192.168.99.0/28", "192.168.99.8/29", "192.168.99.1"]),
            254 - 15
        );
        // excludes of other networks or the other family do not count; a wider one takes everything
        assert_eq!(count("192.168.99.0/24", &["10.0.0.0/8", "fd00::1"]), 254);
        assert_eq!(count("192.168.99.0/24", &["192.168.99.0/24"]), 0);
        assert_eq!(count("192.168.99.0/24", &["192.168.98.0/23"]), 0);
        // an exclude with host bits is its whole network
        assert_eq!(count("192.168.99.0/24", &["192.168.99.5/28"]), 254 - 15);
        assert_eq!(count("::/0", &[]), u128::MAX - 1);
        assert_eq!(count("::/0", &["::/1"]), (1u128 << 127) - 1);
    }

    #[test]
    fn ipv6_leaves_out_the_first_and_the_all_ones_address_too() {
        // whereabouts hands out fd00:99::1 to fd00:99::6 from a /125
        let a = alloc("fd00:99::/125", None, None, &[]);
        assert_eq!(a.count(), 6);
        assert_eq!(a.spans(), [(to_u128(ip("fd00:99::1")), to_u128(ip("fd00:99::6")))]);
        assert!(!a.hands_out(ip("fd00:99::")) && !a.hands_out(ip("fd00:99::7")));
        assert!(a.hands_out(ip("fd00:99::1")) && a.hands_out(ip("fd00:99::6")));
        assert_eq!(count("fd00::/120", &[]), 254);
        assert_eq!(count("fd00::/126", &[]), 2);
        assert_eq!(count("fd00::/64", &["fd00::/65"]), (1u128 << 63) - 1);
        assert_eq!(count("fd00::10-fd00::1f/64", &[]), 16);
    }

    #[test]
    fn too_small_networks_hand_out_nothing() {
        for r in ["10.0.0.0/31", "10.0.0.1/32", "fd00::/127", "fd00::1/128"] {
            assert_eq!(alloc(r, None, None, &[]).spans(), [], "{r}");
        }
    }

    #[test]
    fn start_and_end_are_used_only_between_the_first_and_last_usable_addresses() {
        let r = "192.168.99.0/24";
        assert_eq!(alloc(r, Some("192.168.99.10"), Some("192.168.99.19"), &[]).count(), 10);
        assert_eq!(alloc(r, Some("192.168.99.10"), Some("192.168.99.19"), &["192.168.99.15"]).count(), 9);
        // the network and broadcast addresses are ignored rather than clamped: same effect
        assert_eq!(alloc(r, Some("192.168.99.0"), Some("192.168.99.255"), &[]).count(), 254);
        // a start on the broadcast address is ignored, so everything is handed out
        assert_eq!(alloc(r, Some("192.168.99.255"), None, &[]).count(), 254);
        // an end before the start is ignored: from the start to the last usable address
        assert_eq!(alloc(r, Some("192.168.99.200"), Some("192.168.99.100"), &[]).count(), 55);
        // addresses outside the range or of the other family are ignored
        assert_eq!(alloc(r, Some("10.0.0.1"), Some("fd00::1"), &[]).count(), 254);
        // an IPv4-mapped IPv6 address is the IPv4 address, as in Go
        assert_eq!(alloc(r, Some("::ffff:192.168.99.250"), None, &[]).count(), 5);
        let v6 = "fd00:99::/125";
        assert_eq!(alloc(v6, Some("fd00:99::"), Some("fd00:99::7"), &[]).count(), 6);
        assert_eq!(alloc(v6, Some("fd00:99::3"), None, &[]).count(), 4);
    }

    #[test]
    fn the_start_end_form_replaces_range_start_and_range_end() {
        let a = alloc("192.168.99.10-192.168.99.19/24", Some("192.168.99.15"), Some("192.168.99.16"), &[]);
        assert_eq!(a.count(), 10);
        // its bounds follow the same rules: an end on the broadcast address is ignored
        assert_eq!(count("192.168.99.250-192.168.99.255/24", &[]), 5);
        assert_eq!(count("fd00:99::-fd00:99::7/125", &[]), 6);
    }

    #[test]
    fn reads_entries_leniently() {
        let entry = |s: &str| {
            let v: serde_json::Value = serde_json::from_str(s).unwrap();
            read_entry(v.as_object().unwrap()).map(|a| a.count())
        };
        assert_eq!(
            entry(
                r#"{"range":"192.168.99.0/24","range_start":" 192.168.99.10 ","range_end":"192.168.99.19",
                "exclude":["192.168.99.15/32","nonsense",7]}"#
            ),
            Some(9)
        );
        assert_eq!(entry(r#"{"range":"fd00:99::/125","range_start":"nonsense"}"#), Some(6));
        assert_eq!(entry(r#"{"range":"nope"}"#), None);
        assert_eq!(entry(r#"{"range_start":"192.168.99.10"}"#), None);
    }

    #[test]
    fn small_networks() {
        assert!(too_small(&net("10.0.0.0/31")));
        assert!(too_small(&net("10.0.0.1/32")));
        assert!(!too_small(&net("10.0.0.0/30")));
        assert!(too_small(&net("fd00::/127")));
        assert!(!too_small(&net("fd00::/126")));
    }

    #[test]
    fn overlap_is_containment() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.0.0.0/16"), &net("10.1.0.0/16")));
        assert!(!overlaps(&net("10.0.0.0/8"), &net("::ffff:10.0.0.0/104")));
    }
}

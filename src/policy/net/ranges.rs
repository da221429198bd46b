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

/// How many addresses whereabouts can hand out between `lo` and `hi` of `cidr`, less the excluded ones.
///
/// IPv4 network and broadcast addresses are never handed out. The count saturates at `u128::MAX`
/// (only `::/0` reaches it).
pub fn usable(cidr: &IpNet, lo: u128, hi: u128, excludes: &[IpNet]) -> u128 {
    let (net_lo, net_hi) = bounds(cidr);
    let (mut lo, mut hi) = (lo.max(net_lo), hi.min(net_hi));
    if matches!(cidr, IpNet::V4(_)) && cidr.prefix_len() < 31 {
        lo = lo.max(net_lo + 1);
        hi = hi.min(net_hi - 1);
    }
    if lo > hi {
        return 0;
    }
    let total = span_len(lo, hi);
    let mut cut: Vec<(u128, u128)> = excludes
        .iter()
        .filter(|e| e.max_prefix_len() == cidr.max_prefix_len())
        .map(bounds)
        .filter_map(|(a, b)| {
            let (a, b) = (a.max(lo), b.min(hi));
            (a <= b).then_some((a, b))
        })
        .collect();
    cut.sort_unstable();
    let mut excluded: u128 = 0;
    let mut end: Option<u128> = None;
    for (a, b) in cut {
        let a = match end {
            Some(e) if a <= e => match e.checked_add(1) {
                Some(next) => next,
                None => continue,
            },
            _ => a,
        };
        if a <= b {
            excluded = excluded.saturating_add(span_len(a, b));
        }
        end = Some(end.map_or(b, |e| e.max(b)));
    }
    total.saturating_sub(excluded)
}

fn span_len(lo: u128, hi: u128) -> u128 {
    (hi - lo).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn count(cidr: &str, excludes: &[&str]) -> u128 {
        let c = net(cidr);
        let ex: Vec<IpNet> = excludes.iter().map(|e| parse_cidr_or_ip(e).unwrap()).collect();
        let (lo, hi) = bounds(&c);
        usable(&c, lo, hi, &ex)
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
        // excludes outside the range do not count
        assert_eq!(count("192.168.99.0/24", &["10.0.0.0/8", "fd00::1"]), 254);
        assert_eq!(count("192.168.99.0/24", &["192.168.99.0/24"]), 0);
        assert_eq!(count("fd00::/120", &[]), 256);
        assert_eq!(count("::/0", &[]), u128::MAX);
        // counts saturate at u128::MAX, one short of the 2^128 addresses of ::/0
        assert_eq!(count("::/0", &["::/1"]), u128::MAX - (1u128 << 127));
    }

    #[test]
    fn counts_within_start_and_end() {
        let c = net("192.168.99.0/24");
        let lo = to_u128("192.168.99.10".parse().unwrap());
        let hi = to_u128("192.168.99.19".parse().unwrap());
        assert_eq!(usable(&c, lo, hi, &[]), 10);
        assert_eq!(usable(&c, lo, hi, &[net("192.168.99.15/32")]), 9);
        assert_eq!(usable(&c, hi, lo, &[]), 0);
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

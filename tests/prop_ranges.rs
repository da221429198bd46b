//! Address arithmetic against brute force: every address of small networks is enumerated, so
//! overlap, containment, what whereabouts hands out, the `start-end/prefix` form and the range index
//! are checked against sets rather than against the same arithmetic.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ipnet::IpNet;
use mignet::policy::{
    index::RangeIndex,
    ranges::{RangeError, WhereaboutsRange, allocatable, bounds, overlaps, parse_range, to_u128, too_small},
};
use proptest::prelude::*;

/// The small universes: 10.77.1.0/24 and fd00:77::/120, 256 addresses each.
const V4_BASE: u32 = 0x0A4D_0100;
const V6_BASE: u128 = 0xfd00_0077_0000_0000_0000_0000_0000_0000;

fn addr(v6: bool, offset: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(V6_BASE | offset as u128))
    } else {
        IpAddr::V4(Ipv4Addr::from(V4_BASE | offset as u32))
    }
}

/// A network inside the universe, `host_bits` 0..=8 wide (/24../32, /120../128), host bits kept.
fn small_net(v6: bool) -> impl Strategy<Value = IpNet> {
    (any::<u8>(), 0u8..=8).prop_map(move |(offset, host_bits)| {
        let width = if v6 { 128 } else { 32 };
        IpNet::new(addr(v6, offset), width - host_bits).unwrap()
    })
}

fn either_family_small() -> impl Strategy<Value = IpNet> {
    any::<bool>().prop_flat_map(small_net)
}

/// Every address of a network, as integers.
fn members(net: &IpNet) -> BTreeSet<u128> {
    let (lo, hi) = bounds(net);
    assert!(hi - lo < 1 << 16, "{net} is too big to enumerate");
    (lo..=hi).collect()
}

/// whereabouts' allocator, ported step by step rather than computed: `LoadIPAMConfig` reads the
/// range, `GetIPRange` finds the first and last address, and `IterateForAssignment` is called again and
/// again with a growing reserve list, walking the addresses and skipping reserved and excluded ones,
/// until it finds none. Returns every address it handed out.
fn whereabouts_model(
    range: &WhereaboutsRange,
    range_start: Option<IpAddr>,
    range_end: Option<IpAddr>,
    excludes: &[IpNet],
) -> BTreeSet<u128> {
    let net = range.cidr();
    // LoadIPAMConfig: the dash form sets both bounds; a CIDR without range_start starts at its network
    let (start, end) = match range.span {
        Some((s, e)) => (Some(s), Some(e)),
        None => (Some(range_start.unwrap_or(net.network())), range_end),
    };
    let mut handed_out = BTreeSet::new();
    // GetIPRange: FirstUsableIP and LastUsableIP fail when HasUsableIPs is false
    if net.max_prefix_len() - net.prefix_len() <= 1 {
        return handed_out;
    }
    let (network, broadcast) = bounds(&net);
    let (mut first, mut last) = (network + 1, broadcast - 1);
    let family = |ip: IpAddr| (ip.is_ipv4() == net.addr().is_ipv4()).then(|| to_u128(ip));
    if let Some(s) = start.and_then(family)
        && first <= s
        && s <= last
    {
        first = s;
    }
    if let Some(e) = end.and_then(family)
        && first <= e
        && e <= last
    {
        last = e;
    }
    // parseExcludedRange: a CIDR (masked) or a bare address; the other family never contains an address
    let excluded: Vec<(u128, u128)> = excludes
        .iter()
        .filter(|e| e.max_prefix_len() == net.max_prefix_len())
        .map(|e| bounds(&e.trunc()))
        .collect();
    loop {
        // IterateForAssignment
        let mut ip = first;
        let mut found = None;
        while network <= ip && ip <= broadcast && ip <= last {
            if handed_out.contains(&ip) {
                ip += 1;
                continue;
            }
            // skipExcludedSubnets: jump to the first matching exclude's broadcast, then step on
            if let Some(&(_, end)) = excluded.iter().find(|(a, b)| *a <= ip && ip <= *b) {
                ip = end + 1;
                continue;
            }
            found = Some(ip);
            break;
        }
        match found {
            Some(ip) => handed_out.insert(ip),
            None => return handed_out,
        };
    }
}

/// The addresses of `allocatable`'s spans, one by one.
fn expand(spans: &[(u128, u128)]) -> BTreeSet<u128> {
    spans.iter().flat_map(|&(a, b)| a..=b).collect()
}

/// A whereabouts range inside the universe: a CIDR /24../32 (/120../128), host bits kept, or the
/// `start-end/prefix` form with any start and end, in or out of order.
fn small_range(v6: bool) -> impl Strategy<Value = WhereaboutsRange> {
    (any::<u8>(), 0u8..=8, prop::option::of(any::<u8>())).prop_map(move |(end, host_bits, start)| {
        let width = if v6 { 128 } else { 32 };
        WhereaboutsRange {
            written: IpNet::new(addr(v6, end), width - host_bits).unwrap(),
            span: start.map(|s| (addr(v6, s), addr(v6, end))),
        }
    })
}

/// A `range_start` or `range_end`: absent, or an address of the universe, now and then of the other family.
fn bound(v6: bool) -> impl Strategy<Value = Option<IpAddr>> {
    prop::option::of(
        (prop::bool::weighted(0.1), any::<u8>()).prop_map(move |(other, o)| addr(v6 != other, o)),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn overlap_is_a_shared_address(v6 in any::<bool>(), a in any::<u8>(), b in any::<u8>(), pa in 0u8..=8, pb in 0u8..=8) {
        let width = if v6 { 128 } else { 32 };
        let (a, b) = (IpNet::new(addr(v6, a), width - pa).unwrap(), IpNet::new(addr(v6, b), width - pb).unwrap());
        let (ma, mb) = (members(&a.trunc()), members(&b.trunc()));
        prop_assert_eq!(overlaps(&a, &b), !ma.is_disjoint(&mb));
        prop_assert_eq!(a.contains(&b), mb.is_subset(&ma));
        prop_assert_eq!(too_small(&a), ma.len() <= 2);
    }

    #[test]
    fn overlap_of_any_prefixes_matches_intervals(v6 in any::<bool>(), a in any::<u8>(), b in any::<u8>(), pa in 0u8..=128, pb in 0u8..=128) {
        let width = if v6 { 128 } else { 32 };
        let net = |o, p: u8| IpNet::new(addr(v6, o), p.min(width)).unwrap().trunc();
        let (a, b) = (net(a, pa), net(b, pb));
        let ((alo, ahi), (blo, bhi)) = (bounds(&a), bounds(&b));
        prop_assert_eq!(overlaps(&a, &b), alo <= bhi && blo <= ahi);
    }

    #[test]
    fn families_never_overlap(a in small_net(false), b in small_net(true)) {
        prop_assert!(!overlaps(&a, &b) && !overlaps(&b, &a));
    }

    #[test]
    fn allocatable_is_what_the_whereabouts_allocator_hands_out(
        (v6, range, start, end) in any::<bool>().prop_flat_map(|v6| (Just(v6), small_range(v6), bound(v6), bound(v6))),
        excludes in prop::collection::vec(either_family_small(), 0..6),
    ) {
        let got = allocatable(&range, start, end, &excludes);
        let want = whereabouts_model(&range, start, end, &excludes);
        prop_assert_eq!(got.net(), range.cidr());
        prop_assert_eq!(expand(got.spans()), want.clone());
        prop_assert_eq!(got.count(), want.len() as u128);
        // spans are sorted, disjoint and never adjacent
        prop_assert!(got.spans().windows(2).all(|w| w[0].1 + 1 < w[1].0), "{:?}", got.spans());
        for offset in 0..=255u8 {
            let ip = addr(v6, offset);
            prop_assert_eq!(got.hands_out(ip), want.contains(&to_u128(ip)), "{}", ip);
            prop_assert!(!got.hands_out(addr(!v6, offset)));
        }
    }

    #[test]
    fn start_end_form_matches_the_model(v6 in any::<bool>(), start in any::<u8>(), end in any::<u8>(), host_bits in 0u8..=8, spaces in any::<bool>()) {
        let width = if v6 { 128 } else { 32 };
        let (s, e) = (addr(v6, start), addr(v6, end));
        let prefix = width - host_bits;
        let text = if spaces { format!(" {s} - {e}/{prefix} ") } else { format!("{s}-{e}/{prefix}") };
        let cidr = IpNet::new(e, prefix).unwrap().trunc();
        let parsed = parse_range(&text);
        if !members(&cidr).contains(&to_u128(s)) {
            prop_assert_eq!(parsed, Err(RangeError::StartOutside { start: s, cidr }));
        } else if start > end {
            prop_assert_eq!(parsed, Err(RangeError::Reversed { start: s, end: e }));
        } else {
            let r = parsed.unwrap();
            prop_assert_eq!(r.cidr(), cidr);
            prop_assert_eq!(r.span, Some((s, e)));
            prop_assert!(!r.has_host_bits());
            // what it hands out is start..=end within the network's first and last usable addresses
            prop_assert_eq!(expand(allocatable(&r, None, None, &[]).spans()), whereabouts_model(&r, None, None, &[]));
        }
    }

    #[test]
    fn cidr_form_keeps_host_bits_visible(net in either_family_small()) {
        let r = parse_range(&net.to_string()).unwrap();
        prop_assert_eq!(r.written, net);
        prop_assert_eq!(r.cidr(), net.trunc());
        prop_assert_eq!(r.has_host_bits(), net.addr() != net.network());
        prop_assert_eq!(r.span, None);
    }

    #[test]
    fn parse_range_never_panics(text in "\\PC{0,40}|[0-9a-f:./ -]{0,40}") {
        let _ = parse_range(&text);
    }

    #[test]
    fn the_index_finds_exactly_the_overlapping_claims(
        ops in prop::collection::vec((any::<bool>(), any::<bool>(), any::<u8>(), 0u8..=128, 0u8..6), 0..60),
        queries in prop::collection::vec((any::<bool>(), any::<u8>(), 0u8..=128), 1..20),
    ) {
        let mut index = RangeIndex::default();
        let mut model: Vec<(IpNet, u8)> = Vec::new();
        for (remove, v6, offset, prefix, owner) in ops {
            let width = if v6 { 128 } else { 32 };
            let net = IpNet::new(addr(v6, offset), prefix.min(width)).unwrap();
            if remove {
                index.remove(net, &owner);
                if let Some(i) = model.iter().position(|(n, o)| *n == net.trunc() && *o == owner) {
                    model.swap_remove(i);
                }
            } else {
                index.insert(net, owner);
                model.push((net.trunc(), owner));
            }
            prop_assert_eq!(index.len(), model.len());
        }
        for (v6, offset, prefix) in queries {
            let width = if v6 { 128 } else { 32 };
            let q = IpNet::new(addr(v6, offset), prefix.min(width)).unwrap();
            let mut got: Vec<(IpNet, u8)> = index.overlapping(&q).into_iter().map(|(n, o)| (n, *o)).collect();
            let (qlo, qhi) = bounds(&q.trunc());
            let mut want: Vec<(IpNet, u8)> = model
                .iter()
                .filter(|(n, _)| n.max_prefix_len() == q.max_prefix_len())
                .filter(|(n, _)| { let (lo, hi) = bounds(n); lo <= qhi && qlo <= hi })
                .copied()
                .collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want, "query {}", q);
        }
        prop_assert_eq!(index.is_empty(), model.is_empty());
    }
}

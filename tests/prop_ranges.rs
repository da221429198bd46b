//! Address arithmetic against brute force: every address of small networks is enumerated, so
//! overlap, containment, usable-address counts, the `start-end/prefix` form and the range index are
//! checked against sets rather than against the same arithmetic.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ipnet::IpNet;
use mignet::policy::{
    index::RangeIndex,
    ranges::{RangeError, bounds, overlaps, parse_range, to_u128, too_small, usable},
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

/// The model of `usable`: enumerate, drop IPv4 network and broadcast below /31, drop excludes.
fn usable_model(cidr: &IpNet, lo: u128, hi: u128, excludes: &[IpNet]) -> u128 {
    let net = cidr.trunc();
    let all = members(&net);
    let (first, last) = bounds(&net);
    let edges = matches!(net, IpNet::V4(_)) && net.prefix_len() < 31;
    let excluded: BTreeSet<u128> = excludes
        .iter()
        .filter(|e| e.max_prefix_len() == net.max_prefix_len())
        .flat_map(|e| members(&e.trunc()))
        .collect();
    all.into_iter()
        .filter(|a| (lo..=hi).contains(a))
        .filter(|a| !(edges && (*a == first || *a == last)))
        .filter(|a| !excluded.contains(a))
        .count() as u128
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
    fn usable_counts_what_whereabouts_hands_out(
        v6 in any::<bool>(),
        cidr_offset in any::<u8>(),
        host_bits in 0u8..=8,
        lo_offset in any::<u8>(),
        hi_offset in any::<u8>(),
        excludes in prop::collection::vec(either_family_small(), 0..6),
    ) {
        let width = if v6 { 128 } else { 32 };
        let cidr = IpNet::new(addr(v6, cidr_offset), width - host_bits).unwrap().trunc();
        let (lo, hi) = (to_u128(addr(v6, lo_offset)), to_u128(addr(v6, hi_offset)));
        prop_assert_eq!(usable(&cidr, lo, hi, &excludes), usable_model(&cidr, lo, hi, &excludes));
        let (first, last) = bounds(&cidr);
        prop_assert_eq!(usable(&cidr, first, last, &excludes), usable_model(&cidr, first, last, &excludes));
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
            // what it hands out is exactly start..=end, less IPv4 network and broadcast
            let n = usable(&cidr, to_u128(s), to_u128(e), &[]);
            prop_assert_eq!(n, usable_model(&cidr, to_u128(s), to_u128(e), &[]));
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

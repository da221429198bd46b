//! Free subnets: where a network of a given size could go without sharing an address with anything the
//! view knows (the cluster's reserved ranges and every NAD's ranges).
//!
//! Answering "denied for overlap" with "try 192.168.100.0/24" saves the user a round of guessing.
//! The search stays in private space (RFC 1918 for IPv4, the ULA block fd00::/8 for IPv6), starts
//! just at the network it is asked to be near, and jumps over each claim it meets in one step, so it
//! costs a range-index lookup per claim passed, not one per candidate, even with 100k NADs.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::policy::view::{NadName, View};
use crate::policy::{Policy, ranges};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    #[serde(rename = "IPv4")]
    V4,
    #[serde(rename = "IPv6")]
    V6,
}

impl Family {
    /// The family of a network.
    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    /// Address bits: 32 or 128.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The private blocks searched, in order of preference when no nearby network is given.
    pub fn private_blocks(self) -> &'static [IpNet] {
        use std::sync::LazyLock;
        static V4: LazyLock<[IpNet; 3]> = LazyLock::new(|| {
            ["192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8"]
                .map(|s| s.parse().unwrap_or_else(|_| unreachable!()))
        });
        static V6: LazyLock<[IpNet; 1]> =
            LazyLock::new(|| ["fd00::/8"].map(|s| s.parse().unwrap_or_else(|_| unreachable!())));
        match self {
            Family::V4 => &*V4,
            Family::V6 => &*V6,
        }
    }
}

/// What to look for.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub family: Family,
    /// Size of each subnet, as a prefix length (24 for a /24).
    pub prefix_len: u8,
    /// Start the search here, in the private block holding it (typically the migration network), so
    /// the suggestions sit beside what the user already chose.
    pub near: Option<IpNet>,
    /// A NAD whose own claims do not count: the one a fix message is for, when the view holds its
    /// previous version.
    pub except: Option<&'a NadName>,
    /// How many subnets to return at most.
    pub count: usize,
}

impl<'a> Wanted<'a> {
    /// `count` subnets the size and family of `net`, near it.
    pub fn like(net: &IpNet, count: usize) -> Wanted<'a> {
        Wanted {
            family: Family::of(net),
            prefix_len: net.prefix_len(),
            near: Some(net.trunc()),
            except: None,
            count,
        }
    }
}

/// Subnets of the wanted size that overlap no reserved cluster range and no NAD's range, in search
/// order: from `near` upwards to the end of its private block, then from that block's start, then the
/// other private blocks. Empty when the size is no valid prefix length or no block has room.
pub fn free_subnets(policy: &Policy, view: &View, wanted: &Wanted<'_>) -> Vec<IpNet> {
    let bits = wanted.family.bits();
    let mut found = Vec::new();
    if wanted.count == 0 || wanted.prefix_len > bits {
        return found;
    }
    let reserved: Vec<IpNet> =
        policy.reserved(view).map(|r| r.net).filter(|n| Family::of(n) == wanted.family).collect();
    let search = Search { view, reserved: &reserved, wanted, bits };
    let near = wanted.near.filter(|n| Family::of(n) == wanted.family);
    let blocks = wanted.family.private_blocks();
    let home = near.and_then(|n| blocks.iter().position(|b| b.contains(&n)));
    let order = home.into_iter().chain((0..blocks.len()).filter(|i| Some(*i) != home));
    for i in order {
        let block = blocks[i];
        if wanted.prefix_len < block.prefix_len() {
            continue;
        }
        let (lo, hi) = ranges::bounds(&block);
        let start = match near {
            Some(n) if Some(i) == home => align_down(ranges::bounds(&n).0, search.size()).max(lo),
            _ => lo,
        };
        search.walk(start, hi, &mut found);
        if start > lo {
            search.walk(lo, start - 1, &mut found);
        }
        if found.len() >= wanted.count {
            break;
        }
    }
    found
}

struct Search<'v> {
    view: &'v View,
    reserved: &'v [IpNet],
    wanted: &'v Wanted<'v>,
    bits: u8,
}

impl Search<'_> {
    /// Addresses in one candidate (at most 2^120: the blocks are /8 or longer).
    fn size(&self) -> u128 {
        1u128 << (self.bits - self.wanted.prefix_len)
    }

    /// Adds free candidates between `lo` and `hi` (both inclusive, `lo` aligned) to `found`.
    fn walk(&self, lo: u128, hi: u128, found: &mut Vec<IpNet>) {
        let size = self.size();
        let mut cur = lo;
        while found.len() < self.wanted.count {
            let Some(last) = cur.checked_add(size - 1).filter(|l| *l <= hi) else { return };
            let candidate = self.net(cur);
            // every claim overlapping the candidate either holds it or lies inside it: past the
            // furthest end of them all is the next place worth trying
            let claimed_end = self.furthest_claim(&candidate);
            let next_from = match claimed_end {
                None => {
                    found.push(candidate);
                    last
                }
                Some(end) => end.max(last),
            };
            let Some(next) = next_from.checked_add(1).and_then(|n| align_up(n, size)) else { return };
            cur = next;
        }
    }

    /// The last address of the furthest-reaching claim overlapping `candidate`, if any does.
    fn furthest_claim(&self, candidate: &IpNet) -> Option<u128> {
        let reserved =
            self.reserved.iter().filter(|r| ranges::overlaps(r, candidate)).map(|r| ranges::bounds(r).1);
        let nads = self
            .view
            .overlapping(candidate)
            .into_iter()
            .filter(|(_, e)| Some(&e.key) != self.wanted.except)
            .map(|(net, _)| ranges::bounds(&net).1);
        let nets = self.view.nets_overlapping(candidate).into_iter().map(|(net, _)| ranges::bounds(&net).1);
        reserved.chain(nads).chain(nets).max()
    }

    fn net(&self, start: u128) -> IpNet {
        let addr = match self.wanted.family {
            Family::V4 => IpAddr::V4((start as u32).into()),
            Family::V6 => IpAddr::V6(start.into()),
        };
        IpNet::new_assert(addr, self.wanted.prefix_len)
    }
}

fn align_down(v: u128, size: u128) -> u128 {
    v & !(size - 1)
}

fn align_up(v: u128, size: u128) -> Option<u128> {
    let down = align_down(v, size);
    if down == v { Some(v) } else { down.checked_add(size) }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::policy::view::NadEntry;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn nad(ns: &str, name: &str, ranges: &[&str]) -> NadEntry {
        NadEntry {
            key: NadName::new(ns, name),
            ranges: ranges.iter().map(|r| net(r)).collect(),
            migration_label: None,
            flagged: false,
            config: None,
            owner: None,
        }
    }

    fn shown(nets: &[IpNet]) -> Vec<String> {
        nets.iter().map(ToString::to_string).collect()
    }

    fn with_migration() -> View {
        let mut v = View::new();
        v.upsert_nad(nad("openshift-cnv", "migration", &["192.168.99.0/24"]));
        v.upsert_nad(nad("tenant", "next", &["192.168.100.0/23"]));
        v
    }

    #[test]
    fn suggests_beside_the_migration_network_skipping_claims() {
        let got =
            free_subnets(&Policy::default(), &with_migration(), &Wanted::like(&net("192.168.99.0/24"), 3));
        assert_eq!(shown(&got), ["192.168.102.0/24", "192.168.103.0/24", "192.168.104.0/24"]);
    }

    #[test]
    fn wraps_to_the_start_of_the_block_then_tries_the_others() {
        let mut v = View::new();
        v.upsert_nad(nad("t", "all-but-one", &["192.168.0.0/17", "192.168.128.0/18", "192.168.192.0/19"]));
        v.upsert_nad(nad("t", "top", &["192.168.224.0/19"]));
        let wanted = Wanted { count: 2, ..Wanted::like(&net("192.168.230.0/24"), 2) };
        // 192.168/16 is full: the search moves on to 172.16/12
        assert_eq!(shown(&free_subnets(&Policy::default(), &v, &wanted)), ["172.16.0.0/24", "172.16.1.0/24"]);
        v.remove_nad("t", "all-but-one");
        let got = free_subnets(&Policy::default(), &v, &wanted);
        assert_eq!(shown(&got), ["192.168.0.0/24", "192.168.1.0/24"], "wrapped to the block's start");
    }

    #[test]
    fn reserved_cluster_ranges_are_avoided() {
        // a /14 fits only 10/8 (with 172.16/12 holding four); the default pod network 10.128.0.0/14
        // and machine network 10.0.0.0/16 are in the way
        let wanted = Wanted {
            family: Family::V4,
            prefix_len: 14,
            near: Some(net("10.0.0.0/16")),
            except: None,
            count: 3,
        };
        let got = free_subnets(&Policy::default(), &View::new(), &wanted);
        assert_eq!(shown(&got), ["10.4.0.0/14", "10.8.0.0/14", "10.12.0.0/14"]);
        let policy =
            Policy::from_yaml("reservedRanges:\n  additional:\n  - {name: storage, cidr: 10.4.0.0/15}\n")
                .unwrap();
        let got = free_subnets(&policy, &View::new(), &wanted);
        assert_eq!(shown(&got), ["10.8.0.0/14", "10.12.0.0/14", "10.16.0.0/14"]);
    }

    #[test]
    fn ipv6_stays_in_the_ula_block_off_the_ovn_ranges() {
        let mut v = View::new();
        v.upsert_nad(nad("cnv", "mig6", &["fd97:1::/64"]));
        let got = free_subnets(&Policy::default(), &v, &Wanted::like(&net("fd97:1::/64"), 2));
        // fd97::/64 is OVN's transit subnet by default, not fd97:1::/64; the next /64s are free
        assert_eq!(shown(&got), ["fd97:1:0:1::/64", "fd97:1:0:2::/64"]);
        let wide = Wanted { family: Family::V6, prefix_len: 16, near: None, except: None, count: 3 };
        let got = free_subnets(&Policy::default(), &v, &wide);
        assert_eq!(shown(&got), ["fd00::/16", "fd01::/16", "fd02::/16"]);
        let near_top = Wanted { near: Some(net("fdff::/16")), ..wide };
        let got = free_subnets(&Policy::default(), &v, &near_top);
        assert_eq!(
            shown(&got),
            ["fdff::/16", "fd00::/16", "fd01::/16"],
            "the end of the block is reached without overflow"
        );
    }

    #[test]
    fn the_nad_being_replaced_does_not_block_itself() {
        let v = with_migration();
        let key = NadName::new("openshift-cnv", "migration");
        let wanted = Wanted { except: Some(&key), ..Wanted::like(&net("192.168.99.0/24"), 1) };
        assert_eq!(shown(&free_subnets(&Policy::default(), &v, &wanted)), ["192.168.99.0/24"]);
    }

    #[test]
    fn sizes_that_fit_nowhere_or_are_no_prefix_give_nothing() {
        let v = View::new();
        let w = |family, prefix_len| Wanted { family, prefix_len, near: None, except: None, count: 3 };
        assert!(free_subnets(&Policy::default(), &v, &w(Family::V4, 7)).is_empty());
        assert!(free_subnets(&Policy::default(), &v, &w(Family::V4, 33)).is_empty());
        assert!(free_subnets(&Policy::default(), &v, &w(Family::V6, 129)).is_empty());
        assert!(free_subnets(&Policy::default(), &v, &Wanted { count: 0, ..w(Family::V4, 24) }).is_empty());
        assert_eq!(
            shown(&free_subnets(&Policy::default(), &v, &w(Family::V4, 32))),
            ["192.168.0.0/32", "192.168.0.1/32", "192.168.0.2/32"]
        );
        // a near network of the other family is ignored rather than misread
        let odd = Wanted { near: Some(net("fd00::/64")), ..w(Family::V4, 24) };
        assert_eq!(free_subnets(&Policy::default(), &v, &odd).len(), 3);
    }

    #[test]
    fn a_full_private_space_with_100k_nads_answers_empty() {
        let mut v = View::new();
        for i in 0..65_536u32 {
            let a = std::net::Ipv4Addr::from(0x0A00_0000 | (i << 8));
            v.upsert_nad(nad("t", &format!("ten-{i}"), &[&format!("{a}/24")]));
        }
        for i in 0..4_096u32 {
            let a = std::net::Ipv4Addr::from(0xAC10_0000 | (i << 8));
            v.upsert_nad(nad("t", &format!("priv-{i}"), &[&format!("{a}/24")]));
        }
        for i in 0..30_000u32 {
            v.upsert_nad(nad("s", &format!("shared-{i}"), &["192.168.0.0/16"]));
        }
        let wanted = Wanted::like(&net("192.168.99.0/24"), 3);
        assert!(free_subnets(&Policy::default(), &v, &wanted).is_empty());
        v.remove_nad("t", "ten-40000");
        let got = free_subnets(&Policy::default(), &v, &wanted);
        assert_eq!(shown(&got), ["10.156.64.0/24"]);
    }

    /// Every free /N of one block, by testing each candidate against every claim.
    fn brute_force(block: IpNet, prefix: u8, claims: &[IpNet]) -> Vec<IpNet> {
        block.subnets(prefix).unwrap().filter(|c| !claims.iter().any(|n| ranges::overlaps(n, c))).collect()
    }

    /// How many free /`prefix` subnets `block` holds, by splitting it where claims are.
    fn free_count(block: IpNet, prefix: u8, claims: &[IpNet]) -> u128 {
        let inside: Vec<IpNet> = claims.iter().copied().filter(|c| ranges::overlaps(c, &block)).collect();
        if inside.is_empty() {
            return 1u128.checked_shl(u32::from(prefix - block.prefix_len())).unwrap_or(u128::MAX);
        }
        if block.prefix_len() == prefix || inside.iter().any(|c| c.contains(&block)) {
            return 0;
        }
        block.subnets(block.prefix_len() + 1).unwrap().map(|half| free_count(half, prefix, &inside)).sum()
    }

    fn v4_in(block: u32, block_len: u8) -> impl Strategy<Value = IpNet> {
        (any::<u32>(), block_len..=30u8).prop_map(move |(a, p)| {
            let host = a & (u32::MAX >> block_len);
            IpNet::new_assert(IpAddr::V4((block | host).into()), p).trunc()
        })
    }

    proptest! {
        #[test]
        fn suggestions_never_overlap_and_match_brute_force(
            claims in prop::collection::vec(v4_in(0xC0A8_0000, 16), 0..40),
            prefix in 18u8..=26,
            near in v4_in(0xC0A8_0000, 16),
        ) {
            let mut v = View::new();
            for (i, c) in claims.iter().enumerate() {
                v.upsert_nad(nad("t", &format!("n{i}"), &[&c.to_string()]));
            }
            let policy = Policy::default();
            let mut want = brute_force(net("192.168.0.0/16"), prefix, &claims);
            let split = want.iter().position(|c| ranges::bounds(c).1 >= ranges::bounds(&near).0).unwrap_or(want.len());
            want.rotate_left(split);
            // two more than 192.168/16 holds: the rest come from the next block
            let wanted = Wanted { family: Family::V4, prefix_len: prefix, near: Some(near), except: None, count: want.len() + 2 };
            let got = free_subnets(&policy, &v, &wanted);
            prop_assert_eq!(got.len(), want.len() + 2);
            let reserved: Vec<IpNet> = policy.reserved(&v).map(|r| r.net).collect();
            for s in &got {
                prop_assert_eq!(s.prefix_len(), prefix);
                prop_assert!(Family::V4.private_blocks().iter().any(|b| b.contains(s)), "{s} not private");
                prop_assert!(!claims.iter().chain(&reserved).any(|c| ranges::overlaps(c, s)), "{s} overlaps");
            }
            let mut dedup = got.clone();
            dedup.sort();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), got.len(), "no subnet twice");
            // within 192.168/16 the search finds exactly the free ones, starting at near's block
            prop_assert_eq!(&got[..want.len()], &want[..]);
            prop_assert!(net("172.16.0.0/12").contains(&got[want.len()]));
        }

        #[test]
        fn ipv6_suggestions_never_overlap(
            claims in prop::collection::vec((any::<u128>(), 8u8..=72), 0..30),
            prefix in 40u8..=64,
        ) {
            let mut v = View::new();
            let nets: Vec<IpNet> = claims.iter().map(|&(a, p)| {
                let a = (0xfdu128 << 120) | (a >> 8);
                IpNet::new_assert(IpAddr::V6(a.into()), p).trunc()
            }).collect();
            for (i, c) in nets.iter().enumerate() {
                v.upsert_nad(nad("t", &format!("n{i}"), &[&c.to_string()]));
            }
            let policy = Policy::default();
            let wanted = Wanted { family: Family::V6, prefix_len: prefix, near: nets.first().copied(), except: None, count: 5 };
            let got = free_subnets(&policy, &v, &wanted);
            let reserved: Vec<IpNet> = policy.reserved(&v).map(|r| r.net).collect();
            for s in &got {
                prop_assert!(net("fd00::/8").contains(s));
                prop_assert!(!nets.iter().chain(&reserved).any(|c| ranges::overlaps(c, s)), "{s} overlaps");
            }
            let room = free_count(net("fd00::/8"), prefix, &nets.iter().chain(&reserved).copied().collect::<Vec<_>>());
            prop_assert_eq!(got.len() as u128, room.min(5));
        }
    }
}

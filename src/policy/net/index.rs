//! An index of claimed networks that answers "what overlaps this CIDR" without scanning every NAD.
//!
//! CIDRs nest or are disjoint, so the networks overlapping `c` are those that start inside `c`
//! (one ordered range scan) plus the supernets of `c` (one exact lookup per prefix length actually
//! present). Both stay cheap with 100k entries, and every update is a single map operation.

use std::collections::BTreeMap;

use ipnet::IpNet;
use smallvec::SmallVec;

use crate::policy::ranges::to_u128;

/// Networks claimed by owners of type `K`, kept per address family.
#[derive(Debug, Clone)]
pub struct RangeIndex<K> {
    v4: Family<u32, K>,
    v6: Family<u128, K>,
}

impl<K> Default for RangeIndex<K> {
    fn default() -> Self {
        RangeIndex { v4: Family::default(), v6: Family::default() }
    }
}

/// An address as a family stores it: IPv4 keys take a quarter of the space of IPv6 ones.
trait Addr: Copy + Ord + Into<u128> {
    const WIDTH: u8;
    /// Truncates an address of this family held in a `u128`.
    fn from_u128(v: u128) -> Self;
}

impl Addr for u32 {
    const WIDTH: u8 = 32;
    fn from_u128(v: u128) -> Self {
        v as u32
    }
}

impl Addr for u128 {
    const WIDTH: u8 = 128;
    fn from_u128(v: u128) -> Self {
        v
    }
}

#[derive(Debug, Clone)]
struct Family<A, K> {
    /// Owners per network: nearly always one, held inline.
    by_start: BTreeMap<(A, u8), SmallVec<[K; 1]>>,
    /// How many entries use each prefix length (index = length), so supernet lookups skip absent lengths.
    prefix_counts: [u32; 129],
    len: usize,
}

impl<A, K> Default for Family<A, K> {
    fn default() -> Self {
        Family { by_start: BTreeMap::new(), prefix_counts: [0; 129], len: 0 }
    }
}

impl<K: Clone + PartialEq> RangeIndex<K> {
    /// Records that `owner` claims `net` (host bits are ignored).
    pub fn insert(&mut self, net: IpNet, owner: K) {
        match net {
            IpNet::V4(_) => self.v4.insert(net.trunc(), owner),
            IpNet::V6(_) => self.v6.insert(net.trunc(), owner),
        }
    }

    /// Forgets one claim; unknown claims are ignored so replays of delete events are harmless.
    pub fn remove(&mut self, net: IpNet, owner: &K) {
        match net {
            IpNet::V4(_) => self.v4.remove(net.trunc(), owner),
            IpNet::V6(_) => self.v6.remove(net.trunc(), owner),
        }
    }

    /// Every claim overlapping `net`, with the claimed network.
    pub fn overlapping(&self, net: &IpNet) -> Vec<(IpNet, &K)> {
        match net {
            IpNet::V4(_) => self.v4.overlapping(net.trunc()),
            IpNet::V6(_) => self.v6.overlapping(net.trunc()),
        }
    }

    /// Number of claims held.
    pub fn len(&self) -> usize {
        self.v4.len + self.v6.len
    }

    /// Whether no claim is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<A: Addr, K: Clone + PartialEq> Family<A, K> {
    fn key(net: IpNet) -> (A, u8) {
        (A::from_u128(to_u128(net.network())), net.prefix_len())
    }

    fn insert(&mut self, net: IpNet, owner: K) {
        self.by_start.entry(Self::key(net)).or_default().push(owner);
        self.prefix_counts[net.prefix_len() as usize] += 1;
        self.len += 1;
    }

    fn remove(&mut self, net: IpNet, owner: &K) {
        let key = Self::key(net);
        let Some(owners) = self.by_start.get_mut(&key) else { return };
        let Some(pos) = owners.iter().position(|o| o == owner) else { return };
        owners.swap_remove(pos);
        if owners.is_empty() {
            self.by_start.remove(&key);
        }
        self.prefix_counts[net.prefix_len() as usize] -= 1;
        self.len -= 1;
    }

    fn overlapping(&self, net: IpNet) -> Vec<(IpNet, &K)> {
        let mut hits = Vec::new();
        if self.len == 0 {
            return hits;
        }
        let start = to_u128(net.network());
        let end = to_u128(net.broadcast());
        let range = (A::from_u128(start), 0)..=(A::from_u128(end), A::WIDTH);
        for (&(s, p), owners) in self.by_start.range(range) {
            let claimed = Self::net(s.into(), p);
            hits.extend(owners.iter().map(|o| (claimed, o)));
        }
        for p in 0..net.prefix_len() {
            if self.prefix_counts[p as usize] == 0 {
                continue;
            }
            let s = start & Self::mask(p);
            if s == start {
                continue; // found by the range scan
            }
            if let Some(owners) = self.by_start.get(&(A::from_u128(s), p)) {
                let claimed = Self::net(s, p);
                hits.extend(owners.iter().map(|o| (claimed, o)));
            }
        }
        hits
    }

    fn mask(prefix: u8) -> u128 {
        let full = if A::WIDTH == 128 { u128::MAX } else { (1u128 << A::WIDTH) - 1 };
        if prefix == 0 { 0 } else { full & !(full >> prefix) }
    }

    fn net(start: u128, prefix: u8) -> IpNet {
        let addr = if A::WIDTH == 32 {
            std::net::IpAddr::V4((start as u32).into())
        } else {
            std::net::IpAddr::V6(start.into())
        };
        IpNet::new_assert(addr, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ranges::overlaps;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn names(index: &RangeIndex<&'static str>, q: &str) -> Vec<&'static str> {
        let mut v: Vec<_> = index.overlapping(&net(q)).into_iter().map(|(_, k)| *k).collect();
        v.sort();
        v
    }

    #[test]
    fn finds_subnets_supernets_and_equals() {
        let mut ix = RangeIndex::default();
        ix.insert(net("10.0.0.0/8"), "big");
        ix.insert(net("192.168.99.0/24"), "mig");
        ix.insert(net("192.168.99.128/25"), "half");
        ix.insert(net("192.168.100.0/24"), "next");
        ix.insert(net("fd00::/64"), "v6");
        assert_eq!(names(&ix, "192.168.99.0/24"), vec!["half", "mig"]);
        assert_eq!(names(&ix, "192.168.99.130/32"), vec!["half", "mig"]);
        assert_eq!(names(&ix, "192.168.0.0/16"), vec!["half", "mig", "next"]);
        assert_eq!(names(&ix, "10.200.0.0/16"), vec!["big"]);
        assert_eq!(names(&ix, "0.0.0.0/0"), vec!["big", "half", "mig", "next"]);
        assert_eq!(names(&ix, "172.16.0.0/12"), Vec::<&str>::new());
        assert_eq!(names(&ix, "fd00::1/128"), vec!["v6"]);
        assert_eq!(names(&ix, "::/0"), vec!["v6"]);
        assert_eq!(ix.len(), 5);
    }

    #[test]
    fn reports_the_claimed_network() {
        let mut ix = RangeIndex::default();
        ix.insert(net("192.168.99.77/24"), "mig");
        let hits = ix.overlapping(&net("192.168.99.0/26"));
        assert_eq!(hits, vec![(net("192.168.99.0/24"), &"mig")]);
    }

    #[test]
    fn remove_forgets_one_owner() {
        let mut ix = RangeIndex::default();
        ix.insert(net("192.168.99.0/24"), "a");
        ix.insert(net("192.168.99.0/24"), "b");
        ix.remove(net("192.168.99.0/24"), &"a");
        ix.remove(net("192.168.99.0/24"), &"zzz");
        ix.remove(net("10.0.0.0/8"), &"a");
        assert_eq!(names(&ix, "192.168.99.0/24"), vec!["b"]);
        ix.remove(net("192.168.99.0/24"), &"b");
        assert!(ix.is_empty());
        assert!(ix.overlapping(&net("0.0.0.0/0")).is_empty());
    }

    #[test]
    fn agrees_with_brute_force() {
        // Every /0../8 network under 10.0.0.0/5-ish patterns: compare with pairwise containment.
        let mut all = Vec::new();
        for p in 0..=12u8 {
            for i in 0..4u32 {
                let addr = std::net::Ipv4Addr::from(0x0A00_0000u32 | (i << (32 - 12)));
                all.push(IpNet::new(addr.into(), p).unwrap().trunc());
            }
        }
        all.sort();
        all.dedup();
        let mut ix = RangeIndex::default();
        for (i, n) in all.iter().enumerate() {
            ix.insert(*n, i);
        }
        for q in &all {
            let mut got: Vec<usize> = ix.overlapping(q).into_iter().map(|(_, k)| *k).collect();
            got.sort();
            let want: Vec<usize> =
                all.iter().enumerate().filter(|(_, n)| overlaps(n, q)).map(|(i, _)| i).collect();
            assert_eq!(got, want, "query {q}");
        }
    }
}

//! The address map's layout: which ranges each tier of the axis shows, and where.
//!
//! A /24 is 1/65536 of 10.0.0.0/8, so no single scale shows both. The axis is tiered instead: a
//! track draws the ranges at least 1/256 of its window to scale; the smaller ones are grouped into
//! octet-aligned blocks (10.50.0.0/16, 192.168.99.0/24, fd97::/56 …), each drawn as a zoomed track
//! of its own below, recursively. Every range is therefore drawn to scale, at least ~4 px wide, in
//! the first tier whose window is at most 256 times its size.

use ipnet::IpNet;

use crate::policy::ranges;

/// How many times larger than a range a window may be for the range to be drawn in it (2^8).
const ZOOM_BITS: u8 = 8;

/// One tier of the axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// The addresses the track spans, left to right.
    pub window: IpNet,
    /// The track it zooms into (`None` for a family's first track).
    pub parent: Option<IpNet>,
    /// How many zooms deep it is.
    pub level: usize,
    /// Ranges holding the whole window (or equal to it), widest first: full-width bands for context.
    pub enclosing: Vec<usize>,
    /// Ranges inside the window drawn to scale, by address, with their lane (nesting depth).
    pub drawn: Vec<(usize, usize)>,
    /// Blocks shown zoomed in tracks of their own, by address.
    pub zooms: Vec<IpNet>,
}

/// The tracks for one family's networks (`nets` sorted by address, wider first), in reading order:
/// each track followed by its zooms.
pub fn tracks(nets: &[IpNet]) -> Vec<Track> {
    let mut out = Vec::new();
    let Some(first) = nets.first() else { return out };
    let bits = first.max_prefix_len();
    let lo = nets.iter().map(|n| ranges::bounds(n).0).min().unwrap_or(0);
    let hi = nets.iter().map(|n| ranges::bounds(n).1).max().unwrap_or(0);
    let common = if lo == hi { bits } else { (lo ^ hi).leading_zeros() as u8 - (128 - bits) };
    let narrowest = nets.iter().map(IpNet::prefix_len).min().unwrap_or(0);
    let mut top = floor8(common.min(narrowest));
    if top == narrowest && top >= ZOOM_BITS {
        top -= ZOOM_BITS; // some range would fill the window: step out once for context
    }
    let window = block_of(first, top);
    let members: Vec<usize> = (0..nets.len()).collect();
    build(nets, window, None, &members, Vec::new(), 0, &mut out);
    out
}

fn build(
    nets: &[IpNet],
    window: IpNet,
    parent: Option<IpNet>,
    members: &[usize],
    enclosing: Vec<usize>,
    level: usize,
    out: &mut Vec<Track>,
) {
    let w = window.prefix_len();
    let (shown, small): (Vec<usize>, Vec<usize>) =
        members.iter().partition(|&&i| nets[i].prefix_len() <= w.saturating_add(ZOOM_BITS));
    let mut blocks: Vec<IpNet> =
        small.iter().map(|&i| block_of(&nets[i], ceil8(nets[i].prefix_len() - ZOOM_BITS))).collect();
    blocks.sort_by_key(|b| (ranges::bounds(b).0, b.prefix_len()));
    let mut zooms: Vec<IpNet> = Vec::new();
    for b in blocks {
        // blocks nest or are disjoint and come widest first: one inside the last kept one is covered
        if zooms.last().is_none_or(|last| !last.contains(&b)) {
            zooms.push(b);
        }
    }
    let mut drawn = Vec::with_capacity(shown.len());
    let mut open: Vec<usize> = Vec::new();
    for &i in &shown {
        open.retain(|&j| nets[j].contains(&nets[i]));
        drawn.push((i, open.len()));
        open.push(i);
    }
    let at = out.len();
    out.push(Track { window, parent, level, enclosing: enclosing.clone(), drawn, zooms: Vec::new() });
    for block in &zooms {
        let (start, end) = ranges::bounds(block);
        let from = members.partition_point(|&i| ranges::bounds(&nets[i]).0 < start);
        let to = members.partition_point(|&i| ranges::bounds(&nets[i]).0 <= end);
        let inside: Vec<usize> = members[from..to]
            .iter()
            .copied()
            .filter(|&i| nets[i].prefix_len() > block.prefix_len())
            .collect();
        // what holds the block, itself included, is context there (only drawn ranges can: a smaller
        // one equal to a block would have made a wider block of its own)
        let mut around = enclosing.clone();
        around.extend(shown.iter().copied().filter(|&i| nets[i].contains(block)));
        build(nets, *block, Some(window), &inside, around, level + 1, out);
    }
    out[at].zooms = zooms;
}

/// The `prefix`-long network holding `net`.
fn block_of(net: &IpNet, prefix: u8) -> IpNet {
    IpNet::new_assert(net.network(), prefix).trunc()
}

fn floor8(p: u8) -> u8 {
    p / 8 * 8
}

fn ceil8(p: u8) -> u8 {
    p.div_ceil(8) * 8
}

/// Where `net` lies across `window`, as fractions of its width (start, width); a range holding the
/// window spans all of it.
pub fn span(window: &IpNet, net: &IpNet) -> (f64, f64) {
    if net.contains(window) {
        return (0.0, 1.0);
    }
    let size = 2f64.powi(i32::from(window.max_prefix_len() - window.prefix_len()));
    let offset = (ranges::bounds(net).0 - ranges::bounds(window).0) as f64;
    let width = 2f64.powi(i32::from(net.max_prefix_len() - net.prefix_len()));
    (offset / size, width / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        let mut v: Vec<IpNet> = list.iter().map(|s| s.parse().unwrap()).collect();
        v.sort_by_key(|n| (ranges::bounds(n).0, n.prefix_len()));
        v
    }

    fn shown(t: &Track, nets: &[IpNet]) -> Vec<String> {
        t.drawn.iter().map(|(i, lane)| format!("{}@{lane}", nets[*i])).collect()
    }

    #[test]
    fn a_small_range_inside_a_wide_one_gets_a_zoomed_track() {
        let n = nets(&["10.0.0.0/8", "10.50.0.0/24", "172.30.0.0/16", "192.168.99.0/24"]);
        let t = tracks(&n);
        let windows: Vec<String> = t.iter().map(|t| t.window.to_string()).collect();
        assert_eq!(windows, ["0.0.0.0/0", "10.50.0.0/16", "172.0.0.0/8", "192.168.0.0/16"]);
        assert_eq!(shown(&t[0], &n), ["10.0.0.0/8@0"]);
        assert_eq!(t[0].zooms.len(), 3);
        // the /24 is drawn in the /16 window, under the /8 that holds it
        assert_eq!(shown(&t[1], &n), ["10.50.0.0/24@0"]);
        assert_eq!(t[1].enclosing.iter().map(|&i| n[i].to_string()).collect::<Vec<_>>(), ["10.0.0.0/8"]);
        assert_eq!((t[1].level, t[1].parent), (1, Some("0.0.0.0/0".parse().unwrap())));
        assert_eq!(shown(&t[3], &n), ["192.168.99.0/24@0"]);
        // every range is drawn, at least 1/256 of its window
        for (i, net) in n.iter().enumerate() {
            let homes: Vec<&Track> = t.iter().filter(|t| t.drawn.iter().any(|(j, _)| *j == i)).collect();
            assert!(!homes.is_empty(), "{net}");
            assert!(homes.iter().all(|h| span(&h.window, net).1 >= 1.0 / 256.0), "{net}");
        }
    }

    #[test]
    fn nesting_sets_the_lane() {
        let n = nets(&["192.168.99.0/24", "192.168.99.0/25", "192.168.99.128/25", "192.168.99.192/26"]);
        let t = tracks(&n);
        assert_eq!(t[0].window.to_string(), "192.168.0.0/16");
        assert_eq!(shown(&t[0], &n), ["192.168.99.0/24@0"]);
        assert_eq!(t[1].window.to_string(), "192.168.99.0/24");
        assert_eq!(t[1].enclosing, [0], "the /24 is the zoomed window's band");
        assert_eq!(shown(&t[1], &n), ["192.168.99.0/25@0", "192.168.99.128/25@0", "192.168.99.192/26@1"]);
    }

    #[test]
    fn ipv6_starts_at_the_ula_block() {
        let n = nets(&["fd69::/112", "fd97::/64", "fd98::/64"]);
        let t = tracks(&n);
        assert_eq!(t[0].window.to_string(), "fd00::/8");
        assert!(t[0].drawn.is_empty());
        let windows: Vec<String> = t[1..].iter().map(|t| t.window.to_string()).collect();
        assert_eq!(windows, ["fd69::/104", "fd97::/56", "fd98::/56"]);
        assert_eq!(span(&"fd97::/56".parse().unwrap(), &n[1]), (0.0, 1.0 / 256.0));
    }

    #[test]
    fn spans_are_to_scale() {
        let w: IpNet = "10.0.0.0/8".parse().unwrap();
        assert_eq!(span(&w, &"10.128.0.0/9".parse().unwrap()), (0.5, 0.5));
        assert_eq!(span(&w, &"0.0.0.0/0".parse().unwrap()), (0.0, 1.0));
        let all: IpNet = "::/0".parse().unwrap();
        assert_eq!(span(&all, &"8000::/1".parse().unwrap()), (0.5, 0.5));
        assert!(tracks(&[]).is_empty());
    }

    #[test]
    fn a_thousand_small_ranges_share_a_few_zooms() {
        let n: Vec<IpNet> = (0..1000u32)
            .map(|i| IpNet::new_assert(std::net::Ipv4Addr::from(0x0A00_0000 | (i << 8)).into(), 24))
            .collect();
        let t = tracks(&n);
        // 10.0.0.0/24 … 10.3.231.0/24: four /16 windows
        assert_eq!(
            t.iter().map(|t| t.window.to_string()).collect::<Vec<_>>(),
            ["10.0.0.0/8", "10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"]
        );
        assert_eq!(t.iter().map(|t| t.drawn.len()).sum::<usize>(), 1000);
    }
}

//! The view report as one self-contained HTML page: an address map per family, the migration network
//! panel, free subnets and, for `mignet check`, every finding.
//!
//! Pure: a [`Report`] (and findings) in, a `String` out. The page is a rendering of the same report
//! `--output json` prints, so the two cannot disagree. Markup is built with maud, which escapes every
//! value it is given, so an object named `<script>` shows as text; a Content-Security-Policy that
//! allows no script or remote resource at all backs that up. Styles and the SVG map are inline, so
//! the file reads the same offline and as a CI artifact.

mod map;

use std::fmt::Write as _;

use ipnet::IpNet;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::{
    cluster::report::{FreeSubnets, MigrationNetwork, Owner, RangeLine, Report},
    policy::{free::Family, ranges},
};

/// One `mignet check` finding, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFinding {
    pub level: Level,
    /// A rule id, or the id the check gives a file it could not read.
    pub rule: String,
    /// `path:line` of the object's document.
    pub location: String,
    /// `Kind namespace/name`.
    pub object: String,
    pub field: String,
    pub message: String,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Note => "note",
        }
    }
}

/// The page for `mignet view`: the live cluster's address space.
pub fn view_page(report: &Report) -> String {
    page(report, None)
}

/// The page for `mignet check`: the address space of the files' view, then every finding.
pub fn check_page(report: &Report, findings: &[CheckFinding]) -> String {
    page(report, Some(findings))
}

/// Width of a track's drawing, in SVG user units (the SVG scales to the page).
const WIDTH: f64 = 1000.0;
const LANE: f64 = 20.0;
const BAR: f64 = 16.0;
/// Room above the lanes for overlap marks.
const TOP: f64 = 12.0;
/// How many owners a title names before summarising.
const NAMED: usize = 5;

/// What one drawn range stands for: every line of the report with that CIDR.
struct Item<'a> {
    net: IpNet,
    kind: ItemKind,
    lines: Vec<&'a RangeLine>,
    overlap: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Reserved,
    Migration,
    Nad,
    Free,
}

impl ItemKind {
    fn class(self) -> &'static str {
        match self {
            ItemKind::Reserved => "r",
            ItemKind::Migration => "m",
            ItemKind::Nad => "n",
            ItemKind::Free => "f",
        }
    }
}

fn items<'a>(report: &'a Report, family: Family) -> Vec<Item<'a>> {
    let mut out: Vec<Item<'a>> = Vec::new();
    for l in report.ranges.iter().filter(|l| Family::of(&l.cidr) == family) {
        let kind = match &l.owner {
            Owner::Reserved { .. } => ItemKind::Reserved,
            Owner::Nad { migration: true, .. } => ItemKind::Migration,
            Owner::Nad { .. } | Owner::Network { .. } => ItemKind::Nad,
        };
        match out.last_mut() {
            Some(item) if item.net == l.cidr => {
                item.lines.push(l);
                item.overlap |= l.overlap_count > 0;
                if kind == ItemKind::Migration || (kind == ItemKind::Reserved && item.kind == ItemKind::Nad) {
                    item.kind = kind;
                }
            }
            _ => out.push(Item { net: l.cidr, kind, lines: vec![l], overlap: l.overlap_count > 0 }),
        }
    }
    for f in report.free_subnets.iter().filter(|f| f.family == family) {
        for net in &f.subnets {
            if !out.iter().any(|i| i.net == *net) {
                out.push(Item { net: *net, kind: ItemKind::Free, lines: Vec::new(), overlap: false });
            }
        }
    }
    out.sort_by_key(|i| (ranges::bounds(&i.net).0, i.net.prefix_len()));
    out
}

fn page(report: &Report, findings: Option<&[CheckFinding]>) -> String {
    let what = if findings.is_some() { "mignet check" } else { "mignet view" };
    let nads: std::collections::BTreeSet<String> = report
        .ranges
        .iter()
        .filter(|l| matches!(l.owner, Owner::Nad { .. }))
        .map(|l| l.owner.label())
        .collect();
    let overlapping = report.ranges.iter().filter(|l| l.overlap_count > 0).count();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (what) ": address map" }
                style { (PreEscaped(CSS)) }
            }
            body {
                (patterns())
                header {
                    h1 { "Address map " small { "(" (what) ")" } }
                    p.summary {
                        (report.ranges.len()) " claimed ranges · " (nads.len()) " NADs · "
                        @if !report.user_defined_networks.is_empty() {
                            (report.user_defined_networks.len()) " user-defined networks · "
                        }
                        span.count-overlaps { (overlapping) " ranges overlapping another owner" }
                        @if let Some(f) = findings {
                            @let unreadable = f.iter().filter(|f| f.rule == "input-error").count();
                            " · " (f.iter().filter(|f| f.level == Level::Error).count() - unreadable) " denials, "
                            (f.iter().filter(|f| f.level == Level::Warning).count()) " warnings"
                            @if unreadable > 0 { ", " (unreadable) " unreadable inputs" }
                        }
                    }
                    (legend())
                }
                main {
                    section #map {
                        @for family in [Family::V4, Family::V6] {
                            (family_map(report, family))
                        }
                    }
                    div.panels {
                        (migration_panel(report))
                        (free_panel(&report.free_subnets))
                    }
                    @if let Some(f) = findings { (findings_section(f)) }
                    (overlaps_section(report))
                    (ranges_section(report))
                    @if !report.user_defined_networks.is_empty() { (networks_section(report)) }
                    @if !report.resources.is_empty() { (resources_section(report)) }
                }
            }
        }
    };
    markup.into_string()
}

fn patterns() -> Markup {
    html! {
        svg.defs width="0" height="0" aria-hidden="true" {
            defs {
                @for (id, base) in [("hx-r", "#8d99ae"), ("hx-m", "#1f9d55"), ("hx-n", "#3b82f6")] {
                    pattern id=(id) width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                        rect width="6" height="6" fill=(base) {}
                        rect width="2.5" height="6" fill="#dc2626" {}
                    }
                }
            }
        }
    }
}

fn legend() -> Markup {
    html! {
        ul.legend {
            li { span.sw.r {} "reserved cluster range" }
            li { span.sw.m {} "migration NAD" }
            li { span.sw.n {} "other NAD, UDN or CUDN" }
            li { span.sw.x {} "overlaps another owner" }
            li { span.sw.f {} "suggested free subnet" }
            li { span.sw.z {} "zoomed below" }
        }
    }
}

fn family_map(report: &Report, family: Family) -> Markup {
    let items = items(report, family);
    let nets: Vec<IpNet> = items.iter().map(|i| i.net).collect();
    let tracks = map::tracks(&nets);
    let name = match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    };
    html! {
        @if !tracks.is_empty() {
            h2 { (name) }
            div.family data-family=(name) {
                @for t in &tracks { (track(t, &items)) }
            }
        }
    }
}

fn track(t: &map::Track, items: &[Item<'_>]) -> Markup {
    // suggested free subnets get a lane of their own below the owners, so they never crowd an
    // owner's label (the migration network's free neighbours would sit right beside it)
    let owners_lanes =
        t.drawn.iter().filter(|(i, _)| items[*i].kind != ItemKind::Free).map(|(_, l)| l + 1).max();
    let drawn: Vec<(usize, usize)> = t
        .drawn
        .iter()
        .map(
            |&(i, lane)| {
                if items[i].kind == ItemKind::Free { (i, owners_lanes.unwrap_or(0)) } else { (i, lane) }
            },
        )
        .collect();
    let lanes = t.enclosing.len() + drawn.iter().map(|(_, l)| l + 1).max().unwrap_or(0);
    let lanes_bottom = TOP + LANE * lanes as f64;
    let zoom_y = lanes_bottom + 2.0;
    let axis_y = zoom_y + if t.zooms.is_empty() { 8.0 } else { 22.0 };
    let height = axis_y + 18.0;
    let bits = t.window.max_prefix_len() - t.window.prefix_len();
    let caption = match t.parent {
        None => format!("{} · the whole axis is {} addresses", t.window, count(bits)),
        Some(p) => format!(
            "{} · zoomed ×{} from {} · {}",
            t.window,
            count(t.window.prefix_len() - p.prefix_len()),
            p,
            per_px(bits)
        ),
    };
    // overlap marks: a range overlapping an owner that holds it is where the two share addresses
    let held: Vec<usize> = drawn
        .iter()
        .filter(|(i, lane)| {
            items[*i].overlap && (*lane > 0 || !t.enclosing.is_empty() || items[*i].lines.len() > 1)
        })
        .map(|(i, _)| *i)
        .collect();
    // where each drawn bar's lane is next taken, so a label may sit beside a bar too narrow for it
    let mut room = vec![WIDTH; drawn.len()];
    let mut next: Vec<f64> = vec![WIDTH; lanes + 1];
    for (k, &(i, lane)) in drawn.iter().enumerate().rev() {
        room[k] = next[lane];
        next[lane] = map::span(&t.window, &items[i].net).0 * WIDTH;
    }
    let mut free_from = 0.0;
    let zoom_labels: Vec<bool> = t
        .zooms
        .iter()
        .map(|z| {
            let x = map::span(&t.window, z).0 * WIDTH;
            let end = x + text_width(&z.to_string());
            let fits = x >= free_from && end <= WIDTH;
            if fits {
                free_from = end + 8.0;
            }
            fits
        })
        .collect();
    html! {
        figure.track style=(format!("margin-left:{}px", t.level * 28)) data-window=(t.window.to_string()) {
            figcaption { (caption) }
            svg viewBox=(format!("0 0 {WIDTH} {height:.0}")) preserveAspectRatio="xMinYMin meet" role="img" aria-label=(format!("address map of {}", t.window)) {
                @if lanes > 0 {
                    rect.lane-bg x="0" y=(px(TOP - 2.0)) width=(WIDTH) height=(px(lanes_bottom - TOP + 2.0)) {}
                }
                @for (lane, &i) in t.enclosing.iter().enumerate() {
                    (bar(&items[i], (0.0, 1.0, 0.0), TOP + LANE * lane as f64, true))
                }
                @for (k, &(i, lane)) in drawn.iter().enumerate() {
                    @let (x, w) = map::span(&t.window, &items[i].net);
                    @let room = room[k] - (x + w) * WIDTH;
                    (bar(&items[i], (x, w, room), TOP + LANE * (t.enclosing.len() + lane) as f64, false))
                }
                @for &i in &held {
                    @let (x, w) = map::span(&t.window, &items[i].net);
                    rect.overlap-mark x=(px(x * WIDTH)) y="1" width=(px((w * WIDTH).max(2.0))) height="8" {
                        title { "overlap at " (items[i].net) ": " (overlap_text(&items[i])) }
                    }
                }
                @for (z, labelled) in t.zooms.iter().zip(&zoom_labels) {
                    @let (x, w) = map::span(&t.window, z);
                    @let hot = items.iter().any(|i| i.overlap && z.contains(&i.net));
                    rect.zoom.hot[hot] x=(px(x * WIDTH)) y=(px(zoom_y)) width=(px((w * WIDTH).max(3.0))) height="6" {
                        title { "zoomed below: " (z) @if hot { " (holds overlapping ranges)" } }
                    }
                    @if *labelled {
                        text.zoom-label x=(px(x * WIDTH)) y=(px(zoom_y + 16.0)) { (z) }
                    }
                }
                (axis(&t.window, axis_y))
            }
        }
    }
}

/// Draws one range: `at` is its start and width as fractions of the window, and the room (in
/// units) free to its right in its lane.
fn bar(item: &Item<'_>, at: (f64, f64, f64), y: f64, band: bool) -> Markup {
    let (x, w, room) = (at.0 * WIDTH, at.1 * WIDTH, at.2);
    let (label, outside) = match label(item, w) {
        Some(l) => (Some(l), false),
        None => (label(item, room - 4.0), true),
    };
    html! {
        g.range.(item.kind.class()).x[item.overlap].band[band] data-cidr=(item.net.to_string()) {
            title { (title(item)) }
            rect x=(px(x)) y=(px(y)) width=(px(w)) height=(BAR) {}
            @if let Some(label) = label {
                text.out[outside] x=(px(if outside { x + w + 3.0 } else { x + 3.0 })) y=(px(y + 12.0)) { (label) }
            }
        }
    }
}

fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * 6.6 + 6.0
}

/// The text that fits in `width`: CIDR and owner, the CIDR alone, or nothing.
fn label(item: &Item<'_>, width: f64) -> Option<String> {
    let fits = |s: &str| text_width(s) <= width;
    let cidr = item.net.to_string();
    let full = format!("{cidr} {}", owners_short(item));
    if fits(&full) {
        Some(full)
    } else if fits(&cidr) {
        Some(cidr)
    } else {
        None
    }
}

fn owners_short(item: &Item<'_>) -> String {
    match item.lines.as_slice() {
        [] => "free".to_owned(),
        [one] => one.owner.label(),
        [first, rest @ ..] => format!("{} +{}", first.owner.label(), rest.len()),
    }
}

fn describe(owner: &Owner) -> String {
    match owner {
        Owner::Reserved { what, source } => format!("{what} ({source})"),
        Owner::Nad { namespace, name, migration: true } => format!("migration NAD {namespace}/{name}"),
        Owner::Nad { namespace, name, .. } => format!("NAD {namespace}/{name}"),
        Owner::Network { .. } => owner.short(),
    }
}

fn title(item: &Item<'_>) -> String {
    let mut s =
        format!("{} · {} addresses", item.net, count(item.net.max_prefix_len() - item.net.prefix_len()));
    if item.kind == ItemKind::Free {
        s.push_str(" · free: overlaps nothing in the view");
        return s;
    }
    if let Some(u) = item.lines.iter().filter_map(|l| l.usable).min() {
        let _ = write!(s, " · {u} usable");
    }
    let _ = write!(s, "\n{}", owner_list(item));
    if item.overlap {
        let _ = write!(s, "\noverlaps: {}", overlap_text(item));
    }
    s
}

fn owner_list(item: &Item<'_>) -> String {
    let names: Vec<String> = item.lines.iter().take(NAMED).map(|l| describe(&l.owner)).collect();
    let mut s = names.join(", ");
    if item.lines.len() > NAMED {
        let _ = write!(s, " and {} more", item.lines.len() - NAMED);
    }
    s
}

fn overlap_text(item: &Item<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if item.lines.len() > 1 {
        parts.push(format!("{} owners claim it: {}", item.lines.len(), owner_list(item)));
    }
    let first = item.lines.iter().find(|l| l.overlap_count > 0);
    if let Some(l) = first {
        let mut s = format!("{} with {}", l.owner.label(), l.overlaps.join(", "));
        if l.overlap_count > l.overlaps.len() {
            let _ = write!(s, " and {} more", l.overlap_count - l.overlaps.len());
        }
        parts.push(s);
    }
    parts.join("; ")
}

fn axis(window: &IpNet, y: f64) -> Markup {
    let ticks: &[f64] =
        if window.max_prefix_len() == 32 { &[0.0, 0.25, 0.5, 0.75, 1.0] } else { &[0.0, 0.5, 1.0] };
    let (lo, hi) = ranges::bounds(window);
    let parts = ticks.len() as u128 - 1;
    // exact divisions of the window (its size is a power of two, 2^128 for ::/0)
    let step = ((hi - lo) / parts).saturating_add(1).min(hi - lo);
    let at = |k: usize| address(window, if k + 1 == ticks.len() { hi } else { lo + step * k as u128 });
    html! {
        line.axis x1="0" y1=(px(y)) x2=(WIDTH) y2=(px(y)) {}
        @for (k, &f) in ticks.iter().enumerate() {
            line.axis x1=(px(f * WIDTH)) y1=(px(y - 3.0)) x2=(px(f * WIDTH)) y2=(px(y + 3.0)) {}
            text.tick x=(px(f * WIDTH)) y=(px(y + 14.0)) text-anchor=(if f == 0.0 { "start" } else if f == 1.0 { "end" } else { "middle" }) { (at(k)) }
        }
    }
}

fn address(window: &IpNet, v: u128) -> String {
    match window {
        IpNet::V4(_) => std::net::Ipv4Addr::from(v as u32).to_string(),
        IpNet::V6(_) => std::net::Ipv6Addr::from(v).to_string(),
    }
}

/// What one of [`WIDTH`] units stands for in a window of 2^bits addresses.
fn per_px(bits: u8) -> String {
    if bits > 40 {
        return format!("1 px ≈ 2^{} addresses", bits - 10);
    }
    let v = 2f64.powi(i32::from(bits)) / WIDTH;
    if v < 1.0 {
        return format!("1 address ≈ {:.1} px", 1.0 / v);
    }
    if v >= 10.0 {
        format!("1 px ≈ {} addresses", group(v.round() as u128))
    } else {
        format!("1 px ≈ {v:.1} addresses")
    }
}

/// 2^bits, in digits up to 2^40 and as a power beyond.
fn count(bits: u8) -> String {
    if bits <= 40 { group(1u128 << bits) } else { format!("2^{bits}") }
}

fn group(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn px(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn migration_panel(report: &Report) -> Markup {
    html! {
        section #migration .panel {
            h2 { "Migration network" }
            @if report.migration_networks.is_empty() {
                p.none { "No migration network: no HyperConverged names one and no NAD is taken for one; live migrations use the pod network." }
            }
            @for m in &report.migration_networks { (migration_card(report, m)) }
            @if !report.host_networks.is_empty() {
                h3 { "Host interfaces" }
                table.hosts {
                    thead { tr { th { "node" } th { "master" } th { "present" } th { "state" } th { "MTU" } th { "management" } } }
                    tbody {
                        @for h in &report.host_networks {
                            @if !h.known {
                                tr.bad {
                                    td { (h.node) } td colspan="5" {
                                        "unknown: " (h.unknown_reason.as_deref().unwrap_or("no NodeNetworkState"))
                                    }
                                }
                            }
                            @for m in &h.masters {
                                tr.bad[!m.present || m.management || m.port_of.is_some()] {
                                    td { (h.node) } td { code { (m.master) } }
                                    td { (if m.present { "yes" } else { "MISSING" }) }
                                    td { (m.state.unwrap_or("-")) }
                                    td { @if let Some(mtu) = m.mtu { (mtu) } @else { "-" } }
                                    td { (h.management.join(", ")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn migration_card(report: &Report, m: &MigrationNetwork) -> Markup {
    let hcs: Vec<_> = report
        .hyper_convergeds
        .iter()
        .filter(|h| h.namespace == m.namespace && h.network.as_deref() == Some(&m.name))
        .collect();
    let verdict = match (m.usable, m.virt_handler_nodes, m.enough) {
        (Some(u), Some(n), Some(true)) => format!("{u} usable addresses for {n} virt-handler nodes"),
        (Some(u), Some(n), _) => format!("TOO SMALL: {u} usable addresses for {n} virt-handler nodes"),
        (Some(u), None, _) => format!("{u} usable addresses; no node known, capacity not judged"),
        (None, _, _) if !m.found => "the NAD is not in the view".to_owned(),
        (None, _, _) => "capacity unknown: no whereabouts range could be read".to_owned(),
    };
    let fill = match (m.usable, m.virt_handler_nodes) {
        (Some(u), Some(n)) if u > 0 => (n as f64 / u as f64).min(1.0),
        (Some(_), Some(n)) if n > 0 => 1.0,
        _ => 0.0,
    };
    html! {
        div.card.bad[m.enough == Some(false) || !m.found] data-nad=(format!("{}/{}", m.namespace, m.name)) {
            h3 { "NAD " (m.namespace) "/" (m.name) }
            dl {
                dt { "ranges" } dd { @for r in &m.ranges { code { (r) } " " } @if m.ranges.is_empty() { "none" } }
                dt { "master" } dd { @if let Some(ms) = &m.master { code { (ms) } } @else { "-" } }
                dt { "capacity" } dd.capacity { (verdict) }
                dt { "used by" } dd {
                    @if m.hyper_convergeds.is_empty() { "no HyperConverged" }
                    @for h in &m.hyper_convergeds { "HyperConverged " (h) " " }
                }
            }
            @if m.usable.is_some() && m.virt_handler_nodes.is_some() {
                svg.meter viewBox="0 0 300 12" role="img" aria-label="addresses needed against usable" {
                    title { (verdict) }
                    rect.meter-bg width="300" height="12" {}
                    rect.meter-fill.full[m.enough == Some(false)] width=(px(300.0 * fill)) height="12" {}
                }
            }
            @for hc in hcs {
                @if let Some(cfg) = &hc.live_migration_config {
                    table.settings {
                        caption { "HyperConverged " (hc.namespace) "/" (hc.name) " spec.liveMigrationConfig" }
                        @for (k, v) in cfg { tr { th { (k) } td { (v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())) } } }
                    }
                }
            }
        }
    }
}

fn free_panel(free: &[FreeSubnets]) -> Markup {
    html! {
        section #free .panel {
            h2 { "Free subnets" }
            @for f in free {
                p {
                    @match f.like {
                        Some(like) => { "The size of " code { (like) } ", nearest first:" }
                        None => { "No migration range yet; free /" (f.prefix_len) " subnets:" }
                    }
                }
                @if f.subnets.is_empty() {
                    p.bad { "No free /" (f.prefix_len) " in private address space." }
                }
                ul.free-list {
                    @for s in &f.subnets { li.free { code { (s) } } }
                }
            }
            p.hint { "Each overlaps no reserved cluster range and no NAD in this view." }
        }
    }
}

fn findings_section(findings: &[CheckFinding]) -> Markup {
    html! {
        section #findings {
            h2 { "Findings" }
            @if findings.is_empty() { p { "Nothing denied, nothing to warn about." } }
            @else {
                table.findings {
                    thead { tr { th { "level" } th { "rule" } th { "object" } th { "field" } th { "message" } th { "file:line" } } }
                    tbody {
                        @for f in findings {
                            tr.finding.(f.level.word()) {
                                td { (f.level.word()) } td { code { (f.rule) } } td { (f.object) }
                                td { code { (f.field) } } td { (f.message) } td { code { (f.location) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn overlaps_section(report: &Report) -> Markup {
    let lines: Vec<&RangeLine> = report.ranges.iter().filter(|l| l.overlap_count > 0).collect();
    html! {
        section #overlaps {
            h2 { "Overlaps" }
            @if lines.is_empty() { p { "No two owners share an address." } }
            @else {
                table {
                    thead { tr { th { "range" } th { "owner" } th { "overlaps" } } }
                    tbody {
                        @for l in lines {
                            tr.overlap {
                                td { code { (l.cidr) } } td { (describe(&l.owner)) }
                                td {
                                    (l.overlaps.join(", "))
                                    @if l.overlap_count > l.overlaps.len() { " and " (l.overlap_count - l.overlaps.len()) " more" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn ranges_section(report: &Report) -> Markup {
    html! {
        section #ranges {
            h2 { "Every claimed range" }
            details open[report.ranges.len() <= 200] {
                summary { (report.ranges.len()) " ranges" }
                table.ranges {
                    thead { tr { th { "CIDR" } th { "owner" } th { "addresses" } th { "usable" } } }
                    tbody {
                        @for l in &report.ranges {
                            tr.x[l.overlap_count > 0] {
                                td { (l.cidr) } td { (describe(&l.owner)) }
                                td { (count(l.cidr.max_prefix_len() - l.cidr.prefix_len())) }
                                td { @if let Some(u) = l.usable { (u) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn networks_section(report: &Report) -> Markup {
    html! {
        section #networks {
            h2 { "User-defined networks" }
            table.ranges {
                thead { tr { th { "network" } th { "layout" } th { "claims" } th { "rendered NADs" } } }
                tbody {
                    @for n in &report.user_defined_networks {
                        tr.x[n.unknown_reason.is_some()] {
                            td { (Owner::Network { network_kind: n.kind.to_owned(), namespace: n.namespace.clone(),
                                name: n.name.clone(), selector: n.selector.clone() }.short()) }
                            td { (n.topology.unwrap_or("?")) " " (n.role.unwrap_or("")) }
                            td {
                                @if let Some(why) = &n.unknown_reason { "unknown: " (why) }
                                @else if n.ranges.is_empty() { "none (IPAM disabled)" }
                                @else { (n.ranges.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                            }
                            td { (n.rendered_nads) }
                        }
                    }
                }
            }
        }
    }
}

fn resources_section(report: &Report) -> Markup {
    html! {
        section #resources {
            h2 { "Watched resources" }
            ul {
                @for r in &report.resources {
                    li {
                        (r.watching.unwrap_or(r.resource)) ": "
                        @if !r.present { "not served by this cluster (the policy's values apply)" }
                        @else { (if r.synced { "synced" } else { "NOT SYNCED" }) ", " (r.objects) (if r.objects == 1 { " object" } else { " objects" }) }
                        @if let Some(e) = &r.error { ", last error: " (e) }
                    }
                }
            }
        }
    }
}

const CSS: &str = r#"
:root{--r:#8d99ae;--m:#1f9d55;--n:#3b82f6;--x:#dc2626;--z:#f59e0b;--ink:#1f2933;--mute:#52606d}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);margin:0;padding:16px 24px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h1 small{font-weight:normal;color:var(--mute);font-size:14px}
h2{font-size:17px;margin:18px 0 6px}h3{font-size:15px;margin:6px 0}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.summary{margin:0 0 6px;color:var(--mute)}
.legend{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:14px;font-size:13px}
.sw{display:inline-block;width:14px;height:12px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.sw.r{background:var(--r)}.sw.m{background:var(--m)}.sw.n{background:var(--n)}
.sw.x{background:repeating-linear-gradient(45deg,var(--x) 0 3px,#fff 3px 6px);outline:1.5px solid var(--x)}
.sw.f{border:1.5px dashed var(--m)}.sw.z{background:var(--z);height:6px;vertical-align:2px}
svg.defs{position:absolute}
.track{margin:4px 0 8px;padding:0;border-left:3px solid #e4e7eb;padding-left:8px}
.track figcaption{font-size:12px;color:var(--mute)}
.track svg{width:100%;max-width:1200px;display:block}
.lane-bg{fill:#f5f7fa}
.range rect{stroke:#fff;stroke-width:.5}
.range.r rect{fill:var(--r)}.range.m rect{fill:var(--m)}.range.n rect{fill:var(--n)}
.range.f rect{fill:#fff;stroke:var(--m);stroke-width:1.5;stroke-dasharray:4 2}
.range.x rect{stroke:var(--x);stroke-width:1.5}
.range.x.r rect{fill:url(#hx-r)}.range.x.m rect{fill:url(#hx-m)}.range.x.n rect{fill:url(#hx-n)}
.range.band rect{opacity:.55}.range.band text{fill:var(--ink)}
.range:hover rect{stroke:var(--ink);stroke-width:2}
.range text{font:11px ui-monospace,Menlo,Consolas,monospace;fill:#fff;pointer-events:none}
.range.f text,.range text.out{fill:var(--ink)}
.range.x text{fill:var(--ink);paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.zoom-label{font:10.5px ui-monospace,Menlo,Consolas,monospace;fill:#b45309}
.overlap-mark{fill:var(--x)}
.zoom{fill:var(--z)}.zoom.hot{fill:var(--x)}
.axis{stroke:#9aa5b1;stroke-width:1}
.tick{font:10.5px ui-monospace,Menlo,Consolas,monospace;fill:var(--mute)}
.panels{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.panel{flex:1 1 420px;border:1px solid #e4e7eb;border-radius:6px;padding:8px 14px}
.card{border-left:4px solid var(--m);padding:2px 10px;margin:8px 0}
.card.bad,.bad{border-color:var(--x);color:#9b1c1c}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}dt{color:var(--mute)}dd{margin:0}
.meter{width:300px;height:12px;display:block;margin:4px 0}
.meter-bg{fill:#e4e7eb}.meter-fill{fill:var(--m)}.meter-fill.full{fill:var(--x)}
table{border-collapse:collapse;margin:4px 0;font-size:13px}
th,td{text-align:left;padding:2px 10px 2px 0;vertical-align:top;border-bottom:1px solid #f0f2f5}
caption{text-align:left;color:var(--mute);font-size:12px}
.free-list{margin:2px 0}.free code{color:var(--m);font-weight:600}
.hint{color:var(--mute);font-size:12px}
tr.error td:first-child,tr.overlap td:first-child,tr.x td:first-child{color:var(--x);font-weight:600}
tr.warning td:first-child{color:#b45309;font-weight:600}
tr.bad td{color:#9b1c1c}
@media print{.track svg{max-width:100%}}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cluster::report::{HostLine, MasterLine},
        policy::view::{HcEntry, View},
        policy::{Policy, Rule},
    };

    use crate::policy::testutil::nad_entry as nad;

    const MIG: &str =
        r#"{"type":"macvlan","master":"bond2","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;

    fn report(extra: impl FnOnce(&mut View)) -> Report {
        let mut v = View::new();
        v.upsert_nad(nad("openshift-cnv", "migration-bridge", &["192.168.99.0/24"], Some(MIG)));
        v.upsert_hc(HcEntry {
            namespace: "openshift-cnv".into(),
            name: "kubevirt-hyperconverged".into(),
            network: Some("migration-bridge".into()),
        });
        v.upsert_node("w0".into(), true);
        extra(&mut v);
        Report::build(&Policy::default(), &v, Vec::new())
    }

    #[test]
    fn free_subnets_take_a_lane_of_their_own_and_leave_the_owner_its_label() {
        // the suggestions (192.168.100-102.0/24) sit right beside the migration network
        let page = view_page(&report(|_| {}));
        let track = page.split("<figure").find(|f| f.contains("data-window=\"192.168.0.0/16\"")).unwrap();
        assert!(track.contains(">192.168.99.0/24 openshift-cnv/migration-bridge</text>"), "{track}");
        let y_of = |cidr: &str| {
            let g = track.split("<g ").find(|g| g.contains(&format!("data-cidr=\"{cidr}\""))).unwrap();
            g.split("y=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
        };
        assert_ne!(y_of("192.168.99.0/24"), y_of("192.168.100.0/24"), "another lane");
        assert_eq!(y_of("192.168.100.0/24"), y_of("192.168.101.0/24"));
    }

    #[test]
    fn hostile_names_are_text() {
        let r = report(|v| v.upsert_nad(nad("tenant", "<script>alert(1)</script>", &["10.50.0.0/24"], None)));
        let page = view_page(&r);
        assert!(!page.contains("<script>"), "no markup from a name");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("default-src 'none'"));
    }

    #[test]
    fn overlaps_are_marked_with_both_owners() {
        let r = report(|v| v.upsert_nad(nad("tenant", "blue", &["192.168.99.128/25"], None)));
        let page = view_page(&r);
        assert!(page.contains(r#"class="overlap-mark""#));
        assert!(page.contains("overlap at 192.168.99.128/25: tenant/blue with openshift-cnv/migration-bridge (192.168.99.0/24)"), "{page}");
        assert!(page.contains(r#"class="range m x" data-cidr="192.168.99.0/24""#));
    }

    #[test]
    fn panel_free_subnets_and_findings() {
        let r = report(|_| {});
        let findings = [CheckFinding {
            level: Level::Error,
            rule: Rule::NadMaster.id().to_owned(),
            location: "nad.yaml:3".into(),
            object: "NetworkAttachmentDefinition openshift-cnv/x".into(),
            field: "spec.config.master".into(),
            message: "Required value".into(),
        }];
        let page = check_page(&r, &findings);
        assert!(page.contains(r#"data-nad="openshift-cnv/migration-bridge""#));
        assert!(page.contains("254 usable addresses for 1 virt-handler nodes"));
        assert!(page.contains(r#"<li class="free"><code>192.168.100.0/24</code></li>"#));
        assert!(
            page.contains(r#"class="range f" data-cidr="192.168.100.0/24""#),
            "free subnets are on the map"
        );
        assert!(page.contains("<code>nad-master</code>") && page.contains("<code>nad.yaml:3</code>"));
        assert!(!view_page(&r).contains("id=\"findings\""));
        assert!(!page.contains("Host interfaces"), "no host section without host data");
    }

    #[test]
    fn host_interfaces_are_drawn_when_known() {
        let mut r = report(|_| {});
        let master = |present: bool| MasterLine {
            master: "bond2".into(),
            nad: "openshift-cnv/migration-bridge".into(),
            present,
            state: present.then_some("up"),
            mtu: present.then_some(9000),
            port_of: None,
            management: false,
        };
        let line = |node: &str, present: bool| HostLine {
            node: node.into(),
            known: true,
            unknown_reason: None,
            management: vec!["br-ex".into(), "bond0".into()],
            masters: vec![master(present)],
        };
        r.host_networks = vec![line("w0", true), line("w1", false)];
        let page = view_page(&r);
        assert!(page.contains("<h3>Host interfaces</h3>"));
        assert!(
            page.contains(
                r#"<tr class=""><td>w0</td><td><code>bond2</code></td><td>yes</td><td>up</td><td>9000</td><td>br-ex, bond0</td></tr>"#
            ),
            "{page}"
        );
        assert!(page.contains(
            r#"<tr class="bad"><td>w1</td><td><code>bond2</code></td><td>MISSING</td><td>-</td><td>-</td><td>br-ex, bond0</td></tr>"#
        ));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(8), "256");
        assert_eq!(count(32), "4,294,967,296");
        assert_eq!(count(64), "2^64");
        assert_eq!(px(12.0), "12");
        assert_eq!(px(3.906), "3.9");
    }
}

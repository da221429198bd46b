//! NodeNetworkConfigurationPolicy rules: a change to the hosts must not take the migration master
//! away from the virt-handler nodes it applies to (see README "Host networks").
//!
//! nmstate applies an NNCP with a checkpoint and rolls back only when the default gateway, DNS or
//! the API server stop answering: breaking the migration NIC alone is committed, and every running
//! virt-handler silently loses `migration0`. These rules catch it before it is stored.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::policy::{
    Admission, Ctx, Operation, Rule,
    cni::NetConf,
    decision::{Findings, msg},
    host::{self, Dependency, HostNetwork, Role},
    nad, nad_host, object,
};
use crate::{policy::view::NadName, text::printable};

/// A migration NAD's macvlan master: what the host rules and reports follow on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationMaster {
    pub nad: NadName,
    pub master: String,
    /// The NAD's `mtu`, when it sets one.
    pub mtu: Option<u32>,
}

/// One `desiredState.interfaces` entry, as nmstate reads it.
struct Desired<'a> {
    index: usize,
    name: &'a str,
    /// `state`, defaulting to `up`.
    state: &'a str,
    mtu: Option<u32>,
    /// The bond port list, when the entry gives one (under any spelling nmstate accepts).
    ports: Option<Vec<&'a str>>,
    /// Where the ports key was written, for field paths.
    ports_field: &'static str,
    /// `controller` when given; empty detaches the interface from its bond or bridge.
    controller: Option<&'a str>,
    /// `type` when given.
    kind: Option<&'a str>,
    /// Every name the entry takes as a port (bond ports, `bridge.port[].name` and OVS bond members
    /// inside a bridge), with the field each is written at.
    enslaves: Vec<(String, &'a str)>,
}

impl<'a> Desired<'a> {
    fn field(&self, key: &str) -> String {
        format!("spec.desiredState.interfaces[{}].{key}", self.index)
    }

    fn removes(&self) -> bool {
        matches!(self.state, "absent" | "down")
    }

    /// The bond port list when every name in it is known (no capture template).
    fn known_ports(&self) -> Option<&[&'a str]> {
        self.ports.as_deref().filter(|l| !l.iter().any(|p| templated(p)))
    }

    /// What the entry is, as messages name it.
    fn describe(&self) -> String {
        let kind = match self.kind {
            Some(k) => k,
            None if self.ports.is_some() => "bond",
            None => "bridge",
        };
        format!("{kind} {}", msg::quote(self.name))
    }
}

/// A policy's entries with lookups by name, so judging it on each node costs what the master stands
/// on, not the size of the policy (a policy may list thousands of interfaces or ports).
struct Entries<'a> {
    list: Vec<Desired<'a>>,
    /// Entry indices by interface name, in list order.
    by_name: HashMap<&'a str, Vec<usize>>,
    /// Per name some entry takes as a port: (entry index, field).
    enslaved: HashMap<&'a str, Vec<(usize, usize)>>,
}

impl<'a> Entries<'a> {
    fn new(list: Vec<Desired<'a>>) -> Self {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut enslaved: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (i, e) in list.iter().enumerate() {
            by_name.entry(e.name).or_default().push(i);
            for (j, (_, p)) in e.enslaves.iter().enumerate() {
                enslaved.entry(p).or_default().push((i, j));
            }
        }
        Entries { list, by_name, enslaved }
    }

    /// The entries naming `name`, in list order.
    fn named(&self, name: &str) -> impl Iterator<Item = &Desired<'a>> {
        self.by_name.get(name).into_iter().flatten().map(|i| &self.list[*i])
    }

    /// Whether the policy takes `port` away from `bond`: removes or downs it, or gives it another
    /// controller.
    fn takes_away(&self, port: &str, bond: &str) -> bool {
        self.named(port).any(|e| e.removes() || e.controller.is_some_and(|c| c != bond))
    }
}

/// The names of `from` that `other` lacks, in `from`'s order: a scan for the usual two or three
/// ports, a set for lists of thousands.
fn missing_from<'a>(from: &[&'a str], other: &[&str]) -> Vec<&'a str> {
    if from.len().saturating_mul(other.len()) <= 1024 {
        return from.iter().copied().filter(|p| !other.contains(p)).collect();
    }
    let other: HashSet<&str> = other.iter().copied().collect();
    from.iter().copied().filter(|p| !other.contains(p)).collect()
}

/// A value nmstate resolves per node (`{{ capture.x.y }}`): unknown here.
fn templated(s: &str) -> bool {
    s.contains("{{")
}

fn desired(list: &[Value]) -> Vec<Desired<'_>> {
    let mut out = Vec::new();
    for (index, v) in list.iter().enumerate() {
        let Some(name) = v.get("name").and_then(Value::as_str) else { continue };
        if name.contains("{{") {
            continue; // a capture template: resolved per node
        }
        let section = if v.get("link-aggregation").is_some() { "link-aggregation" } else { "bond" };
        let key = v.get(section).and_then(|la| {
            ["port", "ports", "slaves"].into_iter().find(|k| la.get(*k).is_some_and(|p| !p.is_null()))
        });
        let ports_field = match (section, key) {
            ("bond", Some("ports")) => "bond.ports",
            ("bond", Some("slaves")) => "bond.slaves",
            ("bond", _) => "bond.port",
            (_, Some("ports")) => "link-aggregation.ports",
            (_, Some("slaves")) => "link-aggregation.slaves",
            _ => "link-aggregation.port",
        };
        let ports: Option<Vec<&str>> = host::port_names(host::bond_ports(v)).map(Iterator::collect);
        let at = |key: &str| format!("spec.desiredState.interfaces[{index}].{key}");
        let mut enslaves: Vec<(String, &str)> = ports
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, p)| (at(&format!("{ports_field}[{j}]")), *p))
            .collect();
        let bridge = object::get(v, &["bridge", "port"]).and_then(Value::as_array);
        for (j, port) in bridge.into_iter().flatten().enumerate().take(host::MAX_PORTS) {
            if let Some(p) = port.get("name").and_then(Value::as_str) {
                enslaves.push((at(&format!("bridge.port[{j}].name")), p));
            }
            let members =
                port.get("link-aggregation").and_then(|la| la.get("port")).and_then(Value::as_array);
            for (k, m) in members.into_iter().flatten().enumerate().take(host::MAX_PORTS) {
                if let Some(p) = m.as_str().or_else(|| m.get("name").and_then(Value::as_str)) {
                    enslaves.push((at(&format!("bridge.port[{j}].link-aggregation.port[{k}].name")), p));
                }
            }
        }
        enslaves.retain(|(_, p)| *p != name && !templated(p));
        out.push(Desired {
            index,
            name,
            state: v.get("state").and_then(Value::as_str).unwrap_or("up"),
            mtu: host::mtu_of(v.get("mtu")),
            ports,
            ports_field,
            controller: v.get("controller").and_then(Value::as_str).filter(|c| !templated(c)),
            kind: v.get("type").and_then(Value::as_str),
            enslaves,
        });
    }
    out
}

/// The masters of the migration NADs the view holds (configs are kept in the migration namespace).
pub(in crate::policy) fn guarded(ctx: &Ctx<'_>) -> Vec<MigrationMaster> {
    let view = ctx.view;
    let mut entries: Vec<_> = ["0.0.0.0/0", "::/0"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .flat_map(|n| view.flagged_overlapping(&n).into_iter().map(|(_, e)| e))
        .chain(view.migration_networks().filter_map(|(ns, n)| view.nad(ns, n)))
        .filter(|e| nad::is_migration_entry(ctx, e))
        .collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries.dedup_by(|a, b| a.key == b.key);
    entries
        .into_iter()
        .filter_map(|e| {
            let conf = NetConf::parse(e.config.as_deref()?).ok()?;
            if conf.main_type() != "macvlan" {
                return None;
            }
            let master = nad_host::master(conf.main())?.to_owned();
            Some(MigrationMaster { nad: e.key.clone(), master, mtu: nad_host::nad_mtu(conf.main()) })
        })
        .collect()
}

/// Whether an NNCP's `nodeSelector` (plain label equality) selects a node; unknown labels count as
/// a match, so a change that could reach a virt-handler node is judged.
fn selects<'a>(
    selector: &serde_json::Map<String, Value>,
    labels: Option<impl Iterator<Item = (&'a str, &'a str)> + Clone>,
) -> bool {
    let Some(labels) = labels else { return true };
    selector
        .iter()
        .all(|(k, v)| v.as_str().is_some_and(|v| labels.clone().any(|(lk, lv)| lk == k && lv == v)))
}

/// One finding gathered over nodes.
struct Hit<'v> {
    rule: Rule,
    deny: bool,
    field: String,
    /// The message, with `{nodes}` where the nodes are named.
    text: String,
    named: Vec<&'v str>,
    total: usize,
}

/// Findings gathered over nodes: one per (rule, field, text), naming the nodes.
#[derive(Default)]
struct Hits<'v> {
    list: Vec<Hit<'v>>,
}

impl<'v> Hits<'v> {
    fn add(&mut self, rule: Rule, deny: bool, field: String, text: String, node: Option<&'v str>) {
        let at = match self.list.iter().position(|h| h.rule == rule && h.field == field && h.text == text) {
            Some(at) => at,
            None => {
                self.list.push(Hit { rule, deny, field, text, named: Vec::new(), total: 0 });
                self.list.len() - 1
            }
        };
        let hit = &mut self.list[at];
        if let Some(n) = node {
            hit.total += 1;
            if hit.named.len() < 3 {
                hit.named.push(n);
            }
        }
    }

    fn emit(self, f: &mut Findings) {
        for Hit { rule, deny, field, text, named, total } in self.list {
            let on = if total == 0 {
                "the virt-handler nodes".to_owned()
            } else {
                format!(
                    "{} ({total} virt-handler node{})",
                    nad_host::node_list(&named, total),
                    if total == 1 { "" } else { "s" }
                )
            };
            let message = text.replace("{nodes}", &on);
            if deny { f.deny(rule, field, message) } else { f.warn(rule, field, message) }
        }
    }
}

pub(in crate::policy) fn admit(ctx: &Ctx<'_>, admission: &Admission<'_>, f: &mut Findings) {
    let (Operation::Create | Operation::Update, Some(obj)) = (admission.operation, admission.object) else {
        return;
    };
    let data = &obj.data;
    let capture =
        object::get(data, &["spec", "capture"]).and_then(Value::as_object).filter(|c| !c.is_empty());
    if let Some(capture) = capture {
        let names: Vec<&str> = capture.keys().map(String::as_str).take(4).collect();
        f.warn(
            Rule::NncpCaptureUnjudged,
            "spec.capture",
            format!(
                "capture {} resolves per node: interfaces named through it are not judged against the \
                 migration network; check the NodeNetworkConfigurationEnactments",
                names.iter().map(|n| msg::quote(n)).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    let Some(list) = object::get(data, &["spec", "desiredState", "interfaces"]).and_then(Value::as_array)
    else {
        return;
    };
    let entries = Entries::new(desired(list));
    if entries.list.is_empty() {
        return;
    }
    let guarded = guarded(ctx);
    if guarded.is_empty() {
        return;
    }
    let empty = serde_json::Map::new();
    let selector = object::get(data, &["spec", "nodeSelector"]).and_then(Value::as_object).unwrap_or(&empty);
    let view = ctx.view;
    let mut hits = Hits::default();
    let guarded: Vec<(MigrationMaster, String)> = guarded
        .into_iter()
        .map(|g| {
            let of_nad = format!(
                "the live-migration master of NetworkAttachmentDefinition {}",
                printable(&g.nad.to_string())
            );
            (g, of_nad)
        })
        .collect();
    for (node, host) in view.virt_handler_hosts() {
        if !selects(selector, view.node_labels(node)) {
            continue;
        }
        let host = host.and_then(Result::ok);
        for (g, of_nad) in &guarded {
            judge(g, of_nad, host, &entries, Some(node), &mut hits);
        }
    }
    if view.virt_handler_nodes().is_none() {
        // no node known (a GitOps repository judged alone): judge the master by name
        for (g, of_nad) in &guarded {
            judge(g, of_nad, None, &entries, None, &mut hits);
        }
    }
    hits.emit(f);
    if !view.in_flight().is_empty() {
        guard_in_flight(ctx, selector, &guarded, &entries.list, f);
    }
}

/// Denies touching the master of the NAD in use, or anything it stands on, while migrations run.
fn guard_in_flight(
    ctx: &Ctx<'_>,
    selector: &serde_json::Map<String, Value>,
    guarded: &[(MigrationMaster, String)],
    entries: &[Desired<'_>],
    f: &mut Findings,
) {
    let view = ctx.view;
    let in_use =
        guarded.iter().filter(|(g, _)| view.network_users(g.nad.namespace(), g.nad.name()).next().is_some());
    let touches = |g: &MigrationMaster, host: Option<&HostNetwork>| {
        let deps = dependencies(g, host);
        entries
            .iter()
            .find(|e| {
                deps.iter().any(|d| {
                    d.name == e.name
                        || d.ports.contains(&e.name)
                        || e.enslaves.iter().any(|(_, p)| *p == d.name)
                })
            })
            .map(|e| e.index)
    };
    let mut hit: Option<(usize, &str)> = None;
    for (g, of_nad) in in_use {
        let mut found = None;
        for (node, host) in view.virt_handler_hosts() {
            if selects(selector, view.node_labels(node)) {
                found = found.or_else(|| touches(g, host.and_then(Result::ok)));
            }
        }
        if view.virt_handler_nodes().is_none() {
            found = found.or_else(|| touches(g, None));
        }
        if let Some(i) = found {
            hit = Some((i, of_nad));
            break;
        }
    }
    let Some((index, of_nad)) = hit else { return };
    let name = entries.iter().find(|e| e.index == index).map_or("", |e| e.name);
    let change = format!("changing interface {} ({of_nad}, or what it stands on)", msg::quote(name));
    super::inflight::guard(ctx, &format!("spec.desiredState.interfaces[{index}]"), &change, f);
}

/// What the master stands on: from the node's host network, or the master alone when unknown.
fn dependencies<'a>(g: &'a MigrationMaster, host: Option<&'a HostNetwork>) -> Vec<Dependency<'a>> {
    match host {
        Some(h) => h.dependencies(&g.master),
        None => vec![Dependency { name: &g.master, role: Role::Master, mtu: None, ports: Vec::new() }],
    }
}

fn judge<'v>(
    g: &MigrationMaster,
    of_nad: &str,
    host: Option<&HostNetwork>,
    entries: &Entries<'_>,
    node: Option<&'v str>,
    hits: &mut Hits<'v>,
) {
    let deps = dependencies(g, host);
    // most policies touch nothing the master stands on: leave before building any message
    let touches = |d: &Dependency<'_>| {
        entries.by_name.contains_key(d.name)
            || entries.enslaved.contains_key(d.name)
            || d.ports.iter().any(|p| entries.by_name.contains_key(p))
    };
    if !deps.iter().any(touches) {
        return;
    }
    let master = msg::quote(&g.master);
    let what = |d: &Dependency| match &d.role {
        Role::Master => format!("{} is {of_nad}", msg::quote(d.name)),
        Role::PortOf(b) => {
            format!("{} is a port of {}, {of_nad} or under it", msg::quote(d.name), msg::quote(b))
        }
        Role::BaseOf(v) => {
            format!("{} is the base of VLAN {}, {of_nad} or under it", msg::quote(d.name), msg::quote(v))
        }
    };
    // entries naming what the master stands on, in list order (a name is one dependency at most)
    let mut named: Vec<(usize, &Dependency<'_>)> = deps
        .iter()
        .flat_map(|d| entries.by_name.get(d.name).into_iter().flatten().map(move |i| (*i, d)))
        .collect();
    named.sort_by_key(|(i, _)| *i);
    for (i, d) in named {
        let e = &entries.list[i];
        if e.removes() {
            hits.add(
                Rule::NncpBreaksMigration,
                true,
                e.field("state"),
                msg::invalid(
                    e.state,
                    format!(
                        "{} on {{nodes}}: setting it {} deletes every virt-handler's migration0 there (nmstate's \
                         probes do not roll this back)",
                        what(d),
                        e.state
                    ),
                ),
                node,
            );
        }
        if let (Some(new), Role::Master | Role::BaseOf(_)) = (e.mtu, &d.role) {
            match g.mtu {
                Some(want) if new < want => hits.add(
                    Rule::NncpBreaksMigration,
                    true,
                    e.field("mtu"),
                    msg::invalid_raw(
                        new,
                        format!("{} on {{nodes}}: below the NAD's mtu {want}, so new virt-handlers fail to attach", what(d)),
                    ),
                    node,
                ),
                None if d.mtu.is_some_and(|cur| new < cur) => hits.add(
                    Rule::NncpMtuShrinksMigration,
                    false,
                    e.field("mtu"),
                    format!(
                        "{} on {{nodes}}: {new} is below its MTU {}, so running migration0 interfaces are \
                         clamped to it",
                        what(d),
                        d.mtu.unwrap_or_default()
                    ),
                    node,
                ),
                _ => {}
            }
        }
    }
    // the master, or the bond or VLAN base it stands on, made a port of a bridge or a bond
    for d in deps.iter().filter(|d| matches!(d.role, Role::Master | Role::BaseOf(_))) {
        let why = if d.role == Role::Master {
            "the kernel refuses to enslave a device that carries macvlans (\"device or resource busy\"), so the \
             policy fails there, and a node it configures first can no longer create migration0"
        } else {
            "the migration VLAN would then ride a port of another bond or bridge and share its link"
        };
        for &(i, j) in entries.enslaved.get(d.name).into_iter().flatten() {
            let e = &entries.list[i];
            if !e.removes() {
                hits.add(
                    Rule::NncpBreaksMigration,
                    true,
                    e.enslaves[j].0.clone(),
                    msg::forbidden(format!(
                        "{} on {{nodes}}: {} takes it as a port: {why}",
                        what(d),
                        e.describe()
                    )),
                    node,
                );
            }
        }
        for e in entries.named(d.name).filter(|e| !e.removes()) {
            if let Some(c) = e.controller.filter(|c| !c.is_empty() && *c != d.name) {
                hits.add(
                    Rule::NncpBreaksMigration,
                    true,
                    e.field("controller"),
                    msg::invalid(
                        c,
                        format!("{} on {{nodes}}: making it a port of {}: {why}", what(d), msg::quote(c)),
                    ),
                    node,
                );
            }
        }
    }
    // the migration bond's ports replaced: by none that exists on the node (deny), or by others (warn)
    if let Some(h) = host {
        for d in deps.iter().filter(|d| matches!(d.role, Role::Master | Role::BaseOf(_))) {
            let Some(e) = entries.named(d.name).find(|e| !e.removes()) else { continue };
            let Some(list) = e.known_ports().filter(|l| !l.is_empty()) else { continue };
            // a virtual port the same policy creates counts; an ethernet NIC cannot be created
            let made =
                |p: &str| entries.named(p).any(|o| !o.removes() && o.kind.is_some_and(|k| k != "ethernet"));
            let exists = |p: &str| !h.named(p).is_empty() || made(p);
            if list.iter().all(|p| entries.takes_away(p, d.name)) {
                continue; // left with no ports: said below
            }
            let field = e.field(e.ports_field);
            let names = |l: &[&str]| l.iter().map(|p| msg::quote(p)).collect::<Vec<_>>().join(", ");
            if !list.iter().any(|p| exists(p)) {
                hits.add(
                    Rule::NncpBreaksMigration,
                    true,
                    field,
                    msg::forbidden(format!(
                        "{} on {{nodes}}: none of its new ports {} exists there, so the bond would carry nothing \
                         and migrations there stop",
                        what(d),
                        names(list)
                    )),
                    node,
                );
                continue;
            }
            let dropped = missing_from(&d.ports, list);
            if dropped.is_empty() {
                continue;
            }
            let added = missing_from(list, &d.ports);
            let added = if added.is_empty() { "none".to_owned() } else { names(&added) };
            hits.add(
                Rule::NncpReplacesMigrationPorts,
                false,
                field,
                format!(
                    "drops {} {} of {} and adds {added} on {{nodes}}: {}, so migrations move to the ports \
                     the policy lists; check their links, switch ports and MTU before applying",
                    if dropped.len() == 1 { "port" } else { "ports" },
                    names(&dropped),
                    msg::quote(d.name),
                    what(d)
                ),
                node,
            );
        }
    }
    // a bond left with no ports carries nothing
    for d in deps.iter().filter(|d| !d.ports.is_empty() || entries.named(d.name).any(|e| e.ports.is_some())) {
        let own = entries.named(d.name).next();
        let start: &[&str] = match own.and_then(|e| e.ports.as_deref()) {
            Some(list) => list,
            None => &d.ports,
        };
        if (start.iter().all(|p| entries.takes_away(p, d.name)) && !d.ports.is_empty())
            || (start.is_empty() && own.is_some_and(|e| e.ports.is_some()))
        {
            let field = match own.filter(|e| e.ports.is_some()) {
                Some(e) => e.field(e.ports_field),
                None => start
                    .iter()
                    .filter_map(|p| entries.by_name.get(p).and_then(|l| l.first()))
                    .min()
                    .map(|i| &entries.list[*i])
                    .map(|e| e.field(if e.removes() { "state" } else { "controller" }))
                    .unwrap_or_else(|| "spec.desiredState.interfaces".to_owned()),
            };
            hits.add(
                Rule::NncpBreaksMigration,
                true,
                field,
                msg::forbidden(format!(
                    "leaves bond {} with no ports on {{nodes}}, where {} stands on it: migrations there stop",
                    msg::quote(d.name),
                    master
                )),
                node,
            );
        }
    }
}

#[cfg(test)]
#[path = "nncp_tests.rs"]
mod tests;

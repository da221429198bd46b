//! Host rules of a migration NAD: its macvlan `master` exists, is free, is up and fits on every
//! virt-handler node, as the nodes' NodeNetworkStates tell (see README "Host networks").
//!
//! The view counts, per interface name, what the nodes say, so a NAD that is fine is judged from a
//! few lookups whatever the number of nodes; nodes are walked only to name those at fault.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::macvlan::valid_ifname;
use crate::policy::{
    Ctx, Rule,
    cni::Claim,
    decision::{Findings, msg},
    host::{Facts, HostError, HostNetwork, IfaceType},
    ranges::Allocatable,
};
use crate::{policy::view::View, text::printable};

/// How many nodes one message names before counting the rest.
const MAX_NAMED: usize = 3;

/// The rules of this module, which a HyperConverged naming the NAD reports under their own ids.
pub(in crate::policy) const RULES: [Rule; 8] = [
    Rule::NadMasterMissing,
    Rule::NadMasterUnknown,
    Rule::NadMasterManagement,
    Rule::NadMasterPort,
    Rule::NadMasterDown,
    Rule::NadMtuMaster,
    Rule::NadMtuMismatch,
    Rule::NadRangeHostAddress,
];

/// The NAD's `mtu` when it sets one (0 or absent: the master's MTU is inherited).
pub(in crate::policy) fn nad_mtu(main: &Map<String, Value>) -> Option<u32> {
    main.get("mtu").and_then(Value::as_u64).filter(|m| (68..=65535).contains(m)).map(|m| m as u32)
}

/// The master a macvlan config names, when it is a valid interface name.
pub(in crate::policy) fn master(main: &Map<String, Value>) -> Option<&str> {
    main.get("master").and_then(Value::as_str).filter(|m| valid_ifname(m))
}

/// A node's host network as the view hands it over: `None` without a NodeNetworkState.
type Host<'v> = Option<Result<&'v HostNetwork, &'v HostError>>;

/// Virt-handler nodes whose host network matches `pred`, the first few by name, and how many there
/// are in all.
fn nodes_where<'v>(view: &'v View, mut pred: impl FnMut(Host<'v>) -> bool) -> (Vec<&'v str>, usize) {
    let mut named = Vec::new();
    let mut total = 0;
    for (n, host) in view.virt_handler_hosts() {
        if pred(host) {
            total += 1;
            if named.len() < MAX_NAMED {
                named.push(n);
            }
        }
    }
    (named, total)
}

/// Virt-handler nodes where the facts of `master` match `pred`.
fn nodes_with<'v>(
    view: &'v View,
    master: &str,
    mut pred: impl FnMut(&Facts<'v>) -> bool,
) -> (Vec<&'v str>, usize) {
    nodes_where(view, |h| h.and_then(Result::ok).and_then(|h| h.facts(master)).is_some_and(|f| pred(&f)))
}

/// "worker-0, worker-1, worker-2 and 4 more".
pub(in crate::policy) fn node_list(named: &[&str], total: usize) -> String {
    let shown: Vec<String> = named.iter().map(|n| printable(n).into_owned()).collect();
    match total.saturating_sub(named.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn readable<'v>(view: &'v View, node: &str) -> Option<&'v HostNetwork> {
    view.host_network(node)?.ok()
}

/// Every host rule for a macvlan main plugin at `path`, with its whereabouts ranges.
pub(in crate::policy) fn check(
    ctx: &Ctx<'_>,
    main: &Map<String, Value>,
    path: &str,
    claims: &[Claim],
    allocatable: &[Allocatable],
    f: &mut Findings,
) {
    let view = ctx.view;
    if !view.host_networks_known() {
        return;
    }
    let (Some(vh), Some(master)) = (view.virt_handler_nodes(), master(main)) else { return };
    let field = format!("{path}.master");
    let readable_count = view.readable_host_networks();
    let unknown = vh.saturating_sub(readable_count);
    if unknown > 0 && f.enabled(Rule::NadMasterUnknown) {
        let (named, total) = nodes_where(view, |h| !matches!(h, Some(Ok(_))));
        let why = named
            .iter()
            .find_map(|n| match view.host_network(n) {
                Some(Err(e)) => Some(format!("; {}: {e}", printable(n))),
                _ => None,
            })
            .unwrap_or_default();
        f.warn(
            Rule::NadMasterUnknown,
            field.clone(),
            format!(
                "{unknown} of {vh} virt-handler nodes have no readable NodeNetworkState ({}{why}): {} is not \
                 checked there",
                node_list(&named, total),
                msg::quote(master)
            ),
        );
    }
    if readable_count == 0 {
        return;
    }
    let empty = Default::default();
    let counts = view.host_counts(master).unwrap_or(&empty);
    let missing = readable_count.saturating_sub(counts.present.into());
    if missing > 0 && f.enabled(Rule::NadMasterMissing) {
        let (named, total) = nodes_where(view, |h| matches!(h, Some(Ok(h)) if h.named(master).is_empty()));
        f.deny(
            Rule::NadMasterMissing,
            field.clone(),
            msg::not_found(
                master,
                format!(
                    "no such interface on {} ({missing} of {readable_count} virt-handler nodes): virt-handler \
                     cannot start there (\"Link not found\"); create it on every virt-handler node, e.g. \
                     with a NodeNetworkConfigurationPolicy",
                    node_list(&named, total)
                ),
            ),
        );
    }
    if counts.management > 0 && f.enabled(Rule::NadMasterManagement) {
        let (named, total) = nodes_with(view, master, |x| x.management);
        let mgmt = named
            .first()
            .and_then(|n| readable(view, n))
            .map(|h| h.management().iter().map(|m| printable(m).into_owned()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        f.deny(
            Rule::NadMasterManagement,
            field.clone(),
            msg::invalid(
                master,
                format!(
                    "is the management interface or part of it on {} (there: {mgmt}): migrations would \
                     share the node's own link; use a NIC or bond dedicated to migration",
                    node_list(&named, total)
                ),
            ),
        );
    }
    if counts.port > 0 && f.enabled(Rule::NadMasterPort) {
        // nodes grouped by what the master is a port of: a bond on some, br-ex itself on others
        let mut by_controller: Vec<(&str, Vec<&str>, usize)> = Vec::new();
        for (n, host) in view.virt_handler_hosts() {
            let Some(c) = host.and_then(Result::ok).and_then(|h| h.facts(master)).and_then(|x| x.port_of)
            else {
                continue;
            };
            match by_controller.iter_mut().find(|(k, _, _)| *k == c) {
                Some((_, named, total)) => {
                    *total += 1;
                    if named.len() < MAX_NAMED {
                        named.push(n);
                    }
                }
                None => by_controller.push((c, vec![n], 1)),
            }
        }
        let (controller, named, total) = by_controller.first().cloned().unwrap_or_default();
        let first = named.first().and_then(|n| readable(view, n));
        // a bond that is not the node's own link could carry migrations itself
        let is_bond = first
            .and_then(|h| h.facts(controller))
            .is_some_and(|c| c.kind == IfaceType::Bond && !c.management);
        let shown = printable(controller);
        let others: String = by_controller
            .iter()
            .skip(1)
            .take(MAX_NAMED)
            .map(|(c, named, total)| format!(", of {} on {}", printable(c), node_list(named, *total)))
            .collect();
        let hint = if is_bond {
            format!("use the bond {shown} itself if it is dedicated to migration, or a free NIC")
        } else {
            "use a free NIC, or a bond or VLAN dedicated to migration".to_owned()
        };
        f.deny(
            Rule::NadMasterPort,
            field.clone(),
            msg::invalid(
                master,
                format!(
                    "is a port of {shown} on {}{others}: the kernel refuses a macvlan on it (\"device or \
                     resource busy\"); {hint}",
                    node_list(&named, total)
                ),
            ),
        );
    }
    if counts.down > 0 && f.enabled(Rule::NadMasterDown) {
        let (named, total) = nodes_with(view, master, |x| x.state.is_down());
        f.warn(
            Rule::NadMasterDown,
            field.clone(),
            format!(
                "{} is down on {}: migrations to and from there fail until it is up",
                msg::quote(master),
                node_list(&named, total)
            ),
        );
    }
    if let Some(mtu) = nad_mtu(main)
        && counts.mtus.range(..mtu).next().is_some()
        && f.enabled(Rule::NadMtuMaster)
    {
        let (named, total) = nodes_with(view, master, |x| x.mtu.is_some_and(|m| m < mtu));
        let lowest = counts.mtus.keys().next().copied().unwrap_or_default();
        f.deny(
            Rule::NadMtuMaster,
            format!("{path}.mtu"),
            msg::invalid_raw(
                mtu,
                format!(
                    "above the MTU of {} on {} (lowest {lowest}): the macvlan plugin fails there (\"invalid MTU\"); \
                     set mtu to at most {lowest}, or 0 to inherit the master's",
                    msg::quote(master),
                    node_list(&named, total)
                ),
            ),
        );
    }
    if counts.mtus.len() > 1 {
        let mut by_count: Vec<(u32, u32)> = counts.mtus.iter().map(|(m, n)| (*m, *n)).collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        let shown: Vec<String> = by_count
            .iter()
            .take(4)
            .map(|(m, n)| format!("{m} on {n} node{}", if *n == 1 { "" } else { "s" }))
            .collect();
        let more = if by_count.len() > 4 {
            format!(" and {} more values", by_count.len() - 4)
        } else {
            String::new()
        };
        f.warn(
            Rule::NadMtuMismatch,
            field.clone(),
            format!(
                "the MTU of {} differs between virt-handler nodes ({}{more}): packets above the smallest are \
                 dropped between them",
                msg::quote(master),
                shown.join(", ")
            ),
        );
    }
    if !counts.addresses.is_empty() && f.enabled(Rule::NadRangeHostAddress) {
        for (claim, alloc) in claims.iter().zip(allocatable) {
            let net = claim.net;
            let inside = counts.addresses.range(net.network()..=net.broadcast());
            let hits: Vec<IpAddr> = inside.map(|(ip, _)| *ip).filter(|ip| alloc.hands_out(*ip)).collect();
            for ip in hits.iter().take(MAX_NAMED) {
                let (named, total) = nodes_with(view, master, |x| x.addresses().any(|a| a.addr() == *ip));
                f.deny(
                    Rule::NadRangeHostAddress,
                    claim.field.clone(),
                    msg::invalid(
                        &claim.text,
                        format!(
                            "{ip} is configured on {} of {}: whereabouts can hand it to a virt-handler (duplicate \
                             address); add it to exclude",
                            msg::quote(master),
                            node_list(&named, total)
                        ),
                    ),
                );
            }
            if hits.len() > MAX_NAMED {
                f.deny(
                    Rule::NadRangeHostAddress,
                    claim.field.clone(),
                    msg::invalid(
                        &claim.text,
                        format!(
                            "{} more host addresses of {} lie in it",
                            hits.len() - MAX_NAMED,
                            msg::quote(master)
                        ),
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
#[path = "nad_host_tests.rs"]
mod tests;

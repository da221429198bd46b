//! macvlan plugin rules: the interface migrations leave through, and how.

use serde_json::{Map, Value};

use crate::policy::{
    Policy, Rule,
    decision::{Findings, msg},
};

/// Checks `master`, `mode` and `mtu` of a macvlan main plugin at field path `path`.
pub(in crate::policy) fn check(policy: &Policy, main: &Map<String, Value>, path: &str, f: &mut Findings) {
    master(policy, main, path, f);
    mode(main, path, f);
    mtu(main, path, f);
}

/// Linux accepts interface names of 1-15 bytes without '/', ':' or whitespace (`dev_valid_name`).
pub(in crate::policy) fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

fn master(policy: &Policy, main: &Map<String, Value>, path: &str, f: &mut Findings) {
    let field = format!("{path}.master");
    let file = policy.file();
    let master = match main.get("master") {
        None | Some(Value::Null) => {
            return f.deny(
                Rule::NadMaster,
                field,
                msg::required(
                    "without master, macvlan uses the default-route interface: the management network; \
                     name the dedicated NIC or bond, e.g. \"bond2\"",
                ),
            );
        }
        Some(Value::String(m)) => m.as_str(),
        Some(v) => return f.deny(Rule::NadMaster, field, msg::invalid_json(v, "must be an interface name")),
    };
    if !valid_ifname(master) {
        return f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(master, "not a Linux interface name: 1-15 characters, no '/', ':' or whitespace"),
        );
    }
    let is_mgmt = |n: &str| file.management_interfaces.iter().any(|m| m == n);
    let is_forbidden = |n: &str| file.forbidden_interfaces.iter().any(|m| m == n);
    if is_mgmt(master) {
        return f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(master, "is a management interface; use a NIC or bond dedicated to migration"),
        );
    }
    if is_forbidden(master) {
        return f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(
                master,
                "carries cluster traffic (forbidden by policy); use a NIC or bond dedicated to migration",
            ),
        );
    }
    let vlan_base = master.rsplit_once('.').filter(|(_, id)| id.parse::<u16>().is_ok()).map(|(base, _)| base);
    match vlan_base {
        Some(base) if is_mgmt(base) => f.warn(
            Rule::NadMasterShared,
            field,
            format!("VLAN of management interface {base}: migrations share its link (needs QoS)"),
        ),
        Some(base) if is_forbidden(base) => f.deny(
            Rule::NadMaster,
            field,
            msg::invalid(
                master,
                format!("is a VLAN of {base}, which carries cluster traffic (forbidden by policy)"),
            ),
        ),
        _ => {}
    }
}

const MODES: &[&str] = &["bridge", "private", "vepa", "passthru"];

fn mode(main: &Map<String, Value>, path: &str, f: &mut Findings) {
    let field = format!("{path}.mode");
    match main.get("mode") {
        None | Some(Value::Null) => {}
        Some(Value::String(m)) if m.is_empty() || m == "bridge" || m == "private" || m == "vepa" => {}
        Some(Value::String(m)) if m == "passthru" => f.warn(
            Rule::NadModePassthru,
            field,
            "passthru takes over the NIC: only one macvlan per node can use it",
        ),
        Some(Value::String(m)) => f.deny(Rule::NadMode, field, msg::unsupported(m, MODES)),
        Some(v) => f.deny(Rule::NadMode, field, msg::invalid_json(v, "must be a string")),
    }
}

fn mtu(main: &Map<String, Value>, path: &str, f: &mut Findings) {
    let field = format!("{path}.mtu");
    let Some(v) = main.get("mtu") else { return };
    let ok = match v.as_i64() {
        Some(n) => n == 0 || (68..=65535).contains(&n),
        None => v.is_null(),
    };
    if !ok {
        f.deny(
            Rule::NadMtu,
            field,
            msg::invalid_json(v, "must be an integer: 0 (the master's MTU) or 68-65535"),
        );
    }
}

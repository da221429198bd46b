//! Check 5: the proof itself. The target virt-handler writes the address it listens on to
//! `status.migrationState.targetNodeAddress`; inside the migration range means the migration used the
//! dedicated network, outside means it went over the pod network.

use kube::core::DynamicObject;
use serde_json::Value;

use super::{Check, CheckId, Detail, Mark, Resource, Scene, Status, network::ident, pod::parse_ip, pools};
use crate::policy::{decision::msg::quote, object};

/// Check 5: every migrated VMI (or the one named by `--vmi`) targeted an address on the migration network.
pub(super) fn migrations(scene: &Scene<'_>) -> Check {
    let id = CheckId::VmiMigrations;
    let Some(target) = &scene.target else {
        let why = "no migration network configured (see hc-network): every migration uses the pod network";
        return Check::new(id, Status::Skip, why);
    };
    if let Some(why) = scene.inputs.unavailable(Resource::Vmi) {
        let why = format!("the cluster does not serve VirtualMachineInstances ({why})");
        return Check::new(id, Status::Fail, why);
    }
    if target.pools.is_empty() {
        let why = format!(
            "the range of {} is unknown (see hc-network): target addresses cannot be placed",
            target.nad
        );
        return Check::new(id, Status::Skip, why);
    }
    let mut vmis: Vec<&DynamicObject> = match &scene.options.vmi {
        Some(r) => scene.inputs.of(Resource::Vmi).iter().filter(|v| r.matches(v)).collect(),
        None => scene.inputs.of(Resource::Vmi).iter().filter(|v| migration_state(v).is_some()).collect(),
    };
    vmis.sort_by_key(|v| (object::namespace(v), object::name(v)));
    if let (Some(r), true) = (&scene.options.vmi, vmis.is_empty()) {
        let why = format!("no VirtualMachineInstance {r}{}", scene.dump_hint("oc get vmi -A -o yaml"));
        return Check::new(id, Status::Fail, why);
    }
    let details: Vec<Detail> = vmis.iter().map(|v| judge(v, &target.pools)).collect();
    let count = |m: Mark| details.iter().filter(|d| d.status == m).count();
    let (ok, bad) = (count(Mark::Ok), count(Mark::Fail));
    let ranges = pools::describe(&target.pools);
    let (status, why) = if bad > 0 {
        let why = format!(
            "{bad} of {} did not use the dedicated network ({ranges})",
            plural(vmis.len(), "migrated VMI")
        );
        (Status::Fail, why)
    } else if ok > 0 {
        let what = if ok == 1 {
            "1 migration targeted an address".to_owned()
        } else {
            format!("{ok} migrations targeted addresses")
        };
        let why = format!("{what} in {ranges}: the dedicated network");
        (Status::Pass, why)
    } else if scene.options.vmi.is_some() {
        (Status::Fail, "no finished proof for the VMI: its migration has no target address yet".to_owned())
    } else {
        let why = "no VMI has a migration to judge yet: migrate one (`virtctl migrate NAME -n NAMESPACE`) or \
                   drain a node, then run again";
        (Status::Skip, why.to_owned())
    };
    Check::new(id, status, why).with(details)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

fn migration_state(vmi: &DynamicObject) -> Option<&Value> {
    object::get(&vmi.data, &["status", "migrationState"]).filter(|m| m.is_object())
}

/// One VMI's last migration: where it went, how it ended, and over which network.
fn judge(vmi: &DynamicObject, pools: &[pools::Pool]) -> Detail {
    let who = format!("VMI {}", ident(vmi));
    let Some(state) = migration_state(vmi) else {
        return Detail::fail(format!(
            "{who} has not migrated (no status.migrationState): migrate it (`virtctl migrate {} -n {}`) and \
             run again",
            object::name(vmi),
            object::namespace(vmi)
        ));
    };
    let text = |key: &str| state.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let flag = |key: &str| state.get(key).and_then(Value::as_bool) == Some(true);
    let route = format!("{} -> {}", text("sourceNode").unwrap_or("?"), text("targetNode").unwrap_or("?"));
    let outcome = match (flag("failed"), flag("completed"), text("endTimestamp")) {
        (true, _, Some(end)) => format!("failed {end}"),
        (true, _, None) => "failed".to_owned(),
        (false, true, Some(end)) => format!("completed {end}"),
        (false, true, None) => "completed".to_owned(),
        (false, false, _) => "in progress".to_owned(),
    };
    let said = format!("{who}: migration {route} ({outcome})");
    let Some(address) = text("targetNodeAddress") else {
        return Detail::note(format!("{said} has no targetNodeAddress: the target never listened"));
    };
    let Some(ip) = parse_ip(address) else {
        return Detail::fail(format!("{said}: targetNodeAddress {} is not an IP address", quote(address)));
    };
    match pools::find(pools, &ip) {
        Some(pool) => Detail::ok(format!("{said} targeted {ip}, in {}: the dedicated network", pool.cidr)),
        None => Detail::fail(format!(
            "{said} targeted {ip}, outside {}: it went over the pod network (if it migrated before the \
             network was set, migrate it again)",
            pools::describe(pools)
        )),
    }
}

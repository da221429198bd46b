//! UserDefinedNetwork and ClusterUserDefinedNetwork rules: what OVN-Kubernetes could not render, and
//! the rule every other network obeys, judged exactly as for the NAD rendered from it (same rule ids,
//! same wording), so a CUDN on the migration subnet is refused at `oc apply`, not later in its status.

use kube::core::DynamicObject;

use super::nad;
use crate::policy::{
    Admission, Ctx, Operation, Rule,
    decision::Findings,
    object,
    udn::{self, NetKind, RENDERED_LABEL},
    view::{NetEntry, NetName},
};

pub(in crate::policy) fn admit(ctx: &Ctx<'_>, kind: NetKind, admission: &Admission<'_>, f: &mut Findings) {
    let (Operation::Create | Operation::Update, Some(obj)) = (admission.operation, admission.object) else {
        return;
    };
    let spec = udn::read(kind, &obj.data);
    for p in &spec.problems {
        f.deny(Rule::UdnSpec, p.field.clone(), p.message.clone());
    }
    if !f.enabled(Rule::NadOverlapMigration) {
        return;
    }
    // the NAD the controller writes from it, as the NAD rules would read it
    let ns = match kind {
        NetKind::Udn => object::namespace(obj),
        // a CUDN's NAD lands in every namespace it selects, the migration namespace possibly among them
        NetKind::Cudn => ctx.policy.migration_namespace(),
    };
    if let Some(topology) = spec.topology {
        let config = serde_json::json!({"cniVersion": "1.0.0", "type": crate::policy::cni::OVN_K8S_OVERLAY,
            "topology": topology.as_str().to_lowercase()});
        nad::judge_rendered(ctx, ns, object::name(obj), &config.to_string(), f);
    }
    let me = NetName::new(kind, object::namespace(obj), object::name(obj));
    let localnet = spec.topology.is_some_and(|t| t.is_localnet());
    nad::stay_off_migration(ctx, spec.claims, || localnet, |e| e.owner.as_ref() == Some(&me), f);
}

/// The view entry of a UDN or CUDN object.
pub(in crate::policy) fn entry(kind: NetKind, obj: &DynamicObject) -> NetEntry {
    let spec = udn::read(kind, &obj.data);
    let mut ranges: Vec<_> = spec.claims.iter().map(|c| c.net).collect();
    ranges.sort();
    ranges.dedup();
    NetEntry {
        key: NetName::new(kind, object::namespace(obj), object::name(obj)),
        topology: spec.topology,
        role: spec.role,
        ranges: ranges.into(),
        selector: (kind == NetKind::Cudn).then(|| udn::selector_summary(&obj.data)),
        unreadable: spec.problems.first().map(|p| format!("{}: {}", p.field, p.message)),
    }
}

/// The UDN or CUDN a NAD was rendered from: OVN-Kubernetes labels it `k8s.ovn.org/user-defined-network`
/// and makes its owner (a `k8s.ovn.org` UserDefinedNetwork or ClusterUserDefinedNetwork of the same
/// name) its owner reference. Both must hold: a NAD carrying only one is a network of its own.
pub(in crate::policy) fn rendered_from(obj: &DynamicObject) -> Option<NetName> {
    obj.metadata.labels.as_ref()?.get(RENDERED_LABEL)?;
    let name = object::name(obj);
    obj.metadata.owner_references.iter().flatten().find_map(|r| {
        let kind = NetKind::from_kind(&r.kind)?;
        (r.api_version.starts_with("k8s.ovn.org/") && r.name == name)
            .then(|| NetName::new(kind, object::namespace(obj), name))
    })
}

#[cfg(test)]
#[path = "udn_tests.rs"]
mod tests;

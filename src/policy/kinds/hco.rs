//! HyperConverged live-migration rules.

use kube::core::DynamicObject;
use serde_json::Value;

use super::settings::{self, Owner};
use crate::policy::{
    Admission, Ctx, HcVersion, Operation, Rule,
    decision::{Findings, msg},
    object,
    view::HcRead,
};

/// Whether a v1beta1 object carries the v1 layout: storing it would erase the live-migration settings.
pub(in crate::policy) fn lost_settings_layout(data: &Value, version: HcVersion) -> bool {
    version == HcVersion::V1Beta1 && present(data, &["spec", "virtualization"])
}

/// Whether this write would silently erase the stored live-migration settings: where the CRD has no
/// conversion webhook, the two versions' layouts pass through unconverted, so either a v1beta1-labelled
/// object arrives in the v1 layout, or a v1-labelled UPDATE finds the stored (v1beta1-shaped)
/// `spec.liveMigrationConfig` in its oldObject and drops it, or the stored settings are in a layout
/// the request's version cannot show at all ([`hidden_settings`]).
pub(in crate::policy) fn erases_settings(
    ctx: &Ctx<'_>,
    admission: &Admission<'_>,
    version: HcVersion,
) -> bool {
    let Some(obj) = admission.object else { return false };
    let shown = match version {
        HcVersion::V1Beta1 => lost_settings_layout(&obj.data, version),
        HcVersion::V1 => {
            let stored_v1beta1 =
                admission.old_object.is_some_and(|o| present(&o.data, &["spec", "liveMigrationConfig"]));
            stored_v1beta1 && !present(&obj.data, &["spec", "liveMigrationConfig"])
        }
    };
    shown || hidden_settings(ctx, admission, version).is_some()
}

/// The live view's read of the stored object that names a network its oldObject does not show.
///
/// A real API server hands a webhook registered for both versions the request in its own version,
/// `oldObject` read through that version and pruned to its schema: when the object was stored in the
/// other layout, both `object` and `oldObject` lack the settings and nothing in the request shows the
/// loss. The live view reads the object through every served version; a read through another version
/// naming a network, with none in the oldObject at this version's path, means the stored settings
/// live in that other layout and storing this write (no conversion) erases them. With a conversion
/// webhook every read shows the network, so this never fires; it holds whichever version is stored.
fn hidden_settings<'v>(ctx: &Ctx<'v>, admission: &Admission<'_>, version: HcVersion) -> Option<&'v HcRead> {
    let (Operation::Update, Some(old)) = (admission.operation, admission.old_object) else { return None };
    if live_migration(old, version).and_then(|lm| lm.get("network")).is_some_and(|n| !n.is_null()) {
        return None;
    }
    let uid = old.metadata.uid.as_deref();
    ctx.view
        .hc_reads(object::namespace(old), object::name(old))
        .iter()
        .find(|r| r.through != version && r.entry.network.is_some() && uid.is_none_or(|u| u == r.uid))
}

fn present(data: &Value, path: &[&str]) -> bool {
    object::get(data, path).is_some_and(|v| !v.is_null())
}

fn live_migration(obj: &DynamicObject, version: HcVersion) -> Option<&Value> {
    object::get(&obj.data, version.path()).filter(|v| !v.is_null())
}

fn network(lm: Option<&Value>) -> Option<&str> {
    lm?.get("network")?.as_str()
}

pub(in crate::policy) fn admit(
    ctx: &Ctx<'_>,
    version: HcVersion,
    admission: &Admission<'_>,
    f: &mut Findings,
) {
    let (Operation::Create | Operation::Update, Some(obj)) = (admission.operation, admission.object) else {
        return;
    };
    if let Some(read) = hidden_settings(ctx, admission, version) {
        deny_hidden_settings(read, version, f);
        return;
    }
    if erases_settings(ctx, admission, version) {
        deny_lost_settings(admission.old_object, version, f);
        return;
    }
    let base = version.field();
    let lm = match live_migration(obj, version) {
        None => None,
        Some(Value::Object(lm)) => Some(lm),
        Some(v) => {
            f.deny(Rule::HcTimeout, base, msg::invalid_json(v, "must be an object"));
            return;
        }
    };
    let old = admission.old_object.and_then(|o| live_migration(o, version));
    settings::network_change(
        ctx,
        admission.operation == Operation::Update,
        network(old),
        lm.and_then(|lm| lm.get("network")),
        base,
        f,
    );
    let Some(lm) = lm else { return };
    settings::network_reference(ctx, Owner::HyperConverged, obj, lm, base, f);
    settings::limits(ctx, lm, base, f);
}

fn deny_lost_settings(old: Option<&DynamicObject>, version: HcVersion, f: &mut Findings) {
    let lost = old.and_then(|o| live_migration(o, HcVersion::V1Beta1));
    let what = match lost {
        Some(lm) => match network(Some(lm)) {
            Some(n) => format!("spec.liveMigrationConfig, network {} included", msg::quote(n)),
            None => "spec.liveMigrationConfig".to_owned(),
        },
        None => "the v1beta1 spec, spec.liveMigrationConfig included".to_owned(),
    };
    let how = match version {
        HcVersion::V1Beta1 => "a v1-layout object sent as hco.kubevirt.io/v1beta1",
        HcVersion::V1 => {
            "the stored object has the v1beta1 layout and this hco.kubevirt.io/v1 write drops it"
        }
    };
    f.deny(
        Rule::HcVersionLayout,
        "spec.virtualization",
        msg::forbidden(format!(
            "{how} (no conversion webhook): storing it erases {what}; write to \
             hyperconvergeds.v1beta1.hco.kubevirt.io instead"
        )),
    );
}

fn deny_hidden_settings(read: &HcRead, version: HcVersion, f: &mut Findings) {
    let stored = read.through;
    let network = read.entry.network.as_deref().unwrap_or_default();
    let field = match version {
        HcVersion::V1 => "spec.virtualization",
        HcVersion::V1Beta1 => "spec.liveMigrationConfig",
    };
    f.deny(
        Rule::HcVersionLayout,
        field,
        msg::forbidden(format!(
            "the stored object keeps its live-migration settings at {} (the {} layout), which \
             {} cannot show (no conversion webhook): storing this write erases them, network {} \
             included; write to hyperconvergeds.{}.hco.kubevirt.io instead",
            stored.field(),
            version_name(stored),
            version.api_version(),
            msg::quote(network),
            version_name(stored),
        )),
    );
}

fn version_name(v: HcVersion) -> &'static str {
    v.api_version().trim_start_matches("hco.kubevirt.io/")
}

#[cfg(test)]
#[path = "hco_tests.rs"]
mod tests;

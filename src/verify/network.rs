//! Checks 1 and 2: the HyperConverged names a sound migration NAD, and the KubeVirt CR carries it.

use kube::core::DynamicObject;
use serde_json::Value;

use super::{Check, CheckId, Detail, Inputs, Options, Resource, Scene, Status, nad_name, pools};
use crate::{
    policy::view::{HcEntry, NadName},
    policy::{
        Admission, Decision, HcVersion, Kind, Operation, Options as PolicyOptions,
        decision::msg::{self, quote},
        feed, object,
    },
};

/// The name HCO gives the one HyperConverged it reconciles.
const HC_NAME: &str = "kubevirt-hyperconverged";
/// Where the KubeVirt CR carries the migration network.
const KUBEVIRT_FIELD: &str = "spec.configuration.migrations.network";

/// The HyperConverged in charge and what it says about the migration network.
pub(super) struct HcPick<'a> {
    pub obj: &'a DynamicObject,
    /// The network named, when set to a non-empty string.
    pub network: Option<String>,
    /// A `network` that is not a string, as written.
    pub invalid: Option<Value>,
    /// Where the network was read, as users write the field.
    pub field: String,
    pub notes: Vec<String>,
}

/// The network being verified and its NAD, when it exists.
pub(super) struct Target<'a> {
    pub nad: NadName,
    pub object: Option<&'a DynamicObject>,
    pub pools: Vec<pools::Pool>,
}

/// `ns/name` of an object.
pub(super) fn ident(obj: &DynamicObject) -> String {
    format!("{}/{}", object::namespace(obj), object::name(obj))
}

/// Picks the namespace's HyperConverged (HCO's own name first); the error says why there is none.
pub(super) fn pick_hc<'a>(inputs: &'a Inputs, options: &Options) -> Result<HcPick<'a>, String> {
    let ns = options.namespace.as_str();
    let here: Vec<&DynamicObject> = inputs.in_namespace(Resource::HyperConverged, ns).collect();
    let Some(first) = here.first() else { return Err(no_hc(inputs, options)) };
    let obj = here.iter().find(|o| object::name(o) == HC_NAME).unwrap_or(first);
    let mut pick = read_hc(obj);
    if here.len() > 1 {
        pick.notes.push(format!(
            "{} HyperConvergeds in {ns}; HCO reconciles only {HC_NAME}: judging {}",
            here.len(),
            object::name(obj)
        ));
    }
    Ok(pick)
}

fn no_hc(inputs: &Inputs, options: &Options) -> String {
    let ns = &options.namespace;
    if let Some(why) = inputs.unavailable(Resource::HyperConverged) {
        return format!(
            "no HyperConverged: the cluster does not serve HyperConvergeds ({why}); is OpenShift \
             Virtualization (the HyperConverged Cluster Operator) installed?"
        );
    }
    let elsewhere: Vec<String> = inputs.of(Resource::HyperConverged).iter().map(ident).collect();
    match inputs.of(Resource::HyperConverged).first() {
        Some(other) => format!(
            "no HyperConverged in namespace {ns}, but found {}: run with --namespace {}",
            elsewhere.join(", "),
            object::namespace(other)
        ),
        None if options.from_files => format!(
            "no HyperConverged in namespace {ns} (dump it with `oc get hyperconverged -n {ns} -o yaml`)"
        ),
        None => format!("no HyperConverged in namespace {ns}"),
    }
}

/// Reads the network at the object's own version's path, or at the other version's path when the
/// object carries that layout (a stored object relabelled without conversion).
fn read_hc(obj: &DynamicObject) -> HcPick<'_> {
    let version = match Kind::of(obj) {
        Kind::HyperConverged(v) => v,
        _ => HcVersion::V1Beta1,
    };
    let other = match version {
        HcVersion::V1 => HcVersion::V1Beta1,
        HcVersion::V1Beta1 => HcVersion::V1,
    };
    let at = |v: HcVersion| {
        object::get(&obj.data, v.path()).and_then(|lm| lm.get("network")).filter(|n| !n.is_null())
    };
    let mut notes = Vec::new();
    let (value, layout) = match (at(version), at(other)) {
        (Some(n), _) => (Some(n), version),
        (None, Some(n)) => {
            notes.push(format!(
                "the network is at {} although the object says {}: read from there",
                other.field(),
                version.api_version()
            ));
            (Some(n), other)
        }
        (None, None) => (None, version),
    };
    let (network, invalid) = match value {
        None => (None, None),
        Some(Value::String(s)) if s.is_empty() => (None, None),
        Some(Value::String(s)) => (Some(s.clone()), None),
        Some(v) => (None, Some(v.clone())),
    };
    HcPick { obj, network, invalid, field: format!("{}.network", layout.field()), notes }
}

/// The KubeVirt CR's migration network, when set to a string.
fn kv_network(obj: &DynamicObject) -> Option<&str> {
    object::get(&obj.data, &["spec", "configuration", "migrations", "network"])
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The network to verify: the HyperConverged's, else the one the KubeVirt CR already carries.
pub(super) fn target<'a>(
    inputs: &'a Inputs,
    options: &Options,
    hc: Option<&HcPick<'a>>,
) -> Option<Target<'a>> {
    let from_hc = hc.and_then(|h| h.network.as_deref().map(|n| nad_name(n, object::namespace(h.obj))));
    let nad = from_hc.or_else(|| {
        inputs
            .in_namespace(Resource::KubeVirt, &options.namespace)
            .find_map(|kv| kv_network(kv).map(|n| nad_name(n, object::namespace(kv))))
    })?;
    let object = inputs
        .of(Resource::Nad)
        .iter()
        .find(|o| object::namespace(o) == nad.namespace() && object::name(o) == nad.name());
    let config = object.and_then(|o| object::get(&o.data, &["spec", "config"])).and_then(Value::as_str);
    let pools = config.map(pools::pools).unwrap_or_default();
    Some(Target { nad, object, pools })
}

/// Check 1: the HyperConverged's network names an existing NAD in its namespace that passes every
/// migration NAD rule.
pub(super) fn hc_network(scene: &Scene<'_>) -> Check {
    let id = CheckId::HcNetwork;
    let hc = match &scene.hc {
        Ok(hc) => hc,
        Err(why) => return Check::new(id, Status::Fail, why.clone()),
    };
    let mut details: Vec<Detail> = hc.notes.iter().map(Detail::note).collect();
    let network = match configured(hc) {
        Ok(n) => n,
        Err(why) => return Check::new(id, Status::Fail, why).with(details),
    };
    let said = format!("HyperConverged {} has {} = {}", ident(hc.obj), hc.field, quote(network));
    // a configured network always names a target; the fallback only keeps this total
    let Some(target) = &scene.target else { return Check::new(id, Status::Fail, said).with(details) };
    let Some(nad) = target.object else {
        let mut check = missing_nad(scene, &said, target, object::namespace(hc.obj));
        details.append(&mut check.details);
        return check.with(details);
    };
    let (decision, notes) = judge(scene, hc, network, nad);
    details.extend(notes.into_iter().map(Detail::note));
    let finding = |f: &crate::policy::Finding| format!("[{}] {f}", f.rule);
    details.extend(decision.denials.iter().map(|d| Detail::fail(finding(d))));
    details.extend(decision.warnings.iter().map(|w| Detail::note(finding(w))));
    let why = match decision.denials.len() {
        0 => {
            let ranges = match pools::describe(&target.pools) {
                r if r.is_empty() => String::new(),
                r => format!(" ({r})"),
            };
            format!(
                "{said}: NetworkAttachmentDefinition {}{ranges} exists and passes every migration NAD rule",
                target.nad
            )
        }
        1 => format!("{said}: NetworkAttachmentDefinition {} fails 1 migration NAD rule", target.nad),
        n => format!("{said}: NetworkAttachmentDefinition {} fails {n} migration NAD rules", target.nad),
    };
    let status = if decision.allowed() { Status::Pass } else { Status::Fail };
    Check::new(id, status, why).with(details)
}

/// The network the HyperConverged names, or why it names none a NAD can be found by.
fn configured<'h>(hc: &'h HcPick<'_>) -> Result<&'h str, String> {
    let who = format!("HyperConverged {}", ident(hc.obj));
    let (field, ns) = (&hc.field, object::namespace(hc.obj));
    if let Some(v) = &hc.invalid {
        return Err(format!(
            "{who}: {field}: {}",
            msg::invalid_json(v, "must be a NetworkAttachmentDefinition name")
        ));
    }
    match hc.network.as_deref() {
        None => Err(format!(
            "{who} sets no {field}: live migrations use the pod network; set it to the name of the \
             migration NetworkAttachmentDefinition in {ns}"
        )),
        Some(n) if n.contains('/') => Err(format!(
            "{who}: {field} is {}: must be a NetworkAttachmentDefinition name only, and the NAD must be \
             in {ns}, where virt-handler looks it up",
            quote(n)
        )),
        Some(n) => Ok(n),
    }
}

fn missing_nad(scene: &Scene<'_>, said: &str, target: &Target<'_>, ns: &str) -> Check {
    let what = format!(
        "{said}, but NetworkAttachmentDefinition {} does not exist: Multus cannot attach migration0, so \
         virt-handler pods cannot start",
        target.nad
    );
    let dump = format!("oc get network-attachment-definitions -n {ns} -o yaml");
    let mut check = Check::new(CheckId::HcNetwork, Status::Fail, scene.absent(Resource::Nad, &what, &dump));
    let others: Vec<&str> = scene.inputs.in_namespace(Resource::Nad, ns).map(object::name).collect();
    if !others.is_empty() {
        check
            .details
            .push(Detail::note(format!("NetworkAttachmentDefinitions in {ns}: {}", others.join(", "))));
    }
    check
}

/// The NAD judged as a migration NAD against a view of every object read, as the webhook would judge
/// it on creation; the notes say what was adjusted to make that so.
fn judge(scene: &Scene<'_>, hc: &HcPick<'_>, network: &str, nad: &DynamicObject) -> (Decision, Vec<String>) {
    let policy = scene.policy;
    let inputs = scene.inputs;
    let kinds = [Resource::Nad, Resource::HyperConverged, Resource::Node, Resource::NetworkConfig];
    let mut view = feed::view_of(policy, kinds.iter().flat_map(|r| inputs.of(*r)));
    view.upsert_hc(HcEntry {
        namespace: object::namespace(hc.obj).to_owned(),
        name: object::name(hc.obj).to_owned(),
        network: Some(network.to_owned()),
    });
    let mut notes = Vec::new();
    let mut nad = nad.clone();
    let label = policy.label_key();
    if let Some(labels) = nad.metadata.labels.as_mut()
        && labels.get(label).is_some_and(|v| v == "false")
    {
        labels.remove(label);
        notes.push(format!(
            "the NAD is labelled {label}=false, yet the HyperConverged migrates over it: judged as a \
             migration NAD anyway"
        ));
    }
    if let Some(entry) = view.nad(object::namespace(&nad), object::name(&nad)).cloned() {
        view.upsert_nad(crate::policy::view::NadEntry { migration_label: None, ..entry });
    }
    let admission =
        Admission { operation: Operation::Create, kind: Kind::Nad, object: Some(&nad), old_object: None };
    (policy.decide(&admission, &view, &PolicyOptions::default()), notes)
}

/// Check 2: the KubeVirt CR carries the HyperConverged's network (HCO propagated it).
pub(super) fn kubevirt_network(scene: &Scene<'_>) -> Check {
    let id = CheckId::KubevirtNetwork;
    let ns = &scene.options.namespace;
    let kvs: Vec<&DynamicObject> = scene.inputs.in_namespace(Resource::KubeVirt, ns).collect();
    if kvs.is_empty() {
        let what = format!("no KubeVirt CR in namespace {ns}");
        let why = scene.absent(Resource::KubeVirt, &what, &format!("oc get kubevirt -n {ns} -o yaml"));
        return Check::new(id, Status::Fail, why);
    }
    let expected = match &scene.hc {
        Ok(hc) => hc.network.as_deref(),
        Err(_) => {
            let seen: Vec<String> = kvs.iter().map(|kv| describe_kv(kv)).collect();
            let why = format!("no HyperConverged to compare with (see hc-network); {}", seen.join("; "));
            return Check::new(id, Status::Skip, why);
        }
    };
    let verdicts: Vec<(Status, String)> = kvs.iter().map(|kv| compare(kv, expected)).collect();
    let status = if verdicts.iter().any(|(s, _)| *s == Status::Fail) {
        Status::Fail
    } else if verdicts.iter().all(|(s, _)| *s == Status::Skip) {
        Status::Skip
    } else {
        Status::Pass
    };
    let mut verdicts = verdicts.into_iter();
    let Some((_, evidence)) = verdicts.next() else { return Check::new(id, Status::Skip, "no KubeVirt CR") };
    let details = verdicts
        .map(|(s, text)| if s == Status::Fail { Detail::fail(text) } else { Detail::note(text) })
        .collect();
    Check::new(id, status, evidence).with(details)
}

fn describe_kv(kv: &DynamicObject) -> String {
    match kv_network(kv) {
        Some(n) => format!("KubeVirt {}: {KUBEVIRT_FIELD} = {}", ident(kv), quote(n)),
        None => format!("KubeVirt {} sets no {KUBEVIRT_FIELD}", ident(kv)),
    }
}

fn compare(kv: &DynamicObject, expected: Option<&str>) -> (Status, String) {
    let who = format!("KubeVirt {}", ident(kv));
    let (q_want, q_got) =
        (expected.map(quote).unwrap_or_default(), kv_network(kv).map(quote).unwrap_or_default());
    match (expected, kv_network(kv)) {
        (Some(want), Some(got)) if want == got => {
            (Status::Pass, format!("{who}: {KUBEVIRT_FIELD} = {q_got}, as the HyperConverged says"))
        }
        (Some(_), Some(_)) => (
            Status::Fail,
            format!(
                "{who}: {KUBEVIRT_FIELD} = {q_got}, but the HyperConverged says {q_want}: HCO has not \
                 propagated the change (see the HyperConverged's status.conditions and the hco-operator log)"
            ),
        ),
        (Some(_), None) => (
            Status::Fail,
            format!(
                "{who} sets no {KUBEVIRT_FIELD}, but the HyperConverged says {q_want}: HCO has not propagated \
                 it, so virt-handler pods get no migration0 and migrate over the pod network"
            ),
        ),
        (None, Some(_)) => (
            Status::Fail,
            format!(
                "{who}: {KUBEVIRT_FIELD} = {q_got}, but the HyperConverged names no network: HCO removes it \
                 at its next reconcile"
            ),
        ),
        (None, None) => (
            Status::Skip,
            format!("{who} and the HyperConverged name no migration network: migrations use the pod network"),
        ),
    }
}

//! Checks 3 and 4: every virt-handler pod has migration0 on the migration network, and the network's
//! ranges have addresses to spare.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use kube::core::DynamicObject;

use super::{
    Check, CheckId, Detail, Resource, Scene, Status,
    network::{Target, ident},
    pod::{self, Attachment, MIGRATION_INTERFACE, NETWORK_STATUS},
    pools,
};
use crate::policy::{decision::msg::quote, feed, object};

/// What one virt-handler pod shows about its migration interface.
pub(super) struct PodState<'a> {
    pub obj: &'a DynamicObject,
    /// migration0's addresses inside the migration ranges.
    pub addresses: Vec<IpAddr>,
    /// What proves the attachment, or what is wrong with it.
    pub attached: Result<String, String>,
    pub ready: Result<(), String>,
}

/// Judges every virt-handler pod of the namespace against the network being verified, sorted by name.
pub(super) fn evaluate<'a>(scene: &Scene<'a>) -> Vec<PodState<'a>> {
    let Some(target) = &scene.target else { return Vec::new() };
    let mut pods: Vec<&DynamicObject> =
        scene.inputs.in_namespace(Resource::VirtHandler, &scene.options.namespace).collect();
    pods.sort_by_key(|p| object::name(p));
    pods.into_iter()
        .map(|obj| {
            let (attached, addresses) = match attachment(obj, target) {
                Ok((text, addresses)) => (Ok(text), addresses),
                Err(problem) => (Err(problem), Vec::new()),
            };
            PodState { obj, addresses, attached, ready: pod::readiness(obj) }
        })
        .collect()
}

/// Whether an attachment is the target network (`ns/name`, or a bare name in the pod's namespace).
fn is_target(a: &Attachment, target: &Target<'_>, pod_ns: &str) -> bool {
    a.name == target.nad.to_string() || (a.name == target.nad.name() && pod_ns == target.nad.namespace())
}

fn attachment(obj: &DynamicObject, target: &Target<'_>) -> Result<(String, Vec<IpAddr>), String> {
    let list = match pod::attachments(obj) {
        Err(e) => return Err(e.to_string()),
        Ok(None) => {
            return Err(format!(
                "no {NETWORK_STATUS} annotation: Multus attached no network{}",
                request(obj)
            ));
        }
        Ok(Some(list)) => list,
    };
    let ns = object::namespace(obj);
    let Some(m0) = list.iter().find(|a| a.interface.as_deref() == Some(MIGRATION_INTERFACE)) else {
        if let Some(a) = list.iter().find(|a| is_target(a, target, ns)) {
            let iface = a.interface.as_deref().unwrap_or("an unnamed interface");
            return Err(format!(
                "{} is attached as {iface}, not {MIGRATION_INTERFACE}: virt-handler only migrates over \
                 {MIGRATION_INTERFACE}",
                target.nad
            ));
        }
        let names: Vec<&str> = list.iter().map(|a| a.name.as_str()).collect();
        return Err(format!(
            "no {MIGRATION_INTERFACE} in {NETWORK_STATUS} (attached: {}): virt-handler migrates over the pod \
             network{}",
            if names.is_empty() { "nothing".to_owned() } else { names.join(", ") },
            request(obj)
        ));
    };
    if !is_target(m0, target, ns) {
        return Err(format!(
            "{MIGRATION_INTERFACE} is {}, not {}: the pod predates the network change; delete it so its \
             DaemonSet recreates it on the new network",
            m0.name, target.nad
        ));
    }
    if m0.ips.is_empty() {
        return Err(format!(
            "{MIGRATION_INTERFACE} has no IP address: virt-handler cannot start (\"no IP found on \
             {MIGRATION_INTERFACE}\"); check the NAD's IPAM"
        ));
    }
    let shown = join_ips(&m0.ips);
    if target.pools.is_empty() {
        return Ok((format!("{MIGRATION_INTERFACE} {shown} (the migration range is unknown)"), Vec::new()));
    }
    let inside: Vec<IpAddr> =
        m0.ips.iter().copied().filter(|ip| pools::find(&target.pools, ip).is_some()).collect();
    if inside.is_empty() {
        return Err(format!(
            "{MIGRATION_INTERFACE} address {shown} is outside the migration range {}",
            pools::describe(&target.pools)
        ));
    }
    Ok((format!("{MIGRATION_INTERFACE} {}", join_ips(&inside)), inside))
}

/// What the pod asked Multus for, to explain a missing attachment.
fn request(obj: &DynamicObject) -> String {
    match pod::requested(obj) {
        Some(r) => format!("; the pod requests {} ({})", quote(r), pod::NETWORKS),
        None => format!(
            "; the pod requests no network ({} unset): virt-operator has not applied the migration network \
             (see kubevirt-network)",
            pod::NETWORKS
        ),
    }
}

fn join_ips(ips: &[IpAddr]) -> String {
    ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// Check 3: every virt-handler pod is attached to the migration network on migration0 and Ready.
pub(super) fn attached(scene: &Scene<'_>, pods: &[PodState<'_>]) -> Check {
    let id = CheckId::VirtHandlerAttached;
    let Some(target) = &scene.target else {
        return Check::new(
            id,
            Status::Skip,
            "no migration network configured (see hc-network): virt-handler pods have no migration0, and \
             migrations use the pod network",
        );
    };
    let ns = &scene.options.namespace;
    if pods.is_empty() {
        let what = format!("no virt-handler pods (label kubevirt.io=virt-handler) in namespace {ns}");
        let dump = format!("oc get pods -n {ns} -l kubevirt.io=virt-handler -o yaml");
        return Check::new(id, Status::Fail, scene.absent(Resource::VirtHandler, &what, &dump));
    }
    let details = pods.iter().map(pod_detail).collect();
    let unattached = pods.iter().filter(|p| p.attached.is_err()).count();
    let not_ready = pods.iter().filter(|p| p.ready.is_err()).count();
    if unattached == 0 && not_ready == 0 {
        let ranges = match pools::describe(&target.pools) {
            r if r.is_empty() => String::new(),
            r => format!(" with an address in {r}"),
        };
        let why = format!(
            "{} attached to {} on {MIGRATION_INTERFACE}{ranges}, all Ready",
            plural(pods.len(), "virt-handler pod"),
            target.nad
        );
        return Check::new(id, Status::Pass, why).with(details);
    }
    let all = plural(pods.len(), "virt-handler pod");
    let why = match (unattached, not_ready) {
        (0, r) => format!("{r} of {all} not Ready"),
        (u, 0) => format!("{u} of {all} not attached to {} on {MIGRATION_INTERFACE}", target.nad),
        (u, r) => {
            format!("{u} of {all} not attached to {} on {MIGRATION_INTERFACE}; {r} not Ready", target.nad)
        }
    };
    Check::new(id, Status::Fail, why).with(details)
}

fn pod_detail(p: &PodState<'_>) -> Detail {
    let who = format!("Pod {} on {}", ident(p.obj), pod::node(p.obj));
    match (&p.attached, &p.ready) {
        (Ok(text), Ok(())) => Detail::ok(format!("{who}: {text}, Ready")),
        (Ok(text), Err(why)) => Detail::fail(format!("{who}: {text}, but {why}")),
        (Err(problem), Ok(())) => Detail::fail(format!("{who}: {problem}")),
        (Err(problem), Err(why)) => Detail::fail(format!("{who}: {problem}; {why}")),
    }
}

/// Check 4: addresses in use on the migration network versus what its ranges can hand out.
pub(super) fn headroom(scene: &Scene<'_>, pods: &[PodState<'_>]) -> Check {
    let id = CheckId::AddressHeadroom;
    let Some(target) = &scene.target else {
        return Check::new(id, Status::Skip, "no migration network configured (see hc-network)");
    };
    if target.object.is_none() {
        let why = format!(
            "NetworkAttachmentDefinition {} not found (see hc-network): its range is unknown",
            target.nad
        );
        return Check::new(id, Status::Skip, why);
    }
    if target.pools.is_empty() {
        let why = format!(
            "NetworkAttachmentDefinition {} hands out no address range mignet can read (see hc-network)",
            target.nad
        );
        return Check::new(id, Status::Fail, why);
    }
    let nodes = feed::view_of(scene.policy, scene.inputs.of(Resource::Node)).virt_handler_nodes();
    let need = nodes.map_or(0, |n| n as usize).max(pods.len());
    let needers = match nodes {
        Some(n) if n as usize >= pods.len() => plural(need, "virt-handler node"),
        _ => plural(need, "virt-handler pod"),
    };
    let mut details = duplicates(pods);
    let mut spans = Vec::new();
    for pool in &target.pools {
        let in_use: BTreeSet<IpAddr> =
            pods.iter().flat_map(|p| &p.addresses).copied().filter(|ip| pool.contains(ip)).collect();
        let in_use = in_use.len() as u128;
        let free = pool.usable.saturating_sub(in_use);
        spans.push(format!("{in_use} of {} addresses in use in {} ({free} free)", pool.usable, pool.cidr));
        details.extend(pool_problem(pool, need as u128, &needers));
    }
    let status =
        if details.iter().any(|d| d.status == super::Mark::Fail) { Status::Fail } else { Status::Pass };
    Check::new(id, status, format!("{}, for {needers}", spans.join("; "))).with(details)
}

fn pool_problem(pool: &pools::Pool, need: u128, needers: &str) -> Option<Detail> {
    if pool.usable < need {
        Some(Detail::fail(format!(
            "{} ({}): {} usable addresses for {needers}: not every node can get one; whereabouts leaves the \
             rest ContainerCreating (\"Could not allocate IP in range\"): use a larger range",
            pool.cidr, pool.field, pool.usable
        )))
    } else if pool.usable < need.saturating_mul(2) {
        Some(Detail::note(format!(
            "{}: {} addresses for {needers}: little room to grow",
            pool.cidr, pool.usable
        )))
    } else {
        None
    }
}

/// Addresses held by more than one pod: migrations between those nodes cannot work.
fn duplicates(pods: &[PodState<'_>]) -> Vec<Detail> {
    let mut holders: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
    for p in pods {
        for ip in &p.addresses {
            holders.entry(*ip).or_default().push(object::name(p.obj).to_owned());
        }
    }
    holders
        .into_iter()
        .filter(|(_, pods)| pods.len() > 1)
        .map(|(ip, pods)| {
            Detail::fail(format!(
                "{ip} is on {}: a duplicate address; migrations to and from these nodes go astray",
                pods.join(" and ")
            ))
        })
        .collect()
}

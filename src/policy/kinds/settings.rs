//! The live-migration settings a HyperConverged and a KubeVirt CR share (`liveMigrationConfig`,
//! `configuration.migrations`) and a MigrationPolicy overrides: one check, one set of rule ids.

use kube::core::DynamicObject;
use kube_quantity::ParsedQuantity;
use serde_json::{Map, Value};

use super::inflight;
use crate::policy::{
    Ctx, Rule,
    decision::{Findings, join, msg},
    nad, nad_host, object,
};

pub(in crate::policy) const MIB: f64 = 1024.0 * 1024.0;

/// The kind of object whose settings are judged, as messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::policy) enum Owner {
    HyperConverged,
    KubeVirt,
}

impl Owner {
    fn article(self) -> &'static str {
        match self {
            Owner::HyperConverged => "a HyperConverged",
            Owner::KubeVirt => "a KubeVirt CR",
        }
    }
}

/// Warns of what a changed `network` does, and on UPDATE denies the change while migrations run.
pub(in crate::policy) fn network_change(
    ctx: &Ctx<'_>,
    updating: bool,
    old: Option<&str>,
    new: Option<&Value>,
    base: &str,
    f: &mut Findings,
) {
    let field = format!("{base}.network");
    let new = new.and_then(Value::as_str);
    if updating && old != new {
        let change = match (old, new) {
            (Some(o), Some(n)) => {
                format!("changing the live-migration network {} -> {}", msg::quote(o), msg::quote(n))
            }
            (Some(o), None) => format!("removing the live-migration network {}", msg::quote(o)),
            (None, _) => "setting a live-migration network".to_owned(),
        };
        inflight::guard(ctx, &field, &change, f);
    }
    match (old, new) {
        (Some(o), None) => f.warn(
            Rule::HcNetworkRemoved,
            field,
            format!("network {} removed: migrations fall back to the pod network", msg::quote(o)),
        ),
        (Some(o), Some(n)) if o != n => f.warn(
            Rule::HcNetworkChanged,
            field,
            format!("{} -> {}: every virt-handler pod restarts", msg::quote(o), msg::quote(n)),
        ),
        _ => {}
    }
}

/// DNS-1123 label: what a NAD name must be.
fn dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub(in crate::policy) fn network_reference(
    ctx: &Ctx<'_>,
    owner: Owner,
    obj: &DynamicObject,
    lm: &Map<String, Value>,
    base: &str,
    f: &mut Findings,
) {
    let field = format!("{base}.network");
    let name = match lm.get("network") {
        None | Some(Value::Null) => return,
        Some(Value::String(n)) => n.as_str(),
        Some(v) => return f.deny(Rule::HcNetworkName, field, msg::invalid_json(v, "must be a NAD name")),
    };
    if !dns1123_label(name) {
        let hint =
            if name.contains('/') { "; give the name only: the NAD must be in this namespace" } else { "" };
        return f.deny(
            Rule::HcNetworkName,
            field,
            msg::invalid(
                name,
                format!("must be a NetworkAttachmentDefinition name (lowercase letters, digits, '-'; 63 at most){hint}"),
            ),
        );
    }
    let ns = object::namespace(obj);
    let want = ctx.policy.migration_namespace();
    if ns != want {
        let must =
            format!("{} with a live-migration network must be in {}", owner.article(), msg::quote(want));
        let message = match ns {
            "" => msg::required(must),
            ns => msg::invalid(ns, must),
        };
        f.deny(Rule::HcNamespace, "metadata.namespace", message);
        // The network resolves in this namespace, where no migration NAD may be: moving both is the fix.
        return;
    }
    let Some(entry) = ctx.view.nad(ns, name) else {
        if ctx.options.missing_network_warns {
            f.warn(
                Rule::HcNetworkMissing,
                field,
                format!("NetworkAttachmentDefinition {ns}/{name} not among the inputs; it must exist first"),
            );
        } else {
            f.deny(
                Rule::HcNetworkMissing,
                field,
                msg::not_found(
                    name,
                    format!("no NetworkAttachmentDefinition {ns}/{name}: create it first, or virt-handler cannot start"),
                ),
            );
        }
        return;
    };
    let mut problems = Findings::new(ctx.policy.disabled());
    nad::judge_stored(ctx, entry, &mut problems);
    // host rules keep their ids: the same finding whether the NAD or the HyperConverged is written
    let host = |r: Rule| nad_host::RULES.contains(&r);
    let on = |m: &str| format!("NetworkAttachmentDefinition {ns}/{name}: {m}");
    for w in problems.warnings.iter().filter(|w| host(w.rule)) {
        f.warn(w.rule, field.clone(), on(&w.message));
    }
    for d in problems.denials.iter().filter(|d| host(d.rule)) {
        f.deny(d.rule, field.clone(), on(&d.message));
    }
    problems.denials.retain(|d| !host(d.rule));
    if !problems.denials.is_empty() {
        let detail = if ctx.options.network_judged_too {
            let mut ids: Vec<&str> = problems.denials.iter().map(|d| d.rule.id()).collect();
            ids.dedup();
            format!(
                "NetworkAttachmentDefinition {ns}/{name} fails the migration rules ({}): see the findings on it",
                ids.join(", ")
            )
        } else {
            format!(
                "NetworkAttachmentDefinition {ns}/{name} fails the migration rules: {}",
                join(&problems.denials)
            )
        };
        f.deny(Rule::HcNetworkInvalid, field, msg::invalid(name, detail));
    }
}

/// An integer field: `Some(n)` when present and an integer, a denial when of the wrong type.
fn integer(lm: &Map<String, Value>, key: &str, base: &str, rule: Rule, f: &mut Findings) -> Option<i64> {
    let v = lm.get(key)?;
    if v.is_null() {
        return None;
    }
    match v.as_i64() {
        Some(n) => Some(n),
        None => {
            f.deny(rule, format!("{base}.{key}"), msg::invalid_json(v, "must be an integer"));
            None
        }
    }
}

pub(in crate::policy) fn limits(ctx: &Ctx<'_>, lm: &Map<String, Value>, base: &str, f: &mut Findings) {
    let defaults = &ctx.policy.file().hyper_converged_defaults;
    let mut parallel = |key: &str| {
        let n = integer(lm, key, base, Rule::HcParallel, f)?;
        if n < 1 {
            f.deny(
                Rule::HcParallel,
                format!("{base}.{key}"),
                msg::invalid_raw(n, "must be at least 1: 0 stops migrations"),
            );
        } else if n > u32::MAX as i64 {
            f.deny(Rule::HcParallel, format!("{base}.{key}"), msg::invalid_raw(n, "must fit in 32 bits"));
        }
        Some(n)
    };
    let cluster = parallel("parallelMigrationsPerCluster");
    let outbound = parallel("parallelOutboundMigrationsPerNode");
    let cluster_eff = cluster.unwrap_or(defaults.parallel_migrations_per_cluster.into());
    if let Some(out) = outbound.filter(|o| cluster_eff >= 1 && *o > cluster_eff) {
        f.warn(
            Rule::HcParallelOutbound,
            format!("{base}.parallelOutboundMigrationsPerNode"),
            format!("{out} exceeds parallelMigrationsPerCluster {cluster_eff}, which caps it"),
        );
    }
    let completion = timeout(lm, "completionTimeoutPerGiB", base, f);
    timeout(lm, "progressTimeout", base, f);
    let bandwidth = bandwidth(lm, base, f);
    if let Some((text, bytes)) = bandwidth.filter(|(_, b)| *b > 0.0) {
        let c = completion.unwrap_or(defaults.completion_timeout_per_gib);
        let tag = if completion.is_none() { " (default)" } else { "" };
        timeout_vs_bandwidth(c, tag, &text, bytes / MIB, base, f);
    }
}

pub(in crate::policy) fn timeout(
    lm: &Map<String, Value>,
    key: &str,
    base: &str,
    f: &mut Findings,
) -> Option<i64> {
    let n = integer(lm, key, base, Rule::HcTimeout, f)?;
    let field = format!("{base}.{key}");
    if n < 0 {
        f.deny(
            Rule::HcTimeout,
            field,
            msg::invalid_raw(n, "must not be negative: it would cancel every migration at once"),
        );
    } else if n == 0 {
        f.warn(Rule::HcTimeout, field, "0 turns this timeout off: a stuck migration is never cancelled");
    }
    Some(n)
}

/// The bandwidth as written and in bytes per second, when it is a valid quantity.
pub(in crate::policy) fn bandwidth(
    lm: &Map<String, Value>,
    base: &str,
    f: &mut Findings,
) -> Option<(String, f64)> {
    let field = format!("{base}.bandwidthPerMigration");
    let text = match lm.get("bandwidthPerMigration")? {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        v => {
            f.deny(Rule::HcBandwidth, field, msg::invalid_json(v, "must be a quantity such as \"64Mi\""));
            return None;
        }
    };
    let parsed = ParsedQuantity::try_from(text.as_str()).ok().and_then(|q| q.to_bytes_f64());
    let Some(bytes) = parsed.filter(|b| b.is_finite()) else {
        f.deny(
            Rule::HcBandwidth,
            field,
            msg::invalid(&text, "not a Kubernetes quantity: use e.g. \"64Mi\" or \"1Gi\""),
        );
        return None;
    };
    if bytes < 0.0 {
        f.deny(
            Rule::HcBandwidth,
            field,
            msg::invalid(&text, "must not be negative: KubeVirt fails the migration"),
        );
        return None;
    }
    if bytes > 0.0 && bytes < MIB {
        f.warn(
            Rule::HcBandwidthLow,
            field,
            format!("{text} is under 1Mi per second: KubeVirt raises it to 1Mi"),
        );
    }
    Some((text, bytes))
}

pub(in crate::policy) fn timeout_vs_bandwidth(
    c: i64,
    tag: &str,
    text: &str,
    mib_per_s: f64,
    base: &str,
    f: &mut Findings,
) {
    if c <= 0 {
        return;
    }
    let field = format!("{base}.completionTimeoutPerGiB");
    let need = 1024.0 / mib_per_s;
    let (need_s, advise) = (need.ceil() as i64, (2.0 * need).ceil() as i64);
    if (c as f64) < need {
        f.deny(
            Rule::HcTimeoutVsBandwidth,
            field,
            msg::invalid_raw(
                format!("{c}{tag}"),
                format!(
                    "one GiB takes {need_s} s at bandwidthPerMigration {text}: every migration would time out; \
                     set at least {advise}"
                ),
            ),
        );
    } else if (c as f64) < 2.0 * need {
        f.warn(
            Rule::HcTimeoutVsBandwidth,
            field,
            format!("{c}{tag} s/GiB is under twice the {need_s} s a GiB takes at {text}; use {advise}"),
        );
    }
}

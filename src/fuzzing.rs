//! Fuzzing entry points: each takes arbitrary bytes, drives one untrusted-input path end to end and
//! checks what must hold for every input.
//!
//! The cargo-fuzz targets in `fuzz/` and the corpus replay test (`tests/fuzz_corpus.rs`) call the
//! same functions, so every input the fuzzer ever saved is re-run by `cargo test` on stable.
//! A panic inside mignet is a finding; so is a [`Violation`], which the fuzz targets turn into one.

use std::{collections::BTreeSet, sync::LazyLock};

use kube::core::{DynamicObject, TypeMeta, admission::AdmissionReview};
use serde_json::{Value, json};

use crate::{
    input::{self, Format},
    policy::view::View,
    policy::{
        Admission, Decision, Finding, Kind, Operation, Options, Policy, Rule,
        cni::{self, NetConf},
        feed,
    },
    server::{
        admission::{self, MAX_WARNING_CHARS},
        metrics::{Verdict, Webhook},
    },
};

/// Longest finding message accepted: values are quoted cut to 64 characters, so only a rule that
/// echoes unbounded input can exceed it. A HyperConverged's `hc-network-invalid` quotes every
/// denial of its NAD and is exempt.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The fuzzed paths, named as their `fuzz/corpus/<name>` directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `spec.config` of a NetworkAttachmentDefinition: parser, claimed ranges and every NAD rule.
    CniConfig,
    /// An AdmissionReview body through both webhooks, response encoding included.
    Admission,
    /// A file given to `mignet check`, read as YAML, JSON and auto-detected, then judged.
    InputReader,
}

impl Target {
    /// Every target, in the order `make fuzz` runs them.
    pub const ALL: [Target; 3] = [Target::CniConfig, Target::Admission, Target::InputReader];

    /// The cargo-fuzz target and corpus directory name.
    pub fn name(self) -> &'static str {
        match self {
            Target::CniConfig => "cni_config",
            Target::Admission => "admission",
            Target::InputReader => "input_reader",
        }
    }

    /// Runs one input through the target.
    pub fn run(self, data: &[u8]) -> Result<(), Violation> {
        match self {
            Target::CniConfig => cni_config(data),
            Target::Admission => admission(data),
            Target::InputReader => input_reader(data),
        }
    }
}

/// A property that must hold for every input and did not.
#[derive(Debug, thiserror::Error)]
pub enum Violation {
    #[error("the built-in view does not load: {0}")]
    Fixture(String),
    #[error("{what}: two runs on the same input disagree")]
    Nondeterministic { what: &'static str },
    #[error("{what}: finding of rule {rule}: {problem}")]
    Finding { what: &'static str, rule: Rule, problem: String },
    #[error("NetConf::parse: {0}")]
    Config(String),
    #[error("claimed ranges: {0}")]
    Claims(String),
    #[error("{webhook} response: {detail}")]
    Response { webhook: &'static str, detail: String },
    #[error("defaults patch: {0}")]
    Patch(String),
    #[error("input reader ({format:?}): {detail}")]
    Input { format: Format, detail: String },
}

/// What the targets judge against: the view `make run` serves plus NADs of every IPAM kind.
struct Fixture {
    policy: Policy,
    view: View,
}

const STATE: [(&str, &str); 5] = [
    ("examples/migration-nad.yaml", include_str!("../examples/migration-nad.yaml")),
    ("examples/hyperconverged.yaml", include_str!("../examples/hyperconverged.yaml")),
    ("examples/cluster/network.yaml", include_str!("../examples/cluster/network.yaml")),
    ("examples/cluster/nodes.yaml", include_str!("../examples/cluster/nodes.yaml")),
    ("fixture.yaml", EXTRA_STATE),
];

/// Other tenants' networks (host-local, static, IPv6) and a node outside the virt-handler selector.
const EXTRA_STATE: &str = r#"
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: tenant-a, namespace: vms}
spec:
  config: '{"cniVersion":"0.3.1","type":"bridge","ipam":{"type":"host-local","subnet":"192.168.50.0/24","ranges":[[{"subnet":"fd00:50::/64"}]]}}'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: storage, namespace: default}
spec:
  config: '{"cniVersion":"1.0.0","plugins":[{"type":"macvlan","master":"eth3","ipam":{"type":"static","addresses":[{"address":"10.200.0.5/24"}]}}]}'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: mig-v6
  namespace: openshift-cnv
  labels: {mignet.io/live-migration: "true"}
spec:
  config: '{"cniVersion":"0.3.1","type":"macvlan","master":"bond3","ipam":{"type":"whereabouts","range":"fd00:99::/64"}}'
---
apiVersion: v1
kind: Node
metadata: {name: infra-0}
"#;

/// The config of `examples/migration-nad.yaml`: what an UPDATE replaces.
const REFERENCE_CONFIG: &str = r#"{"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;

static FIXTURE: LazyLock<Result<Fixture, String>> = LazyLock::new(build_fixture);

fn build_fixture() -> Result<Fixture, String> {
    let policy = Policy::default();
    let mut objects = Vec::new();
    for (name, text) in STATE {
        for doc in input::read_bytes(name, text.as_bytes(), Format::Yaml).map_err(|e| e.to_string())? {
            let obj: DynamicObject =
                serde_json::from_value(doc.value).map_err(|e| format!("{name}:{}: {e}", doc.line))?;
            objects.push(obj);
        }
    }
    let view = feed::view_of(&policy, &objects);
    if view.nad_count() != 4 || view.virt_handler_nodes() != Some(3) {
        let (nads, nodes) = (view.nad_count(), view.virt_handler_nodes());
        return Err(format!("expected 4 NADs and 3 virt-handler nodes, got {nads} and {nodes:?}"));
    }
    Ok(Fixture { policy, view })
}

fn fixture() -> Result<&'static Fixture, Violation> {
    FIXTURE.as_ref().map_err(|e| Violation::Fixture(e.clone()))
}

/// The CNI config parser and every NAD rule, on a NAD whose `spec.config` is `data`.
///
/// The config is judged as a new migration NAD, as a tenant NAD, as an UPDATE of the NAD the
/// HyperConverged uses, and through the HyperConverged that names it.
pub fn cni_config(data: &[u8]) -> Result<(), Violation> {
    let fx = fixture()?;
    let text = String::from_utf8_lossy(data);
    check_netconf(&text)?;
    check_claims(&text)?;
    let fuzzed = nad_object("migration-bridge", "openshift-cnv", &text)?;
    let stored = nad_object("migration-bridge", "openshift-cnv", REFERENCE_CONFIG)?;
    let cases = [
        (Operation::Create, nad_object("migration-fuzz", "openshift-cnv", &text)?, None),
        (Operation::Create, nad_object("tenant-fuzz", "vms", &text)?, None),
        (Operation::Update, fuzzed.clone(), Some(&stored)),
    ];
    for (operation, object, old_object) in &cases {
        let admission = Admission {
            operation: *operation,
            kind: Kind::Nad,
            object: Some(object),
            old_object: *old_object,
        };
        let decision = decide_twice(&fx.policy, &admission, &fx.view, &Options::default(), "NAD")?;
        check_decision("NAD", &decision)?;
        if !decision.patch.0.is_empty() {
            return Err(Violation::Patch("a NAD decision carries a patch".into()));
        }
    }
    // the HyperConverged re-judges the NAD it names, as stored in the view
    let mut view = fx.view.clone();
    feed::add(&fx.policy, &mut view, &fuzzed);
    let hc = hyperconverged("migration-bridge")?;
    let admission =
        Admission { operation: Operation::Create, kind: Kind::of(&hc), object: Some(&hc), old_object: None };
    let decision = decide_twice(&fx.policy, &admission, &view, &Options::default(), "HyperConverged")?;
    check_decision("HyperConverged", &decision)
}

fn nad_object(name: &str, namespace: &str, config: &str) -> Result<DynamicObject, Violation> {
    serde_json::from_value(json!({
        "apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": namespace}, "spec": {"config": config}
    }))
    .map_err(|e| Violation::Fixture(e.to_string()))
}

fn hyperconverged(network: &str) -> Result<DynamicObject, Violation> {
    serde_json::from_value(json!({
        "apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": "openshift-cnv"},
        "spec": {"liveMigrationConfig": {"network": network}}
    }))
    .map_err(|e| Violation::Fixture(e.to_string()))
}

fn check_netconf(text: &str) -> Result<(), Violation> {
    match NetConf::parse(text) {
        Ok(conf) => {
            let main_type = conf.main_type();
            if main_type.is_empty() {
                return Err(Violation::Config("accepted a config whose main plugin has no type".into()));
            }
            if conf.main().get("type").and_then(Value::as_str) != Some(main_type) {
                return Err(Violation::Config("main_type() is not main()[\"type\"]".into()));
            }
            Ok(())
        }
        Err(problems) if problems.is_empty() => Err(Violation::Config("refused without a problem".into())),
        Err(problems) => match problems.iter().find(|p| !(p.field.is_empty() || p.field.starts_with('.'))) {
            Some(p) => {
                Err(Violation::Config(format!("problem field {:?} is not below spec.config", p.field)))
            }
            None if problems.iter().any(|p| p.message.is_empty()) => {
                Err(Violation::Config("a problem without a message".into()))
            }
            None => Ok(()),
        },
    }
}

fn check_claims(text: &str) -> Result<(), Violation> {
    let nets = cni::claimed_ranges(text);
    if nets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Violation::Claims(format!("not sorted and unique: {nets:?}")));
    }
    let claims = cni::claimed_ranges_at(text);
    if let Some(c) = claims.iter().find(|c| c.net != c.net.trunc()) {
        return Err(Violation::Claims(format!("{} claims {} with host bits", c.field, c.net)));
    }
    if let Some(c) = claims.iter().find(|c| !c.field.starts_with("spec.config.")) {
        return Err(Violation::Claims(format!("field {:?} is not below spec.config", c.field)));
    }
    let mut from_claims: Vec<_> = claims.iter().map(|c| c.net).collect();
    from_claims.sort();
    from_claims.dedup();
    if from_claims != nets {
        return Err(Violation::Claims("claimed_ranges and claimed_ranges_at disagree".into()));
    }
    Ok(())
}

fn decide_twice(
    policy: &Policy,
    admission: &Admission<'_>,
    view: &View,
    options: &Options,
    what: &'static str,
) -> Result<Decision, Violation> {
    let first = policy.decide(admission, view, options);
    if policy.decide(admission, view, options) != first {
        return Err(Violation::Nondeterministic { what });
    }
    Ok(first)
}

/// Every finding names a field and says something, within [`MAX_MESSAGE_BYTES`].
fn check_decision(what: &'static str, decision: &Decision) -> Result<(), Violation> {
    decision.denials.iter().chain(&decision.warnings).try_for_each(|f| check_finding(what, f))
}

fn check_finding(what: &'static str, f: &Finding) -> Result<(), Violation> {
    let problem = if f.field.is_empty() {
        "empty field".to_owned()
    } else if f.message.is_empty() {
        "empty message".to_owned()
    } else if f.message.len() > MAX_MESSAGE_BYTES && f.rule != Rule::HcNetworkInvalid {
        format!("{}-byte message on {}", f.message.len(), f.field)
    } else {
        return Ok(());
    };
    Err(Violation::Finding { what, rule: f.rule, problem })
}

/// An AdmissionReview body through `/validate` and `/mutate`, exactly as the server answers it.
///
/// A judged body must encode, echo its uid, deny only from `/validate` (403, with the rule ids in
/// the audit annotations and short warnings) and patch only from `/mutate`, with `add` operations
/// that apply to the object, leave nothing more to add and change no verdict.
pub fn admission(data: &[u8]) -> Result<(), Violation> {
    let fx = fixture()?;
    let mut verdicts = Vec::new();
    for webhook in [Webhook::Validate, Webhook::Mutate] {
        let name = webhook_name(webhook);
        let fail = |detail: String| Violation::Response { webhook: name, detail };
        let reviewed = match admission::review(data, webhook, &fx.policy, &fx.view, Some(0)) {
            Ok(r) => r,
            Err(e) if e.to_string().is_empty() => return Err(fail("refused without a reason".into())),
            Err(_) => {
                verdicts.push(None);
                continue;
            }
        };
        check_decision("AdmissionReview", &reviewed.decision)?;
        let bytes =
            serde_json::to_vec(&reviewed.response).map_err(|e| fail(format!("cannot encode: {e}")))?;
        let out: Value = serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON: {e}")))?;
        let response = &out["response"];
        // typed, as the server reads it: ignored fields need not even be valid UTF-8
        let types: TypeMeta =
            serde_json::from_slice(data).map_err(|e| fail(format!("types unreadable: {e}")))?;
        if out["kind"] != types.kind || out["apiVersion"] != types.api_version {
            return Err(fail("the response does not echo the review's apiVersion and kind".into()));
        }
        if response["uid"].as_str() != Some(reviewed.uid.as_str()) {
            return Err(fail("the uid is not echoed".into()));
        }
        if response["allowed"].as_bool() != Some(reviewed.verdict != Verdict::Denied) {
            return Err(fail(format!("allowed disagrees with the verdict {:?}", reviewed.verdict)));
        }
        match webhook {
            Webhook::Validate => check_validate(response, &reviewed.decision).map_err(fail)?,
            Webhook::Mutate => check_mutate(data, response, &reviewed, fx).map_err(fail)?,
        }
        verdicts.push(Some(reviewed.uid));
    }
    if verdicts[0] != verdicts[1] {
        return Err(Violation::Response {
            webhook: "both",
            detail: "the webhooks read the body differently".into(),
        });
    }
    Ok(())
}

fn webhook_name(webhook: Webhook) -> &'static str {
    match webhook {
        Webhook::Validate => "/validate",
        Webhook::Mutate => "/mutate",
    }
}

fn check_validate(response: &Value, decision: &Decision) -> Result<(), String> {
    if response.get("patch").is_some() || response.get("patchType").is_some() {
        return Err("/validate returned a patch".into());
    }
    let warnings = response["warnings"].as_array().map(Vec::as_slice).unwrap_or_default();
    if warnings.len() != decision.warnings.len() {
        return Err("warnings lost".into());
    }
    if let Some(w) =
        warnings.iter().find(|w| w.as_str().is_none_or(|w| w.chars().count() > MAX_WARNING_CHARS))
    {
        return Err(format!("warning longer than {MAX_WARNING_CHARS} characters: {w}"));
    }
    if decision.allowed() {
        return Ok(());
    }
    if response["status"]["code"] != 403 {
        return Err("a denial without status code 403".into());
    }
    let denied: BTreeSet<&str> = decision.denials.iter().map(|d| d.rule.id()).collect();
    let audit = response["auditAnnotations"][admission::AUDIT_DENIED_RULES].as_str().unwrap_or_default();
    if audit.split(',').collect::<BTreeSet<_>>() != denied {
        return Err(format!("the audit annotation {audit:?} does not list the denied rules {denied:?}"));
    }
    Ok(())
}

fn check_mutate(
    body: &[u8],
    response: &Value,
    reviewed: &admission::Reviewed,
    fx: &Fixture,
) -> Result<(), String> {
    if reviewed.verdict == Verdict::Denied || response.get("status").is_some_and(|s| s["code"] == 403) {
        return Err("/mutate denied".into());
    }
    if response.get("warnings").is_some() {
        return Err("/mutate returned warnings".into());
    }
    let Some(encoded) = response.get("patch") else {
        return match reviewed.verdict {
            Verdict::Patched => Err("verdict patched without a patch".into()),
            _ => Ok(()),
        };
    };
    if response["patchType"] != "JSONPatch" {
        return Err("a patch without patchType JSONPatch".into());
    }
    let bytes: Vec<u8> =
        serde_json::from_value(encoded.clone()).map_err(|e| format!("patch encoding: {e}"))?;
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).map_err(|e| format!("patch: {e}"))?;
    check_patch(body, &patch, fx).map_err(|v| v.to_string())
}

/// The patch only adds, applies to the request's object, leaves nothing to add and keeps the verdict.
fn check_patch(body: &[u8], patch: &json_patch::Patch, fx: &Fixture) -> Result<(), Violation> {
    if patch.0.is_empty() {
        return Err(Violation::Patch("an empty patch was sent".into()));
    }
    if !patch.0.iter().all(|op| matches!(op, json_patch::PatchOperation::Add(_))) {
        return Err(Violation::Patch("an operation other than add".into()));
    }
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(|e| Violation::Patch(e.to_string()))?;
    let mut review = serde_json::to_value(review).map_err(|e| Violation::Patch(e.to_string()))?;
    let before = review["request"]["object"].clone();
    json_patch::patch(&mut review["request"]["object"], patch)
        .map_err(|e| Violation::Patch(format!("does not apply to the object: {e}")))?;
    let patched = serde_json::to_vec(&review).map_err(|e| Violation::Patch(e.to_string()))?;
    let again = admission::review(&patched, Webhook::Mutate, &fx.policy, &fx.view, Some(0))
        .map_err(|e| Violation::Patch(format!("the patched review is refused: {e}")))?;
    if !again.decision.patch.0.is_empty() {
        return Err(Violation::Patch("re-patching the patched object adds more".into()));
    }
    let rules = |body: &[u8]| {
        admission::review(body, Webhook::Validate, &fx.policy, &fx.view, Some(0))
            .map(|r| r.decision.denials.iter().map(|d| d.rule).collect::<Vec<_>>())
            .map_err(|e| Violation::Patch(format!("validation refused the review: {e}")))
    };
    if rules(body)? != rules(&patched)? {
        return Err(Violation::Patch(format!("the defaults change the denials of {before}")));
    }
    Ok(())
}

/// A file given to `mignet check`: read as YAML, JSON and auto-detected; what is read is judged.
///
/// Every document read is a mapping starting on a line of the input; every refusal names the
/// file; auto-detection agrees with JSON on what looks like and parses as JSON.
pub fn input_reader(data: &[u8]) -> Result<(), Violation> {
    const NAME: &str = "fuzz.yaml";
    // YAML also breaks lines at a lone CR (and YAML 1.1 at NEL, LS, PS): an upper bound counts them all
    let breaks = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
    let lines = 1 + String::from_utf8_lossy(data).chars().filter(|c| breaks.contains(c)).count();
    let mut results = Vec::new();
    for format in [Format::Yaml, Format::Json, Format::Auto] {
        let fail = |detail: String| Violation::Input { format, detail };
        match input::read_bytes(NAME, data, format) {
            Ok(docs) => {
                if let Some(d) = docs.iter().find(|d| !d.value.is_object()) {
                    return Err(fail(format!("document at line {} is not a mapping", d.line)));
                }
                if let Some(d) = docs.iter().find(|d| d.line == 0 || d.line > lines || &*d.source != NAME) {
                    return Err(fail(format!("document placed at {}:{} of {lines} lines", d.source, d.line)));
                }
                judge_documents(&docs)?;
                results.push(Some(docs));
            }
            Err(e) if !e.to_string().starts_with(NAME) => {
                return Err(fail(format!("the message does not name the file: {e}")));
            }
            Err(_) => results.push(None),
        }
    }
    if looks_like_json(data) && results[1].is_some() && results[1] != results[2] {
        return Err(Violation::Input {
            format: Format::Auto,
            detail: "disagrees with JSON on a JSON text".into(),
        });
    }
    Ok(())
}

fn looks_like_json(data: &[u8]) -> bool {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    std::str::from_utf8(data).is_ok_and(|t| t.trim_start().starts_with(['{', '[']))
}

/// Judges the NADs and HyperConvergeds read, against a view of everything read, as `check` does.
fn judge_documents(docs: &[input::Document]) -> Result<(), Violation> {
    let fx = fixture()?;
    let objects: Vec<DynamicObject> = docs
        .iter()
        .filter(|d| {
            let field = |k: &str| d.value.get(k).and_then(Value::as_str).unwrap_or_default();
            Kind::from_api_version(field("apiVersion"), field("kind")) != Kind::Other
        })
        .filter_map(|d| serde_json::from_value(d.value.clone()).ok())
        .collect();
    let view = feed::view_of(&fx.policy, &objects);
    let options = Options { missing_network_warns: true, ..Options::default() };
    for obj in &objects {
        let kind = Kind::of(obj);
        if !matches!(kind, Kind::Nad | Kind::HyperConverged(_)) {
            continue;
        }
        let admission = Admission { operation: Operation::Create, kind, object: Some(obj), old_object: None };
        let decision = decide_twice(&fx.policy, &admission, &view, &options, "check")?;
        check_decision("check", &decision)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REVIEW: &str = include_str!("../examples/reviews/hco-create-needs-defaults.json");

    #[test]
    fn the_fixture_loads() {
        let fx = fixture().unwrap();
        assert_eq!(fx.view.nad_count(), 4);
        assert_eq!(fx.view.hcs_using("openshift-cnv", "migration-bridge").count(), 1);
    }

    #[test]
    fn examples_pass_every_target() {
        let config = r#"{"cniVersion":"0.3.1","type":"macvlan","master":"bond2","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;
        for target in Target::ALL {
            for input in [config, REVIEW, include_str!("../examples/migration-nad.yaml"), "", "{", "\u{feff}"]
            {
                target.run(input.as_bytes()).unwrap_or_else(|v| panic!("{}: {v}", target.name()));
            }
        }
    }

    #[test]
    fn empty_fields_and_long_messages_are_violations() {
        let finding = |field: &str, message: String, rule| Finding { rule, field: field.into(), message };
        assert!(
            check_finding("t", &finding("spec.config", "Required value: x".into(), Rule::NadIpam)).is_ok()
        );
        assert!(check_finding("t", &finding("", "x".into(), Rule::NadIpam)).is_err());
        assert!(check_finding("t", &finding("spec", String::new(), Rule::NadIpam)).is_err());
        let long = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(check_finding("t", &finding("spec", long.clone(), Rule::NadIpam)).is_err());
        assert!(check_finding("t", &finding("spec", long, Rule::HcNetworkInvalid)).is_ok());
    }

    #[test]
    fn a_patch_that_replaces_or_is_not_idempotent_is_a_violation() {
        let fx = fixture().unwrap();
        let add = |path: &str| -> json_patch::Patch {
            serde_json::from_value(json!([{"op": "add", "path": path, "value": 1}])).unwrap()
        };
        let replace: json_patch::Patch =
            serde_json::from_value(json!([{"op": "replace", "path": "/spec", "value": {}}])).unwrap();
        assert!(matches!(check_patch(REVIEW.as_bytes(), &replace, fx), Err(Violation::Patch(_))));
        // adds one field only: the other defaults are still missing afterwards
        let partial = add("/spec/liveMigrationConfig/progressTimeout");
        let err = check_patch(REVIEW.as_bytes(), &partial, fx).unwrap_err();
        assert!(err.to_string().contains("adds more"), "{err}");
        let nowhere = add("/no/such/parent");
        assert!(
            check_patch(REVIEW.as_bytes(), &nowhere, fx).unwrap_err().to_string().contains("does not apply")
        );
    }

    #[test]
    fn the_real_defaults_patch_holds() {
        let fx = fixture().unwrap();
        let r = admission::review(REVIEW.as_bytes(), Webhook::Mutate, &fx.policy, &fx.view, Some(0)).unwrap();
        assert_eq!(r.verdict, Verdict::Patched);
        check_patch(REVIEW.as_bytes(), &r.decision.patch, fx).unwrap();
    }

    #[test]
    fn auto_detection_is_compared_only_on_json_text() {
        assert!(looks_like_json(b"\xEF\xBB\xBF  {\"a\": 1}"));
        assert!(looks_like_json(b"[1]"));
        assert!(!looks_like_json(b"a: 1"));
        assert!(!looks_like_json(b"\xff{"));
    }
}

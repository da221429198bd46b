//! AdmissionReview bytes in, AdmissionReview response out: the one mapping between the API server's
//! wire format and the policy core, shared by `mignet serve` and `mignet review`.

use kube::core::{
    DynamicObject, Status,
    admission::{self, AdmissionRequest, AdmissionResponse, AdmissionReview},
    response::{StatusCause, StatusDetails, StatusSummary},
};

use super::metrics::{Verdict, Webhook};
use crate::{
    policy::view::View,
    policy::{Admission, Decision, Kind, Operation, Options, Policy},
};

/// The API server cuts longer warnings; past this many characters we cut them ourselves, visibly.
pub const MAX_WARNING_CHARS: usize = 120;

/// Audit annotation key (the API server prefixes it with the webhook name).
pub const AUDIT_DENIED_RULES: &str = "denied-rules";

/// Why a request body cannot be judged: answered with HTTP 400 and this text.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("request body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("request body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    NotAReview(#[source] serde_json::Error),
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

/// A judged request: the response to send and what logs and metrics need to know about it.
#[derive(Debug)]
pub struct Reviewed {
    pub response: AdmissionReview<DynamicObject>,
    pub verdict: Verdict,
    pub uid: String,
    pub kind: String,
    pub operation: &'static str,
    pub namespace: String,
    pub name: String,
    pub dry_run: bool,
    pub decision: Decision,
}

/// Parses one AdmissionReview and answers it as the `webhook` endpoint does.
///
/// `/validate` returns the verdict, warnings and audit annotations and never a patch; `/mutate`
/// returns only the defaults patch (when non-empty), so denials are reported once, by validation.
///
/// `now` (Unix seconds) dates the migrations in flight; the adapters pass [`unix_now`].
pub fn review(
    body: &[u8],
    webhook: Webhook,
    policy: &Policy,
    view: &View,
    now: Option<i64>,
) -> Result<Reviewed, ReviewError> {
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ReviewError::NotAReview(e),
            _ => ReviewError::NotJson(e),
        })?;
    let request: AdmissionRequest<DynamicObject> = review.try_into().map_err(|_| ReviewError::NoRequest)?;
    let kind = Kind::from_gvk(&request.kind.group, &request.kind.version, &request.kind.kind);
    let operation = match request.operation {
        admission::Operation::Create => Operation::Create,
        admission::Operation::Update => Operation::Update,
        admission::Operation::Delete => Operation::Delete,
        admission::Operation::Connect => Operation::Connect,
    };
    let admission = Admission {
        operation,
        kind,
        object: request.object.as_ref(),
        old_object: request.old_object.as_ref(),
    };
    let decision = match kind {
        Kind::Nad
        | Kind::HyperConverged(_)
        | Kind::Nncp
        | Kind::KubeVirt
        | Kind::MigrationPolicy
        | Kind::UserDefinedNetwork(_) => {
            policy.decide(&admission, view, &Options { now, ..Options::default() })
        }
        _ => Decision::default(),
    };
    let (response, verdict) = match webhook {
        Webhook::Validate => {
            let mut response = AdmissionResponse::from(&request);
            let verdict = validate(&mut response, &decision);
            (response, verdict)
        }
        Webhook::Mutate if decision.patch.0.is_empty() => {
            (AdmissionResponse::from(&request), Verdict::Allowed)
        }
        Webhook::Mutate => match AdmissionResponse::from(&request).with_patch(decision.patch.clone()) {
            Ok(patched) => (patched, Verdict::Patched),
            // the response built again from the request: exactly the unpatched answer
            Err(_) => (AdmissionResponse::from(&request), Verdict::Error),
        },
    };
    Ok(Reviewed {
        response: response.into_review(),
        verdict,
        uid: request.uid,
        kind: request.kind.kind,
        operation: operation_name(operation),
        namespace: request.namespace.unwrap_or_default(),
        name: request.name,
        dry_run: request.dry_run,
        decision,
    })
}

/// The system clock in Unix seconds, read by the adapters so the policy core never reads one.
pub fn unix_now() -> Option<i64> {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_secs()).ok()
}

fn validate(response: &mut AdmissionResponse, decision: &Decision) -> Verdict {
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings.iter().map(|w| shorten(&w.to_string())).collect());
    }
    if decision.allowed() {
        return Verdict::Allowed;
    }
    let causes = decision
        .denials
        .iter()
        .map(|d| StatusCause {
            reason: "FieldValueInvalid".into(),
            message: d.message.clone(),
            field: d.field.clone(),
        })
        .collect();
    response.allowed = false;
    response.result = Status {
        status: Some(StatusSummary::Failure),
        code: 403,
        message: decision.denial_message(),
        reason: "Forbidden".into(),
        metadata: None,
        details: Some(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes,
            retry_after_seconds: 0,
        }),
    };
    let mut rules: Vec<&str> = decision.denials.iter().map(|d| d.rule.id()).collect();
    rules.dedup();
    response.audit_annotations.insert(AUDIT_DENIED_RULES.into(), rules.join(","));
    Verdict::Denied
}

/// Cuts a warning to [`MAX_WARNING_CHARS`] characters, marking the cut.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_WARNING_CHARS - 1) {
        Some((at, _)) if text.chars().count() > MAX_WARNING_CHARS => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

fn operation_name(op: Operation) -> &'static str {
    match op {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::policy::feed;

    fn review_of(object: Value, operation: &str, old: Value) -> Vec<u8> {
        let (group, version) = {
            let api = object.get("apiVersion").or(old.get("apiVersion")).and_then(Value::as_str).unwrap();
            let (g, v) = api.rsplit_once('/').unwrap();
            (g.to_owned(), v.to_owned())
        };
        let kind = object.get("kind").or(old.get("kind")).cloned().unwrap();
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "8d3c-uid", "kind": {"group": group, "version": version, "kind": kind},
                        "resource": {"group": group, "version": version, "resource": "x"},
                        "name": "n", "namespace": "openshift-cnv", "operation": operation,
                        "userInfo": {"username": "admin"}, "object": object, "oldObject": old, "dryRun": true}
        }))
        .unwrap()
    }

    fn nad(range: &str, master: Option<&str>) -> Value {
        let mut cfg =
            json!({"cniVersion":"0.3.1","type":"macvlan","ipam":{"type":"whereabouts","range":range}});
        if let Some(m) = master {
            cfg["master"] = json!(m);
        }
        json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
               "metadata":{"name":"migration-bridge","namespace":"openshift-cnv"},"spec":{"config":cfg.to_string()}})
    }

    fn judge(body: &[u8], webhook: Webhook) -> Value {
        let r = review(body, webhook, &Policy::default(), &View::new(), None).unwrap();
        serde_json::to_value(&r.response).unwrap()
    }

    #[test]
    fn allows_and_echoes_the_uid() {
        let out = judge(
            &review_of(nad("192.168.99.0/24", Some("bond2")), "CREATE", Value::Null),
            Webhook::Validate,
        );
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(out["kind"], "AdmissionReview");
        assert_eq!(out["response"]["uid"], "8d3c-uid");
        assert_eq!(out["response"]["allowed"], true);
        assert!(out["response"].get("patch").is_none() && out["response"].get("patchType").is_none());
    }

    #[test]
    fn denies_with_403_causes_and_audit_rules() {
        let out = judge(&review_of(nad("10.129.64.0/24", None), "CREATE", Value::Null), Webhook::Validate);
        let r = &out["response"];
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"]["code"], 403);
        assert_eq!(
            r["status"]["message"],
            "spec.config.master: Required value: without master, macvlan uses the default-route interface: the \
             management network; name the dedicated NIC or bond, e.g. \"bond2\"; spec.config.ipam.range: Invalid \
             value: \"10.129.64.0/24\": overlaps the pod network 10.128.0.0/14; free ranges of this size: 10.132.0.0/24, \
             10.132.1.0/24"
        );
        assert_eq!(r["status"]["details"]["causes"][1]["field"], "spec.config.ipam.range");
        assert_eq!(r["auditAnnotations"][AUDIT_DENIED_RULES], "nad-master,nad-overlap-reserved");
    }

    #[test]
    fn warnings_are_short() {
        let long_master = json!({"apiVersion":"k8s.cni.cncf.io/v1","kind":"NetworkAttachmentDefinition",
            "metadata":{"name":"migration-bridge","namespace":"openshift-cnv"},
            "spec":{"config": json!({"cniVersion":"0.3.1","type":"macvlan","master":"bond2","mode":"passthru",
                "ipam":{"type":"whereabouts","range":"192.168.99.5/24","gateway":"192.168.99.1"}}).to_string()}});
        let out = judge(&review_of(long_master, "CREATE", Value::Null), Webhook::Validate);
        let warnings = out["response"]["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 3);
        assert!(
            warnings.iter().all(|w| w.as_str().unwrap().chars().count() <= MAX_WARNING_CHARS),
            "{warnings:?}"
        );
        assert_eq!(shorten(&"é".repeat(200)).chars().count(), MAX_WARNING_CHARS);
        assert_eq!(shorten("short"), "short");
    }

    #[test]
    fn mutate_patches_only_what_is_missing() {
        let hc = json!({"apiVersion":"hco.kubevirt.io/v1beta1","kind":"HyperConverged",
            "metadata":{"name":"kubevirt-hyperconverged","namespace":"openshift-cnv"},
            "spec":{"liveMigrationConfig":{"completionTimeoutPerGiB": 800}}});
        let out = judge(&review_of(hc.clone(), "CREATE", Value::Null), Webhook::Mutate);
        let r = &out["response"];
        assert_eq!(r["allowed"], true);
        assert_eq!(r["patchType"], "JSONPatch");
        let bytes: Vec<u8> = serde_json::from_value(r["patch"].clone()).unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        let mut doc = hc;
        json_patch::patch(&mut doc, &patch).unwrap();
        assert_eq!(doc["spec"]["liveMigrationConfig"]["completionTimeoutPerGiB"], 800);
        assert_eq!(doc["spec"]["liveMigrationConfig"]["progressTimeout"], 150);
        // validate never patches, even when a patch exists
        let v = judge(&review_of(doc.clone(), "CREATE", Value::Null), Webhook::Validate);
        assert!(v["response"].get("patch").is_none());
        // once applied, nothing more to add
        let again = judge(&review_of(doc, "UPDATE", Value::Null), Webhook::Mutate);
        assert!(again["response"].get("patch").is_none());
    }

    #[test]
    fn delete_of_the_nad_in_use_is_denied() {
        let policy = Policy::default();
        let nad_obj: DynamicObject = serde_json::from_value(nad("192.168.99.0/24", Some("bond2"))).unwrap();
        let hc: DynamicObject =
            serde_json::from_value(json!({"apiVersion":"hco.kubevirt.io/v1beta1","kind":"HyperConverged",
            "metadata":{"name":"kubevirt-hyperconverged","namespace":"openshift-cnv"},
            "spec":{"liveMigrationConfig":{"network":"migration-bridge"}}}))
            .unwrap();
        let view = feed::view_of(&policy, [&nad_obj, &hc]);
        let body = review_of(Value::Null, "DELETE", nad("192.168.99.0/24", Some("bond2")));
        let r = review(&body, Webhook::Validate, &policy, &view, None).unwrap();
        assert_eq!(r.verdict, Verdict::Denied);
        assert_eq!(r.operation, "DELETE");
    }

    #[test]
    fn other_kinds_pass_untouched() {
        let pod = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}});
        let body = serde_json::to_vec(&json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},
            "resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","userInfo":{},
            "object":pod,"dryRun":false}}))
        .unwrap();
        for webhook in [Webhook::Validate, Webhook::Mutate] {
            let r = review(&body, webhook, &Policy::default(), &View::new(), None).unwrap();
            assert_eq!(r.verdict, Verdict::Allowed);
        }
    }

    #[test]
    fn bad_bodies_are_named() {
        let v = View::new();
        let p = Policy::default();
        assert!(matches!(
            review(b"{not json", Webhook::Validate, &p, &v, None),
            Err(ReviewError::NotJson(_))
        ));
        assert!(matches!(review(b"[1,2]", Webhook::Validate, &p, &v, None), Err(ReviewError::NotAReview(_))));
        let no_request = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
        assert!(matches!(review(no_request, Webhook::Validate, &p, &v, None), Err(ReviewError::NoRequest)));
        let no_uid = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"group":"","version":"v1","kind":"Pod"}}}"#;
        let e = review(no_uid, Webhook::Validate, &p, &v, None).unwrap_err();
        assert!(e.to_string().contains("missing field"), "{e}");
    }
}

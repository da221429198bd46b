//! What the policy concludes about one object: the single result every adapter renders.

use std::fmt;

use serde::Serialize;

use super::rules::Rule;

/// One problem found, tied to the field a user has to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    /// Dotted path into the object, continuing inside the CNI config (`spec.config.ipam.range`).
    pub field: String,
    /// Kubernetes field-error wording: `Invalid value: "x": why`.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The verdict on one admission: denials make it fail, warnings are shown, the patch fills in defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub denials: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// RFC 6902 `add` operations only: nothing a user wrote is ever changed.
    pub patch: json_patch::Patch,
}

impl Decision {
    /// Whether the object may be stored.
    pub fn allowed(&self) -> bool {
        self.denials.is_empty()
    }

    /// Every denial as `field: message; …`, the form kubectl users read in `status.message`.
    pub fn denial_message(&self) -> String {
        join(&self.denials)
    }
}

/// Joins findings the way the API server shows a list of field errors.
pub fn join(findings: &[Finding]) -> String {
    let mut out = String::new();
    for (i, f) in findings.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&f.to_string());
    }
    out
}

/// A set of rules, small enough to test membership with one instruction on the hot path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleSet(u128);

impl RuleSet {
    /// Adds a rule to the set.
    pub fn insert(&mut self, rule: Rule) {
        self.0 |= 1 << rule as u32;
    }

    /// Whether the rule is in the set.
    pub fn contains(self, rule: Rule) -> bool {
        self.0 & (1 << rule as u32) != 0
    }

    /// The rules in the set, in documentation order.
    pub fn iter(self) -> impl Iterator<Item = Rule> {
        Rule::ALL.iter().copied().filter(move |r| self.contains(*r))
    }
}

const _: () = assert!(Rule::ALL.len() <= 128, "RuleSet holds at most 128 rules");

/// Findings kept per rule, denials and warnings apart. A 3 MiB config can hold a million bad
/// entries; one finding each would make an answer a hundred times the request's size.
pub const MAX_PER_RULE: usize = 16;

const RULES: usize = Rule::ALL.len();

/// Collects findings while rules run, dropping those of rules the policy turned off and counting,
/// past [`MAX_PER_RULE`], those of a rule that already said enough.
#[derive(Debug)]
pub(crate) struct Findings {
    disabled: RuleSet,
    pub denials: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Per rule: (denials, warnings) seen, kept or not.
    seen: [(usize, usize); RULES],
}

impl Findings {
    pub fn new(disabled: RuleSet) -> Self {
        Findings { disabled, denials: Vec::new(), warnings: Vec::new(), seen: [(0, 0); RULES] }
    }

    pub fn enabled(&self, rule: Rule) -> bool {
        !self.disabled.contains(rule)
    }

    pub fn deny(&mut self, rule: Rule, field: impl Into<String>, message: impl Into<String>) {
        if self.enabled(rule) {
            self.seen[rule as usize].0 += 1;
            if self.seen[rule as usize].0 <= MAX_PER_RULE {
                self.denials.push(Finding { rule, field: field.into(), message: message.into() });
            }
        }
    }

    pub fn warn(&mut self, rule: Rule, field: impl Into<String>, message: impl Into<String>) {
        if self.enabled(rule) {
            self.seen[rule as usize].1 += 1;
            if self.seen[rule as usize].1 <= MAX_PER_RULE {
                self.warnings.push(Finding { rule, field: field.into(), message: message.into() });
            }
        }
    }

    /// The decision, with one line per rule that found more than it kept.
    pub fn into_decision(mut self, patch: json_patch::Patch) -> Decision {
        for &rule in Rule::ALL {
            let (denied, warned) = self.seen[rule as usize];
            if denied > MAX_PER_RULE {
                let more = denied - MAX_PER_RULE;
                self.denials.push(Finding { rule, field: "spec".into(), message: omitted(more, "problems") });
            }
            if warned > MAX_PER_RULE {
                let more = warned - MAX_PER_RULE;
                self.warnings.push(Finding {
                    rule,
                    field: "spec".into(),
                    message: omitted(more, "warnings"),
                });
            }
        }
        Decision { denials: self.denials, warnings: self.warnings, patch }
    }
}

fn omitted(more: usize, what: &str) -> String {
    format!("{more} more {what} of this rule not shown")
}

/// Message builders following the Kubernetes field-error conventions (`k8s.io/apimachinery/.../field/errors.go`).
pub mod msg {
    use std::fmt::Display;

    /// Longest value shown in a message: a 3 MiB config must not become a 3 MiB denial.
    const MAX_SHOWN: usize = 64;

    /// Quotes a value the way Go's `%q` does, so odd characters stay visible; long values are cut.
    pub fn quote(value: &str) -> String {
        serde_json::Value::from(cut(value)).to_string()
    }

    fn cut(value: &str) -> std::borrow::Cow<'_, str> {
        match value.char_indices().nth(MAX_SHOWN) {
            Some((at, _)) => format!("{}…", &value[..at]).into(),
            None => value.into(),
        }
    }

    /// `Invalid value: <json>: detail` for values of the wrong JSON type.
    pub fn invalid_json(value: &serde_json::Value, detail: impl Display) -> String {
        match value {
            serde_json::Value::String(s) => invalid(s, detail),
            other => format!("Invalid value: {}: {detail}", cut(&other.to_string())),
        }
    }

    /// `Invalid value: "v": detail` for string values.
    pub fn invalid(value: &str, detail: impl Display) -> String {
        format!("Invalid value: {}: {detail}", quote(value))
    }

    /// `Invalid value: 7: detail` for numbers and other unquoted values.
    pub fn invalid_raw(value: impl Display, detail: impl Display) -> String {
        format!("Invalid value: {value}: {detail}")
    }

    /// `Required value: detail`.
    pub fn required(detail: impl Display) -> String {
        format!("Required value: {detail}")
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn unsupported(value: &str, supported: &[impl AsRef<str>]) -> String {
        let list: Vec<String> = supported.iter().map(|s| quote(s.as_ref())).collect();
        format!("Unsupported value: {}: supported values: {}", quote(value), list.join(", "))
    }

    /// `Forbidden: detail`.
    pub fn forbidden(detail: impl Display) -> String {
        format!("Forbidden: {detail}")
    }

    /// `Not found: "x"` with what to do about it.
    pub fn not_found(value: &str, detail: impl Display) -> String {
        format!("Not found: {}: {detail}", quote(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_rules_are_dropped() {
        let mut off = RuleSet::default();
        off.insert(Rule::NadMtu);
        let mut f = Findings::new(off);
        f.deny(Rule::NadMtu, "spec.config.mtu", "x");
        f.deny(Rule::NadMode, "spec.config.mode", "y");
        f.warn(Rule::NadMtu, "spec.config.mtu", "z");
        let d = f.into_decision(json_patch::Patch::default());
        assert_eq!(d.denials.len(), 1);
        assert_eq!(d.denials[0].rule, Rule::NadMode);
        assert!(d.warnings.is_empty());
        assert!(!d.allowed());
    }

    #[test]
    fn findings_of_one_rule_are_capped_and_counted() {
        let mut f = Findings::new(RuleSet::default());
        for i in 0..1000 {
            f.deny(Rule::NadExclude, format!("spec.config.ipam.exclude[{i}]"), "x");
            f.warn(Rule::NadCapacityLow, "spec.config.ipam.range", "y");
        }
        f.deny(Rule::NadMode, "spec.config.mode", "z");
        let d = f.into_decision(json_patch::Patch::default());
        assert_eq!(d.denials.len(), MAX_PER_RULE + 2);
        assert_eq!(d.denials[MAX_PER_RULE].rule, Rule::NadMode);
        let last = d.denials.last().unwrap();
        assert_eq!(
            (last.rule, last.message.as_str()),
            (Rule::NadExclude, "984 more problems of this rule not shown")
        );
        assert_eq!(d.warnings.len(), MAX_PER_RULE + 1);
        assert_eq!(d.warnings[MAX_PER_RULE].message, "984 more warnings of this rule not shown");
    }

    #[test]
    fn denial_message_joins_fields() {
        let mut f = Findings::new(RuleSet::default());
        f.deny(Rule::NadMaster, "spec.config.master", msg::required("x"));
        f.deny(Rule::NadMode, "spec.config.mode", msg::unsupported("passthrough", &["bridge", "vepa"]));
        assert_eq!(
            f.into_decision(Default::default()).denial_message(),
            "spec.config.master: Required value: x; spec.config.mode: Unsupported value: \"passthrough\": \
             supported values: \"bridge\", \"vepa\""
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(1000);
        let m = msg::invalid(&long, "too long");
        assert!(m.len() < 100, "{m}");
        assert!(m.contains("…"));
        assert_eq!(
            msg::invalid_json(&serde_json::json!(7), "must be a string"),
            "Invalid value: 7: must be a string"
        );
        assert_eq!(msg::quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn rule_set_iterates_members() {
        let mut s = RuleSet::default();
        s.insert(Rule::HcDefaults);
        s.insert(Rule::NadNamespace);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Rule::NadNamespace, Rule::HcDefaults]);
    }
}

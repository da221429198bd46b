//! Prometheus metrics of `mignet serve`, so operators can alert on denials, latency, failed reloads and an
//! expiring serving certificate without reading logs.
//!
//! Every label value is drawn from a closed set: request data is clamped before it becomes a label, so a
//! hostile client cannot grow the number of series, and no object data (names, namespaces, configs) is ever
//! exported.

use std::{
    fmt::{self, Write as _},
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, text},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

/// Label value every out-of-set input collapses to.
const OTHER: &str = "other";

/// Latency bucket bounds in seconds: judging takes tens of microseconds, and anything close to the
/// apiserver's webhook timeout must still land in a finite bucket.
const DURATION_BUCKETS: [f64; 14] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Distinct `resource` label values kept for staleness before further ones collapse to "other".
const MAX_STALENESS_RESOURCES: usize = 16;

/// Longest accepted `resource` label value (a DNS label).
const MAX_RESOURCE_NAME: usize = 63;

/// Implements `EncodeLabelValue` through the type's `as_str`, so label values are static strings and
/// encoding never allocates.
macro_rules! static_label_value {
    ($($ty:ty),+ $(,)?) => {$(
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    )+};
}

/// Which endpoint answered, so validate and mutate latency and verdicts can be told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Webhook {
    /// `/validate`.
    Validate,
    /// `/mutate`.
    Mutate,
}

impl Webhook {
    /// The label value, fixed so dashboards do not depend on Rust identifiers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Validate => "validate",
            Self::Mutate => "mutate",
        }
    }
}

/// Outcome of one admission, the dimension alerts on denials and errors are written against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Admitted unchanged.
    Allowed,
    /// Refused by a rule.
    Denied,
    /// Admitted with a JSON patch.
    Patched,
    /// The request could not be judged.
    Error,
}

impl Verdict {
    /// The label value, fixed so dashboards do not depend on Rust identifiers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Patched => "patched",
            Self::Error => "error",
        }
    }
}

/// What was reloaded, so a broken certificate rotation and a broken policy edit alert separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reload {
    /// The serving certificate and key.
    Certificate,
    /// The policy file.
    Policy,
}

impl Reload {
    /// The label value, fixed so dashboards do not depend on Rust identifiers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Policy => "policy",
        }
    }
}

/// Whether a reload took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ReloadResult {
    Success,
    Failure,
}

impl ReloadResult {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// Object kind of an admission request, clamped to the kinds the webhook is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AdmissionKind {
    NetworkAttachmentDefinition,
    HyperConverged,
    UserDefinedNetwork,
    ClusterUserDefinedNetwork,
    Other,
}

impl AdmissionKind {
    fn from_request(kind: &str) -> Self {
        match kind {
            "NetworkAttachmentDefinition" => Self::NetworkAttachmentDefinition,
            "HyperConverged" => Self::HyperConverged,
            "UserDefinedNetwork" => Self::UserDefinedNetwork,
            "ClusterUserDefinedNetwork" => Self::ClusterUserDefinedNetwork,
            _ => Self::Other,
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Self::NetworkAttachmentDefinition => "NetworkAttachmentDefinition",
            Self::HyperConverged => "HyperConverged",
            Self::UserDefinedNetwork => "UserDefinedNetwork",
            Self::ClusterUserDefinedNetwork => "ClusterUserDefinedNetwork",
            Self::Other => OTHER,
        }
    }
}

/// Admission operation, clamped to the four the apiserver sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Operation {
    Create,
    Update,
    Delete,
    Connect,
    Other,
}

impl Operation {
    fn from_request(operation: &str) -> Self {
        match operation {
            "CREATE" => Self::Create,
            "UPDATE" => Self::Update,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            _ => Self::Other,
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Other => OTHER,
        }
    }
}

/// Kind of object counted in the view, clamped to the three the rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ViewKind {
    Nad,
    HyperConverged,
    Node,
    KubeVirt,
    MigrationUnfinished,
    Other,
}

impl ViewKind {
    fn from_name(kind: &str) -> Self {
        match kind {
            "nad" => Self::Nad,
            "hyperconverged" => Self::HyperConverged,
            "node" => Self::Node,
            "kubevirt" => Self::KubeVirt,
            "migration-unfinished" => Self::MigrationUnfinished,
            _ => Self::Other,
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Self::Nad => "nad",
            Self::HyperConverged => "hyperconverged",
            Self::Node => "node",
            Self::KubeVirt => "kubevirt",
            Self::MigrationUnfinished => "migration-unfinished",
            Self::Other => OTHER,
        }
    }
}

static_label_value!(Webhook, Verdict, Reload, ReloadResult, AdmissionKind, Operation, ViewKind);

/// HTTP status of a refused request; anything outside the valid 100..=599 range collapses to "other".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum StatusCode {
    Code(u16),
    Other,
}

impl From<u16> for StatusCode {
    fn from(status: u16) -> Self {
        if (100..=599).contains(&status) { Self::Code(status) } else { Self::Other }
    }
}

impl EncodeLabelValue for StatusCode {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        match self {
            Self::Code(code) => write!(encoder, "{code}"),
            Self::Other => encoder.write_str(OTHER),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AdmissionLabels {
    webhook: Webhook,
    kind: AdmissionKind,
    operation: Operation,
    verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    webhook: Webhook,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpErrorLabels {
    code: StatusCode,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReloadLabels {
    what: Reload,
    result: ReloadResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ViewLabels {
    kind: ViewKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

/// Why the exposition could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A metric refused to encode into the text format.
    #[error("cannot encode the metrics exposition: {source}")]
    Encode {
        /// The formatter's error.
        #[source]
        source: fmt::Error,
    },
}

/// Constructor of the latency histograms, a plain function so the family type stays nameable.
type HistogramConstructor = fn() -> Histogram;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric the webhook exports, shared behind an `Arc` by the request handlers and reload tasks.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<AdmissionLabels, Counter>,
    durations: Family<WebhookLabels, Histogram, HistogramConstructor>,
    http_errors: Family<HttpErrorLabels, Counter>,
    certificate_expiry: Gauge,
    reloads: Family<ReloadLabels, Counter>,
    view_objects: Family<ViewLabels, Gauge>,
    staleness: Family<ResourceLabels, Gauge<f64, AtomicU64>>,
    staleness_resources: AtomicUsize,
    ready: Gauge,
}

const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Metrics>();
};

impl Metrics {
    /// Content-Type of [`Metrics::render`]'s output, so scrapers parse it as OpenMetrics.
    pub const CONTENT_TYPE: &'static str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// Registers every metric, with the fixed-cardinality series created up front so dashboards see zeros
    /// instead of gaps before the first event.
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram as HistogramConstructor),
            http_errors: Family::default(),
            certificate_expiry: Gauge::default(),
            reloads: Family::default(),
            view_objects: Family::default(),
            staleness: Family::default(),
            staleness_resources: AtomicUsize::new(0),
            ready: Gauge::default(),
        };
        metrics.precreate_series();
        metrics.register()
    }

    fn precreate_series(&self) {
        for webhook in [Webhook::Validate, Webhook::Mutate] {
            drop(self.durations.get_or_create(&WebhookLabels { webhook }));
        }
        for what in [Reload::Certificate, Reload::Policy] {
            for result in [ReloadResult::Success, ReloadResult::Failure] {
                drop(self.reloads.get_or_create(&ReloadLabels { what, result }));
            }
        }
    }

    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "mignet_admission_requests",
            "Admission requests answered, by webhook, object kind, operation and verdict",
            self.requests.clone(),
        );
        r.register_with_unit(
            "mignet_admission_duration",
            "Time to answer one admission request, by webhook",
            Unit::Seconds,
            self.durations.clone(),
        );
        r.register(
            "mignet_http_errors",
            "Requests refused before being judged, by HTTP status",
            self.http_errors.clone(),
        );
        r.register_with_unit(
            "mignet_certificate_expiry_timestamp",
            "Unix time at which the serving certificate expires",
            Unit::Seconds,
            self.certificate_expiry.clone(),
        );
        r.register("mignet_reloads", "Certificate and policy reloads, by outcome", self.reloads.clone());
        r.register(
            "mignet_view_objects",
            "Objects in the view the rules judge against",
            self.view_objects.clone(),
        );
        r.register_with_unit(
            "mignet_view_staleness",
            "Age of the cluster view, by watched resource",
            Unit::Seconds,
            self.staleness.clone(),
        );
        r.register("mignet_ready", "1 when the webhook is ready to judge requests", self.ready.clone());
        self
    }

    /// Records one answered admission; called on every request, so it allocates nothing once a series
    /// exists. Non-finite or negative durations are recorded as zero so one bad reading cannot poison the sum.
    pub fn observe_admission(
        &self,
        webhook: Webhook,
        kind: &str,
        operation: &str,
        verdict: Verdict,
        seconds: f64,
    ) {
        let labels = AdmissionLabels {
            webhook,
            kind: AdmissionKind::from_request(kind),
            operation: Operation::from_request(operation),
            verdict,
        };
        self.requests.get_or_create(&labels).inc();
        let seconds = if seconds.is_finite() && seconds > 0.0 { seconds } else { 0.0 };
        self.durations.get_or_create(&WebhookLabels { webhook }).observe(seconds);
    }

    /// Counts a request refused before judging (malformed, too large, unknown route, timed out).
    pub fn observe_http_error(&self, status: u16) {
        self.http_errors.get_or_create(&HttpErrorLabels { code: StatusCode::from(status) }).inc();
    }

    /// Publishes the serving certificate's notAfter, so expiry can be alerted on before the apiserver
    /// starts refusing the webhook.
    pub fn set_certificate_expiry(&self, unix_seconds: i64) {
        self.certificate_expiry.set(unix_seconds);
    }

    /// Counts a certificate or policy reload attempt and whether it took effect.
    pub fn observe_reload(&self, what: Reload, ok: bool) {
        let result = if ok { ReloadResult::Success } else { ReloadResult::Failure };
        self.reloads.get_or_create(&ReloadLabels { what, result }).inc();
    }

    /// Publishes how many objects of a kind ("nad", "hyperconverged", "node", "kubevirt", and
    /// "migration-unfinished": the migrations holding the migration network) the rules judge against,
    /// so an empty or shrunken view is visible; other kinds collapse to "other".
    pub fn set_view_objects(&self, kind: &str, count: i64) {
        self.view_objects.get_or_create(&ViewLabels { kind: ViewKind::from_name(kind) }).set(count);
    }

    /// Publishes how old the view of one watched resource is, so a stalled watch is visible. Names that are
    /// not DNS labels, and names beyond the first few distinct ones, collapse to "other".
    pub fn set_staleness(&self, resource: &str, seconds: f64) {
        self.staleness.get_or_create(&self.resource_labels(resource)).set(seconds);
    }

    fn resource_labels(&self, resource: &str) -> ResourceLabels {
        let name = if is_resource_name(resource) { resource } else { OTHER };
        let labels = ResourceLabels { resource: name.to_owned() };
        if name == OTHER || self.staleness.get(&labels).is_some() || self.claim_resource_slot() {
            labels
        } else {
            ResourceLabels { resource: OTHER.to_owned() }
        }
    }

    /// Reserves room for one more distinct `resource`; racing first sightings of one name may each take a
    /// slot, which wastes room but never exceeds the bound.
    fn claim_resource_slot(&self) -> bool {
        self.staleness_resources
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_STALENESS_RESOURCES).then_some(n + 1)
            })
            .is_ok()
    }

    /// Publishes readiness, so a scrape shows whether the webhook would currently judge or refuse.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// The exposition for a scrape handler that wants to answer 500 rather than serve an empty body.
    pub fn try_render(&self) -> Result<String, MetricsError> {
        let mut out = String::new();
        text::encode(&mut out, &self.registry).map_err(|source| MetricsError::Encode { source })?;
        Ok(out)
    }

    /// The exposition served on `/metrics`, ending in `# EOF`; should encoding ever fail, a valid empty
    /// exposition is returned so scrapers see missing series instead of a parse error.
    pub fn render(&self) -> String {
        self.try_render().unwrap_or_else(|_| String::from("# EOF\n"))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a staleness `resource` is a plain lowercase DNS label-like name (letters, digits, '-', '.').
fn is_resource_name(resource: &str) -> bool {
    !resource.is_empty()
        && resource.len() <= MAX_RESOURCE_NAME
        && resource.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// One sample line of the text exposition.
    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: BTreeMap<String, String>,
        value: String,
    }

    fn parse_labels(body: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        let mut chars = body.chars().peekable();
        while chars.peek().is_some() {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "label {key} value not quoted in {body:?}");
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(c) => value.push(c),
                        None => panic!("dangling escape in {body:?}"),
                    },
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => panic!("unterminated label value in {body:?}"),
                }
            }
            assert!(labels.insert(key.clone(), value).is_none(), "duplicate label {key} in {body:?}");
            if chars.peek() == Some(&',') {
                chars.next();
            }
        }
        labels
    }

    fn parse_sample(line: &str) -> Sample {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                (name, parse_labels(body))
            }
            None => (series, BTreeMap::new()),
        };
        Sample { name: name.to_owned(), labels, value: value.to_owned() }
    }

    fn samples(text: &str) -> Vec<Sample> {
        text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).map(parse_sample).collect()
    }

    /// The raw value of the one sample with exactly this name and label set.
    fn raw(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
        let want: BTreeMap<String, String> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let found: Vec<Sample> =
            samples(text).into_iter().filter(|s| s.name == name && s.labels == want).collect();
        assert!(found.len() <= 1, "duplicate series {name}{want:?}");
        found.into_iter().next().map(|s| s.value)
    }

    fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        raw(text, name, labels).map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: bad value {v:?}")))
    }

    fn series_of(text: &str, name: &str) -> Vec<BTreeMap<String, String>> {
        samples(text).into_iter().filter(|s| s.name == name).map(|s| s.labels).collect()
    }

    const REQUESTS: &str = "mignet_admission_requests_total";

    #[test]
    fn admission_counter_carries_all_four_labels() {
        let m = Metrics::new();
        m.observe_admission(
            Webhook::Validate,
            "NetworkAttachmentDefinition",
            "CREATE",
            Verdict::Allowed,
            0.001,
        );
        m.observe_admission(
            Webhook::Validate,
            "NetworkAttachmentDefinition",
            "CREATE",
            Verdict::Allowed,
            0.001,
        );
        m.observe_admission(Webhook::Mutate, "HyperConverged", "UPDATE", Verdict::Patched, 0.001);
        m.observe_admission(Webhook::Validate, "HyperConverged", "DELETE", Verdict::Denied, 0.001);
        m.observe_admission(
            Webhook::Validate,
            "NetworkAttachmentDefinition",
            "CONNECT",
            Verdict::Error,
            0.001,
        );
        let out = m.render();
        let v = |w, k, o, d| {
            value(&out, REQUESTS, &[("webhook", w), ("kind", k), ("operation", o), ("verdict", d)])
        };
        assert_eq!(v("validate", "NetworkAttachmentDefinition", "CREATE", "allowed"), Some(2.0));
        assert_eq!(v("mutate", "HyperConverged", "UPDATE", "patched"), Some(1.0));
        assert_eq!(v("validate", "HyperConverged", "DELETE", "denied"), Some(1.0));
        assert_eq!(v("validate", "NetworkAttachmentDefinition", "CONNECT", "error"), Some(1.0));
        assert_eq!(series_of(&out, REQUESTS).len(), 4);
    }

    #[test]
    fn unknown_kinds_and_operations_are_clamped_to_other() {
        let m = Metrics::new();
        m.observe_admission(Webhook::Validate, "Pod", "PATCH", Verdict::Denied, 0.0);
        m.observe_admission(Webhook::Validate, "x\"} evil{\n", "", Verdict::Denied, 0.0);
        m.observe_admission(Webhook::Validate, "networkattachmentdefinition", "create", Verdict::Denied, 0.0);
        let out = m.render();
        let labels =
            [("webhook", "validate"), ("kind", "other"), ("operation", "other"), ("verdict", "denied")];
        assert_eq!(value(&out, REQUESTS, &labels), Some(3.0));
        assert_eq!(series_of(&out, REQUESTS).len(), 1);
        for leaked in ["Pod", "PATCH", "evil", "create", "networkattachmentdefinition"] {
            assert!(!out.contains(leaked), "{leaked:?} leaked into {out}");
        }
    }

    #[test]
    fn histogram_count_sum_and_buckets_move() {
        let m = Metrics::new();
        let h = "mignet_admission_duration_seconds";
        let before = m.render();
        assert_eq!(value(&before, &format!("{h}_count"), &[("webhook", "validate")]), Some(0.0));
        assert_eq!(value(&before, &format!("{h}_count"), &[("webhook", "mutate")]), Some(0.0));

        m.observe_admission(Webhook::Validate, "HyperConverged", "UPDATE", Verdict::Allowed, 0.0003);
        m.observe_admission(Webhook::Validate, "HyperConverged", "UPDATE", Verdict::Allowed, 0.002);
        let out = m.render();
        let w = ("webhook", "validate");
        assert_eq!(value(&out, &format!("{h}_count"), &[w]), Some(2.0));
        let sum = value(&out, &format!("{h}_sum"), &[w]).unwrap_or(f64::NAN);
        assert!((sum - 0.0023).abs() < 1e-12, "sum {sum}");
        let bucket = |le| value(&out, &format!("{h}_bucket"), &[w, ("le", le)]);
        assert_eq!(bucket("0.0001"), Some(0.0));
        assert_eq!(bucket("0.0005"), Some(1.0));
        assert_eq!(bucket("0.001"), Some(1.0));
        assert_eq!(bucket("0.0025"), Some(2.0));
        assert_eq!(bucket("1.0"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(2.0));
        assert_eq!(value(&out, &format!("{h}_count"), &[("webhook", "mutate")]), Some(0.0));
    }

    #[test]
    fn bad_durations_count_without_poisoning_the_sum() {
        let m = Metrics::new();
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            m.observe_admission(Webhook::Mutate, "HyperConverged", "CREATE", Verdict::Allowed, bad);
        }
        let out = m.render();
        let h = "mignet_admission_duration_seconds";
        assert_eq!(value(&out, &format!("{h}_count"), &[("webhook", "mutate")]), Some(3.0));
        assert_eq!(value(&out, &format!("{h}_sum"), &[("webhook", "mutate")]), Some(0.0));
    }

    #[test]
    fn certificate_expiry_is_exact() {
        let m = Metrics::new();
        m.set_certificate_expiry(1_893_456_000);
        let out = m.render();
        assert_eq!(
            raw(&out, "mignet_certificate_expiry_timestamp_seconds", &[]).as_deref(),
            Some("1893456000")
        );
        assert!(out.contains("# UNIT mignet_certificate_expiry_timestamp_seconds seconds\n"));
    }

    #[test]
    fn http_errors_are_counted_per_valid_status() {
        let m = Metrics::new();
        m.observe_http_error(413);
        m.observe_http_error(413);
        m.observe_http_error(504);
        m.observe_http_error(0);
        m.observe_http_error(600);
        let out = m.render();
        let name = "mignet_http_errors_total";
        assert_eq!(value(&out, name, &[("code", "413")]), Some(2.0));
        assert_eq!(value(&out, name, &[("code", "504")]), Some(1.0));
        assert_eq!(value(&out, name, &[("code", "other")]), Some(2.0));
        assert_eq!(series_of(&out, name).len(), 3);
    }

    #[test]
    fn reloads_start_at_zero_and_count_by_outcome() {
        let m = Metrics::new();
        let name = "mignet_reloads_total";
        let before = m.render();
        assert_eq!(series_of(&before, name).len(), 4);
        for what in ["certificate", "policy"] {
            for result in ["success", "failure"] {
                assert_eq!(value(&before, name, &[("what", what), ("result", result)]), Some(0.0));
            }
        }
        m.observe_reload(Reload::Certificate, true);
        m.observe_reload(Reload::Policy, false);
        m.observe_reload(Reload::Policy, false);
        let out = m.render();
        assert_eq!(value(&out, name, &[("what", "certificate"), ("result", "success")]), Some(1.0));
        assert_eq!(value(&out, name, &[("what", "certificate"), ("result", "failure")]), Some(0.0));
        assert_eq!(value(&out, name, &[("what", "policy"), ("result", "failure")]), Some(2.0));
        assert_eq!(value(&out, name, &[("what", "policy"), ("result", "success")]), Some(0.0));
    }

    #[test]
    fn view_objects_are_set_per_known_kind() {
        let m = Metrics::new();
        m.set_view_objects("nad", 3);
        m.set_view_objects("node", 5);
        m.set_view_objects("node", 4);
        m.set_view_objects("hyperconverged", 1);
        m.set_view_objects("pods", 9);
        m.set_view_objects("migration-unfinished", 2);
        let out = m.render();
        let name = "mignet_view_objects";
        assert_eq!(value(&out, name, &[("kind", "nad")]), Some(3.0));
        assert_eq!(value(&out, name, &[("kind", "node")]), Some(4.0));
        assert_eq!(value(&out, name, &[("kind", "hyperconverged")]), Some(1.0));
        assert_eq!(value(&out, name, &[("kind", "other")]), Some(9.0));
        assert!(!out.contains("pods"));
    }

    #[test]
    fn staleness_is_set_per_resource_and_bounded() {
        let m = Metrics::new();
        let name = "mignet_view_staleness_seconds";
        m.set_staleness("networkattachmentdefinitions", 1.5);
        m.set_staleness("Bad Name!", 7.0);
        let out = m.render();
        assert_eq!(value(&out, name, &[("resource", "networkattachmentdefinitions")]), Some(1.5));
        assert_eq!(value(&out, name, &[("resource", "other")]), Some(7.0));
        assert!(!out.contains("Bad Name"));

        for i in 0..40 {
            m.set_staleness(&format!("r{i}"), f64::from(i));
        }
        m.set_staleness("networkattachmentdefinitions", 2.5);
        let out = m.render();
        assert!(series_of(&out, name).len() <= MAX_STALENESS_RESOURCES + 1);
        assert_eq!(value(&out, name, &[("resource", "networkattachmentdefinitions")]), Some(2.5));
        assert_eq!(value(&out, name, &[("resource", "r39")]), None);
        assert_eq!(value(&out, name, &[("resource", "other")]), Some(39.0));
    }

    #[test]
    fn ready_follows_the_last_setting() {
        let m = Metrics::new();
        assert_eq!(raw(&m.render(), "mignet_ready", &[]).as_deref(), Some("0"));
        m.set_ready(true);
        assert_eq!(raw(&m.render(), "mignet_ready", &[]).as_deref(), Some("1"));
        m.set_ready(false);
        assert_eq!(raw(&m.render(), "mignet_ready", &[]).as_deref(), Some("0"));
    }

    #[test]
    fn exposition_declares_every_metric_and_ends_in_eof() {
        let m = Metrics::default();
        m.observe_admission(Webhook::Validate, "HyperConverged", "CREATE", Verdict::Allowed, 0.0);
        m.observe_http_error(400);
        m.set_view_objects("nad", 0);
        m.set_staleness("nodes", 0.0);
        let out = m.render();
        assert!(out.ends_with("# EOF\n"), "{out}");
        assert_eq!(out.matches("# EOF").count(), 1);
        for (name, kind) in [
            ("mignet_admission_requests", "counter"),
            ("mignet_admission_duration_seconds", "histogram"),
            ("mignet_http_errors", "counter"),
            ("mignet_certificate_expiry_timestamp_seconds", "gauge"),
            ("mignet_reloads", "counter"),
            ("mignet_view_objects", "gauge"),
            ("mignet_view_staleness_seconds", "gauge"),
            ("mignet_ready", "gauge"),
        ] {
            let line = format!("# TYPE {name} {kind}\n");
            assert!(out.contains(&line), "missing {line:?} in {out}");
        }
    }

    #[test]
    fn try_render_matches_render() {
        let m = Metrics::new();
        m.observe_http_error(400);
        assert_eq!(m.try_render().ok().as_deref(), Some(m.render().as_str()));
    }

    #[test]
    fn content_type_is_openmetrics() {
        assert!(Metrics::CONTENT_TYPE.starts_with("application/openmetrics-text; version=1.0.0"));
    }
}

//! `mignet serve`: the HTTPS admission webhook, a thin adapter between the API server and the
//! policy core. Every request is answered from memory: parse, judge, encode.

pub mod admission;
pub mod http;
pub mod metrics;
pub mod reload;
pub mod timeout;
pub mod tls;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use self::{
    admission::{ReviewError, Reviewed},
    metrics::{Metrics, Verdict, Webhook},
    reload::Judge,
};
use crate::text::Printable;

/// Largest request body accepted: an UPDATE review carries object and oldObject, each up to the API
/// server's 3 MiB, so 6 MiB reviews must pass.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Shared state of the handlers.
pub struct AppState {
    pub judge: Arc<Judge>,
    pub metrics: Arc<Metrics>,
    /// Whether the view is complete enough to judge (a fixed view always is).
    pub ready: AtomicBool,
    /// The serving certificate's notAfter, kept current by the TLS reloader.
    pub cert_expiry: Arc<AtomicI64>,
    /// The live view's per-resource state (`--cluster auto`); it decides readiness when present.
    pub cluster: Option<Arc<crate::cluster::status::Status>>,
}

/// Every route of the TLS port: the two webhooks plus probes and metrics.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .merge(probes(state.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(timeout::honour_timeout_query))
        .fallback(not_found)
        .with_state(state)
}

/// Probes and metrics only: what the plain-HTTP port serves (it never carries admission data).
pub fn probes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The plain-HTTP router for `--metrics-addr`.
pub fn probes_router(state: Arc<AppState>) -> Router {
    probes(state.clone()).fallback(not_found).with_state(state)
}

async fn validate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    answer(&state, Webhook::Validate, &body)
}

async fn mutate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    answer(&state, Webhook::Mutate, &body)
}

fn answer(state: &AppState, webhook: Webhook, body: &[u8]) -> Response {
    let started = Instant::now();
    let judged = {
        let policy = state.judge.policy.load();
        let view = state.judge.view.read().unwrap_or_else(|p| p.into_inner());
        admission::review(body, webhook, &policy, &view, admission::unix_now())
    };
    let elapsed = started.elapsed();
    match judged {
        Ok(reviewed) => {
            log(webhook, &reviewed, elapsed);
            state.metrics.observe_admission(
                webhook,
                &reviewed.kind,
                reviewed.operation,
                reviewed.verdict,
                elapsed.as_secs_f64(),
            );
            // most answers fit, so encoding does not grow the buffer step by step
            let mut bytes = Vec::with_capacity(1024);
            match serde_json::to_writer(&mut bytes, &reviewed.response) {
                Ok(()) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
                Err(e) => bad_request(state, &format!("cannot encode the response: {e}")),
            }
        }
        Err(err) => {
            tracing::warn!(webhook = webhook_name(webhook), error = %err, "refused a request body");
            refuse(state, &err)
        }
    }
}

fn refuse(state: &AppState, err: &ReviewError) -> Response {
    bad_request(state, &err.to_string())
}

fn bad_request(state: &AppState, message: &str) -> Response {
    state.metrics.observe_http_error(400);
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

fn webhook_name(webhook: Webhook) -> &'static str {
    match webhook {
        Webhook::Validate => "validate",
        Webhook::Mutate => "mutate",
    }
}

/// One structured line per admission; never the object itself.
fn log(webhook: Webhook, r: &Reviewed, elapsed: Duration) {
    let verdict = match r.verdict {
        Verdict::Allowed => "allowed",
        Verdict::Denied => "denied",
        Verdict::Patched => "patched",
        Verdict::Error => "error",
    };
    /// A comma-separated list written straight into the log line, without building a string first.
    struct Listed<'a>(&'a [crate::policy::Finding], fn(&crate::policy::Finding) -> &str);
    impl std::fmt::Display for Listed<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for (i, finding) in self.0.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{}", Printable((self.1)(finding)))?;
            }
            Ok(())
        }
    }
    let denials = &r.decision.denials;
    tracing::info!(
        webhook = webhook_name(webhook),
        uid = %Printable(&r.uid),
        kind = %Printable(&r.kind),
        namespace = %Printable(&r.namespace),
        name = %Printable(&r.name),
        operation = r.operation,
        dry_run = r.dry_run,
        verdict,
        denied_fields = %Listed(denials, |d| d.field.as_str()),
        rules = %Listed(denials, |d| d.rule.id()),
        warnings = r.decision.warnings.len(),
        latency_us = elapsed.as_micros() as u64,
        "admission"
    );
}

/// Ready when the view can be judged against. `?verbose` lists every watched resource: whether the
/// cluster serves it, whether its initial list completed, its staleness and object count.
async fn readyz(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let ready = match &state.cluster {
        Some(cluster) => cluster.ready(),
        None => state.ready.load(Ordering::Relaxed),
    };
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let verbose =
        query.as_deref().unwrap_or_default().split('&').any(|p| p == "verbose" || p.starts_with("verbose="));
    match (&state.cluster, verbose) {
        (Some(cluster), true) => (code, cluster.render_verbose(Instant::now())).into_response(),
        (None, true) if ready => {
            (code, "[+]view fixed (--cluster off)\nreadyz check passed\n").into_response()
        }
        _ if ready => "ready\n".into_response(),
        _ => (code, "not ready: the cluster view is still loading\n").into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.set_certificate_expiry(state.cert_expiry.load(Ordering::Relaxed));
    state.metrics.set_ready(state.ready.load(Ordering::Relaxed));
    ([(header::CONTENT_TYPE, Metrics::CONTENT_TYPE)], state.metrics.render()).into_response()
}

async fn not_found(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.observe_http_error(404);
    (StatusCode::NOT_FOUND, "not found: the webhooks are POST /validate and POST /mutate\n").into_response()
}

/// The address a listener actually bound (port 0 picks a free one).
pub type Bound = SocketAddr;

//! `mignet serve`: the HTTPS admission webhook, a thin adapter between the API server and the
//! policy core. Every request is answered from memory: parse, judge, encode.

pub mod admission;
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
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use self::{
    admission::{ReviewError, Reviewed},
    metrics::{Metrics, Verdict, Webhook},
    reload::Judge,
};

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
        admission::review(body, webhook, &policy, &view)
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
            match serde_json::to_vec(&reviewed.response) {
                Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
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
    let denials: Vec<&str> = r.decision.denials.iter().map(|d| d.field.as_str()).collect();
    let rules: Vec<&str> = r.decision.denials.iter().map(|d| d.rule.id()).collect();
    tracing::info!(
        webhook = webhook_name(webhook),
        uid = %r.uid,
        kind = %r.kind,
        namespace = %r.namespace,
        name = %r.name,
        operation = r.operation,
        dry_run = r.dry_run,
        verdict,
        denied_fields = %denials.join(","),
        rules = %rules.join(","),
        warnings = r.decision.warnings.len(),
        latency_us = elapsed.as_micros() as u64,
        "admission"
    );
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: the cluster view is still loading\n").into_response()
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

//! The load generator against a real TLS webhook in-process: mignet's own AdmissionReview handling
//! behind axum-server, over HTTP/1.1 and HTTP/2, closed and open loop, and the binary end to end.
//! Runs are short and bounded; nothing here asserts a timing.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use axum_server::{Handle, tls_rustls::RustlsConfig};
use mignet::{
    policy::Policy,
    policy::view::View,
    server::{admission, metrics::Webhook},
};
use mignet_loadgen::{
    client::{HttpVersion, Tls},
    mix::{Mix, RequestSpec},
    ready,
    run::{self, RunConfig, RunError},
    target::Target,
};

struct Judge {
    policy: Policy,
    view: View,
}

async fn validate(State(judge): State<Arc<Judge>>, body: Bytes) -> Response {
    match admission::review(&body, Webhook::Validate, &judge.policy, &judge.view, None) {
        Ok(reviewed) => match serde_json::to_vec(&reviewed.response) {
            Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// A TLS webhook on 127.0.0.1 with a random port, and the directory holding its CA.
struct TestServer {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    handle: Handle<SocketAddr>,
}

impl TestServer {
    async fn start() -> TestServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = mignet::certs::generate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), &certs.ca_cert_pem).unwrap();
        let tls =
            RustlsConfig::from_pem(certs.cert_pem.into_bytes(), certs.key_pem.into_bytes()).await.unwrap();
        let judge = Arc::new(Judge { policy: Policy::default(), view: View::new() });
        let app = Router::new()
            .route("/validate", post(validate))
            .route("/fail", post(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route("/readyz", get(|| async { "ready\n" }))
            .with_state(judge);
        let handle = Handle::new();
        let server = axum_server::bind_rustls("127.0.0.1:0".parse().unwrap(), tls).handle(handle.clone());
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        let addr = handle.listening().await.unwrap();
        TestServer { addr, dir, handle }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn config(&self, path: &str, http: HttpVersion) -> RunConfig {
        RunConfig {
            target: Target::parse(&self.url(path)).unwrap(),
            ca: self.ca(),
            http,
            connections: 4,
            streams: 1,
            duration: Duration::from_millis(300),
            warmup: Duration::ZERO,
            rate: None,
            new_connection: false,
            timeout: Duration::from_secs(5),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/reviews").join(name)
}

/// The reference NAD (allowed) once for every two NADs overlapping the pod network (denied).
fn allow_deny_mix() -> Mix {
    Mix::load(&[
        RequestSpec { path: example("nad-create.json"), weight: 1 },
        RequestSpec { path: example("nad-create-overlaps-pod-network.json"), weight: 2 },
    ])
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_over_both_http_versions_sends_the_mix() {
    let server = TestServer::start().await;
    for http in [HttpVersion::Http1, HttpVersion::Http2] {
        let mut config = server.config("/validate?timeout=10s", http);
        if http == HttpVersion::Http2 {
            config.connections = 2;
            config.streams = 3;
        }
        let out = run::run(&config, allow_deny_mix()).await.unwrap();
        let s = &out.stats;
        assert!(s.errors.is_empty(), "{http:?}: {:?}", s.errors);
        assert!(s.ok >= 2, "{http:?}: {}", s.ok);
        assert_eq!(s.verdicts.allowed + s.verdicts.denied, s.ok, "{:?}", s.verdicts);
        assert!(s.verdicts.allowed > 0 && s.verdicts.denied >= s.verdicts.allowed, "{:?}", s.verdicts);
        assert_eq!(s.latency.len(), s.ok);
        assert_eq!(out.released, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_accounts_for_every_released_request() {
    let server = TestServer::start().await;
    let mut config = server.config("/validate", HttpVersion::Http2);
    config.rate = Some(200);
    config.connections = 2;
    config.streams = 2;
    let out = run::run(&config, allow_deny_mix()).await.unwrap();
    let s = &out.stats;
    assert_eq!(out.released, Some(60));
    assert_eq!(s.ok + s.error_count() + s.unsent, 60, "{:?} unsent {}", s.errors, s.unsent);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.verdicts.allowed, 20);
    assert_eq!(s.verdicts.denied, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connection_mode_and_errors_by_kind() {
    let server = TestServer::start().await;
    let mut config = server.config("/validate", HttpVersion::Http1);
    config.new_connection = true;
    config.connections = 2;
    config.duration = Duration::from_millis(200);
    let out = run::run(&config, allow_deny_mix()).await.unwrap();
    assert!(out.stats.ok > 0 && out.stats.errors.is_empty(), "{:?}", out.stats.errors);

    let out = run::run(&server.config("/fail", HttpVersion::Http1), allow_deny_mix()).await.unwrap();
    assert_eq!(out.stats.ok, 0);
    assert!(out.stats.errors["status 503"] > 0, "{:?}", out.stats.errors);
    assert_eq!(out.stats.errors.len(), 1, "{:?}", out.stats.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_servers_fail_fast_and_readiness_is_polled() {
    let server = TestServer::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = server.config("/validate", HttpVersion::Http1);
    config.target = Target::parse(&format!("https://127.0.0.1:{closed}/validate")).unwrap();
    let err = run::run(&config, allow_deny_mix()).await.unwrap_err();
    assert!(matches!(err, RunError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("connect"), "{err}");

    let tls = Tls::new(&server.ca(), HttpVersion::Http1, false).unwrap();
    let readyz = Target::parse(&server.url("/readyz")).unwrap();
    assert!(ready::wait_ready(&readyz, &tls, Duration::from_secs(10)).await.unwrap() >= 1);
    let err = ready::wait_ready(&config.target, &tls, Duration::from_millis(20)).await.unwrap_err();
    assert!(err.to_string().contains("not ready within"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_json_and_refuses_remote_hosts() {
    let server = TestServer::start().await;
    let bin = env!("CARGO_BIN_EXE_mignet-loadgen");
    let out = tokio::process::Command::new(bin)
        .args(["run", "--url", &server.url("/validate"), "--ca"])
        .arg(server.ca())
        .arg("--request")
        .arg(example("nad-create.json"))
        .arg("--request")
        .arg(format!("{}:2", example("nad-create-overlaps-pod-network.json").display()))
        .args(["-c", "2", "-d", "200ms", "--warmup", "0s", "--threads", "1", "--json"])
        .arg("--server-pid")
        .arg(std::process::id().to_string())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mode"], "closed loop");
    assert_eq!(report["http"], "HTTP/1.1");
    assert_eq!(report["errors"], 0);
    assert!(report["ok"].as_u64().unwrap() > 0);
    assert!(report["latency"]["p99_us"].as_u64().unwrap() >= report["latency"]["p50_us"].as_u64().unwrap());
    assert!(report["server"]["after"]["hwm_kib"].as_u64().unwrap() > 0);
    assert_eq!(report["requests"][1], serde_json::json!(["nad-create-overlaps-pod-network.json", 2]));

    for url in ["https://10.0.0.1:8443/validate", "https://example.com/validate"] {
        let out = tokio::process::Command::new(bin)
            .args(["run", "--url", url, "--ca", "ca.crt", "--request", "x.json"])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("only loopback hosts are allowed"), "{stderr}");
    }

    let out =
        tokio::process::Command::new(bin).args(["gen-state", "--nads", "5", "--nodes", "2"]).output().await;
    let out = out.unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 7);
}

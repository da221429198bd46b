//! `mignet serve` end to end: the real binary over HTTPS, HTTP/1.1 and HTTP/2.

mod common;

use std::{path::Path, time::Duration};

use common::{
    mignet, repo, run,
    server::{Server, certs, client, example_state, post, review},
};
use serde_json::{Value, json};

fn nad(name: &str, ns: &str, config: Value) -> Value {
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": ns}, "spec": {"config": config.to_string()}})
}

fn reference_nad() -> Value {
    nad(
        "migration-bridge",
        "openshift-cnv",
        json!({"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge",
               "ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}),
    )
}

fn overlapping_nad() -> Value {
    nad(
        "migration-pod-overlap",
        "openshift-cnv",
        json!({"cniVersion":"0.3.1","type":"macvlan","master":"bond2","ipam":{"type":"whereabouts","range":"10.129.64.0/24"}}),
    )
}

fn response(body: &Value) -> &Value {
    &body["response"]
}

#[tokio::test]
async fn allows_and_denies_over_http1_and_http2() {
    let server = Server::start(&example_state());
    for (http1, want) in [(true, reqwest::Version::HTTP_11), (false, reqwest::Version::HTTP_2)] {
        let c = client(&server.ca(), http1);
        let (status, body, version) = post(
            &c,
            &server.url("/validate?timeout=10s"),
            &review("uid-allow", "CREATE", &reference_nad(), &Value::Null, false),
        )
        .await;
        assert_eq!((status, version), (200, want));
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(body["kind"], "AdmissionReview");
        assert_eq!(response(&body)["uid"], "uid-allow");
        assert_eq!(response(&body)["allowed"], true);
        assert!(response(&body).get("patch").is_none());

        let (status, body, _) = post(
            &c,
            &server.url("/validate"),
            &review("uid-deny", "CREATE", &overlapping_nad(), &Value::Null, false),
        )
        .await;
        assert_eq!(status, 200);
        let r = response(&body);
        assert_eq!(r["uid"], "uid-deny");
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"]["code"], 403);
        assert_eq!(
            r["status"]["message"],
            "spec.config.ipam.range: Invalid value: \"10.129.64.0/24\": overlaps the pod network 10.128.0.0/14 \
             (from Network cluster status.clusterNetwork); free ranges of this size: 10.132.0.0/24, 10.132.1.0/24"
        );
        assert_eq!(r["auditAnnotations"]["denied-rules"], "nad-overlap-reserved");
    }
}

#[tokio::test]
async fn warnings_reach_the_client_short() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), false);
    let config = json!({"cniVersion":"0.3.1","type":"macvlan","master":"bond2","mode":"passthru",
        "ipam":{"type":"whereabouts","range":"192.168.98.0/24","gateway":"192.168.98.1"}});
    let body = review("uid-w", "CREATE", &nad("migration-two", "openshift-cnv", config), &Value::Null, false);
    let (_, out, _) = post(&c, &server.url("/validate"), &body).await;
    assert_eq!(response(&out)["allowed"], true);
    let warnings: Vec<&str> =
        response(&out)["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.starts_with("spec.config.mode: passthru")));
    assert!(warnings.iter().any(|w| w.starts_with("spec.config.ipam.gateway: 192.168.98.1 is not excluded")));
    assert!(warnings.iter().all(|w| w.chars().count() <= 120));
}

#[tokio::test]
async fn mutate_returns_a_patch_that_only_adds() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), false);
    let hc = json!({"apiVersion":"hco.kubevirt.io/v1beta1","kind":"HyperConverged",
        "metadata":{"name":"kubevirt-hyperconverged","namespace":"openshift-cnv"},
        "spec":{"liveMigrationConfig":{"network":"migration-bridge","completionTimeoutPerGiB":800}}});
    let (_, out, _) = post(&c, &server.url("/mutate"), &review("uid-m", "UPDATE", &hc, &hc, false)).await;
    let r = response(&out);
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    let bytes: Vec<u8> = serde_json::from_value(r["patch"].clone()).unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    assert!(patch.0.iter().all(|op| matches!(op, json_patch::PatchOperation::Add(_))));
    let mut patched = hc.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    let lm = &patched["spec"]["liveMigrationConfig"];
    assert_eq!(lm["completionTimeoutPerGiB"], 800, "a present field is never changed");
    assert_eq!(lm["network"], "migration-bridge");
    assert_eq!(lm["progressTimeout"], 150);
    assert_eq!(lm["parallelMigrationsPerCluster"], 5);
    assert_eq!(lm["parallelOutboundMigrationsPerNode"], 1);
    // the patched object needs nothing more, and validation never patches
    let (_, again, _) =
        post(&c, &server.url("/mutate"), &review("uid-m2", "UPDATE", &patched, &hc, false)).await;
    assert!(response(&again).get("patch").is_none() && response(&again).get("patchType").is_none());
    let (_, validated, _) =
        post(&c, &server.url("/validate"), &review("uid-v", "UPDATE", &hc, &hc, false)).await;
    assert!(response(&validated).get("patch").is_none());
    assert_eq!(response(&validated)["allowed"], true);
}

#[tokio::test]
async fn dry_run_is_judged_like_a_real_request() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), false);
    for object in [reference_nad(), overlapping_nad()] {
        let (_, real, _) =
            post(&c, &server.url("/validate"), &review("u", "CREATE", &object, &Value::Null, false)).await;
        let (_, dry, _) =
            post(&c, &server.url("/validate"), &review("u", "CREATE", &object, &Value::Null, true)).await;
        assert_eq!(real, dry);
    }
}

#[tokio::test]
async fn deleting_the_nad_in_use_is_denied() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), false);
    let (_, out, _) =
        post(&c, &server.url("/validate"), &review("u-del", "DELETE", &Value::Null, &reference_nad(), false))
            .await;
    assert_eq!(response(&out)["allowed"], false);
    assert_eq!(response(&out)["auditAnnotations"]["denied-rules"], "nad-in-use");
}

#[tokio::test]
async fn bad_requests_get_clear_4xx_answers() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), true);
    let send = |path: &str, body: Vec<u8>| {
        c.post(server.url(path)).header("content-type", "application/json").body(body).send()
    };
    let r = send("/validate", b"{not json".to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().starts_with("request body is not JSON"));
    let r = send("/validate", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), "the AdmissionReview has no request\n");
    let r = send(
        "/mutate",
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("missing field `uid`"));

    // an UPDATE review carrying two 3 MiB objects must pass; 9 MiB is refused
    let mut big = reference_nad();
    big["metadata"]["annotations"] = json!({"padding": "x".repeat(3 * 1024 * 1024)});
    let body = serde_json::to_vec(&review("u-big", "UPDATE", &big, &big, false)).unwrap();
    assert!(body.len() > 6 * 1024 * 1024);
    let r = send("/validate", body).await.unwrap();
    assert_eq!(r.status(), 200);
    // over HTTP/2 the early 413 arrives intact even though the client is still sending
    let h2 = client(&server.ca(), false);
    let r = h2.post(server.url("/validate")).body(vec![b' '; 9 * 1024 * 1024]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);

    let r = c.get(server.url("/validate")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c.post(server.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // the server is still fine after all that
    let (status, out, _) =
        post(&c, &server.url("/validate"), &review("u", "CREATE", &reference_nad(), &Value::Null, false))
            .await;
    assert_eq!((status, &response(&out)["allowed"]), (200, &json!(true)));
}

#[tokio::test]
async fn probes_and_metrics_on_both_ports() {
    let mut args = example_state();
    args.extend(["--metrics-addr".into(), "127.0.0.1:0".into()]);
    let server = Server::start(&args);
    let c = client(&server.ca(), false);
    post(&c, &server.url("/validate"), &review("u", "CREATE", &overlapping_nad(), &Value::Null, false)).await;
    assert_eq!(c.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(server.url("/readyz")).send().await.unwrap().status(), 200);
    let plain = reqwest::Client::new();
    let base = format!("http://{}", server.metrics_addr.expect("metrics port"));
    assert_eq!(plain.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(plain.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    // no admission endpoint on the plaintext port
    assert_eq!(plain.post(format!("{base}/validate")).body("{}").send().await.unwrap().status(), 404);
    let metrics = plain.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("mignet_admission_requests_total{") && l.contains("verdict=\"denied\""))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        line.contains("webhook=\"validate\"") && line.contains("kind=\"NetworkAttachmentDefinition\""),
        "{line}"
    );
    assert!(line.ends_with(" 1"), "{line}");
    let expiry =
        metrics.lines().find(|l| l.starts_with("mignet_certificate_expiry_timestamp_seconds ")).unwrap();
    let expiry: i64 = expiry.rsplit(' ').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(expiry > now + 300 * 86400, "dev certs live about a year: {expiry}");
    assert!(!metrics.contains("migration-pod-overlap"), "metrics carry no object data");
}

/// A client certificate signed by a fresh CA; returns (CA PEM, identity PEM = cert + key).
fn client_identity() -> (String, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["kube-apiserver".to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), format!("{}{}", cert.pem(), key.serialize_pem()).into_bytes())
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_ca() {
    let (client_ca, identity) = client_identity();
    let (_, other_identity) = client_identity();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("clients.crt");
    std::fs::write(&ca_file, client_ca).unwrap();
    let mut args = example_state();
    args.extend(["--client-ca".into(), ca_file.to_string_lossy().into_owned()]);
    let server = Server::start(&args);
    let body = review("u-mtls", "CREATE", &reference_nad(), &Value::Null, false);
    let with = |identity: Option<&[u8]>| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(server.ca()).unwrap()).unwrap();
        let mut b = reqwest::Client::builder()
            .tls_certs_only([ca])
            .resolve("localhost", "127.0.0.1:0".parse().unwrap());
        if let Some(id) = identity {
            b = b.identity(reqwest::Identity::from_pem(id).unwrap());
        }
        b.build().unwrap()
    };
    let ok = with(Some(&identity)).post(server.url("/validate")).json(&body).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        with(None).post(server.url("/validate")).json(&body).send().await.is_err(),
        "no client certificate"
    );
    assert!(
        with(Some(&other_identity)).post(server.url("/validate")).json(&body).send().await.is_err(),
        "a certificate from another CA"
    );
}

/// Lays out `dir` like a mounted Secret: `..data -> ..<gen>`, `tls.crt -> ..data/tls.crt`.
fn secret_volume(dir: &Path, generation: &str, from: &Path) {
    let data = dir.join(format!("..{generation}"));
    std::fs::create_dir_all(&data).unwrap();
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        std::fs::copy(from.join(f), data.join(f)).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{generation}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        let link = dir.join(f);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{f}"), &link).unwrap();
        }
    }
}

#[tokio::test]
async fn certificate_rotation_is_picked_up_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second, volume) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("secret"));
    certs(&first);
    certs(&second);
    secret_volume(&volume, "2026_11_26_a", &first);
    let mut args = example_state();
    args.extend(["--reload-interval-ms".into(), "100".into()]);
    let server = Server::start_with(
        tempfile::tempdir().unwrap(),
        &volume.join("tls.crt"),
        &volume.join("tls.key"),
        &args,
    );
    let body = review("u", "CREATE", &reference_nad(), &Value::Null, false);
    let old_client = client(&first.join("ca.crt"), true);
    let new_client = client(&second.join("ca.crt"), true);
    assert!(old_client.post(server.url("/validate")).json(&body).send().await.is_ok());
    secret_volume(&volume, "2026_11_26_b", &second);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while new_client.post(server.url("/validate")).json(&body).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "new certificate not served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // a fresh connection trusting only the old CA now fails
    assert!(
        client(&first.join("ca.crt"), true).post(server.url("/validate")).json(&body).send().await.is_err()
    );
    // a half-written certificate is refused and the current pair kept
    std::fs::write(volume.join("..2026_11_26_b/tls.crt"), "-----BEGIN CERTIFICATE-----\nMIIB").unwrap();
    server.wait_log("TLS certificate reload failed", Duration::from_secs(20));
    assert!(
        client(&second.join("ca.crt"), true).post(server.url("/validate")).json(&body).send().await.is_ok()
    );
}

#[tokio::test]
async fn policy_file_reloads_and_a_broken_one_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "disabledRules: []\n").unwrap();
    let mut args = example_state();
    args.extend([
        "--policy".into(),
        policy.to_string_lossy().into_owned(),
        "--reload-interval-ms".into(),
        "100".into(),
    ]);
    let server = Server::start(&args);
    let c = client(&server.ca(), false);
    let body = review("u", "CREATE", &overlapping_nad(), &Value::Null, false);
    assert_eq!(response(&post(&c, &server.url("/validate"), &body).await.1)["allowed"], false);
    std::fs::write(&policy, "disabledRules: [nad-overlap-reserved]\n").unwrap();
    server.wait_log("reloaded policy", Duration::from_secs(20));
    assert_eq!(response(&post(&c, &server.url("/validate"), &body).await.1)["allowed"], true);
    std::fs::write(&policy, "disabledRules: [no-such-rule]\n").unwrap();
    let warning = server.wait_log("keeping the policy in force", Duration::from_secs(20));
    assert!(warning["reason"].as_str().unwrap().contains("no-such-rule"), "{warning}");
    assert_eq!(response(&post(&c, &server.url("/validate"), &body).await.1)["allowed"], true);
}

#[tokio::test]
async fn a_policy_reload_reads_the_cluster_state_files_again() {
    let dir = tempfile::tempdir().unwrap();
    // ten schedulable nodes, two of them in a "migration" pool
    let nodes: String = (0..10)
        .map(|i| {
            let pool = if i < 2 { ", pool: migration" } else { "" };
            format!(
                "---\napiVersion: v1\nkind: Node\nmetadata: {{name: w{i}, labels: {{kubevirt.io/schedulable: \"true\"{pool}}}}}\n"
            )
        })
        .collect();
    let state = dir.path().join("nodes.yaml");
    std::fs::write(&state, nodes).unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "disabledRules: []\n").unwrap();
    let args: Vec<String> =
        ["--cluster-state", &state.to_string_lossy(), "--policy", &policy.to_string_lossy()]
            .iter()
            .map(|s| s.to_string())
            .chain(["--reload-interval-ms".into(), "100".into()])
            .collect();
    let server = Server::start(&args);
    let c = client(&server.ca(), false);
    // a /29 has 6 usable addresses: too few for ten virt-handler nodes
    let small = nad(
        "migration-bridge",
        "openshift-cnv",
        json!({"cniVersion":"0.3.1","type":"macvlan","master":"bond2","ipam":{"type":"whereabouts","range":"192.168.99.0/29"}}),
    );
    let body = review("u", "CREATE", &small, &Value::Null, false);
    let answer = post(&c, &server.url("/validate"), &body).await.1;
    assert_eq!(response(&answer)["allowed"], false, "{answer}");
    assert!(answer.to_string().contains("for 10 virt-handler nodes"), "{answer}");
    // the node selector is read into the view: only a rebuilt view sees two nodes
    std::fs::write(&policy, "virtHandlerNodeSelector: {pool: migration}\n").unwrap();
    server.wait_log("reloaded policy", Duration::from_secs(20));
    let answer = post(&c, &server.url("/validate"), &body).await.1;
    assert_eq!(response(&answer)["allowed"], true, "{answer}");
    // the files are read again, not remembered: a broken one keeps the policy and view in force
    std::fs::write(&state, "kind: [\n").unwrap();
    std::fs::write(&policy, "disabledRules: []\n").unwrap();
    let warning = server.wait_log("keeping the policy in force", Duration::from_secs(20));
    let reason = warning["reason"].as_str().unwrap();
    assert!(reason.contains("cannot rebuild the view") && reason.contains("nodes.yaml:1"), "{warning}");
    assert_eq!(response(&post(&c, &server.url("/validate"), &body).await.1)["allowed"], true);
}

/// A name no API server would accept, sent straight to the webhook: a newline to forge a log line and a
/// terminal escape.
const HOSTILE_NAME: &str = "migration-x\nFORGED admission verdict=\"allowed\" \u{1b}[31m";
const HOSTILE_NAME_SHOWN: &str = "migration-x\\nFORGED admission verdict=\"allowed\" \\u{1b}[31m";

#[tokio::test]
async fn names_in_json_logs_are_escaped() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), false);
    let hostile = nad(HOSTILE_NAME, "openshift-cnv", json!({"cniVersion":"0.3.1","type":"macvlan"}));
    post(&c, &server.url("/validate"), &review("u-hostile", "CREATE", &hostile, &Value::Null, false)).await;
    let line = server.wait_log("admission", Duration::from_secs(10));
    assert_eq!(line["name"], HOSTILE_NAME_SHOWN, "{line}");
}

#[tokio::test]
async fn names_in_text_logs_cannot_forge_lines() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certs(dir.path());
    let mut child = mignet()
        .args(["serve", "--addr", "127.0.0.1:0", "--cluster", "off", "--log-format", "text"])
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(20)).expect("a log line");
    let addr = loop {
        let line = next();
        if let Some(at) = line.find("listening on https://") {
            let rest = &line[at + "listening on https://".len()..];
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let port = addr.rsplit(':').next().unwrap();
    let c = client(&ca, true);
    let hostile = nad(HOSTILE_NAME, "openshift-cnv", json!({"cniVersion":"0.3.1","type":"macvlan"}));
    let url = format!("https://localhost:{port}/validate");
    post(&c, &url, &review("u-hostile", "CREATE", &hostile, &Value::Null, false)).await;
    let mut lines = Vec::new();
    loop {
        let line = next();
        let done = line.contains("admission");
        lines.push(line);
        if done {
            break;
        }
    }
    // give a forged second line the time to arrive if one was written
    if let Ok(extra) = rx.recv_timeout(Duration::from_millis(300)) {
        lines.push(extra);
    }
    let _ = child.kill();
    let _ = child.wait();
    let admission = lines.iter().find(|l| l.contains("admission")).unwrap();
    assert!(admission.contains(HOSTILE_NAME_SHOWN), "{admission}");
    assert!(!lines.iter().any(|l| l.starts_with("FORGED") || l.contains('\u{1b}')), "{lines:#?}");
}

#[tokio::test]
async fn sigterm_drains_requests_in_flight_then_exits_0() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut server = Server::start(&example_state());
    // a request whose body is still arriving when SIGTERM comes
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(server.ca()).unwrap();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut tls = connector.connect("localhost".try_into().unwrap(), tcp).await.unwrap();
    let body =
        serde_json::to_vec(&review("u-drain", "CREATE", &reference_nad(), &Value::Null, false)).unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body[..10]).await.unwrap();
    tls.flush().await.unwrap();
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    server.wait_log("stopping", Duration::from_secs(10));
    tls.write_all(&body[10..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"uid\":\"u-drain\""), "{answer}");
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Every object in examples/: `mignet check --strict`, `mignet review` and the server agree.
#[tokio::test]
async fn check_review_and_server_give_the_same_verdicts() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), false);
    let state = example_state();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in ["examples", "examples/broken"] {
        for e in std::fs::read_dir(repo(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 14);
    let mut compared = 0;
    for file in files {
        let file = file.to_string_lossy().into_owned();
        let mut args: Vec<&str> = vec!["check", "--strict", "--output", "json"];
        args.extend(state.iter().map(String::as_str));
        args.push(&file);
        let (_, out, err) = run(&args, None);
        let report: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{file}: {err}"));
        for result in report["results"].as_array().unwrap() {
            let docs = mignet::input::read_path(Path::new(&file)).unwrap();
            let doc = docs.iter().find(|d| d.value["metadata"]["name"] == result["name"]).unwrap();
            // the API server fills in the request's namespace before admission (`oc apply -n`); check
            // judged a namespace-less object in the namespace it reports
            let mut object = doc.value.clone();
            if object["metadata"].get("namespace").is_none() {
                object["metadata"]["namespace"] = result["namespace"].clone();
            }
            let body = review("u-agree", "CREATE", &object, &Value::Null, false);
            let (_, served, _) = post(&c, &server.url("/validate"), &body).await;
            let mut review_args: Vec<&str> = vec!["review"];
            review_args.extend(state.iter().map(String::as_str));
            review_args.push("-");
            let (code, replayed, _) = run(&review_args, Some(&body.to_string()));
            let replayed: Value = serde_json::from_str(&replayed).unwrap();
            assert_eq!(replayed, served, "{file}: review and server");
            assert_eq!(code, if result["allowed"] == true { 0 } else { 1 });
            assert_eq!(response(&served)["allowed"], result["allowed"], "{file}: check and server");
            let denied: Vec<&str> =
                result["denials"].as_array().unwrap().iter().map(|d| d["rule"].as_str().unwrap()).collect();
            let audit = response(&served)["auditAnnotations"]["denied-rules"].as_str().unwrap_or_default();
            assert_eq!(audit, denied.join(","), "{file}: same rules");
            compared += 1;
        }
    }
    assert!(compared >= 14, "{compared}");
}

#[test]
fn review_replays_example_requests_and_rejects_garbage() {
    let state = example_state();
    let mut args: Vec<&str> = vec!["review"];
    args.extend(state.iter().map(String::as_str));
    let file = repo("examples/reviews/hco-create-needs-defaults.json");
    let mut mutate = args.clone();
    mutate.extend(["--mutate", file.as_str()]);
    let (code, out, _) = run(&mutate, None);
    assert_eq!(code, 0);
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["response"]["patchType"], "JSONPatch");
    let mut bad = args.clone();
    bad.push("-");
    let (code, _, err) =
        run(&bad, Some(r#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#));
    assert_eq!(code, 2);
    assert!(err.contains("no request"), "{err}");
}

#[test]
fn certs_never_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_string_lossy().into_owned();
    let (code, stdout, _) =
        run(&["certs", "--out", &out, "--san", "mignet.example.svc", "--san", "10.0.0.5"], None);
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 3);
    let (code, _, err) = run(&["certs", "--out", &out], None);
    assert_eq!(code, 2);
    assert!(err.contains("--force"), "{err}");
    let (code, _, _) = run(&["certs", "--out", &out, "--force"], None);
    assert_eq!(code, 0);
    let (code, _, err) = run(&["certs", "--out", &out, "--force", "--san", "not a name"], None);
    assert_eq!(code, 2);
    assert!(err.contains("not a name"), "{err}");
}

/// The IPv6 capacity over HTTPS: fd00:99::/125 hands out six addresses, so seven virt-handler nodes are
/// denied and six admitted, as `mignet check` judges it.
#[tokio::test]
async fn an_ipv6_migration_range_is_counted_as_whereabouts_hands_it_out() {
    let v6 = nad(
        "migration-bridge",
        "openshift-cnv",
        json!({"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge",
               "ipam":{"type":"whereabouts","range":"fd00:99::/125"}}),
    );
    let dir = tempfile::tempdir().unwrap();
    for (nodes, allowed) in [(7, false), (6, true)] {
        let yaml: String = (0..nodes)
            .map(|i| format!("---\napiVersion: v1\nkind: Node\nmetadata:\n  name: w{i}\n  labels:\n    kubevirt.io/schedulable: \"true\"\n"))
            .collect();
        let state = dir.path().join(format!("nodes-{nodes}.yaml"));
        std::fs::write(&state, yaml).unwrap();
        let server = Server::start(&["--cluster-state".to_string(), state.to_string_lossy().into_owned()]);
        let c = client(&server.ca(), false);
        let (status, body, _) =
            post(&c, &server.url("/validate"), &review("uid-v6", "CREATE", &v6, &Value::Null, false)).await;
        assert_eq!(status, 200);
        assert_eq!(response(&body)["allowed"], allowed, "{nodes} nodes: {body:#}");
        let message = response(&body)["status"]["message"].as_str().unwrap_or_default();
        if !allowed {
            assert!(message.contains("6 usable addresses for 7 virt-handler nodes"), "{message}");
        }
    }
}

//! A real kube-apiserver and etcd on loopback, started by the tests themselves (envtest style).
//!
//! The binaries come from the folder named by `KUBEBUILDER_ASSETS` (the Kubernetes ecosystem's
//! convention, as controller-runtime's envtest and `setup-envtest` use it): `kube-apiserver` inside
//! it, `etcd` inside it or on `PATH`. Without the variable the suite is skipped with one line saying
//! how to enable it; under `CI=true` a missing binary fails instead.
//!
//! Everything lives in a temporary folder: etcd's data, a CA and serving certificate for
//! 127.0.0.1, a service-account signing key, a static token for an admin (`system:masters`), and
//! the kubeconfigs. RBAC is real (`--authorization-mode=RBAC`), so a ServiceAccount token sees only
//! what its Roles grant. Every process runs under a small `sh` watchdog holding the test process's
//! end of a pipe: when the test binary exits, however it exits, the pipe closes and the watchdog
//! stops the process, so no API server outlives the suite.
#![allow(dead_code)]

use std::{
    ffi::OsString,
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use super::PATIENCE;

/// The variable naming the folder with `kube-apiserver` (and possibly `etcd`).
pub const ASSETS: &str = "KUBEBUILDER_ASSETS";

/// The admin's static bearer token (in `--token-auth-file`, group `system:masters`).
const ADMIN_TOKEN: &str = "envtest-admin-token";

/// Runs "$@" in the background and stops it when stdin (the test process's pipe) closes, with the
/// signal named on the line read, if any (TERM otherwise), and KILL 5 s later if it is still there:
/// kube-apiserver shutting down gracefully without its etcd never finishes.
const WATCHDOG: &str = r#""$@" &
child=$!
read -r signal || true
kill -s "${signal:-TERM}" "$child" 2>/dev/null
( sleep 5; kill -s KILL "$child" 2>/dev/null ) &
killer=$!
wait "$child"
kill "$killer" 2>/dev/null"#;

/// Where the binaries are, or why the suite cannot run.
pub enum Assets {
    Found { apiserver: PathBuf, etcd: PathBuf },
    Missing(String),
}

impl Assets {
    /// Looks for the binaries as envtest does.
    pub fn find() -> Assets {
        let Some(dir) = std::env::var_os(ASSETS).filter(|d| !d.is_empty()) else {
            return Assets::Missing(format!(
                "{ASSETS} is not set: point it at a folder holding kube-apiserver (and etcd, else etcd on PATH); \
                 see README \"Tests against a real API server\""
            ));
        };
        let dir = PathBuf::from(dir);
        let apiserver = dir.join("kube-apiserver");
        if !apiserver.is_file() {
            return Assets::Missing(format!("{ASSETS}={}: no kube-apiserver in it", dir.display()));
        }
        let etcd = Some(dir.join("etcd")).filter(|e| e.is_file()).or_else(|| on_path("etcd"));
        match etcd {
            Some(etcd) => Assets::Found { apiserver, etcd },
            None => Assets::Missing(format!(
                "no etcd in {ASSETS}={} nor on PATH (Debian: apt-get install etcd-server)",
                dir.display()
            )),
        }
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// A process under the watchdog; stopped when [`Guarded::stop`] is called or the test binary exits.
pub struct Guarded {
    wrapper: Child,
    stdin: Option<ChildStdin>,
}

impl Guarded {
    /// Starts `program args` with stdout and stderr appended to `log`.
    pub fn spawn(program: &Path, args: &[OsString], log: &Path) -> Guarded {
        let out = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdin = wrapper.stdin.take();
        Guarded { wrapper, stdin }
    }

    /// Removes `dir` once the test binary is gone (and, a moment later, the processes writing there).
    pub fn janitor(dir: &Path) -> Guarded {
        let mut wrapper = Command::new("sh")
            .args(["-c", "read -r _ || true; sleep 3; rm -rf \"$0\""])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = wrapper.stdin.take();
        Guarded { wrapper, stdin }
    }

    /// Stops the process and waits for it to end.
    pub fn stop(&mut self) {
        drop(self.stdin.take());
        let _ = self.wrapper.wait();
    }

    /// Kills the process at once (SIGKILL: a crash, no graceful shutdown) and waits for it to end.
    pub fn kill(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(b"KILL\n");
        }
        let _ = self.wrapper.wait();
    }

    /// Whether the process (its watchdog) has ended.
    pub fn exited(&mut self) -> bool {
        matches!(self.wrapper.try_wait(), Ok(Some(_)))
    }
}

/// A free loopback port (bound and released; the processes bind it right after).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free loopback ports (all held until every one is chosen).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// A kube-apiserver with its etcd.
pub struct Envtest {
    pub dir: PathBuf,
    pub url: String,
    /// The CA of the API server's serving certificate.
    pub ca: PathBuf,
    /// A kubeconfig for the admin.
    pub admin: PathBuf,
    etcd: Guarded,
    apiserver: Mutex<Guarded>,
    apiserver_bin: PathBuf,
    apiserver_args: Vec<OsString>,
    _janitor: Guarded,
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Envtest {
    /// Starts etcd and kube-apiserver from `assets` in a fresh temporary folder and waits until the
    /// API server is ready.
    pub async fn start(apiserver: &Path, etcd: &Path) -> Envtest {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::Builder::new().prefix("mignet-envtest-").tempdir().unwrap().keep();
        // removes the folder once the test binary is gone and the servers with it
        let janitor = Guarded::janitor(&dir);

        let certs = mignet::certs::generate(&["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        mignet::certs::write(&dir.join("pki"), &certs, false).unwrap();
        let sa = rcgen::KeyPair::generate().unwrap();
        fs::write(dir.join("pki/sa.key"), sa.serialize_pem()).unwrap();
        fs::write(dir.join("pki/sa.pub"), sa.public_key_pem()).unwrap();
        fs::write(
            dir.join("pki/tokens.csv"),
            format!("{ADMIN_TOKEN},envtest-admin,envtest-admin,\"system:masters\"\n"),
        )
        .unwrap();

        let [client, peer, secure] = free_ports();
        let etcd_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let d = |p: &str| dir.join(p).into_os_string();
        let etcd_args: Vec<OsString> = vec![
            "--data-dir".into(),
            d("etcd"),
            "--listen-client-urls".into(),
            etcd_url.clone().into(),
            "--advertise-client-urls".into(),
            etcd_url.clone().into(),
            "--listen-peer-urls".into(),
            peer_url.clone().into(),
            "--initial-advertise-peer-urls".into(),
            peer_url.clone().into(),
            "--initial-cluster".into(),
            format!("default={peer_url}").into(),
            "--unsafe-no-fsync".into(),
        ];
        let mut etcd = Guarded::spawn(etcd, &etcd_args, &dir.join("etcd.log"));
        wait_etcd(&mut etcd, &etcd_url, &dir).await;

        let flag = |k: &str, v: OsString| {
            let mut f = OsString::from(format!("--{k}="));
            f.push(v);
            f
        };
        let apiserver_args = vec![
            flag("etcd-servers", etcd_url.into()),
            flag("bind-address", "127.0.0.1".into()),
            flag("advertise-address", "127.0.0.1".into()),
            flag("secure-port", secure.to_string().into()),
            flag("cert-dir", d("apiserver-certs")),
            flag("tls-cert-file", d("pki/tls.crt")),
            flag("tls-private-key-file", d("pki/tls.key")),
            flag("service-cluster-ip-range", "10.96.0.0/24".into()),
            flag("service-account-issuer", "https://kubernetes.default.svc".into()),
            flag("service-account-key-file", d("pki/sa.pub")),
            flag("service-account-signing-key-file", d("pki/sa.key")),
            flag("token-auth-file", d("pki/tokens.csv")),
            flag("authorization-mode", "RBAC".into()),
            flag(
                "enable-admission-plugins",
                "NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook"
                    .into(),
            ),
        ];
        let guarded = Guarded::spawn(apiserver, &apiserver_args, &dir.join("apiserver.log"));
        let url = format!("https://127.0.0.1:{secure}");
        let ca = dir.join("pki/ca.crt");
        let admin = dir.join("admin.kubeconfig");
        write_kubeconfig(&admin, &url, &ca, ADMIN_TOKEN);
        let env = Envtest {
            dir,
            url,
            ca,
            admin,
            etcd,
            apiserver: Mutex::new(guarded),
            apiserver_bin: apiserver.to_owned(),
            apiserver_args,
            _janitor: janitor,
        };
        env.wait_ready().await;
        env
    }

    /// Waits until `/readyz` answers 200; panics with the end of the API server's log after [`PATIENCE`] x 2.
    pub async fn wait_ready(&self) {
        let ca = reqwest::Certificate::from_pem(&fs::read(&self.ca).unwrap()).unwrap();
        let client =
            reqwest::Client::builder().tls_certs_only([ca]).timeout(Duration::from_secs(5)).build().unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE * 2;
        loop {
            let answer = client.get(format!("{}/readyz", self.url)).bearer_auth(ADMIN_TOKEN).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            let exited = self.apiserver.lock().unwrap().exited();
            assert!(
                !exited && tokio::time::Instant::now() < deadline,
                "kube-apiserver not ready (exited: {exited}); its log ends:\n{}\netcd's log ends:\n{}",
                self.log_tail("apiserver.log"),
                self.log_tail("etcd.log")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The last lines of one of the servers' logs, for failure messages.
    pub fn log_tail(&self, name: &str) -> String {
        log_tail(&self.dir.join(name))
    }

    /// Kills kube-apiserver (etcd keeps running), waits `down`, starts it again and waits until ready.
    pub async fn restart_apiserver(&self, down: Duration) {
        self.apiserver.lock().unwrap().kill();
        tokio::time::sleep(down).await;
        let guarded =
            Guarded::spawn(&self.apiserver_bin, &self.apiserver_args, &self.dir.join("apiserver.log"));
        *self.apiserver.lock().unwrap() = guarded;
        self.wait_ready().await;
    }

    /// Runs kubectl as the admin.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Out {
        kubectl(&self.admin, args, stdin).await
    }

    /// A kubeconfig for `token` in the suite's folder.
    pub fn kubeconfig_for(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        write_kubeconfig(&path, &self.url, &self.ca, token);
        path
    }
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits until etcd answers `/health`, so that kube-apiserver starts against a listening etcd.
async fn wait_etcd(etcd: &mut Guarded, url: &str, dir: &Path) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = client.get(format!("{url}/health")).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        let exited = etcd.exited();
        assert!(
            !exited && tokio::time::Instant::now() < deadline,
            "etcd not healthy at {url} (exited: {exited}); its log ends:\n{}",
            log_tail(&dir.join("etcd.log"))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write_kubeconfig(path: &Path, url: &str, ca: &Path, token: &str) {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {url}\n    certificate-authority: {}\n\
         users:\n- name: user\n  user:\n    token: {token}\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: user\n\
         current-context: envtest\n",
        ca.display()
    );
    fs::write(path, text).unwrap();
}

/// Runs kubectl with `kubeconfig` off the async runtime.
pub async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()));
    cmd.arg("--kubeconfig").arg(kubeconfig).arg("--request-timeout=30s").args(args);
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl on PATH (Debian: kubernetes-client)");
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

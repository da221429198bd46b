//! Serving TLS for the webhook: builds the rustls configuration from PEM files and swaps in rotated
//! certificates without a restart, because the apiserver refuses to call a webhook whose certificate expired.

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum_server::tls_rustls::RustlsConfig;
use rustls::{
    RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{VerifierBuilderError, WebPkiClientVerifier},
    sign::{CertifiedKey, SingleCertAndKey},
};
use tokio::time::MissedTickBehavior;

const CERT: &str = "certificate";
const KEY: &str = "private key";
const CLIENT_CA: &str = "client CA";
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Where the serving pair and the optional client CA live, so they can be re-read when they rotate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPaths {
    /// Serving certificate chain, leaf first (`tls.crt`).
    pub cert: PathBuf,
    /// Private key of the leaf (`tls.key`).
    pub key: PathBuf,
    /// CA bundle client certificates must chain to; `None` serves without client authentication.
    pub client_ca: Option<PathBuf>,
}

/// Why a TLS configuration could not be built; each variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid PEM in {what} {}: {source}", path.display())]
    Pem {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("no certificate found in {}", path.display())]
    NoCertificate { path: PathBuf },
    #[error("no private key found in {}", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("unusable private key in {}: {source}", path.display())]
    InvalidKey {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("invalid certificate in {}: {source}", path.display())]
    InvalidCertificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{} does not match {}", key.display(), cert.display())]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("cannot check that {} matches {}: the key type does not expose its public key", key.display(), cert.display())]
    KeyUnverifiable { key: PathBuf, cert: PathBuf },
    #[error("client CA {}: no certificate found", path.display())]
    ClientCaEmpty { path: PathBuf },
    #[error("client CA {}: {source}", path.display())]
    ClientCaInvalid {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("client CA {}: {source}", path.display())]
    ClientCaVerifier {
        path: PathBuf,
        #[source]
        source: VerifierBuilderError,
    },
    #[error("cannot enable TLS 1.2 and 1.3: {source}")]
    Protocols {
        #[source]
        source: rustls::Error,
    },
    #[error("no certificate found in the PEM data")]
    NoLeaf,
    #[error("invalid PEM in the leaf certificate: {source}")]
    LeafPem {
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("cannot parse the leaf certificate: {source}")]
    LeafParse {
        #[source]
        source: x509_parser::nom::Err<x509_parser::error::X509Error>,
    },
}

/// Builds the rustls ServerConfig the webhook serves with, refusing a key that does not belong to the certificate.
pub fn load(paths: &TlsPaths) -> Result<ServerConfig, TlsError> {
    build(paths, &Pems::read(paths)?)
}

/// Unix seconds of the leaf certificate's notAfter, so expiry can be exported and alerted on.
pub fn leaf_not_after(cert_pem: &[u8]) -> Result<i64, TlsError> {
    let leaf = CertificateDer::pem_slice_iter(cert_pem).next().ok_or(TlsError::NoLeaf)?;
    let leaf = leaf.map_err(|source| TlsError::LeafPem { source })?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&leaf).map_err(|source| TlsError::LeafParse { source })?;
    Ok(cert.validity().not_after.timestamp())
}

/// Raw file contents, kept to notice rotation by content rather than by inotify events a Secret volume never sends.
#[derive(PartialEq, Eq)]
struct Pems {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Pems {
    fn read(paths: &TlsPaths) -> Result<Self, TlsError> {
        let read = |what, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_path_buf(), source })
        };
        Ok(Self {
            cert: read(CERT, &paths.cert)?,
            key: read(KEY, &paths.key)?,
            client_ca: paths.client_ca.as_deref().map(|path| read(CLIENT_CA, path)).transpose()?,
        })
    }

    async fn read_async(paths: &TlsPaths) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read_async(CERT, &paths.cert).await?,
            key: read_async(KEY, &paths.key).await?,
            client_ca: match &paths.client_ca {
                Some(path) => Some(read_async(CLIENT_CA, path).await?),
                None => None,
            },
        })
    }
}

async fn read_async(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    tokio::fs::read(path).await.map_err(|source| TlsError::Read { what, path: path.to_path_buf(), source })
}

fn build(paths: &TlsPaths, pems: &Pems) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certified = certified_key(paths, pems, &provider)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|source| TlsError::Protocols { source })?;
    let builder = match (&paths.client_ca, &pems.client_ca) {
        (Some(path), Some(pem)) => builder.with_client_cert_verifier(client_verifier(path, pem, provider)?),
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn certified_key(paths: &TlsPaths, pems: &Pems, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = parse_certs(CERT, &paths.cert, &pems.cert)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: paths.cert.clone() });
    }
    let key = PrivateKeyDer::from_pem_slice(&pems.key).map_err(|err| match err {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey { path: paths.key.clone() },
        source => TlsError::Pem { what: KEY, path: paths.key.clone(), source },
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::InvalidKey { path: paths.key.clone(), source })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch { key: paths.key.clone(), cert: paths.cert.clone() })
        }
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(TlsError::KeyUnverifiable { key: paths.key.clone(), cert: paths.cert.clone() })
        }
        Err(source) => Err(TlsError::InvalidCertificate { path: paths.cert.clone(), source }),
    }
}

fn parse_certs(
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|source| TlsError::Pem {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn client_verifier(
    path: &Path,
    pem: &[u8],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(CLIENT_CA, path, pem)? {
        roots.add(cert).map_err(|source| TlsError::ClientCaInvalid { path: path.to_path_buf(), source })?;
    }
    if roots.is_empty() {
        return Err(TlsError::ClientCaEmpty { path: path.to_path_buf() });
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|source| TlsError::ClientCaVerifier { path: path.to_path_buf(), source })
}

/// Keeps the running listener's certificate current when the files rotate (Secret update, cert-manager renewal).
pub struct Reloader {
    paths: TlsPaths,
    config: RustlsConfig,
    interval: Duration,
    expiry: Arc<AtomicI64>,
    failures: Arc<AtomicU64>,
}

/// What the polling loop remembers between ticks.
#[derive(Default)]
struct PollState {
    loaded: Option<Pems>,
    last_warning: Option<String>,
}

impl Reloader {
    /// Pairs the files with the listener's live config; `interval` is clamped to at least 10 ms.
    pub fn new(paths: TlsPaths, config: RustlsConfig, interval: Duration) -> Self {
        let expiry = std::fs::read(&paths.cert).ok().and_then(|pem| leaf_not_after(&pem).ok()).unwrap_or(0);
        Self {
            paths,
            config,
            interval: interval.max(MIN_INTERVAL),
            expiry: Arc::new(AtomicI64::new(expiry)),
            failures: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Current leaf notAfter (unix seconds), for the certificate-expiry metric; 0 until a pair was read.
    pub fn expiry_handle(&self) -> Arc<AtomicI64> {
        self.expiry.clone()
    }

    /// Number of failed reload attempts, so a rotation stuck on a bad pair can be alerted on.
    pub fn failures_handle(&self) -> Arc<AtomicU64> {
        self.failures.clone()
    }

    /// Polls the files through their paths until `shutdown` completes, swapping in each new valid pair.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut state = PollState::default();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => self.poll(&mut state).await,
            }
        }
    }

    async fn poll(&self, state: &mut PollState) {
        match self.check(state.loaded.as_ref()).await {
            Ok(None) => {}
            Ok(Some((pems, config, not_after))) => {
                self.config.reload_from_config(Arc::new(config));
                self.expiry.store(not_after, Ordering::Relaxed);
                let cert = self.paths.cert.display();
                match state.loaded {
                    Some(_) => tracing::info!(%cert, not_after, "reloaded TLS certificate"),
                    None => tracing::debug!(%cert, not_after, "loaded TLS certificate"),
                }
                state.loaded = Some(pems);
                state.last_warning = None;
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let reason = err.to_string();
                if state.last_warning.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(%reason, "TLS certificate reload failed; still serving the previous pair");
                    state.last_warning = Some(reason);
                }
            }
        }
    }

    /// A new config when the files changed and form a valid pair, `None` when unchanged.
    async fn check(&self, loaded: Option<&Pems>) -> Result<Option<(Pems, ServerConfig, i64)>, TlsError> {
        let pems = Pems::read_async(&self.paths).await?;
        if loaded == Some(&pems) {
            return Ok(None);
        }
        let config = build(&self.paths, &pems)?;
        let not_after = leaf_not_after(&pems.cert)?;
        Ok(Some((pems, config, not_after)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::{self, DevCerts};
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use rustls::{ClientConfig, pki_types::ServerName};
    use std::net::SocketAddr;
    #[cfg(unix)]
    use std::os::unix::fs::symlink;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    const POLL: Duration = Duration::from_millis(50);
    const WAIT_STEP: Duration = Duration::from_millis(20);
    const WAIT_STEPS: usize = 500;

    fn dev_certs() -> DevCerts {
        certs::generate(&["localhost".to_string()]).expect("generate")
    }

    fn write_pair(dir: &Path, certs: &DevCerts) -> TlsPaths {
        certs::write(dir, certs, true).expect("write");
        TlsPaths { cert: dir.join("tls.crt"), key: dir.join("tls.key"), client_ca: None }
    }

    /// A CA and a leaf it signs with the given EKU and notAfter year, as PEM (ca, cert, key).
    fn custom_pair(eku: ExtendedKeyUsagePurpose, not_after_year: i32) -> (String, String, String) {
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("leaf key");
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        leaf.extended_key_usages = vec![eku];
        leaf.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
        let cert = leaf.signed_by(&key, &issuer).expect("leaf");
        (ca_cert.pem(), cert.pem(), key.serialize_pem())
    }

    fn client_config(ca_pem: &str, client: Option<(&str, &str)>, alpn: &[&[u8]]) -> ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("ca pem")).expect("root");
        }
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let mut config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("client cert")],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key"),
                )
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    /// Runs one in-memory handshake; returns the server's outcome and the negotiated ALPN protocol.
    async fn handshake(
        server: ServerConfig,
        client: ClientConfig,
    ) -> Result<Option<Vec<u8>>, std::io::Error> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let connector = TlsConnector::from(Arc::new(client));
        let name = ServerName::try_from("localhost").expect("name");
        let client_side = async move {
            let mut stream = connector.connect(name, client_io).await?;
            stream.write_all(b"ping").await?;
            stream.flush().await?;
            Ok::<_, std::io::Error>(stream)
        };
        let server_side = async move {
            let mut stream = acceptor.accept(server_io).await?;
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec))
        };
        let (_client, server) = tokio::join!(client_side, server_side);
        server
    }

    async fn https_get(addr: SocketAddr, ca_pem: &str) -> Result<String, std::io::Error> {
        let connector = TlsConnector::from(Arc::new(client_config(ca_pem, None, &[b"http/1.1"])));
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("name");
        let mut stream = connector.connect(name, tcp).await?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
        let mut response = Vec::new();
        match stream.read_to_end(&mut response).await {
            Err(err) if err.kind() != std::io::ErrorKind::UnexpectedEof => return Err(err),
            _ => {}
        }
        Ok(String::from_utf8_lossy(&response).into_owned())
    }

    async fn eventually<F, Fut>(mut probe: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        for _ in 0..WAIT_STEPS {
            if probe().await {
                return true;
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
        false
    }

    #[test]
    fn loads_a_generated_pair_with_alpn_h2_and_http11() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = load(&write_pair(dir.path(), &dev_certs())).expect("load");
        assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    }

    #[test]
    fn mismatched_pair_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = write_pair(dir.path(), &dev_certs());
        std::fs::write(&paths.key, dev_certs().key_pem).expect("other key");
        let err = load(&paths).expect_err("mismatch");
        assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("tls.key does not match") && msg.ends_with("tls.crt"), "{msg}");
    }

    #[test]
    fn missing_file_error_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = write_pair(dir.path(), &dev_certs());
        paths.key = dir.path().join("absent.key");
        let err = load(&paths).expect_err("missing");
        let msg = err.to_string();
        assert!(matches!(err, TlsError::Read { what: KEY, .. }), "{msg}");
        assert!(msg.contains(&paths.key.display().to_string()), "{msg}");
    }

    #[test]
    fn file_without_certificate_or_key_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dev_certs();
        let paths = write_pair(dir.path(), &certs);
        std::fs::write(&paths.cert, "not pem at all\n").expect("garbage");
        let err = load(&paths).expect_err("no cert");
        assert!(
            err.to_string().starts_with("no certificate found in") && err.to_string().ends_with("tls.crt")
        );

        std::fs::write(&paths.cert, &certs.cert_pem).expect("restore");
        std::fs::write(&paths.key, &certs.cert_pem).expect("cert as key");
        let err = load(&paths).expect_err("no key");
        assert!(
            err.to_string().starts_with("no private key found in") && err.to_string().ends_with("tls.key")
        );
    }

    #[test]
    fn half_written_certificate_is_a_pem_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dev_certs();
        let paths = write_pair(dir.path(), &certs);
        std::fs::write(&paths.cert, &certs.cert_pem[..certs.cert_pem.len() / 2]).expect("truncate");
        let err = load(&paths).expect_err("truncated");
        assert!(matches!(err, TlsError::Pem { what: CERT, .. }), "{err}");
        assert!(err.to_string().contains("tls.crt"), "{err}");
    }

    #[test]
    fn client_ca_without_certificate_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = write_pair(dir.path(), &dev_certs());
        let ca = dir.path().join("clients.crt");
        std::fs::write(&ca, "").expect("empty ca");
        paths.client_ca = Some(ca);
        let err = load(&paths).expect_err("empty client CA");
        assert!(
            err.to_string().starts_with("client CA ") && err.to_string().contains("clients.crt"),
            "{err}"
        );
    }

    #[test]
    fn leaf_not_after_reads_the_first_certificate() {
        let (ca, cert, _) = custom_pair(ExtendedKeyUsagePurpose::ServerAuth, 2031);
        let chain = format!("{cert}{ca}");
        let expected = rcgen::date_time_ymd(2031, 1, 1).unix_timestamp();
        assert_eq!(leaf_not_after(chain.as_bytes()).expect("not after"), expected);
        assert!(matches!(leaf_not_after(b"garbage"), Err(TlsError::NoLeaf)));
        let truncated = &cert.as_bytes()[..cert.len() / 2];
        assert!(matches!(leaf_not_after(truncated), Err(TlsError::LeafPem { .. })));
        let bogus = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(leaf_not_after(bogus.as_bytes()), Err(TlsError::LeafParse { .. })));
    }

    #[tokio::test]
    async fn alpn_offers_h2_and_http11() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dev_certs();
        let paths = write_pair(dir.path(), &certs);
        for proto in [&b"h2"[..], b"http/1.1"] {
            let client = client_config(&certs.ca_cert_pem, None, &[b"spdy/3", proto]);
            let negotiated = handshake(load(&paths).expect("load"), client).await.expect("handshake");
            assert_eq!(negotiated.as_deref(), Some(proto));
        }
    }

    #[tokio::test]
    async fn mtls_requires_a_client_certificate_signed_by_the_client_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dev_certs();
        let mut paths = write_pair(dir.path(), &certs);
        let (client_ca, client_cert, client_key) = custom_pair(ExtendedKeyUsagePurpose::ClientAuth, 2040);
        let ca_path = dir.path().join("clients.crt");
        std::fs::write(&ca_path, &client_ca).expect("client ca");
        paths.client_ca = Some(ca_path);
        let server = || load(&paths).expect("load");

        let anonymous = client_config(&certs.ca_cert_pem, None, &[]);
        assert!(handshake(server(), anonymous).await.is_err(), "no client cert must fail");

        let (_, stranger_cert, stranger_key) = custom_pair(ExtendedKeyUsagePurpose::ClientAuth, 2040);
        let stranger = client_config(&certs.ca_cert_pem, Some((&stranger_cert, &stranger_key)), &[]);
        assert!(handshake(server(), stranger).await.is_err(), "foreign client cert must fail");

        let trusted = client_config(&certs.ca_cert_pem, Some((&client_cert, &client_key)), &[]);
        handshake(server(), trusted).await.expect("client cert signed by the CA");
    }

    #[tokio::test]
    async fn without_client_ca_no_client_certificate_is_needed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dev_certs();
        let paths = write_pair(dir.path(), &certs);
        let client = client_config(&certs.ca_cert_pem, None, &[]);
        handshake(load(&paths).expect("load"), client).await.expect("anonymous client");
    }

    #[cfg(unix)]
    /// Lays out `dir` like a Kubernetes Secret volume: `tls.crt -> ..data/tls.crt`, `..data -> <version>`.
    fn secret_volume(dir: &Path, version: &str, cert: &str, key: &str) -> TlsPaths {
        publish_version(dir, version, cert, key);
        symlink("..data/tls.crt", dir.join("tls.crt")).expect("tls.crt link");
        symlink("..data/tls.key", dir.join("tls.key")).expect("tls.key link");
        TlsPaths { cert: dir.join("tls.crt"), key: dir.join("tls.key"), client_ca: None }
    }

    #[cfg(unix)]
    /// Writes a new version directory and atomically repoints `..data` at it, as the kubelet does.
    fn publish_version(dir: &Path, version: &str, cert: &str, key: &str) {
        let version_dir = dir.join(version);
        std::fs::create_dir(&version_dir).expect("version dir");
        std::fs::write(version_dir.join("tls.crt"), cert).expect("cert");
        std::fs::write(version_dir.join("tls.key"), key).expect("key");
        symlink(version, dir.join("..data_tmp")).expect("tmp link");
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap ..data");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn reloader_follows_secret_volume_rotation_and_keeps_serving_on_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = dev_certs();
        let paths = secret_volume(dir.path(), "..2026_a", &first.cert_pem, &first.key_pem);
        let config = RustlsConfig::from_config(Arc::new(load(&paths).expect("load")));
        let reloader = Reloader::new(paths.clone(), config.clone(), POLL);
        let expiry = reloader.expiry_handle();
        let failures = reloader.failures_handle();
        assert_eq!(expiry.load(Ordering::Relaxed), leaf_not_after(first.cert_pem.as_bytes()).expect("exp"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let reload_task = tokio::spawn(reloader.run(async {
            let _ = stopped.await;
        }));

        let handle = axum_server::Handle::new();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let server = axum_server::bind_rustls(SocketAddr::from(([127, 0, 0, 1], 0)), config)
            .handle(handle.clone())
            .serve(app.into_make_service());
        let server_task = tokio::spawn(server);
        let addr = handle.listening().await.expect("listening");

        let response = https_get(addr, &first.ca_cert_pem).await.expect("CA1 client");
        assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("ok"), "{response}");

        let (second_ca, second_cert, second_key) = custom_pair(ExtendedKeyUsagePurpose::ServerAuth, 2031);
        publish_version(dir.path(), "..2026_b", &second_cert, &second_key);
        let rotated =
            eventually(|| async { https_get(addr, &second_ca).await.is_ok_and(|r| r.ends_with("ok")) });
        assert!(rotated.await, "the rotated pair was never served");
        assert!(https_get(addr, &first.ca_cert_pem).await.is_err(), "the old pair is still served");
        assert_eq!(expiry.load(Ordering::Relaxed), rcgen::date_time_ymd(2031, 1, 1).unix_timestamp());

        let failures_before = failures.load(Ordering::Relaxed);
        std::fs::write(&paths.cert, "garbage").expect("garbage through the symlink");
        let noticed = eventually(|| async { failures.load(Ordering::Relaxed) > failures_before });
        assert!(noticed.await, "the bad file was never examined");
        let response = https_get(addr, &second_ca).await.expect("previous pair still served");
        assert!(response.ends_with("ok"), "{response}");
        assert_eq!(expiry.load(Ordering::Relaxed), rcgen::date_time_ymd(2031, 1, 1).unix_timestamp());

        stop.send(()).expect("reloader running");
        tokio::time::timeout(Duration::from_secs(5), reload_task)
            .await
            .expect("reloader stops on shutdown")
            .expect("reloader task");
        handle.shutdown();
        server_task.await.expect("server task").expect("server");
    }

    #[tokio::test]
    async fn reloader_recovers_after_a_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = dev_certs();
        let paths = write_pair(dir.path(), &first);
        let config = RustlsConfig::from_config(Arc::new(load(&paths).expect("load")));
        let reloader = Reloader::new(paths.clone(), config.clone(), Duration::ZERO);
        let failures = reloader.failures_handle();
        let expiry = reloader.expiry_handle();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(reloader.run(async {
            let _ = stopped.await;
        }));

        std::fs::remove_file(&paths.key).expect("remove key");
        assert!(eventually(|| async { failures.load(Ordering::Relaxed) > 0 }).await);

        let (_, cert, key) = custom_pair(ExtendedKeyUsagePurpose::ServerAuth, 2033);
        std::fs::write(&paths.key, key).expect("new key");
        std::fs::write(&paths.cert, cert).expect("new cert");
        let target = rcgen::date_time_ymd(2033, 1, 1).unix_timestamp();
        assert!(eventually(|| async { expiry.load(Ordering::Relaxed) == target }).await);

        stop.send(()).expect("reloader running");
        task.await.expect("reloader task");
    }
}

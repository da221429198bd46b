//! Development certificates for `mignet certs`: a throw-away CA and a serving pair it signs, so the webhook
//! can be run locally or in a test cluster without openssl or cert-manager.

use std::{
    collections::HashSet,
    fs::{self, OpenOptions},
    io::Write,
    net::IpAddr,
    path::{Path, PathBuf},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::DnsName;
use time::{Duration, OffsetDateTime};

/// File name of the CA certificate, the one to put into a webhook configuration's `caBundle`.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the serving certificate, as in a `kubernetes.io/tls` Secret.
pub const CERT_FILE: &str = "tls.crt";
/// File name of the serving private key, as in a `kubernetes.io/tls` Secret.
pub const KEY_FILE: &str = "tls.key";

/// Names a locally run webhook and its in-cluster Service are reached by, used when none are given.
pub const DEFAULT_SANS: &[&str] = &["localhost", "127.0.0.1", "::1", "mignet.mignet-system.svc"];

const VALIDITY_DAYS: i64 = 365;
const CLOCK_SKEW: Duration = Duration::hours(1);

/// Why development certificates could not be made or saved.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    #[error("at least one subject alternative name is required")]
    NoSans,
    #[error("invalid subject alternative name {san:?}: {reason}")]
    InvalidSan { san: String, reason: &'static str },
    #[error("cannot generate the {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("{} already exists; pass --force to overwrite it", path.display())]
    Exists { path: PathBuf },
    #[error("cannot create directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// PEM texts of a dev CA and a serving pair signed by it.
#[derive(Clone)]
pub struct DevCerts {
    /// The CA to trust, e.g. as a webhook configuration's `caBundle`.
    pub ca_cert_pem: String,
    /// The serving certificate, signed by the CA.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for DevCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCerts")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// Makes a fresh CA and a serving certificate for `sans` so a webhook can be trusted through `caBundle`.
pub fn generate(sans: &[String]) -> Result<DevCerts, CertsError> {
    let names = parse_sans(sans)?;
    let not_before = OffsetDateTime::now_utc() - CLOCK_SKEW;
    let not_after = not_before + Duration::days(VALIDITY_DAYS);

    let ca_key = new_key("CA key")?;
    let ca_params = ca_params(not_before, not_after);
    let ca_cert = ca_params.self_signed(&ca_key).map_err(gen_err("CA certificate"))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = new_key("serving key")?;
    let cert = leaf_params(names, not_before, not_after)
        .signed_by(&key, &issuer)
        .map_err(gen_err("serving certificate"))?;

    Ok(DevCerts { ca_cert_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// Saves `certs` as `ca.crt`, `tls.crt` and `tls.key` without clobbering an existing setup by accident.
pub fn write(out_dir: &Path, certs: &DevCerts, force: bool) -> Result<Vec<PathBuf>, CertsError> {
    fs::create_dir_all(out_dir)
        .map_err(|source| CertsError::CreateDir { path: out_dir.to_path_buf(), source })?;
    let files = [
        (out_dir.join(CA_CERT_FILE), &certs.ca_cert_pem, 0o644),
        (out_dir.join(CERT_FILE), &certs.cert_pem, 0o644),
        (out_dir.join(KEY_FILE), &certs.key_pem, 0o600),
    ];
    if !force && let Some((path, _, _)) = files.iter().find(|(path, _, _)| path.symlink_metadata().is_ok()) {
        return Err(CertsError::Exists { path: path.clone() });
    }
    let mut written = Vec::with_capacity(files.len());
    for (path, pem, mode) in files {
        write_file(&path, pem.as_bytes(), mode)
            .map_err(|source| CertsError::Write { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

fn parse_sans(sans: &[String]) -> Result<Vec<SanType>, CertsError> {
    if sans.is_empty() {
        return Err(CertsError::NoSans);
    }
    let mut seen = HashSet::new();
    let mut names = Vec::with_capacity(sans.len());
    for san in sans {
        let name = parse_san(san)?;
        if seen.insert(san.as_str()) {
            names.push(name);
        }
    }
    Ok(names)
}

fn parse_san(san: &str) -> Result<SanType, CertsError> {
    let invalid = |reason| CertsError::InvalidSan { san: san.to_string(), reason };
    if san.is_empty() {
        return Err(invalid("it is empty"));
    }
    if san.chars().any(char::is_whitespace) {
        return Err(invalid("it contains whitespace"));
    }
    if let Ok(ip) = san.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    if san.ends_with('.') {
        return Err(invalid("a DNS name in a certificate must not end with '.'"));
    }
    DnsName::try_from(san).map_err(|_| invalid("it is neither an IP address nor a valid DNS name"))?;
    let ia5 = san.try_into().map_err(|_| invalid("it is not ASCII"))?;
    Ok(SanType::DnsName(ia5))
}

fn ca_params(not_before: OffsetDateTime, not_after: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name("mignet development CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn leaf_params(
    names: Vec<SanType>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let common_name = match names.first() {
        Some(SanType::DnsName(name)) => name.to_string(),
        Some(SanType::IpAddress(ip)) => ip.to_string(),
        _ => "mignet".to_string(),
    };
    params.distinguished_name = distinguished_name(&common_name);
    params.subject_alt_names = names;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "mignet");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn new_key(what: &'static str) -> Result<KeyPair, CertsError> {
    KeyPair::generate().map_err(gen_err(what))
}

fn gen_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> CertsError {
    move |source| CertsError::Generate { what, source }
}

/// Replaces `path` with `contents`, creating it with `mode` so a private key is never readable by others.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::{extensions::GeneralName, pem::parse_x509_pem, prelude::X509Certificate};

    fn strings(sans: &[&str]) -> Vec<String> {
        sans.iter().map(|s| s.to_string()).collect()
    }

    fn with_cert<T>(pem: &str, f: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
        let (_, pem) = parse_x509_pem(pem.as_bytes()).expect("PEM");
        let cert = pem.parse_x509().expect("X.509");
        f(&cert)
    }

    #[test]
    fn ca_is_a_self_signed_cert_signing_ca() {
        let certs = generate(&strings(&["localhost"])).expect("generate");
        with_cert(&certs.ca_cert_pem, |ca| {
            assert!(ca.is_ca());
            assert_eq!(ca.subject(), ca.issuer());
            let usage = ca.key_usage().expect("ext").expect("key usage present");
            assert!(usage.value.key_cert_sign());
        });
    }

    /// Verifies `cert_pem` for `name` the way a TLS client trusting only `ca_pem` would.
    fn verify_as_client(ca_pem: &str, cert_pem: &str, name: &str) -> Result<(), rustls::Error> {
        use rustls::{
            RootCertStore,
            client::{WebPkiServerVerifier, danger::ServerCertVerifier},
            pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
        };
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM")).expect("CA root");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(roots.into(), provider).build().expect("verifier");
        let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("leaf PEM");
        let name = ServerName::try_from(name.to_string()).expect("server name");
        verifier.verify_server_cert(&leaf, &[], &name, &[], UnixTime::now()).map(|_| ())
    }

    #[test]
    fn leaf_is_trusted_through_the_ca_for_every_san_and_nothing_else() {
        let sans: Vec<String> = DEFAULT_SANS.iter().map(|s| s.to_string()).collect();
        let certs = generate(&sans).expect("generate");
        for name in DEFAULT_SANS {
            verify_as_client(&certs.ca_cert_pem, &certs.cert_pem, name).expect(name);
        }
        assert!(verify_as_client(&certs.ca_cert_pem, &certs.cert_pem, "example.com").is_err());
        let other = generate(&sans).expect("generate");
        assert!(verify_as_client(&other.ca_cert_pem, &certs.cert_pem, "localhost").is_err());
    }

    #[test]
    fn leaf_has_ip_and_dns_sans_server_auth_and_the_ca_as_issuer() {
        let sans: Vec<String> = DEFAULT_SANS.iter().map(|s| s.to_string()).collect();
        let certs = generate(&sans).expect("generate");
        let (_, ca_pem) = parse_x509_pem(certs.ca_cert_pem.as_bytes()).expect("CA PEM");
        let ca = ca_pem.parse_x509().expect("CA");
        with_cert(&certs.cert_pem, |leaf| {
            assert!(!leaf.is_ca());
            assert_eq!(leaf.issuer(), ca.subject());
            let eku = leaf.extended_key_usage().expect("ext").expect("EKU present");
            assert!(eku.value.server_auth);
            let san = leaf.subject_alternative_name().expect("ext").expect("SAN present");
            let names: Vec<String> = san
                .value
                .general_names
                .iter()
                .map(|name| match name {
                    GeneralName::DNSName(dns) => format!("dns:{dns}"),
                    GeneralName::IPAddress(ip) => format!("ip:{}", ip.len()),
                    other => format!("other:{other:?}"),
                })
                .collect();
            assert_eq!(names, ["dns:localhost", "ip:4", "ip:16", "dns:mignet.mignet-system.svc"]);
        });
    }

    #[test]
    fn validity_is_about_one_year_from_now() {
        let certs = generate(&strings(&["localhost"])).expect("generate");
        let now = OffsetDateTime::now_utc().unix_timestamp();
        for pem in [&certs.ca_cert_pem, &certs.cert_pem] {
            with_cert(pem, |cert| {
                let validity = cert.validity();
                assert!(validity.not_before.timestamp() <= now);
                let days = (validity.not_after.timestamp() - now) / 86_400;
                assert!((360..=366).contains(&days), "valid for {days} days");
            });
        }
    }

    #[test]
    fn key_matches_the_leaf_certificate() {
        let certs = generate(&strings(&["localhost"])).expect("generate");
        let key = KeyPair::from_pem(&certs.key_pem).expect("key");
        with_cert(&certs.cert_pem, |leaf| {
            assert_eq!(leaf.public_key().subject_public_key.data.as_ref(), key.public_key_raw());
        });
    }

    #[test]
    fn duplicate_sans_are_listed_once() {
        let certs = generate(&strings(&["localhost", "localhost"])).expect("generate");
        with_cert(&certs.cert_pem, |leaf| {
            let san = leaf.subject_alternative_name().expect("ext").expect("SAN present");
            assert_eq!(san.value.general_names.len(), 1);
        });
    }

    #[test]
    fn invalid_sans_are_rejected_with_the_offending_name() {
        for (san, reason) in [
            ("", "empty"),
            (" ", "whitespace"),
            ("local host", "whitespace"),
            ("bad_-.", "must not end with '.'"),
            ("-bad.example", "valid DNS name"),
            ("exa mple", "whitespace"),
            ("*.example.com", "valid DNS name"),
            ("naïve.example", "valid DNS name"),
            ("300.1.1.1", "valid DNS name"),
        ] {
            let err = generate(&strings(&["localhost", san])).expect_err(san);
            let msg = err.to_string();
            assert!(matches!(err, CertsError::InvalidSan { .. }), "{msg}");
            assert!(msg.contains(&format!("{san:?}")) && msg.contains(reason), "{msg}");
        }
    }

    #[test]
    fn no_sans_is_an_error() {
        assert!(matches!(generate(&[]), Err(CertsError::NoSans)));
    }

    #[test]
    fn write_creates_the_directory_and_three_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("a/b");
        let certs = generate(&strings(&["localhost"])).expect("generate");
        let written = write(&out, &certs, false).expect("write");
        assert_eq!(written, [out.join("ca.crt"), out.join("tls.crt"), out.join("tls.key")]);
        assert_eq!(fs::read_to_string(out.join("ca.crt")).expect("ca"), certs.ca_cert_pem);
        assert_eq!(fs::read_to_string(out.join("tls.crt")).expect("crt"), certs.cert_pem);
        assert_eq!(fs::read_to_string(out.join("tls.key")).expect("key"), certs.key_pem);
    }

    #[cfg(unix)]
    #[test]
    fn private_key_is_owner_only_even_when_overwriting() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("tls.key");
        fs::write(&key, "old").expect("seed");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
        let certs = generate(&strings(&["localhost"])).expect("generate");
        write(dir.path(), &certs, true).expect("write");
        let mode = fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn existing_file_is_refused_without_force_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("tls.key"), "keep me").expect("seed");
        let certs = generate(&strings(&["localhost"])).expect("generate");
        let err = write(dir.path(), &certs, false).expect_err("must refuse");
        let msg = err.to_string();
        assert!(msg.contains("tls.key") && msg.contains("--force"), "{msg}");
        assert!(!dir.path().join("ca.crt").exists());
        assert_eq!(fs::read_to_string(dir.path().join("tls.key")).expect("key"), "keep me");
    }

    #[test]
    fn force_overwrites_existing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = generate(&strings(&["localhost"])).expect("generate");
        write(dir.path(), &first, false).expect("first write");
        let second = generate(&strings(&["localhost"])).expect("generate");
        write(dir.path(), &second, true).expect("forced write");
        assert_eq!(fs::read_to_string(dir.path().join("tls.crt")).expect("crt"), second.cert_pem);
    }

    #[test]
    fn unwritable_target_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("tls.crt")).expect("dir in the way");
        let certs = generate(&strings(&["localhost"])).expect("generate");
        let err = write(dir.path(), &certs, true).expect_err("must fail");
        assert!(matches!(&err, CertsError::Write { path, .. } if path.ends_with("tls.crt")), "{err}");
    }
}

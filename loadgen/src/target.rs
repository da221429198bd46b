//! The webhook URL to load, and the guard that keeps load on this machine: only loopback hosts are
//! accepted, and names are never resolved through DNS, so no request can leave the host.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hyper::Uri;
use rustls::pki_types::ServerName;

/// Why a URL cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{url:?} is not a valid URL: {source}")]
    Invalid {
        url: String,
        #[source]
        source: hyper::http::uri::InvalidUri,
    },
    #[error("{url:?}: the scheme must be https (webhooks are served over TLS)")]
    NotHttps { url: String },
    #[error("{url:?} has no host")]
    NoHost { url: String },
    #[error(
        "refusing to send load to {host:?}: only loopback hosts are allowed (127.0.0.0/8, ::1, localhost)"
    )]
    NotLoopback { host: String },
    #[error("{host:?} is not a valid TLS server name")]
    ServerName { host: String },
}

/// A loopback HTTPS endpoint, with everything a request to it needs precomputed.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where to connect: always a loopback address.
    pub addr: SocketAddr,
    /// The name the server certificate must carry (the URL's host as written).
    pub server_name: ServerName<'static>,
    /// `host:port` as written, for the HTTP/1.1 `Host` header.
    pub authority: String,
    /// Origin-form request target (`/validate?timeout=10s`), what HTTP/1.1 sends.
    pub path_and_query: String,
    /// The whole URL, what HTTP/2 sends as `:scheme`, `:authority` and `:path`.
    pub uri: Uri,
}

impl Target {
    /// Parses an `https://` URL whose host is loopback.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let uri: Uri = url.parse().map_err(|source| TargetError::Invalid { url: url.into(), source })?;
        if uri.scheme_str() != Some("https") {
            return Err(TargetError::NotHttps { url: url.into() });
        }
        let authority = uri.authority().ok_or_else(|| TargetError::NoHost { url: url.into() })?.clone();
        let host = authority.host();
        if host.is_empty() {
            return Err(TargetError::NoHost { url: url.into() });
        }
        let ip = loopback_ip(host)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_owned())
            .map_err(|_| TargetError::ServerName { host: host.into() })?;
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(Target {
            addr: SocketAddr::new(ip, authority.port_u16().unwrap_or(443)),
            server_name,
            authority: authority.as_str().to_owned(),
            path_and_query,
            uri,
        })
    }
}

/// The loopback address for a URL host: `localhost` is 127.0.0.1, IP literals must be loopback, and
/// every other name is refused (resolving it could point anywhere).
pub fn loopback_ip(host: &str) -> Result<IpAddr, TargetError> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let refused = || TargetError::NotLoopback { host: host.into() };
    let ip: IpAddr = bare.parse().map_err(|_| refused())?;
    let loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    };
    if loopback { Ok(ip) } else { Err(refused()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_loopback_hosts() {
        for ok in ["localhost", "LOCALHOST", "127.0.0.1", "127.255.0.9", "[::1]", "::1", "[::ffff:127.0.0.1]"]
        {
            assert!(loopback_ip(ok).is_ok(), "{ok}");
        }
        for bad in [
            "10.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "0.0.0.0",
            "[::]",
            "[fe80::1]",
            "[::ffff:10.0.0.1]",
            "example.com",
            "localhost.example.com",
            "localhost.",
            "127.0.0.1.nip.io",
        ] {
            let err = loopback_ip(bad).unwrap_err();
            assert!(matches!(err, TargetError::NotLoopback { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("only loopback hosts"), "{err}");
        }
    }

    #[test]
    fn parses_https_urls() {
        let t = Target::parse("https://localhost:8443/validate?timeout=10s").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(t.authority, "localhost:8443");
        assert_eq!(t.path_and_query, "/validate?timeout=10s");
        assert_eq!(t.server_name, ServerName::try_from("localhost").unwrap());

        let t = Target::parse("https://[::1]/mutate").unwrap();
        assert_eq!(t.addr, "[::1]:443".parse().unwrap());
        assert!(matches!(t.server_name, ServerName::IpAddress(_)));

        assert_eq!(Target::parse("https://127.0.0.2:9").unwrap().path_and_query, "/");
    }

    #[test]
    fn refuses_other_urls() {
        assert!(matches!(Target::parse("http://127.0.0.1:8443/"), Err(TargetError::NotHttps { .. })));
        assert!(matches!(Target::parse("127.0.0.1:8443"), Err(TargetError::NotHttps { .. })));
        assert!(matches!(Target::parse("https://10.1.2.3/validate"), Err(TargetError::NotLoopback { .. })));
        assert!(matches!(Target::parse("https://example.com/"), Err(TargetError::NotLoopback { .. })));
        assert!(matches!(Target::parse("not a url"), Err(TargetError::Invalid { .. })));
    }
}

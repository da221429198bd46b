//! One HTTPS connection, made by hand (TCP, rustls, hyper's connection-level client), so the number of
//! connections is exactly what was asked for and a new-connection run really does a handshake each time.

use std::{path::Path, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request, StatusCode,
    client::conn::{http1, http2},
    header,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{
    ClientConfig, RootCertStore,
    client::Resumption,
    pki_types::{CertificateDer, pem::PemObject},
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::target::Target;

/// Why a connection could not be made or a request not completed; the kind is what reports count.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA file {path}: {source}")]
    CaRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA file {path} holds no usable PEM certificate")]
    CaEmpty { path: String },
    #[error("TLS setup: {0}")]
    TlsSetup(#[source] rustls::Error),
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("TLS handshake: {0}")]
    Handshake(#[source] std::io::Error),
    #[error("the server did not agree to HTTP/2 (ALPN)")]
    NoH2,
    #[error("HTTP handshake: {0}")]
    HttpHandshake(#[source] hyper::Error),
    #[error("request: {0}")]
    Request(#[source] hyper::Error),
    #[error("reading the response body: {0}")]
    Body(#[source] hyper::Error),
    #[error("building the request: {0}")]
    Build(#[source] hyper::http::Error),
}

impl ClientError {
    /// Short stable name for counting errors by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::CaRead { .. } | ClientError::CaEmpty { .. } | ClientError::TlsSetup(_) => "setup",
            ClientError::Connect(_) => "connect",
            ClientError::Handshake(_) => "tls",
            ClientError::NoH2 => "alpn",
            ClientError::HttpHandshake(_) => "http-handshake",
            ClientError::Request(_) => "request",
            ClientError::Body(_) => "body",
            ClientError::Build(_) => "build",
        }
    }
}

/// HTTP version spoken on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum HttpVersion {
    #[serde(rename = "HTTP/1.1")]
    Http1,
    #[serde(rename = "HTTP/2")]
    Http2,
}

/// TLS settings for every connection of a run.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
}

impl Tls {
    /// Trusts only the CAs in `ca_file`; offers only `http` by ALPN; without `resume`, every handshake
    /// is a full one.
    pub fn new(ca_file: &Path, http: HttpVersion, resume: bool) -> Result<Tls, ClientError> {
        let path = ca_file.display().to_string();
        let pem =
            std::fs::read(ca_file).map_err(|source| ClientError::CaRead { path: path.clone(), source })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            roots.add(cert).map_err(ClientError::TlsSetup)?;
        }
        if roots.is_empty() {
            return Err(ClientError::CaEmpty { path });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(ClientError::TlsSetup)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![match http {
            HttpVersion::Http1 => b"http/1.1".to_vec(),
            HttpVersion::Http2 => b"h2".to_vec(),
        }];
        if !resume {
            config.resumption = Resumption::disabled();
        }
        Ok(Tls { connector: TlsConnector::from(Arc::new(config)) })
    }
}

/// The sending half of one connection.
pub enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// What came back: the status and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// Opens one connection: TCP (no Nagle), TLS, then the HTTP handshake; the connection task runs on
/// the current runtime and ends when the returned sender is dropped.
pub async fn connect(target: &Target, tls: &Tls, http: HttpVersion) -> Result<Sender, ClientError> {
    let tcp = TcpStream::connect(target.addr).await.map_err(ClientError::Connect)?;
    tcp.set_nodelay(true).map_err(ClientError::Connect)?;
    let stream =
        tls.connector.connect(target.server_name.clone(), tcp).await.map_err(ClientError::Handshake)?;
    let io = TokioIo::new(stream);
    match http {
        HttpVersion::Http1 => {
            let (sender, conn) = http1::handshake(io).await.map_err(ClientError::HttpHandshake)?;
            tokio::spawn(conn);
            Ok(Sender::H1(sender))
        }
        HttpVersion::Http2 => {
            if io.inner().get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(ClientError::NoH2);
            }
            let (sender, conn) =
                http2::handshake(TokioExecutor::new(), io).await.map_err(ClientError::HttpHandshake)?;
            tokio::spawn(conn);
            Ok(Sender::H2(sender))
        }
    }
}

impl Sender {
    /// Another handle on the same connection (HTTP/2 only: HTTP/1.1 carries one request at a time).
    pub fn share(&self) -> Option<Sender> {
        match self {
            Sender::H1(_) => None,
            Sender::H2(s) => Some(Sender::H2(s.clone())),
        }
    }

    /// POSTs `body` (or GETs when `body` is `None`) and reads the whole response.
    pub async fn send(&mut self, target: &Target, body: Option<Bytes>) -> Result<Answer, ClientError> {
        let method = if body.is_some() { Method::POST } else { Method::GET };
        let builder = Request::builder().method(method);
        let builder = match self {
            Sender::H1(_) => {
                builder.uri(target.path_and_query.as_str()).header(header::HOST, target.authority.as_str())
            }
            Sender::H2(_) => builder.uri(target.uri.clone()),
        };
        let request = match body {
            Some(b) => builder.header(header::CONTENT_TYPE, "application/json").body(Full::new(b)),
            None => builder.body(Full::new(Bytes::new())),
        }
        .map_err(ClientError::Build)?;
        let response = match self {
            Sender::H1(s) => {
                s.ready().await.map_err(ClientError::Request)?;
                s.send_request(request).await
            }
            Sender::H2(s) => {
                s.ready().await.map_err(ClientError::Request)?;
                s.send_request(request).await
            }
        }
        .map_err(ClientError::Request)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(ClientError::Body)?.to_bytes();
        Ok(Answer { status, body })
    }
}

//! Time limits on the webhook's connections: a client that connects and sends nothing, or sends its
//! request head a byte at a time (slowloris), is cut off instead of holding a socket and a task for
//! as long as it likes. The TLS handshake itself is bounded by axum-server (10 s).

use std::time::Duration;

use axum_server::{
    Address, Server,
    accept::NoDelayAcceptor,
    tls_rustls::{RustlsAcceptor, RustlsConfig},
};

/// How long a connection may take to deliver what the server waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the end of the TLS handshake to the first request being dispatched (HTTP/1 and HTTP/2).
    pub first_request: Duration,
    /// For a whole HTTP/1 request head; also how long an idle keep-alive connection is kept.
    pub header_read: Duration,
    /// How often an HTTP/2 connection is pinged, so a vanished peer's connection is closed.
    pub h2_ping_interval: Duration,
    /// How long a ping may go unanswered.
    pub h2_ping_timeout: Duration,
}

impl Default for Limits {
    /// The API server sends a whole request at once and prefers HTTP/2, whose idle connections it
    /// keeps open on purpose; ten seconds is ample for it and short for an attacker.
    fn default() -> Self {
        Limits {
            first_request: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            h2_ping_interval: Duration::from_secs(30),
            h2_ping_timeout: Duration::from_secs(10),
        }
    }
}

/// The webhook's TLS listener on `addr`, with Nagle's algorithm off: answers are small and leave in
/// pieces (handshake flights, TLS records, HTTP/2 frames), and a piece held back until the peer's
/// delayed ACK costs 40 ms.
pub fn bind<A: Address>(addr: A, tls: RustlsConfig) -> Server<A, RustlsAcceptor<NoDelayAcceptor>> {
    axum_server::bind(addr).acceptor(RustlsAcceptor::new(tls).acceptor(NoDelayAcceptor::new()))
}

/// Applies the limits to a listener before it serves.
pub fn limit<A: Address, Acc>(mut server: Server<A, Acc>, limits: &Limits) -> Server<A, Acc> {
    let builder = server.http_builder();
    // axum-server's builder carries a Tokio timer for both protocols, which these need
    builder.http1().header_read_timeout(limits.header_read);
    builder.http2().keep_alive_interval(limits.h2_ping_interval).keep_alive_timeout(limits.h2_ping_timeout);
    server.first_request_timeout(limits.first_request)
}

#[cfg(test)]
mod tests {
    use std::{
        net::SocketAddr,
        time::{Duration, Instant},
    };

    use axum::{Router, routing::get};
    use axum_server::Handle;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };

    use super::*;

    const SHORT: Duration = Duration::from_millis(300);
    /// Far beyond SHORT: only reached when a limit does not apply.
    const DEADLINE: Duration = Duration::from_secs(20);

    async fn serve() -> (SocketAddr, Handle<SocketAddr>) {
        let limits = Limits {
            first_request: SHORT,
            header_read: SHORT,
            h2_ping_interval: SHORT,
            h2_ping_timeout: SHORT,
        };
        let handle: Handle<SocketAddr> = Handle::new();
        let app = Router::new().route("/", get(|| async { "ok" }));
        let server = limit(axum_server::bind(SocketAddr::from(([127, 0, 0, 1], 0))), &limits);
        let server = server.handle(handle.clone());
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        let addr = handle.listening().await.expect("listening");
        (addr, handle)
    }

    /// Reads until the server closes the connection; returns what it sent.
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "the connection was not closed");
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn get_ok(addr: SocketAddr) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        assert!(until_closed(&mut s).await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed() {
        let (addr, _handle) = serve().await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let answer = until_closed(&mut silent).await;
        assert!(!answer.contains("200"), "{answer}");
    }

    #[tokio::test]
    async fn a_request_head_sent_a_byte_at_a_time_is_cut_off_while_others_are_served() {
        let (addr, _handle) = serve().await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let started = Instant::now();
        let mut cut = false;
        while started.elapsed() < DEADLINE {
            if slow.write_all(b"X").await.is_err() {
                cut = true;
                break;
            }
            get_ok(addr).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut probe = [0u8; 64];
            if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
                cut = true;
                break;
            }
        }
        assert!(cut, "the slow client was never cut off");
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_its_request() {
        let (addr, _handle) = serve().await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        assert!(until_closed(&mut s).await.starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn defaults_leave_the_api_server_room() {
        let d = Limits::default();
        assert!(d.header_read >= Duration::from_secs(5) && d.first_request >= Duration::from_secs(5));
    }
}

//! The API server tells a webhook how long it will wait (`?timeout=10s`); past that, an answer is
//! useless, so the request is cut there.

use std::time::Duration;

use axum::{
    extract::Request,
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Longest wait honoured, whatever the query says (the API server allows at most 30 s).
const MAX: Duration = Duration::from_secs(30);

/// Middleware: runs the request under the `timeout` query parameter's deadline, if one is given.
pub async fn honour_timeout_query(request: Request, next: Next) -> Response {
    let limit = request.uri().query().and_then(timeout_param).map(|d| d.min(MAX));
    match limit {
        None => next.run(request).await,
        Some(limit) => match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => (StatusCode::GATEWAY_TIMEOUT, "the request's timeout passed before it was judged\n")
                .into_response(),
        },
    }
}

fn timeout_param(query: &str) -> Option<Duration> {
    query.split('&').find_map(|kv| kv.strip_prefix("timeout=")).and_then(parse_go_duration)
}

/// Parses a Go duration as client-go writes it (`10s`, `1m30s`, `500ms`, `1.5s`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    (total.is_finite() && total > 0.0).then(|| Duration::from_secs_f64(total.min(MAX.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_client_go_sends() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(30)), "capped at 30 s");
        assert_eq!(parse_go_duration("1m"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("2s500ms"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("0s"), None);
        assert_eq!(parse_go_duration("10x"), None);
        assert_eq!(timeout_param("a=b&timeout=2s"), Some(Duration::from_secs(2)));
    }
}

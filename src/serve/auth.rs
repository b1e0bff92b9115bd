//! The bearer token of `convlab serve`. Listening beyond this machine needs one (TorchServe
//! does the same by default): anyone who can reach the port could otherwise use the model
//! and read what it is. `GET /health` stays open, for load balancers and probes, and says
//! nothing about the model; so does `GET /`, the page, whose own requests carry the token.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{AppState, error};
use crate::error::{Error, Result};

/// Refuse to listen on `ip` without a token unless only this machine can connect.
pub fn check_config(ip: IpAddr, token: Option<&str>) -> Result<()> {
    match token {
        Some("") => Err(Error::input("--token", "is empty")),
        None if !ip.is_loopback() => Err(Error::input(
            "--host",
            format!(
                "{ip} is reachable from other machines: give a token (--token or CONVLAB_TOKEN); clients then send `Authorization: Bearer <token>`"
            ),
        )),
        _ => Ok(()),
    }
}

/// Middleware: 401 unless the request carries the server's token (when it has one).
pub async fn require_token(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(token) = s.token.as_deref() else {
        return next.run(req).await;
    };
    // The page holds nothing secret (it asks for the token itself); probes need no token.
    if matches!(req.uri().path(), "/" | "/health") {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| same_bytes(g.trim().as_bytes(), token.as_bytes())) {
        return next.run(req).await;
    }
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong token: send `Authorization: Bearer <token>`",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

/// Equality that takes the same time wherever the first difference is, so response times
/// do not reveal how much of a guessed token was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

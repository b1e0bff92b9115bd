//! `convlab serve`: the checkpoint behind HTTP. `POST /predict` (raw image bytes or a
//! multipart upload) answers the top-k classes as JSON, `GET /health` and `GET /model`
//! describe the server and the model. Requests arriving together are run as one batch
//! by a single inference thread (see batcher.rs).

mod auth;
mod batcher;
mod listener;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::model::checkpoint::CheckpointMeta;
use crate::model::predictor::{Predictor, decode_for, top_k};
use crate::model::spec::trainable_params;
use batcher::Batcher;

pub struct ServeOptions {
    pub host: String,
    pub port: u16,
    /// Largest batch the inference thread assembles.
    pub max_batch: usize,
    /// How long the first request of a batch waits for company, in milliseconds.
    pub max_wait_ms: u64,
    /// Uploads above this many bytes get 413.
    pub max_bytes: usize,
    pub top_k: usize,
    /// Clients must send `Authorization: Bearer <token>` (required off loopback).
    pub token: Option<String>,
    /// Connections open at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: std::time::Duration,
}

struct AppState {
    /// Shared with the decoding threads without copying it per request.
    meta: Arc<CheckpointMeta>,
    batcher: Batcher,
    max_bytes: usize,
    top_k: usize,
    token: Option<String>,
}

#[derive(Deserialize)]
struct PredictQuery {
    k: Option<usize>,
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

pub fn run(predictor: Predictor, opts: ServeOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::process("the server runtime", e))?;
    runtime.block_on(serve(predictor, opts))
}

async fn serve(predictor: Predictor, opts: ServeOptions) -> Result<()> {
    let addr: SocketAddr = format!("{}:{}", opts.host, opts.port)
        .parse()
        .map_err(|e| {
            Error::input(
                "--host",
                format!("\"{}\" is not an IP address ({e})", opts.host),
            )
        })?;
    auth::check_config(addr.ip(), opts.token.as_deref())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::input(format!("{addr}"), format!("cannot listen there ({e})")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::input(format!("{addr}"), format!("no local address ({e})")))?;
    let meta = Arc::new(predictor.meta.clone());
    let state = Arc::new(AppState {
        meta,
        batcher: Batcher::start(predictor, opts.max_batch.max(1), opts.max_wait_ms),
        max_bytes: opts.max_bytes,
        top_k: opts.top_k,
        token: opts.token,
    });
    let app = Router::new()
        .route("/predict", post(predict))
        .route("/health", get(health))
        .route("/model", get(model))
        .layer(DefaultBodyLimit::max(opts.max_bytes))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_token,
        ))
        .with_state(state);
    // Tests and scripts read this line to find the port (useful with --port 0).
    println!("listening on http://{local}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let listener =
        listener::LimitedListener::new(listener, opts.max_connections, opts.idle_timeout);
    axum::serve(listener, app)
        .await
        .map_err(|e| Error::process("the server", format!("stopped: {e}")))
}

async fn health(State(s): State<Arc<AppState>>) -> Response {
    let st = &s.batcher.stats;
    Json(json!({
        "status": "ok",
        "requests": st.requests.load(Ordering::Relaxed),
        "batches": st.batches.load(Ordering::Relaxed),
        "largest_batch": st.largest.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn model(State(s): State<Arc<AppState>>) -> Response {
    let m = &s.meta;
    Json(json!({
        "classes": m.classes,
        "input": m.input,
        "dataset": m.dataset,
        "mean": m.mean,
        "std": m.std,
        "trained_on": m.device,
        "epoch": m.epoch,
        "summary": m.summary,
        "layers": m.layers,
        "parameters": trainable_params(&m.layers, m.input_shape()),
        "convlab_version": m.convlab_version,
        "burn_version": m.burn_version,
    }))
    .into_response()
}

/// Past the limit the rest of an upload is still read (and dropped), up to this much, so
/// the client finishes sending and reads the 413 instead of a reset connection.
const DRAIN_BYTES: usize = 64 << 20;

/// The whole body if it fits in `limit` bytes; otherwise None, after draining it.
async fn read_limited(
    mut body: Body,
    limit: usize,
) -> std::result::Result<Option<Vec<u8>>, Response> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| error(StatusCode::BAD_REQUEST, format!("reading the upload: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= limit {
                buf.extend_from_slice(&data);
            } else if seen > limit.saturating_add(DRAIN_BYTES) {
                break;
            }
        }
    }
    Ok((seen <= limit).then_some(buf))
}

/// The upload: the body itself, or the first file field of a multipart form. The size
/// limit applies to the whole body.
async fn upload(s: &AppState, req: Request) -> std::result::Result<Bytes, Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (parts, body) = req.into_parts();
    let Some(bytes) = read_limited(body, s.max_bytes).await? else {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("upload larger than {} bytes", s.max_bytes),
        ));
    };
    if !multipart {
        return Ok(Bytes::from(bytes));
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    match form.next_field().await {
        Ok(Some(field)) => field
            .bytes()
            .await
            .map_err(|e| error(e.status(), e.body_text())),
        Ok(None) => Err(error(StatusCode::BAD_REQUEST, "the form has no file field")),
        Err(e) => Err(error(e.status(), e.body_text())),
    }
}

async fn predict(
    State(s): State<Arc<AppState>>,
    Query(q): Query<PredictQuery>,
    req: Request,
) -> Response {
    let k = q.k.unwrap_or(s.top_k).clamp(1, s.meta.classes.len().max(1));
    let bytes = match upload(&s, req).await {
        Ok(b) if b.is_empty() => {
            return error(
                StatusCode::BAD_REQUEST,
                "empty upload: send the image bytes",
            );
        }
        Ok(b) => b,
        Err(r) => return r,
    };
    let started = std::time::Instant::now();
    // Decoding is CPU work: keep it off the async threads.
    let meta = Arc::clone(&s.meta);
    let decoded = tokio::task::spawn_blocking(move || decode_for(&meta, &bytes, "upload")).await;
    let pixels = match decoded {
        Ok(Ok(px)) => px,
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    match s.batcher.infer(pixels).await {
        Some(probs) => Json(json!({
            "top": top_k(&s.meta.classes, &probs, k),
            "milliseconds": started.elapsed().as_secs_f64() * 1e3,
        }))
        .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the inference thread stopped",
        ),
    }
}

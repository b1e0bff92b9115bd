//! `convlab serve`: the checkpoint behind HTTP. `POST /predict` (raw image bytes or a
//! multipart upload) answers the top-k classes as JSON, `GET /health` and `GET /model`
//! describe the server and the model. Requests arriving together are run as one batch
//! by a single inference thread (see batcher.rs).

mod api;
mod auth;
mod batcher;
mod listener;
mod query;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;

use crate::error::{Error, Result};
use crate::model::checkpoint::CheckpointMeta;
use crate::model::params::trainable_params;
use crate::model::predictor::{Predictor, decode_for, looks_inverted, top_k};
use batcher::Batcher;
use query::PredictQuery;

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

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = api::ApiError {
        error: message.to_string(),
    };
    (status, Json(body)).into_response()
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
        .route("/", get(page))
        .route("/predict", post(predict))
        .route("/health", get(health))
        .route("/model", get(model))
        .route("/openapi.json", get(openapi_json))
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

/// A page where a person drops an image and sees the top classes as bars (no external
/// assets). Needs no token; the page asks for one when the server has it.
#[utoipa::path(
    get,
    path = "/",
    tag = "serve",
    responses((status = 200, description = "the page", content_type = "text/html"))
)]
async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("page.html"))
}

/// The server is up; batching counters. Needs no token.
#[utoipa::path(get, path = "/health", tag = "serve", responses((status = 200, body = api::Health)))]
async fn health(State(s): State<Arc<AppState>>) -> Json<api::Health> {
    let st = &s.batcher.stats;
    Json(api::Health {
        status: "ok".into(),
        requests: st.requests.load(Ordering::Relaxed),
        batches: st.batches.load(Ordering::Relaxed),
        largest_batch: st.largest.load(Ordering::Relaxed),
    })
}

/// What the checkpoint is: classes, input, normalization, layers, training summary.
#[utoipa::path(
    get,
    path = "/model",
    tag = "serve",
    responses(
        (status = 200, body = api::ModelInfo),
        (status = 401, description = "missing or wrong token", body = api::ApiError)
    ),
    security((), ("bearer" = []))
)]
async fn model(State(s): State<Arc<AppState>>) -> Json<api::ModelInfo> {
    let m = &s.meta;
    Json(api::ModelInfo {
        classes: m.classes.clone(),
        input: m.input,
        dataset: m.dataset.clone(),
        mean: m.mean.clone(),
        std: m.std.clone(),
        trained_on: m.device.clone(),
        epoch: m.epoch,
        summary: m.summary.clone(),
        layers: serde_json::to_value(&m.layers).unwrap_or_default(),
        parameters: trainable_params(&m.layers, m.input_shape()),
        convlab_version: m.convlab_version.clone(),
        burn_version: m.burn_version.clone(),
    })
}

/// This description (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "serve",
    responses(
        (status = 200, description = "the OpenAPI document", content_type = "application/json"),
        (status = 401, description = "missing or wrong token", body = api::ApiError)
    ),
    security((), ("bearer" = []))
)]
async fn openapi_json() -> Response {
    use utoipa::OpenApi as _;
    Json(api::ApiDoc::openapi()).into_response()
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

/// The upload: the body itself, or the one file field of a multipart form (text fields
/// beside it are ignored; two files are refused, not half answered). The size limit
/// applies to the whole body.
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
    // (has a file name, bytes) of every field; a text field (`-F k=3`) is not the image.
    let mut fields = Vec::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let named = field.file_name().is_some();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| error(e.status(), e.body_text()))?;
                fields.push((named, bytes));
            }
            Ok(None) => break,
            Err(e) => return Err(error(e.status(), e.body_text())),
        }
    }
    let files = fields.iter().filter(|(named, _)| *named).count();
    match (files, fields.len()) {
        (0, 0) => Err(error(StatusCode::BAD_REQUEST, "the form has no file field")),
        // One field without a file name is taken as the image, as before.
        (0, 1) => Ok(fields.remove(0).1),
        (0, n) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("the form has {n} fields and no file among them: send the image as a file"),
        )),
        (1, _) => Ok(fields
            .into_iter()
            .find(|(named, _)| *named)
            .map(|(_, b)| b)
            .unwrap_or_default()),
        (n, _) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("the form has {n} files: send one image per request"),
        )),
    }
}

/// Classify one image: its bytes (PNG, JPEG, BMP, GIF, WebP, TIFF, PPM/PGM) as the body, or
/// the one file field of a multipart form; any size (resized to the model's input).
#[utoipa::path(
    post,
    path = "/predict",
    tag = "serve",
    params(PredictQuery),
    request_body(
        content(
            ([u8] = "image/png"),
            ([u8] = "image/jpeg"),
            ([u8] = "image/webp"),
            ([u8] = "application/octet-stream"),
            (api::UploadForm = "multipart/form-data")
        ),
        description = "the image"
    ),
    responses(
        (status = 200, body = api::Prediction),
        (status = 400, description = "empty, not an image, or a broken form or one of several files", body = api::ApiError),
        (status = 401, description = "missing or wrong token", body = api::ApiError),
        (status = 413, description = "larger than --max-bytes", body = api::ApiError),
        (status = 503, description = "the inference thread stopped", body = api::ApiError)
    ),
    security((), ("bearer" = []))
)]
async fn predict(
    State(s): State<Arc<AppState>>,
    query: std::result::Result<Query<PredictQuery>, QueryRejection>,
    req: Request,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let (k, invert) = match q.resolve(s.top_k, s.meta.classes.len()) {
        Ok(o) => o,
        Err(problem) => return error(StatusCode::BAD_REQUEST, problem),
    };
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
    let decoded =
        tokio::task::spawn_blocking(move || decode_for(&meta, &bytes, "upload", invert)).await;
    let pixels = match decoded {
        Ok(Ok(px)) => px,
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let negative = looks_inverted(&s.meta, &pixels);
    match s.batcher.infer(pixels).await {
        Some(probs) => Json(api::Prediction {
            top: top_k(&s.meta.classes, &probs, k)
                .into_iter()
                .map(|g| api::Guess {
                    class: g.class,
                    probability: g.probability,
                })
                .collect(),
            milliseconds: started.elapsed().as_secs_f64() * 1e3,
            looks_inverted: negative,
        })
        .into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the inference thread stopped",
        ),
    }
}

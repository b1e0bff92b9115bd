//! The server's answers as types, and its OpenAPI description generated from them and from
//! the handlers' annotations (utoipa), served at `GET /openapi.json`. Clients (and
//! schemathesis, bench/serve_schemathesis.sh) read the contract from the server itself, so it
//! cannot drift from what the handlers return.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// One class and its probability.
#[derive(Serialize, ToSchema)]
pub struct Guess {
    pub class: String,
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub probability: f32,
}

/// `POST /predict`: the top classes, most probable first.
#[derive(Serialize, ToSchema)]
pub struct Prediction {
    pub top: Vec<Guess>,
    /// Time from the decoded upload to the answer.
    pub milliseconds: f64,
    /// The image looks like a negative of the training images (dark on light where they
    /// were light on dark, as `predict` warns): send it again with `?invert=true`.
    pub looks_inverted: bool,
}

/// `GET /health`: the server is up, and its batching so far.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always "ok".
    pub status: String,
    pub requests: u64,
    pub batches: u64,
    pub largest_batch: u64,
}

/// `GET /model`: what the checkpoint is.
#[derive(Serialize, ToSchema)]
pub struct ModelInfo {
    pub classes: Vec<String>,
    /// Channels, height, width.
    pub input: [usize; 3],
    pub dataset: String,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// The device it was trained on ("cpu", "cuda").
    pub trained_on: String,
    pub epoch: usize,
    /// The run's summary.json.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    /// The layer list, as in a run config.
    #[schema(value_type = Vec<Object>)]
    pub layers: serde_json::Value,
    /// Trainable parameters, counted as PyTorch does.
    pub parameters: usize,
    pub convlab_version: String,
    pub burn_version: String,
}

/// Every 4xx and 5xx answer.
#[derive(Serialize, ToSchema)]
pub struct ApiError {
    /// One line saying what was wrong.
    pub error: String,
}

/// Adds the bearer scheme (used when the server has a token).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "convlab serve",
        description = "A trained convlab checkpoint behind HTTP. With --token, every path but / and /health needs `Authorization: Bearer <token>`."
    ),
    paths(super::page, super::predict, super::health, super::model, super::openapi_json),
    components(schemas(Guess, Prediction, Health, ModelInfo, ApiError, UploadForm)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// A multipart upload: its one file field is the image.
#[derive(ToSchema)]
#[allow(dead_code)] // only described, never built: the handler reads the form itself
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

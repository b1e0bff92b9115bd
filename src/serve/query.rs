//! `POST /predict`'s query, `?k=` and `?invert=`: read as text and checked here, so `k=`,
//! `k=0`, `k=x` or `invert=maybe` is a 400 naming the parameter rather than a silent default.

use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PredictQuery {
    /// Classes in the answer (default: the server's --top-k).
    #[param(required = false, value_type = usize, minimum = 1)]
    k: Option<String>,
    /// Use the image's negative (255 - pixel): a digit drawn dark on white for a net trained
    /// on MNIST's light on black (default: false).
    #[param(required = false, value_type = bool)]
    invert: Option<String>,
}

impl PredictQuery {
    /// (k capped at the number of classes, invert), or the problem with one of them.
    pub(super) fn resolve(
        &self,
        default_k: usize,
        classes: usize,
    ) -> std::result::Result<(usize, bool), String> {
        let k = match self.k.as_deref() {
            None => default_k,
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|&k| k >= 1)
                .ok_or_else(|| format!("k: {t:?} is not a whole number of at least 1"))?,
        };
        let invert = match self.invert.as_deref() {
            None | Some("false" | "0") => false,
            Some("true" | "1") => true,
            Some(t) => return Err(format!("invert: {t:?} is not true, false, 1 or 0")),
        };
        Ok((k.clamp(1, classes.max(1)), invert))
    }
}

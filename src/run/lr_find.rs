//! The learning-rate range test's result: lr_find.csv and lr_find.json in its folder.

use serde::{Deserialize, Serialize};

/// The test stops once the smoothed loss exceeds this many times its minimum (Lightning's
/// default); the plot's view is capped there too.
pub const LR_FIND_EXPLODE: f64 = 4.0;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LrPoint {
    pub step: usize,
    pub lr: f64,
    pub loss: f64,
    pub smoothed: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LrFinding {
    pub points: Vec<LrPoint>,
    /// fastai's valley: inside the longest descent of the smoothed loss.
    pub suggested_lr: Option<f64>,
    /// The steepest descent of the smoothed loss against log(lr) (Lightning's suggestion).
    pub steepest_lr: Option<f64>,
    /// One tenth of the lr at the minimum smoothed loss (fastai's classic rule).
    pub min_loss_lr_over_10: Option<f64>,
    pub stopped_early: bool,
}

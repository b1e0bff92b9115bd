//! Running sums over one pass (the per-epoch rows themselves are `run::EpochMetrics`).

/// Running sums over one pass: mean loss and accuracy, never a running sum shown as a rate.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub loss_sum: f64,
    pub correct: u64,
    pub count: u64,
}

impl Tally {
    pub fn add(&mut self, mean_loss: f64, correct: u64, n: u64) {
        self.loss_sum += mean_loss * n as f64;
        self.correct += correct;
        self.count += n;
    }
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.count.max(1) as f64
    }
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.count.max(1) as f64
    }
}

//! Per-epoch metrics: the numbers printed, written to metrics.csv and plotted.
//! metrics.csv holds only what the seed determines, so two runs of one config give
//! byte-identical files; wall-clock seconds go to timing.csv.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub lr: f64,
    #[serde(skip)]
    pub seconds: f64,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

pub const CSV_HEADER: &str = "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr\n";

impl EpochMetrics {
    pub fn csv_row(&self) -> String {
        format!(
            "{},{:.6},{:.6},{},{},{},{},{:.6e}\n",
            self.epoch,
            self.train_loss,
            self.train_acc,
            opt(self.val_loss),
            opt(self.val_acc),
            opt(self.test_loss),
            opt(self.test_acc),
            self.lr
        )
    }

    /// The one line printed per epoch.
    pub fn line(&self, epochs: usize) -> String {
        let pair = |name: &str, l: Option<f64>, a: Option<f64>| match (l, a) {
            (Some(l), Some(a)) => format!("  {name} loss {l:.4} acc {:6.2}%", a * 100.0),
            _ => String::new(),
        };
        format!(
            "epoch {:>3}/{epochs}{}{}{}  lr {:.2e}  {:.1}s",
            self.epoch,
            pair("train", Some(self.train_loss), Some(self.train_acc)),
            pair("val", self.val_loss, self.val_acc),
            pair("test", self.test_loss, self.test_acc),
            self.lr,
            self.seconds
        )
    }
}

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

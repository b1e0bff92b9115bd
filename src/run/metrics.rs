//! metrics.csv: one row per epoch. It holds only what the seed determines, so two runs of
//! one config give byte-identical files; wall-clock seconds go to timing.csv.

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
    /// Wall-clock seconds of the epoch: printed and in timing.csv, never in metrics.csv.
    #[serde(skip)]
    pub seconds: f64,
}

pub const CSV_HEADER: &str = "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr\n";

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

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

/// metrics.csv and timing.csv for `rows`.
pub fn to_csv(rows: &[EpochMetrics]) -> (String, String) {
    let mut csv = String::from(CSV_HEADER);
    let mut timing = String::from("epoch,seconds\n");
    for r in rows {
        csv.push_str(&r.csv_row());
        timing.push_str(&format!("{},{:.3}\n", r.epoch, r.seconds));
    }
    (csv, timing)
}

/// Read metrics.csv back (columns found by name; `seconds` stays 0).
pub fn parse_metrics_csv(text: &str) -> Result<Vec<EpochMetrics>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no {name} column"))
    };
    let [
        epoch,
        train_loss,
        train_acc,
        val_loss,
        val_acc,
        test_loss,
        test_acc,
        lr,
    ] = [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "test_loss",
        "test_acc",
        "lr",
    ]
    .map(col);
    let (epoch, train_loss, train_acc, lr) = (epoch?, train_loss?, train_acc?, lr?);
    let (val_loss, val_acc, test_loss, test_acc) = (val_loss?, val_acc?, test_loss?, test_acc?);
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let bad = || format!("bad row `{line}`");
            let cell = |i: usize| f.get(i).copied().filter(|s| !s.is_empty());
            let optional = |i: usize| match cell(i) {
                None => Ok(None),
                Some(s) => s.parse::<f64>().map(Some).map_err(|_| bad()),
            };
            let required = |i: usize| optional(i)?.ok_or_else(bad);
            Ok(EpochMetrics {
                epoch: cell(epoch).and_then(|s| s.parse().ok()).ok_or_else(bad)?,
                train_loss: required(train_loss)?,
                train_acc: required(train_acc)?,
                val_loss: optional(val_loss)?,
                val_acc: optional(val_acc)?,
                test_loss: optional(test_loss)?,
                test_acc: optional(test_acc)?,
                lr: required(lr)?,
                seconds: 0.0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip() {
        let rows = vec![EpochMetrics {
            epoch: 1,
            train_loss: 0.5,
            train_acc: 0.75,
            val_loss: None,
            val_acc: None,
            test_loss: Some(0.25),
            test_acc: Some(0.875),
            lr: 1e-3,
            seconds: 0.0,
        }];
        let (csv, _) = to_csv(&rows);
        assert_eq!(parse_metrics_csv(&csv).unwrap(), rows);
        assert!(parse_metrics_csv("epoch,lr\n1,0.1\n").is_err());
    }
}

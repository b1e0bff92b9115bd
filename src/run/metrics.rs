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
    /// With train.ema_decay > 0, val_* are the moving average's; these are the training
    /// weights' own (timm validates both), so one run shows what the average adds.
    pub raw_val_loss: Option<f64>,
    pub raw_val_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub lr: f64,
    /// Wall-clock seconds of the epoch: printed and in timing.csv, never in metrics.csv.
    #[serde(skip)]
    pub seconds: f64,
}

pub const CSV_HEADER: &str = "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr\n";
/// Appended to CSV_HEADER when a row has the training weights' own val figures (EMA runs
/// only, so a run without the average keeps the file it always had).
const RAW_VAL_COLUMNS: &str = ",raw_val_loss,raw_val_acc";

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

impl EpochMetrics {
    /// One line of metrics.csv; `raw` adds the two raw_val columns.
    pub fn csv_row(&self, raw: bool) -> String {
        let raw = match raw {
            true => format!(",{},{}", opt(self.raw_val_loss), opt(self.raw_val_acc)),
            false => String::new(),
        };
        format!(
            "{},{:.6},{:.6},{},{},{},{},{:.6e}{raw}\n",
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
            "epoch {:>3}/{epochs}{}{}{}{}  lr {:.2e}  {:.1}s",
            self.epoch,
            pair("train", Some(self.train_loss), Some(self.train_acc)),
            pair("val", self.val_loss, self.val_acc),
            match self.raw_val_acc {
                Some(a) => format!(" (raw weights {:.2}%)", a * 100.0),
                None => String::new(),
            },
            pair("test", self.test_loss, self.test_acc),
            self.lr,
            self.seconds
        )
    }
}

/// metrics.csv and timing.csv for `rows`.
pub fn to_csv(rows: &[EpochMetrics]) -> (String, String) {
    let raw = rows.iter().any(|r| r.raw_val_acc.is_some());
    let mut csv = match raw {
        true => CSV_HEADER.replace('\n', &format!("{RAW_VAL_COLUMNS}\n")),
        false => CSV_HEADER.to_string(),
    };
    let mut timing = String::from("epoch,seconds\n");
    for r in rows {
        csv.push_str(&r.csv_row(raw));
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
    // Only runs with a moving average have these two.
    let [raw_val_loss, raw_val_acc] = ["raw_val_loss", "raw_val_acc"].map(|c| col(c).ok());
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
                raw_val_loss: raw_val_loss.map(optional).transpose()?.flatten(),
                raw_val_acc: raw_val_acc.map(optional).transpose()?.flatten(),
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

    fn row(epoch: usize, raw: Option<f64>) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.5,
            train_acc: 0.75,
            val_loss: None,
            val_acc: None,
            raw_val_loss: raw,
            raw_val_acc: raw,
            test_loss: Some(0.25),
            test_acc: Some(0.875),
            lr: 1e-3,
            seconds: 0.0,
        }
    }

    #[test]
    fn csv_round_trip() {
        let rows = vec![row(1, None)];
        let (csv, _) = to_csv(&rows);
        assert_eq!(csv.lines().next().unwrap(), CSV_HEADER.trim_end());
        assert_eq!(parse_metrics_csv(&csv).unwrap(), rows);
        assert!(parse_metrics_csv("epoch,lr\n1,0.1\n").is_err());
    }

    /// A run with a moving average has two more columns; an epoch without validation
    /// leaves them empty.
    #[test]
    fn raw_val_columns_round_trip() {
        let rows = vec![row(1, Some(0.125)), row(2, None)];
        let (csv, _) = to_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,lr,raw_val_loss,raw_val_acc"
        );
        assert_eq!(
            lines[1],
            "1,0.500000,0.750000,,,0.250000,0.875000,1.000000e-3,0.125000,0.125000"
        );
        assert_eq!(
            lines[2],
            "2,0.500000,0.750000,,,0.250000,0.875000,1.000000e-3,,"
        );
        assert_eq!(parse_metrics_csv(&csv).unwrap(), rows);
        assert!(row(1, Some(0.5)).line(3).contains("(raw weights 50.00%)"));
    }
}

//! A study's tables (Markdown and CSV) and the verdict in words: is the winner's lead
//! larger than the seed noise (Welch's t-test)?

use std::fmt::Write as _;

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::report::study::{Group, ReportText, Stat, StudyData};
use crate::report::{csv_field, md_cell};
use crate::run::Axis;
use crate::text::counted;

/// Welch's t-test of two samples: (t, degrees of freedom, two-sided p).
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    let (sa, sb) = (Stat::of(a), Stat::of(b));
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let (va, vb) = (sa.std.powi(2) / sa.n as f64, sb.std.powi(2) / sb.n as f64);
    if va + vb == 0.0 {
        return None;
    }
    let t = (sa.mean - sb.mean) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va.powi(2) / (sa.n - 1) as f64 + vb.powi(2) / (sb.n - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = 2.0 * (1.0 - dist.cdf(t.abs()));
    Some((t, df, p))
}

/// The group with the highest mean test accuracy (the first of equals).
pub fn best_index(groups: &[Group]) -> Option<usize> {
    (0..groups.len())
        .filter(|&i| groups[i].test.n > 0)
        .fold(None, |best: Option<usize>, i| match best {
            Some(b) if groups[b].test.mean >= groups[i].test.mean => Some(b),
            _ => Some(i),
        })
}

/// Keys that change what a run is tested on: across their values, accuracies measure
/// different tasks (MNIST's 98% beside Fashion-MNIST's 89% says nothing of the recipes).
const TEST_SET_KEYS: [&str; 4] = [
    "data.dataset",
    "data.path",
    "data.limit_test",
    "data.test_fraction",
];

/// In place of a ranking, when the variants are tested on different data: which keys say so.
pub fn other_test_sets(axes: &[Axis]) -> Option<String> {
    let keys: Vec<&str> = (axes.iter().map(|a| a.key.as_str()))
        .filter(|k| TEST_SET_KEYS.contains(k))
        .collect();
    (!keys.is_empty()).then(|| {
        format!(
            "Not ranked: the variants are tested on different data ({} differs), so their \
             accuracies measure different tasks; compare runs of one test set.",
            keys.join(", ")
        )
    })
}

/// The verdict in words: is the best variant's lead over the runner-up larger than the
/// seed-to-seed noise?
pub fn verdict(groups: &[Group]) -> String {
    let mut ranked: Vec<&Group> = groups.iter().filter(|g| g.test.n > 0).collect();
    // Stable: among equal means the first in study order leads, as in the tables.
    ranked.sort_by(|a, b| b.test.mean.total_cmp(&a.test.mean));
    let pct = |s: &Stat| format!("{:.2}%", s.mean * 100.0);
    match ranked.as_slice() {
        // Every run that ended diverged: they finished, with nothing to rank.
        [] if groups.iter().any(|g| g.diverged > 0) => {
            match groups.iter().all(|g| g.missing == 0) {
                true => {
                    "Every run diverged, so none is ranked; each diagnosis is in its summary.json."
                        .into()
                }
                false => "No run has finished without diverging yet.".into(),
            }
        }
        [] => "No run has finished yet.".into(),
        [only] if groups.len() == 1 => format!(
            "One config: test accuracy {}% over {}.",
            only.test.show(100.0, 2),
            counted(only.test.n, "run")
        ),
        [only] => format!(
            "Only {} has finished runs (test {}).",
            only.label,
            pct(&only.test)
        ),
        [best, second, ..] => {
            let gap = (best.test.mean - second.test.mean) * 100.0;
            let head = format!(
                "Best: {} with test accuracy {} over {}; runner-up: {} with {} ({:.2} points behind).",
                best.label,
                best.test.show(100.0, 2),
                counted(best.test.n, "run"),
                second.label,
                second.test.show(100.0, 2),
                gap
            );
            let judgement = match welch(&best.test_accs, &second.test_accs) {
                _ if gap.abs() < 1e-9 => "The two are tied.".to_string(),
                None if best.test.n < 2 || second.test.n < 2 => {
                    "With one seed per variant the seed noise is unknown: run study.seeds >= 3 to tell noise from effect.".to_string()
                }
                None => "Every seed gave the same accuracy, so any gap is beyond the seed noise.".to_string(),
                Some((t, df, p)) if p < 0.05 => format!(
                    "The lead is larger than the seed noise: Welch's t = {t:.2}, df = {df:.1}, p = {p:.3} (< 0.05)."
                ),
                Some((t, df, p)) => format!(
                    "The lead is NOT clearly larger than the seed noise: Welch's t = {t:.2}, df = {df:.1}, p = {p:.2} (>= 0.05); more seeds would tell."
                ),
            };
            format!("{head} {judgement}")
        }
    }
}

/// Whether a table of these groups has the trained weights' own val accuracy beside the
/// moving average's: only where some run kept a moving average (train.ema_decay).
pub fn raw_column(groups: &[Group]) -> bool {
    groups.iter().any(|g| g.averaged)
}

/// The column of the test accuracy (the one the best row's is bold in).
pub fn test_column(raw: bool) -> usize {
    if raw { 4 } else { 3 }
}

/// Column titles of every study table; `raw` as [`raw_column`] says.
pub fn header(first: &str, raw: bool) -> Vec<String> {
    let mut h = vec![
        first.to_string(),
        "runs".into(),
        "best val acc (%)".into(),
        "test acc (%)".into(),
        "epochs to best".into(),
        "seconds".into(),
    ];
    if raw {
        h.insert(3, "its trained weights' val acc (%)".into());
    }
    h
}

fn runs_cell(g: &Group) -> String {
    let mut s = g.finished.to_string();
    if g.diverged > 0 {
        s.push_str(&format!(" +{} diverged", g.diverged));
    }
    if g.missing > 0 {
        s.push_str(&format!(" +{} not run", g.missing));
    }
    if g.repeats > 0 {
        s.push_str(&format!(" +{} of a seed", counted(g.repeats, "repeat")));
    }
    s
}

pub fn cells(g: &Group, raw: bool) -> Vec<String> {
    let mut c = vec![
        g.label.clone(),
        runs_cell(g),
        g.best_val.show(100.0, 2),
        g.test.show(100.0, 2),
        g.epochs_to_best.show(1.0, 1),
        g.seconds.show(1.0, 1),
    ];
    if raw {
        c.insert(3, g.raw_val.show(100.0, 2));
    }
    c
}

pub fn markdown_table(first: &str, groups: &[Group]) -> String {
    let raw = raw_column(groups);
    let titles = header(first, raw);
    let mut out = format!(
        "| {} |\n|---|{}\n",
        titles.join(" | "),
        "---:|".repeat(titles.len() - 1)
    );
    let best = best_index(groups);
    for (i, g) in groups.iter().enumerate() {
        let mut c = cells(g, raw);
        c[0] = md_cell(&c[0]);
        let t = test_column(raw);
        if Some(i) == best {
            c[t] = format!("**{}**", c[t]);
        }
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    out
}

pub fn csv(data: &StudyData, groups: &[Group]) -> String {
    let axes: Vec<&str> = data.index.axes.iter().map(|a| a.name.as_str()).collect();
    let mut out = format!(
        "variant,{}{}finished,diverged,missing,repeats,best_val_acc_mean,best_val_acc_std,raw_val_acc_mean,raw_val_acc_std,test_acc_mean,test_acc_std,epochs_to_best_mean,epochs_to_best_std,seconds_mean,seconds_std\n",
        axes.join(","),
        if axes.is_empty() { "" } else { "," }
    );
    for (g, v) in groups.iter().zip(&data.index.variants) {
        let opt = |s: &Stat, d: usize| {
            if s.n == 0 {
                ",".to_string()
            } else {
                format!("{:.d$},{:.d$}", s.mean, s.std)
            }
        };
        let mut fields = vec![csv_field(&g.label)];
        fields.extend(v.values.iter().map(|x| csv_field(x)));
        fields.extend([
            g.finished.to_string(),
            g.diverged.to_string(),
            g.missing.to_string(),
            g.repeats.to_string(),
        ]);
        fields.extend([
            opt(&g.best_val, 6),
            opt(&g.raw_val, 6),
            opt(&g.test, 6),
            opt(&g.epochs_to_best, 2),
            opt(&g.seconds, 2),
        ]);
        let _ = writeln!(out, "{}", fields.join(","));
    }
    out
}

pub fn markdown(data: &StudyData, r: &ReportText, figures: &[String]) -> String {
    let first = if data.index.axes.len() == 1 {
        data.index.axes[0].name.clone()
    } else {
        "variant".into()
    };
    let sets: String = data
        .index
        .overrides
        .iter()
        .map(|o| format!(" --set {o}"))
        .collect();
    // With a moving average the numbers are not the trained weights'.
    // (Of the runs with results: one not run yet has no config to tell.)
    let ran = data.runs.iter().filter(|r| r.summary.is_some());
    let averaged = match ran.clone().filter(|r| r.averaged).count() {
        0 => "",
        n if n == ran.count() => {
            "; val and test accuracy are those of the moving average of the weights (train.ema_decay), and \"its trained weights' val acc\" is the val accuracy of the weights it averages, at the same epoch"
        }
        _ => {
            "; for the runs with train.ema_decay > 0, val and test accuracy are those of the moving average of the weights, and \"its trained weights' val acc\" is the val accuracy of the weights it averages, at the same epoch"
        }
    };
    let mut out = format!(
        "# {}\n\n{}{}; {}. Mean ± std over seeds; test accuracy is that of the weights each run ends with{averaged}.\n\n",
        r.title,
        data.index.source(),
        if sets.is_empty() {
            String::new()
        } else {
            format!(" (with{sets})")
        },
        data.index.shape()
    );
    out.push_str(&markdown_table(&first, &r.variants));
    for (axis, groups) in &r.per_axis {
        let _ = write!(
            out,
            "\n### By {axis} (over all other axes and seeds)\n\n{}",
            markdown_table(axis, groups)
        );
    }
    let _ = writeln!(out, "\n{}", r.verdict);
    for line in &r.repeats {
        let _ = writeln!(out, "\n{line}");
    }
    if !r.diverged.is_empty() {
        let _ = writeln!(
            out,
            "\nDiverged: {} (see their summary.json for the diagnosis).",
            r.diverged.join(", ")
        );
    }
    for f in figures {
        let _ = writeln!(out, "\n![{f}]({f}.png)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(label: &str, accs: &[f64], diverged: usize, missing: usize) -> Group {
        Group {
            label: label.into(),
            finished: accs.len(),
            diverged,
            missing,
            repeats: 0,
            best_val: Stat::of(&[]),
            raw_val: Stat::of(&[]),
            averaged: false,
            test: Stat::of(accs),
            epochs_to_best: Stat::of(&[]),
            seconds: Stat::of(&[]),
            test_accs: accs.to_vec(),
        }
    }

    /// A study of lr 1e4 and 1e5 (both diverge) said "No run has finished yet." after every
    /// run had ended.
    #[test]
    fn a_study_whose_runs_all_diverged_says_so() {
        let diverged = [group("a", &[], 1, 0), group("b", &[], 1, 0)];
        assert_eq!(
            verdict(&diverged),
            "Every run diverged, so none is ranked; each diagnosis is in its summary.json."
        );
        let waiting = [group("a", &[], 1, 0), group("b", &[], 0, 1)];
        assert_eq!(
            verdict(&waiting),
            "No run has finished without diverging yet."
        );
        assert_eq!(
            verdict(&[group("a", &[], 0, 2)]),
            "No run has finished yet."
        );
        assert!(
            verdict(&[group("a", &[0.9], 1, 0), group("b", &[0.8], 0, 0)]).starts_with("Best: a")
        );
    }
}

//! `convlab eval`'s precision, F1 and their macro averages are scikit-learn's, and its most
//! confused pairs are the confusion matrix's largest off-diagonal cells (fastai's most_confused).
//!
//! Expected numbers, scikit-learn 1.9.1:
//! ```python
//! from sklearn.metrics import classification_report
//! y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
//! y_pred = [0, 0, 1, 2, 1, 1, 0, 2, 2, 2]
//! print(classification_report(y_true, y_pred, labels=[0, 1, 2, 3], digits=6, zero_division=0))
//! #   0  0.666667  0.500000  0.571429   4
//! #   1  0.666667  0.666667  0.666667   3
//! #   2  0.500000  1.000000  0.666667   2
//! #   3  0.000000  0.000000  0.000000   1
//! #   macro avg  0.458333  0.541667  0.476190  10
//! ```
//! A fifth class with no image and no prediction is left out of the averages, as
//! scikit-learn's labels are the classes in y_true or y_pred.

use convlab::report::diagnostics::diagnose;

#[test]
fn precision_f1_and_macro_average_are_scikit_learns() {
    let y_true = [0u8, 0, 0, 0, 1, 1, 1, 2, 2, 3];
    let y_pred = [0usize, 0, 1, 2, 1, 1, 0, 2, 2, 2];
    let classes: Vec<String> = ["zero", "one", "two", "three", "four"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // Probabilities that put 0.6 on the prediction and 0.1 on each other class.
    let probs: Vec<f32> = y_pred
        .iter()
        .flat_map(|&p| (0..5).map(move |c| if c == p { 0.6 } else { 0.1 }))
        .collect();
    let d = diagnose(&probs, &y_true, &classes);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    let want = [
        (Some(0.666667), 0.5, 0.571429),
        (Some(0.666667), 0.666667, 0.666667),
        (Some(0.5), 1.0, 0.666667),
        (None, 0.0, 0.0), // never predicted: precision undefined (scikit-learn: 0)
    ];
    for (c, (precision, recall, f1)) in want.iter().enumerate() {
        let got = &d.per_class[c];
        assert!(close(got.accuracy, *recall), "{c}: recall {}", got.accuracy);
        assert!(close(got.f1, *f1), "{c}: f1 {}", got.f1);
        match (got.precision, precision) {
            (Some(g), Some(w)) => assert!(close(g, *w), "{c}: precision {g}"),
            (g, w) => assert_eq!(g, *w, "{c}: precision"),
        }
    }
    assert_eq!(d.per_class[4].precision, None);
    let m = &d.macro_average;
    assert!(close(m.precision, 0.458333), "{m:?}");
    assert!(close(m.recall, 0.541667), "{m:?}");
    assert!(close(m.f1, 0.476190), "{m:?}");
    assert!(close(d.accuracy, 0.6));
    // Off-diagonal cells: 0 as 1, 0 as 2, 1 as 0, 3 as 2, one image each; ties keep
    // the matrix's order (true class, then predicted).
    assert_eq!(
        d.most_confused_line(3),
        "zero as one (1), zero as two (1), one as zero (1)"
    );
    assert_eq!(d.most_confused.len(), 4);
    let table = d.per_class_table();
    assert!(
        table.contains("| three | 1 | 0.00 | - | 0.00 |")
            && table.contains("| four | 0 | - | - | - |")
            && table.contains("| macro average | 10 | 54.17 | 45.83 | 47.62 |"),
        "{table}"
    );
}

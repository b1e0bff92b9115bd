//! A diverged run keeps its folder and checkpoints; using them (predict, eval, serve, ...)
//! warns that the weights are from a run that diverged: predict gave chance-level answers
//! with no hint.

use super::*;

#[test]
fn a_diverged_runs_checkpoint_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    // SGD at lr 1e4 diverges at once (tests/cli/main.rs checks the diagnosis).
    let sets = ["--set", "optimizer.name=sgd", "--set", "optimizer.lr=1e4"];
    let out = train(d, &cfg, &[&sets[..], &["--set", "train.epochs=5"]].concat());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("try 5e-2 (or a larger batch"),
        "a usual lr, not 1e3: {}",
        stderr(&out)
    );
    // TensorBoard lists it all the same, as a failed session: the event file ends with
    // SessionEndInfo { status: STATUS_FAILURE } (src/run/hparams.rs has the bytes' source).
    let events = std::fs::read(d.join("runs/tiny/events.out.tfevents.convlab")).unwrap();
    let holds = |s: &[u8]| events.windows(s.len()).any(|w| w == s);
    assert!(holds(b"_hparams_/session_start_info") && holds(b"_hparams_/session_end_info"));
    assert!(
        holds(b"\x22\x0b\x08\x02\x11"),
        "status 2, then the end time"
    );
    image::GrayImage::from_raw(28, 28, pattern(1, 4, 28, 5))
        .unwrap()
        .save(d.join("one.png"))
        .unwrap();
    // That run diverged before its first epoch ended, so it has no best.ckpt; one that
    // diverged later has: a completed run's summary marked as diverged stands for it.
    let out = train(d, &cfg, &["--set", "name=fine", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = convlab(&["predict", "--checkpoint", "runs/fine", "one.png"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("diverged"), "{}", stderr(&out));
    let summary = d.join("runs/fine/summary.json");
    let text = std::fs::read_to_string(&summary).unwrap();
    let marked = text.replacen("\"completed\"", "\"diverged\"", 1);
    assert_ne!(marked, text);
    std::fs::write(&summary, marked).unwrap();
    for checkpoint in ["runs/fine", "runs/fine/best.ckpt"] {
        let out = convlab(&["predict", "--checkpoint", checkpoint, "one.png"], d);
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("warning: runs/fine: its run diverged (summary.json); best.ckpt holds its best epoch before that"),
            "{err}"
        );
    }
}

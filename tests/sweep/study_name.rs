//! Which name a study's folder gets: its file's [study] name, the base run's, or a `--set`.

use super::*;

/// `--set name=...` names the study even when its file has a [study] name (it was silently
/// ignored there); a `--set study.name=...` beside it wins, being the study's own key.
#[test]
fn a_set_name_beats_the_files_study_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 40, "name = \"in-file\"\n[study.axes]\nlr = [1e-3]\n");
    let first_line = |extra: &[&str]| {
        let out = sweep(d, &[&["--list"], extra].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().next().unwrap_or_default().trim().to_string()
    };
    assert_eq!(first_line(&[]), "0  runs/in-file/lr=0.001/seed-0");
    assert_eq!(
        first_line(&["--set", "name=typed"]),
        "0  runs/typed/lr=0.001/seed-0"
    );
    let both = ["--set", "name=typed", "--set", "study.name=study-key"];
    assert_eq!(first_line(&both), "0  runs/study-key/lr=0.001/seed-0");
}

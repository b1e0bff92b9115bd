//! Studies that outlive one process: a SIGKILLed sweep resumed, emitted job files, --jobs
//! in parallel, a run folder held by another process, and two sweeps of one study at once.

use super::*;

#[test]
fn sigkilled_sweep_resumes_and_ends_as_an_uninterrupted_one() {
    kill_and_resume("");
}

/// SGD's velocity (our one-pass Sgd's own state type) survives the resume file too.
#[test]
fn sigkilled_momentum_sgd_sweep_resumes_exactly() {
    kill_and_resume("[optimizer]\nname = \"sgd-momentum\"\nnesterov = true\nweight_decay = 5e-4\n");
}

/// Adagrad's step count (a recorded scalar) and RMSprop's momentum buffer, likewise.
#[test]
fn sigkilled_adagrad_and_rmsprop_sweeps_resume_exactly() {
    kill_and_resume("[optimizer]\nname = \"adagrad\"\nweight_decay = 1e-3\n");
    kill_and_resume("[optimizer]\nname = \"rmsprop\"\nmomentum = 0.5\n");
}

/// Adadelta's two running averages. Its eps and rho are set so that its steps at this study's
/// lrs are long enough for metrics.csv to show a lost average (at PyTorch's eps 1e-6 the
/// weights barely move at lr 3e-3, and a resume that dropped its state would go unseen).
#[test]
fn sigkilled_adadelta_sweep_resumes_exactly() {
    kill_and_resume("[optimizer]\nname = \"adadelta\"\nrho = 0.5\neps = 1e-2\n");
}

/// Kill a two-run sweep (lr 3e-3 and 1e-3; Adam unless `optimizer` overrides the base's
/// table) during its second run, sweep again, and compare both runs with a sweep never
/// interrupted.
fn kill_and_resume(optimizer: &str) {
    let [first, second_variant] = ["lr=0.003", "lr=0.001"];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        1600,
        &format!(
            "[study.axes]\nlr = [3e-3, 1e-3]\n[train]\nepochs = 12\nlookahead_every = 3\n[schedule]\nname = \"plateau\"\npatience = 1\n{optimizer}"
        ),
    );
    // The reference: the same study, never interrupted.
    let reference = sweep(d, &["--runs-dir", "reference", "--quiet"]);
    assert!(reference.status.success(), "{}", stderr(&reference));

    let second = d
        .join("runs/tiny-study")
        .join(second_variant)
        .join("seed-0");
    // Run the study and SIGKILL it once the second run has completed at least two epochs.
    let args = [
        "sweep",
        "tiny-study.toml",
        "--data-dir",
        d.to_str().unwrap(),
        "--quiet",
    ];
    kill_after_two_epochs(d, &args, &second);

    let out = sweep(d, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{first} seed-0: completed (already done)")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{second_variant} seed-0: completed (resumed after epoch"
        )),
        "{text}"
    );
    for variant in [first, second_variant] {
        let a = std::fs::read(
            d.join("runs/tiny-study")
                .join(variant)
                .join("seed-0/metrics.csv"),
        )
        .unwrap();
        let b = std::fs::read(
            d.join("reference/tiny-study")
                .join(variant)
                .join("seed-0/metrics.csv"),
        )
        .unwrap();
        assert_eq!(
            a, b,
            "{variant}: the resumed run must end exactly as the uninterrupted one"
        );
    }
    assert!(
        !second.join("resume.state").exists(),
        "the resume file goes once the run ends"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&second)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "half-written files left: {leftovers:?}"
    );
}

#[test]
fn emitted_job_files_parse_and_trial_i_runs_exactly_trial_i() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        200,
        "seeds = 2\n[study.axes]\noptimizer = [\"sgd-momentum\", \"adam\"]\n[train]\nepochs = 1\n",
    );

    let out = sweep(d, &["--emit", "slurm", "--out", "job.slurm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let slurm = std::fs::read_to_string(d.join("job.slurm")).unwrap();
    assert!(slurm.contains("#SBATCH --array=0-3%"), "{slurm}");
    // The submit line names the file as written (it said `sbatch tiny-study.slurm`).
    assert!(slurm.contains("2 variants x 2 seeds"), "{slurm}");
    assert!(slurm.contains("#   sbatch job.slurm\n"), "{slurm}");
    assert!(
        slurm.contains("convlab sweep tiny-study.toml --trial \"$SLURM_ARRAY_TASK_ID\""),
        "{slurm}"
    );
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(d.join("job.slurm"))
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {}", stderr(&syntax));

    let out = sweep(
        d,
        &[
            "--emit",
            "k8s",
            "--out",
            "job.yaml",
            "--image",
            "registry.example/convlab:1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(d.join("job.yaml")).unwrap()).unwrap();
    assert_eq!(yaml["kind"], "Job");
    assert_eq!(yaml["spec"]["completionMode"], "Indexed");
    assert_eq!(yaml["spec"]["completions"], 4);
    let container = &yaml["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "registry.example/convlab:1");
    let args = container["args"][0].as_str().unwrap();
    assert!(args.contains("--trial \"$JOB_COMPLETION_INDEX\""), "{args}");

    let bad = sweep(d, &["--emit", "pbs"]);
    assert_bad_input(&bad, &["--emit", "pbs"]);
    // 0 was read as 1 task at a time.
    let bad = sweep(d, &["--emit", "slurm", "--parallel", "0"]);
    assert_bad_input(&bad, &["--parallel: must be at least 1"]);

    // --list names trial 2's folder; --trial 2 trains that one and nothing else.
    let list = stdout(&sweep(d, &["--list"]));
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    let folder = d.join(line.split_whitespace().nth(1).unwrap());
    assert!(folder.ends_with("optimizer=sgd-momentum/seed-1"), "{list}");
    let out = sweep(d, &["--trial", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&folder)["status"], "completed");
    let finished: Vec<_> = walk(&d.join("runs"))
        .into_iter()
        .filter(|p| p.ends_with("summary.json"))
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_bad_input(&sweep(d, &["--trial", "4"]), &["--trial 4", "0..3"]);
}

#[test]
fn jobs_run_in_parallel_processes_with_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 300, "seeds = 2\n[study.axes]\nlr = [1e-3, 3e-3]\n");
    let seq = sweep(d, &["--runs-dir", "seq", "--quiet"]);
    assert!(seq.status.success(), "{}", stderr(&seq));
    let par = sweep(d, &["--runs-dir", "par", "--jobs", "2"]);
    assert!(par.status.success(), "{}", stderr(&par));
    assert_eq!(
        stdout(&par).lines().filter(|l| l.starts_with('[')).count(),
        4
    );
    for v in ["lr=0.001", "lr=0.003"] {
        for s in 0..2 {
            let rel = format!("tiny-study/{v}/seed-{s}/metrics.csv");
            assert_eq!(
                std::fs::read(d.join("seq").join(&rel)).unwrap(),
                std::fs::read(d.join("par").join(&rel)).unwrap(),
                "{rel}"
            );
        }
    }
}

/// The trial lines of a sweep's output that say it trained the trial (not skipped).
fn trained_lines(out: &std::process::Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with('[') && !l.contains("skipped") && !l.contains("already done"))
        .map(str::to_string)
        .collect()
}

/// report.csv without its timing columns (seconds_mean, seconds_std).
fn report_without_seconds(study_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(study_dir.join("report.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string())
        .collect()
}

#[test]
fn a_run_folder_held_by_another_process_is_skipped_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 300, "seeds = 2\n");
    // This test process plays the other sweep: it holds seed 1's folder lock.
    let held = d.join("runs/tiny-study/base/seed-1");
    std::fs::create_dir_all(&held).unwrap();
    let lock = std::fs::File::create(held.join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let out = sweep(d, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("seed-1: skipped, another process is training it"),
        "{text}"
    );
    assert!(text.contains("1 trial(s) skipped"), "{text}");
    assert_eq!(trained_lines(&out).len(), 1, "{text}");
    assert!(!held.join("summary.json").exists());
    // The same with --jobs 2 (each trial in a child process).
    let out = sweep(d, &["--jobs", "2"]);
    assert!(
        stdout(&out).contains("seed-1: skipped, another process"),
        "{}",
        stdout(&out)
    );
    // Released (as when its holder ends or is killed): the next sweep trains it.
    drop(lock);
    let out = sweep(d, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(trained_lines(&out).len(), 1, "{}", stdout(&out));
    assert_eq!(summary(&held)["status"], "completed");
}

#[test]
fn two_concurrent_sweeps_train_every_trial_once_and_report_as_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 600, "seeds = 2\n[study.axes]\nlr = [1e-3, 3e-3, 1e-2]\n");
    let reference = sweep(d, &["--runs-dir", "reference"]);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let launch = || {
        Command::new(bin())
            .args([
                "sweep",
                "tiny-study.toml",
                "--data-dir",
                d.to_str().unwrap(),
            ])
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (launch(), launch());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let mut trained = trained_lines(&a);
    trained.extend(trained_lines(&b));
    assert_eq!(
        trained.len(),
        6,
        "each of the 6 trials trained exactly once:\n{}\n---\n{}",
        stdout(&a),
        stdout(&b)
    );
    for v in ["lr=0.001", "lr=0.003", "lr=0.01"] {
        for s in 0..2 {
            let rel = format!("tiny-study/{v}/seed-{s}/metrics.csv");
            assert_eq!(
                std::fs::read(d.join("reference").join(&rel)).unwrap(),
                std::fs::read(d.join("runs").join(&rel)).unwrap(),
                "{rel}"
            );
        }
    }
    // The last sweep to end wrote the report over every trial.
    assert_eq!(
        report_without_seconds(&d.join("runs/tiny-study")),
        report_without_seconds(&d.join("reference/tiny-study"))
    );
}

#[test]
fn a_changed_study_names_what_changed_and_keeps_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 400, "[study.axes]\nlr = [3e-3]\n");
    let first = sweep(d, &["--quiet"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let run = d.join("runs/tiny-study/lr=0.003/seed-0");
    let before = std::fs::read(run.join("metrics.csv")).unwrap();
    // The study file itself changes (study.toml in the study folder is its copy).
    let study = std::fs::read_to_string(d.join("tiny-study.toml")).unwrap();
    std::fs::write(
        d.join("tiny-study.toml"),
        format!("{study}[train]\nepochs = 3\n"),
    )
    .unwrap();
    let stored_study = std::fs::read(d.join("runs/tiny-study/study.toml")).unwrap();
    let out = sweep(d, &["--quiet"]);
    // The sweep stops before any trial (a one-line input error, exit 2) and names the keys.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lr=0.003/seed-0")
            && err.contains("train.epochs = 3 (stored: 2)")
            && !err.contains("FAILED")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    assert_eq!(std::fs::read(run.join("metrics.csv")).unwrap(), before);
    // The study folder still says what its runs were made from.
    assert_eq!(
        std::fs::read(d.join("runs/tiny-study/study.toml")).unwrap(),
        stored_study
    );
}

//! Scaling a study out: a Slurm job array or a Kubernetes Indexed Job in which task i runs
//! `convlab sweep STUDY --trial i`. Each trial writes only its own run folder, so a shared
//! filesystem is all the tasks need; `convlab report` then reads the study folder.

use std::path::Path;

use crate::experiment::study::Study;
use crate::text::{counted, shell_word};
use crate::train::device::DeviceName;

crate::choice! {
    pub enum EmitTarget("target") {
        /// A Slurm job array.
        Slurm => "slurm",
        /// A Kubernetes Indexed Job.
        K8s => "k8s",
    }
}

impl EmitTarget {
    /// The job file's extension.
    pub fn extension(self) -> &'static str {
        match self {
            EmitTarget::Slurm => "slurm",
            EmitTarget::K8s => "k8s.yaml",
        }
    }
}

/// The job file for `target`.
pub fn emit(target: EmitTarget, study: &Study, o: &EmitOptions) -> String {
    match target {
        EmitTarget::Slurm => slurm(study, o),
        EmitTarget::K8s => k8s(study, o),
    }
}

pub struct EmitOptions<'a> {
    pub runs_dir: &'a Path,
    pub data_dir: Option<&'a Path>,
    pub device: Option<DeviceName>,
    /// Kubernetes: container image with convlab on its PATH.
    pub image: &'a str,
    /// Tasks that may run at once.
    pub parallel: usize,
    /// Where the job file is written, as the submit command in its comment names it.
    pub file: &'a Path,
}

fn sweep_command(study: &Study, o: &EmitOptions, index: &str) -> String {
    let mut cmd = format!(
        "convlab sweep {} --trial {index} --runs-dir {}",
        shell_word(&study.path.display().to_string()),
        shell_word(&o.runs_dir.display().to_string())
    );
    for set in &study.overrides {
        cmd.push_str(&format!(" --set {}", shell_word(set)));
    }
    if let Some(d) = o.data_dir {
        cmd.push_str(&format!(
            " --data-dir {}",
            shell_word(&d.display().to_string())
        ));
    }
    if let Some(d) = o.device {
        cmd.push_str(&format!(" --device {}", shell_word(d.as_str())));
    }
    cmd
}

/// A Slurm batch script: `sbatch sweep.slurm`.
pub fn slurm(study: &Study, o: &EmitOptions) -> String {
    let n = study.trials.len();
    let gpu = if o.device == Some(DeviceName::Cuda) {
        "#SBATCH --gres=gpu:1\n"
    } else {
        ""
    };
    format!(
        "#!/bin/bash
# Slurm job array for the convlab study \"{name}\": {n} trials ({v} x {s}).
# Submit from the folder `convlab sweep --emit` ran in (the paths below are relative to it):
#   sbatch {file}
# Task i trains trial i only and writes {runs}/{name}/<variant>/seed-N/; re-submitting
# skips finished trials and resumes interrupted ones. Afterwards: convlab report {runs}/{name}
#SBATCH --job-name=convlab-{name}
#SBATCH --array=0-{last}%{par}
#SBATCH --cpus-per-task=2
#SBATCH --output=slurm-%A_%a.out
{gpu}set -euo pipefail
{cmd}
",
        name = study.name,
        v = counted(study.variants.len(), "variant"),
        s = counted(study.seeds.len(), "seed"),
        file = o.file.display(),
        runs = o.runs_dir.display(),
        last = n.saturating_sub(1),
        par = o.parallel.max(1),
        cmd = sweep_command(study, o, "\"$SLURM_ARRAY_TASK_ID\""),
    )
}

/// A Kubernetes Indexed Job: `kubectl apply -f {name}.k8s.yaml`. The study file, the data
/// and the runs folder live on one shared volume (the claim `convlab-shared`), mounted at
/// /shared; run the command from there.
pub fn k8s(study: &Study, o: &EmitOptions) -> String {
    let n = study.trials.len();
    let name = k8s_name(&study.name);
    let command = sweep_command(study, o, "\"$JOB_COMPLETION_INDEX\"");
    let gpu = if o.device == Some(DeviceName::Cuda) {
        "\n          resources:\n            limits:\n              nvidia.com/gpu: 1"
    } else {
        "\n          resources:\n            requests:\n              cpu: \"2\""
    };
    format!(
        "# Kubernetes Indexed Job for the convlab study \"{study}\": {n} trials.
# Pod i runs trial i (JOB_COMPLETION_INDEX) and writes only its own run folder on the
# shared volume. Apply: kubectl apply -f {file}; afterwards convlab report.
apiVersion: batch/v1
kind: Job
metadata:
  name: convlab-{name}
spec:
  completionMode: Indexed
  completions: {n}
  parallelism: {par}
  backoffLimit: {backoff}
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: trial
          image: {image}
          workingDir: /shared
          command: [\"/bin/sh\", \"-c\"]
          args:
            - {args}{gpu}
          volumeMounts:
            - name: shared
              mountPath: /shared
      volumes:
        - name: shared
          persistentVolumeClaim:
            claimName: convlab-shared
",
        study = study.name,
        file = o.file.display(),
        par = o.parallel.max(1),
        backoff = n.max(1) * 2,
        image = yaml_quote(o.image),
        args = yaml_quote(&command),
    )
}

/// Kubernetes names: lower-case alphanumerics and '-', at most 50 characters here.
fn k8s_name(s: &str) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out.truncate(50);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "study".into() } else { out }
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

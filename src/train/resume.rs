//! The resume file, `resume.state`, written atomically after every completed epoch and
//! removed when the run ends: the weights (with their parameter ids), the optimizer's
//! moments, and the loop's own state, so an interrupted run continues exactly where its
//! last completed epoch left it and ends with the same numbers as an uninterrupted one.
//!
//! Layout: the magic `CONVLABRESUME1`, then length-prefixed (u64 LE) sections: the JSON
//! [`LoopState`], the model's burnpack record, the optimizer's burnpack record, and the
//! lookahead average and the moving average (train.ema_decay) as f32 LE (each empty when
//! off; absent in older files).

use std::path::Path;

use serde::{Deserialize, Serialize};

use std::time::Instant;

use burn::module::Module;

use crate::error::{Error, Result, SectionReader, write_atomic_parts};
use crate::model::checkpoint;
use crate::run::{EpochMetrics, files};
use crate::train::optim;
use crate::train::schedule::ScheduleState;
use crate::train::trainer::{Best, Progress, Trainer};

const MAGIC: &[u8; 14] = b"CONVLABRESUME1";
/// The resume file's name in a run folder.
pub const FILE: &str = files::RESUME;

/// Everything the training loop carries from one epoch to the next, besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epochs_done: usize,
    pub rows: Vec<EpochMetrics>,
    /// Wall-clock seconds of each completed epoch (not in `rows`: they are not seeded).
    pub epoch_seconds: Vec<f64>,
    /// (score, epoch) of the best weights so far; they are in best.ckpt.
    pub best: Option<(f64, usize)>,
    pub guard_stuck: usize,
    pub schedule: ScheduleState,
    /// Seconds spent in the earlier sessions of this run.
    pub seconds_before: f64,
}

pub struct Resume {
    pub state: LoopState,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
    pub lookahead: Vec<u8>,
    pub ema: Vec<u8>,
}

pub fn save(
    path: &Path,
    state: &LoopState,
    model: &[u8],
    optimizer: &[u8],
    lookahead: &[u8],
    ema: &[u8],
) -> Result<()> {
    let json = serde_json::to_vec(state).map_err(|e| Error::Serialize {
        what: path.display().to_string(),
        problem: e.to_string(),
    })?;
    let parts = [&json[..], model, optimizer, lookahead, ema];
    let lens = parts.map(|p| (p.len() as u64).to_le_bytes());
    let mut all: Vec<&[u8]> = vec![MAGIC];
    for (len, part) in lens.iter().zip(parts) {
        all.extend([&len[..], part]);
    }
    write_atomic_parts(path, &all)
}

/// What every problem with a resume file ends with: the way out.
fn with_restart_hint(e: Error) -> Error {
    match e {
        Error::Input { input, problem } => Error::Input {
            input,
            problem: format!("{problem}; delete it to restart this run from scratch"),
        },
        other => other,
    }
}

/// The file opened, its magic checked and its first section (the loop state) read; the
/// reader is left at the tensors.
fn open_state(path: &Path) -> Result<(SectionReader, LoopState)> {
    let bad = |problem: String| with_restart_hint(Error::input(path.display(), problem));
    let mut r = SectionReader::open(path).map_err(|e| Error::io(path, e))?;
    if r.take(MAGIC.len() as u64).as_deref() != Some(&MAGIC[..]) {
        return Err(bad("not a convlab resume file".into()));
    }
    let json = r
        .take_section()
        .ok_or_else(|| bad("truncated resume file".into()))?;
    let state =
        serde_json::from_slice(&json).map_err(|e| bad(format!("corrupt resume state: {e}")))?;
    Ok((r, state))
}

/// Epochs completed according to the resume file, reading only its loop state (the
/// tensors are read once, by the trainer).
pub fn epochs_done(path: &Path) -> Result<usize> {
    Ok(open_state(path)?.1.epochs_done)
}

/// The loop state, then each tensor section straight into its own buffer (reading the
/// whole file and copying the sections out held every weight and moment twice).
pub fn load(path: &Path) -> Result<Resume> {
    let (mut r, state) = open_state(path)?;
    let truncated = || with_restart_hint(Error::input(path.display(), "truncated resume file"));
    let model = r.take_section().ok_or_else(truncated)?;
    let optimizer = r.take_section().ok_or_else(truncated)?;
    // Files written before the lookahead (or the ema) section existed end before it.
    let mut optional = || {
        if r.is_at_end() {
            Ok(Vec::new())
        } else {
            r.take_section().ok_or_else(truncated)
        }
    };
    let lookahead = optional()?;
    let ema = optional()?;
    Ok(Resume {
        state,
        model,
        optimizer,
        lookahead,
        ema,
    })
}

/// The trainer's side: continue from the resume file, and write it after an epoch.
impl Trainer<'_> {
    /// Continue where the resume file says: weights with their parameter ids (so the
    /// optimizer state finds its params), optimizer moments, rows, schedule, guard, best.
    pub(super) fn restore(&self, p: &mut Progress) -> Result<()> {
        let path = self.dir.path(files::RESUME);
        let r = load(&path)?;
        let origin = path.display().to_string();
        p.model = checkpoint::load_weights(p.model.clone(), r.model, &origin)
            .map_err(with_restart_hint)?;
        p.optim = optim::build_with(&self.cfg.optimizer, &p.momentum)
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(r.optimizer))
            .map_err(|e| {
                with_restart_hint(Error::input(
                    &origin,
                    format!("corrupt optimizer state: {e}"),
                ))
            })?;
        if let Some(look) = p.lookahead.as_mut()
            && !r.lookahead.is_empty()
        {
            look.restore(&r.lookahead).map_err(|e| {
                with_restart_hint(Error::input(
                    &origin,
                    format!("corrupt lookahead average: {e}"),
                ))
            })?;
        }
        if let Some(ema) = p.ema.as_mut()
            && !r.ema.is_empty()
        {
            ema.restore(&p.model, &r.ema).map_err(|e| {
                with_restart_hint(Error::input(
                    &origin,
                    format!("unreadable moving average: {e}"),
                ))
            })?;
        }
        let st = r.state;
        p.rows = st.rows;
        for (row, s) in p.rows.iter_mut().zip(&st.epoch_seconds) {
            row.seconds = *s;
        }
        p.schedule.restore(st.schedule);
        p.guard.set_stuck_epochs(st.guard_stuck);
        p.seconds_before = st.seconds_before;
        p.first_epoch = st.epochs_done;
        if let Some((score, epoch)) = st.best {
            let (_, weights) = checkpoint::load(&self.dir.path(files::BEST), &self.device)?;
            p.best = Some(Best {
                score,
                epoch,
                weights,
            });
        }
        if !self.quiet {
            println!("resuming {} after epoch {}", self.cfg.name, p.first_epoch);
        }
        Ok(())
    }

    pub(super) fn save_resume(&self, p: &Progress, epoch: usize, started: Instant) -> Result<()> {
        let state = LoopState {
            epochs_done: epoch + 1,
            rows: p.rows.clone(),
            epoch_seconds: p.rows.iter().map(|r| r.seconds).collect(),
            best: p.best.as_ref().map(|b| (b.score, b.epoch)),
            guard_stuck: p.guard.stuck_epochs(),
            schedule: p.schedule.state(),
            seconds_before: p.seconds_before + started.elapsed().as_secs_f64(),
        };
        let path = self.dir.path(files::RESUME);
        let serialize = |e: String| Error::Serialize {
            what: path.display().to_string(),
            problem: e,
        };
        let weights = p.model.clone().into_record().into_bytes();
        let weights = weights.map_err(|e| serialize(e.to_string()))?;
        let moments = p.optim.into_bytes().map_err(|e| serialize(e.to_string()))?;
        let average = p
            .lookahead
            .as_ref()
            .map(|l| l.to_bytes())
            .unwrap_or_default();
        let ema = p.ema.as_ref().map(|e| e.to_bytes()).unwrap_or_default();
        save(&path, &state, &weights, &moments, &average, &ema)
    }
}

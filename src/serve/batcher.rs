//! Dynamic batching: one thread owns the model; each request sends its decoded image and
//! waits for its row. The thread takes the first waiting request, gathers whatever else
//! arrives within `max_wait` (up to `max_batch`), and runs them as one forward pass, so
//! concurrent clients share the cost of a batch instead of queueing one by one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::model::predictor::Predictor;

struct Job {
    pixels: Vec<u8>,
    reply: oneshot::Sender<Vec<f32>>,
}

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub batches: AtomicU64,
    pub largest: AtomicU64,
}

pub struct Batcher {
    tx: Mutex<mpsc::Sender<Job>>,
    pub stats: Arc<Stats>,
}

impl Batcher {
    pub fn start(predictor: Predictor, max_batch: usize, max_wait_ms: u64) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let stats = Arc::new(Stats::default());
        let st = stats.clone();
        let max_wait = Duration::from_millis(max_wait_ms);
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                let deadline = Instant::now() + max_wait;
                while jobs.len() < max_batch {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left) {
                        Ok(job) => jobs.push(job),
                        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                            break;
                        }
                    }
                }
                let (pixels, replies): (Vec<_>, Vec<_>) =
                    jobs.into_iter().map(|j| (j.pixels, j.reply)).unzip();
                let n = pixels.len() as u64;
                let rows = predictor.probabilities(&pixels);
                st.requests.fetch_add(n, Ordering::Relaxed);
                st.batches.fetch_add(1, Ordering::Relaxed);
                st.largest.fetch_max(n, Ordering::Relaxed);
                for (reply, row) in replies.into_iter().zip(rows) {
                    // A client that hung up no longer wants its answer.
                    let _ = reply.send(row);
                }
            }
        });
        Self {
            tx: Mutex::new(tx),
            stats,
        }
    }

    /// Class probabilities for one decoded image; None if the inference thread is gone.
    pub async fn infer(&self, pixels: Vec<u8>) -> Option<Vec<f32>> {
        let (reply, answer) = oneshot::channel();
        self.tx.lock().ok()?.send(Job { pixels, reply }).ok()?;
        answer.await.ok()
    }
}

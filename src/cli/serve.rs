//! `convlab serve CKPT` (or `--checkpoint CKPT`): the HTTP server.

use clap::Args;

use super::CheckpointArg;
use crate::error::{Error, Result};
use crate::model::predictor::Predictor;
use crate::run;
use crate::serve::ServeOptions;
use crate::train::device;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    checkpoint: CheckpointArg,
    /// 0 picks a free port (printed on the first line).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Listen address; only this machine by default.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Images (from concurrent requests) run through the net in one batch at most.
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Milliseconds a request waits for others to share its batch.
    #[arg(long, default_value_t = 2)]
    max_wait_ms: u64,
    /// Largest accepted upload in bytes (larger: 413).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    max_bytes: usize,
    /// Default number of classes per answer (?k=N overrides).
    #[arg(long, default_value_t = 3)]
    top_k: usize,
    /// cpu, or cuda (a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Clients must send `Authorization: Bearer TOKEN` (all but GET /health). Required when
    /// --host is not a loopback address.
    #[arg(long, env = "CONVLAB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Client connections open at once; further clients wait until one closes.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection may send nothing before it is closed (idle keep-alives,
    /// clients that stop halfway through a request).
    #[arg(long, default_value_t = 30)]
    idle_timeout_s: u64,
}

pub fn run(a: ServeArgs) -> Result<()> {
    // 0 was quietly read as 1 (or, for --max-bytes, would refuse every upload).
    let counts = [
        ("--max-batch", a.max_batch),
        ("--max-bytes", a.max_bytes),
        ("--top-k", a.top_k),
        ("--max-connections", a.max_connections),
        ("--idle-timeout-s", a.idle_timeout_s as usize),
    ];
    if let Some((flag, _)) = counts.iter().find(|(_, n)| *n == 0) {
        return Err(Error::input(*flag, "must be at least 1"));
    }
    let checkpoint = run::checkpoint_in(&a.checkpoint.path())?;
    let dev = device::select(device::parse_flag(&a.device)?)?;
    let predictor = Predictor::load(&checkpoint, &dev)?;
    crate::serve::run(
        predictor,
        ServeOptions {
            host: a.host,
            port: a.port,
            max_batch: a.max_batch,
            max_wait_ms: a.max_wait_ms,
            max_bytes: a.max_bytes,
            top_k: a.top_k,
            token: a.token,
            max_connections: a.max_connections,
            idle_timeout: std::time::Duration::from_secs(a.idle_timeout_s.max(1)),
        },
    )
}

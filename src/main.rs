// Tensors are allocated and freed per op; glibc's malloc maps and unmaps multi-MB buffers
// each time (page faults on every batch). mimalloc reuses them: see bench/README.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (mimalloc.h: `mi_option_purge_delay = 15`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // By default mimalloc hands freed memory back to the OS after 1 s, so the same multi-MB
    // activation buffers were faulted in and zeroed again step after step: never purging
    // was ~8% faster on mnist-cnn (bench/README.md). The process keeps its peak instead.
    // MIMALLOC_PURGE_DELAY (milliseconds) in the environment is left to mimalloc: it trades
    // that speed for a peak nearer the live memory (bench/RESULTS.md, "peak memory").
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an integer option; mimalloc allows this at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    // Past a file-size limit (`ulimit -f`) the kernel's default is to kill the process with
    // SIGXFSZ, no message. Ignored, the write fails with EFBIG instead, which convlab reports
    // as one line naming the file (and the atomic writes leave the previous file intact).
    // SAFETY: setting a signal's disposition to SIG_IGN runs no code of ours.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // A panic is a bug, but the user still gets one line, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace('\n', " ");
        // `convlab summary ... | head`: the reader went away. Rust ignores SIGPIPE (so that
        // serve's sockets survive a client hanging up) and println! panics instead; end
        // quietly with the status a shell expects of a tool killed by SIGPIPE (128 + 13).
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        eprintln!("error: internal error (please report): {msg}");
    }));
    if let Err(e) = convlab::cli::main() {
        eprintln!("error: {}", e.to_string().replace('\n', " "));
        std::process::exit(e.exit_code());
    }
}

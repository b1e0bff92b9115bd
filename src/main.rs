// Tensors are allocated and freed per op; glibc's malloc maps and unmaps multi-MB buffers
// each time (page faults on every batch). mimalloc reuses them: see bench/README.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A panic is a bug, but the user still gets one line, not a backtrace dump.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace('\n', " ");
        eprintln!("error: internal error (please report): {msg}");
    }));
    if let Err(e) = convlab::cli::main() {
        eprintln!("error: {}", e.to_string().replace('\n', " "));
        std::process::exit(e.exit_code());
    }
}

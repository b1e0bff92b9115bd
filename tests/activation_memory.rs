//! ReLU and LeakyReLU keep their output for the backward pass, not their input, so batch
//! norm's output (the activation's input) is freed as soon as the activation has read it,
//! as PyTorch's in-place ReLU does. Counted with a global allocator of its own, so this
//! test has a binary to itself. At batch 256 this was a quarter of ResNet-18's activation
//! memory (bench/RESULTS.md, "CPU, peak memory").

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use burn::prelude::*;
use convlab::model::cpu::prelu;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn relu_and_leaky_relu_free_their_input_and_keep_the_gradient() {
    let device = Device::flex().autodiff();
    let dims = [8, 16, 64, 64];
    let bytes = dims.iter().product::<usize>() * 4;
    for slope in [0.0, 0.01] {
        let x = Tensor::<4>::ones(dims, &device).require_grad();
        let before = LIVE.load(Relaxed);
        let y = {
            // A tracked intermediate that nothing else holds, as batch norm's output is.
            let t = x.clone() * 2.0 - 1.0;
            prelu::fixed_slope(t, slope, |_| panic!("not on flex"))
        };
        let held = LIVE.load(Relaxed) - before;
        assert!(
            held < bytes * 3 / 2,
            "slope {slope}: {held} bytes held after the activation; its output alone is {bytes}"
        );
        // d/dx of sum(act(2x - 1)) at x = 1 is 2, and 2 * slope where 2x - 1 <= 0.
        let grads = y.sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(g.iter().all(|&v| v == 2.0), "slope {slope}: {:?}", &g[..4]);
    }
}

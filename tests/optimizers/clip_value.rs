//! `optimizer.grad_clip_value` against torch.nn.utils.clip_grad_value_, on the batch and
//! start of main.rs's script, with this added to it (torch 2.15.0, CPU, float32):
//!
//! ```python
//! def run_v(make, clip_value, steps=3):
//!     W = W0.clone().requires_grad_(); b = b0.clone().requires_grad_()
//!     opt = make([W, b])
//!     for _ in range(steps):
//!         opt.zero_grad()
//!         torch.nn.functional.cross_entropy(x @ W.T + b, y).backward()
//!         torch.nn.utils.clip_grad_value_([W, b], clip_value)
//!         opt.step()
//!     return W.detach().flatten().tolist() + b.detach().tolist()
//! run_v(lambda p: O.SGD(p, lr=0.5), 0.05)
//! run_v(lambda p: O.Adam(p, lr=0.05), 0.05)
//! ```
//! The first step's gradients are W: -0.0374, 0.0156, 0.0686, 0, -0.0061, -0.0093, -0.0126,
//! 0, 0.0435, -0.0063, -0.056, 0 and b: 0.1944, -0.0119, -0.1824, so 0.05 clips four of them.

use crate::{assert_close, assert_matches_pytorch, three_steps};

#[test]
fn grad_clip_value_clamps_each_gradient_as_pytorch() {
    assert_matches_pytorch(
        "name = \"sgd\"\nlr = 0.5\ngrad_clip_value = 0.05",
        [
            -0.3516743, 0.2890062, -0.0464286, -0.2571429, 0.4671221, 0.1855883, -0.0959456, -0.4,
            0.2559807, 0.0396912, -0.1821429, 0.4571429, 0.025, -0.1846718, 0.125,
        ],
    );
    let adam = three_steps("name = \"adam\"\nlr = 0.05\ngrad_clip_value = 0.05");
    let torch = [
        -0.255257, 0.164071, -0.1214285, -0.2550428, 0.6064643, 0.321583, 0.0344478, -0.3903091,
        0.1666744, 0.1782521, -0.1072529, 0.4456126, -0.05, -0.0825745, 0.2,
    ];
    assert_close("adam, grad_clip_value 0.05", &adam, torch);
    // A bound above every gradient changes nothing.
    assert_eq!(
        three_steps("name = \"sgd\"\nlr = 0.5\ngrad_clip_value = 10.0"),
        three_steps("name = \"sgd\"\nlr = 0.5")
    );
}

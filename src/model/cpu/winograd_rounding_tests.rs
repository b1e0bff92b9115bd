//! How far Winograd's f32 rounding (F(2x2, 3x3) and F(4x4, 3x3)) strays from the exact
//! convolution, against im2col's, on
//! the 3x3 convs of examples/cifar10-fast.toml (airbench's net) with inputs shaped like its
//! own: GELU outputs in, dirac-initialised weights, small output gradients. The full runs
//! train with Winograd; if its rounding were much worse than im2col's, it could bias training.
//! Both are measured against the definition in f64, as a relative RMS error per pass.
use super::super::conv_kernels;
use super::*;

/// (channels in, channels out, height = width) of the recipe's six Winograd convs.
const RECIPE_CONVS: [(usize, usize, usize); 6] = [
    (24, 64, 31),
    (64, 64, 15),
    (64, 256, 15),
    (256, 256, 7),
    (256, 256, 7),
    (256, 256, 3),
];

/// Roughly N(0, 1) values, the same on every run (a sum of four hashed uniforms).
fn normals(len: usize, seed: u64) -> Vec<f32> {
    let uniform = |i: u64| {
        let h = (i ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((h ^ (h >> 31)) >> 40) as f64 / (1u64 << 24) as f64 - 0.5
    };
    (0..len as u64)
        .map(|i| ((0..4).map(|k| uniform(4 * i + k)).sum::<f64>() * 3f64.sqrt()) as f32)
        .collect()
}

/// The three passes in f64 by their definitions (pad 1, stride 1): y, dx and dw.
fn exact(s: &ConvShape, x: &[f32], w: &[f32], dy: &[f32]) -> [Vec<f64>; 3] {
    let (h, wd) = (s.h as isize, s.w as isize);
    let mut y = vec![0f64; s.n * s.o * s.h * s.w];
    let mut dx = vec![0f64; x.len()];
    let mut dw = vec![0f64; w.len()];
    for n in 0..s.n {
        for o in 0..s.o {
            for c in 0..s.c {
                for k in 0..9 {
                    let wi = (o * s.c + c) * 9 + k;
                    let (ky, kx) = ((k / 3) as isize - 1, (k % 3) as isize - 1);
                    for r in 0..h {
                        for q in 0..wd {
                            let (iy, ix) = (r + ky, q + kx);
                            if iy < 0 || ix < 0 || iy >= h || ix >= wd {
                                continue;
                            }
                            let xi = ((n * s.c + c) * s.h + iy as usize) * s.w + ix as usize;
                            let yi = ((n * s.o + o) * s.h + r as usize) * s.w + q as usize;
                            y[yi] += x[xi] as f64 * w[wi] as f64;
                            dx[xi] += dy[yi] as f64 * w[wi] as f64;
                            dw[wi] += dy[yi] as f64 * x[xi] as f64;
                        }
                    }
                }
            }
        }
    }
    [y, dx, dw]
}

/// sqrt(sum (got - want)^2 / sum want^2).
fn relative_rms(got: &[f32], want: &[f64]) -> f64 {
    let err: f64 = got
        .iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - w).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    (err / norm).sqrt()
}

#[test]
fn rounding_is_as_close_to_exact_as_im2col_on_the_recipe_convs() {
    for (i, &(c, o, hw)) in RECIPE_CONVS.iter().enumerate() {
        let s = ConvShape {
            n: 4,
            c,
            h: hw,
            w: hw,
            o,
            k: 3,
            stride: 1,
            pad: 1,
            bf16: false,
        };
        assert!(applies(&s), "{s:?}");
        let seed = 10 * i as u64;
        // GELU's tanh form: the inputs need its shape (skewed, mostly >= -0.17), not its digits.
        let gelu = |z: f32| 0.5 * z * (1.0 + (0.797_884_6 * (z + 0.044_715 * z * z * z)).tanh());
        let x: Vec<f32> = normals(s.n * c * hw * hw, seed)
            .into_iter()
            .map(gelu)
            .collect();
        let spread = 1.0 / (9.0 * c as f32).sqrt();
        let mut w: Vec<f32> = normals(o * c * 9, seed + 1)
            .iter()
            .map(|v| v * spread)
            .collect();
        for k in 0..o.min(c) {
            w[(k * c + k) * 9 + 4] += 1.0; // dirac: channel k passes straight through
        }
        let dy: Vec<f32> = normals(s.n * o * hw * hw, seed + 2)
            .iter()
            .map(|v| v * 1e-3)
            .collect();
        let [y, dx, dw] = exact(&s, &x, &w, &dy);
        let (iy, ig) = (
            conv_kernels::forward(&s, &x, &w, None),
            conv_kernels::backward(&s, &x, &w, &dy, true, false),
        );
        // F(4x4, 3x3) rounds worse than F(2x2, 3x3): its matrices hold 4, 5 and 8, where
        // F(2x2, 3x3)'s hold 1 and 1/2. Measured here: up to 8.3x im2col's error (the input
        // gradient), 2.3e-6 at most, so its bounds are 10x and 3e-6: still about 1,000 times
        // below the rounding of the bf16 training that PyTorch's autocast does (~4e-3).
        let grids = [
            (Grid::new(&s), 2e-6, 4.0),
            (Grid::with_outputs(&s, 4), 3e-6, 10.0),
        ];
        for (g, bound, ratio) in grids {
            let (wy, wg) = (
                forward_on(&s, &g, &x, &w, None),
                backward_on(&s, &g, [&x, &w, &dy], true, false),
            );
            for (pass, winograd, im2col, want) in [
                ("y", &wy, &iy, &y),
                ("dx", wg.x.as_ref().unwrap(), ig.x.as_ref().unwrap(), &dx),
                ("dw", &wg.weight, &ig.weight, &dw),
            ] {
                let (e_w, e_i) = (relative_rms(winograd, want), relative_rms(im2col, want));
                let m = g.m;
                println!(
                    "{c:>3} -> {o:>3} at {hw:>2}x{hw:<2} {pass:>2}: F({m}x{m}) {e_w:.2e}, im2col {e_i:.2e}"
                );
                assert!(
                    e_w < bound && e_w < ratio * e_i.max(1e-8),
                    "{s:?} {pass}: F({m}x{m}, 3x3)'s relative RMS error {e_w:.2e}, im2col's {e_i:.2e}"
                );
            }
        }
    }
}

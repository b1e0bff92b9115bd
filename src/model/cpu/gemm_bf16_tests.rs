//! The bf16 GEMM against the definition: the same product in f64 of the operands rounded to
//! bf16 (`round_to_bf16`, itself tested against the `half` crate in tests/bf16_cpu.rs).
//! On a CPU without AVX512-BF16 the GEMM never runs and these tests say so and pass.

use super::{NR, Strided, available, bf16_bits, matmul, pack};
use crate::model::cpu::bf16::round_to_bf16;
use crate::model::cpu::conv_kernels::tests::{
    Backward, Forward, assert_thread_count_keeps_the_bits, shape3, values,
};
use crate::model::cpu::conv_kernels::{self, ConvShape};
use crate::model::cpu::winograd;
use crate::model::cpu::winograd_grid::Grid;

fn skip() -> bool {
    let skip = !super::cpu_has_bf16();
    if skip {
        eprintln!("this CPU has no AVX512-BF16: the bf16 GEMM is not used here, nothing to test");
    }
    skip
}

/// The GEMM's two kernels: the AVX-512 one (everywhere with AVX512-BF16) and, where this CPU
/// has AMX, the AMX one that `matmul` then takes.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    Avx512,
    Amx,
}

fn kernels() -> Vec<Kernel> {
    let amx = super::on_amx();
    if !amx {
        eprintln!("no AMX here: only the AVX-512 kernel is tested");
    }
    [Kernel::Avx512]
        .into_iter()
        .chain(amx.then_some(Kernel::Amx))
        .collect()
}

impl Kernel {
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        self,
        m: usize,
        n: usize,
        k: usize,
        dst: &mut [f32],
        a: Strided,
        b: Strided,
        acc: bool,
    ) {
        match self {
            Kernel::Amx => matmul(m, n, k, dst, a, b, acc),
            Kernel::Avx512 => {
                let (mut pa, mut pb) = (Vec::new(), Vec::new());
                pack(&mut pa, m, k, super::MR, a.data, (a.rs, a.cs));
                super::pack_b(&mut pb, k, n, b);
                super::matmul_panels(m, n, k, dst, (&pa, &pb), acc);
            }
        }
    }
}

/// sum over t of round(a(i, t)) * round(b(t, j)) in f64, and the sum of their magnitudes.
fn reference(m: usize, n: usize, k: usize, a: &Strided, b: &Strided) -> Vec<(f64, f64)> {
    let r = |v: f32| round_to_bf16(v) as f64;
    let (a_at, b_at) = (
        |i, t| a.data[i * a.rs + t * a.cs],
        |t, j| b.data[t * b.rs + j * b.cs],
    );
    (0..m * n)
        .map(|ij| {
            let (i, j) = (ij / n, ij % n);
            (0..k).fold((0.0, 0.0), |(s, abs), t| {
                let p = r(a_at(i, t)) * r(b_at(t, j));
                (s + p, abs + p.abs())
            })
        })
        .collect()
}

/// Every layout the convolutions hand it (A and B row-major, A transposed, B transposed),
/// edge tiles in both directions, odd k, k = 1, written then accumulated, on each kernel
/// (for AMX: k past whole tiles of 16 pairs or not, 32 x 32 blocks stored straight into dst,
/// a lone last 16-row block): each value within f32's summation error of the exact sum of the bf16 products (a bf16 operand rounding
/// missed would be off by ~2^-9 of the magnitude, 500x this bound).
#[test]
fn products_equal_the_exact_sums_of_bf16_products() {
    if skip() {
        return;
    }
    assert!(available() || std::env::var("CONVLAB_CPU_BF16_GEMM").is_ok());
    for (m, n, k) in [
        (8, 32, 16),
        (13, 45, 7),
        (64, 100, 33),
        (3, 5, 1),
        (17, 64, 300),
        (40, 216, 36),
        (32, 64, 64),
        (48, 96, 97),
    ] {
        let (av, bv) = (values(m * k, 21), values(k * n, 22));
        let layouts = [
            (
                Strided {
                    data: &av,
                    rs: k,
                    cs: 1,
                },
                Strided {
                    data: &bv,
                    rs: n,
                    cs: 1,
                },
            ),
            (
                Strided {
                    data: &av,
                    rs: 1,
                    cs: m,
                },
                Strided {
                    data: &bv,
                    rs: 1,
                    cs: k,
                },
            ),
        ];
        for (a, b) in layouts {
            let want = reference(m, n, k, &a, &b);
            for kernel in kernels() {
                let mut dst = vec![f32::NAN; m * n];
                kernel.matmul(m, n, k, &mut dst, a, b, false);
                kernel.matmul(m, n, k, &mut dst, a, b, true);
                for (i, (&got, &(w, abs))) in dst.iter().zip(&want).enumerate() {
                    let err = (got as f64 - 2.0 * w).abs();
                    let bound = 2.0 * (k as f64 + 2.0) * f32::EPSILON as f64 * abs + 1e-30;
                    assert!(
                        err <= bound,
                        "{kernel:?} {m}x{n}x{k} (a {}, b {}) [{i}]: {got} vs {} (bound {bound:e})",
                        a.cs,
                        b.cs,
                        2.0 * w
                    );
                }
            }
        }
    }
}

/// The packs as the definition lays them out, one pair at a time.
fn plain_pack(lines: usize, k: usize, width: usize, at: impl Fn(usize, usize) -> f32) -> Vec<u32> {
    let kp = k.div_ceil(2);
    let mut out = vec![0; lines.div_ceil(width) * kp * width];
    let bits = |l, kk| if kk < k { bf16_bits(at(l, kk)) } else { 0 };
    for l in 0..lines {
        for q in 0..kp {
            out[(l / width * kp + q) * width + l % width] =
                bits(l, 2 * q) | bits(l, 2 * q + 1) << 16;
        }
    }
    out
}

/// The vector packing (`gemm_bf16_pack`: lines along memory, k along memory through the
/// transpose) gives the bits of the plain one, ties included, for both panel widths: 1 + 2^-8
/// is halfway between two bf16 values and rounds to even (down), 1 + 3 * 2^-8 rounds up,
/// -(1 + 2^-8) down in magnitude. 53 lines are three vector blocks and 5 scalar lines; k = 75
/// is two transposed blocks of 32 and 11 values one pair at a time, the last pair half zero.
///
/// ```python
/// import torch
/// torch.tensor([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8)]).to(torch.bfloat16).float()
/// # tensor([ 1.0000,  1.0156, -1.0000])
/// ```
#[test]
fn vector_packing_rounds_to_nearest_even_as_the_plain_packing() {
    if skip() {
        return;
    }
    let ties = [
        1.0 + 2f32.powi(-8),
        1.0 + 3.0 * 2f32.powi(-8),
        -(1.0 + 2f32.powi(-8)),
    ];
    assert_eq!(ties.map(round_to_bf16), [1.0, 1.0 + 2f32.powi(-6), -1.0]);
    let (lines, k) = (53, 75);
    let mut src = values(lines * k, 23);
    for at in [0, 40, 77, 1000, 3000] {
        src[at..at + 3].copy_from_slice(&ties);
    }
    for width in [8, NR] {
        for strides in [(1, lines), (k, 1)] {
            let mut got = Vec::new();
            pack(&mut got, lines, k, width, &src, strides);
            let want = plain_pack(lines, k, width, |l, kk| src[l * strides.0 + kk * strides.1]);
            assert_eq!(got.len(), want.len());
            let first = got.iter().zip(&want).position(|(g, w)| g != w);
            assert_eq!(
                first, None,
                "width {width}, strides {strides:?}: packs differ"
            );
            // A reused buffer (a thread's pack of the previous GEMM) gives the same pack: the
            // padding lines of the last panel are zeroed, not left as they were.
            let mut reused = vec![u32::MAX; want.len() + 7];
            pack(&mut reused, lines, k, width, &src, strides);
            assert_eq!(
                reused, want,
                "width {width}, strides {strides:?}: reused buffer"
            );
        }
    }
    // Lines along memory, line 0: k 0 and 1 are the first tie (rounded down to 1.0, 0x3f80)
    // and src[53], which holds the second: rounded up to 1 + 2^-6 (0x3f82).
    let mut got = Vec::new();
    src[lines] = ties[1];
    pack(&mut got, lines, k, 8, &src, (1, lines));
    assert_eq!(got[0], 0x3f80 | 0x3f82 << 16);
}

/// Convolutions with and without bf16 GEMMs: shapes as the Winograd and im2col tests use
/// (chunked and deep Winograd passes, odd sizes, edge tiles; stride 2, 1x1 and 5x5 im2col).
fn conv_shapes() -> Vec<ConvShape> {
    let bf16 = |s: ConvShape| ConvShape { bf16: true, ..s };
    vec![
        bf16(shape3(10, 16, 7, 9, 8, 1)),
        bf16(shape3(9, 32, 4, 4, 16, 1)),
        bf16(shape3(16, 40, 4, 4, 72, 1)),
        bf16(shape3(3, 24, 8, 8, 40, 0)),
        ConvShape {
            stride: 2,
            ..bf16(shape3(5, 16, 9, 9, 24, 1))
        },
        ConvShape {
            k: 1,
            pad: 0,
            ..bf16(shape3(4, 24, 6, 6, 40, 0))
        },
        ConvShape {
            k: 5,
            pad: 2,
            ..bf16(shape3(3, 8, 7, 7, 20, 0))
        },
    ]
}

type Passes = (Forward, Backward);

fn passes(s: &ConvShape) -> Passes {
    if winograd::applies(s) {
        (winograd::forward, winograd::backward)
    } else {
        (conv_kernels::forward, conv_kernels::backward)
    }
}

/// Forward and all three gradients with bf16 GEMMs against the same passes in f32: RMS
/// difference below 2^-6 of the values' RMS, largest below 2^-4 (as tests/bf16_cpu.rs holds a
/// whole bf16 conv layer); deep Winograd layers sum every chunk's tiles in one GEMM here.
#[test]
fn conv_passes_with_bf16_gemms_keep_bf16_precision() {
    if skip() {
        return;
    }
    let deep = |s: &ConvShape| winograd::applies(s) && winograd::deep_layer(s, &Grid::new(s));
    assert!(conv_shapes().iter().any(deep), "the deep passes are tested");
    for s in conv_shapes() {
        let (fwd, bwd) = passes(&s);
        let f32s = ConvShape { bf16: false, ..s };
        let (x, w) = (
            values(s.n * s.c * s.h * s.w, 31),
            values(s.o * s.c * s.k * s.k, 32),
        );
        let (b, dy) = (
            values(s.o, 33),
            values(s.n * s.o * s.out_h() * s.out_w(), 34),
        );
        let (ours, theirs) = (
            bwd(&s, &x, &w, &dy, true, true),
            bwd(&f32s, &x, &w, &dy, true, true),
        );
        let pairs = [
            ("y", fwd(&s, &x, &w, Some(&b)), fwd(&f32s, &x, &w, Some(&b))),
            ("dx", ours.x.unwrap(), theirs.x.unwrap()),
            ("dw", ours.weight, theirs.weight),
        ];
        assert_eq!(
            ours.bias, theirs.bias,
            "{s:?}: the bias gradient is a plain sum"
        );
        for (what, ours, theirs) in pairs {
            let rms = |v: &mut dyn Iterator<Item = f32>| {
                let (sum, n) = v.fold((0f64, 0), |(a, n), d| (a + (d as f64).powi(2), n + 1));
                (sum / n as f64).sqrt()
            };
            let scale = rms(&mut theirs.iter().copied());
            let diff = rms(&mut ours.iter().zip(&theirs).map(|(a, b)| a - b)) / scale;
            let worst = ours
                .iter()
                .zip(&theirs)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            let worst = worst as f64 / scale;
            assert!(diff > 0.0, "{what} {s:?}: the bf16 GEMMs did not run");
            assert!(
                diff < 2f64.powi(-6) && worst < 2f64.powi(-4),
                "{what} {s:?}: {diff:e} / {worst:e}"
            );
        }
    }
}

/// With bf16 GEMMs too, the bits do not depend on the thread count (3x3 convs: the helper's
/// weights are 3x3).
#[test]
fn bf16_gemms_keep_the_bits_whatever_the_thread_count() {
    for s in conv_shapes().into_iter().filter(|s| s.k == 3) {
        let (fwd, bwd) = passes(&s);
        assert_thread_count_keeps_the_bits(&s, fwd, bwd);
    }
}

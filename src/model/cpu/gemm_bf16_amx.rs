//! `gemm_bf16::matmul_packed` on AMX (Intel Sapphire Rapids and later), by `tdpbf16ps`, which
//! adds the products of bf16 pairs into f32 sums as `vdpbf16ps` does, but for a whole 16 x 16
//! block of C over 32 values of k per instruction (8,192 multiply-adds, where one AVX-512
//! `vdpbf16ps` does 32). PyTorch's bf16 convolutions run on it there (oneDNN's
//! `brg_conv_fwd:avx10_1_512_amx`); with the AVX-512 kernel alone convlab's bf16 ResNet-18
//! steps were 0.43x PyTorch's on such a CPU (bench/RESULTS.md).
//!
//! The tiles: C is a 32 x 32 block in four 16 x 16 f32 tiles (tmm0-3); A's 32 rows are two
//! tiles of 16 rows x 16 k pairs (tmm4-5), B's 32 columns two tiles of 16 k pairs x 16
//! columns (tmm6-7). B's packed panels (`[k / 2][NR]` pairs, NR = 32) are already the layout
//! a B tile loads (rows 128 bytes apart); A is packed in its own layout where AMX runs
//! (`gemm_bf16_amx_pack`: each row's pairs along memory, k padded to whole tiles).
//!
//! The tile registers are not the compiler's: each GEMM configures them (`ldtilecfg`), keeps
//! its whole k loop in one `asm!` block and releases them at its end, so no tile state lives
//! between blocks. Linux hands AMX's 8 KB of tile state to a process only when asked
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which [`available`] does once.
//! `CONVLAB_CPU_AMX=off` keeps the AVX-512 kernel, to measure one against the other.

#![cfg(target_arch = "x86_64")]

use std::arch::asm;

use super::gemm_bf16::{NR, write_block};
use super::gemm_bf16_amx_pack::{ROWS, packed_len, padded_pairs};

/// Rows of C (and of A) per block: two tiles of 16.
const BM: usize = 2 * ROWS;
/// k pairs per tile.
const KT: usize = ROWS;

/// Whether this CPU and kernel run AMX bf16 tiles for this process (asked for once), and the
/// user did not turn them off.
pub(super) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::env::var("CONVLAB_CPU_AMX").as_deref() != Ok("off") && cpu_has_amx() && request()
    })
}

/// CPUID leaf 7: AMX-BF16 (EDX bit 22) and AMX-TILE (bit 24).
fn cpu_has_amx() -> bool {
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    leaf7.edx >> 22 & 1 == 1 && leaf7.edx >> 24 & 1 == 1
}

/// Linux's permission for this process to use the tile data (`arch_prctl(ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA)`); false on kernels without AMX support (or other systems).
fn request() -> bool {
    #[cfg(target_os = "linux")]
    {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: the arch_prctl system call with two integer arguments; it reads and writes
        // no memory of ours, and the kernel clobbers only rcx and r11 (declared).
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// dst[m, n] (row-major) (+)= A * B from their packs (`gemm_bf16_amx_pack::pack` of A,
/// `gemm_bf16::pack_b` of B), on AMX. Only where [`available`].
pub(super) fn matmul_packed(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    (pa, pb): (&[u32], &[u32]),
    accumulate: bool,
) {
    let (kp, kpad) = (k.div_ceil(2), padded_pairs(k));
    assert!(available() && dst.len() >= m * n);
    assert!(pa.len() >= packed_len(m, k) && pb.len() >= n.div_ceil(NR) * kp * NR);
    if m == 0 || n == 0 {
        return;
    }
    let (full, part) = (kp / KT, kp % KT);
    let mut c = [0f32; BM * NR];
    let mut tail = [0u32; KT * NR];
    let tiles = TileConfig::load();
    let blocks16 = m.div_ceil(ROWS);
    for pn in 0..n.div_ceil(NR) {
        let panel = &pb[pn * kp * NR..][..kp * NR];
        // The pairs past the panel's last whole tile, with zeros after them: a tile loaded
        // where they lie would read the next panel's pairs (or past the end).
        let tail = (part > 0).then(|| {
            tail[..part * NR].copy_from_slice(&panel[full * KT * NR..]);
            tail[part * NR..].fill(0);
            &tail
        });
        let cols = NR.min(n - pn * NR);
        for rb in 0..m.div_ceil(BM) {
            // The two 16-row blocks of A; a last lone one stands for both (its second copy's
            // rows of C are not written out).
            let upper = &pa[2 * rb * ROWS * kpad..][..ROWS * kpad];
            let lower = if 2 * rb + 1 < blocks16 {
                &pa[(2 * rb + 1) * ROWS * kpad..][..ROWS * kpad]
            } else {
                upper
            };
            let rows = BM.min(m - rb * BM);
            let at = rb * BM * n + pn * NR;
            let b = Operands {
                a: (upper, lower),
                b: &panel[..full * KT * NR],
                tail,
            };
            if rows == BM && cols == NR && !accumulate {
                assert!(at + (BM - 1) * n + NR <= dst.len());
                // SAFETY: the block's 32 rows of 32 values, n apart, lie inside dst (asserted).
                unsafe { tiles.block(&b, dst.as_mut_ptr().add(at), n) };
            } else {
                // SAFETY: c holds 32 rows of NR values.
                unsafe { tiles.block(&b, c.as_mut_ptr(), NR) };
                write_block(dst, (at, n), &c, (rows, cols), accumulate);
            }
        }
    }
    drop(tiles);
}

/// One block's operands: A's two 16-row blocks (`[16][kpad]` pairs each), B's panel's whole
/// tiles of k (16 pair rows of NR each) and its last part tile padded with zeros, if any.
struct Operands<'a> {
    a: (&'a [u32], &'a [u32]),
    b: &'a [u32],
    tail: Option<&'a [u32; KT * NR]>,
}

/// The tile registers configured for [`TileConfig::block`] on this thread, released on drop.
struct TileConfig(());

impl TileConfig {
    /// Eight tiles of 16 rows of 64 bytes (palette 1).
    fn load() -> Self {
        let mut cfg = [0u8; 64];
        cfg[0] = 1;
        for t in 0..8 {
            cfg[16 + 2 * t] = 64;
            cfg[48 + t] = 16;
        }
        // SAFETY: AMX is available and granted to this process (`matmul_packed` asserts
        // `available`); `cfg` is a valid 64-byte palette-1 configuration.
        unsafe { asm!("ldtilecfg [{}]", in(reg) cfg.as_ptr(), options(nostack, readonly)) };
        TileConfig(())
    }

    /// C (32 rows of NR f32, row `ldc` f32s apart, from `c`) = A's block x B's panel.
    ///
    /// # Safety
    /// `c` points at 32 rows of NR writable f32s, `ldc` apart.
    unsafe fn block(&self, ops: &Operands, c: *mut f32, ldc: usize) {
        let (upper, lower) = ops.a;
        let full = ops.b.len() / (KT * NR);
        let kts = full + usize::from(ops.tail.is_some());
        assert!(kts > 0 && ops.b.len() == full * KT * NR);
        assert!(upper.len() == ROWS * kts * KT && lower.len() == ROWS * kts * KT);
        let tail = ops.tail.map_or(std::ptr::null(), |t| t.as_ptr());
        // SAFETY: the tiles are configured (`self`). Step j of the loop reads A's tiles of 16
        // rows of 64 bytes at pair 16j of each row (rows `kts * 64` bytes apart) and 16 pair
        // rows of B (128 bytes apart, columns 0-15 and 16-31), inside the slices (asserted);
        // the tail step reads A's last tiles and the 16 rows of `tail`. The stores write
        // the four C tiles into c's 32 rows (the caller's contract).
        unsafe {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "test {n}, {n}",
                "jz 3f",
                "2:",
                "tileloadd tmm4, [{a0} + {sa}]",
                "tileloadd tmm5, [{a1} + {sa}]",
                "tileloadd tmm6, [{b} + {s128}]",
                "tileloadd tmm7, [{b} + {s128} + 64]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "add {a0}, 64",
                "add {a1}, 64",
                "add {b}, 2048",
                "dec {n}",
                "jnz 2b",
                "3:",
                "test {t}, {t}",
                "jz 4f",
                "tileloadd tmm4, [{a0} + {sa}]",
                "tileloadd tmm5, [{a1} + {sa}]",
                "tileloadd tmm6, [{t} + {s128}]",
                "tileloadd tmm7, [{t} + {s128} + 64]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "4:",
                "tilestored [{c0} + {sc}], tmm0",
                "tilestored [{c0} + {sc} + 64], tmm1",
                "tilestored [{c1} + {sc}], tmm2",
                "tilestored [{c1} + {sc} + 64], tmm3",
                a0 = inout(reg) upper.as_ptr() => _,
                a1 = inout(reg) lower.as_ptr() => _,
                b = inout(reg) ops.b.as_ptr() => _,
                n = inout(reg) full => _,
                t = in(reg) tail,
                c0 = in(reg) c,
                c1 = in(reg) c.wrapping_add(ROWS * ldc),
                sa = in(reg) kts * KT * 4,
                sc = in(reg) ldc * 4,
                s128 = in(reg) 128usize,
                options(nostack),
            );
        }
    }
}

impl Drop for TileConfig {
    fn drop(&mut self) {
        // SAFETY: releases this thread's tile configuration (loaded in `load`).
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

//! The CUDA code of convlab's batch-norm kernels, compiled here without a GPU: each kernel
//! through both of cubecl-cuda's compilers (LLVM to PTX, the default; CUDA C++ for NVRTC, the
//! `cuda-nvrtc` build), for an H100 (sm_90a), at the fast recipe's launch geometry.
//!
//! Why: on a GPU the kernels are compiled only when first launched, so CI, which has no GPU,
//! would not see one that fails to compile for CUDA; and when they go wrong on a GPU (they
//! diverged on the fast recipe, bench/RESULTS.md) the code the GPU ran can be read here. The
//! kernels are expanded with the CubeCL CPU runtime's device properties (a kernel needs some to
//! expand; these kernels use no feature that differs between the two).

use cubecl::cuda::compiler::CudaBackend;
use cubecl::cuda::{CudaCompilationOptions, CudaCompiler, CudaRepresentation};
use cubecl::ir::nvidia::SmArch;
use cubecl::prelude::*;

use super::kernels::{
    backward_finish_kernel, backward_input_kernel, channel_partials_kernel, forward_finish_kernel,
    forward_output_kernel,
};

/// One kernel as one CUDA compiler turned it out.
pub struct KernelSource {
    /// The kernel, and for the partial sums its units per cube and direction:
    /// `channel_partials/256/forward`.
    pub kernel: String,
    /// "llvm" (PTX) or "cpp" (CUDA C++ for NVRTC).
    pub compiler: &'static str,
    /// The PTX or C++ text.
    pub text: String,
    /// Shared memory per cube in bytes, as the LLVM compiler reports it (None for C++).
    pub shared_bytes: Option<usize>,
}

/// Every batch-norm kernel through both compilers for compute capability `sm` (90: H100);
/// the partial-sum kernel at 256 and 32 units per cube, forward and backward. An error
/// names the kernel and the compiler.
pub fn cuda_sources(sm: u32) -> Result<Vec<KernelSource>, String> {
    // CubeCL 0.11 re-exports its `Runtime` trait only under `__private` (for its macros).
    let client =
        <cubecl::cpu::CpuRuntime as cubecl::__private::Runtime>::client(&Default::default());
    // Buffers only for the arguments' types: the kernels are expanded, never run.
    let b = || {
        let layout = client.empty_tensor([16].into(), 4);
        // SAFETY: the length is the handle's own, and nothing reads or writes it.
        unsafe { BufferArg::from_raw_parts(layout.memory, 16) }
    };
    let (p, t) = (
        || client.properties_shared(),
        || client.target_properties_shared(),
    );
    // The fast recipe's first batch norm: batch 1,024, 64 channels of 16x16 (16 chunks each).
    let (channels, plane, count, chunks) = (64u32, 256u32, 1024 * 256u32, 16u32);
    let per_channel = CubeCount::Static(1, 1, 1);
    // One unit per element, 256 to a cube: 65,536 cubes, laid out 256 x 256 as a launch has them.
    let per_element = CubeCount::Static(256, 256, 1);
    let mut kernels: Vec<(String, Box<dyn CubeKernel>)> = Vec::new();
    for threads in [256usize, 32] {
        for forward in [true, false] {
            let way = if forward { "forward" } else { "backward" };
            let kernel = channel_partials_kernel::create_dummy_kernel(
                p(),
                t(),
                CubeCount::Static(channels, chunks, 1),
                CubeDim::new_1d(threads as u32),
                b(),
                b(),
                b(),
                b(),
                channels,
                plane,
                count,
                threads,
                forward,
            );
            kernels.push((
                format!("channel_partials/{threads}/{way}"),
                Box::new(kernel),
            ));
        }
    }
    let (unit64, unit256, eps) = (CubeDim::new_1d(64), CubeDim::new_1d(256), 1e-12f32);
    // One line per kernel: its launch geometry, its buffers, then its scalars, as `kernels.rs`
    // launches it.
    #[rustfmt::skip]
    let others: [(&str, Box<dyn CubeKernel>); 4] = [
        ("forward_finish", Box::new(forward_finish_kernel::create_dummy_kernel(
            p(), t(), per_channel.clone(), unit64, b(), b(), b(), b(), b(), b(), channels, plane, count, chunks, eps))),
        ("forward_output", Box::new(forward_output_kernel::create_dummy_kernel(
            p(), t(), per_element.clone(), unit256, b(), b(), b(), b(), b(), channels, plane))),
        ("backward_finish", Box::new(backward_finish_kernel::create_dummy_kernel(
            p(), t(), per_channel, unit64, b(), b(), b(), b(), b(), b(), b(), channels, count, chunks, eps))),
        ("backward_input", Box::new(backward_input_kernel::create_dummy_kernel(
            p(), t(), per_element, unit256, b(), b(), b(), b(), b(), b(), b(), channels, plane, count))),
    ];
    kernels.extend(
        others
            .into_iter()
            .map(|(name, kernel)| (name.to_string(), kernel)),
    );
    let options = CudaCompilationOptions {
        arch: Some(SmArch::new(sm, true)),
        ..Default::default()
    };
    let mut out = Vec::new();
    for (name, kernel) in &kernels {
        for (compiler, backend) in [("llvm", CudaBackend::Llvm), ("cpp", CudaBackend::Cpp)] {
            let fail = |e: String| format!("kernel {name}, {compiler} compiler: {e}");
            let definition =
                cubecl::define_kernel(kernel.as_ref()).map_err(|e| fail(format!("{e:?}")))?;
            let repr =
                cubecl::Compiler::compile(&mut CudaCompiler::new(backend), definition, &options)
                    .map_err(|e| fail(format!("{e:?}")))?;
            let (text, shared_bytes) = match repr {
                CudaRepresentation::Llvm(module) => {
                    let bytes: Vec<u8> = module.ptx.iter().map(|&c| c as u8).collect();
                    let text = String::from_utf8_lossy(&bytes)
                        .trim_end_matches('\0')
                        .to_string();
                    (text, Some(module.shared_memory_size))
                }
                CudaRepresentation::Cpp(source) => (source.to_string(), None),
            };
            out.push(KernelSource {
                kernel: name.clone(),
                compiler,
                text,
                shared_bytes,
            });
        }
    }
    Ok(out)
}

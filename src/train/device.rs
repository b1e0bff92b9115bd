//! Picking the Burn device by name. "cpu" is Burn's flex backend: measured ~10x faster than
//! ndarray on these nets (bench/README.md has the figures).

use burn::tensor::Device;

use crate::error::{Error, Result};

crate::choice! {
    pub enum DeviceName("device") {
        /// Burn's flex backend plus convlab's own CPU operations.
        Cpu => "cpu",
        /// Burn's CUDA backend (`--features cuda`).
        Cuda => "cuda",
        /// Burn's ndarray backend (`--features ndarray`), kept only to measure it.
        Ndarray => "ndarray",
        /// Burn's CubeCL CPU backend (`--features cubecl-cpu`): the GPU path's kernels,
        /// JIT-compiled for the CPU, to test that path where there is no GPU.
        CubeclCpu => "cubecl-cpu",
    }
}

/// A `--device` flag's text as a device name.
pub fn parse_flag(text: &str) -> Result<DeviceName> {
    text.parse().map_err(|e| Error::input("--device", e))
}

pub fn select(name: DeviceName) -> Result<Device> {
    match name {
        DeviceName::Cpu => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        DeviceName::Cuda => match super::cuda_probe::devices() {
            Ok(_) => {
                super::kernel_cache::apply()?;
                Ok(Device::cuda(0))
            }
            Err(problem) => Err(Error::input("device cuda", problem)),
        },
        #[cfg(not(feature = "cuda"))]
        DeviceName::Cuda => Err(Error::input(
            "device cuda",
            "not in this build: rebuild with `cargo build --release --features cuda`",
        )),
        #[cfg(feature = "cubecl-cpu")]
        DeviceName::CubeclCpu => {
            super::kernel_cache::apply()?;
            Ok(Device::cpu())
        }
        #[cfg(not(feature = "cubecl-cpu"))]
        DeviceName::CubeclCpu => Err(Error::input(
            "device",
            "cubecl-cpu is not in this build: rebuild with `--features cubecl-cpu`",
        )),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        DeviceName::Ndarray => Ok(Device::ndarray()),
        #[cfg(not(feature = "ndarray"))]
        DeviceName::Ndarray => Err(Error::input(
            "device",
            "ndarray is not in this build: rebuild with `--features ndarray`",
        )),
    }
}

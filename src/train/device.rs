//! Picking the Burn device by name. "cpu" is Burn's flex backend: measured ~10x faster than
//! ndarray on these nets (bench/README.md has the figures).

use burn::tensor::Device;

use crate::error::{Error, Result};

pub fn select(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(not(feature = "cuda"))]
        "cuda" => Err(Error::input(
            "device",
            "cuda is not in this build: rebuild with `cargo build --release --features cuda`",
        )),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => Ok(Device::ndarray()),
        #[cfg(not(feature = "ndarray"))]
        "ndarray" => Err(Error::input(
            "device",
            "ndarray is not in this build: rebuild with `--features ndarray`",
        )),
        other => Err(Error::input(
            "device",
            format!("unknown device \"{other}\" (expected cpu, cuda or ndarray)"),
        )),
    }
}

//! Asking the NVIDIA driver whether a CUDA device is usable, before anything is created.
//!
//! Why: cubecl-cuda initialises the driver lazily, on its own device thread, and unwraps the
//! result; on a machine without the driver (or without a visible GPU) `--device cuda` used to
//! panic twice at the first tensor, after the run folder existed. The driver is a shared
//! library with a stable C interface, so three calls (load it, `cuInit`, `cuDeviceGetCount`)
//! answer the question with an error we can word, whatever way cudarc was built to link.

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::sync::OnceLock;

use libloading::{Library, Symbol};

/// The names the driver library has on each system (cudarc looks for the same ones).
const DRIVER_NAMES: &[&str] = if cfg!(windows) {
    &["nvcuda.dll"]
} else {
    &["libcuda.so.1", "libcuda.so"]
};

/// `Ok(n)` with the number of CUDA devices, or why CUDA cannot be used here, in one line.
/// The answer is computed once per process.
pub fn devices() -> Result<usize, String> {
    static ANSWER: OnceLock<Result<usize, String>> = OnceLock::new();
    ANSWER.get_or_init(ask_driver).clone()
}

fn ask_driver() -> Result<usize, String> {
    // SAFETY: loading the NVIDIA driver runs only its own initialisers.
    let lib = DRIVER_NAMES
        .iter()
        .find_map(|name| unsafe { Library::new(*name) }.ok())
        .ok_or_else(|| {
            format!(
                "no NVIDIA driver on this machine ({} not found); use --device cpu",
                DRIVER_NAMES[0]
            )
        })?;
    let mut n: c_int = 0;
    // SAFETY: the signatures are the CUDA driver API's (cuda.h), stable since CUDA 2.
    unsafe {
        let init: Symbol<unsafe extern "C" fn(c_uint) -> c_int> = symbol(&lib, b"cuInit\0")?;
        let count: Symbol<unsafe extern "C" fn(*mut c_int) -> c_int> =
            symbol(&lib, b"cuDeviceGetCount\0")?;
        let code = init(0);
        if code != 0 {
            return Err(format!(
                "the NVIDIA driver did not start ({}); use --device cpu",
                error_name(&lib, code)
            ));
        }
        let code = count(&mut n);
        if code != 0 {
            return Err(format!(
                "the NVIDIA driver cannot list devices ({})",
                error_name(&lib, code)
            ));
        }
        if n <= 0 {
            return Err("the NVIDIA driver sees no GPU (check CUDA_VISIBLE_DEVICES)".into());
        }
    }
    #[cfg(feature = "cuda-nvrtc")]
    nvrtc_ready()?;
    Ok(n as usize)
}

/// With `--features cuda-nvrtc`, CubeCL hands CUDA C++ to NVRTC, which needs libnvrtc and the
/// CUDA headers; without them cubecl-cuda panics at the first kernel. It finds the headers
/// under CUDA_PATH, else /usr/local/cuda, /opt/cuda, or /usr when /usr/bin/nvcc exists (its
/// own search, repeated here so the answer is an error rather than a panic).
#[cfg(feature = "cuda-nvrtc")]
fn nvrtc_ready() -> Result<(), String> {
    use std::path::{Path, PathBuf};
    const HINT: &str =
        "(PyTorch's CUDA wheels carry both: site-packages/nvidia/cu13, with include/ and lib/)";
    let root = std::env::var_os("CUDA_PATH")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/local/cuda", "/opt/cuda"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .or_else(|| {
                    Path::new("/usr/bin/nvcc")
                        .exists()
                        .then(|| PathBuf::from("/usr"))
                })
        });
    match root {
        Some(root) if root.join("include").join("cuda_fp16.h").exists() => {}
        Some(root) => {
            return Err(format!(
                "this build compiles GPU kernels with NVRTC, and {} has no CUDA headers \
                 (include/cuda_fp16.h); point CUDA_PATH at a CUDA toolkit folder {HINT}",
                root.display()
            ));
        }
        None => {
            return Err(format!(
                "this build compiles GPU kernels with NVRTC, which needs the CUDA headers: \
                 set CUDA_PATH to a CUDA toolkit folder {HINT}"
            ));
        }
    }
    // The names cudarc tries for CUDA 13 and 12.
    let names = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"];
    // SAFETY: loading NVRTC runs only its own initialisers.
    if names.iter().any(|n| unsafe { Library::new(*n) }.is_ok()) {
        Ok(())
    } else {
        Err(format!(
            "this build compiles GPU kernels with NVRTC, and libnvrtc.so is not found: add its \
             folder to LD_LIBRARY_PATH {HINT}"
        ))
    }
}

unsafe fn symbol<'l, T>(lib: &'l Library, name: &[u8]) -> Result<Symbol<'l, T>, String> {
    // SAFETY: the caller states the symbol's true type.
    unsafe { lib.get(name) }.map_err(|_| {
        let shown = String::from_utf8_lossy(&name[..name.len() - 1]).into_owned();
        format!("the NVIDIA driver library lacks {shown}; it is too old or not NVIDIA's")
    })
}

/// The driver's own name for an error code (CUDA_ERROR_NO_DEVICE, ...), or the number.
fn error_name(lib: &Library, code: c_int) -> String {
    let named = unsafe {
        symbol::<unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int>(lib, b"cuGetErrorName\0")
    }
    .ok()
    .and_then(|get| {
        let mut text: *const c_char = std::ptr::null();
        // SAFETY: on success the driver points `text` at a static C string.
        (unsafe { get(code, &mut text) } == 0 && !text.is_null()).then(|| {
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned()
        })
    });
    named.unwrap_or_else(|| format!("CUresult {code}"))
}

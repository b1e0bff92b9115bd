//! CubeCL's on-disk cache of compiled kernels, switched on for convlab's CubeCL devices
//! (`cuda`, `cubecl-cpu`) before the first one starts.
//!
//! Why: a CubeCL process compiles each kernel the first time it launches it. On an H100 the
//! fast recipe's warm runs spent 23-27 s of their 45 s in epochs 1 and 10, the epochs where a
//! new process first meets each kernel (bench/RESULTS.md, "GPU: the first session on one
//! H100"). CubeCL keeps autotune results on disk by default but compiled kernels only when its
//! config says `[compilation] cache = true`, which is off by default; a PyTorch user expects a
//! second run to start at full speed, so convlab turns it on. Left to CubeCL instead:
//! - with `CONVLAB_KERNEL_CACHE=off` (or `0`, `false`);
//! - when a CubeCL config file is in the working directory or a parent (`cubecl.toml`,
//!   `CubeCL.toml`, or a `[cubecl]` section in `burn.toml` / `Burn.toml`): the user's file
//!   decides, as CubeCL would read it.
//!
//! The kernels go where CubeCL keeps its autotune results: `target/environment` of the
//! outermost Cargo project above the working directory, else the user cache directory
//! (`~/.cache/cubecl`). The cache changes no number: it holds the same compiled kernels.

use std::path::{Path, PathBuf};

/// The environment variable that switches the cache off.
pub const SWITCH: &str = "CONVLAB_KERNEL_CACHE";

/// The files CubeCL reads its config from (cubecl-runtime 0.11's `file_names` and
/// `section_file_names`), looked for in each folder from the working directory up.
const CUBECL_FILES: &[&str] = &["cubecl.toml", "CubeCL.toml"];
const SECTION_FILES: &[&str] = &["burn.toml", "Burn.toml"];

#[derive(Debug, PartialEq, Eq)]
pub enum KernelCache {
    /// convlab sets CubeCL's compilation cache on.
    On,
    /// `CONVLAB_KERNEL_CACHE` says off: CubeCL's defaults stand.
    Off,
    /// A CubeCL config file of the user's decides.
    UserFile(PathBuf),
}

/// What to do, from `CONVLAB_KERNEL_CACHE`'s value (`None`: unset) and the folder CubeCL would
/// start its search for a config file from (`None`: no working directory).
pub fn decide(switch: Option<&str>, cwd: Option<&Path>) -> Result<KernelCache, String> {
    match switch.map(str::trim) {
        None | Some("") | Some("on" | "1" | "true") => {}
        Some("off" | "0" | "false") => return Ok(KernelCache::Off),
        Some(other) => return Err(format!("'{other}' is neither on nor off")),
    }
    let mut dir = cwd.map(Path::to_path_buf);
    while let Some(d) = dir {
        if let Some(file) = CUBECL_FILES.iter().map(|n| d.join(n)).find(|p| p.is_file()) {
            return Ok(KernelCache::UserFile(file));
        }
        if let Some(file) = SECTION_FILES
            .iter()
            .map(|n| d.join(n))
            .find(|p| has_cubecl_section(p))
        {
            return Ok(KernelCache::UserFile(file));
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    Ok(KernelCache::On)
}

/// Whether a Burn config file has a `[cubecl]` table (what CubeCL reads from it).
fn has_cubecl_section(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|table| table.contains_key("cubecl"))
}

/// Applies [`decide`] for this process, once, before its first CubeCL device. If CubeCL has
/// already read its config (a device started earlier), that config stays.
#[cfg(any(feature = "cuda", feature = "cubecl-cpu"))]
pub fn apply() -> crate::error::Result<()> {
    use cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let switch = std::env::var(SWITCH).ok();
    let cwd = std::env::current_dir().ok();
    match decide(switch.as_deref(), cwd.as_deref()) {
        Ok(KernelCache::On) => {
            // Defaults plus CubeCL's own CUBECL_* variables, as its loader would have them.
            let mut config = CubeClRuntimeConfig::default().override_from_env();
            config.compilation.cache = true;
            CubeClRuntimeConfig::try_set(config);
            Ok(())
        }
        Ok(KernelCache::Off | KernelCache::UserFile(_)) => Ok(()),
        Err(problem) => Err(crate::error::Error::input(SWITCH, problem)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "convlab-kernel-cache-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        dir
    }

    #[test]
    fn on_unless_switched_off_or_configured() {
        let dir = folder("plain");
        let inner = dir.join("a/b");
        // Only the folders under the temp dir are ours: a config file above it (unlikely)
        // would be found too, so the expectation is computed for the plain case.
        let above = decide(None, dir.parent());
        if above == Ok(KernelCache::On) {
            assert_eq!(decide(None, Some(&inner)), Ok(KernelCache::On));
            assert_eq!(decide(Some("on"), Some(&inner)), Ok(KernelCache::On));
            assert_eq!(decide(None, None), Ok(KernelCache::On));
        }
        assert_eq!(decide(Some("off"), Some(&inner)), Ok(KernelCache::Off));
        assert_eq!(decide(Some("0"), None), Ok(KernelCache::Off));
        let err = decide(Some("sometimes"), Some(&inner)).unwrap_err();
        assert!(err.contains("'sometimes'"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_users_cubecl_file_in_a_parent_decides() {
        let dir = folder("file");
        let inner = dir.join("a/b");
        std::fs::write(dir.join("a/cubecl.toml"), "[compilation]\ncache = false\n").unwrap();
        assert_eq!(
            decide(None, Some(&inner)),
            Ok(KernelCache::UserFile(dir.join("a/cubecl.toml")))
        );
        // The switch still wins: off leaves everything to CubeCL anyway.
        assert_eq!(decide(Some("off"), Some(&inner)), Ok(KernelCache::Off));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_burn_toml_counts_only_with_a_cubecl_section() {
        let dir = folder("burn");
        let inner = dir.join("a/b");
        std::fs::write(inner.join("burn.toml"), "[fusion]\nx = 1\n").unwrap();
        let above = decide(None, dir.parent());
        if above == Ok(KernelCache::On) {
            assert_eq!(decide(None, Some(&inner)), Ok(KernelCache::On));
        }
        std::fs::write(
            inner.join("burn.toml"),
            "[cubecl.compilation]\ncache = false\n",
        )
        .unwrap();
        assert_eq!(
            decide(None, Some(&inner)),
            Ok(KernelCache::UserFile(inner.join("burn.toml")))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

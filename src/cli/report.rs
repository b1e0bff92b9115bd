//! `convlab report runs/<study>`: tables, verdict, figures and report.html of a study; or
//! `convlab report RUN_DIR RUN_DIR...`: the same for runs trained one at a time.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::run::files;

#[derive(Args)]
pub struct ReportArgs {
    /// A study folder (runs/<study>), or run folders to compare (runs/mnist runs/mnist-sgdm ...).
    #[arg(required = true, value_name = "STUDY_DIR | RUN_DIR...")]
    dirs: Vec<PathBuf>,
    /// Where a comparison of run folders goes [default: comparison/ beside the first run].
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(a: ReportArgs) -> Result<()> {
    // `convlab report study.toml`: the study file, where its folder is meant.
    if let Some(file) = a.dirs.iter().find(|d| d.is_file()) {
        let what = match file.extension().is_some_and(|e| e == "toml") {
            true => {
                "a config file; report takes folders: a study's runs/<study>/ (its sweep wrote the report there) or run folders"
            }
            false => "a file; report takes a study's folder or run folders",
        };
        return Err(Error::input(file.display(), what));
    }
    let study = match a.dirs.as_slice() {
        [one] if !one.join(files::CONFIG).exists() => Some(one.clone()),
        _ => None,
    };
    let (root, md) = match study {
        Some(root) => {
            if a.out.is_some() {
                return Err(Error::input(
                    root.display(),
                    "--out is for comparing run folders; a study's report goes in its folder",
                ));
            }
            // Not while a sweep of the study writes its own report (a missing folder is
            // write's error).
            let _lock = match root.is_dir() {
                true => Some(crate::run::lock_waiting(&root)?),
                false => None,
            };
            let md = crate::report::study::write(&root)?;
            (root, md)
        }
        None => {
            let runs = crate::experiment::compare::runs_among(&a.dirs)?;
            let parent = runs[0].parent().unwrap_or(std::path::Path::new("."));
            let out = a.out.clone().unwrap_or_else(|| parent.join("comparison"));
            let md = crate::experiment::compare::write(&runs, &out)?;
            (out, md)
        }
    };
    println!("{md}");
    println!("wrote {}", root.join("report.html").display());
    Ok(())
}

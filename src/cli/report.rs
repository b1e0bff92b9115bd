//! `convlab report runs/<study>`: tables, verdict, figures and report.html of a study.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;

#[derive(Args)]
pub struct ReportArgs {
    study_dir: PathBuf,
}

pub fn run(a: ReportArgs) -> Result<()> {
    // Not while a sweep of the study writes its own report (a missing folder is write's error).
    let _lock = if a.study_dir.is_dir() {
        Some(crate::run::lock_waiting(&a.study_dir)?)
    } else {
        None
    };
    let md = crate::report::study::write(&a.study_dir)?;
    println!("{md}");
    println!("wrote {}", a.study_dir.join("report.html").display());
    Ok(())
}

//! `convlab presets`: the preset table.

use crate::error::Result;
use crate::model::presets::PRESETS;

pub fn run() -> Result<()> {
    for p in PRESETS {
        println!("{:<14} {}", p.name, p.about);
    }
    Ok(())
}

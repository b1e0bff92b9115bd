//! What a person reads: a run's curves, a study's tables, verdict, figures and HTML page,
//! a checkpoint's diagnostics, lr-find's plot. It reads the run folder's schema (`run`)
//! and datasets (`data`), never the trainer.

pub mod curves;
pub mod diagnostics;
pub mod heatmap;
pub mod html;
pub mod lr_find;
mod repeats;
pub mod study;
pub mod study_plots;
pub mod study_tables;

use std::path::Path;
use std::sync::Once;

use crate::error::{Error, Result};

/// plotters draws text with this embedded font (DejaVu Sans, see assets/), so charts need
/// no system font library.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [
            plotters::style::FontStyle::Normal,
            plotters::style::FontStyle::Bold,
        ] {
            if plotters::style::register_font("sans-serif", style, FONT).is_err() {
                tracing::warn!("could not load the embedded chart font");
            }
        }
    });
}

/// A CSV field as RFC 4180 quotes it: a name with a comma, quote or line break in quotes,
/// its quotes doubled (a class folder "chat, noir" stays one column and keeps its comma).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A Markdown table cell: a `|` in a name (a folder may hold one) would start a new column.
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub type DrawResult = std::result::Result<(), String>;

pub fn se<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Move a PNG drawn into `tmp` to `path`; when drawing or the move failed (a full disk, a
/// file-size limit), remove `tmp` and leave what `path` held before untouched.
pub fn finish_png(tmp: &Path, path: &Path, drawn: DrawResult) -> Result<()> {
    let moved = match drawn {
        Ok(()) => std::fs::rename(tmp, path).map_err(|e| Error::io(path, e)),
        Err(problem) => Err(Error::Draw {
            path: path.to_path_buf(),
            problem,
        }),
    };
    if moved.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    moved
}

/// A figure drawn twice, as `<name>.png` and `<name>.svg`; the SVG text is kept for HTML.
pub struct Figure {
    pub name: String,
    pub title: String,
    pub svg: String,
}

/// Draw with `$f(&area, args...)` (generic over the plotters backend) into `<dir>/<name>.png`
/// and `<dir>/<name>.svg`, both written atomically; evaluates to a [`Figure`].
#[macro_export]
macro_rules! render_png_svg {
    ($dir:expr, $name:expr, $title:expr, $size:expr, $f:ident, $($arg:expr),*) => {{
        use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend, WHITE};
        let png = $dir.join(format!("{}.png", $name));
        let tmp = $dir.join(format!(".{}.tmp.png", $name));
        let mut svg = String::new();
        let drawn = (|| -> $crate::report::DrawResult {
            {
                let area = BitMapBackend::new(&tmp, $size).into_drawing_area();
                area.fill(&WHITE).map_err($crate::report::se)?;
                $f(&area, $($arg),*)?;
                area.present().map_err($crate::report::se)?;
            }
            let area = SVGBackend::with_string(&mut svg, $size).into_drawing_area();
            area.fill(&WHITE).map_err($crate::report::se)?;
            $f(&area, $($arg),*)?;
            area.present().map_err($crate::report::se)
        })();
        $crate::report::finish_png(&tmp, &png, drawn)?;
        $crate::error::write_atomic(&$dir.join(format!("{}.svg", $name)), svg.as_bytes())?;
        $crate::report::Figure { name: $name.to_string(), title: $title.to_string(), svg }
    }};
}

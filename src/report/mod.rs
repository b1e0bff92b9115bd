//! Charts, study tables and the HTML report.

pub mod curves;
pub mod html;
pub mod study;
pub mod study_plots;

use std::sync::Once;

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

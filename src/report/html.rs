//! report.html: one self-contained page (inline CSS and SVG, no external file or script),
//! so it can be mailed or attached to a notebook as it is.

use std::fmt::Write as _;

use crate::report::Figure;
use crate::report::study::{
    Group, ReportText, StudyData, best_index, cells, header, raw_column, test_column,
};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The same rows as the Markdown table, built from the groups directly.
fn table(first: &str, groups: &[Group]) -> String {
    let raw = raw_column(groups);
    let mut out = String::from("<table>\n<tr>");
    for h in header(first, raw) {
        let _ = write!(out, "<th>{}</th>", esc(&h));
    }
    out.push_str("</tr>\n");
    let best = best_index(groups);
    for (i, g) in groups.iter().enumerate() {
        out.push_str("<tr>");
        for (col, cell) in cells(g, raw).iter().enumerate() {
            if col == test_column(raw) && Some(i) == best {
                let _ = write!(out, "<td><b>{}</b></td>", esc(cell));
            } else {
                let _ = write!(out, "<td>{}</td>", esc(cell));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

pub fn page(data: &StudyData, r: &ReportText, figures: &[Figure]) -> String {
    let first = if data.index.axes.len() == 1 {
        data.index.axes[0].name.as_str()
    } else {
        "variant"
    };
    let mut body = format!(
        "<h1>{}</h1>\n<p>{}: {}. Mean &plusmn; std over seeds; the best test accuracy is in bold.</p>\n",
        esc(&r.title),
        esc(&data.index.source().replace('`', "")),
        esc(&data.index.shape()).replace(" x ", " &times; ")
    );
    body.push_str(&table(first, &r.variants));
    let _ = writeln!(body, "<p class=\"verdict\">{}</p>", esc(&r.verdict));
    for line in &r.repeats {
        let _ = writeln!(body, "<p>{}</p>", esc(line));
    }
    if !r.diverged.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"warn\">Diverged: {}</p>",
            esc(&r.diverged.join(", "))
        );
    }
    for (axis, groups) in &r.per_axis {
        let _ = writeln!(
            body,
            "<h2>By {} (over all other axes and seeds)</h2>",
            esc(axis)
        );
        body.push_str(&table(axis, groups));
    }
    for f in figures {
        let _ = writeln!(
            body,
            "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>",
            esc(&f.name),
            f.svg,
            esc(&f.title)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\nbody{{font-family:sans-serif;max-width:1240px;margin:2em auto;padding:0 1em;color:#222}}\ntable{{border-collapse:collapse;margin:1em 0}}\nth,td{{border:1px solid #ccc;padding:4px 10px;text-align:right}}\nth:first-child,td:first-child{{text-align:left}}\nth{{background:#f2f2f2}}\n.verdict{{background:#eef6ee;padding:.6em 1em;border-left:4px solid #3a3}}\n.warn{{color:#a22}}\nfigure{{margin:2em 0}}\nfigure svg{{max-width:100%;height:auto}}\n</style></head>\n<body>\n{}</body></html>\n",
        esc(&r.title),
        body
    )
}

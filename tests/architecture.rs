//! The code map (README "Code map") as a test: every top-level module imports only the
//! modules its layer allows, so imports run one way and form no cycle; and no source or
//! test file grows past 400 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each top-level module may import (besides std and crates).
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("choice", &[]),
    ("seed", &[]),
    ("text", &[]),
    ("run", &["error", "text"]),
    ("data", &["error", "choice", "seed", "text"]),
    ("model", &["data", "error", "choice"]),
    (
        "train",
        &["model", "data", "run", "error", "choice", "seed", "text"],
    ),
    ("report", &["data", "run", "error", "text"]),
    ("serve", &["model", "error"]),
    (
        "experiment",
        &[
            "train", "report", "model", "data", "run", "error", "choice", "text",
        ],
    ),
    (
        "cli",
        &[
            "experiment",
            "serve",
            "report",
            "train",
            "model",
            "data",
            "run",
            "error",
            "text",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::NAME` references of every file, grouped by the file's top-level module.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = graph.entry(top.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `crate::render_png_svg!` and `crate::choice!` are macros at the crate root.
            let is_macro = text[i + 7 + name.len()..].starts_with('!');
            if name != top && !is_macro {
                deps.insert(name);
            }
        }
    }
    graph
}

#[test]
fn modules_import_only_lower_layers() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let graph = imports();
    for (module, deps) in &graph {
        let ok = allowed
            .get(module.as_str())
            .unwrap_or_else(|| panic!("module {module} is not in the code map"));
        for d in deps {
            assert!(
                ok.contains(&d.as_str()),
                "{module} imports {d}, which its layer does not allow"
            );
        }
    }
    // The allowed graph itself must be acyclic (a topological order exists).
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < ALLOWED.len() {
        let before = done.len();
        for (m, deps) in ALLOWED {
            if deps.iter().all(|d| done.contains(d)) {
                done.insert(m);
            }
        }
        assert!(done.len() > before, "the code map has a cycle");
    }
}

#[test]
fn no_source_or_test_file_over_400_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    for f in files {
        let n = std::fs::read_to_string(&f).unwrap().lines().count();
        assert!(n <= 400, "{} has {n} lines", f.display());
    }
}

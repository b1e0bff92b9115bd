//! Runs of one config and one seed in a comparison (a rerun, to see whether it reproduces):
//! on one CPU they must give the same metrics.csv, so the report says whether they did, and
//! when not, what their run.json say differs.

use std::collections::{BTreeMap, BTreeSet};

use crate::report::study::{RunResult, StudyData, by_key};
use crate::run::RunDir;

/// One line per set of finished runs with the same variant and seed.
pub fn lines(data: &StudyData) -> Vec<String> {
    let finished = data.runs.iter().filter(|r| r.finished());
    let sets = by_key(finished, |r| (r.variant, r.seed));
    let epochs =
        |r: &RunResult| -> Vec<String> { r.rows.iter().map(|m| m.csv_row(true)).collect() };
    let test = |r: &&RunResult| {
        let acc = r.summary.as_ref().and_then(|s| s.test_acc);
        acc.map_or("n/a".into(), |a| format!("{:.2}%", a * 100.0))
    };
    sets.into_values()
        .filter(|runs| runs.len() > 1)
        .map(|runs| {
            let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
            let head = format!(
                "{} have the same config and seed ({})",
                names.join(", "),
                runs[0].seed
            );
            let first = epochs(runs[0]);
            if runs[1..].iter().all(|r| epochs(r) == first) {
                format!(
                    "{head} and the same metrics, epoch by epoch (test {}): reproduced.",
                    test(&runs[0])
                )
            } else {
                let tests: Vec<String> = runs.iter().map(test).collect();
                format!(
                    "{head} but NOT the same metrics (test {}): {}.",
                    tests.join(", "),
                    provenance_differences(&runs)
                )
            }
        })
        .collect()
}

/// What could make one seed's numbers differ, from a run's run.json: the device, build,
/// versions and CPU, and each `CONVLAB_*` switch on its own; empty when it has none.
fn provenance(run: &RunResult) -> BTreeMap<String, String> {
    let info = RunDir {
        dir: run.dir.clone(),
    }
    .read_info();
    let Ok(Some(i)) = info else {
        return BTreeMap::new();
    };
    let fields = [
        ("device", i.device),
        ("build", i.build),
        ("convlab_version", i.convlab_version),
        ("burn_version", i.burn_version),
        ("cpu_simd", i.cpu_simd),
        ("cpu_threads", i.cpu_threads.to_string()),
        ("bf16_arithmetic", i.bf16_arithmetic),
    ];
    let fields = fields.into_iter().map(|(k, v)| (k.to_string(), v));
    fields.chain(i.env).collect()
}

fn provenance_differences(runs: &[&RunResult]) -> String {
    let infos: Vec<BTreeMap<String, String>> = runs.iter().map(|r| provenance(r)).collect();
    let keys: BTreeSet<&String> = infos.iter().flat_map(|i| i.keys()).collect();
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| infos.iter().any(|i| i.get(*k) != infos[0].get(*k)))
        .map(|k| {
            let values: Vec<&str> = (infos.iter())
                .map(|i| i.get(k).map_or("-", String::as_str))
                .collect();
            format!("{k} {}", values.join(" / "))
        })
        .collect();
    if differ.is_empty() {
        "their run.json agree on device, build, versions and CPU, where the same seed gives the same numbers: please report this with both run folders".into()
    } else {
        format!("their run.json differ in {}", differ.join(", "))
    }
}

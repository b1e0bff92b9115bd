//! `convlab import`: a PyTorch state_dict (or a whole-model `torch.save(model)`) into a
//! convlab checkpoint. Burn's PyTorch reader (burn-store) reads the file without running
//! code: the zip format, the legacy format, tensors saved from CUDA. Names differ between
//! notebooks (`conv1`, `features.0`, `fc`), so tensors are matched to the net's layers by
//! what they are (conv, linear, batch norm, PReLU) and their shapes, in natural name order;
//! a missing or misshapen tensor is an error that names its key.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use burn::store::pytorch_reader::{DType, PytorchReader, Tensor as TorchTensor};
use burn::tensor::{Device, bf16, f16};

use crate::error::{Error, Result};
use crate::model::config::Init;
use crate::model::net::Net;
use crate::model::pytorch::{Group, Kind, Named, groups, natural_key, set_groups};
use crate::model::spec::{LayerSpec, Shape};

const RESAVE: &str =
    "re-save it as a state_dict in PyTorch: torch.save(model.state_dict(), \"model.pth\")";

/// One module's tensors as the file has them.
struct FileGroup {
    module: String,
    kind: Kind,
    tensors: BTreeMap<String, TorchTensor>,
}

/// Read `path` and load its tensors into a net built from `layers` (already checked).
/// `key`: the entry holding the state_dict when the file saved more (a training checkpoint
/// such as `{"model_state_dict": ..., "optimizer_state_dict": ...}`).
pub fn load_into(
    path: &Path,
    key: Option<&str>,
    layers: &[LayerSpec],
    input: Shape,
    device: &Device,
) -> Result<Net> {
    let origin = path.display().to_string();
    let file = read_groups(path, key)?;
    let net = Net::new(layers, input, Init::Default, device);
    let want = groups(&net);
    let mut by_kind: BTreeMap<Kind, VecDeque<FileGroup>> = BTreeMap::new();
    for g in file {
        by_kind.entry(g.kind).or_default().push_back(g);
    }
    for kind in [Kind::Conv, Kind::Linear, Kind::BatchNorm, Kind::Prelu] {
        let have = by_kind.get(&kind).map_or(0, VecDeque::len);
        let need = want.iter().filter(|g| g.kind == kind).count();
        if have != need {
            let names: Vec<&str> = by_kind
                .get(&kind)
                .map(|q| q.iter().map(|g| g.module.as_str()).collect())
                .unwrap_or_default();
            return Err(Error::input(
                &origin,
                format!(
                    "the net has {need} {} layer(s) but the file has {have} ({})",
                    kind.name(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
    }
    // Each layer takes the first remaining module of its kind (in natural name order)
    // whose tensors fit it, so a stem named after its blocks still finds its weights; when
    // none fits, the mismatch of the one with the right weight shape (else the first) is
    // the error.
    let mut filled = Vec::with_capacity(want.len());
    for w in want {
        let queue = by_kind.get_mut(&w.kind).expect("counts checked above");
        let at = queue
            .iter()
            .position(|f| fits(&w, f))
            .or_else(|| queue.iter().position(|f| same_weight(&w, f)))
            .unwrap_or(0);
        let f = queue.remove(at).expect("counts checked above");
        filled.push(fill(&origin, &w, &f)?);
    }
    Ok(set_groups(net, filled, device))
}

/// Whether the file's module has exactly the tensors, with the shapes, that `w` needs.
fn fits(w: &Group, f: &FileGroup) -> bool {
    f.tensors.len() == w.tensors.len()
        && w.tensors.iter().all(|t| {
            f.tensors
                .get(t.name)
                .is_some_and(|src| src.shape() == t.shape.as_slice())
        })
}

/// Whether the weights have the same shape (the module differs in its other tensors).
fn same_weight(w: &Group, f: &FileGroup) -> bool {
    f.tensors
        .get("weight")
        .is_some_and(|src| src.shape() == w.tensors[0].shape.as_slice())
}

/// The net's group `w` with the file group `f`'s values, after checking names and shapes.
fn fill(origin: &str, w: &Group, f: &FileGroup) -> Result<Group> {
    let key = |name: &str| {
        if f.module.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", f.module)
        }
    };
    for name in f.tensors.keys() {
        if !w.tensors.iter().any(|t| t.name == name) {
            return Err(Error::input(
                origin,
                format!(
                    "{}: layer {} ({}) of the net has no such tensor",
                    key(name),
                    w.module,
                    w.kind.name()
                ),
            ));
        }
    }
    let mut tensors = Vec::with_capacity(w.tensors.len());
    for t in &w.tensors {
        let Some(src) = f.tensors.get(t.name) else {
            return Err(Error::input(
                origin,
                format!(
                    "{}: missing (layer {} ({}) needs shape {:?})",
                    key(t.name),
                    w.module,
                    w.kind.name(),
                    t.shape
                ),
            ));
        };
        if src.shape() != t.shape.as_slice() {
            return Err(Error::input(
                origin,
                format!(
                    "{}: shape {:?} but layer {} ({}) of the net needs {:?}",
                    key(t.name),
                    src.shape(),
                    w.module,
                    w.kind.name(),
                    t.shape
                ),
            ));
        }
        tensors.push(Named {
            name: t.name,
            shape: t.shape.clone(),
            values: to_f32(origin, &key(t.name), src)?,
        });
    }
    Ok(Group {
        module: w.module.clone(),
        kind: w.kind,
        tensors,
    })
}

/// The file's tensors grouped by module and classified, in natural name order.
fn read_groups(path: &Path, key: Option<&str>) -> Result<Vec<FileGroup>> {
    let origin = path.display().to_string();
    if !path.exists() {
        return Err(Error::input(&origin, "no such file"));
    }
    let opened = match key {
        Some(k) => PytorchReader::with_top_level_key(path, k),
        None => PytorchReader::new(path),
    };
    let reader = opened.map_err(|e| {
        Error::input(
            &origin,
            format!("not a readable PyTorch file ({e}); if it holds a whole model, {RESAVE}"),
        )
    })?;
    let mut modules: BTreeMap<String, BTreeMap<String, TorchTensor>> = BTreeMap::new();
    for (name, tensor) in reader.into_tensors() {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        let (module, param) = name.rsplit_once('.').unwrap_or(("", name.as_str()));
        modules
            .entry(module.to_string())
            .or_default()
            .insert(param.to_string(), tensor);
    }
    if modules.is_empty() {
        return Err(Error::input(&origin, format!("no tensors found; {RESAVE}")));
    }
    let mut out = Vec::with_capacity(modules.len());
    for (module, tensors) in modules {
        let kind = classify(&tensors).ok_or_else(|| {
            let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
            Error::input(
                &origin,
                format!(
                    "cannot tell what module \"{module}\" is (tensors: {}); convlab reads conv, linear, batch norm and PReLU weights (a file that saved more than a state_dict: pass --key, e.g. --key model_state_dict)",
                    names.join(", ")
                ),
            )
        })?;
        out.push(FileGroup {
            module,
            kind,
            tensors,
        });
    }
    out.sort_by_key(|g| natural_key(&g.module));
    Ok(out)
}

fn classify(tensors: &BTreeMap<String, TorchTensor>) -> Option<Kind> {
    if tensors.contains_key("running_mean") {
        return Some(Kind::BatchNorm);
    }
    match (tensors.get("weight")?.shape().len(), tensors.len()) {
        (4, _) => Some(Kind::Conv),
        (2, _) => Some(Kind::Linear),
        (1, 1) => Some(Kind::Prelu),
        _ => None,
    }
}

/// A floating-point tensor's values as f32.
fn to_f32(origin: &str, key: &str, t: &TorchTensor) -> Result<Vec<f32>> {
    let bytes = t
        .read()
        .map_err(|e| Error::input(origin, format!("{key}: {e}")))?;
    let values = match t.dtype() {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(Error::input(
                origin,
                format!("{key}: {other:?} tensor where floating-point weights were expected"),
            ));
        }
    };
    Ok(values)
}

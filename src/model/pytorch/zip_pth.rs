//! Writes a state_dict as `torch.save` does (PyTorch >= 1.6): a zip of stored entries
//! under `archive/`, the pickle in `data.pkl`, each tensor's bytes in `data/<key>`. The
//! pickle uses only what `torch.load(weights_only=True)` allows: an `OrderedDict` of
//! `torch._utils._rebuild_tensor_v2` calls on `FloatStorage` / `LongStorage`.

use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::model::pytorch::Group;

/// A tensor's values as they go into the file (borrowed: a ResNet's weights are 45 MB).
enum Storage<'a> {
    Float(&'a [f32]),
    /// `num_batches_tracked`, one int64.
    Long(i64),
}

/// A protocol-2 pickle, written op by op.
struct Pickle(Vec<u8>);

impl Pickle {
    fn op(&mut self, code: u8) -> &mut Self {
        self.0.push(code);
        self
    }
    fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.0.push(b'c');
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn int(&mut self, n: usize) -> &mut Self {
        match i32::try_from(n) {
            Ok(v) => {
                self.0.push(b'J');
                self.0.extend_from_slice(&v.to_le_bytes());
            }
            Err(_) => {
                // LONG1: a little-endian two's-complement integer of n bytes.
                self.0.extend_from_slice(&[0x8a, 8]);
                self.0.extend_from_slice(&(n as i64).to_le_bytes());
            }
        }
        self
    }
    fn tuple(&mut self, items: &[usize]) -> &mut Self {
        self.op(b'(');
        for &i in items {
            self.int(i);
        }
        self.op(b't')
    }
    fn ordered_dict(&mut self) -> &mut Self {
        self.global("collections", "OrderedDict").op(b')').op(b'R')
    }
    /// `_rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict())`.
    fn tensor(&mut self, key: &str, storage_type: &str, shape: &[usize]) -> &mut Self {
        let numel: usize = shape.iter().product();
        let mut strides = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * shape[i + 1];
        }
        self.global("torch._utils", "_rebuild_tensor_v2").op(b'(');
        self.op(b'(')
            .string("storage")
            .global("torch", storage_type)
            .string(key)
            .string("cpu")
            .int(numel)
            .op(b't')
            .op(b'Q');
        self.int(0).tuple(shape).tuple(&strides).op(0x89);
        self.ordered_dict().op(b't').op(b'R')
    }
}

/// The bytes of a `.pth` file holding `groups` as a state_dict (batch norm layers get the
/// `num_batches_tracked` buffer PyTorch expects, as 0).
pub fn write(groups: &[Group]) -> zip::result::ZipResult<Vec<u8>> {
    let mut pickle = Pickle(vec![0x80, 2]);
    pickle.ordered_dict().op(b'(');
    let mut storages: Vec<Storage> = Vec::new();
    for g in groups {
        for t in &g.tensors {
            let key = storages.len().to_string();
            pickle.string(&format!("{}.{}", g.module, t.name)).tensor(
                &key,
                "FloatStorage",
                &t.shape,
            );
            storages.push(Storage::Float(&t.values));
        }
        if g.kind == crate::model::pytorch::Kind::BatchNorm {
            let key = storages.len().to_string();
            pickle
                .string(&format!("{}.num_batches_tracked", g.module))
                .tensor(&key, "LongStorage", &[]);
            storages.push(Storage::Long(0));
        }
    }
    pickle.op(b'u').op(b'.');

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(false);
    let aligned = stored.with_alignment(64);
    zip.start_file("archive/data.pkl", stored)?;
    zip.write_all(&pickle.0)?;
    zip.start_file("archive/byteorder", stored)?;
    zip.write_all(b"little")?;
    for (i, s) in storages.iter().enumerate() {
        zip.start_file(format!("archive/data/{i}"), aligned)?;
        match s {
            Storage::Float(v) => v.iter().try_for_each(|x| zip.write_all(&x.to_le_bytes()))?,
            Storage::Long(v) => zip.write_all(&v.to_le_bytes())?,
        }
    }
    zip.start_file("archive/version", stored)?;
    zip.write_all(b"3\n")?;
    zip.start_file("archive/.data/version", stored)?;
    zip.write_all(b"3\n")?;
    Ok(zip.finish()?.into_inner())
}

//! metrics.csv as a TensorBoard event file, rewritten beside it after every epoch, so that
//! `tensorboard --logdir runs/<study>` draws every run's curves, each variant and seed as a
//! run of its own (Lightning's default logger and Keras' TensorBoard callback write the
//! same kind of file). After the version record, the config for the HParams dashboard
//! (hparams.rs); then scalars, one step per epoch: train/val/test loss and accuracy
//! (a fraction, as Keras logs it), the lr, and with a moving average the training
//! weights' own val loss and accuracy (raw_val/). When the run ends, its final test
//! metrics and the session's end are appended (end_records).
//!
//! The file is TFRecords: each record is its length (u64 LE), the masked CRC32C of those 8
//! bytes, an `Event` protobuf and its masked CRC32C. The five `Event` fields used are encoded
//! here by hand, as protobuf encodes them (proto3: a field at its default is left out, a
//! oneof member never is); a protobuf crate and the .proto files would outweigh this file.

use super::hparams;
use super::{EpochMetrics, Status, Summary};

/// Its name only has to contain "tfevents" for TensorBoard to read it.
pub const FILE: &str = "events.out.tfevents.convlab";

/// The whole file for `rows`; wall times count from `started_unix` by each epoch's seconds.
/// `config` (config.toml), when given, heads it as the HParams dashboard's session start.
pub fn events_file(
    rows: &[EpochMetrics],
    started_unix: f64,
    config: Option<&toml::Table>,
) -> Vec<u8> {
    let mut out = Vec::new();
    record(
        &mut out,
        &event(started_unix, 0, Body::Version("brain.Event:2")),
    );
    if let Some(config) = config {
        let params = hparams::flatten(config);
        let group = hparams::group_name(&params);
        let value = hparams::session_start_value(&params, &group, started_unix);
        record(&mut out, &summary_event(started_unix, 0, &value));
    }
    let mut wall = started_unix;
    for r in rows {
        wall += r.seconds;
        let scalars = [
            ("train/loss", Some(r.train_loss)),
            ("train/accuracy", Some(r.train_acc)),
            ("val/loss", r.val_loss),
            ("val/accuracy", r.val_acc),
            ("raw_val/loss", r.raw_val_loss),
            ("raw_val/accuracy", r.raw_val_acc),
            ("test/loss", r.test_loss),
            ("test/accuracy", r.test_acc),
            ("lr", Some(r.lr)),
        ];
        for (tag, value) in scalars {
            if let Some(v) = value {
                let body = Body::Scalar(tag, v as f32);
                record(&mut out, &event(wall, r.epoch as i64, body));
            }
        }
    }
    out
}

/// Records appended when the run ends: the test metrics of the weights it ends with (the
/// best epoch's after early stopping, which the per-epoch rows may not hold) as
/// final_test/, at its last epoch, and the HParams session's end (diverged: a failure).
pub fn end_records(summary: &Summary, started_unix: f64) -> Vec<u8> {
    let mut out = Vec::new();
    let end = started_unix + summary.seconds;
    let step = summary.epochs_run as i64;
    let finals = [
        ("final_test/loss", summary.test_loss),
        ("final_test/accuracy", summary.test_acc),
    ];
    for (tag, value) in finals {
        if let Some(v) = value {
            record(&mut out, &event(end, step, Body::Scalar(tag, v as f32)));
        }
    }
    let diverged = summary.status == Status::Diverged;
    let value = hparams::session_end_value(diverged, end);
    record(&mut out, &summary_event(end, step, &value));
    out
}

enum Body<'a> {
    Version(&'a str),
    Scalar(&'a str, f32),
    /// Wall time and step only; summary_event adds the rest.
    Empty,
}

/// `Event { wall_time = 1, step = 2, file_version = 3 | summary = 5 }`;
/// `Summary { value = 1 }`, `Summary.Value { tag = 1, simple_value = 2 }`.
fn event(wall_time: f64, step: i64, body: Body) -> Vec<u8> {
    let mut e = Vec::new();
    if wall_time != 0.0 {
        e.push(1 << 3 | 1); // field 1, 64-bit
        e.extend_from_slice(&wall_time.to_le_bytes());
    }
    if step != 0 {
        e.push(2 << 3); // field 2, varint
        varint(&mut e, step as u64);
    }
    match body {
        Body::Version(v) => bytes_field(&mut e, 3, v.as_bytes()),
        Body::Empty => {}
        Body::Scalar(tag, v) => {
            let mut value = Vec::new();
            bytes_field(&mut value, 1, tag.as_bytes());
            value.push(2 << 3 | 5); // field 2, 32-bit: in a oneof, so written even at 0
            value.extend_from_slice(&v.to_le_bytes());
            return summary_event(wall_time, step, &value);
        }
    }
    e
}

/// An `Event` whose `Summary` holds the one encoded `Summary.Value` given.
pub(super) fn summary_event(wall_time: f64, step: i64, value: &[u8]) -> Vec<u8> {
    let mut e = event(wall_time, step, Body::Empty);
    let mut summary = Vec::new();
    bytes_field(&mut summary, 1, value);
    bytes_field(&mut e, 5, &summary);
    e
}

pub(super) fn bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | 2); // length-delimited
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

/// TFRecord's checksum: CRC32C, rotated and offset so that a CRC of CRCs stays strong.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), a byte at a time.
fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0x82F6_3B78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let crc = data.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8)
    });
    !crc
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Bytes as the lowercase hex Python's `bytes.hex()` prints (hparams.rs's tests too).
    pub(in crate::run) fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// CRC-32C's check value (RFC 3720, "123456789").
    #[test]
    fn crc32c_has_its_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    // tensorboard 2.21.0's own writer, the records these tests expect byte for byte:
    //   from tensorboard.compat.proto.event_pb2 import Event
    //   from tensorboard.compat.proto.summary_pb2 import Summary
    //   from tensorboard.summary.writer.record_writer import RecordWriter
    //   import io
    //   e0 = Event(wall_time=1.5, step=0, file_version="brain.Event:2")
    //   e = Event(wall_time=1.5, step=3, summary=Summary(value=[
    //       Summary.Value(tag="train/loss", simple_value=0.25)]))
    //   for ev in (e0, e):
    //       buf = io.BytesIO(); RecordWriter(buf).write(ev.SerializeToString())
    //       print(buf.getvalue().hex())
    #[test]
    fn records_match_tensorboards_writer() {
        let mut version = Vec::new();
        record(&mut version, &event(1.5, 0, Body::Version("brain.Event:2")));
        assert_eq!(
            hex(&version),
            "1800000000000000a37f4b2209000000000000f83f1a0d627261696e2e4576656e743a322a28646c"
        );
        let mut scalar = Vec::new();
        record(
            &mut scalar,
            &event(1.5, 3, Body::Scalar("train/loss", 0.25)),
        );
        assert_eq!(
            hex(&scalar),
            "200000000000000029eda95009000000000000f83f10032a130a110a0a747261696e2f6c6f7373150000803e43301b92"
        );
    }

    /// Two epochs, the second without validation: the version record, then 7 and 5 scalars,
    /// stepped by epoch, each at the start plus the epochs' seconds so far.
    #[test]
    fn a_file_holds_one_record_per_metric_and_epoch() {
        let row = |epoch, val: Option<f64>| EpochMetrics {
            epoch,
            train_loss: 0.5,
            train_acc: 0.75,
            val_loss: val,
            val_acc: val,
            raw_val_loss: None,
            raw_val_acc: None,
            test_loss: Some(0.25),
            test_acc: Some(0.9),
            lr: 1e-3,
            seconds: 2.0,
        };
        let events = records(&events_file(
            &[row(1, Some(0.4)), row(2, None)],
            100.0,
            None,
        ));
        assert_eq!(events.len(), 1 + 7 + 5);
        assert_eq!(events[1], event(102.0, 1, Body::Scalar("train/loss", 0.5)));
        assert_eq!(events[7], event(102.0, 1, Body::Scalar("lr", 1e-3)));
        assert_eq!(events[8], event(104.0, 2, Body::Scalar("train/loss", 0.5)));
        assert_eq!(events[10], event(104.0, 2, Body::Scalar("test/loss", 0.25)));
    }

    /// A file's records, each checked against its CRC.
    fn records(file: &[u8]) -> Vec<Vec<u8>> {
        let mut rest = file;
        let mut events = Vec::new();
        while !rest.is_empty() {
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            let data = &rest[12..12 + len];
            let crc = u32::from_le_bytes(rest[12 + len..16 + len].try_into().unwrap());
            assert_eq!(crc, masked_crc(data));
            events.push(data.to_vec());
            rest = &rest[16 + len..];
        }
        events
    }

    /// An early-stopped run ends with the restored weights' test metrics and a successful
    /// session; a diverged one without a test, with a failed session only.
    #[test]
    fn a_run_ends_with_its_final_test_and_the_sessions_status() {
        let summary = |status, test: Option<f64>| Summary {
            status,
            diagnosis: None,
            epochs_run: 4,
            best_epoch: 2,
            best_val_loss: None,
            best_val_acc: None,
            test_loss: test,
            test_acc: test,
            seconds: 8.0,
            parameters: 10,
        };
        let stopped = records(&end_records(
            &summary(Status::EarlyStopped, Some(0.5)),
            100.0,
        ));
        assert_eq!(
            stopped,
            [
                event(108.0, 4, Body::Scalar("final_test/loss", 0.5)),
                event(108.0, 4, Body::Scalar("final_test/accuracy", 0.5)),
                summary_event(108.0, 4, &hparams::session_end_value(false, 108.0)),
            ]
        );
        let diverged = records(&end_records(&summary(Status::Diverged, None), 100.0));
        let failed = summary_event(108.0, 4, &hparams::session_end_value(true, 108.0));
        assert_eq!(diverged, [failed]);
    }
}

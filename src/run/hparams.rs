//! The run's config for TensorBoard's HParams dashboard: one `session_start_info` summary at
//! the head of the event file (tensorboard.rs), as Lightning's `log_hyperparams` and
//! `tensorboard.plugins.hparams.api.hparams` write it. The dashboard then tables every run of
//! `--logdir` by its config keys beside the last value of each of its scalars, the keys that
//! differ first. Every key of config.toml is given (tables flattened to dotted keys, lists as
//! their TOML text) but `name` and `seed`: the seeds of one config share a session group (the
//! config's hash, as TensorBoard's own default trial id is), so that the dashboard averages
//! them; the seed stays in each run's folder name.

use super::tensorboard::{bytes_field, varint};

/// One hyperparameter's value: `google.protobuf.Value`'s number, string or bool.
#[derive(Debug, Clone, PartialEq)]
pub enum HParam {
    Number(f64),
    Text(String),
    Bool(bool),
}

/// config.toml's keys as sorted (dotted key, value) pairs, without `name` and `seed`.
pub fn flatten(config: &toml::Table) -> Vec<(String, HParam)> {
    let mut out = Vec::new();
    add(&mut out, "", config);
    out.retain(|(k, _)| k != "name" && k != "seed");
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn add(out: &mut Vec<(String, HParam)>, prefix: &str, table: &toml::Table) {
    for (key, value) in table {
        let key = format!("{prefix}{key}");
        let param = match value {
            toml::Value::Table(t) => {
                add(out, &format!("{key}."), t);
                continue;
            }
            toml::Value::Integer(i) => HParam::Number(*i as f64),
            toml::Value::Float(f) => HParam::Number(*f),
            toml::Value::Boolean(b) => HParam::Bool(*b),
            toml::Value::String(s) => HParam::Text(s.clone()),
            other => HParam::Text(other.to_string()),
        };
        out.push((key, param));
    }
}

/// The session group: runs whose hparams are equal (seeds of one config) share it.
/// FNV-1a over the pairs' text: stable across builds and platforms.
pub fn group_name(hparams: &[(String, HParam)]) -> String {
    let text: String = hparams
        .iter()
        .map(|(k, v)| format!("{k}={v:?}\n"))
        .collect();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("config-{hash:016x}")
}

/// The session's start: `SessionStartInfo { hparams = 1, group_name = 4, start_time_secs = 5 }`
/// in `HParamsPluginData.session_start_info` (3).
pub fn session_start_value(hparams: &[(String, HParam)], group: &str, start_time: f64) -> Vec<u8> {
    let mut info = Vec::new(); // SessionStartInfo
    for (key, param) in hparams {
        let mut v = Vec::new(); // google.protobuf.Value: a oneof, so written even at its default
        match param {
            HParam::Number(x) => {
                v.push(2 << 3 | 1);
                v.extend_from_slice(&x.to_le_bytes());
            }
            HParam::Text(s) => bytes_field(&mut v, 3, s.as_bytes()),
            HParam::Bool(b) => {
                v.push(4 << 3);
                varint(&mut v, *b as u64);
            }
        }
        let mut entry = Vec::new(); // map entry { key = 1, value = 2 }
        bytes_field(&mut entry, 1, key.as_bytes());
        bytes_field(&mut entry, 2, &v);
        bytes_field(&mut info, 1, &entry);
    }
    bytes_field(&mut info, 4, group.as_bytes());
    if start_time != 0.0 {
        info.push(5 << 3 | 1);
        info.extend_from_slice(&start_time.to_le_bytes());
    }
    plugin_value("_hparams_/session_start_info", 3, &info)
}

/// The session's end: `SessionEndInfo { status = 1, end_time_secs = 2 }`, status
/// STATUS_SUCCESS (1) or, for a diverged run, STATUS_FAILURE (2), which the dashboard
/// filters by.
pub fn session_end_value(diverged: bool, end_time: f64) -> Vec<u8> {
    let mut info = vec![1 << 3, if diverged { 2 } else { 1 }];
    if end_time != 0.0 {
        info.push(2 << 3 | 1);
        info.extend_from_slice(&end_time.to_le_bytes());
    }
    plugin_value("_hparams_/session_end_info", 4, &info)
}

/// `Summary.Value { tag = 1, tensor = 8, metadata = 9 }` whose metadata holds
/// `HParamsPluginData { <field> = info }` (version 0, proto3's default, left out), with the
/// empty float tensor the plugin's summaries carry.
fn plugin_value(tag: &str, field: u8, info: &[u8]) -> Vec<u8> {
    let mut plugin_data = Vec::new();
    bytes_field(&mut plugin_data, field, info);
    let mut plugin = Vec::new(); // SummaryMetadata.PluginData { plugin_name = 1, content = 2 }
    bytes_field(&mut plugin, 1, b"hparams");
    bytes_field(&mut plugin, 2, &plugin_data);
    let mut metadata = Vec::new(); // SummaryMetadata { plugin_data = 1 }
    bytes_field(&mut metadata, 1, &plugin);
    let mut value = Vec::new();
    bytes_field(&mut value, 1, tag.as_bytes());
    // TensorProto { dtype = DT_FLOAT, tensor_shape = { dim = [{}] } }: shape (0,), no values.
    bytes_field(&mut value, 8, &[0x08, 0x01, 0x12, 0x02, 0x12, 0x00]);
    bytes_field(&mut value, 9, &metadata);
    value
}

#[cfg(test)]
mod tests {
    use super::super::tensorboard::tests::hex;
    use super::*;

    #[test]
    fn a_config_flattens_to_sorted_dotted_keys_without_name_and_seed() {
        let config: toml::Table = toml::from_str(
            "name = \"x\"\nseed = 3\n[optimizer]\nname = \"adam\"\nlr = 0.01\n\
             [data]\nhflip = true\nbrightness = [0.8, 1.2]\n[train]\nepochs = 3",
        )
        .unwrap();
        assert_eq!(
            flatten(&config),
            vec![
                ("data.brightness".into(), HParam::Text("[0.8, 1.2]".into())),
                ("data.hflip".into(), HParam::Bool(true)),
                ("optimizer.lr".into(), HParam::Number(0.01)),
                ("optimizer.name".into(), HParam::Text("adam".into())),
                ("train.epochs".into(), HParam::Number(3.0)),
            ]
        );
        // The seed does not change the group; any other key does.
        let other_seed = toml::from_str(&format!("seed = 4\n{}", "[train]\nepochs = 3")).unwrap();
        let same = toml::from_str("[train]\nepochs = 3").unwrap();
        let other = toml::from_str("[train]\nepochs = 4").unwrap();
        let group = |t: &toml::Table| group_name(&flatten(t));
        assert_eq!(group(&other_seed), group(&same));
        assert_ne!(group(&other), group(&same));
    }

    // tensorboard 2.21.0's hparams summary in an Event, the bytes this test expects. One
    // hparam per summary: a protobuf map's order on the wire is unspecified (Python's
    // varies from run to run), and entries are independent of each other.
    //   from tensorboard.plugins.hparams import summary_v2 as hp
    //   from tensorboard.compat.proto.event_pb2 import Event
    //   for h in ({"optimizer.lr": 0.01}, {"optimizer.name": "adam"}, {"data.hflip": True}):
    //       s = hp.hparams_pb(h, trial_id="g", start_time_secs=1.5)
    //       print(Event(wall_time=1.5, step=0, summary=s).SerializeToString().hex())
    #[test]
    fn the_session_start_matches_tensorboards_own() {
        let head = "09000000000000f83f2a";
        let cases = [
            (
                ("optimizer.lr", HParam::Number(0.01)),
                "600a5e0a1c5f68706172616d735f2f73657373696f6e5f73746172745f696e666f42060801120212004a360a340a0768706172616d7312291a270a190a0c6f7074696d697a65722e6c721209117b14ae47e17a843f22016729000000000000f83f",
            ),
            (
                ("optimizer.name", HParam::Text("adam".into())),
                "5f0a5d0a1c5f68706172616d735f2f73657373696f6e5f73746172745f696e666f42060801120212004a350a330a0768706172616d7312281a260a180a0e6f7074696d697a65722e6e616d6512061a046164616d22016729000000000000f83f",
            ),
            (
                ("data.hflip", HParam::Bool(true)),
                "570a550a1c5f68706172616d735f2f73657373696f6e5f73746172745f696e666f42060801120212004a2d0a2b0a0768706172616d7312201a1e0a100a0a646174612e68666c69701202200122016729000000000000f83f",
            ),
        ];
        for ((key, param), expected) in cases {
            let value = session_start_value(&[(key.to_string(), param)], "g", 1.5);
            let event = super::super::tensorboard::summary_event(1.5, 0, &value);
            assert_eq!(hex(&event), format!("{head}{expected}"), "{key}");
        }
    }

    // The end of a session, likewise (HParamsPluginData carries SessionEndInfo in field 4):
    //   from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2, metadata
    //   from tensorboard.plugins.hparams.summary_v2 import _summary_pb
    //   for st in (api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE):
    //       end = plugin_data_pb2.SessionEndInfo(status=st, end_time_secs=2.5)
    //       pb = _summary_pb(metadata.SESSION_END_INFO_TAG,
    //                        plugin_data_pb2.HParamsPluginData(session_end_info=end))
    //       print(Event(wall_time=2.5, step=3, summary=pb).SerializeToString().hex())
    #[test]
    fn the_session_end_matches_tensorboards_own() {
        let expected = |status: &str| {
            format!(
                "09000000000000044010032a420a400a1a5f68706172616d735f2f73657373696f6e5f656e645f696e666f42060801120212004a1a0a180a0768706172616d73120d220b08{status}110000000000000440"
            )
        };
        for (diverged, status) in [(false, "01"), (true, "02")] {
            let value = session_end_value(diverged, 2.5);
            let event = super::super::tensorboard::summary_event(2.5, 3, &value);
            assert_eq!(hex(&event), expected(status));
        }
    }
}

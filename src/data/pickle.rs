//! A minimal unpickler for the official CIFAR-10 python batches: dicts of bytes, lists of
//! ints and numpy arrays (pickled as `_reconstruct` + BUILD state). Globals are not
//! imported, only named, so reading a pickle runs no code.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Python 2 str, bytes and unicode all land here (CIFAR keys are ASCII).
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String),
    /// A REDUCE (callable, args) with the state a later BUILD gave it.
    Object {
        callable: Box<Value>,
        args: Box<Value>,
        state: Option<Box<Value>>,
    },
    Mark,
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Bytes(b) if b == key.as_bytes()))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The shape and raw bytes of a pickled numpy uint8 array.
    pub fn as_ndarray(&self) -> Option<(Vec<usize>, &[u8])> {
        let Value::Object {
            state: Some(state), ..
        } = self
        else {
            return None;
        };
        let Value::Tuple(s) = state.as_ref() else {
            return None;
        };
        // numpy's ndarray state: (version, shape, dtype, is_fortran, raw data)
        let (shape, data) = (s.get(1)?, s.get(4)?);
        let Value::Tuple(dims) = shape else {
            return None;
        };
        let dims = dims
            .iter()
            .map(|d| {
                if let Value::Int(i) = d {
                    Some(*i as usize)
                } else {
                    None
                }
            })
            .collect::<Option<Vec<_>>>()?;
        match data {
            Value::Bytes(b) => Some((dims, b)),
            _ => None,
        }
    }

    pub fn as_int_list(&self) -> Option<Vec<i64>> {
        match self {
            Value::List(v) => v
                .iter()
                .map(|x| {
                    if let Value::Int(i) = x {
                        Some(*i)
                    } else {
                        None
                    }
                })
                .collect(),
            _ => None,
        }
    }
}

pub fn parse(data: &[u8]) -> Result<Value, String> {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8], String> {
        let s = data
            .get(*pos..*pos + n)
            .ok_or_else(|| format!("truncated pickle at byte {}", *pos))?;
        *pos += n;
        Ok(s)
    };
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64);
    let pop = |stack: &mut Vec<Value>| {
        stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    };
    let pop_mark = |stack: &mut Vec<Value>| -> Result<Vec<Value>, String> {
        let m = stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or("pickle MARK missing")?;
        let items = stack.split_off(m + 1);
        stack.pop();
        Ok(items)
    };
    loop {
        let op = *take(&mut pos, 1)?.first().expect("one byte");
        match op {
            0x80 => {
                take(&mut pos, 1)?;
            } // PROTO
            0x95 => {
                take(&mut pos, 8)?;
            } // FRAME
            b'.' => return pop(&mut stack), // STOP
            b'(' => stack.push(Value::Mark),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'K' => {
                let v = take(&mut pos, 1)?[0];
                stack.push(Value::Int(v as i64));
            }
            b'M' => {
                let v = le(take(&mut pos, 2)?);
                stack.push(Value::Int(v as i64));
            }
            b'J' => {
                let v = le(take(&mut pos, 4)?) as u32 as i32;
                stack.push(Value::Int(v as i64));
            }
            0x8a => {
                // LONG1
                let n = take(&mut pos, 1)?[0] as usize;
                let b = take(&mut pos, n)?;
                let mut v = le(b) as i64;
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                stack.push(Value::Int(v));
            }
            b'G' => {
                let b = take(&mut pos, 8)?;
                stack.push(Value::Float(f64::from_be_bytes(b.try_into().expect("8"))));
            }
            b'U' | b'C' | 0x8c => {
                let n = take(&mut pos, 1)?[0] as usize;
                stack.push(Value::Bytes(take(&mut pos, n)?.to_vec()));
            }
            b'T' | b'B' | b'X' => {
                let n = le(take(&mut pos, 4)?) as usize;
                stack.push(Value::Bytes(take(&mut pos, n)?.to_vec()));
            }
            0x8e | 0x8d | 0x96 => {
                let n = le(take(&mut pos, 8)?) as usize;
                stack.push(Value::Bytes(take(&mut pos, n)?.to_vec()));
            }
            b'}' => stack.push(Value::Dict(Vec::new())),
            b']' => stack.push(Value::List(Vec::new())),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b'q' => {
                let i = take(&mut pos, 1)?[0] as u32;
                memo.insert(i, stack.last().cloned().ok_or("empty stack")?);
            }
            b'r' => {
                let i = le(take(&mut pos, 4)?) as u32;
                memo.insert(i, stack.last().cloned().ok_or("empty stack")?);
            }
            0x94 => {
                let i = memo.len() as u32;
                memo.insert(i, stack.last().cloned().ok_or("empty stack")?);
            }
            b'h' => {
                let i = take(&mut pos, 1)?[0] as u32;
                stack.push(memo.get(&i).cloned().ok_or("bad memo reference")?);
            }
            b'j' => {
                let i = le(take(&mut pos, 4)?) as u32;
                stack.push(memo.get(&i).cloned().ok_or("bad memo reference")?);
            }
            b'c' => {
                let rest = &data[pos..];
                let mut lines = rest.splitn(3, |&b| b == b'\n');
                let (m, n) = (
                    lines.next().ok_or("bad GLOBAL")?,
                    lines.next().ok_or("bad GLOBAL")?,
                );
                pos += m.len() + n.len() + 2;
                stack.push(Value::Global(format!(
                    "{}.{}",
                    String::from_utf8_lossy(m),
                    String::from_utf8_lossy(n)
                )));
            }
            0x93 => {
                // STACK_GLOBAL
                let n = pop(&mut stack)?;
                let m = pop(&mut stack)?;
                let s = |v: Value| {
                    if let Value::Bytes(b) = v {
                        String::from_utf8_lossy(&b).into_owned()
                    } else {
                        String::new()
                    }
                };
                stack.push(Value::Global(format!("{}.{}", s(m), s(n))));
            }
            b'R' | 0x81 => {
                // REDUCE, NEWOBJ
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                stack.push(match (&callable, &args) {
                    // Python 3 pickles bytes at protocol 2 as _codecs.encode(str, "latin1").
                    (Value::Global(g), Value::Tuple(a))
                        if g == "_codecs.encode" && a.len() == 2 =>
                    {
                        match &a[0] {
                            Value::Bytes(utf8) => Value::Bytes(
                                String::from_utf8_lossy(utf8)
                                    .chars()
                                    .map(|c| c as u32 as u8)
                                    .collect(),
                            ),
                            _ => Value::Bytes(Vec::new()),
                        }
                    }
                    _ => Value::Object {
                        callable: Box::new(callable),
                        args: Box::new(args),
                        state: None,
                    },
                });
            }
            b'b' => {
                // BUILD
                let st = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::Object { state, .. }) => *state = Some(Box::new(st)),
                    Some(_) => {}
                    None => return Err("pickle stack underflow".into()),
                }
            }
            b'a' => {
                let v = pop(&mut stack)?;
                if let Some(Value::List(l)) = stack.last_mut() {
                    l.push(v)
                } else {
                    return Err("APPEND on a non-list".into());
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                if let Some(Value::List(l)) = stack.last_mut() {
                    l.extend(items)
                } else {
                    return Err("APPENDS on a non-list".into());
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                if let Some(Value::Dict(d)) = stack.last_mut() {
                    d.push((k, v))
                } else {
                    return Err("SETITEM on a non-dict".into());
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                let Some(Value::Dict(d)) = stack.last_mut() else {
                    return Err("SETITEMS on a non-dict".into());
                };
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            other => {
                return Err(format!(
                    "unsupported pickle opcode 0x{other:02x} at byte {}",
                    pos - 1
                ));
            }
        }
    }
}

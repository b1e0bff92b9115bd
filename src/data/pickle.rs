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

/// The pickle virtual machine's state: the input, the stack and the memo.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

/// Little-endian unsigned integer of up to 8 bytes.
fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64)
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or_else(|| format!("truncated pickle at byte {}", self.pos))?;
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(le(self.take(n)?))
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }

    /// The items above the topmost MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let m = self
            .stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or("pickle MARK missing")?;
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items)
    }

    fn memoize(&mut self, index: u32) -> Result<(), String> {
        let top = self.stack.last().cloned().ok_or("empty stack")?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn recall(&mut self, index: u32) -> Result<(), String> {
        let v = self.memo.get(&index).cloned().ok_or("bad memo reference")?;
        self.stack.push(v);
        Ok(())
    }

    /// Opcodes that push one constant read from the stream. Returns false for others.
    fn constant(&mut self, op: u8) -> Result<bool, String> {
        let v = match op {
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            b'K' => Value::Int(self.uint(1)? as i64),
            b'M' => Value::Int(self.uint(2)? as i64),
            b'J' => Value::Int(self.uint(4)? as u32 as i32 as i64),
            0x8a => {
                // LONG1: n little-endian bytes, two's complement.
                let n = self.uint(1)? as usize;
                let b = self.take(n)?;
                let mut v = le(b) as i64;
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                Value::Int(v)
            }
            b'G' => Value::Float(f64::from_be_bytes(self.take(8)?.try_into().expect("8"))),
            b'U' | b'C' | 0x8c => {
                let n = self.uint(1)? as usize;
                Value::Bytes(self.take(n)?.to_vec())
            }
            b'T' | b'B' | b'X' => {
                let n = self.uint(4)? as usize;
                Value::Bytes(self.take(n)?.to_vec())
            }
            0x8e | 0x8d | 0x96 => {
                let n = self.uint(8)? as usize;
                Value::Bytes(self.take(n)?.to_vec())
            }
            _ => return Ok(false),
        };
        self.stack.push(v);
        Ok(true)
    }

    /// Opcodes that build or fill tuples, lists and dicts. Returns false for others.
    fn container(&mut self, op: u8) -> Result<bool, String> {
        match op {
            b'(' => self.stack.push(Value::Mark),
            b'}' => self.stack.push(Value::Dict(Vec::new())),
            b']' => self.stack.push(Value::List(Vec::new())),
            b')' => self.stack.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err("pickle stack underflow".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::Tuple(items));
            }
            b'a' | b'e' => {
                let items = if op == b'a' {
                    vec![self.pop()?]
                } else {
                    self.pop_mark()?
                };
                let Some(Value::List(l)) = self.stack.last_mut() else {
                    return Err("APPEND on a non-list".into());
                };
                l.extend(items);
            }
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = self.pop()?;
                    vec![self.pop()?, v]
                } else {
                    self.pop_mark()?
                };
                let Some(Value::Dict(d)) = self.stack.last_mut() else {
                    return Err("SETITEM on a non-dict".into());
                };
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// GLOBAL and STACK_GLOBAL: a `module.name` reference, never imported.
    fn global(&mut self, op: u8) -> Result<(), String> {
        let name = if op == b'c' {
            let rest = &self.data[self.pos..];
            let mut lines = rest.splitn(3, |&b| b == b'\n');
            let (m, n) = (
                lines.next().ok_or("bad GLOBAL")?,
                lines.next().ok_or("bad GLOBAL")?,
            );
            self.pos += m.len() + n.len() + 2;
            format!(
                "{}.{}",
                String::from_utf8_lossy(m),
                String::from_utf8_lossy(n)
            )
        } else {
            let text = |v: Value| match v {
                Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            };
            let n = self.pop()?;
            let m = self.pop()?;
            format!("{}.{}", text(m), text(n))
        };
        self.stack.push(Value::Global(name));
        Ok(())
    }

    /// REDUCE and NEWOBJ: a call recorded as an object, never run.
    fn reduce(&mut self) -> Result<(), String> {
        let args = self.pop()?;
        let callable = self.pop()?;
        self.stack.push(match (&callable, &args) {
            // Python 3 pickles bytes at protocol 2 as _codecs.encode(str, "latin1").
            (Value::Global(g), Value::Tuple(a)) if g == "_codecs.encode" && a.len() == 2 => {
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
        Ok(())
    }

    /// One opcode; Some(value) at STOP.
    fn step(&mut self, op: u8) -> Result<Option<Value>, String> {
        if self.constant(op)? || self.container(op)? {
            return Ok(None);
        }
        match op {
            0x80 => drop(self.take(1)?),         // PROTO
            0x95 => drop(self.take(8)?),         // FRAME
            b'.' => return self.pop().map(Some), // STOP
            b'q' => {
                let i = self.uint(1)? as u32;
                self.memoize(i)?;
            }
            b'r' => {
                let i = self.uint(4)? as u32;
                self.memoize(i)?;
            }
            0x94 => self.memoize(self.memo.len() as u32)?,
            b'h' => {
                let i = self.uint(1)? as u32;
                self.recall(i)?;
            }
            b'j' => {
                let i = self.uint(4)? as u32;
                self.recall(i)?;
            }
            b'c' | 0x93 => self.global(op)?,
            b'R' | 0x81 => self.reduce()?,
            b'b' => {
                // BUILD
                let st = self.pop()?;
                match self.stack.last_mut() {
                    Some(Value::Object { state, .. }) => *state = Some(Box::new(st)),
                    Some(_) => {}
                    None => return Err("pickle stack underflow".into()),
                }
            }
            other => {
                return Err(format!(
                    "unsupported pickle opcode 0x{other:02x} at byte {}",
                    self.pos - 1
                ));
            }
        }
        Ok(None)
    }
}

pub fn parse(data: &[u8]) -> Result<Value, String> {
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let op = m.take(1)?[0];
        if let Some(v) = m.step(op)? {
            return Ok(v);
        }
    }
}

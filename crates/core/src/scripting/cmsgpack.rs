//! `cmsgpack` for scripts: lua-cmsgpack 0.4's `pack`, `unpack`, `unpack_one`, `unpack_limit`
//! as Redis bundles it (smallest integer encodings, float32 when exact, tables as arrays when
//! their keys are exactly 1..n, nesting past 16 levels packed as nil).

use mlua::{Lua, Table, Value};

const MAX_NESTING: usize = 16;

pub fn lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: mlua::Variadic<Value>| {
            if args.is_empty() {
                return Err(super::vm::lib_error(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for a in args.iter() {
                encode(a, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::LuaString| {
            let b = s.as_bytes();
            let mut d = Decoder { s: &b, pos: 0, lua };
            let mut out = mlua::Variadic::new();
            while d.pos < d.s.len() {
                out.push(d.value().map_err(|e| located(lua, e))?);
            }
            Ok(out)
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::LuaString, Option<i64>)| {
            unpack_limited(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::LuaString, i64, Option<i64>)| {
                unpack_limited(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
}

/// Decodes up to `limit` objects from byte `offset`: the offset after them (-1 at the end)
/// followed by the objects.
fn unpack_limited(
    lua: &Lua,
    s: &[u8],
    limit: i64,
    offset: i64,
) -> mlua::Result<mlua::Variadic<Value>> {
    if offset < 0 || limit < 0 {
        return Err(super::vm::lib_error(
            lua,
            "Invalid request to unpack with offset of 0 and limit of 0",
        ));
    }
    let mut d = Decoder {
        s,
        pos: (offset as usize).min(s.len()),
        lua,
    };
    let mut values = Vec::new();
    while d.pos < s.len() && (values.len() as i64) < limit {
        values.push(d.value().map_err(|e| located(lua, e))?);
    }
    let next = if d.pos >= s.len() { -1 } else { d.pos as i64 };
    let mut out = mlua::Variadic::new();
    out.push(Value::Integer(next));
    out.extend(values);
    Ok(out)
}

fn located(lua: &Lua, e: mlua::Error) -> mlua::Error {
    match e {
        mlua::Error::RuntimeError(m) => super::vm::lib_error(lua, &m),
        other => other,
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    if n.is_finite() && (n as i64) as f64 == n {
        return encode_int(n as i64, out);
    }
    let f = n as f32;
    if f as f64 == n || n.is_nan() && f.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(len: usize, small: u8, small_max: usize, codes: [u8; 3], out: &mut Vec<u8>) {
    if len <= small_max {
        out.push(small | len as u8);
    } else if codes[0] != 0 && len <= 0xff {
        out.extend_from_slice(&[codes[0], len as u8]);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, out),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => {
            let b = s.as_bytes();
            encode_len(b.len(), 0xa0, 31, [0xd9, 0xda, 0xdb], out);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => encode_table(t, depth + 1, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_table(t: &Table, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    // An array when the keys are exactly 1..n.
    let mut count = 0usize;
    let mut max = 0usize;
    let mut array = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        match k {
            Value::Integer(i) if i >= 1 => max = max.max(i as usize),
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
            _ => array = false,
        }
    }
    if array && max == count {
        encode_len(count, 0x90, 15, [0, 0xdc, 0xdd], out);
        for i in 1..=count {
            encode(&t.raw_get::<Value>(i)?, depth, out)?;
        }
        return Ok(());
    }
    encode_len(count, 0x80, 15, [0, 0xde, 0xdf], out);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        encode(&k, depth, out)?;
        encode(&v, depth, out)?;
    }
    Ok(())
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    lua: &'a Lua,
}

fn missing() -> mlua::Error {
    mlua::Error::RuntimeError("Missing bytes in input.".into())
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> mlua::Result<&[u8]> {
        let end = self.pos.checked_add(n).ok_or_else(missing)?;
        let b = self.s.get(self.pos..end).ok_or_else(missing)?;
        self.pos = end;
        Ok(b)
    }

    fn uint(&mut self, n: usize) -> mlua::Result<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn value(&mut self) -> mlua::Result<Value> {
        let c = self.take(1)?[0];
        let num = |n: f64| Value::Number(n);
        Ok(match c {
            0x00..=0x7f => Value::Integer(c as i64),
            0x80..=0x8f => self.map((c & 0x0f) as usize)?,
            0x90..=0x9f => self.array((c & 0x0f) as usize)?,
            0xa0..=0xbf => self.string((c & 0x1f) as usize)?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.uint(1)? as usize;
                self.string(n)?
            }
            0xc5 | 0xda => {
                let n = self.uint(2)? as usize;
                self.string(n)?
            }
            0xc6 | 0xdb => {
                let n = self.uint(4)? as usize;
                self.string(n)?
            }
            0xca => num(f32::from_bits(self.uint(4)? as u32) as f64),
            0xcb => num(f64::from_bits(self.uint(8)?)),
            0xcc => Value::Integer(self.uint(1)? as i64),
            0xcd => Value::Integer(self.uint(2)? as i64),
            0xce => Value::Integer(self.uint(4)? as i64),
            0xcf => num(self.uint(8)? as f64),
            0xd0 => Value::Integer(self.uint(1)? as u8 as i8 as i64),
            0xd1 => Value::Integer(self.uint(2)? as u16 as i16 as i64),
            0xd2 => Value::Integer(self.uint(4)? as u32 as i32 as i64),
            0xd3 => num(self.uint(8)? as i64 as f64),
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(n)?
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(n)?
            }
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(n)?
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(n)?
            }
            0xe0..=0xff => Value::Integer(c as i8 as i64),
            _ => {
                return Err(mlua::Error::RuntimeError(
                    "Bad data format in input.".into(),
                ))
            }
        })
    }

    fn string(&mut self, n: usize) -> mlua::Result<Value> {
        let b = self.take(n)?.to_vec();
        Ok(Value::String(self.lua.create_string(b)?))
    }

    fn array(&mut self, n: usize) -> mlua::Result<Value> {
        // Each element takes a byte at least: a count past the input is missing bytes.
        if n > self.s.len() - self.pos {
            return Err(missing());
        }
        let t = self.lua.create_table_with_capacity(n, 0)?;
        for i in 1..=n {
            let v = self.value()?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, n: usize) -> mlua::Result<Value> {
        if n > self.s.len() - self.pos {
            return Err(missing());
        }
        let t = self.lua.create_table()?;
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            if k != Value::Nil {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }
}

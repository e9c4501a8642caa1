//! `struct` for scripts: Roberto Ierusalimschy's struct library as Redis bundles it
//! (`pack`, `unpack`, `size`; formats `< > ! x b B h H l L T i[n] I[n] f d c[n] s`, native
//! little-endian, alignment off unless `!`).

use mlua::{Lua, Table, Value};

const MAX_INT_SIZE: usize = 32;
const MAX_ALIGN: usize = 8;

struct Header {
    big: bool,
    align: usize,
}

fn arg_error(lua: &Lua, n: usize, func: &str, msg: &str) -> mlua::Error {
    super::vm::lib_error(lua, &format!("bad argument #{n} to '{func}' ({msg})"))
}

/// Digits after an option (`i4`, `c10`, `!8`), or `default`.
fn num(fmt: &[u8], i: &mut usize, default: usize) -> usize {
    if !fmt.get(*i).is_some_and(u8::is_ascii_digit) {
        return default;
    }
    let mut a = 0usize;
    while let Some(d) = fmt.get(*i).filter(|d| d.is_ascii_digit()) {
        if a > (i32::MAX as usize - 9) / 10 {
            break;
        }
        a = a * 10 + (d - b'0') as usize;
        *i += 1;
    }
    a
}

fn opt_size(lua: &Lua, opt: u8, fmt: &[u8], i: &mut usize) -> mlua::Result<usize> {
    Ok(match opt {
        b'b' | b'B' | b'x' => 1,
        b'h' | b'H' => 2,
        b'l' | b'L' | b'T' | b'd' => 8,
        b'f' => 4,
        b'c' => num(fmt, i, 1),
        b'i' | b'I' => {
            let sz = num(fmt, i, 4);
            if sz > MAX_INT_SIZE {
                return Err(super::vm::lib_error(
                    lua,
                    &format!("integral size {sz} is larger than limit of {MAX_INT_SIZE}"),
                ));
            }
            sz
        }
        _ => 0,
    })
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn control(
    lua: &Lua,
    opt: u8,
    fmt: &[u8],
    i: &mut usize,
    h: &mut Header,
    func: &str,
) -> mlua::Result<()> {
    match opt {
        b' ' => {}
        b'>' => h.big = true,
        b'<' => h.big = false,
        b'!' => {
            let a = num(fmt, i, MAX_ALIGN);
            if !a.is_power_of_two() {
                return Err(super::vm::lib_error(
                    lua,
                    &format!("alignment {a} is not a power of 2"),
                ));
            }
            h.align = a;
        }
        other => {
            return Err(arg_error(
                lua,
                1,
                func,
                &format!("invalid format option '{}'", other as char),
            ))
        }
    }
    Ok(())
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_string_lossy().trim().parse().ok(),
        _ => None,
    }
}

fn pack(lua: &Lua, args: mlua::Variadic<Value>) -> mlua::Result<mlua::LuaString> {
    let fmt = match args.first() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => return Err(arg_error(lua, 1, "pack", "string expected")),
    };
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 1usize; // index into args of the next value (Lua's argument arg + 1)
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = opt_size(lua, opt, &fmt, &mut i)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number(args.get(arg))
                    .ok_or_else(|| arg_error(lua, arg + 1, "pack", "number expected, got nil"))?;
                arg += 1;
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for b in bytes.iter_mut() {
                    *b = (value & 0xff) as u8;
                    value = value.checked_shr(8).unwrap_or(0);
                }
                if h.big {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let n = number(args.get(arg))
                    .ok_or_else(|| arg_error(lua, arg + 1, "pack", "number expected, got nil"))?;
                arg += 1;
                let mut bytes = if opt == b'f' {
                    (n as f32).to_le_bytes().to_vec()
                } else {
                    n.to_le_bytes().to_vec()
                };
                if h.big {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let s = match args.get(arg) {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    Some(Value::Integer(n)) => n.to_string().into_bytes(),
                    Some(Value::Number(_)) => lua
                        .coerce_string(args[arg].clone())?
                        .map(|s| s.as_bytes().to_vec())
                        .unwrap_or_default(),
                    _ => return Err(arg_error(lua, arg + 1, "pack", "string expected, got nil")),
                };
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_error(lua, arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => control(lua, opt, &fmt, &mut i, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(
    lua: &Lua,
    (fmt, data, init): (mlua::LuaString, mlua::LuaString, Option<i64>),
) -> mlua::Result<mlua::Variadic<Value>> {
    let fmt = fmt.as_bytes().to_vec();
    let data = data.as_bytes().to_vec();
    let ld = data.len();
    let mut pos = (init.unwrap_or(1) - 1).max(0) as usize;
    if pos > ld {
        return Err(arg_error(lua, 3, "unpack", "offset must be 1 or greater"));
    }
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut out = mlua::Variadic::new();
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let mut size = opt_size(lua, opt, &fmt, &mut i)?;
        pos += to_align(pos, &h, opt, size);
        if pos + size > ld {
            return Err(arg_error(lua, 2, "unpack", "data string too short"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut bytes = data[pos..pos + size].to_vec();
                if h.big {
                    bytes.reverse();
                }
                let mut l: u64 = 0;
                for b in bytes.iter().take(8).rev() {
                    l = (l << 8) | *b as u64;
                }
                let v = if opt.is_ascii_lowercase() && size > 0 && size < 8 {
                    let mask = u64::MAX << (size * 8 - 1);
                    if l & mask != 0 {
                        (l | mask) as i64 as f64
                    } else {
                        l as f64
                    }
                } else if opt.is_ascii_lowercase() {
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Value::Number(v));
            }
            b'x' => {}
            b'f' | b'd' => {
                let mut bytes = data[pos..pos + size].to_vec();
                if h.big {
                    bytes.reverse();
                }
                let v = if opt == b'f' {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(&bytes);
                    f32::from_le_bytes(a) as f64
                } else {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&bytes);
                    f64::from_le_bytes(a)
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = match out.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::Integer(n)) => Some(*n as f64),
                        _ => None,
                    };
                    let Some(n) = prev else {
                        return Err(super::vm::lib_error(
                            lua,
                            "format 'c0' needs a previous size",
                        ));
                    };
                    out.pop();
                    size = n.max(0.0) as usize;
                    if size > ld || pos > ld - size {
                        return Err(arg_error(lua, 2, "unpack", "data string too short"));
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(super::vm::lib_error(lua, "unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => control(lua, opt, &fmt, &mut i, &mut h, "unpack")?,
        }
        pos += size;
    }
    out.push(Value::Integer(pos as i64 + 1));
    Ok(out)
}

fn size(lua: &Lua, fmt: mlua::LuaString) -> mlua::Result<i64> {
    let fmt = fmt.as_bytes().to_vec();
    let mut h = Header {
        big: false,
        align: 1,
    };
    let mut pos = 0usize;
    let mut i = 0;
    while i < fmt.len() {
        let opt = fmt[i];
        i += 1;
        let size = opt_size(lua, opt, &fmt, &mut i)?;
        pos += to_align(pos, &h, opt, size);
        if opt == b's' {
            return Err(arg_error(lua, 1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            control(lua, opt, &fmt, &mut i, &mut h, "size")?;
        }
        pos += size;
    }
    Ok(pos as i64)
}

pub fn lib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}

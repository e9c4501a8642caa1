//! What Redis 7.0 declares about each command — flags, ACL categories, key specs, tips,
//! subcommands, documentation — as `COMMAND INFO` and `COMMAND DOCS` report it, loaded from
//! `redis-commands.json` (made by `scripts/gen-command-meta.py` from Debian's redis-server).
//!
//! Strata answers `COMMAND` from this for every command it implements, so client libraries
//! that route by key specs, and tools that read the docs, see exactly what Redis says.
//! Behaviour never comes from here: the command table is the source of truth, and a unit test
//! checks that it agrees with these declarations (arity, flags, key positions).

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use resp::Frame;
use serde_json::Value;

const JSON: &str = include_str!("redis-commands.json");

/// One command's declarations.
pub struct Meta {
    /// The whole `COMMAND INFO` entry (10 elements, subcommands nested).
    pub info: Frame,
    /// The `COMMAND DOCS` value (a map), if Redis has docs for it.
    pub docs: Option<Frame>,
    pub flags: Vec<String>,
    pub acl: Vec<String>,
    pub key_specs: Vec<KeySpec>,
    /// `container|sub` → the subcommand's declarations.
    pub subcommands: Vec<(String, Meta)>,
}

#[derive(Debug, Clone)]
pub enum BeginSearch {
    Index(i64),
    Keyword { keyword: String, startfrom: i64 },
    Unknown,
}

#[derive(Debug, Clone)]
pub enum FindKeys {
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

#[derive(Debug, Clone)]
pub struct KeySpec {
    /// RW, RO, OW, RM, access, update, insert, delete, not_key, incomplete, variable_flags.
    pub flags: Vec<String>,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

impl KeySpec {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

static META: OnceLock<HashMap<String, Meta>> = OnceLock::new();

/// Every command Redis 7.0 has (top level), by lower-case name.
pub fn all() -> &'static HashMap<String, Meta> {
    META.get_or_init(|| {
        let root: Value = match serde_json::from_str(JSON) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "redis-commands.json does not parse");
                return HashMap::new();
            }
        };
        let mut out = HashMap::new();
        if let Some(cmds) = root.get("commands").and_then(Value::as_object) {
            for (name, c) in cmds {
                let docs = c.get("docs").filter(|d| !d.is_null()).map(to_frame);
                if let Some(m) = c.get("info").map(|i| build(i, docs)) {
                    out.insert(name.clone(), m);
                }
            }
        }
        out
    })
}

/// The declarations of a command of Strata's table, if Redis has it.
pub fn get(name: &str) -> Option<&'static Meta> {
    all().get(name)
}

fn build(info: &Value, docs: Option<Frame>) -> Meta {
    let arr = info.as_array().cloned().unwrap_or_default();
    let strings = |v: Option<&Value>| -> Vec<String> {
        elems(v)
            .iter()
            .filter_map(|f| match f {
                Value::Object(o) => o.get("+").and_then(Value::as_str).map(str::to_string),
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    let sub_docs: HashMap<String, Frame> = docs
        .as_ref()
        .and_then(|d| map_get(d, "subcommands"))
        .map(|f| match f {
            Frame::Map(kv) => kv
                .iter()
                .filter_map(|(k, v)| match k {
                    Frame::Bulk(b) => Some((String::from_utf8_lossy(b).into_owned(), v.clone())),
                    _ => None,
                })
                .collect(),
            _ => HashMap::new(),
        })
        .unwrap_or_default();
    let subcommands = elems(arr.get(9))
        .iter()
        .filter_map(|s| {
            let name = s.as_array()?.first()?.as_str()?.to_string();
            let d = sub_docs.get(&name).cloned();
            Some((name, build(s, d)))
        })
        .collect();
    Meta {
        info: to_frame(info),
        docs,
        flags: strings(arr.get(2)),
        acl: strings(arr.get(6)),
        key_specs: elems(arr.get(8)).iter().map(key_spec).collect(),
        subcommands,
    }
}

/// The elements of a JSON-encoded array or set.
fn elems(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o
            .get("~")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A JSON-encoded map as (key, value) pairs with string keys.
fn pairs(v: &Value) -> Vec<(String, Value)> {
    v.get("%")
        .and_then(Value::as_array)
        .map(|kv| {
            kv.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some((p.first()?.as_str()?.to_string(), p.get(1)?.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn field<'a>(kv: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    kv.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn key_spec(v: &Value) -> KeySpec {
    let kv = pairs(v);
    let flags = elems(field(&kv, "flags"))
        .iter()
        .filter_map(|f| f.get("+").and_then(Value::as_str).map(str::to_string))
        .collect();
    let int = |kv: &[(String, Value)], n: &str| field(kv, n).and_then(Value::as_i64).unwrap_or(0);
    let begin = field(&kv, "begin_search").map(pairs).unwrap_or_default();
    let bspec = field(&begin, "spec").map(pairs).unwrap_or_default();
    let begin = match field(&begin, "type").and_then(Value::as_str) {
        Some("index") => BeginSearch::Index(int(&bspec, "index")),
        Some("keyword") => BeginSearch::Keyword {
            keyword: field(&bspec, "keyword")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            startfrom: int(&bspec, "startfrom"),
        },
        _ => BeginSearch::Unknown,
    };
    let find = field(&kv, "find_keys").map(pairs).unwrap_or_default();
    let fspec = field(&find, "spec").map(pairs).unwrap_or_default();
    let find = match field(&find, "type").and_then(Value::as_str) {
        Some("range") => FindKeys::Range {
            lastkey: int(&fspec, "lastkey"),
            keystep: int(&fspec, "keystep"),
            limit: int(&fspec, "limit"),
        },
        Some("keynum") => FindKeys::Keynum {
            keynumidx: int(&fspec, "keynumidx"),
            firstkey: int(&fspec, "firstkey"),
            keystep: int(&fspec, "keystep"),
        },
        _ => FindKeys::Unknown,
    };
    KeySpec { flags, begin, find }
}

/// Converts the JSON encoding of a RESP3 value (see the generator) into a frame.
pub fn to_frame(v: &Value) -> Frame {
    match v {
        Value::Null => Frame::Null,
        Value::Bool(b) => Frame::Boolean(*b),
        Value::Number(n) => Frame::Integer(n.as_i64().unwrap_or(0)),
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(s.as_bytes())),
        Value::Array(a) => Frame::Array(a.iter().map(to_frame).collect()),
        Value::Object(o) => {
            if let Some(s) = o.get("+").and_then(Value::as_str) {
                Frame::Simple(s.to_string())
            } else if let Some(a) = o.get("~").and_then(Value::as_array) {
                Frame::Set(a.iter().map(to_frame).collect())
            } else if let Some(a) = o.get("%").and_then(Value::as_array) {
                Frame::Map(
                    a.iter()
                        .filter_map(|p| {
                            let p = p.as_array()?;
                            Some((to_frame(p.first()?), to_frame(p.get(1)?)))
                        })
                        .collect(),
                )
            } else {
                Frame::Null
            }
        }
    }
}

fn map_get<'a>(f: &'a Frame, key: &str) -> Option<&'a Frame> {
    match f {
        Frame::Map(kv) => kv
            .iter()
            .find(|(k, _)| matches!(k, Frame::Bulk(b) if b.as_ref() == key.as_bytes()))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Why key extraction by specs did not give an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum KeysError {
    /// A spec does not fit the arguments (a syntax error in the request).
    Invalid,
    /// A spec cannot be evaluated alone (unknown search, incomplete): the command's own
    /// key-finding rule must be used.
    NeedsProc,
}

/// Finds the keys of a request (`args[0]` is the command name) by key specs, as Redis's
/// `getKeysUsingKeySpecs`: positions with the flags of the spec that found them.
/// The subcommand of a container command a request names (`xinfo|stream` for `XINFO STREAM
/// ...`), if `m` has subcommands and it is one of them.
pub fn subcommand_of<'a>(m: &'a Meta, name: &str, args: &[Bytes]) -> Option<&'a Meta> {
    if m.subcommands.is_empty() {
        return None;
    }
    let sub = args.get(1)?;
    let full = format!(
        "{name}|{}",
        String::from_utf8_lossy(sub).to_ascii_lowercase()
    );
    m.subcommands
        .iter()
        .find(|(n, _)| *n == full)
        .map(|(_, s)| s)
}

/// The arity a command's `COMMAND INFO` entry declares.
pub fn arity_of(m: &Meta) -> Option<i32> {
    match &m.info {
        Frame::Array(v) => match v.get(1) {
            Some(Frame::Integer(n)) => i32::try_from(*n).ok(),
            _ => None,
        },
        _ => None,
    }
}

pub fn keys_by_specs(
    specs: &[KeySpec],
    args: &[Bytes],
    arity: i32,
) -> Result<Vec<(usize, Vec<String>)>, KeysError> {
    let argc = args.len() as i64;
    let mut out = Vec::new();
    for spec in specs {
        if spec.has("not_key") {
            continue;
        }
        if spec.has("incomplete") || spec.has("variable_flags") {
            return Err(KeysError::NeedsProc);
        }
        let mut first = match &spec.begin {
            BeginSearch::Index(i) => *i,
            BeginSearch::Keyword { keyword, startfrom } => {
                let start = if *startfrom > 0 {
                    *startfrom
                } else {
                    argc + startfrom
                };
                let end = if *startfrom > 0 { argc - 1 } else { 1 };
                let mut found = 0;
                let mut i = start;
                loop {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    if i == end {
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return Err(KeysError::NeedsProc),
        };
        let (last, step) = match &spec.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if *lastkey >= 0 {
                    first + lastkey
                } else if *limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, *keystep)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                if *keynumidx >= argc - first {
                    return Err(KeysError::Invalid);
                }
                let n = match storage::num::parse_i64(&args[(first + keynumidx) as usize]) {
                    Some(n) if n >= 0 => n,
                    _ => return Err(KeysError::Invalid),
                };
                first += firstkey;
                (first + n - 1, *keystep)
            }
            FindKeys::Unknown => return Err(KeysError::NeedsProc),
        };
        if last < first {
            // A keynum of 0: no keys from this spec.
            if matches!(spec.find, FindKeys::Keynum { .. }) && last == first - 1 {
                continue;
            }
            return Err(KeysError::Invalid);
        }
        if last >= argc || first >= argc {
            return Err(KeysError::Invalid);
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < first {
                if arity < 0 {
                    i += step.max(1);
                    continue;
                }
                return Err(KeysError::Invalid);
            }
            out.push((i as usize, spec.flags.clone()));
            i += step.max(1);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn keys(cmd: &str, req: &str) -> Result<Vec<usize>, KeysError> {
        let m = get(cmd).expect("known command");
        keys_by_specs(&m.key_specs, &args(req), arity_of(m).unwrap_or(0))
            .map(|v| v.into_iter().map(|(p, _)| p).collect())
    }

    #[test]
    fn the_declarations_load() {
        assert_eq!(all().len(), 240);
        let get = get("get").expect("get");
        assert_eq!(get.flags, vec!["readonly", "fast"]);
        assert_eq!(get.key_specs.len(), 1);
        let client = super::get("client").expect("client");
        assert!(client.subcommands.iter().any(|(n, _)| n == "client|list"));
    }

    #[test]
    fn keys_are_found_as_redis_finds_them() {
        assert_eq!(keys("mset", "mset a 1 b 2"), Ok(vec![1, 3]));
        assert_eq!(
            keys("zunionstore", "zunionstore d 2 a b"),
            Ok(vec![1, 3, 4])
        );
        assert_eq!(keys("blmpop", "blmpop 0 2 a b LEFT"), Ok(vec![3, 4]));
        assert_eq!(keys("lmpop", "lmpop x a LEFT"), Err(KeysError::Invalid));
        assert_eq!(keys("blpop", "blpop a b 0"), Ok(vec![1, 2]));
        assert_eq!(keys("rename", "rename a b"), Ok(vec![1, 2]));
        assert_eq!(keys("sort", "sort a STORE b"), Err(KeysError::NeedsProc));
    }
}

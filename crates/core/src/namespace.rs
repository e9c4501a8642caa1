//! Namespaces in the server (`docs/namespaces.md`): the in-memory registry built from the
//! engine's (`storage::namespaces`), the `NAMESPACE` command, what a namespace client is
//! scoped to (its keyspace range, its Pub/Sub channels), and letting clients of a dropped
//! namespace go.
//!
//! A session's `db` is always a full keyspace id: the namespace's base plus the database
//! index. Everything that needs the namespace derives it from that id ([`base_of`]), so a
//! command replayed from the binlog or applied by a replica acts in the namespace it ran in.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};
use resp::Frame;
use storage::namespaces::NS_DATABASES;
use storage::{KeyspaceId, FIRST_NAMESPACE_ID};
use tokio_util::sync::CancellationToken;

use crate::commands::{eq_ic, Ctx};

/// A namespace as its clients hold it: cancelled when it is dropped.
pub struct Ns {
    pub name: String,
    pub base: KeyspaceId,
    pub dropped: CancellationToken,
}

impl Ns {
    /// The permanent error its clients get once it is dropped.
    pub fn dropped_error(&self) -> Frame {
        Frame::Error(format!("NONAMESPACE namespace '{}' was dropped", self.name))
    }
}

/// The keyspace id of database 0 of the namespace holding keyspace `ks` (0: the default one).
pub fn base_of(ks: KeyspaceId) -> KeyspaceId {
    if ks < FIRST_NAMESPACE_ID {
        0
    } else {
        FIRST_NAMESPACE_ID + (ks - FIRST_NAMESPACE_ID) / NS_DATABASES * NS_DATABASES
    }
}

/// Pub/Sub names are scoped by namespace: a name of namespace `base` is stored as
/// `\0ns<base>\0<name>` (the default namespace's names as they are), so channels, patterns
/// and keyspace notifications never cross namespaces.
pub fn scope(base: KeyspaceId, name: &[u8]) -> Bytes {
    if base == 0 {
        return Bytes::copy_from_slice(name);
    }
    let mut b = BytesMut::from(format!("\0ns{base}\0").as_bytes());
    b.extend_from_slice(name);
    b.freeze()
}

/// The scope prefix of a stored Pub/Sub name (empty for the default namespace).
pub fn scope_of(name: &[u8]) -> &[u8] {
    if name.starts_with(b"\0ns") {
        if let Some(end) = name[1..].iter().position(|&b| b == 0) {
            return &name[..end + 2];
        }
    }
    &[]
}

/// A stored Pub/Sub name as its namespace's clients see it.
pub fn unscope(name: &Bytes) -> Bytes {
    let p = scope_of(name).len();
    name.slice(p..)
}

#[derive(Default)]
pub struct Namespaces {
    /// name -> (namespace, token).
    by_name: RwLock<HashMap<String, (Arc<Ns>, String)>>,
}

impl Namespaces {
    /// Rebuilds the registry from the engine. Namespaces that are gone (or were re-created
    /// under the same name) are marked dropped: their clients are let go.
    pub fn reload(&self, storage: &storage::Storage) -> Result<(), storage::Error> {
        let cx = storage::WriteCx::new();
        let entries = storage.db(&cx).namespaces()?;
        let mut map = self.by_name.write().unwrap_or_else(|p| p.into_inner());
        let mut next = HashMap::new();
        for e in entries {
            let ns = match map.get(&e.name) {
                Some((ns, _)) if ns.base == e.base => ns.clone(),
                _ => Arc::new(Ns {
                    name: e.name.clone(),
                    base: e.base,
                    dropped: CancellationToken::new(),
                }),
            };
            next.insert(e.name, (ns, e.token));
        }
        for (name, (ns, _)) in map.iter() {
            if next.get(name).is_none_or(|(n, _)| !Arc::ptr_eq(n, ns)) {
                tracing::warn!(namespace = %name, "namespace dropped: its clients are told and let go");
                ns.dropped.cancel();
            }
        }
        *map = next;
        Ok(())
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<Ns>> {
        let map = self.by_name.read().unwrap_or_else(|p| p.into_inner());
        map.get(name).map(|(ns, _)| ns.clone())
    }

    pub fn by_token(&self, token: &[u8]) -> Option<Arc<Ns>> {
        let map = self.by_name.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .find(|(_, t)| t.as_bytes() == token)
            .map(|(ns, _)| ns.clone())
    }

    /// Every namespace's name and keyspace base, by name.
    pub fn bases(&self) -> Vec<(String, u32)> {
        let map = self.by_name.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, u32)> = map
            .iter()
            .map(|(n, (ns, _))| (n.clone(), ns.base))
            .collect();
        v.sort();
        v
    }

    /// How many namespaces there are.
    pub fn count(&self) -> usize {
        self.by_name.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn token_used(&self, token: &str) -> bool {
        let map = self.by_name.read().unwrap_or_else(|p| p.into_inner());
        map.values().any(|(_, t)| t == token)
    }

    fn all(&self) -> Vec<(String, String)> {
        let map = self.by_name.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, String)> = map
            .iter()
            .map(|(n, (_, t))| (n.clone(), t.clone()))
            .collect();
        v.sort();
        v
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| b.is_ascii_graphic())
}

/// `NAMESPACE ADD name token | DEL name | SET name token | GET name|* | LIST` (Kvrocks's
/// shape). Admin only; ADD, DEL and SET are writes (logged, replicated).
pub fn namespace(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let shared = ctx.shared;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let arg = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).into_owned());
    let storage = ctx.db;
    let result = match (sub.as_str(), args.len()) {
        ("add", 4) | ("set", 4) => {
            let (name, token) = (arg(2).unwrap_or_default(), arg(3).unwrap_or_default());
            // The default user must need a password (requirepass, or ACL rules on `default`):
            // otherwise every client is the admin and a token isolates nothing.
            if !shared.access.auth_required() {
                return Frame::error("ERR forbidden to add namespace when requirepass was empty");
            }
            if !valid_name(&name) || name == "default" || name == "*" {
                return Frame::error("ERR invalid namespace name");
            }
            // A token must not also be a password of the default user (AUTH <token> would then
            // be ambiguous).
            if token.is_empty()
                || shared
                    .access
                    .default_user()
                    .get()
                    .password_ok(token.as_bytes())
                || shared.namespaces.token_used(&token)
            {
                return Frame::error("ERR the token has already exists");
            }
            if sub == "add" {
                storage
                    .namespace_add(&name, &token)
                    .map(|r| match r {
                        Some(_) => Frame::ok(),
                        None => Frame::error("ERR the namespace already exists"),
                    })
            } else {
                storage.namespace_set_token(&name, &token).map(|found| {
                    if found {
                        Frame::ok()
                    } else {
                        Frame::error("ERR the namespace was not found")
                    }
                })
            }
        }
        ("del", 3) => {
            let name = arg(2).unwrap_or_default();
            if name == "default" {
                return Frame::error("ERR forbidden to delete the default namespace");
            }
            storage.namespace_del(&name).map(|r| match r {
                Some(_) => Frame::ok(),
                None => Frame::error("ERR the namespace was not found"),
            })
        }
        ("get", 3) => {
            let name = arg(2).unwrap_or_default();
            let all = shared.namespaces.all();
            if name == "*" {
                Ok(Frame::Array(
                    all.into_iter()
                        .flat_map(|(n, t)| [Frame::bulk(Bytes::from(n)), Frame::bulk(Bytes::from(t))])
                        .collect(),
                ))
            } else {
                Ok(all
                    .into_iter()
                    .find(|(n, _)| *n == name)
                    .map_or(Frame::Null, |(_, t)| Frame::bulk(Bytes::from(t))))
            }
        }
        ("list", 2) => Ok(Frame::Array(
            shared
                .namespaces
                .all()
                .into_iter()
                .map(|(n, _)| Frame::bulk(Bytes::from(n)))
                .collect(),
        )),
        _ => {
            return Frame::Error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try NAMESPACE ADD|DEL|SET|GET|LIST.",
                String::from_utf8_lossy(&args[1])
            ))
        }
    };
    match result {
        Ok(f) => f,
        Err(e) => crate::commands::storage_error(e),
    }
}

/// Whether a NAMESPACE call changes anything (LIST and GET are reads).
pub fn namespace_writes(args: &[Bytes]) -> bool {
    args.get(1)
        .is_some_and(|s| ["add", "del", "set"].iter().any(|w| eq_ic(s, w)))
}

/// After a write that may have changed the registry committed (also when replayed or
/// applied by a replica): rebuild it.
pub fn after_commit(shared: &crate::shared::Shared, name: &[u8]) {
    if name.eq_ignore_ascii_case(b"namespace") {
        // A dropped namespace's function libraries were deleted with it.
        shared
            .scripts
            .functions_version
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Err(e) = shared.namespaces.reload(&shared.storage()) {
            tracing::error!(error = %e, "cannot read the namespace registry");
        }
    }
}

/// Keys per namespace, counted by walking the keyspaces: kept for a while (at least 5 s, and
/// 50 times what counting took) so that frequent scrapes of a big dataset cost little.
#[derive(Default)]
pub struct NamespaceKeys {
    cache: std::sync::Mutex<Option<Counted>>,
}

/// When the counts were taken, how long counting took (ms), the counts.
type Counted = (std::time::Instant, u64, Vec<(String, u64)>);

impl NamespaceKeys {
    pub fn counts(&self, shared: &crate::shared::Shared) -> Vec<(String, u64)> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let bases = shared.namespaces.bases();
        if let Some((at, took_ms, v)) = c.as_ref() {
            let same_set = v.len() == bases.len() && v.iter().zip(&bases).all(|(a, b)| a.0 == b.0);
            if same_set && (at.elapsed().as_millis() as u64) < (took_ms * 50).max(5000) {
                return v.clone();
            }
        }
        let t = std::time::Instant::now();
        let engine = shared.storage();
        let cx = storage::WriteCx::new();
        let view = engine.db(&cx);
        let counts: Vec<(String, u64)> = bases
            .into_iter()
            .map(|(name, base)| {
                let keys = (0..16u32)
                    .map(|db| {
                        view.dbsize(engine.committed_physical(base + db))
                            .map_or(0, |(k, _)| k)
                    })
                    .sum();
                (name, keys)
            })
            .collect();
        *c = Some((
            std::time::Instant::now(),
            t.elapsed().as_millis() as u64,
            counts.clone(),
        ));
        counts
    }
}

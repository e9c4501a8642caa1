//! Strata's command core: everything a command needs to run, and nothing that owns a socket's
//! lifetime. The shared state (`Shared`), a client's `Session`, the command table (declared as
//! data and checked centrally) and every handler, the commit protocol (units, binlog records,
//! typed effects, keyspace events), blocking commands, scripting, configuration, ACLs,
//! namespaces and INFO. The `server` crate above it accepts connections, runs their loops,
//! the replication links and the staged shutdown; it depends on this crate, never the other
//! way round (the few commands whose work is the server's are declared here and registered by
//! it: `net`).

pub mod access;
pub mod alloc;
pub mod blocking;
pub mod clients;
pub mod commands;
pub mod commitlog;
pub mod config;
pub mod diskguard;
pub mod info;
pub mod latency;
pub mod lifecycle;
pub mod namespace;
pub mod net;
pub mod notify;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod shared;
pub mod tls;
pub mod tracking;

pub use shared::Shared;

/// Version of Strata itself.
pub const STRATA_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version whose semantics and replies Strata follows (reported to clients, which
/// use it to pick features).
pub const REDIS_VERSION: &str = "7.0.15";

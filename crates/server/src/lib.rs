//! The Strata server: accepts Redis-protocol connections, checks every command centrally against
//! its declaration in the command table, runs it on the storage layer and writes the reply.
//!
//! `run` is a plain async function that tests can start on port 0 and stop on demand.

pub mod access;
pub mod alloc;
pub mod blocking;
pub mod clients;
pub mod commands;
pub mod commitlog;
pub mod config;
pub mod connection;
pub mod diskguard;
pub mod info;
pub mod latency;
pub mod metrics;
pub mod namespace;
pub mod notify;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod shared;
pub mod tls;
pub mod tracking;

pub use server::{run, start, ServerHandle};
pub use shared::Shared;

/// Version of Strata itself.
pub const STRATA_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version whose semantics and replies Strata follows (reported to clients, which
/// use it to pick features).
pub const REDIS_VERSION: &str = "7.0.15";

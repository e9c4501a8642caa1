//! The Strata server: accepts Redis-protocol connections and runs each client's loop
//! (`connection`), the replication links and the transfer service (`replication`), the
//! Prometheus endpoint (`metrics`), start-up, maintenance and the staged shutdown (`server`).
//! Commands, their state and the commit protocol are the `strata-core` crate below it
//! (re-exported here under their module names).
//!
//! `run` is a plain async function that tests can start on port 0 and stop on demand.

pub use strata_core::{
    access, alloc, blocking, clients, commands, commitlog, config, diskguard, info, latency,
    lifecycle, namespace, net, notify, pubsub, scripting, shared, tls, tracking, Shared,
    REDIS_VERSION, STRATA_VERSION,
};

pub mod connection;
pub mod metrics;
pub mod replication;
pub mod server;

pub use server::{run, start, ServerHandle};

//! Replication's moving parts: the master's side (PSYNC, the binlog feeder, the snapshot
//! transfer service, WAIT), the replica's link (handshake, full sync, incremental sync,
//! promotion) and FAILOVER's procedure. Their state (`Repl`, links, feeders, snapshots) is in
//! `strata_core::replication`, re-exported here.

pub use strata_core::replication::*;

pub mod failover;
pub mod master;
pub mod replica;

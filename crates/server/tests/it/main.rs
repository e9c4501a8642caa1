//! Black-box tests: each starts the real `strata-server` binary on a free port with a
//! temporary data directory and talks RESP to it over TCP.

mod util;

mod acl;
mod binlog;
mod blocking;
mod compat;
mod crash;
mod differential;
mod geo;
mod hashes;
mod keys;
mod namespaces;
mod observability;
mod protocol;
mod pubsub;
mod reclaim;
mod replication;
mod robustness;
mod scripting;
mod sentinel;
mod server_cmds;
mod storage_full;
mod streams;
mod strings;
mod swapdb;
mod tls;
mod tools;
mod transactions;

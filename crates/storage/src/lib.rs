//! Storage: Redis data types on RocksDB. Knows byte layouts and engine semantics; knows
//! nothing of RESP or sockets. Every operation takes the keyspace id (`SELECT` database or
//! namespace) explicitly and returns typed results or an [`Error`]; the server maps those to
//! replies.

pub mod bits;
mod dbmap;
pub mod encoding;
mod engine;
pub mod glob;
mod hashes;
pub mod hll;
mod keys;
mod lists;
pub mod namespaces;
pub mod num;
pub mod rank;
mod sets;
mod strings;
mod txn;
mod whole;
mod zsets;

pub use encoding::{KeyType, KeyspaceId, Meta, FIRST_NAMESPACE_ID, FORMAT_VERSION};
pub use engine::{
    collect_expired, freeze_clock, is_no_space, last_write_seq, now_ms, peek_write_seq, CommitLog,
    Durability, ExpiredSeen, KeyLocks, Storage, StorageOptions, ALL_CF_NAMES, LANES,
};
pub use hashes::FieldPage;
pub use keys::{ExpireCond, ScanPage};
pub use lists::End;
pub use sets::{random_sample, SetOp};
pub use strings::{SetCond, SetExpiry, SetOutcome};
pub use txn::{in_txn, txn_writes, Txn, WatchToken};
pub use zsets::{Aggregate, LexBound, ScoreBound, Scored, ZOp, ZaddFlags, ZaddOutcome};

/// Errors of the storage layer. Each maps to exactly one Redis error reply.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// An HLL header with a sparse body that does not decode to exactly its registers.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    CorruptHll,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR hash value is not an integer")]
    HashNotInteger,
    #[error("ERR hash value is not a float")]
    HashNotFloat,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    TooLarge,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR resulting score is not a number (NaN)")]
    ScoreNaN,
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("storage engine error: {0}")]
    Engine(#[from] rust_rocksdb::Error),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("data directory has format version {found}, this build reads version {expected}")]
    FormatVersion { found: u32, expected: u32 },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

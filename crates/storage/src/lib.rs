//! Storage: Redis data types on RocksDB. Knows byte layouts and engine semantics; knows
//! nothing of RESP or sockets. Every operation takes the keyspace id (`SELECT` database or
//! namespace) explicitly and returns typed results or an [`Error`]; the server maps those to
//! replies.

pub mod bits;
mod cx;
mod dbmap;
pub mod encoding;
mod engine;
pub mod functions;
/// Redis glob matching (the `pattern` crate; kept here under its old path).
pub mod glob {
    pub use pattern::glob_match;
}
mod hashes;
pub mod hll;
mod keys;
mod lists;
pub mod namespaces;
pub mod num;
pub mod rank;
mod sets;
mod stream_groups;
mod streams;
mod strings;
mod txn;
mod whole;
mod zsets;

pub use cx::{Db, ExpiredSeen, KeyLocks, OwnedKey, WriteCx};
pub use encoding::{KeyType, KeyspaceId, Meta, FIRST_NAMESPACE_ID, FORMAT_VERSION};
pub use engine::{
    is_no_space, now_ms, CommitLog, Compression, Durability, Storage, StorageOptions, ALL_CF_NAMES,
    LANES,
};
pub use hashes::FieldPage;
pub use keys::{ExpireCond, ScanPage};
pub use lists::End;
pub use sets::{random_sample, SetOp};
pub use stream_groups::{
    AutoClaimed, ClaimOpts, ConsumerInfo, Created, Delivered, GroupInfo, Nack, PendingSummary,
    ReadFrom, ReadGroup, INVALID_ENTRIES_READ,
};
pub use streams::{
    AddId, StreamEntry, StreamError, StreamId, StreamInfo, Trim, TrimBy,
    NODE_MAX_ENTRIES as STREAM_NODE_MAX_ENTRIES,
};
pub use strings::{SetCond, SetExpiry, SetOutcome};
pub use txn::{Txn, WatchToken};
pub use zsets::{Aggregate, LexBound, ScoreBound, Scored, ZOp, ZaddFlags, ZaddOutcome};

/// Errors of the storage layer: what happened, in words; the server chooses the reply (the
/// Redis error prefix and text) for each.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("the key is not a valid HyperLogLog string value")]
    NotHll,
    /// An HLL header with a sparse body that does not decode to exactly its registers.
    #[error("corrupted HyperLogLog value")]
    CorruptHll,
    #[error("value is not an integer or out of range")]
    NotInteger,
    #[error("value is not a valid float")]
    NotFloat,
    #[error("hash value is not an integer")]
    HashNotInteger,
    #[error("hash value is not a float")]
    HashNotFloat,
    #[error("increment or decrement would overflow")]
    Overflow,
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("string exceeds maximum allowed size")]
    TooLarge,
    #[error("no such key")]
    NoSuchKey,
    #[error("resulting score is not a number (NaN)")]
    ScoreNaN,
    #[error("index out of range")]
    IndexOutOfRange,
    /// A write to disk failed for lack of space (ENOSPC, EDQUOT): nothing was written.
    #[error("no space left for a write: {0}")]
    NoSpace(String),
    #[error("storage engine error: {0}")]
    Engine(#[from] rust_rocksdb::Error),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("data directory has format version {found}, this build reads version {expected}")]
    FormatVersion { found: u32, expected: u32 },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stream: {0:?}")]
    Stream(StreamError),
    /// What this build cannot do yet (named in the message).
    #[error("{0}")]
    Unsupported(&'static str),
}

impl Error {
    /// An I/O error of a write, a full disk told apart.
    pub fn from_io(e: std::io::Error) -> Error {
        if is_no_space(&e) {
            Error::NoSpace(e.to_string())
        } else {
            Error::Io(e)
        }
    }

    /// An engine error of a write, a full disk told apart.
    pub fn from_engine(e: rust_rocksdb::Error) -> Error {
        let text = e.to_string();
        if engine::is_no_space_text(&text) {
            Error::NoSpace(text)
        } else {
            Error::Engine(e)
        }
    }

    /// An I/O error of the disk (not a full disk): writes cannot be trusted to work.
    pub fn is_io(&self) -> bool {
        match self {
            Error::Io(_) => true,
            Error::Engine(e) => e.kind() == rust_rocksdb::ErrorKind::IOError,
            _ => false,
        }
    }

    /// A failure of the disk or the engine (not of the request): the server logs it.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Error::NoSpace(_) | Error::Engine(_) | Error::Corrupt(_) | Error::Io(_)
        )
    }
}

pub type Result<T> = std::result::Result<T, Error>;

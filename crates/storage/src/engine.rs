//! The engine: RocksDB with its column families, per-key write locks, version numbers for
//! collections, the durability policy, and the compaction filters that reclaim stale data.
//!
//! Invariant: every write of a command goes through [`Storage::write`] as ONE `WriteBatch`,
//! taken while the command holds the locks of every key it reads and writes; a command is
//! therefore atomic on disk and serialisable with every other command on the same keys.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use rust_rocksdb::compaction_filter::Decision;
use rust_rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Options,
    WriteBatch, WriteOptions, DB,
};

use crate::encoding::{self, KeyType, KeyspaceId, Meta};
use crate::Error;

pub const CF_DEFAULT: &str = "default";
pub const CF_META: &str = "meta";
pub const CF_SUB: &str = "sub";
pub const CF_SCORE: &str = "score";
pub const CF_EXPIRE: &str = "expire";
/// Order-statistics fences of large sorted sets (see `rank`).
pub const CF_RANK: &str = "rank";
pub(crate) const ALL_CFS: [&str; 6] = [CF_DEFAULT, CF_META, CF_SUB, CF_SCORE, CF_EXPIRE, CF_RANK];
/// The names of every column family (for per-family properties).
pub const ALL_CF_NAMES: [&str; 6] = ALL_CFS;

/// Position of a column family in [`ALL_CFS`].
pub(crate) fn cf_index(name: &str) -> usize {
    ALL_CFS.iter().position(|&n| n == name).unwrap_or(0)
}

/// When a write is on disk, in Redis terms (`appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Durability {
    /// The WAL is fsync'd before the write returns (and so before the reply is sent).
    Always = 0,
    /// The WAL is written to the OS at once and fsync'd by a background task every second.
    EverySec = 1,
    /// The WAL is written to the OS at once; the OS decides when it reaches the disk.
    No = 2,
}

impl Durability {
    pub fn parse(s: &str) -> Option<Durability> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Durability::Always),
            "everysec" => Some(Durability::EverySec),
            "no" => Some(Durability::No),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Durability::Always => "always",
            Durability::EverySec => "everysec",
            Durability::No => "no",
        }
    }
}

/// Options for opening the engine.
#[derive(Clone, Debug)]
pub struct StorageOptions {
    pub path: PathBuf,
    pub durability: Durability,
    pub block_cache_bytes: usize,
    pub write_buffer_bytes: usize,
    /// Compression of the bottommost level (the others are LZ4).
    pub bottommost_compression: Compression,
    /// Largest string value a command may build (`proto-max-bulk-len`).
    pub max_value_len: usize,
    /// Writes are logged first to an external [`CommitLog`] (the binlog), installed with
    /// [`Storage::set_commit_log`]: RocksDB's own WAL is then off (the log is the WAL), flushes
    /// are atomic across column families, and every logged batch stores its log offset.
    pub external_log: bool,
}

impl StorageOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StorageOptions {
            path: path.into(),
            durability: Durability::EverySec,
            block_cache_bytes: 256 << 20,
            write_buffer_bytes: 64 << 20,
            bottommost_compression: Compression::Lz4,
            max_value_len: 512 << 20,
            external_log: false,
        }
    }
}

/// Block compression of a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
    Zstd,
}

impl Compression {
    /// `none`, `lz4`, `zstd` (the configuration's words).
    pub fn parse(word: &str) -> Option<Compression> {
        match word.to_ascii_lowercase().as_str() {
            "none" => Some(Compression::None),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    fn engine(self) -> DBCompressionType {
        match self {
            Compression::None => DBCompressionType::None,
            Compression::Lz4 => DBCompressionType::Lz4,
            Compression::Zstd => DBCompressionType::Zstd,
        }
    }
}

/// Number of lock stripes; keys hash onto stripes, multi-key commands lock stripes in
/// ascending order so they cannot deadlock.
pub(crate) const LOCK_STRIPES: usize = 4096;
/// Number of WATCH modification counters (a multiple of `LOCK_STRIPES`: keys sharing a
/// counter share a stripe).
const MOD_COUNTERS: usize = 65536;

/// The log every logged engine batch is written to first (the binlog). Installed by the
/// server; the storage layer sees records as opaque bytes.
pub trait CommitLog: Send + Sync {
    /// Appends records in order (possibly only in memory until [`CommitLog::flush`]), marked
    /// with the commit lane that writes them; returns the offset of the last one.
    fn append(&self, lane: u8, records: &mut [Vec<u8>]) -> std::io::Result<u64>;
    /// Hands every appended record to the OS (it then survives a crash of the process);
    /// returns the highest offset that now has.
    fn flush(&self) -> std::io::Result<u64>;
    /// Records `first..=last` were appended but their engine batch failed: appends a record
    /// that voids them (replay and replicas skip them).
    fn void(&self, lane: u8, first: u64, last: u64) -> std::io::Result<()>;
    /// Makes every appended record durable; returns the highest offset that now is.
    fn sync(&self) -> std::io::Result<u64>;
}

/// Commit lanes: each thread commits on one lane (lanes are shared round-robin); a lane's
/// batches reach the engine in the order of their log offsets, lanes run in parallel.
pub const LANES: usize = 16;

/// Key (in `default`) of a lane's last log offset in the engine, and the floor (every record
/// at or below it is in the engine), as two big-endian u64.
pub(crate) fn lane_key(lane: u8) -> Vec<u8> {
    let mut k = b"\x00strata:applied:".to_vec();
    k.push(lane);
    k
}

/// Whether an I/O error means "no space left" (ENOSPC, EDQUOT).
pub fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122)) || e.to_string().contains("No space left")
}

/// Whether an engine error's text says "no space left" (RocksDB reports ENOSPC and EDQUOT
/// only in words).
pub(crate) fn is_no_space_text(text: &str) -> bool {
    text.contains("No space left") || text.contains("Disk quota exceeded")
}

/// The first design's single applied offset (read at open, never written).
pub(crate) const APPLIED_KEY: &[u8] = b"\x00strata:applied-offset";

type LogSlot = Arc<OnceLock<Arc<dyn CommitLog>>>;

/// Syncs the log before a memtable flush: an SST never holds an effect whose record could
/// still be lost by a crash of the machine (the engine has no WAL of its own then).
struct SyncLogBeforeFlush(LogSlot);

impl rust_rocksdb::event_listener::EventListener for SyncLogBeforeFlush {
    fn on_flush_begin(&self, _: &rust_rocksdb::event_listener::FlushJobInfo) {
        if let Some(log) = self.0.get() {
            if let Err(e) = log.sync() {
                tracing::error!(error = %e, "binlog sync before a memtable flush failed");
            }
        }
    }
}

/// Faults that stop writes: a full disk (recovered from by itself) or another I/O error
/// (never resumed blindly). Shared with RocksDB's event listener, which reports flush and
/// compaction failures as they happen.
#[derive(Default)]
struct Faults {
    disk_full: std::sync::atomic::AtomicBool,
    io_failed: Mutex<Option<String>>,
}

impl Faults {
    fn fail(&self, what: &str) {
        let mut f = self.io_failed.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            tracing::error!(error = %what, "storage I/O error (not a full disk): writes stop until a restart");
            *f = Some(what.to_string());
        }
    }
}

/// Reports RocksDB's background errors (a flush or a compaction that failed) at once.
struct FaultListener(Arc<Faults>);

impl rust_rocksdb::event_listener::EventListener for FaultListener {
    fn on_background_error(
        &self,
        reason: rust_rocksdb::event_listener::DBBackgroundErrorReason,
        status: rust_rocksdb::event_listener::MutableStatus,
    ) {
        let Err(e) = status.result() else {
            return;
        };
        let text = e.to_string();
        if is_no_space_text(&text) {
            if !self.0.disk_full.swap(true, Ordering::AcqRel) {
                tracing::error!(?reason, error = %text, "disk full: a background write (flush or compaction) failed");
            }
        } else {
            self.0.fail(&format!("{reason:?}: {text}"));
        }
    }
}

pub struct Storage {
    pub(crate) db: Arc<DB>,
    /// The DB options, kept for their statistics (block cache hits and misses).
    db_opts: Options,
    external_log: bool,
    log: LogSlot,
    /// One lock per commit lane: a lane's log appends and engine writes keep one order.
    lanes: Vec<Mutex<()>>,
    /// Appends and the in-flight set change together under this lock.
    append_lock: Mutex<()>,
    /// Offsets appended whose engine batch is not written yet (first -> last), and the last
    /// offset appended.
    inflight: Mutex<std::collections::BTreeMap<u64, u64>>,
    last_appended: AtomicU64,
    /// Every record at or below this offset is in the engine (the floor), and each lane's last
    /// offset in the engine.
    applied: AtomicU64,
    lane_applied: [AtomicU64; LANES],
    /// A write to disk failed for lack of space (ENOSPC/EDQUOT) and has not been recovered.
    /// A full disk or an I/O error, noticed by a write or by RocksDB in the background.
    faults: Arc<Faults>,
    /// The highest offsets known handed to the OS and synced.
    log_flushed: AtomicU64,
    log_synced: AtomicU64,
    path: PathBuf,
    pub(crate) locks: Vec<Mutex<()>>,
    durability: AtomicU8,
    last_version: AtomicU64,
    max_value_len: AtomicU64,
    /// Number of batches committed so far, and how many of them are known to be in the OS
    /// (their WAL records flushed out of RocksDB's buffer).
    written: AtomicU64,
    flushed: AtomicU64,
    /// How many batches are known to be fsync'd.
    synced: AtomicU64,
    wal_flush_lock: Mutex<()>,
    /// Shared by every command that takes key locks; a transaction (EXEC) takes it
    /// exclusively.
    pub(crate) gate: RwLock<()>,
    /// WATCH: bumped by every write to a key hashing onto the counter.
    pub(crate) mod_counters: Box<[AtomicU64]>,
    /// WATCH: FLUSHDB epochs per keyspace, and the FLUSHALL epoch.
    flush_epochs: Mutex<HashMap<KeyspaceId, u64>>,
    flush_all_epoch: AtomicU64,
    /// SWAPDB's logical → physical keyspace map (`dbmap.rs`).
    pub(crate) dbmap: crate::dbmap::DbMap,
    /// RocksDB's ids of `ALL_CFS`, in that order.
    pub(crate) cf_ids: [u32; ALL_CFS.len()],
    /// Sorted sets (by sub prefix) whose rank fences need building or splitting.
    pub(crate) rank_queue: Mutex<std::collections::BTreeSet<Vec<u8>>>,
    /// Fence boundaries of sorted sets by sub prefix (`None`: not indexed), see `rank`.
    pub(crate) rank_fences: crate::rank::FenceCache,
    _cache: Cache,
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xff {
            v.push(last + 1);
            return v;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// The wall clock in ms (a command's clock of expiries is [`crate::Db::now_ms`], which stands
/// still while logged records are applied).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn key_hash(ks: KeyspaceId, key: &[u8]) -> u64 {
    // FNV-1a: cheap and good enough to spread keys over stripes.
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in ks.to_be_bytes().iter().chain(key.iter()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl Storage {
    /// Opens (or creates) the database at `opts.path`, checking the format version.
    pub fn open(opts: &StorageOptions) -> Result<Storage, Error> {
        std::fs::create_dir_all(&opts.path)?;
        // Lock-free (hyper clock) block cache: the LRU cache's shard mutexes showed up in
        // profiles of concurrent point reads.
        let cache = Cache::new_hyper_clock_cache(opts.block_cache_bytes, 0);
        let mut db_opts = Options::default();
        // Tickers only (no timers): the block cache's hits and misses for /metrics.
        db_opts.enable_statistics();
        db_opts.set_statistics_level(rust_rocksdb::statistics::StatsLevel::ExceptTimers);
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.increase_parallelism(2);
        db_opts.set_max_background_jobs(2);
        db_opts.set_bytes_per_sync(1 << 20);
        db_opts.set_wal_bytes_per_sync(0);
        // WAL records are buffered in the process and written to the OS by `wal_barrier`
        // (before replies are sent) or by a syncing write: one write(2) covers the commands of
        // many connections and a whole pipeline, instead of one per command.
        db_opts.set_manual_wal_flush(true);
        let log: LogSlot = Arc::new(OnceLock::new());
        if opts.external_log {
            // No WAL: the memtables of all column families are flushed together, so the
            // engine on disk is always the effect of a prefix of the log (its applied offset).
            db_opts.set_atomic_flush(true);
            // Every logged batch rewrites its lane's applied offset (a key of `default`):
            // updated in place in the memtable instead of a new skiplist entry per write. That
            // needs RocksDB to insert a write group's batches one after the other (no
            // concurrent memtable writes); lanes still overlap everything else.
            db_opts.set_allow_concurrent_memtable_write(false);
            // RocksDB still creates (empty) WAL files and would preallocate a write buffer's
            // worth of disk (~70 MB) for each: space that is never written.
            db_opts.set_allow_fallocate(false);

            db_opts.add_event_listener(SyncLogBeforeFlush(log.clone()));
        }

        let faults: Arc<Faults> = Arc::default();
        db_opts.add_event_listener(FaultListener(faults.clone()));
        let db_slot: Arc<OnceLock<Weak<DB>>> = Arc::new(OnceLock::new());
        let descriptors = ALL_CFS.iter().map(|&name| {
            let mut cf_opts = Options::default();
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            // A hash index inside data blocks: point lookups skip the in-block binary search.
            table.set_data_block_index_type(rust_rocksdb::DataBlockIndexType::BinaryAndHash);
            table.set_data_block_hash_ratio(0.75);

            cf_opts.set_block_based_table_factory(&table);
            // LZ4, and by default at the bottommost level too: reads that miss the block cache
            // decompress a block each, and zstd's decompression was half the user CPU of a
            // random GET over 10M keys (18k -> 31-37k GET/s with LZ4; SSTs of random values
            // about twice as large: docs/benchmarks.md, session 7).
            cf_opts.set_compression_type(DBCompressionType::Lz4);
            cf_opts.set_bottommost_compression_type(opts.bottommost_compression.engine());
            cf_opts.set_level_compaction_dynamic_level_bytes(true);
            match name {
                CF_META => {
                    cf_opts.set_write_buffer_size(opts.write_buffer_bytes);
                    // A bloom filter over whole keys in the memtable: a lookup of a key that is
                    // not in the memtable skips the skiplist search (most reads, at scale).
                    cf_opts.set_memtable_prefix_bloom_ratio(0.1);
                    cf_opts.set_memtable_whole_key_filtering(true);
                    cf_opts.set_compaction_filter("strata-meta-expired", meta_filter);
                }
                CF_SUB | CF_SCORE | CF_RANK => {
                    cf_opts.set_write_buffer_size(opts.write_buffer_bytes);
                    if name == CF_SUB {
                        // Member lookups (HSET/SADD/ZADD of a new member) mostly miss the
                        // memtable: a whole-key bloom there skips the skiplist search, which
                        // was a third of HSET's profile on a large hash.
                        cf_opts.set_memtable_prefix_bloom_ratio(0.1);
                        cf_opts.set_memtable_whole_key_filtering(true);
                    }
                    // A factory: each compaction run gets its own filter (its cache of the last
                    // decision must not outlive the run, nor be shared between threads).
                    cf_opts.set_compaction_filter_factory(SubKeyFilterFactory {
                        db: db_slot.clone(),
                    });
                }
                _ => cf_opts.set_inplace_update_support(opts.external_log),
            }
            ColumnFamilyDescriptor::new(name, cf_opts)
        });
        let db = DB::open_cf_descriptors(&db_opts, &opts.path, descriptors)?;
        let db = Arc::new(db);
        let _ = db_slot.set(Arc::downgrade(&db));
        let mut cf_ids = [0u32; ALL_CFS.len()];
        for (i, name) in ALL_CFS.iter().enumerate() {
            use rust_rocksdb::AsColumnFamilyRef;
            cf_ids[i] = db
                .cf_handle(name)
                .map(|cf| cf.id())
                .ok_or_else(|| Error::Corrupt(format!("column family {name} missing")))?;
        }

        let (applied, lane_applied) = {
            let cf = db
                .cf_handle(CF_DEFAULT)
                .ok_or_else(|| Error::Corrupt("column family default missing".into()))?;
            let malformed = || Error::Corrupt("applied-offset record is malformed".into());
            let mut floor = match db.get_cf(cf, APPLIED_KEY)? {
                Some(v) if v.len() == 8 => encoding::be_u64(&v),
                Some(_) => return Err(malformed()),
                None => 0,
            };
            let mut lanes = [0u64; LANES];
            lanes[0] = floor;
            for (lane, slot) in lanes.iter_mut().enumerate() {
                match db.get_cf(cf, lane_key(lane as u8))? {
                    Some(v) if v.len() == 16 => {
                        *slot = (*slot).max(encoding::be_u64(&v[..8]));
                        floor = floor.max(encoding::be_u64(&v[8..]));
                    }
                    Some(_) => return Err(malformed()),
                    None => {}
                }
            }
            (floor, lanes)
        };
        let max_applied = lane_applied.iter().copied().max().unwrap_or(0).max(applied);
        let storage = Storage {
            db_opts,
            db,
            external_log: opts.external_log,
            log,
            lanes: (0..LANES).map(|_| Mutex::new(())).collect(),
            append_lock: Mutex::new(()),
            inflight: Mutex::new(std::collections::BTreeMap::new()),
            last_appended: AtomicU64::new(max_applied),
            applied: AtomicU64::new(applied),
            lane_applied: lane_applied.map(AtomicU64::new),
            faults,
            log_flushed: AtomicU64::new(max_applied),
            log_synced: AtomicU64::new(max_applied),
            path: opts.path.clone(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            durability: AtomicU8::new(opts.durability as u8),
            last_version: AtomicU64::new(0),
            max_value_len: AtomicU64::new(opts.max_value_len as u64),
            written: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            wal_flush_lock: Mutex::new(()),
            gate: RwLock::new(()),
            mod_counters: (0..MOD_COUNTERS).map(|_| AtomicU64::new(0)).collect(),
            flush_epochs: Mutex::new(HashMap::new()),
            flush_all_epoch: AtomicU64::new(0),
            dbmap: Default::default(),
            cf_ids,
            rank_queue: Mutex::new(std::collections::BTreeSet::new()),
            rank_fences: Default::default(),
            _cache: cache,
        };
        storage.check_format()?;
        storage.load_dbmap()?;
        Ok(storage)
    }

    fn check_format(&self) -> Result<(), Error> {
        let cf = self.cf(CF_DEFAULT)?;
        match self.db.get_cf(cf, encoding::FORMAT_KEY)? {
            Some(v) if v.len() == 4 => {
                let found = encoding::be_u32(&v);
                if found != encoding::FORMAT_VERSION {
                    return Err(Error::FormatVersion {
                        found,
                        expected: encoding::FORMAT_VERSION,
                    });
                }
                Ok(())
            }
            Some(_) => Err(Error::Corrupt("format-version record is malformed".into())),
            None => {
                // A new database, or one with data but no record (not ours): refuse the latter.
                let mut it = self.db.raw_iterator_cf(self.cf(CF_META)?);
                it.seek_to_first();
                if it.valid() {
                    return Err(Error::Corrupt(
                        "database has data but no format-version record".into(),
                    ));
                }
                let mut wo = WriteOptions::default();
                wo.set_sync(true);
                let mut b = WriteBatch::default();
                b.put_cf(
                    cf,
                    encoding::FORMAT_KEY,
                    encoding::FORMAT_VERSION.to_be_bytes(),
                );
                self.db.write_opt(&b, &wo)?;
                Ok(())
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Installs the log of `external_log` (once, before any write).
    pub fn set_commit_log(&self, log: Arc<dyn CommitLog>) {
        let _ = self.log.set(log);
    }

    /// Whether writes go to an installed external log first.
    pub fn logged(&self) -> bool {
        self.external_log && self.log.get().is_some()
    }

    /// The floor: every log record at or below this offset has its effect in the engine
    /// (0: none). Records above it may be in the engine too (other lanes): see
    /// [`Storage::lane_applied`].
    pub fn applied_offset(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// The last offset of `lane` in the engine: the lane's records at or below it are in it,
    /// those above are not.
    pub fn lane_applied(&self, lane: u8) -> u64 {
        self.lane_applied
            .get(lane as usize)
            .map_or(0, |a| a.load(Ordering::Acquire))
    }

    /// Recovery is done: every record up to `last` (the log's end) is in the engine or void.
    pub fn mark_recovered(&self, last: u64) {
        let inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        self.last_appended.fetch_max(last, Ordering::AcqRel);
        if inflight.is_empty() {
            self.applied.fetch_max(last, Ordering::AcqRel);
        }
    }

    /// A record at `offset` needs nothing from the engine (void, or already held): the floor
    /// moves past it (a replica applying its master's records in order).
    pub fn note_applied(&self, offset: u64) {
        self.last_appended.fetch_max(offset, Ordering::AcqRel);
        self.applied.fetch_max(offset, Ordering::AcqRel);
    }

    /// Records that every record up to `offset` is in the engine (a transferred snapshot made
    /// with no write in flight), durably.
    pub fn persist_floor(&self, offset: u64) -> Result<(), Error> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_DEFAULT)?, APPLIED_KEY, offset.to_be_bytes());
        self.db.write_opt(&b, &wo)?;
        // Without a WAL (external log) the key survives a crash only in an SST file.
        self.flush_memtables()?;
        self.applied.fetch_max(offset, Ordering::AcqRel);
        Ok(())
    }

    /// The highest offset any lane has in the engine.
    pub fn max_applied(&self) -> u64 {
        self.lane_applied
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .max()
            .unwrap_or(0)
            .max(self.applied_offset())
    }

    fn write_options(&self) -> WriteOptions {
        let mut wo = WriteOptions::default();
        if self.external_log {
            wo.disable_wal(true);
        }
        wo
    }

    /// The floor now: below the oldest in-flight append, or the last append if none.
    fn floor_now(&self, inflight: &std::collections::BTreeMap<u64, u64>) -> u64 {
        match inflight.keys().next() {
            Some(&first) => first - 1,
            None => self.last_appended.load(Ordering::Acquire),
        }
    }

    /// Commits a batch with its log records, on commit lane `lane`: appends them
    /// (unless `at` gives the offset and lane of a record already in the log, as when
    /// replaying it), then writes the batch with the lane's new offset and the floor in it.
    /// Lanes commit in parallel; within a lane, offsets reach the engine in order. If the
    /// engine write fails the records are voided in the log: the log and the engine never
    /// disagree.
    pub(crate) fn write_logged(
        &self,
        mut batch: WriteBatch,
        records: &mut [Vec<u8>],
        at: Option<(u64, u8)>,
        lane: u8,
    ) -> Result<u64, Error> {
        let Some(log) = self.log.get().filter(|_| self.external_log) else {
            return self.write_direct(batch);
        };
        if records.is_empty() && at.is_none() {
            return self.write_direct(batch);
        }
        let lane = at.map_or(lane, |(_, l)| l) % LANES as u8;
        let _lane = self.lanes[lane as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let (first, last, floor) = match at {
            Some((o, _)) => (o, o, o),
            None => {
                let _a = self.append_lock.lock().unwrap_or_else(|p| p.into_inner());
                let last = log
                    .append(lane, records)
                    .inspect_err(|e| self.note_io_error(e))
                    .map_err(Error::from_io)?;
                let first = last + 1 - records.len() as u64;
                // The last offset and the in-flight set change together (under the in-flight
                // lock): a floor computed meanwhile never passes an append not yet written.
                let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
                self.last_appended.store(last, Ordering::Release);
                inflight.insert(first, last);
                (first, last, self.floor_now(&inflight))
            }
        };
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&last.to_be_bytes());
        v[8..].copy_from_slice(&floor.to_be_bytes());
        batch.put_cf(self.cf(CF_DEFAULT)?, lane_key(lane), v);
        let written = self.db.write_opt(&batch, &self.write_options());
        if let (Err(_), None) = (&written, at) {
            // The void record is in the log before the floor can pass these records: a
            // replica feeder reading up to the floor always knows they are void.
            if let Err(ve) = log.void(lane, first, last) {
                tracing::error!(error = %ve, first, last, "binlog: cannot void the records of a failed write");
            }
        }
        if at.is_none() {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.remove(&first);
            self.applied
                .fetch_max(self.floor_now(&inflight), Ordering::AcqRel);
        } else if written.is_ok() {
            // A record replayed (or applied by a replica) that failed is not applied.
            self.applied.fetch_max(last, Ordering::AcqRel);
        }
        if let Err(e) = written {
            self.note_engine_error(&e);
            return Err(Error::from_engine(e));
        }
        self.lane_applied[lane as usize].fetch_max(last, Ordering::AcqRel);
        Ok(last)
    }

    /// A consistent copy of the engine in `dir` (hard links; `dir` must not exist) and an
    /// offset every record at or below which it holds (records above may be in it too, per
    /// lane, as its applied keys say).
    pub fn checkpoint(&self, dir: &Path) -> Result<u64, Error> {
        let floor = self.applied_offset();
        let cp = rust_rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        cp.create_checkpoint(dir)?;
        Ok(floor)
    }

    /// Flushes every memtable to SST files; returns the applied offset they hold at least.
    pub fn flush_memtables(&self) -> Result<u64, Error> {
        let applied = self.applied_offset();
        let cfs: Vec<&ColumnFamily> = ALL_CFS
            .iter()
            .filter_map(|n| self.db.cf_handle(n))
            .collect();
        self.db
            .flush_cfs_opt(&cfs, &rust_rocksdb::FlushOptions::default())?;
        Ok(applied)
    }

    pub(crate) fn cf(&self, name: &str) -> Result<&ColumnFamily, Error> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Corrupt(format!("column family {name} missing")))
    }

    pub fn durability(&self) -> Durability {
        match self.durability.load(Ordering::Relaxed) {
            0 => Durability::Always,
            1 => Durability::EverySec,
            _ => Durability::No,
        }
    }

    pub fn set_durability(&self, d: Durability) {
        self.durability.store(d as u8, Ordering::Relaxed);
    }

    pub fn max_value_len(&self) -> usize {
        self.max_value_len.load(Ordering::Relaxed) as usize
    }

    pub fn set_max_value_len(&self, n: usize) {
        self.max_value_len.store(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn counter_of(ks: KeyspaceId, key: &[u8]) -> u32 {
        (key_hash(ks, key) % MOD_COUNTERS as u64) as u32
    }

    pub(crate) fn bump(&self, counters: &[u32]) {
        for &c in counters {
            self.mod_counters[c as usize].fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Records a FLUSHDB (`Some(ks)`) or FLUSHALL (`None`) for WATCH.
    pub(crate) fn bump_flush(&self, ks: Option<KeyspaceId>) {
        match ks {
            Some(ks) => {
                *self
                    .flush_epochs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(ks)
                    .or_insert(0) += 1
            }
            None => {
                self.flush_all_epoch.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    pub(crate) fn flush_epochs(&self, ks: KeyspaceId) -> (u64, u64) {
        let own = self
            .flush_epochs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ks)
            .copied()
            .unwrap_or(0);
        (own, self.flush_all_epoch.load(Ordering::Acquire))
    }

    #[cfg(test)]
    pub(crate) fn written_batches(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// A new collection version, strictly greater than every version handed out before
    /// (microsecond clock, bumped past the previous value).
    pub fn next_version(&self) -> u64 {
        let now = now_us();
        let mut prev = self.last_version.load(Ordering::Relaxed);
        loop {
            let next = now.max(prev + 1);
            match self.last_version.compare_exchange_weak(
                prev,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }

    /// Commits a batch to the engine (memtable + WAL buffer), bypassing any unit. Returns
    /// the write sequence to pass to [`Storage::wal_barrier`] before acknowledging it (0:
    /// none needed, the binlog holds what must be durable).
    pub(crate) fn write_direct(&self, batch: WriteBatch) -> Result<u64, Error> {
        if batch.is_empty() {
            return Ok(0);
        }
        self.db
            .write_opt(&batch, &self.write_options())
            .map_err(Error::from_engine)?;
        if self.external_log {
            return Ok(0);
        }
        Ok(self.written.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Whether acknowledging writes up to `seq` still needs a barrier under the current
    /// durability policy (`always`: fsync'd; otherwise: handed to the OS).
    pub fn needs_barrier(&self, seq: u64) -> bool {
        if self.external_log {
            let done = if self.durability() == Durability::Always {
                &self.log_synced
            } else {
                &self.log_flushed
            };
            return done.load(Ordering::Acquire) < seq;
        }
        let done = if self.durability() == Durability::Always {
            &self.synced
        } else {
            &self.flushed
        };
        done.load(Ordering::Acquire) < seq
    }

    /// Returns once every batch up to `seq` is as durable as the policy promises before a
    /// reply: in the OS (survives a crash of the process), and with `always` also fsync'd
    /// (survives a crash of the machine). Concurrent callers share one flush or fsync.
    /// May block on an fsync: call it from a blocking context under `always`.
    pub fn wal_barrier(&self, seq: u64) -> Result<(), Error> {
        let sync = self.durability() == Durability::Always;
        if !self.needs_barrier(seq) {
            return Ok(());
        }
        let _g = self
            .wal_flush_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !self.needs_barrier(seq) {
            return Ok(());
        }
        if self.external_log {
            if !sync {
                if let Some(log) = self.log.get() {
                    let flushed = log.flush().inspect_err(|e| self.note_io_error(e))?;
                    self.log_flushed.fetch_max(flushed, Ordering::AcqRel);
                }
                return Ok(());
            }
            return self.sync_log();
        }
        let target = self.written.load(Ordering::Acquire);
        self.db.flush_wal(sync)?;
        self.flushed.fetch_max(target, Ordering::AcqRel);
        if sync {
            self.synced.fetch_max(target, Ordering::AcqRel);
        }
        Ok(())
    }

    fn note_io_error(&self, e: &std::io::Error) {
        if is_no_space(e) {
            if !self.faults.disk_full.swap(true, Ordering::AcqRel) {
                tracing::error!(error = %e, "disk full: a write to disk failed");
            }
        } else {
            self.note_failure(&e.to_string());
        }
    }

    /// An engine write failed: a full disk, or an I/O error / corruption (writes stop).
    fn note_engine_error(&self, e: &rust_rocksdb::Error) {
        use rust_rocksdb::ErrorKind;
        let text = e.to_string();
        if is_no_space_text(&text) {
            self.faults.disk_full.store(true, Ordering::Release);
        } else if matches!(e.kind(), ErrorKind::IOError | ErrorKind::Corruption) {
            self.note_failure(&text);
        }
    }

    fn note_failure(&self, what: &str) {
        self.faults.fail(what);
    }

    /// The I/O error (other than a full disk) that stopped writes, if any.
    pub fn io_failed(&self) -> Option<String> {
        self.faults
            .io_failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a write to disk failed for lack of space and was not recovered yet.
    pub fn disk_full(&self) -> bool {
        self.faults.disk_full.load(Ordering::Acquire)
    }

    /// After a disk-full failure: hands pending binlog records to the OS again and resumes the
    /// engine from its background error. `Ok(true)` once everything works again.
    pub fn recover_disk_full(&self) -> Result<bool, Error> {
        if !self.disk_full() {
            return Ok(true);
        }
        if let Some(log) = self.log.get() {
            if let Err(e) = log.sync() {
                self.note_io_error(&e);
                return if is_no_space(&e) {
                    Ok(false)
                } else {
                    Err(e.into())
                };
            }
        }
        if let Err(e) = self.db.resume() {
            // Nothing to resume (no background error) is fine; anything else: still full.
            if !e.to_string().contains("not in") {
                tracing::debug!(error = %e, "engine resume failed; retrying later");
                return Ok(false);
            }
        }
        if let Err(e) = self.sync_wal() {
            tracing::debug!(error = %e, "sync after recovery failed; retrying later");
            return Ok(false);
        }
        self.faults.disk_full.store(false, Ordering::Release);
        tracing::warn!("disk full: recovered, the binlog and the engine write again");
        Ok(true)
    }

    /// The highest write sequence (binlog offset, with the binlog) known fsync'd.
    pub fn synced_seq(&self) -> u64 {
        if self.external_log {
            self.log_synced.load(Ordering::Acquire)
        } else {
            self.synced.load(Ordering::Acquire)
        }
    }

    /// Makes every write so far durable (the `everysec` task, shutdown).
    pub fn sync_wal(&self) -> Result<(), Error> {
        let _g = self
            .wal_flush_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.external_log {
            return self.sync_log();
        }
        let target = self.written.load(Ordering::Acquire);
        self.db.flush_wal(true)?;
        self.flushed.fetch_max(target, Ordering::AcqRel);
        self.synced.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Syncs the external log (caller holds `wal_flush_lock`): one fsync covers every record
    /// appended so far, whoever appended it (group commit).
    fn sync_log(&self) -> Result<(), Error> {
        if let Some(log) = self.log.get() {
            let synced = log.sync().inspect_err(|e| self.note_io_error(e))?;
            self.log_flushed.fetch_max(synced, Ordering::AcqRel);
            self.log_synced.fetch_max(synced, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Flushes memtables to SST files and syncs the WAL (clean shutdown).
    pub fn flush_all(&self) -> Result<(), Error> {
        self.sync_wal()?;
        let cfs: Vec<&ColumnFamily> = ALL_CFS
            .iter()
            .filter_map(|n| self.db.cf_handle(n))
            .collect();
        self.db
            .flush_cfs_opt(&cfs, &rust_rocksdb::FlushOptions::default())?;
        Ok(())
    }

    /// Adds the writes that store `meta` for `key` to `batch` (and its expiry hint).
    pub(crate) fn put_meta(
        &self,
        batch: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
        meta: &Meta,
    ) -> Result<(), Error> {
        batch.put_cf(
            self.cf(CF_META)?,
            encoding::meta_key(ks, key),
            meta.encode(),
        );
        if meta.expire_ms != 0 {
            batch.put_cf(
                self.cf(CF_EXPIRE)?,
                encoding::expire_key(meta.expire_ms, ks, key),
                [],
            );
        }
        Ok(())
    }

    /// Adds the deletion of a key to `batch`. O(1) whatever the key's size: the sub-keys of a
    /// collection become stale (their version no longer matches) and are reclaimed by the
    /// compaction filter.
    pub(crate) fn delete_meta(
        &self,
        batch: &mut WriteBatch,
        ks: KeyspaceId,
        key: &[u8],
    ) -> Result<(), Error> {
        batch.delete_cf(self.cf(CF_META)?, encoding::meta_key(ks, key));
        Ok(())
    }

    /// Compacts everything now (tests and `DEBUG`-style maintenance), running the filters
    /// on the bottommost level too.
    pub fn compact_all(&self) -> Result<(), Error> {
        let mut co = rust_rocksdb::CompactOptions::default();
        co.set_bottommost_level_compaction(rust_rocksdb::BottommostLevelCompaction::Force);
        for name in ALL_CFS {
            let cf = self.cf(name)?;
            self.db
                .compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &co);
        }
        Ok(())
    }

    /// Bytes of SST files and live WAL, for INFO.
    pub fn disk_usage(&self) -> u64 {
        self.db
            .live_files()
            .map(|files| files.iter().map(|f| f.size as u64).sum())
            .unwrap_or(0)
    }

    pub fn property_int(&self, cf: &str, name: &str) -> u64 {
        self.cf(cf)
            .ok()
            .and_then(|cf| self.db.property_int_value_cf(cf, name).ok().flatten())
            .unwrap_or(0)
    }
}

/// A storage in a fresh temporary directory, for unit tests (keep the guard alive).
#[cfg(test)]
pub(crate) fn test_storage() -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Storage::open(&StorageOptions::new(dir.path())).expect("open storage");
    (dir, s)
}

impl Storage {
    /// The block cache's hits and misses since the engine opened.
    pub fn block_cache_hits(&self) -> (u64, u64) {
        use rust_rocksdb::statistics::Ticker;
        (
            self.db_opts.get_ticker_count(Ticker::BlockCacheHit),
            self.db_opts.get_ticker_count(Ticker::BlockCacheMiss),
        )
    }
}

impl Drop for Storage {
    /// Hands buffered WAL records to the OS and syncs them, whatever path closes the engine.
    fn drop(&mut self) {
        if let Err(e) = self.sync_wal() {
            tracing::error!(error = %e, "WAL sync at close failed");
        }
    }
}

/// Compaction filter of `meta`: drops records whose expiry has passed.
fn meta_filter(_level: u32, _key: &[u8], value: &[u8]) -> Decision {
    match Meta::peek(value) {
        Ok((_, expire)) if expire != 0 && expire <= now_ms() => Decision::Remove,
        _ => Decision::Keep,
    }
}

struct SubKeyFilterFactory {
    db: Arc<OnceLock<Weak<DB>>>,
}

impl rust_rocksdb::compaction_filter_factory::CompactionFilterFactory for SubKeyFilterFactory {
    type Filter = SubKeyFilter;

    fn create(
        &mut self,
        _context: rust_rocksdb::compaction_filter_factory::CompactionFilterContext,
    ) -> SubKeyFilter {
        SubKeyFilter {
            db: self.db.clone(),
            last: None,
        }
    }

    fn name(&self) -> &std::ffi::CStr {
        c"strata-stale-subkeys-factory"
    }
}

/// Compaction filter of `sub` and `score`: drops members whose collection no longer exists,
/// was replaced (different version or type) or has expired. Remembers the last decision
/// during one compaction run, since members of one collection are adjacent.
struct SubKeyFilter {
    db: Arc<OnceLock<Weak<DB>>>,
    last: Option<(Vec<u8>, bool)>,
}

impl rust_rocksdb::compaction_filter::CompactionFilter for SubKeyFilter {
    fn filter(&mut self, _level: u32, key: &[u8], _value: &[u8]) -> Decision {
        self.decide(key)
    }

    fn name(&self) -> &std::ffi::CStr {
        c"strata-stale-subkeys"
    }
}

impl SubKeyFilter {
    fn decide(&mut self, raw: &[u8]) -> Decision {
        let Some((ks, key, version, _)) = encoding::split_sub_key(raw) else {
            return Decision::Keep;
        };
        let prefix_len = 8 + key.len() + 8;
        let prefix = &raw[..prefix_len];
        if let Some((p, stale)) = &self.last {
            if p.as_slice() == prefix {
                return if *stale {
                    Decision::Remove
                } else {
                    Decision::Keep
                };
            }
        }
        let Some(db) = self.db.get().and_then(Weak::upgrade) else {
            return Decision::Keep;
        };
        let Some(meta_cf) = db.cf_handle(CF_META) else {
            return Decision::Keep;
        };
        let stale = match db.get_pinned_cf(meta_cf, encoding::meta_key(ks, key)) {
            Ok(None) => true,
            Ok(Some(v)) => match Meta::decode(&v) {
                Ok(m) => m.ty == KeyType::String || m.version != version || m.is_expired(now_ms()),
                Err(_) => false,
            },
            Err(_) => false, // never drop data on an error
        };
        self.last = Some((prefix.to_vec(), stale));
        if stale {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_key_locks_never_deadlock() {
        let (_d, s) = test_storage();
        let s = std::sync::Arc::new(s);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u64 {
                        // Keys whose counters and stripes sort differently.
                        let keys: Vec<(u32, Vec<u8>)> = (0..8)
                            .map(|j| {
                                (
                                    0,
                                    format!("k{}", (i * 31 + j * 977 + t * 7) % 5000).into_bytes(),
                                )
                            })
                            .collect();
                        let _l = s.lock(&keys);
                    }
                })
            })
            .collect();
        let start = std::time::Instant::now();
        while !threads.iter().all(|t| t.is_finished()) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "lock deadlock"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// An in-memory log for tests.
    #[derive(Default)]
    struct MemLog {
        /// The lane of each record (record n at index n - 1).
        records: Mutex<Vec<u8>>,
    }

    impl CommitLog for MemLog {
        fn append(&self, lane: u8, records: &mut [Vec<u8>]) -> std::io::Result<u64> {
            let mut r = self.records.lock().unwrap();
            r.extend(records.iter().map(|_| lane));
            Ok(r.len() as u64)
        }
        fn flush(&self) -> std::io::Result<u64> {
            Ok(self.records.lock().unwrap().len() as u64)
        }
        fn void(&self, _lane: u8, _first: u64, _last: u64) -> std::io::Result<()> {
            Ok(())
        }
        fn sync(&self) -> std::io::Result<u64> {
            self.flush()
        }
    }

    /// Lanes commit in parallel; the floor (every record at or below it is in the engine)
    /// must never pass a record whose batch is not written yet.
    #[test]
    fn the_floor_never_passes_an_unwritten_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = StorageOptions::new(dir.path());
        opts.external_log = true;
        let s = Arc::new(Storage::open(&opts).unwrap());
        let log = Arc::new(MemLog::default());
        s.set_commit_log(log.clone());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..3000 {
                        // The record is the key written: "r<offset>" is only known after the
                        // append, so each batch writes the key named by its record count.
                        let mut b = WriteBatch::default();
                        let n = s.last_appended.load(Ordering::Acquire);
                        b.put_cf(s.cf(CF_META).unwrap(), format!("k{n}"), b"v");
                        let mut rec = vec![b"r".to_vec()];
                        s.write_logged(b, &mut rec, None, 0).unwrap();
                    }
                })
            })
            .collect();
        let checker = {
            let s = s.clone();
            let log = log.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let floor = s.applied_offset();
                    // What the engine holds now, per lane (read after the floor).
                    let cf = s.cf(CF_DEFAULT).unwrap();
                    let in_engine: Vec<u64> = (0..LANES as u8)
                        .map(|l| {
                            s.db.get_cf(cf, lane_key(l))
                                .unwrap()
                                .map_or(0, |v| encoding::be_u64(&v[..8]))
                        })
                        .collect();
                    let lanes = log.records.lock().unwrap().clone();
                    for o in 1..=floor {
                        let lane = lanes[(o - 1) as usize] as usize;
                        assert!(
                            in_engine[lane] >= o,
                            "floor {floor} passes record {o} of lane {lane}, not in the engine"
                        );
                    }
                    checks += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                checks
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(checker.join().unwrap() > 0);
        // Quiescent: the floor is the last record, and the engine holds one key per batch.
        assert_eq!(s.applied_offset(), 12000);
        assert_eq!(s.max_applied(), 12000);
        drop(s);
        // Reopened: the lanes say the same; the stored floor is a lower bound (each batch
        // stores the floor from before its own write), at most the writers' count behind.
        let s = Storage::open(&opts).unwrap();
        assert_eq!(s.max_applied(), 12000);
        assert!(s.applied_offset() >= 12000 - 4 && s.applied_offset() < 12000);
    }

    #[test]
    fn versions_increase() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(&StorageOptions::new(dir.path())).unwrap();
        let a = s.next_version();
        let b = s.next_version();
        assert!(b > a);
    }

    #[test]
    fn format_version_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Storage::open(&StorageOptions::new(dir.path())).unwrap();
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            s.db.put_cf_opt(
                s.cf(CF_DEFAULT).unwrap(),
                encoding::FORMAT_KEY,
                99u32.to_be_bytes(),
                &wo,
            )
            .unwrap();
        }
        match Storage::open(&StorageOptions::new(dir.path())) {
            Err(Error::FormatVersion { found: 99, .. }) => {}
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("opened a database of another format"),
        }
    }

    #[test]
    fn stale_subkeys_are_reclaimed_by_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(&StorageOptions::new(dir.path())).unwrap();
        let live_v = s.next_version();
        let dead_v = s.next_version();
        let meta = Meta {
            ty: KeyType::Hash,
            expire_ms: 0,
            version: live_v,
            size: 1,
            value: bytes::Bytes::new(),
        };
        let mut b = WriteBatch::default();
        s.put_meta(&mut b, 0, b"h", &meta).unwrap();
        let sub = s.cf(CF_SUB).unwrap();
        b.put_cf(sub, encoding::sub_key(0, b"h", live_v, b"f1"), b"v");
        b.put_cf(sub, encoding::sub_key(0, b"h", dead_v, b"f1"), b"old");
        b.put_cf(sub, encoding::sub_key(0, b"gone", live_v, b"f"), b"x");
        s.write_direct(b).unwrap();
        s.flush_all().unwrap();
        s.compact_all().unwrap();
        let get = |k: Vec<u8>| s.db.get_cf(s.cf(CF_SUB).unwrap(), k).unwrap();
        assert!(get(encoding::sub_key(0, b"h", live_v, b"f1")).is_some());
        assert!(get(encoding::sub_key(0, b"h", dead_v, b"f1")).is_none());
        assert!(get(encoding::sub_key(0, b"gone", live_v, b"f")).is_none());
    }
}

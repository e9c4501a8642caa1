//! Replication building blocks that know nothing of the storage engine nor of the server:
//!
//! - [`history`]: replication ids (current and previous, with the offset where the previous
//!   one ended) and the rule that decides whether a replica may continue from an offset;
//!   the small durable state file that holds them with the data generation.
//! - [`manifest`]: the list of a snapshot's files with sizes and CRC32C checksums.
//! - [`staging`]: the replica's side of a file transfer: every file written under a
//!   temporary name, verified chunk by chunk and as a whole, fsync'd, renamed, with enough
//!   progress saved to resume after a crash without fetching verified bytes again.
//! - [`client`]: a small RESP client (requests out, replies in) for the replica's links.
//! - [`throttle`]: a token bucket shared by every transfer stream of a master.
//!
//! The protocol that uses them is described in `docs/replication.md`.

pub mod client;
pub mod history;
pub mod manifest;
pub mod staging;
pub mod throttle;

use std::io::Write;
use std::path::Path;

/// CRC32C (hardware accelerated where the CPU has it).
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continues a CRC32C over more data.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// fsyncs a directory (after creating, renaming or removing entries in it).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes a small file so that a crash leaves either the old or the new content: temporary
/// file in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file")
        .to_string();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// A random 40-hex-digit id (replication ids, as Redis's).
pub fn random_id() -> String {
    let bytes: [u8; 20] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The replica's side of a snapshot transfer.
//!
//! Layout under the staging root (`<dir>/sync`):
//! ```text
//! manifest          the snapshot's manifest (written first, atomically)
//! tmp/<name>.tmp    a file being received (never opened by the engine)
//! tmp/<name>.part   its verified prefix: "<length> <crc32c of that prefix>"
//! db/<name>         a complete file: size and checksum verified, fsync'd, renamed here,
//!                   directory fsync'd
//! ```
//! Each chunk is checked against the CRC32C sent with it before it is written; a file's
//! whole checksum is checked against the manifest before its rename. The verified prefix
//! is saved every [`CHECKPOINT_BYTES`] (after an fsync of the data), so a restarted replica
//! fetches again at most that much per file. The old data stays untouched until
//! [`Staging::complete`] says every file is in `db/`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::manifest::{FileEntry, Manifest};

/// How many received bytes of a file may be fetched again after a crash.
pub const CHECKPOINT_BYTES: u64 = 8 << 20;

#[derive(Debug)]
pub enum ChunkError {
    /// The data does not match its checksum (or the manifest): fetch it again.
    Corrupt(String),
    Io(std::io::Error),
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChunkError::Corrupt(s) => write!(f, "corrupt data: {s}"),
            ChunkError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<std::io::Error> for ChunkError {
    fn from(e: std::io::Error) -> Self {
        ChunkError::Io(e)
    }
}

/// How far a file has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Done,
    /// Verified prefix length and its CRC32C.
    Partial {
        len: u64,
        crc: u32,
    },
}

pub struct Staging {
    root: PathBuf,
    pub manifest: Manifest,
}

impl Staging {
    /// The manifest of a transfer staged earlier under `root`, if any (to resume it).
    pub fn existing(root: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(root.join("manifest")).ok()?;
        Manifest::parse(&text).ok()
    }

    /// Removes whatever is staged under `root`.
    pub fn discard(root: &Path) -> std::io::Result<()> {
        match std::fs::remove_dir_all(root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Stages `manifest` under `root`: continues what is there when it is the same snapshot,
    /// otherwise starts afresh.
    pub fn open(root: &Path, manifest: &Manifest) -> std::io::Result<Staging> {
        if Staging::existing(root).as_ref() != Some(manifest) {
            Staging::discard(root)?;
        }
        std::fs::create_dir_all(root.join("tmp"))?;
        std::fs::create_dir_all(root.join("db"))?;
        let mpath = root.join("manifest");
        if !mpath.exists() {
            crate::write_atomically(&mpath, manifest.to_text().as_bytes())?;
        }
        if let Some(parent) = root.parent() {
            crate::sync_dir(parent)?;
        }
        Ok(Staging {
            root: root.to_path_buf(),
            manifest: manifest.clone(),
        })
    }

    fn tmp(&self, name: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{name}.tmp"))
    }

    fn part(&self, name: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{name}.part"))
    }

    pub fn db_dir(&self) -> PathBuf {
        self.root.join("db")
    }

    /// Where `name` stands (a complete file is trusted only with the manifest's size).
    pub fn progress(&self, name: &str) -> Progress {
        let entry = self.manifest.file(name);
        if let (Some(e), Ok(md)) = (entry, std::fs::metadata(self.db_dir().join(name))) {
            if md.len() == e.size {
                return Progress::Done;
            }
        }
        let saved = std::fs::read_to_string(self.part(name)).ok().and_then(|s| {
            let (l, c) = s.trim().split_once(' ')?;
            Some((l.parse::<u64>().ok()?, u32::from_str_radix(c, 16).ok()?))
        });
        match saved {
            Some((len, crc)) if std::fs::metadata(self.tmp(name)).is_ok_and(|m| m.len() >= len) => {
                Progress::Partial { len, crc }
            }
            _ => Progress::Partial { len: 0, crc: 0 },
        }
    }

    /// Bytes already verified (complete files and saved prefixes).
    pub fn verified_bytes(&self) -> u64 {
        self.manifest
            .files
            .iter()
            .map(|f| match self.progress(&f.name) {
                Progress::Done => f.size,
                Progress::Partial { len, .. } => len,
            })
            .sum()
    }

    /// A writer for `name` that continues from its verified prefix (later bytes are cut).
    pub fn writer(&self, name: &str) -> Result<FileWriter, ChunkError> {
        let entry = self
            .manifest
            .file(name)
            .cloned()
            .ok_or_else(|| ChunkError::Corrupt(format!("'{name}' is not in the manifest")))?;
        let (len, crc) = match self.progress(name) {
            Progress::Done => (entry.size, entry.crc),
            Progress::Partial { len, crc } => (len, crc),
        };
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(self.tmp(name))?;
        file.set_len(len)?;
        Ok(FileWriter {
            file,
            tmp: self.tmp(name),
            part: self.part(name),
            dest: self.db_dir().join(name),
            entry,
            len,
            crc,
            unsaved: 0,
        })
    }

    /// Every file is complete: the staged engine directory, synced.
    pub fn complete(&self) -> Result<PathBuf, ChunkError> {
        for f in &self.manifest.files {
            if self.progress(&f.name) != Progress::Done {
                return Err(ChunkError::Corrupt(format!("'{}' is not complete", f.name)));
            }
        }
        crate::sync_dir(&self.db_dir())?;
        Ok(self.db_dir())
    }
}

/// One file being received. Owned: its handle closes when it is dropped, on every path.
pub struct FileWriter {
    file: File,
    tmp: PathBuf,
    part: PathBuf,
    dest: PathBuf,
    pub entry: FileEntry,
    len: u64,
    crc: u32,
    unsaved: u64,
}

impl FileWriter {
    /// Bytes verified so far: the offset of the next chunk to fetch.
    pub fn offset(&self) -> u64 {
        self.len
    }

    pub fn is_complete(&self) -> bool {
        self.len >= self.entry.size
    }

    /// Writes the chunk at `offset` after checking it against `chunk_crc`.
    pub fn write_chunk(
        &mut self,
        offset: u64,
        data: &[u8],
        chunk_crc: u32,
    ) -> Result<(), ChunkError> {
        if offset != self.len {
            return Err(ChunkError::Corrupt(format!(
                "chunk at {offset}, expected {}",
                self.len
            )));
        }
        if crate::crc32c(data) != chunk_crc {
            return Err(ChunkError::Corrupt(format!(
                "checksum mismatch in {} at byte {offset}",
                self.entry.name
            )));
        }
        if self.len + data.len() as u64 > self.entry.size {
            return Err(ChunkError::Corrupt(format!(
                "{} is longer than its manifest says",
                self.entry.name
            )));
        }
        self.file.write_all_at(data, offset)?;
        self.len += data.len() as u64;
        self.crc = crate::crc32c_append(self.crc, data);
        self.unsaved += data.len() as u64;
        if self.unsaved >= CHECKPOINT_BYTES {
            self.save()?;
        }
        Ok(())
    }

    /// Makes the verified prefix durable and records it.
    pub fn save(&mut self) -> std::io::Result<()> {
        self.file.sync_data()?;
        crate::write_atomically(
            &self.part,
            format!("{} {:08x}", self.len, self.crc).as_bytes(),
        )?;
        self.unsaved = 0;
        Ok(())
    }

    /// The whole file has arrived: checks it against the manifest, then fsync, rename into
    /// the staged engine directory, fsync of that directory. On a mismatch the file is
    /// dropped and must be fetched again from its start.
    pub fn finish(self) -> Result<(), ChunkError> {
        if self.len != self.entry.size || self.crc != self.entry.crc {
            let _ = std::fs::remove_file(&self.tmp);
            let _ = std::fs::remove_file(&self.part);
            return Err(ChunkError::Corrupt(format!(
                "{}: {} bytes with checksum {:08x}, the manifest says {} bytes with {:08x}",
                self.entry.name, self.len, self.crc, self.entry.size, self.entry.crc
            )));
        }
        self.file.sync_all()?;
        drop(self.file);
        std::fs::rename(&self.tmp, &self.dest)?;
        if let Some(d) = self.dest.parent() {
            crate::sync_dir(d)?;
        }
        let _ = std::fs::remove_file(&self.part);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[(&str, &[u8])]) -> Manifest {
        Manifest {
            id: "s1".into(),
            replid: "r".repeat(40),
            offset: 9,
            files: files
                .iter()
                .map(|(n, d)| FileEntry {
                    name: n.to_string(),
                    size: d.len() as u64,
                    crc: crate::crc32c(d),
                })
                .collect(),
        }
    }

    #[test]
    fn chunks_are_verified_resumed_and_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sync");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let m = manifest(&[("a.sst", &data), ("CURRENT", b"x")]);
        let st = Staging::open(&root, &m).unwrap();
        let mut w = st.writer("a.sst").unwrap();
        // A corrupted chunk is refused and nothing is written.
        let mut bad = data[..1000].to_vec();
        bad[3] ^= 1;
        assert!(matches!(
            w.write_chunk(0, &bad, crate::crc32c(&data[..1000])),
            Err(ChunkError::Corrupt(_))
        ));
        assert_eq!(w.offset(), 0);
        w.write_chunk(0, &data[..40_000], crate::crc32c(&data[..40_000]))
            .unwrap();
        w.save().unwrap();
        // Written but not saved: fetched again after a restart.
        w.write_chunk(
            40_000,
            &data[40_000..50_000],
            crate::crc32c(&data[40_000..50_000]),
        )
        .unwrap();
        drop(w);
        assert!(
            !root.join("db/a.sst").exists(),
            "never a half file under its name"
        );
        let st = Staging::open(&root, &m).unwrap();
        assert_eq!(st.verified_bytes(), 40_000);
        let mut w = st.writer("a.sst").unwrap();
        assert_eq!(w.offset(), 40_000);
        w.write_chunk(40_000, &data[40_000..], crate::crc32c(&data[40_000..]))
            .unwrap();
        w.finish().unwrap();
        assert_eq!(std::fs::read(root.join("db/a.sst")).unwrap(), data);
        assert!(st.complete().is_err(), "CURRENT is missing");
        let mut w = st.writer("CURRENT").unwrap();
        w.write_chunk(0, b"y", crate::crc32c(b"y")).unwrap();
        assert!(
            matches!(w.finish(), Err(ChunkError::Corrupt(_))),
            "whole-file checksum"
        );
        let mut w = st.writer("CURRENT").unwrap();
        assert_eq!(w.offset(), 0);
        w.write_chunk(0, b"x", crate::crc32c(b"x")).unwrap();
        w.finish().unwrap();
        assert_eq!(st.complete().unwrap(), root.join("db"));
        // Another snapshot: the staged files are discarded.
        let mut m2 = m.clone();
        m2.id = "s2".into();
        let st = Staging::open(&root, &m2).unwrap();
        assert_eq!(st.verified_bytes(), 0);
    }
}

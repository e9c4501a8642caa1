//! A snapshot's manifest: every file of the snapshot with its size and CRC32C, plus the
//! snapshot's id, the history it belongs to and the offset of the last record it holds.
//!
//! Text form (one item per line, sent as one bulk string and stored beside the staged files):
//! ```text
//! snapshot <id>
//! replid <40 hex>
//! offset <last record offset in the snapshot>
//! file <name> <size> <crc32c hex>
//! ...
//! ```

use std::io::Read;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub crc: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub id: String,
    pub replid: String,
    pub offset: u64,
    pub files: Vec<FileEntry>,
}

/// A name a snapshot file may have: one path component, no dots only, printable ASCII.
/// Anything else (`../x`, `/etc/passwd`, control characters) is refused by the replica.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// CRC32C and size of a whole file.
pub fn file_crc(path: &Path) -> std::io::Result<(u64, u32)> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut size, mut crc) = (0u64, 0u32);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((size, crc));
        }
        crc = crate::crc32c_append(crc, &buf[..n]);
        size += n as u64;
    }
}

impl Manifest {
    /// Lists and checksums every file of `dir` (a snapshot directory, flat).
    pub fn build(dir: &Path, id: &str, replid: &str, offset: u64) -> std::io::Result<Manifest> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) {
                return Err(std::io::Error::other(format!(
                    "snapshot file with an unexpected name: {name}"
                )));
            }
            let (size, crc) = file_crc(&entry.path())?;
            files.push(FileEntry { name, size, crc });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Manifest {
            id: id.to_string(),
            replid: replid.to_string(),
            offset,
            files,
        })
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "snapshot {}\nreplid {}\noffset {}\n",
            self.id, self.replid, self.offset
        );
        for f in &self.files {
            s.push_str(&format!("file {} {} {:08x}\n", f.name, f.size, f.crc));
        }
        s
    }

    /// Parses and validates a manifest (from the network: nothing is trusted).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest {
            id: String::new(),
            replid: String::new(),
            offset: 0,
            files: Vec::new(),
        };
        let mut seen_offset = false;
        for line in text.lines() {
            let mut w = line.split(' ');
            match (w.next(), w.next(), w.next(), w.next(), w.next()) {
                (Some("snapshot"), Some(id), None, None, None) if valid_name(id) => {
                    m.id = id.to_string()
                }
                (Some("replid"), Some(id), None, None, None) => m.replid = id.to_string(),
                (Some("offset"), Some(o), None, None, None) => {
                    m.offset = o.parse().map_err(|_| format!("bad offset '{o}'"))?;
                    seen_offset = true;
                }
                (Some("file"), Some(name), Some(size), Some(crc), None) => {
                    if !valid_name(name) {
                        return Err(format!("refused file name '{name}'"));
                    }
                    if m.file(name).is_some() {
                        return Err(format!("file '{name}' listed twice"));
                    }
                    m.files.push(FileEntry {
                        name: name.to_string(),
                        size: size.parse().map_err(|_| format!("bad size '{size}'"))?,
                        crc: u32::from_str_radix(crc, 16)
                            .map_err(|_| format!("bad checksum '{crc}'"))?,
                    });
                }
                _ if line.is_empty() => {}
                _ => return Err(format!("malformed manifest line '{line}'")),
            }
        }
        if m.id.is_empty() || m.replid.is_empty() || !seen_offset {
            return Err("manifest without snapshot id, replid or offset".into());
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_round_trips_and_refuses_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("000001.sst"), b"hello").unwrap();
        std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-000002\n").unwrap();
        let m = Manifest::build(dir.path(), "snap-1", &"a".repeat(40), 42).unwrap();
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.file("000001.sst").unwrap().crc, crate::crc32c(b"hello"));
        assert_eq!(m.total_bytes(), 5 + 16);
        assert_eq!(Manifest::parse(&m.to_text()).unwrap(), m);
        for bad in ["../x", "/etc/passwd", ".hidden", "a/b", "", "..", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
        let evil = m.to_text() + "file ../../etc/passwd 1 00000000\n";
        assert!(Manifest::parse(&evil).is_err());
        assert!(Manifest::parse("snapshot x\n").is_err());
        assert!(Manifest::parse("garbage").is_err());
    }
}

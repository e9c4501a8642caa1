//! Replication history: which sequence of writes a server's data is a prefix of.
//!
//! As in Redis: `id` names the current history; after a promotion `id2` is the history the
//! server followed before, valid for offsets below `second_offset` (the first offset the new
//! history wrote). A replica that holds history `h` up to offset `n - 1` may continue from
//! `n` when `h == id`, or when `h == id2` and `n <= second_offset` (it never saw a write the
//! old history made after the promotion point, which this server does not have).

use std::path::Path;

/// The ids of a server's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    pub id: String,
    /// Empty when there is no previous history.
    pub id2: String,
    /// First offset not shared with `id2` (0 when `id2` is empty).
    pub second_offset: u64,
}

impl History {
    /// A new, unrelated history.
    pub fn fresh() -> History {
        History {
            id: crate::random_id(),
            id2: String::new(),
            second_offset: 0,
        }
    }

    /// Whether a replica holding history `id` up to `next - 1` may continue from `next` here.
    pub fn continues(&self, id: &str, next: u64) -> bool {
        id == self.id || (!self.id2.is_empty() && id == self.id2 && next <= self.second_offset)
    }

    /// This server becomes a master while its log ends at `next - 1`: a new history starts at
    /// `next`, and its former peers (history `id`) can still continue from up to `next`.
    pub fn promote(&mut self, next: u64) {
        self.id2 = std::mem::replace(&mut self.id, crate::random_id());
        self.second_offset = next;
    }

    /// This replica continues from `next` with a master whose history is `master_id`
    /// (after that master's promotion): the previous id stays valid up to `next`.
    pub fn follow(&mut self, master_id: &str, next: u64) {
        if master_id != self.id {
            self.id2 = std::mem::replace(&mut self.id, master_id.to_string());
            self.second_offset = next;
        }
    }

    /// `second_repl_offset` as INFO shows it (-1: none).
    pub fn second_offset_info(&self) -> i64 {
        if self.id2.is_empty() {
            -1
        } else {
            self.second_offset as i64
        }
    }
}

/// What the data directory's state file holds: the generation of the engine and binlog
/// directories in use, and the history their data belongs to. Written atomically: a
/// full sync's new data and its history become current together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub generation: u64,
    pub history: History,
}

impl State {
    pub fn to_text(&self) -> String {
        format!(
            "# Strata data directory state: do not edit\ngeneration {}\nreplid {}\nreplid2 {}\nsecond_offset {}\n",
            self.generation,
            self.history.id,
            if self.history.id2.is_empty() { "-" } else { &self.history.id2 },
            self.history.second_offset
        )
    }

    pub fn parse(text: &str) -> Result<State, String> {
        let mut st = State {
            generation: 0,
            history: History {
                id: String::new(),
                id2: String::new(),
                second_offset: 0,
            },
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once(' ')
                .ok_or_else(|| format!("malformed line '{line}'"))?;
            let num = || {
                v.parse::<u64>()
                    .map_err(|_| format!("bad number in '{line}'"))
            };
            match k {
                "generation" => st.generation = num()?,
                "replid" => st.history.id = v.to_string(),
                "replid2" if v == "-" => st.history.id2.clear(),
                "replid2" => st.history.id2 = v.to_string(),
                "second_offset" => st.history.second_offset = num()?,
                _ => return Err(format!("unknown key '{k}'")),
            }
        }
        let valid = |id: &str| id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid(&st.history.id) || !(st.history.id2.is_empty() || valid(&st.history.id2)) {
            return Err("replication id missing or malformed".into());
        }
        Ok(st)
    }

    /// Reads the state file; `None` when there is none (a new or older data directory).
    pub fn load(path: &Path) -> Result<Option<State>, String> {
        match std::fs::read_to_string(path) {
            Ok(t) => State::parse(&t)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        crate::write_atomically(path, self.to_text().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules_follow_redis() {
        let mut h = History::fresh();
        let old = h.id.clone();
        assert!(h.continues(&old, 1));
        assert!(h.continues(&old, 1_000));
        assert!(!h.continues("x", 1));
        // Promoted with its log ending at 95: peers of the old history continue up to 96.
        h.promote(96);
        assert_ne!(h.id, old);
        assert!(h.continues(&old, 96));
        assert!(h.continues(&old, 10));
        // An old master that wrote 96..100 in the old history must not continue.
        assert!(!h.continues(&old, 101));
        assert!(h.continues(&h.id.clone(), 500));
        // A replica following the new master keeps the old id valid up to the switch.
        let mut r = History {
            id: old.clone(),
            id2: String::new(),
            second_offset: 0,
        };
        r.follow(&h.id, 96);
        assert_eq!(r.id, h.id);
        assert_eq!(r.id2, old);
        assert_eq!(r.second_offset, 96);
        r.follow(&h.id.clone(), 200);
        assert_eq!(r.second_offset, 96, "same id: nothing changes");
    }

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        assert_eq!(State::load(&p).unwrap(), None);
        let mut st = State {
            generation: 3,
            history: History::fresh(),
        };
        st.store(&p).unwrap();
        assert_eq!(State::load(&p).unwrap(), Some(st.clone()));
        st.history.promote(7);
        st.store(&p).unwrap();
        assert_eq!(State::load(&p).unwrap(), Some(st));
        for bad in [
            "generation x",
            "replid 12",
            "what 1",
            "generation 1\nreplid zz",
        ] {
            assert!(State::parse(bad).is_err(), "{bad}");
        }
    }
}

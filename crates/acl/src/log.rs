//! `ACL LOG`: the most recent refusals, similar ones (same reason, context, object and user
//! within 60 s) folded into one entry with a count, newest first, at most `acllog-max-len`.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    /// The command's full name, the key, the channel, or `AUTH`/`HELLO` as typed.
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// When it last happened, ms since the epoch.
    pub ctime_ms: u64,
    /// The client, as a `CLIENT LIST` line.
    pub client_info: String,
}

const GROUPING_MS: u64 = 60_000;

#[derive(Debug, Default)]
pub struct Log {
    entries: VecDeque<Entry>,
}

impl Log {
    /// Records a refusal: bumps a similar recent entry (among the newest 10) or adds one.
    pub fn add(&mut self, e: Entry, max_len: usize) {
        let similar = self.entries.iter().take(10).position(|c| {
            c.reason == e.reason
                && c.context == e.context
                && c.ctime_ms.abs_diff(e.ctime_ms) <= GROUPING_MS
                && c.object == e.object
                && c.username == e.username
        });
        if let Some(i) = similar {
            if let Some(mut cur) = self.entries.remove(i) {
                cur.count += 1;
                cur.ctime_ms = e.ctime_ms;
                cur.client_info = e.client_info;
                self.entries.push_front(cur);
            }
            return;
        }
        self.entries.push_front(e);
        self.entries.truncate(max_len);
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(count)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn truncate(&mut self, max_len: usize) {
        self.entries.truncate(max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(object: &str, t: u64) -> Entry {
        Entry {
            count: 1,
            reason: Reason::Command,
            context: Context::Toplevel,
            object: object.as_bytes().to_vec(),
            username: b"u".to_vec(),
            ctime_ms: t,
            client_info: format!("at {t}"),
        }
    }

    #[test]
    fn groups_similar_and_bounds_length() {
        let mut l = Log::default();
        l.add(e("get", 0), 3);
        l.add(e("set", 10), 3);
        l.add(e("get", 20), 3);
        assert_eq!(l.len(), 2);
        let first = l.newest(1).next().cloned();
        assert_eq!(first.as_ref().map(|f| f.count), Some(2));
        assert_eq!(first.map(|f| f.client_info), Some("at 20".into()));
        // Past a minute, the same refusal is a new entry.
        l.add(e("get", 100_000), 3);
        assert_eq!(l.len(), 3);
        l.add(e("del", 100_001), 3);
        assert_eq!(l.len(), 3);
        let objs: Vec<_> = l.newest(10).map(|x| x.object.clone()).collect();
        assert_eq!(objs, [b"del".to_vec(), b"get".to_vec(), b"get".to_vec()]);
        l.reset();
        assert!(l.is_empty());
    }
}

//! The commands ACL rules can name: every command and subcommand with its id (its bit in a
//! selector's bitmap) and its ACL categories. Built once by the server from Redis 7.0's
//! declarations plus Strata's own commands; this crate knows nothing of handlers.

use std::collections::HashMap;

/// Redis 7.0's categories, in the order `ACL CAT` lists them (and the order in which
/// `ACL LIST` tries them when it describes a bitmap).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The bit of a category name (case-insensitive), as in a command's `categories`.
pub fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

#[derive(Debug, Clone)]
pub struct Command {
    /// `get`, or `config|get` for a subcommand (lower case).
    pub fullname: String,
    /// Bits of [`CATEGORIES`].
    pub categories: u32,
    pub parent: Option<usize>,
    pub subs: Vec<usize>,
    /// Runs before authentication (AUTH, HELLO, ...): never denied by command rules.
    pub no_auth: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    cmds: Vec<Command>,
    by_name: HashMap<String, usize>,
    /// Top-level commands in the order descriptions and `ACL CAT` walk them.
    top: Vec<usize>,
}

impl Catalog {
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Adds a top-level command (its name lower-cased) and returns its id; a name already
    /// present keeps its id.
    pub fn add(&mut self, name: &str, categories: u32, no_auth: bool) -> usize {
        let name = name.to_ascii_lowercase();
        if let Some(&id) = self.by_name.get(&name) {
            return id;
        }
        let id = self.push(name, categories, None, no_auth);
        self.top.push(id);
        id
    }

    /// Adds a subcommand (`sub` without the container's name) of `parent`.
    pub fn add_sub(&mut self, parent: usize, sub: &str, categories: u32, no_auth: bool) -> usize {
        let full = format!(
            "{}|{}",
            self.cmds[parent].fullname,
            sub.to_ascii_lowercase()
        );
        if let Some(&id) = self.by_name.get(&full) {
            return id;
        }
        let id = self.push(full, categories, Some(parent), no_auth);
        self.cmds[parent].subs.push(id);
        id
    }

    fn push(
        &mut self,
        name: String,
        categories: u32,
        parent: Option<usize>,
        no_auth: bool,
    ) -> usize {
        let id = self.cmds.len();
        self.by_name.insert(name.clone(), id);
        self.cmds.push(Command {
            fullname: name,
            categories,
            parent,
            subs: Vec::new(),
            no_auth,
        });
        id
    }

    /// Orders the top-level commands by name (descriptions and `ACL CAT` then list them
    /// alphabetically, with each container's subcommands after it).
    pub fn sort(&mut self) {
        let cmds = &self.cmds;
        self.top
            .sort_by(|a, b| cmds[*a].fullname.cmp(&cmds[*b].fullname));
        for i in 0..self.cmds.len() {
            let mut subs = std::mem::take(&mut self.cmds[i].subs);
            subs.sort_by(|a, b| self.cmds[*a].fullname.cmp(&self.cmds[*b].fullname));
            self.cmds[i].subs = subs;
        }
    }

    /// A command or `container|sub` by name (case-insensitive).
    pub fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// The subcommand `sub` of `parent`, if it has one of that name.
    pub fn sub_of(&self, parent: usize, sub: &[u8]) -> Option<usize> {
        self.cmds[parent].subs.iter().copied().find(|&s| {
            self.cmds[s]
                .fullname
                .rsplit('|')
                .next()
                .is_some_and(|n| n.as_bytes().eq_ignore_ascii_case(sub))
        })
    }

    pub fn get(&self, id: usize) -> &Command {
        &self.cmds[id]
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Top-level commands, in walking order.
    pub fn top(&self) -> &[usize] {
        &self.top
    }

    /// Every command in walking order: each top-level command followed by its subcommands.
    pub fn walk(&self) -> impl Iterator<Item = usize> + '_ {
        self.top
            .iter()
            .flat_map(move |&t| std::iter::once(t).chain(self.cmds[t].subs.iter().copied()))
    }

    /// `ACL CAT <category>`: the full names of the commands in it.
    pub fn in_category(&self, bit: u32) -> Vec<&str> {
        self.walk()
            .filter(|&id| self.cmds[id].categories & bit != 0)
            .map(|id| self.cmds[id].fullname.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_walk() {
        let mut c = Catalog::new();
        let get = c.add("GET", category_bit("read").unwrap_or(0), false);
        let config = c.add("config", 0, false);
        let cg = c.add_sub(config, "get", 1, false);
        assert_eq!(c.lookup("get"), Some(get));
        assert_eq!(c.lookup("CONFIG|GET"), Some(cg));
        assert_eq!(c.sub_of(config, b"GET"), Some(cg));
        assert_eq!(c.sub_of(config, b"set"), None);
        c.sort();
        let names: Vec<_> = c.walk().map(|i| c.get(i).fullname.clone()).collect();
        assert_eq!(names, ["config", "config|get", "get"]);
    }
}

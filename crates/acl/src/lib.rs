//! Access control as Redis 7.0 has it: users with passwords, selectors of command, key and
//! channel permissions, the descriptions `ACL LIST` prints, the ACL file and the ACL log.
//!
//! Pure logic: no sockets, no storage. The server builds the [`Catalog`] of commands and
//! categories from its command table, finds the keys of a request, and asks
//! [`User::check`] before running it.

pub mod catalog;
pub mod file;
pub mod log;
pub mod user;

pub use catalog::{category_bit, Catalog, CATEGORIES};
pub use user::{
    hash_password, merge_selectors, split_args, Channels, Denied, KeyCache, KeyRef, Request,
    RuleError, Rules, Sanitize, Selector, User,
};

#[cfg(test)]
mod tests;

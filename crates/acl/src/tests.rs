//! Rules, descriptions and checks over a small catalog.

use crate::catalog::{category_bit, Catalog};
use crate::user::*;

fn cats(names: &[&str]) -> u32 {
    names
        .iter()
        .filter_map(|n| category_bit(n))
        .fold(0, |a, b| a | b)
}

fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.add("get", cats(&["read", "string", "fast"]), false);
    c.add("set", cats(&["write", "string", "slow"]), false);
    c.add("del", cats(&["keyspace", "write", "slow"]), false);
    c.add("select", cats(&["fast", "connection"]), false);
    c.add("auth", cats(&["fast", "connection"]), true);
    c.add("publish", cats(&["pubsub", "fast"]), false);
    let config = c.add("config", 0, false);
    c.add_sub(config, "get", cats(&["admin", "slow", "dangerous"]), false);
    c.add_sub(config, "set", cats(&["admin", "slow", "dangerous"]), false);
    c.sort();
    c
}

fn user(c: &Catalog, ops: &[&str]) -> Result<User, RuleError> {
    let rules = Rules {
        catalog: c,
        allchannels_default: false,
    };
    let mut u = User::new("u", rules);
    for op in ops {
        u.apply(rules, op.as_bytes())?;
    }
    Ok(u)
}

fn describe(c: &Catalog, u: &User) -> String {
    u.describe(Rules {
        catalog: c,
        allchannels_default: false,
    })
}

fn check(
    c: &Catalog,
    u: &User,
    args: &[&str],
    keys: Vec<KeyRef>,
    ch: Channels,
) -> Result<(), Denied> {
    let id = c.lookup(args[0]).expect("known command");
    let id = match args.get(1) {
        Some(s) if !c.get(id).subs.is_empty() => c.sub_of(id, s.as_bytes()).unwrap_or(id),
        _ => id,
    };
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    let req = Request {
        catalog: c,
        id,
        args: &a,
        channels: ch,
    };
    u.check(&req, &mut KeyCache::new(move || keys))
}

fn rw(pos: usize) -> KeyRef {
    KeyRef {
        pos,
        read: true,
        write: true,
    }
}

fn r(pos: usize) -> KeyRef {
    KeyRef {
        pos,
        read: true,
        write: false,
    }
}

#[test]
fn default_and_new_users() {
    let c = catalog();
    let rules = Rules {
        catalog: &c,
        allchannels_default: false,
    };
    assert_eq!(
        describe(&c, &User::default_user(rules)),
        "on nopass ~* &* +@all"
    );
    assert_eq!(
        describe(&c, &User::new("x", rules)),
        "off resetchannels -@all"
    );
    let mut reset = User::default_user(rules);
    reset.apply(rules, b"reset").expect("reset");
    assert_eq!(
        describe(&c, &reset),
        "off sanitize-payload resetchannels -@all"
    );
}

#[test]
fn describes_categories_then_single_commands() {
    let c = catalog();
    // GET is the only @read command here: the category describes it best.
    let u = user(&c, &["on", "+@all", "-get"]).expect("rules");
    assert_eq!(describe(&c, &u), "on resetchannels +@all -@read");
    let u = user(&c, &["on", "+@all", "-set"]).expect("rules");
    assert_eq!(describe(&c, &u), "on resetchannels +@all -set");
    let u = user(&c, &["-@all", "+@string"]).expect("rules");
    assert_eq!(describe(&c, &u), "off resetchannels -@all +@string");
    let u = user(&c, &["+@write", "-del", "+config|get"]).expect("rules");
    assert_eq!(describe(&c, &u), "off resetchannels -@all +config|get +set");
    // A container allowed whole, minus one subcommand.
    let u = user(&c, &["+config", "-config|set"]).expect("rules");
    assert_eq!(
        describe(&c, &u),
        "off resetchannels -@all +config -config|set"
    );
    // First arguments of an otherwise denied command.
    let u = user(&c, &["-select", "+select|0", "+select|1", "+select|0"]).expect("rules");
    assert_eq!(
        describe(&c, &u),
        "off resetchannels -@all +select|0 +select|1"
    );
}

#[test]
fn key_and_channel_patterns() {
    let c = catalog();
    let u = user(&c, &["%R~app:*", "~x", "%W~app:*", "&news.*", "&ops"]).expect("rules");
    assert_eq!(
        describe(&c, &u),
        "off ~app:* ~x resetchannels &news.* &ops -@all"
    );
    let u = user(&c, &["%R~r:*", "%W~w:*"]).expect("rules");
    assert_eq!(describe(&c, &u), "off %R~r:* %W~w:* resetchannels -@all");
    assert_eq!(u.root_selector().keys_field(), "%R~r:* %W~w:*");
    assert_eq!(user(&c, &["~*", "~a"]).err(), Some(RuleError::KeyAfterAll));
    assert_eq!(
        user(&c, &["&*", "&a"]).err(),
        Some(RuleError::ChannelAfterAll)
    );
    assert_eq!(user(&c, &["%X~a"]).err(), Some(RuleError::Syntax));
    assert_eq!(user(&c, &["%R"]).err(), Some(RuleError::Syntax));
    assert_eq!(user(&c, &["%RR~a"]).err(), Some(RuleError::Syntax));
}

#[test]
fn rule_errors() {
    let c = catalog();
    assert_eq!(
        user(&c, &["+nosuch"]).err(),
        Some(RuleError::UnknownCommand)
    );
    assert_eq!(
        user(&c, &["+@nosuch"]).err(),
        Some(RuleError::UnknownCommand)
    );
    assert_eq!(
        user(&c, &["-config|nosuch"]).err(),
        Some(RuleError::UnknownCommand)
    );
    assert_eq!(
        user(&c, &["+config|get|x"]).err(),
        Some(RuleError::FirstArgOfSub)
    );
    assert_eq!(user(&c, &["+select|"]).err(), Some(RuleError::Syntax));
    assert_eq!(user(&c, &["#abc"]).err(), Some(RuleError::BadHash));
    assert_eq!(user(&c, &["<nope"]).err(), Some(RuleError::NoSuchPassword));
    assert_eq!(user(&c, &["bogus"]).err(), Some(RuleError::Syntax));
    assert_eq!(
        user(&c, &["(~x +nosuch)"]).err(),
        Some(RuleError::UnknownCommand)
    );
}

#[test]
fn passwords() {
    let c = catalog();
    let mut u = user(&c, &[">secret", ">secret", ">other"]).expect("rules");
    assert_eq!(u.passwords.len(), 2);
    assert_eq!(u.passwords[0], hash_password(b"secret"));
    assert!(!u.password_ok(b"secret"), "a disabled user cannot log in");
    let rules = Rules {
        catalog: &c,
        allchannels_default: false,
    };
    u.apply(rules, b"on").expect("on");
    assert!(u.password_ok(b"secret") && u.password_ok(b"other"));
    assert!(!u.password_ok(b"wrong"));
    u.apply(rules, b"<secret").expect("remove");
    assert!(!u.password_ok(b"secret"));
    u.apply(rules, b"nopass").expect("nopass");
    assert!(u.password_ok(b"anything"));
    assert_eq!(
        hash_password(b"foo"),
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    );
}

#[test]
fn checks_commands_keys_and_channels() {
    let c = catalog();
    let ro = user(&c, &["on", "nopass", "+@read", "%R~app:*"]).expect("rules");
    assert_eq!(
        check(&c, &ro, &["get", "app:1"], vec![r(1)], Channels::None),
        Ok(())
    );
    assert_eq!(
        check(&c, &ro, &["get", "other:1"], vec![r(1)], Channels::None),
        Err(Denied::Key(1))
    );
    assert_eq!(
        check(&c, &ro, &["set", "app:1", "v"], vec![rw(1)], Channels::None),
        Err(Denied::Command)
    );
    // A command allowed but a write on a read-only pattern.
    let w = user(&c, &["on", "+set", "%R~app:*"]).expect("rules");
    assert_eq!(
        check(&c, &w, &["set", "app:1", "v"], vec![rw(1)], Channels::None),
        Err(Denied::Key(1))
    );
    // AUTH is never denied by command rules.
    assert_eq!(
        check(&c, &ro, &["auth", "p"], vec![], Channels::None),
        Ok(())
    );
    // Channels: patterns match PUBLISH's channel.
    let p = user(&c, &["on", "+publish", "&news.*"]).expect("rules");
    assert_eq!(
        check(
            &c,
            &p,
            &["publish", "news.a", "m"],
            vec![],
            Channels::Publish
        ),
        Ok(())
    );
    assert_eq!(
        check(&c, &p, &["publish", "ops", "m"], vec![], Channels::Publish),
        Err(Denied::Channel(1))
    );
    // First arguments.
    let s = user(&c, &["on", "-select", "+select|0"]).expect("rules");
    assert_eq!(
        check(&c, &s, &["select", "0"], vec![], Channels::None),
        Ok(())
    );
    assert_eq!(
        check(&c, &s, &["select", "1"], vec![], Channels::None),
        Err(Denied::Command)
    );
    // Subcommands.
    let cg = user(&c, &["on", "+config|get"]).expect("rules");
    assert_eq!(
        check(&c, &cg, &["config", "get", "x"], vec![], Channels::None),
        Ok(())
    );
    assert_eq!(
        check(
            &c,
            &cg,
            &["config", "set", "x", "y"],
            vec![],
            Channels::None
        ),
        Err(Denied::Command)
    );
}

#[test]
fn selectors_allow_what_any_one_allows() {
    let c = catalog();
    let u = user(&c, &["on", "+get", "~a:*", "(+set ~b:*)"]).expect("rules");
    assert_eq!(
        describe(&c, &u),
        "on ~a:* resetchannels -@all +@read (~b:* resetchannels -@all +set)"
    );
    assert_eq!(u.extra_selectors().len(), 1);
    assert_eq!(
        check(&c, &u, &["get", "a:1"], vec![r(1)], Channels::None),
        Ok(())
    );
    assert_eq!(
        check(&c, &u, &["set", "b:1", "v"], vec![rw(1)], Channels::None),
        Ok(())
    );
    // The root selector has no SET; the other one has no a:* keys: the key refusal wins.
    assert_eq!(
        check(&c, &u, &["set", "a:1", "v"], vec![rw(1)], Channels::None),
        Err(Denied::Key(1))
    );
    let merged = merge_selectors(&[b"(+set".to_vec(), b"~b:*)".to_vec(), b"on".to_vec()]);
    assert_eq!(merged, Ok(vec![b"(+set ~b:*)".to_vec(), b"on".to_vec()]));
    assert_eq!(
        merge_selectors(&[b"on".to_vec(), b"(+set".to_vec()]),
        Err(1)
    );
}

#[test]
fn acl_file_round_trip_and_errors() {
    let c = catalog();
    let rules = Rules {
        catalog: &c,
        allchannels_default: false,
    };
    let text = "user alice on >pw ~app:* +@read\n\nuser default on nopass ~* &* +@all\n";
    let users = crate::file::parse(text, "users.acl", rules).expect("parses");
    assert_eq!(users.len(), 2);
    let saved = crate::file::render(&users, rules);
    assert_eq!(
        saved,
        format!(
            "user alice on #{} ~app:* resetchannels -@all +@read\nuser default on nopass ~* &* +@all\n",
            hash_password(b"pw")
        )
    );
    let again = crate::file::parse(&saved, "users.acl", rules).expect("parses again");
    assert_eq!(crate::file::render(&again, rules), saved);
    // The default user is created when the file has none.
    let only = crate::file::parse("user bob off", "f", rules).expect("parses");
    assert!(only.iter().any(|u| u.name == "default"));
    let err = crate::file::parse("user a on +nosuch\n# comment\nuser a on", "f", rules)
        .expect_err("bad file");
    assert_eq!(
        err,
        "f:1: Unknown command or category name in ACL. f:2 should start with user keyword followed by the username. WARNING: Duplicate user 'a' found on line 3. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
    );
}

#[test]
fn unrestricted_read_needs_a_selector_that_allows_the_request_and_reads_every_key() {
    let c = catalog();
    let reads = |ops: &[&str], args: &[&str]| {
        let u = user(&c, ops).expect("rules");
        let id = c.lookup(args[0]).expect("known command");
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let req = Request {
            catalog: &c,
            id,
            args: &a,
            channels: Channels::None,
        };
        u.unrestricted_read(&req, &mut KeyCache::new(|| vec![r(1)]))
    };
    assert!(reads(&["on", "+get", "~*"], &["get", "k"]));
    assert!(reads(&["on", "+get", "allkeys"], &["get", "k"]));
    assert!(reads(&["on", "+get", "%R~*", "~a:*"], &["get", "a:1"]));
    // Write-only access to every key, or a narrower read pattern, is not enough.
    assert!(!reads(&["on", "+get", "%W~*", "~a:*"], &["get", "a:1"]));
    assert!(!reads(&["on", "+get", "~a:*"], &["get", "a:1"]));
    // The selector with every key must allow the request itself.
    assert!(!reads(
        &["on", "+set", "~*", "(+get ~a:*)"],
        &["get", "a:1"]
    ));
    assert!(reads(&["on", "+get", "~a:*", "(+get ~*)"], &["get", "a:1"]));
}

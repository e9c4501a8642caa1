//! Pub/Sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB.

use bytes::{Bytes, BytesMut};
use resp::Frame;

use super::Ctx;
use crate::pubsub::{Kind, Subscriber};

fn confirm(kind: &str, name: Option<&Bytes>, count: usize) -> Frame {
    Frame::Push(vec![
        Frame::bulk_str(kind),
        name.map_or(Frame::Null, |n| Frame::Bulk(n.clone())),
        Frame::Integer(count as i64),
    ])
}

/// Several confirmations in one reply, as Redis sends one per channel.
fn raw(ctx: &Ctx<'_>, frames: Vec<Frame>) -> Frame {
    let mut out = BytesMut::new();
    for f in frames {
        f.encode(ctx.session.proto, &mut out);
    }
    Frame::Raw(out.freeze())
}

fn subscriber<'a>(ctx: &'a mut Ctx<'_>) -> &'a mut Subscriber {
    let client = ctx.session.client.clone();
    ctx.session
        .sub
        .get_or_insert_with(|| Subscriber::new(client))
}

fn subscribe_generic(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> Frame {
    let shared = ctx.shared;
    let word = match kind {
        Kind::Channel => "subscribe",
        Kind::Pattern => "psubscribe",
        Kind::Shard => "ssubscribe",
    };
    let mut frames = Vec::with_capacity(args.len() - 1);
    let base = ctx.session.base();
    for name in &args[1..] {
        let sub = subscriber(ctx);
        shared
            .pubsub
            .subscribe(sub, &crate::namespace::scope(base, name), kind);
        frames.push(confirm(word, Some(name), sub.count_of(kind)));
    }
    raw(ctx, frames)
}

fn unsubscribe_generic(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> Frame {
    let shared = ctx.shared;
    let word = match kind {
        Kind::Channel => "unsubscribe",
        Kind::Pattern => "punsubscribe",
        Kind::Shard => "sunsubscribe",
    };
    let base = ctx.session.base();
    let sub = subscriber(ctx);
    let names: Vec<Bytes> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|a| crate::namespace::scope(base, a))
            .collect()
    } else {
        match kind {
            Kind::Channel => sub.channels.iter().cloned().collect(),
            Kind::Pattern => sub.patterns.iter().cloned().collect(),
            Kind::Shard => sub.shard.iter().cloned().collect(),
        }
    };
    let mut frames = Vec::with_capacity(names.len().max(1));
    for name in &names {
        shared.pubsub.unsubscribe(sub, name, kind);
        frames.push(confirm(
            word,
            Some(&crate::namespace::unscope(name)),
            sub.count_of(kind),
        ));
    }
    if names.is_empty() {
        frames.push(confirm(word, None, sub.count_of(kind)));
    }
    raw(ctx, frames)
}

pub fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    subscribe_generic(ctx, args, Kind::Channel)
}
pub fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    subscribe_generic(ctx, args, Kind::Pattern)
}
pub fn ssubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    subscribe_generic(ctx, args, Kind::Shard)
}
pub fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    unsubscribe_generic(ctx, args, Kind::Channel)
}
pub fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    unsubscribe_generic(ctx, args, Kind::Pattern)
}
pub fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    unsubscribe_generic(ctx, args, Kind::Shard)
}

pub fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let channel = crate::namespace::scope(ctx.session.base(), &args[1]);
    // Inside EXEC (or a record a replica applies) the message goes out after the commit.
    Frame::Integer(
        ctx.session
            .held
            .publish(ctx.shared, &channel, &args[2], false),
    )
}

/// SPUBLISH: to the subscribers of a shard channel (`smessage`); without cluster mode shard
/// channels are a namespace of their own, as in Redis.
pub fn spublish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let channel = crate::namespace::scope(ctx.session.base(), &args[1]);
    Frame::Integer(
        ctx.session
            .held
            .publish(ctx.shared, &channel, &args[2], true),
    )
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | SHARDCHANNELS | SHARDNUMSUB
pub fn pubsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let ps = &ctx.shared.pubsub;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let n = args.len();
    let base = ctx.session.base();
    let scope = crate::namespace::scope(base, b"");
    match sub.as_str() {
        "channels" if n <= 3 => {
            let pattern = crate::namespace::scope(base, args.get(2).map_or(&b"*"[..], |p| p));
            Frame::Array(
                ps.channels(Some(&pattern))
                    .into_iter()
                    .filter(|c| crate::namespace::scope_of(c) == &scope[..])
                    .map(|c| Frame::Bulk(crate::namespace::unscope(&c)))
                    .collect(),
            )
        }
        "shardchannels" if n <= 3 => {
            let pattern = crate::namespace::scope(base, args.get(2).map_or(&b"*"[..], |p| p));
            Frame::Array(
                ps.shard_channels(&pattern)
                    .into_iter()
                    .filter(|c| crate::namespace::scope_of(c) == &scope[..])
                    .map(|c| Frame::Bulk(crate::namespace::unscope(&c)))
                    .collect(),
            )
        }
        "numsub" | "shardnumsub" => {
            let mut out = Vec::with_capacity(2 * (n - 2));
            for ch in &args[2..] {
                out.push(Frame::Bulk(ch.clone()));
                let count = ps.numsub(&crate::namespace::scope(base, ch), sub == "shardnumsub");
                out.push(Frame::Integer(count as i64));
            }
            Frame::Array(out)
        }
        "numpat" if n == 2 => Frame::Integer(ps.numpat_in(&scope) as i64),
        "help" if n == 2 => Frame::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::Simple((*s).into()))
            .collect(),
        ),
        // Within the subcommand's arity (checked centrally) but not a form it takes.
        _ => Frame::Error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// Whether a command may run while a RESP2 connection is subscribed.
/// The (un)subscribe commands, whose confirmations are pushes (sent even with CLIENT REPLY
/// OFF).
pub fn is_subscription(name: &str) -> bool {
    matches!(
        name,
        "subscribe" | "psubscribe" | "ssubscribe" | "unsubscribe" | "punsubscribe" | "sunsubscribe"
    )
}

pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

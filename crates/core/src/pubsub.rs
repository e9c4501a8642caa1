//! Pub/Sub: channels, patterns, and the per-client mailbox that carries messages to a
//! subscriber's connection.
//!
//! PUBLISH never waits for a subscriber: it puts the message in each subscriber's mailbox (an
//! unbounded queue whose queued bytes are counted) and returns. A subscriber whose queued
//! bytes pass the `pubsub` class of `client-output-buffer-limit` (hard limit at once, soft
//! limit for longer than its seconds) is disconnected, like Redis: memory never grows without
//! bound because of a slow reader.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use resp::Frame;
use tokio::sync::mpsc;

use crate::clients::ClientEntry;

/// One message on its way to a subscriber.
#[derive(Debug)]
pub struct Message {
    /// Published with SPUBLISH to a shard channel (`smessage`).
    pub shard: bool,
    /// A client-side caching invalidation (CLIENT TRACKING): these keys (unscoped), or every
    /// key (`Some(None)`, a flush). Sent as an `invalidate` push in RESP3, as a message on
    /// `__redis__:invalidate` in RESP2.
    pub invalidate: Option<Option<Vec<Bytes>>>,
    /// A MONITOR line (sent as a status reply).
    pub monitor: Option<String>,
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub payload: Bytes,
}

impl Message {
    /// Bytes it is accounted for while queued.
    pub fn cost(&self) -> u64 {
        (self.monitor.as_ref().map_or(0, |m| m.len())
            + self.channel.len()
            + self.payload.len()
            + self.pattern.as_ref().map_or(0, |p| p.len())
            + 64) as u64
    }

    /// A line for a MONITOR client.
    pub fn monitor_line(line: String) -> Message {
        Message {
            shard: false,
            invalidate: None,
            monitor: Some(line),
            pattern: None,
            channel: Bytes::new(),
            payload: Bytes::new(),
        }
    }

    /// The message as its subscriber sees it (names without their namespace scope).
    pub fn frame(&self, proto: resp::Protocol) -> Frame {
        if let Some(line) = &self.monitor {
            return Frame::Simple(line.clone());
        }
        if let Some(keys) = &self.invalidate {
            let keys = match keys {
                Some(k) => Frame::Array(k.iter().cloned().map(Frame::Bulk).collect()),
                None => Frame::Null,
            };
            return match proto {
                resp::Protocol::Resp3 => Frame::Push(vec![Frame::bulk_str("invalidate"), keys]),
                resp::Protocol::Resp2 => Frame::Push(vec![
                    Frame::bulk_str("message"),
                    Frame::bulk_str("__redis__:invalidate"),
                    keys,
                ]),
            };
        }
        let channel = crate::namespace::unscope(&self.channel);
        match &self.pattern {
            None => Frame::Push(vec![
                Frame::bulk_str(if self.shard { "smessage" } else { "message" }),
                Frame::Bulk(channel),
                Frame::Bulk(self.payload.clone()),
            ]),
            Some(p) => Frame::Push(vec![
                Frame::bulk_str("pmessage"),
                Frame::Bulk(crate::namespace::unscope(p)),
                Frame::Bulk(channel),
                Frame::Bulk(self.payload.clone()),
            ]),
        }
    }
}

/// The sending side of a subscriber's mailbox.
pub struct Mailbox {
    pub client: Arc<ClientEntry>,
    tx: mpsc::UnboundedSender<Message>,
    /// Since when the queued bytes are above the soft limit.
    over_soft_since: Mutex<Option<Instant>>,
}

/// `client-output-buffer-limit` for the `pubsub` class: hard bytes, soft bytes, soft seconds
/// (0 = no limit).
#[derive(Default)]
pub struct Limits {
    pub hard: AtomicU64,
    pub soft: AtomicU64,
    pub soft_secs: AtomicU64,
}

#[derive(Default)]
struct Registry {
    channels: HashMap<Bytes, HashMap<u64, Arc<Mailbox>>>,
    patterns: HashMap<Bytes, HashMap<u64, Arc<Mailbox>>>,
    /// Shard channels (SSUBSCRIBE / SPUBLISH): a namespace of their own, as in Redis.
    shard: HashMap<Bytes, HashMap<u64, Arc<Mailbox>>>,
}

/// What a name is subscribed as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

#[derive(Default)]
pub struct PubSub {
    reg: Mutex<Registry>,
    pub limits: Limits,
}

/// A connection's side: its mailbox and what it is subscribed to.
pub struct Subscriber {
    pub mailbox: Arc<Mailbox>,
    pub rx: mpsc::UnboundedReceiver<Message>,
    pub channels: HashSet<Bytes>,
    pub patterns: HashSet<Bytes>,
    pub shard: HashSet<Bytes>,
}

impl Subscriber {
    pub fn new(client: Arc<ClientEntry>) -> Subscriber {
        let (tx, rx) = mpsc::unbounded_channel();
        Subscriber {
            mailbox: Arc::new(Mailbox {
                client,
                tx,
                over_soft_since: Mutex::new(None),
            }),
            rx,
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard: HashSet::new(),
        }
    }

    /// Channels and patterns (the count SUBSCRIBE and PSUBSCRIBE confirm).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription, shard channels included (the client is in Pub/Sub mode).
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }

    /// The count a confirmation of this kind carries (shard channels count alone).
    pub fn count_of(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.count(),
        }
    }

    fn set_mut(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    fn publish_counts(&self) {
        let c = &self.mailbox.client;
        c.subs.store(self.channels.len() as u32, Ordering::Relaxed);
        c.psubs.store(self.patterns.len() as u32, Ordering::Relaxed);
        c.ssubs.store(self.shard.len() as u32, Ordering::Relaxed);
    }

    /// Takes a delivered message off the accounting.
    pub fn delivered(&self, m: &Message) {
        let _ = self.mailbox.client.pending_push.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |v| Some(v.saturating_sub(m.cost())),
        );
    }
}

/// A message with its receivers resolved ([`PubSub::prepare`]).
pub struct Prepared {
    targets: Vec<(Arc<Mailbox>, Option<Bytes>)>,
    channel: Bytes,
    payload: Bytes,
    shard: bool,
    /// A client-side caching invalidation instead of a published message.
    invalidate: Option<Option<Vec<Bytes>>>,
}

impl Prepared {
    /// An invalidation for one tracking client's mailbox (see `tracking`).
    pub fn invalidation(mb: Arc<Mailbox>, keys: Option<Vec<Bytes>>) -> Prepared {
        Prepared {
            targets: vec![(mb, None)],
            channel: Bytes::from_static(b"__redis__:invalidate"),
            payload: Bytes::new(),
            shard: false,
            invalidate: Some(keys),
        }
    }

    pub fn receivers(&self) -> i64 {
        self.targets.len() as i64
    }
}

impl PubSub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.reg.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn map_mut(reg: &mut Registry, kind: Kind) -> &mut HashMap<Bytes, HashMap<u64, Arc<Mailbox>>> {
        match kind {
            Kind::Channel => &mut reg.channels,
            Kind::Pattern => &mut reg.patterns,
            Kind::Shard => &mut reg.shard,
        }
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE one name: true if it was new for the client.
    pub fn subscribe(&self, sub: &mut Subscriber, name: &Bytes, kind: Kind) -> bool {
        if !sub.set_mut(kind).insert(name.clone()) {
            return false;
        }
        let mut reg = self.lock();
        Self::map_mut(&mut reg, kind)
            .entry(name.clone())
            .or_default()
            .insert(sub.mailbox.client.id, sub.mailbox.clone());
        drop(reg);
        sub.publish_counts();
        true
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE one name: true if the client had it.
    pub fn unsubscribe(&self, sub: &mut Subscriber, name: &Bytes, kind: Kind) -> bool {
        if !sub.set_mut(kind).remove(name) {
            return false;
        }
        let mut reg = self.lock();
        let map = Self::map_mut(&mut reg, kind);
        if let Some(m) = map.get_mut(name) {
            m.remove(&sub.mailbox.client.id);
            if m.is_empty() {
                map.remove(name);
            }
        }
        drop(reg);
        sub.publish_counts();
        true
    }

    /// Drops every subscription of a client (disconnection, RESET).
    pub fn unsubscribe_all(&self, sub: &mut Subscriber) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let names: Vec<Bytes> = sub.set_mut(kind).iter().cloned().collect();
            for n in &names {
                self.unsubscribe(sub, n, kind);
            }
        }
    }

    /// PUBLISH: queues the message for every subscriber of the channel and every matching
    /// pattern; returns how many received it.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes, shard: bool) -> i64 {
        self.deliver(self.prepare(channel, payload, shard))
    }

    /// Resolves a message's receivers now, to deliver it later ([`PubSub::deliver`]): a
    /// message of a transaction goes out once the transaction is committed.
    pub fn prepare(&self, channel: &Bytes, payload: &Bytes, shard: bool) -> Prepared {
        let mut targets: Vec<(Arc<Mailbox>, Option<Bytes>)> = Vec::new();
        if shard {
            // Shard channels: exact names only, no patterns.
            if let Some(m) = self.lock().shard.get(channel) {
                targets.extend(m.values().map(|mb| (mb.clone(), None)));
            }
            return Prepared {
                targets,
                channel: channel.clone(),
                payload: payload.clone(),
                shard,
                invalidate: None,
            };
        }
        {
            let reg = self.lock();
            if let Some(m) = reg.channels.get(channel) {
                targets.extend(m.values().map(|mb| (mb.clone(), None)));
            }
            // A pattern matches channels of its own namespace only.
            let scope = crate::namespace::scope_of(channel);
            for (pat, m) in &reg.patterns {
                if crate::namespace::scope_of(pat) == scope
                    && storage::glob::glob_match(pat, channel, false)
                {
                    targets.extend(m.values().map(|mb| (mb.clone(), Some(pat.clone()))));
                }
            }
        }
        Prepared {
            targets,
            channel: channel.clone(),
            payload: payload.clone(),
            shard,
            invalidate: None,
        }
    }

    /// Queues a message for one mailbox (with the output-buffer accounting and limits).
    pub fn send_to(&self, mb: &Arc<Mailbox>, msg: Message) {
        let cost = msg.cost();
        let queued = mb.client.pending_push.fetch_add(cost, Ordering::Relaxed) + cost;
        if mb.tx.send(msg).is_ok() {
            self.enforce_limits(mb, queued);
        }
    }

    /// The mailbox of a client subscribed to `channel` (scoped), if it is.
    pub fn subscriber_of(&self, channel: &[u8], client_id: u64) -> Option<Arc<Mailbox>> {
        self.lock()
            .channels
            .get(channel)
            .and_then(|m| m.get(&client_id).cloned())
    }

    /// Queues a prepared message for its receivers; returns how many they were.
    pub fn deliver(&self, p: Prepared) -> i64 {
        let n = p.receivers();
        for (mb, pattern) in p.targets {
            let msg = Message {
                invalidate: p.invalidate.clone(),
                monitor: None,
                shard: p.shard,
                pattern,
                channel: p.channel.clone(),
                payload: p.payload.clone(),
            };
            let queued = mb
                .client
                .pending_push
                .fetch_add(msg.cost(), Ordering::Relaxed)
                + msg.cost();
            if mb.tx.send(msg).is_err() {
                continue;
            }
            self.enforce_limits(&mb, queued);
        }
        n
    }

    fn enforce_limits(&self, mb: &Mailbox, queued: u64) {
        let l = &self.limits;
        let hard = l.hard.load(Ordering::Relaxed);
        let soft = l.soft.load(Ordering::Relaxed);
        let secs = l.soft_secs.load(Ordering::Relaxed);
        let mut over = hard > 0 && queued > hard;
        if soft > 0 {
            let mut since = mb.over_soft_since.lock().unwrap_or_else(|p| p.into_inner());
            if queued > soft {
                let t = *since.get_or_insert_with(Instant::now);
                over |= t.elapsed().as_secs() >= secs;
            } else {
                *since = None;
            }
        }
        if over && !mb.client.kill.is_cancelled() {
            tracing::warn!(
                client = mb.client.id,
                addr = %mb.client.addr,
                queued_bytes = queued,
                "closing subscriber that reached the pubsub output buffer limit"
            );
            mb.client.kill.cancel();
        }
    }

    /// PUBSUB CHANNELS [pattern]
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let reg = self.lock();
        reg.channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| storage::glob::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel.
    pub fn numsub(&self, channel: &[u8], shard: bool) -> usize {
        let reg = self.lock();
        let map = if shard { &reg.shard } else { &reg.channels };
        map.get(channel).map_or(0, |m| m.len())
    }

    /// PUBSUB SHARDCHANNELS [pattern]
    pub fn shard_channels(&self, pattern: &[u8]) -> Vec<Bytes> {
        self.lock()
            .shard
            .keys()
            .filter(|c| storage::glob::glob_match(pattern, c, false))
            .cloned()
            .collect()
    }

    pub fn num_shard_channels(&self) -> usize {
        self.lock().shard.len()
    }

    /// PUBSUB NUMPAT: patterns with at least one subscriber.
    pub fn numpat(&self) -> usize {
        self.lock().patterns.len()
    }

    /// Patterns of one namespace scope (see `namespace::scope`) with a subscriber.
    pub fn numpat_in(&self, scope: &[u8]) -> usize {
        self.lock()
            .patterns
            .keys()
            .filter(|p| crate::namespace::scope_of(p) == scope)
            .count()
    }

    pub fn num_channels(&self) -> usize {
        self.lock().channels.len()
    }
}

/// Parses a `client-output-buffer-limit` value into its `pubsub` class (hard, soft, seconds);
/// `Err` for a malformed value.
pub fn parse_output_limits(v: &str) -> Result<Option<(u64, u64, u64)>, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut pubsub = None;
    for w in words.chunks(4) {
        let class = w[0].to_ascii_lowercase();
        if !["normal", "slave", "replica", "pubsub"].contains(&class.as_str()) {
            return Err("Invalid client class specified in buffer limit configuration.".into());
        }
        let hard = crate::config::parse_memory(w[1]);
        let soft = crate::config::parse_memory(w[2]);
        let secs = w[3].parse::<u64>().ok();
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        if class == "pubsub" {
            pubsub = Some((hard, soft, secs));
        }
    }
    Ok(pubsub)
}

/// Merges `client-output-buffer-limit` values class by class (`replica` is `slave`), in
/// Redis's canonical form: `normal h s t slave h s t pubsub h s t`, sizes in bytes.
pub fn merge_output_limits(current: &str, new: &str) -> String {
    let mut classes: Vec<(&str, [u64; 3])> = vec![
        ("normal", [0, 0, 0]),
        ("slave", [268_435_456, 67_108_864, 60]),
        ("pubsub", [33_554_432, 8_388_608, 60]),
    ];
    for text in [current, new] {
        let words: Vec<&str> = text.split_whitespace().collect();
        for w in words.chunks(4) {
            if w.len() != 4 {
                continue;
            }
            let class = match w[0].to_ascii_lowercase().as_str() {
                "normal" => "normal",
                "slave" | "replica" => "slave",
                "pubsub" => "pubsub",
                _ => continue,
            };
            let (Some(h), Some(s), Ok(t)) = (
                crate::config::parse_memory(w[1]),
                crate::config::parse_memory(w[2]),
                w[3].parse::<u64>(),
            ) else {
                continue;
            };
            if let Some(c) = classes.iter_mut().find(|(n, _)| *n == class) {
                c.1 = [h, s, t];
            }
        }
    }
    classes
        .iter()
        .map(|(n, [h, s, t])| format!("{n} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" ")
}

//! Binlog record payloads: what one record says (`docs/binlog.md`, "Records"). The segment
//! layer stores payloads as opaque bytes; the server writes them, and replay, replicas and
//! `strata-sync` read them with this codec.

use bytes::Bytes;

/// Record kind: a list of commands applied atomically, each with its keyspace.
pub const KIND_COMMANDS: u8 = 1;
/// Record kind: records `first..=last` are void (their engine write failed).
pub const KIND_VOID: u8 = 2;

/// One logged command: keyspace and arguments.
pub type LoggedCommand = (u32, Vec<Bytes>);

/// A decoded record.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload {
    Commands { lane: u8, cmds: Vec<LoggedCommand> },
    Void { lane: u8, first: u64, last: u64 },
}

/// Encodes a record: `kind u8 = 1, lane u8, count u32`, then per command `keyspace u32,
/// argc u32`, then per argument `len u32, bytes` (big endian). The lane byte is stamped at
/// commit (see `storage::CommitLog::append`).
pub fn encode(cmds: &[LoggedCommand]) -> Vec<u8> {
    let size: usize = cmds
        .iter()
        .map(|(_, a)| 8 + a.iter().map(|x| 4 + x.len()).sum::<usize>())
        .sum();
    let mut out = Vec::with_capacity(6 + size);
    out.push(KIND_COMMANDS);
    out.push(0);
    out.extend_from_slice(&(cmds.len() as u32).to_be_bytes());
    for (ks, args) in cmds {
        out.extend_from_slice(&ks.to_be_bytes());
        out.extend_from_slice(&(args.len() as u32).to_be_bytes());
        for a in args {
            out.extend_from_slice(&(a.len() as u32).to_be_bytes());
            out.extend_from_slice(a);
        }
    }
    out
}

pub fn encode_void(lane: u8, first: u64, last: u64) -> Vec<u8> {
    let mut out = vec![KIND_VOID, lane];
    out.extend_from_slice(&first.to_be_bytes());
    out.extend_from_slice(&last.to_be_bytes());
    out
}

/// Decodes a record written by [`encode`] (or a void record).
pub fn decode(payload: &[u8]) -> Result<Payload, String> {
    let u32_at = |pos: &mut usize| -> Result<u32, String> {
        let b = payload
            .get(*pos..*pos + 4)
            .ok_or_else(|| format!("record truncated at byte {pos}"))?;
        *pos += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let lane = *payload.get(1).ok_or("record too short")?;
    let mut pos = 2usize;
    match payload.first() {
        Some(&KIND_COMMANDS) => {}
        Some(&KIND_VOID) if payload.len() == 18 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&payload[2..10]);
            let first = u64::from_be_bytes(a);
            a.copy_from_slice(&payload[10..18]);
            return Ok(Payload::Void {
                lane,
                first,
                last: u64::from_be_bytes(a),
            });
        }
        Some(k) => return Err(format!("unknown record kind {k} (or bad length)")),
        None => return Err("empty record".into()),
    }
    let count = u32_at(&mut pos)? as usize;
    let mut cmds = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let ks = u32_at(&mut pos)?;
        let argc = u32_at(&mut pos)? as usize;
        if argc == 0 {
            return Err("command without arguments".into());
        }
        let mut args = Vec::with_capacity(argc.min(1024));
        for _ in 0..argc {
            let len = u32_at(&mut pos)? as usize;
            let b = payload
                .get(pos..pos + len)
                .ok_or_else(|| format!("argument truncated at byte {pos}"))?;
            args.push(Bytes::copy_from_slice(b));
            pos += len;
        }
        cmds.push((ks, args));
    }
    if pos != payload.len() {
        return Err(format!("{} trailing bytes", payload.len() - pos));
    }
    Ok(Payload::Commands { lane, cmds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_void_records_round_trip() {
        let cmds: Vec<LoggedCommand> = vec![
            (
                0,
                vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("")],
            ),
            (
                1027,
                vec![Bytes::from("SWAPDB"), Bytes::from("0"), Bytes::from("1")],
            ),
        ];
        let mut rec = encode(&cmds);
        rec[1] = 7;
        assert_eq!(decode(&rec), Ok(Payload::Commands { lane: 7, cmds }));
        assert_eq!(
            decode(&encode_void(3, 10, 12)),
            Ok(Payload::Void {
                lane: 3,
                first: 10,
                last: 12
            })
        );
    }

    #[test]
    fn damaged_records_are_errors_never_panics() {
        let rec = encode(&[(0, vec![Bytes::from("DEL"), Bytes::from("key")])]);
        for cut in 0..rec.len() {
            assert!(decode(&rec[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = rec.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
        assert!(decode(&[9, 0]).is_err(), "unknown kind");
        let no_args = [1u8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(decode(&no_args).is_err(), "a command without arguments");
    }
}

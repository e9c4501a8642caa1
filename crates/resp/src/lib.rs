//! RESP2/RESP3 wire format, with no I/O and no knowledge of commands or storage.
//!
//! * [`RequestParser`] is a streaming, stateful decoder of client requests (multibulk and inline)
//!   that consumes bytes as soon as whole elements arrive, checks every length against
//!   [`Limits`] *before* allocating, and never re-scans bytes it already consumed.
//! * [`Frame`] is a reply value; [`Frame::encode`] writes it in RESP2 or RESP3.
//!
//! Invariant: a `ProtocolError` is final for the connection (Redis closes it after replying
//! `-ERR Protocol error: ...`); "not enough bytes yet" is `Ok(None)`, never an error.

mod frame;
mod parser;

pub use frame::format_double;
pub use frame::{Frame, Protocol};
pub use parser::{split_args as split_inline, Limits, ProtocolError, RequestParser};

//! What the simulated apps put in a message's payload and in a receipt:
//! enough for the checker and the latency figures to identify a message
//! without trusting the library.

use crate::message::{StreamId, Version};
use crate::sim::check::{ClientId, Origin};
use crate::sim::scenario::typing_stream;
use crate::time::Instant;
use alloc::format;
use alloc::vec::Vec;
use bytes::Bytes;

/// A tombstone: what an outbox entry becomes once the server reported it
/// skipped (its resend carries it on): the chain keeps its place, the
/// server stores nothing for it.
pub(super) const VOID: StreamId = StreamId(0);

/// A conversation message's payload: the conversation ([`VOID`] for a
/// tombstone), the author, when the author sent it (for latency), the
/// outbox version it resends (0 if none), and text.
pub(super) const HEADER: usize = 8 + 4 + 8 + 8;

/// A receipt: the version an upstream message was stored under in its
/// conversation — what the store keeps per receipt key. The author knows
/// the conversation: it is in the outbox entry it sent.
pub(super) fn encode_receipt(version: Version) -> Bytes {
    Bytes::copy_from_slice(&version.0.to_be_bytes())
}

pub(super) fn decode_receipt(b: &[u8]) -> Option<Version> {
    Some(Version(u64::from_be_bytes(b.try_into().ok()?)))
}

pub(super) fn encode_payload(
    conv: StreamId,
    author: u32,
    at: Instant,
    outbox: u64,
    original: u64,
) -> Bytes {
    let mut p = Vec::with_capacity(HEADER + 16);
    p.extend_from_slice(&conv.0.to_be_bytes());
    p.extend_from_slice(&author.to_be_bytes());
    p.extend_from_slice(&at.as_micros().to_be_bytes());
    p.extend_from_slice(&original.to_be_bytes());
    p.extend_from_slice(format!("msg {author}.{outbox}").as_bytes());
    Bytes::from(p)
}

pub(super) fn decode_payload(p: &[u8]) -> Option<(StreamId, u32, Instant, u64)> {
    let conv = u64::from_be_bytes(p.get(0..8)?.try_into().ok()?);
    let author = u32::from_be_bytes(p.get(8..12)?.try_into().ok()?);
    let at = u64::from_be_bytes(p.get(12..20)?.try_into().ok()?);
    let original = u64::from_be_bytes(p.get(20..28)?.try_into().ok()?);
    Some((StreamId(conv), author, Instant::from_micros(at), original))
}

/// A datagram's payload: its author and id (the checker's identity).
pub(super) fn encode_datagram(author: u32, id: u64) -> Bytes {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(&author.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    Bytes::from(p)
}

pub(super) fn decode_datagram(p: &[u8]) -> Option<Origin> {
    let author = u32::from_be_bytes(p.get(0..4)?.try_into().ok()?);
    let id = u64::from_be_bytes(p.get(4..12)?.try_into().ok()?);
    let client = ClientId(author);
    Some(Origin {
        client,
        stream: typing_stream(client),
        version: Version(id),
    })
}

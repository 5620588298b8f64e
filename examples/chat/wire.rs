//! What client and server agree on: time, framing, hello, payloads.

use ackwire::{packet_len, Config, StreamId, Version};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::io;
use std::time::Duration;
use tokio_util::codec::{Decoder, Encoder};

/// The client's outbox: its own stream, versions from its local counter.
/// Conversations are streams 1.. on the server-to-client direction; the
/// directions have separate stream spaces, so 0 is free for the outbox.
pub const OUTBOX: StreamId = StreamId(0);

/// Most conversations one hello may name.
pub const MAX_CONVERSATIONS: usize = 1024;

/// Both ends' configuration. Patient enough that loopback never escalates;
/// a dead peer is noticed in seconds (a closed socket at once).
pub fn config() -> Config {
    Config {
        max_retransmits: 30,
        max_rto: Duration::from_secs(2),
        peer_dead_after: Duration::from_secs(20),
        ..Config::default()
    }
}

/// `ackwire::Instant` is microseconds from an origin the caller picks: here
/// a fixed process start. Every loop iteration takes a fresh `now()`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: std::time::Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: std::time::Instant::now(),
        }
    }

    pub fn now(&self) -> ackwire::Instant {
        let micros = self.start.elapsed().as_micros();
        ackwire::Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The std instant of an ackwire deadline. Rounding is safe: `now()`
    /// truncates, so once this instant has passed, `now() >= deadline`.
    pub fn to_std(self, deadline: ackwire::Instant) -> std::time::Instant {
        self.start + Duration::from_micros(deadline.as_micros())
    }

    pub fn to_tokio(self, deadline: ackwire::Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.to_std(deadline))
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

/// One ackwire packet per item, on a byte stream (PROTOCOL.md §2):
/// `packet_len` says how long the next packet is once its 7-byte header is
/// in, and rejects a bad header as soon as its first wrong byte arrives.
/// The packet itself (checksum, frames) is checked by `handle_input`.
#[derive(Clone, Copy, Debug)]
pub struct PacketCodec {
    max_packet_size: usize,
}

impl PacketCodec {
    pub fn new(max_packet_size: usize) -> PacketCodec {
        PacketCodec { max_packet_size }
    }
}

impl Decoder for PacketCodec {
    type Item = Bytes;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Bytes>> {
        match packet_len(src, self.max_packet_size) {
            // The stream has no resynchronisation marker: a bad header ends
            // the connection.
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            Ok(None) => Ok(None),
            Ok(Some(total)) if src.len() < total => {
                src.reserve(total - src.len());
                Ok(None)
            }
            Ok(Some(total)) => Ok(Some(src.split_to(total).freeze())),
        }
    }
}

impl Encoder<Bytes> for PacketCodec {
    type Error = io::Error;

    fn encode(&mut self, packet: Bytes, dst: &mut BytesMut) -> io::Result<()> {
        dst.extend_from_slice(&packet);
        Ok(())
    }
}

/// The first bytes a client writes, before any packet: who it is and which
/// conversations it is in (the example trusts it; a real server checks a
/// token and looks membership up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub client: u64,
    pub conversations: Vec<u64>,
}

impl Hello {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(12 + 8 * self.conversations.len());
        b.put_u64(self.client);
        b.put_u32(self.conversations.len() as u32);
        for c in &self.conversations {
            b.put_u64(*c);
        }
        b
    }

    /// Reads a hello from an async stream.
    pub async fn read<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> io::Result<Hello> {
        use tokio::io::AsyncReadExt;
        let client = r.read_u64().await?;
        let n = r.read_u32().await? as usize;
        if n > MAX_CONVERSATIONS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "hello: too many conversations",
            ));
        }
        let mut conversations = Vec::with_capacity(n);
        for _ in 0..n {
            conversations.push(r.read_u64().await?);
        }
        Ok(Hello {
            client,
            conversations,
        })
    }
}

/// Client to server, on the outbox: the conversation, then the text.
pub fn outbox_payload(conversation: u64, text: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + text.len());
    b.put_u64(conversation);
    b.put_slice(text);
    b.freeze()
}

pub fn parse_outbox_payload(mut p: Bytes) -> Option<(u64, Bytes)> {
    (p.len() >= 8).then(|| (p.get_u64(), p))
}

/// As stored in a conversation and pushed to its members: who sent it and
/// under which outbox version (the identity of the send), then the text.
pub fn conversation_payload(sender: u64, outbox: Version, text: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(16 + text.len());
    b.put_u64(sender);
    b.put_u64(outbox.0);
    b.put_slice(text);
    b.freeze()
}

pub fn parse_conversation_payload(mut p: Bytes) -> Option<(u64, Version, Bytes)> {
    (p.len() >= 16).then(|| (p.get_u64(), Version(p.get_u64()), p))
}

/// The server's answer to an upstream send, carried as its receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Stored under this version of the conversation.
    Stored(Version),
    /// Stored earlier; the receipt expired from the store, so the version
    /// is unknown here (the conversation itself shows the message).
    StoredUnknown,
    /// Refused: the sender is not a member of the conversation.
    Refused,
}

impl Receipt {
    pub fn encode(self) -> Bytes {
        match self {
            Receipt::Stored(v) => Bytes::copy_from_slice(&v.0.to_be_bytes()),
            Receipt::StoredUnknown => Bytes::new(),
            Receipt::Refused => Bytes::from_static(&[0]),
        }
    }

    pub fn decode(b: &[u8]) -> Option<Receipt> {
        match b.len() {
            8 => Some(Receipt::Stored(Version(u64::from_be_bytes(
                b.try_into().ok()?,
            )))),
            0 => Some(Receipt::StoredUnknown),
            1 if b[0] == 0 => Some(Receipt::Refused),
            _ => None,
        }
    }
}

/// Lowercase hex, for the client's text file.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

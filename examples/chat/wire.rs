//! What client and server agree on: time, framing, hello, payloads.

use ackwire::{packet_len, Config, ConnectionId, StreamId, Version};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::io;
use std::pin::Pin;
use std::time::Duration;
use tokio_util::codec::{Decoder, Encoder};

/// The client's outbox: its own stream, versions from its local counter.
/// Conversations are streams 1.. on the server-to-client direction; the
/// directions have separate stream spaces, so 0 is free for the outbox.
pub const OUTBOX: StreamId = StreamId(0);

/// Every connection of this service uses one connection id: each runs on a
/// TCP or WebSocket connection of its own, which can not carry packets of an
/// earlier one. (Over datagrams, give each connection a fresh id — the
/// client picks it and names it in its hello — so a late packet of an
/// earlier connection is rejected: `InputError::OtherConnection`.)
pub const CONNECTION_ID: ConnectionId = ConnectionId(0);

/// Keep-alives: an at-most-once datagram on this stream, each way, when a
/// side has sent nothing for the keep-alive interval. Datagrams hold no
/// per-stream state in the receiver, so this costs nothing to track. (The
/// core's own PING goes out only while messages wait for their ack; an idle
/// connection needs the app to say something.)
pub const KEEPALIVE: StreamId = StreamId(u64::MAX);

/// Most conversations one hello may name.
pub const MAX_CONVERSATIONS: usize = 1024;

/// Versions, outbox versions and conversation ids stay below 2^53 (the
/// Redis store keeps them as doubles).
pub const MAX_ID: u64 = 1 << 53;

/// Both ends' shared settings. Patient enough that loopback never
/// escalates; a dead peer is noticed in seconds (a closed socket at once).
/// `max_in_flight` and `max_packet_size` must match on both ends.
pub fn config() -> Config {
    Config {
        max_retransmits: 30,
        max_rto: Duration::from_secs(2),
        peer_dead_after: Duration::from_secs(20),
        max_packet_size: MAX_PACKET,
        ..Config::default()
    }
}

/// Largest packet either side writes or accepts: a chat message of up to
/// `MAX_PACKET - 85 - 8` bytes of text fits.
pub const MAX_PACKET: usize = 8 * 1024;

/// The server's configuration: the client config, with the receiving half
/// bounded to what a client may legitimately send it (one stream, its
/// outbox). A client that names thousands of streams or floods messages
/// gets them dropped unacknowledged instead of growing the server.
pub fn server_config() -> Config {
    Config {
        max_streams: 2,
        max_held_messages: 256,
        max_reorder_per_stream: 64,
        max_receipts: 256,
        max_queued: 1024,
        ..config()
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
/// `packet_len` says how long the next packet is once its 15-byte header (the length is known after 7) is
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

/// The first bytes a client writes, before any packet (on WebSocket: the
/// first binary message). Big-endian:
///
/// ```text
/// "ACKW" | 1 (u8, hello version) | client (u64) | token (32 bytes)
///        | acked outbox (u64) | count (u16)
///        | count x [conversation (u64), head (u64)]
/// ```
///
/// The token is HMAC-SHA256 of the client id under the server's secret
/// (see `auth`); `head` is the newest version of the conversation the
/// client holds, which the server takes as evidence of how far the
/// conversation's versions went (see `server`). `acked outbox` is the
/// highest outbox version up to which every send of the client has its
/// receipt: stored before, even if the store has since lost it, so never
/// stored again. The server answers with a
/// [`HelloReply`]; packets may follow the hello at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub client: u64,
    pub token: [u8; 32],
    /// Every send up to this outbox version was acked (stored).
    pub acked_outbox: Version,
    /// (conversation, newest version the client holds).
    pub conversations: Vec<(u64, Version)>,
}

pub const HELLO_MAGIC: [u8; 4] = *b"ACKW";
pub const HELLO_VERSION: u8 = 1;
/// Bytes before the conversations.
pub const HELLO_FIXED: usize = 4 + 1 + 8 + 32 + 8 + 2;

impl Hello {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HELLO_FIXED + 16 * self.conversations.len());
        b.put_slice(&HELLO_MAGIC);
        b.put_u8(HELLO_VERSION);
        b.put_u64(self.client);
        b.put_slice(&self.token);
        b.put_u64(self.acked_outbox.0);
        b.put_u16(self.conversations.len() as u16);
        for (c, head) in &self.conversations {
            b.put_u64(*c);
            b.put_u64(head.0);
        }
        b
    }

    /// Checks the fixed part; returns how many conversation bytes follow.
    fn check_fixed(b: &[u8]) -> io::Result<usize> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("hello: {what}"));
        if b[..4] != HELLO_MAGIC || b[4] != HELLO_VERSION {
            return Err(bad("not an ackwire chat hello"));
        }
        let n = u16::from_be_bytes([b[HELLO_FIXED - 2], b[HELLO_FIXED - 1]]) as usize;
        if n == 0 || n > MAX_CONVERSATIONS {
            return Err(bad("conversation count out of range"));
        }
        Ok(16 * n)
    }

    /// Parses a complete hello (a WebSocket message); trailing bytes are an
    /// error.
    pub fn decode(b: &[u8]) -> io::Result<Hello> {
        if b.len() < HELLO_FIXED {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "hello: short"));
        }
        let rest = Hello::check_fixed(b)?;
        if b.len() != HELLO_FIXED + rest {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "hello: bad length",
            ));
        }
        Hello::parse(b)
    }

    fn parse(mut b: &[u8]) -> io::Result<Hello> {
        b.advance(5);
        let client = b.get_u64();
        let mut token = [0u8; 32];
        b.copy_to_slice(&mut token);
        let acked_outbox = Version(b.get_u64());
        if acked_outbox.0 >= MAX_ID {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "hello: outbox out of range",
            ));
        }
        let n = b.get_u16() as usize;
        let mut conversations = Vec::with_capacity(n);
        for _ in 0..n {
            let (c, head) = (b.get_u64(), b.get_u64());
            if c == 0 || c >= MAX_ID || head >= MAX_ID {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "hello: conversation or head out of range",
                ));
            }
            conversations.push((c, Version(head)));
        }
        conversations.sort_unstable();
        conversations.dedup_by_key(|(c, _)| *c);
        Ok(Hello {
            client,
            token,
            acked_outbox,
            conversations,
        })
    }

    /// Reads a hello from a byte stream: at most
    /// `HELLO_FIXED + 16 * MAX_CONVERSATIONS` bytes, checked as they come.
    pub async fn read<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> io::Result<Hello> {
        use tokio::io::AsyncReadExt;
        let mut b = vec![0u8; HELLO_FIXED];
        r.read_exact(&mut b).await?;
        let rest = Hello::check_fixed(&b)?;
        b.resize(HELLO_FIXED + rest, 0);
        r.read_exact(&mut b[HELLO_FIXED..]).await?;
        Hello::parse(&b)
    }

    pub fn member(&self, conversation: u64) -> bool {
        self.conversations
            .binary_search_by_key(&conversation, |(c, _)| *c)
            .is_ok()
    }
}

/// The server's answer to a hello: a status, and (when accepted) the
/// keep-alive interval the server expects. Five bytes, big-endian:
/// `status (u8) | keep-alive in ms (u32)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloReply {
    pub status: Status,
    pub keepalive: Duration,
}

pub const HELLO_REPLY_LEN: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Accepted: packets follow.
    Ok = 0,
    /// The server is at its connection cap: try another or later.
    Busy = 1,
    /// The token does not match the client id.
    BadToken = 2,
    /// Not a hello this server understands.
    BadHello = 3,
    /// The server is shutting down: try another.
    ShuttingDown = 4,
}

impl HelloReply {
    pub fn refuse(status: Status) -> HelloReply {
        HelloReply {
            status,
            keepalive: Duration::ZERO,
        }
    }

    pub fn encode(self) -> [u8; HELLO_REPLY_LEN] {
        let ms = u32::try_from(self.keepalive.as_millis()).unwrap_or(u32::MAX);
        let mut b = [0u8; HELLO_REPLY_LEN];
        b[0] = self.status as u8;
        b[1..].copy_from_slice(&ms.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<HelloReply> {
        let status = match *b.first()? {
            0 => Status::Ok,
            1 => Status::Busy,
            2 => Status::BadToken,
            3 => Status::BadHello,
            4 => Status::ShuttingDown,
            _ => return None,
        };
        let ms = u32::from_be_bytes(b.get(1..HELLO_REPLY_LEN)?.try_into().ok()?);
        Some(HelloReply {
            status,
            keepalive: Duration::from_millis(u64::from(ms)),
        })
    }
}

/// The keep-alive datagram (see [`KEEPALIVE`]).
pub fn keepalive() -> ackwire::Message {
    ackwire::Message::new(KEEPALIVE, Version::ZERO, Version::ZERO, Bytes::new())
        .with_qos(ackwire::Qos::AtMostOnce)
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

pub fn ws_binary(b: Bytes) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::Binary(b)
}

pub type PacketStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;
pub type PacketSink = Pin<Box<dyn Sink<Bytes, Error = io::Error> + Send>>;

/// The WebSocket limits: one packet per message, nothing bigger.
pub fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    let max = MAX_PACKET.max(HELLO_FIXED + 16 * MAX_CONVERSATIONS);
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// A WebSocket as a packet stream and sink: binary messages are packets,
/// pings are answered by tungstenite, text is a protocol error.
pub fn ws_packets<T>(ws: tokio_tungstenite::WebSocketStream<T>) -> (PacketStream, PacketSink)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio_tungstenite::tungstenite::Message as M;
    let (sink, stream) = ws.split();
    let stream = stream.filter_map(|m| async move {
        match m {
            Ok(M::Binary(b)) => Some(Ok(b)),
            Ok(M::Ping(_) | M::Pong(_) | M::Frame(_)) => None,
            Ok(M::Close(_)) => Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"))),
            Ok(M::Text(_)) => Some(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "text message: packets are binary",
            ))),
            Err(e) => Some(Err(io::Error::other(e))),
        }
    });
    let sink = sink
        .sink_map_err(io::Error::other)
        .with(|b: Bytes| async move { Ok::<_, io::Error>(M::Binary(b)) });
    (Box::pin(stream), Box::pin(sink))
}

/// A packet writer whose buffer starts empty and grows to what is written
/// (tokio-util's default starts at 8 KiB: most of an idle connection's
/// memory); it still flushes past 8 KiB.
pub fn small_writer<W: tokio::io::AsyncWrite>(
    w: W,
) -> tokio_util::codec::FramedWrite<W, PacketCodec> {
    let mut writer =
        tokio_util::codec::FramedWrite::with_capacity(w, PacketCodec::new(MAX_PACKET), 0);
    writer.set_backpressure_boundary(8 * 1024);
    writer
}

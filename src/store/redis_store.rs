//! The store on Redis, shared by several server processes.

extern crate std;

use super::{Appended, Page, ReceiptKey, Store};
use crate::message::{Message, StreamId, Version};
use crate::sync::SyncRange;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

/// Why a [`RedisStore`] operation failed. Nothing may be assumed written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// Redis refused, the connection dropped, or a timeout passed. The
    /// connection is re-established in the background; retry later.
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// A record does not have the layout this store writes.
    #[error("corrupt record under {key}: {what}")]
    Corrupt {
        /// The Redis key.
        key: String,
        /// What is wrong with it.
        what: &'static str,
    },
}

/// A [`Store`] on Redis: several server processes share it, and a client
/// may reconnect to any of them.
///
/// ## Layout (all keys under a prefix)
/// - `{p}:m:{stream}` — sorted set, score = version, member =
///   `"{version}:{prev}:" + payload` (the version in the member keeps equal
///   payloads apart). Reads are `ZRANGEBYSCORE` / `ZREVRANGEBYSCORE` with a
///   limit. Nothing is trimmed: escalated and undelivered messages stay for
///   the next sync.
/// - `{p}:seq:{stream}` — the version counter.
/// - `{p}:r:{client}:{outbox}` — a receipt: the version a send was stored
///   under, with a TTL ([`with_receipt_ttl`](Self::with_receipt_ttl), 7
///   days by default). `{p}:o:{client}` — the client's outbox head (no TTL:
///   it is where the server resumes the client's outbox).
/// - `{p}:b:{stream}` — a persisted allocator bound; also a *floor*: no
///   append gets a version at or below it (see below).
/// - `{p}:appended` — not a key but a pub/sub channel: every new message is
///   published on it, from inside the append script, as
///   `"{stream}:{version}:{prev}:" + payload`
///   ([`parse_notification`](Self::parse_notification)), so each server
///   process needs one subscription
///   ([`subscribe_appends`](Self::subscribe_appends)) to learn every other
///   server's appends, in append order per stream. Pub/sub is at most
///   once: a subscriber that reconnects must read what it missed.
///
/// ## Versions: `INCR`, not the segment allocator
/// [`append`](Store::append) runs one Lua script: check the receipt, `INCR`
/// the counter, read the previous head, `ZADD`, set the receipt and the
/// outbox head. Redis runs scripts one at a time, so two servers appending
/// to one stream (or storing the same resend) never interleave: versions
/// rise in append order and every `prev` is the true previous head. The
/// segment [`VersionAllocator`](crate::VersionAllocator) would save a
/// round trip only where versions come from a store other than the
/// message's own — here the `INCR` rides in the same script as the write,
/// so it costs nothing. And a segment held in one server's memory is only
/// safe if exactly one server appends to a stream (streams sharded by
/// owner): two servers with their own segments would append versions out
/// of order, and a client whose head is past a late, lower version would
/// never get it.
///
/// ## Durability
/// A write is reported `Ok` once Redis answered the script, so a server
/// acks only what Redis holds, and a dropped connection (re-established in
/// the background) loses nothing acknowledged. Whether a *Redis restart*
/// keeps it is Redis's configuration: run it with `appendonly yes` and
/// `appendfsync always` for that (the tests run it without persistence
/// and do not restart it).
///
/// ## Floors: versions never go backwards
/// A Redis restarted without its data would hand out versions again from 1,
/// at or below versions clients already hold, and those clients would skip
/// the new messages as old ones. [`append_above`](Self::append_above) takes
/// the caller's evidence of the highest version that ever existed in the
/// stream (what it pushed, what its clients hold) and never assigns one at
/// or below it nor below the stream's persisted bound
/// ([`persist_bound`](Store::persist_bound)); it reports when the stream's
/// newest stored message is below that floor — the store lost data.
///
/// Versions and outbox versions must stay below
/// 2^53 (sorted-set scores and Lua numbers are doubles); `INCR` counters
/// never get near that.
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    con: ConnectionManager,
    prefix: Arc<str>,
    receipt_ttl: Duration,
    append: Arc<Script>,
    raise: Arc<Script>,
}

const APPEND: &str = r"
-- KEYS: messages, counter, receipt, outbox head, bound
-- ARGV: payload, has receipt (1/0), outbox version, receipt TTL (s),
--       floor, notification channel, stream
if ARGV[2] == '1' then
  local r = redis.call('GET', KEYS[3])
  if r then return {0, tonumber(r), 0, 0} end
end
local floor = math.max(tonumber(ARGV[5]), tonumber(redis.call('GET', KEYS[5]) or '0'))
local prev = 0
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then prev = tonumber(last[2]) end
local v = redis.call('INCR', KEYS[2])
local below = math.max(prev, floor)
if v <= below then
  v = below + 1
  redis.call('SET', KEYS[2], string.format('%d', v))
end
local member = string.format('%d:%d:', v, prev) .. ARGV[1]
redis.call('ZADD', KEYS[1], v, member)
if ARGV[2] == '1' then
  redis.call('SET', KEYS[3], string.format('%d', v), 'EX', ARGV[4])
  local head = tonumber(redis.call('GET', KEYS[4]) or '0')
  if tonumber(ARGV[3]) > head then redis.call('SET', KEYS[4], ARGV[3]) end
end
redis.call('PUBLISH', ARGV[6], ARGV[7] .. ':' .. member)
local regressed = 0
if prev < floor then regressed = 1 end
return {1, v, prev, regressed}
";

const RAISE: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
";

impl RedisStore {
    /// Connects to `url` (`redis://127.0.0.1:6379/`), keeping every key
    /// under `prefix` (one prefix per deployment; tests use a fresh one).
    /// Commands time out after 2 s; a dropped connection is re-established
    /// in the background while the failed command returns an error.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, RedisStoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_millis(500));
        let con = client.get_connection_manager_with_config(config).await?;
        Ok(RedisStore {
            client,
            con,
            prefix: Arc::from(prefix),
            receipt_ttl: Duration::from_secs(7 * 24 * 3600),
            append: Arc::new(Script::new(APPEND)),
            raise: Arc::new(Script::new(RAISE)),
        })
    }

    /// The same store, keeping receipts for `ttl` (at least one second).
    /// A resend after its receipt expired is still never stored twice (the
    /// server's outbox head rejects it), but its receipt is unknown.
    pub fn with_receipt_ttl(mut self, ttl: Duration) -> RedisStore {
        self.receipt_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// The pub/sub channel every append is published on.
    pub fn notify_channel(&self) -> String {
        format!("{}:appended", self.prefix)
    }

    /// A dedicated pub/sub connection to the store's Redis, subscribed to
    /// [`notify_channel`](Self::notify_channel). Read it with
    /// `into_on_message()`; parse each payload with
    /// [`parse_notification`](Self::parse_notification). It ends when the
    /// connection drops (subscribe again, and read what was missed).
    pub async fn subscribe_appends(&self) -> Result<redis::aio::PubSub, RedisStoreError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.notify_channel()).await?;
        Ok(pubsub)
    }

    /// The message a notification announces.
    pub fn parse_notification(&self, payload: &[u8]) -> Result<Message, RedisStoreError> {
        let (stream, member) = payload
            .iter()
            .position(|&b| b == b':')
            .and_then(|colon| {
                let stream = core::str::from_utf8(&payload[..colon]).ok()?.parse().ok()?;
                Some((StreamId(stream), &payload[colon + 1..]))
            })
            .ok_or_else(|| RedisStoreError::Corrupt {
                key: self.notify_channel(),
                what: "bad notification",
            })?;
        self.parse(stream, member)
    }

    /// [`Store::append`] that never assigns a version at or below `floor`
    /// (nor below the stream's persisted bound). `floor` is the caller's
    /// evidence of the highest version the stream ever had. The `bool` is
    /// `true` when the stream's newest stored message was below the floor:
    /// the store lost data (a Redis restarted empty, say), and this append
    /// jumped over the lost versions.
    pub async fn append_above(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
        floor: Version,
    ) -> Result<(Appended, bool), RedisStoreError> {
        let (receipt_key, head_key, outbox) = match receipt {
            Some(k) => (
                format!("{}:r:{}:{}", self.prefix, k.client, k.outbox.0),
                self.key("o", k.client),
                k.outbox.0,
            ),
            None => (self.key("r", 0), self.key("o", 0), 0),
        };
        let reply: Vec<u64> = self
            .append
            .key(self.key("m", stream.0))
            .key(self.key("seq", stream.0))
            .key(receipt_key)
            .key(head_key)
            .key(self.key("b", stream.0))
            .arg(payload.as_ref())
            .arg(if receipt.is_some() { "1" } else { "0" })
            .arg(outbox)
            .arg(self.receipt_ttl.as_secs())
            .arg(floor.0)
            .arg(self.notify_channel())
            .arg(stream.0)
            .invoke_async(&mut self.con())
            .await?;
        match reply[..] {
            [0, v, _, _] => Ok((Appended::Duplicate(Version(v)), false)),
            [1, v, prev, regressed] => Ok((
                Appended::New(Message::new(stream, Version(prev), Version(v), payload)),
                regressed == 1,
            )),
            _ => Err(RedisStoreError::Corrupt {
                key: self.key("m", stream.0),
                what: "unexpected append reply",
            }),
        }
    }

    /// A connection for one command (a cheap clone of the shared one).
    fn con(&self) -> ConnectionManager {
        self.con.clone()
    }

    fn key(&self, kind: &str, id: u64) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    fn parse(&self, stream: StreamId, member: &[u8]) -> Result<Message, RedisStoreError> {
        let corrupt = |what| RedisStoreError::Corrupt {
            key: self.key("m", stream.0),
            what,
        };
        let mut parts = member.splitn(3, |&b| b == b':');
        let mut number = |what| {
            parts
                .next()
                .and_then(|p| core::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(|| corrupt(what))
        };
        let version = number("bad version")?;
        let prev = number("bad prev")?;
        let payload = parts.next().ok_or_else(|| corrupt("no payload"))?;
        if prev >= version {
            return Err(corrupt("prev not below version"));
        }
        Ok(Message::new(
            stream,
            Version(prev),
            Version(version),
            Bytes::copy_from_slice(payload),
        ))
    }

    fn parse_all(
        &self,
        stream: StreamId,
        members: Vec<Vec<u8>>,
    ) -> Result<Vec<Message>, RedisStoreError> {
        members.iter().map(|m| self.parse(stream, m)).collect()
    }

    async fn get_u64(&self, key: String) -> Result<Option<u64>, RedisStoreError> {
        let v: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut self.con())
            .await?;
        v.map(|v| {
            v.parse().map_err(|_| RedisStoreError::Corrupt {
                key,
                what: "not a number",
            })
        })
        .transpose()
    }
}

impl Store for RedisStore {
    type Error = RedisStoreError;

    async fn append(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
    ) -> Result<Appended, RedisStoreError> {
        Ok(self
            .append_above(stream, payload, receipt, Version::ZERO)
            .await?
            .0)
    }

    async fn read(
        &self,
        stream: StreamId,
        range: SyncRange,
        limit: u32,
    ) -> Result<Page, RedisStoreError> {
        let key = self.key("m", stream.0);
        // One more than asked for tells whether more lie beyond the page.
        let want = u64::from(limit) + 1;
        let mut con = self.con();
        let members: Vec<Vec<u8>> = match range {
            SyncRange::After(after) => {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&key)
                    .arg(format!("({}", after.0))
                    .arg("+inf")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(want)
                    .query_async(&mut con)
                    .await?
            }
            SyncRange::Before(before) => {
                redis::cmd("ZREVRANGEBYSCORE")
                    .arg(&key)
                    .arg(format!("({}", before.0))
                    .arg("-inf")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(want)
                    .query_async(&mut con)
                    .await?
            }
            SyncRange::Latest => {
                redis::cmd("ZREVRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(want - 1)
                    .query_async(&mut con)
                    .await?
            }
        };
        let mut messages = self.parse_all(stream, members)?;
        let more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        if !matches!(range, SyncRange::After(_)) {
            messages.reverse();
        }
        Ok(Page { messages, more })
    }

    async fn head(&self, stream: StreamId) -> Result<Version, RedisStoreError> {
        let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(self.key("m", stream.0))
            .arg(-1)
            .arg(-1)
            .query_async(&mut self.con())
            .await?;
        Ok(match members.first() {
            Some(m) => self.parse(stream, m)?.version,
            None => Version::ZERO,
        })
    }

    async fn receipt(&self, key: ReceiptKey) -> Result<Option<Version>, RedisStoreError> {
        let k = format!("{}:r:{}:{}", self.prefix, key.client, key.outbox.0);
        Ok(self.get_u64(k).await?.map(Version))
    }

    async fn outbox_head(&self, client: u64) -> Result<Version, RedisStoreError> {
        Ok(Version(
            self.get_u64(self.key("o", client)).await?.unwrap_or(0),
        ))
    }

    async fn load_bound(&self, stream: StreamId) -> Result<Version, RedisStoreError> {
        Ok(Version(
            self.get_u64(self.key("b", stream.0)).await?.unwrap_or(0),
        ))
    }

    async fn persist_bound(&self, stream: StreamId, bound: Version) -> Result<(), RedisStoreError> {
        let _: i64 = self
            .raise
            .key(self.key("b", stream.0))
            .arg(bound.0)
            .invoke_async(&mut self.con())
            .await?;
        Ok(())
    }
}

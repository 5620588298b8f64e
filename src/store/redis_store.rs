//! The store on Redis — one instance or a Redis Cluster — shared by several
//! server processes.

extern crate std;

use super::{Appended, Page, ReceiptKey, Retention, Store};
use crate::message::{Message, StreamId, Version};
use crate::sync::SyncRange;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::Bytes;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Script, Value};

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
    /// [`Durability::replicas`] replicas did not confirm the write within
    /// the timeout. The write may or may not survive a failover of its
    /// master: report it unstored (do not ack); the sender's retry is
    /// recognised by its receipt key and waits for the replicas again.
    #[error("write under {key} reached {got} of {wanted} replicas in time")]
    NotReplicated {
        /// The stream's message key.
        key: String,
        /// Replicas wanted.
        wanted: u32,
        /// Replicas that confirmed.
        got: u32,
    },
    /// A setting is out of its range.
    #[error("bad store setting: {0}")]
    Config(&'static str),
}

/// When a write counts as stored: what Redis must have done before
/// [`RedisStore`] reports it `Ok` (and the server acks it).
///
/// Redis replicates asynchronously: a master answers a write before its
/// replicas have it, so a master killed right after answering fails over
/// to a replica without the write. With `replicas > 0` every append is
/// followed by `WAIT replicas timeout` on the stream's master and is
/// reported stored only if that many replicas confirmed it.
///
/// What each setting can lose when a master dies (kill -9, power) and a
/// replica takes over, or when a lone instance restarts:
///
/// | setting | what an acked write can be lost to |
/// |---|---|
/// | `replicas: 0` (no `WAIT`), no AOF | a failover: the writes the replica had not received yet (usually the last milliseconds, unbounded under load or a slow link); a restart of a lone instance: everything |
/// | `replicas: 1` (`WAIT 1`) | nothing to a failover of one master, as long as the replica that confirmed it is the one promoted (with one replica per master it is the only candidate); losing the master *and* that replica together loses it; `WAIT` is not a transaction: a write that timed out may still be on the replica |
/// | AOF `appendfsync everysec` | a restart from disk: up to about one second of writes |
/// | AOF `appendfsync always` | a restart from disk: nothing acked (fsync before the answer) |
///
/// The two are independent: `WAIT` covers losing a machine, AOF covers
/// restarting one. Versions never go backwards whatever is lost: every
/// append is above the caller's floor (the highest version its clients
/// and its own pushes have seen, [`RedisStore::append_above`]) and above
/// the persisted bound, so a replica that lacks the newest writes hands
/// out versions above them rather than reusing them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durability {
    /// Replicas that must confirm each write (`WAIT` N); 0 waits for none.
    pub replicas: u32,
    /// How long to wait for them (at least 1 ms: `WAIT` with 0 waits
    /// forever, which would stall the server on a dead replica).
    pub timeout: Duration,
}

impl Default for Durability {
    fn default() -> Durability {
        Durability {
            replicas: 0,
            timeout: Duration::from_millis(500),
        }
    }
}

/// One connection to one instance, or to a cluster (routing each command
/// by its first key's slot). Both are multiplexed and cheap to clone.
#[derive(Clone)]
enum Con {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Con {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Con::Single(c) => c.req_packed_command(cmd),
            Con::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Con::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Con::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Con::Single(c) => c.get_db(),
            Con::Cluster(c) => c.get_db(),
        }
    }
}

/// A [`Store`] on Redis — one instance or a Redis Cluster — shared by
/// several server processes; a client may reconnect to any of them.
///
/// ## Layout: one hash tag per stream, one per client
/// Redis Cluster places a key by the part of its name between the first
/// `{` and `}` (its hash tag), and a script may only touch keys of one
/// slot. An append must check the receipt, allocate the version, write the
/// message and trim the stream *atomically*, so everything it touches
/// carries the stream's tag `{sS}`; what is looked up by client alone
/// carries the client's tag `{cC}` (`P` is the prefix):
///
/// - `P:{sS}:m` — sorted set, score = version, member =
///   `"{version}:{prev}:{stored ms}:" + payload` (the version keeps equal
///   payloads apart; the time is what age retention reads).
/// - `P:{sS}:seq` — the version counter; `P:{sS}:b` — the persisted
///   allocator bound, also a *floor* (below); `P:{sS}:t` — the highest
///   version trimmed by [`Retention`] (absent: nothing trimmed).
/// - `P:{sS}:r:C:O` — the receipt of client `C`'s outbox message `O`: the
///   version it was stored under, with a TTL. It lives under the *stream's*
///   tag because it is what makes a resend a duplicate, inside the append
///   script: a send names its conversation, so every copy of it reaches the
///   same stream, and the check and the write are one atomic step.
/// - `P:{cC}:r:O` — the same receipt indexed by client
///   (`"{stream}:{version}"`, same TTL), for [`Store::receipt`], which
///   knows no stream; `P:{cC}:o` — the client's outbox head (no TTL).
///   Both are written by a second script after the append (another slot:
///   not atomic with it), *also when the append was a duplicate*, and
///   before the server acks. So a crash between the two writes leaves no
///   ack behind; the client resends, the resend is a duplicate, and the
///   client's keys are written then. A lost outbox head can only be low,
///   and the server resumes a client's outbox at the higher of it and the
///   client's own evidence (what it saw acked), so nothing is stored twice.
///
/// Streams land on the masters by their tags' CRC16, as keys do; a
/// single instance holds the same keys (tags are harmless there).
/// (Before the cluster layout, keys were `P:m:S`, `P:seq:S`…: a store
/// written by an older version is not read by this one.)
///
/// `P:appended` is not a key but the pub/sub channel every new message is
/// published on, from inside the append script, as
/// `"{stream}:" + member` ([`parse_notification`](Self::parse_notification)),
/// so each server process needs one subscription
/// ([`subscribe_appends`](Self::subscribe_appends)). On a cluster a
/// `PUBLISH` reaches the subscribers of every node (the cluster bus
/// forwards it), so a subscription to any node hears every master's
/// appends, and one to a replica survives its master's failover. The price
/// is that every append crosses the bus to every node: fine for a few
/// masters; a deployment of many would move to a channel per stream group
/// with sharded pub/sub. Pub/sub is at most once: a subscriber that
/// reconnects must read what it missed.
///
/// ## Versions: `INCR`, not the segment allocator
/// [`append`](Store::append) runs one Lua script: check the receipt, `INCR`
/// the counter, read the previous head, `ZADD`, set the receipt, trim.
/// Redis runs scripts one at a time, so two servers appending to one
/// stream (or storing the same resend) never interleave: versions rise in
/// append order and every `prev` is the true previous head. The segment
/// [`VersionAllocator`](crate::VersionAllocator) would save a round trip
/// only where versions come from a store other than the message's own, and
/// a segment held in one server's memory is only safe if exactly one server
/// appends to a stream.
///
/// ## Durability
/// A write is reported `Ok` once Redis answered the script — and, with
/// [`with_durability`](Self::with_durability), once `WAIT` saw enough
/// replicas confirm it — so a server acks only what Redis holds (see
/// [`Durability`] for what each setting can lose).
///
/// ## Floors: versions never go backwards
/// A Redis restarted without its data, or a replica promoted without the
/// newest writes, would hand out versions again at or below versions
/// clients already hold, and those clients would skip the new messages as
/// old ones. [`append_above`](Self::append_above) takes the caller's
/// evidence of the highest version that ever existed in the stream (what it
/// pushed, what its clients hold) and never assigns one at or below it nor
/// below the stream's persisted bound
/// ([`persist_bound`](Store::persist_bound)); it reports when the stream's
/// newest stored message is below that floor — the store lost data.
///
/// ## Retention
/// [`with_retention`](Self::with_retention): each append trims its stream
/// to the configured count and age (at most 128 expired messages per
/// append, so a script never runs long) and records how far it trimmed;
/// reads report it in [`Page::trimmed`], and [`Store::head`] of a stream
/// trimmed empty is still its last version.
///
/// Versions and outbox versions must stay below 2^53 (sorted-set scores
/// and Lua numbers are doubles); `INCR` counters never get near that.
#[derive(Clone)]
pub struct RedisStore {
    /// Where pub/sub subscriptions go: one URL, or a cluster's seed nodes
    /// (tried in turn, so a dead node is passed over).
    urls: Arc<[String]>,
    next_url: Arc<AtomicUsize>,
    con: Con,
    prefix: Arc<str>,
    receipt_ttl: Duration,
    durability: Durability,
    retention: Retention,
    scripts: Arc<Scripts>,
}

struct Scripts {
    append: Script,
    client: Script,
    read: Script,
    head: Script,
    raise: Script,
}

const APPEND: &str = r"
-- KEYS: messages, counter, receipt, bound, trimmed (one stream's tag)
-- ARGV: payload, has receipt (1/0), receipt TTL (s), floor, channel,
--       stream, max messages (0: no limit), max age ms (0: no limit),
--       most expired messages trimmed at once
if ARGV[2] == '1' then
  local r = redis.call('GET', KEYS[3])
  if r then return {0, tonumber(r), 0, 0} end
end
local floor = math.max(tonumber(ARGV[4]), tonumber(redis.call('GET', KEYS[4]) or '0'))
local trimmed = tonumber(redis.call('GET', KEYS[5]) or '0')
local prev = trimmed
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then prev = math.max(prev, tonumber(last[2])) end
local v = redis.call('INCR', KEYS[2])
local below = math.max(prev, floor)
if v <= below then
  v = below + 1
  redis.call('SET', KEYS[2], string.format('%d', v))
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = string.format('%d:%d:%d:', v, prev, ms) .. ARGV[1]
redis.call('ZADD', KEYS[1], v, member)
if ARGV[2] == '1' then
  redis.call('SET', KEYS[3], string.format('%d', v), 'EX', ARGV[3])
end
local cut = 0
local maxn = tonumber(ARGV[7])
if maxn > 0 then
  local n = redis.call('ZCARD', KEYS[1])
  if n > maxn then
    local old = redis.call('ZRANGE', KEYS[1], n - maxn - 1, n - maxn - 1, 'WITHSCORES')
    cut = tonumber(old[2])
  end
end
local maxage = tonumber(ARGV[8])
if maxage > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[9]) - 1, 'WITHSCORES')
  for i = 1, #old, 2 do
    local _, _, at = string.find(old[i], '^%d+:%d+:(%d+):')
    local ver = tonumber(old[i + 1])
    if ver ~= v and tonumber(at) < ms - maxage then
      cut = math.max(cut, ver)
    else
      break
    end
  end
end
if cut > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cut)
  if cut > trimmed then redis.call('SET', KEYS[5], string.format('%d', cut)) end
end
redis.call('PUBLISH', ARGV[5], ARGV[6] .. ':' .. member)
local regressed = 0
if prev < floor then regressed = 1 end
return {1, v, prev, regressed}
";

const CLIENT: &str = r"
-- KEYS: receipt by client, outbox head (one client's tag)
-- ARGV: '{stream}:{version}', receipt TTL (s), outbox version
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[3]) > head then redis.call('SET', KEYS[2], ARGV[3]) end
return 1
";

const READ: &str = r"
-- KEYS: messages, trimmed; ARGV: mode (0 after, 1 latest, 2 before),
-- anchor, count. Returns the trimmed version, then the members.
local t = redis.call('GET', KEYS[2]) or '0'
local r
if ARGV[1] == '0' then
  r = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf', 'LIMIT', 0, ARGV[3])
elseif ARGV[1] == '2' then
  r = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '-inf', 'LIMIT', 0, ARGV[3])
else
  r = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
end
table.insert(r, 1, t)
return r
";

const HEAD: &str = r"
-- KEYS: messages, trimmed. Returns the trimmed version, then the newest
-- member if any.
local r = redis.call('ZRANGE', KEYS[1], -1, -1)
table.insert(r, 1, redis.call('GET', KEYS[2]) or '0')
return r
";

const RAISE: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
";

/// Expired messages one append trims at most (a script blocks its node).
const AGE_TRIM_BATCH: usize = 128;

impl RedisStore {
    /// Connects to one instance at `url` (`redis://127.0.0.1:6379/`),
    /// keeping every key under `prefix` (one prefix per deployment; tests
    /// use a fresh one). Commands time out after 2 s; a dropped connection
    /// is re-established in the background while the failed command
    /// returns an error.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, RedisStoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_millis(500));
        let con = client.get_connection_manager_with_config(config).await?;
        Ok(RedisStore::new(
            Arc::from([url.to_string()]),
            Con::Single(con),
            prefix,
        ))
    }

    /// Connects to a Redis Cluster through any of `nodes` (its seed nodes,
    /// `redis://127.0.0.1:7000/`…; the rest of the topology is learned from
    /// them and followed through failovers and resharding). The same
    /// keys, behaviour and timeouts as [`connect`](Self::connect).
    pub async fn connect_cluster(
        nodes: &[&str],
        prefix: &str,
    ) -> Result<RedisStore, RedisStoreError> {
        if nodes.is_empty() {
            return Err(RedisStoreError::Config("a cluster needs a seed node"));
        }
        let client = redis::cluster::ClusterClient::builder(nodes.iter().copied())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .retries(3)
            .build()?;
        let con = client.get_async_connection().await?;
        let urls: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        Ok(RedisStore::new(Arc::from(urls), Con::Cluster(con), prefix))
    }

    fn new(urls: Arc<[String]>, con: Con, prefix: &str) -> RedisStore {
        RedisStore {
            urls,
            next_url: Arc::new(AtomicUsize::new(0)),
            con,
            prefix: Arc::from(prefix),
            receipt_ttl: Duration::from_secs(7 * 24 * 3600),
            durability: Durability::default(),
            retention: Retention::default(),
            scripts: Arc::new(Scripts {
                append: Script::new(APPEND),
                client: Script::new(CLIENT),
                read: Script::new(READ),
                head: Script::new(HEAD),
                raise: Script::new(RAISE),
            }),
        }
    }

    /// Whether this store talks to a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.con, Con::Cluster(_))
    }

    /// The same store, keeping receipts for `ttl` (at least one second).
    /// A resend after its receipt expired is still never stored twice (the
    /// server's outbox head rejects it), but its receipt is unknown.
    pub fn with_receipt_ttl(mut self, ttl: Duration) -> RedisStore {
        self.receipt_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// The same store, reporting a write stored only once `durability`
    /// holds (see [`Durability`] for what each setting can lose). Refuses a
    /// zero timeout with replicas: `WAIT n 0` blocks until they answer,
    /// which a dead replica never does.
    pub fn with_durability(
        mut self,
        durability: Durability,
    ) -> Result<RedisStore, RedisStoreError> {
        if durability.replicas > 0 && durability.timeout.as_millis() == 0 {
            return Err(RedisStoreError::Config(
                "a WAIT timeout of at least 1 ms (0 would wait forever)",
            ));
        }
        self.durability = durability;
        Ok(self)
    }

    /// The same store, trimming each stream to `retention` as it appends.
    /// Refuses `max_messages: Some(0)` (a stream keeps its head) and an age
    /// under one millisecond.
    pub fn with_retention(mut self, retention: Retention) -> Result<RedisStore, RedisStoreError> {
        if retention.max_messages == Some(0) {
            return Err(RedisStoreError::Config(
                "max_messages of at least 1 (the head stays)",
            ));
        }
        if retention.max_age.is_some_and(|a| a.as_millis() == 0) {
            return Err(RedisStoreError::Config("max_age of at least 1 ms"));
        }
        self.retention = retention;
        Ok(self)
    }

    /// The pub/sub channel every append is published on.
    pub fn notify_channel(&self) -> String {
        format!("{}:appended", self.prefix)
    }

    /// A dedicated pub/sub connection, subscribed to
    /// [`notify_channel`](Self::notify_channel): to the instance, or to one
    /// of the cluster's seed nodes (the next one on each call, so a dead
    /// node is passed over; every node hears every `PUBLISH`). Read it with
    /// `into_on_message()`; parse each payload with
    /// [`parse_notification`](Self::parse_notification). It ends when the
    /// connection drops (subscribe again, and read what was missed).
    pub async fn subscribe_appends(&self) -> Result<redis::aio::PubSub, RedisStoreError> {
        let mut last = None;
        for _ in 0..self.urls.len() {
            let i = self.next_url.fetch_add(1, Ordering::Relaxed) % self.urls.len();
            let attempt = async {
                let client = redis::Client::open(self.urls[i].as_str())?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(self.notify_channel()).await?;
                Ok::<_, RedisError>(pubsub)
            };
            match attempt.await {
                Ok(p) => return Ok(p),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(
            RedisStoreError::Config("no node to subscribe to"),
            RedisStoreError::Redis,
        ))
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
    /// the store lost data (a Redis restarted empty, a replica promoted
    /// without the newest writes), and this append jumped over the lost
    /// versions.
    pub async fn append_above(
        &self,
        stream: StreamId,
        payload: Bytes,
        receipt: Option<ReceiptKey>,
        floor: Version,
    ) -> Result<(Appended, bool), RedisStoreError> {
        // Without a receipt the script reads no receipt key; a key of the
        // stream's slot keeps the script on one slot all the same.
        let receipt_key = match receipt {
            Some(k) => format!("{}:r:{}:{}", self.stream_tag(stream), k.client, k.outbox.0),
            None => self.stream_key(stream, "r"),
        };
        let messages = self.stream_key(stream, "m");
        let reply: Vec<u64> = self
            .scripts
            .append
            .key(&messages)
            .key(self.stream_key(stream, "seq"))
            .key(receipt_key)
            .key(self.stream_key(stream, "b"))
            .key(self.stream_key(stream, "t"))
            .arg(payload.as_ref())
            .arg(if receipt.is_some() { "1" } else { "0" })
            .arg(self.receipt_ttl.as_secs())
            .arg(floor.0)
            .arg(self.notify_channel())
            .arg(stream.0)
            .arg(self.retention.max_messages.unwrap_or(0))
            .arg(
                self.retention
                    .max_age
                    .map_or(0, |a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
            )
            .arg(AGE_TRIM_BATCH)
            .invoke_async(&mut self.con())
            .await?;
        let (appended, regressed) = match reply[..] {
            [0, v, _, _] => (Appended::Duplicate(Version(v)), false),
            [1, v, prev, regressed] => (
                Appended::New(Message::new(stream, Version(prev), Version(v), payload)),
                regressed == 1,
            ),
            _ => {
                return Err(RedisStoreError::Corrupt {
                    key: messages,
                    what: "unexpected append reply",
                })
            }
        };
        // A duplicate waits too: its first copy may not have reached the
        // replicas (the server that stored it may have died before WAIT).
        self.wait_replicas(&messages).await?;
        if let Some(k) = receipt {
            let _: i64 = self
                .scripts
                .client
                .key(format!("{}:r:{}", self.client_tag(k.client), k.outbox.0))
                .key(format!("{}:o", self.client_tag(k.client)))
                .arg(format!("{}:{}", stream.0, appended.version().0))
                .arg(self.receipt_ttl.as_secs())
                .arg(k.outbox.0)
                .invoke_async(&mut self.con())
                .await?;
        }
        Ok((appended, regressed))
    }

    /// `WAIT` on the master of `key`'s slot, if the durability setting asks
    /// for replicas.
    async fn wait_replicas(&self, key: &str) -> Result<(), RedisStoreError> {
        let Durability { replicas, timeout } = self.durability;
        if replicas == 0 {
            return Ok(());
        }
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(replicas)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let got: i64 = match self.con() {
            Con::Single(mut c) => cmd.query_async(&mut c).await?,
            // WAIT names no key: route it to the master that took the
            // write (it counts that connection's writes).
            Con::Cluster(mut c) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                let v = c
                    .route_command(
                        cmd,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                redis::from_redis_value(v).map_err(RedisError::from)?
            }
        };
        let got = u32::try_from(got.max(0)).unwrap_or(u32::MAX);
        if got < replicas {
            return Err(RedisStoreError::NotReplicated {
                key: key.to_string(),
                wanted: replicas,
                got,
            });
        }
        Ok(())
    }

    /// A connection for one command (a cheap clone of the shared one).
    fn con(&self) -> Con {
        self.con.clone()
    }

    fn stream_tag(&self, stream: StreamId) -> String {
        format!("{}:{{s{}}}", self.prefix, stream.0)
    }

    fn client_tag(&self, client: u64) -> String {
        format!("{}:{{c{}}}", self.prefix, client)
    }

    fn stream_key(&self, stream: StreamId, kind: &str) -> String {
        format!("{}:{kind}", self.stream_tag(stream))
    }

    fn parse(&self, stream: StreamId, member: &[u8]) -> Result<Message, RedisStoreError> {
        let corrupt = |what| RedisStoreError::Corrupt {
            key: self.stream_key(stream, "m"),
            what,
        };
        let mut parts = member.splitn(4, |&b| b == b':');
        let mut number = |what| {
            parts
                .next()
                .and_then(|p| core::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(|| corrupt(what))
        };
        let version = number("bad version")?;
        let prev = number("bad prev")?;
        let _stored_ms = number("bad time")?;
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

    /// The first element of a script's reply: a version as text.
    fn parse_trimmed(&self, stream: StreamId, raw: &[u8]) -> Result<Version, RedisStoreError> {
        core::str::from_utf8(raw)
            .ok()
            .and_then(|t| t.parse().ok())
            .map(Version)
            .ok_or_else(|| RedisStoreError::Corrupt {
                key: self.stream_key(stream, "t"),
                what: "not a number",
            })
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
        // One more than asked for tells whether more lie beyond the page.
        let want = u64::from(limit) + 1;
        let (mode, anchor) = match range {
            SyncRange::After(a) => (0, a.0),
            SyncRange::Latest => (1, 0),
            SyncRange::Before(b) => (2, b.0),
        };
        let mut reply: Vec<Vec<u8>> = self
            .scripts
            .read
            .key(self.stream_key(stream, "m"))
            .key(self.stream_key(stream, "t"))
            .arg(mode)
            .arg(anchor)
            .arg(want)
            .invoke_async(&mut self.con())
            .await?;
        if reply.is_empty() {
            return Err(RedisStoreError::Corrupt {
                key: self.stream_key(stream, "m"),
                what: "empty read reply",
            });
        }
        let trimmed = self.parse_trimmed(stream, &reply.remove(0))?;
        let mut messages = reply
            .iter()
            .map(|m| self.parse(stream, m))
            .collect::<Result<Vec<_>, _>>()?;
        let more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        if !matches!(range, SyncRange::After(_)) {
            messages.reverse();
        }
        Ok(Page {
            messages,
            more,
            trimmed,
        })
    }

    async fn head(&self, stream: StreamId) -> Result<Version, RedisStoreError> {
        let reply: Vec<Vec<u8>> = self
            .scripts
            .head
            .key(self.stream_key(stream, "m"))
            .key(self.stream_key(stream, "t"))
            .invoke_async(&mut self.con())
            .await?;
        let trimmed = match reply.first() {
            Some(t) => self.parse_trimmed(stream, t)?,
            None => Version::ZERO,
        };
        Ok(match reply.get(1) {
            Some(m) => self.parse(stream, m)?.version.max(trimmed),
            None => trimmed,
        })
    }

    async fn receipt(&self, key: ReceiptKey) -> Result<Option<Version>, RedisStoreError> {
        let k = format!("{}:r:{}", self.client_tag(key.client), key.outbox.0);
        let v: Option<String> = redis::cmd("GET")
            .arg(&k)
            .query_async(&mut self.con())
            .await?;
        v.map(|v| {
            v.split_once(':')
                .and_then(|(_, version)| version.parse().ok())
                .map(Version)
                .ok_or(RedisStoreError::Corrupt {
                    key: k,
                    what: "not stream:version",
                })
        })
        .transpose()
    }

    async fn outbox_head(&self, client: u64) -> Result<Version, RedisStoreError> {
        let key = format!("{}:o", self.client_tag(client));
        Ok(Version(self.get_u64(key).await?.unwrap_or(0)))
    }

    async fn load_bound(&self, stream: StreamId) -> Result<Version, RedisStoreError> {
        Ok(Version(
            self.get_u64(self.stream_key(stream, "b"))
                .await?
                .unwrap_or(0),
        ))
    }

    async fn persist_bound(&self, stream: StreamId, bound: Version) -> Result<(), RedisStoreError> {
        let key = self.stream_key(stream, "b");
        let _: i64 = self
            .scripts
            .raise
            .key(&key)
            .arg(bound.0)
            .invoke_async(&mut self.con())
            .await?;
        self.wait_replicas(&key).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_append_touches_one_slot() {
        // Every key of the append script hashes by the stream's tag.
        use super::{Route, SlotAddr};
        let slot = |k: &str| Route::with_key(k.as_bytes(), SlotAddr::Master);
        let keys = [
            "p:{s7}:m",
            "p:{s7}:seq",
            "p:{s7}:r:1:2",
            "p:{s7}:b",
            "p:{s7}:t",
        ];
        assert!(keys.iter().all(|k| slot(k) == slot(keys[0])));
        assert_ne!(slot("p:{s7}:m"), slot("p:{s8}:m"));
    }
}

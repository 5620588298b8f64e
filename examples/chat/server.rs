//! The tokio server: one task per connection (raw TCP or WebSocket), each
//! driving its own `Connection` against a shared store.
//!
//! - **Store first.** A client's send is acked only after the store
//!   confirmed it; syncs are answered from the store.
//! - **Fan-out without polling.** A stored message reaches this server's
//!   members through the [`Hub`] at once, and other servers' members
//!   through the store's notifications (Redis pub/sub: one subscription per
//!   process). An idle connection costs the store nothing.
//! - **Versions never go backwards.** The highest version seen of each
//!   conversation (stored, pushed, held by a client, as its hello says) is
//!   the floor of every append; a store below it lost data, which is
//!   logged and counted (`chat_store_regressions_total`), and the first
//!   message after the loss is spliced onto each client's chain.
//! - **Admission and liveness.** A hello within `hello_timeout` with a valid
//!   token; at most `max_connections` open (more are refused with
//!   `Status::Busy`) and `max_per_client` per client id; accept errors
//!   (EMFILE) back off; keep-alives each way and a dead-peer timeout;
//!   bounded receive state (`wire::server_config`).
//! - **Shutdown.** On the shutdown signal connections are flushed and
//!   closed (clients move to another server); then the tasks end.

use super::auth::Secret;
use super::hub::{Hub, Recent, Subscription};
use super::metrics::Metrics;
use super::store::ChatStore;
use super::wire::{
    self, ws_binary, ws_packets, Clock, Hello, HelloReply, PacketCodec, PacketSink, PacketStream,
    Receipt, Status, OUTBOX,
};
use ackwire::store::{Appended, ReceiptKey};
use ackwire::{
    Connection, Event, Message, ReceiverEvent, SenderEvent, StreamId, SyncRange, Version,
};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep_until, timeout};
use tokio_util::codec::FramedRead;
use tracing::{debug, info, warn};

#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Checks each hello's token.
    pub secret: Secret,
    /// Open connections (before and after their hello) beyond which new
    /// ones are refused with `Status::Busy`.
    pub max_connections: usize,
    /// Connections one client id may hold at once.
    pub max_per_client: usize,
    /// Time a new connection has to complete its hello (and WebSocket
    /// handshake).
    pub hello_timeout: Duration,
    /// A side that sent nothing for this long sends a keep-alive; told to
    /// the client in the hello reply.
    pub keepalive: Duration,
    /// A connection that sent no complete packet for this long is closed.
    pub dead_after: Duration,
    /// Messages pushed per conversation per read of the store.
    pub push_batch: u32,
    /// Longest wait for connections to close on shutdown.
    pub shutdown_grace: Duration,
}

impl ServerOptions {
    pub fn new(secret: Secret) -> ServerOptions {
        ServerOptions {
            secret,
            max_connections: 50_000,
            max_per_client: 16,
            hello_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(15),
            dead_after: Duration::from_secs(45),
            push_batch: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// A running server. Dropping the handle leaves it running; `kill` is a
/// crash: every connection ends at once, nothing is flushed.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub ws_addr: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    kick: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServerHandle {
    /// Drops every open connection (the server keeps accepting).
    pub fn disconnect_all(&self) {
        self.kick.send_modify(|g| *g += 1);
    }

    /// The server process dies: accept loop and connection tasks aborted.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// A graceful stop: connections are flushed and closed.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// The listeners a server accepts on.
pub struct Listeners {
    pub tcp: TcpListener,
    /// WebSocket (one ackwire packet per binary message).
    pub ws: Option<TcpListener>,
}

/// Starts a server on `listener` (TCP only).
pub fn spawn<S: ChatStore>(
    listener: TcpListener,
    store: S,
    options: ServerOptions,
) -> io::Result<ServerHandle> {
    spawn_with(
        Listeners {
            tcp: listener,
            ws: None,
        },
        store,
        options,
    )
}

pub fn spawn_with<S: ChatStore>(
    listeners: Listeners,
    store: S,
    options: ServerOptions,
) -> io::Result<ServerHandle> {
    let addr = listeners.tcp.local_addr()?;
    let ws_addr = listeners.ws.as_ref().map(|l| l.local_addr()).transpose()?;
    let (kick, kick_rx) = watch::channel(0u64);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let metrics = Metrics::new();
    let task = tokio::spawn(serve(
        listeners,
        store,
        options,
        metrics.clone(),
        kick_rx,
        shutdown_rx,
    ));
    Ok(ServerHandle {
        addr,
        ws_addr,
        metrics,
        kick,
        shutdown,
        task,
    })
}

/// What every connection task shares.
struct Shared<S> {
    store: S,
    options: ServerOptions,
    metrics: Arc<Metrics>,
    hub: Arc<Hub>,
    clock: Clock,
    /// Open connections per client id.
    per_client: Mutex<HashMap<u64, usize>>,
    config: Arc<ackwire::Config>,
}

/// Aborts a task when dropped (the feed ends with the accept loop).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Ws,
}

/// The accept loops. Connection tasks live in a `JoinSet` owned here, so
/// ending this future ends them all.
pub async fn serve<S: ChatStore>(
    listeners: Listeners,
    store: S,
    options: ServerOptions,
    metrics: Arc<Metrics>,
    kick: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let hub = Hub::new();
    let feed = {
        let (store, hub, metrics) = (store.clone(), hub.clone(), metrics.clone());
        tokio::spawn(async move { store.feed(hub, metrics).await })
    };
    let _feed = AbortOnDrop(feed);
    // Memory that returns after a burst: when connections closed since the
    // last look, give the freed heap back (see `trim_memory`).
    let _trim = {
        let metrics = metrics.clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let now = metrics.connections.load(Relaxed);
                if now < last {
                    super::trim_memory();
                }
                last = now;
            }
        }))
    };
    let shared = Arc::new(Shared {
        store,
        options,
        metrics,
        hub,
        clock: Clock::new(),
        per_client: Mutex::new(HashMap::new()),
        config: Arc::new(wire::server_config()),
    });
    let mut tasks = JoinSet::new();
    let mut backoff = Duration::ZERO;
    let Listeners { tcp, ws } = listeners;
    loop {
        let accepted = tokio::select! {
            a = tcp.accept() => a.map(|(s, p)| (s, p, Transport::Tcp)),
            a = async { ws.as_ref().unwrap().accept().await }, if ws.is_some() => {
                a.map(|(s, p)| (s, p, Transport::Ws))
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let (socket, peer, transport) = match accepted {
            Ok(a) => {
                backoff = Duration::ZERO;
                a
            }
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: the error comes back at
                // once until something closes, so retrying at once is a busy
                // loop. Back off (10 ms doubling to 1 s); connections that
                // close meanwhile make room.
                shared.metrics.accept_errors.fetch_add(1, Relaxed);
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                if backoff == Duration::from_millis(10) || backoff == Duration::from_secs(1) {
                    warn!(error = %e, backoff = ?backoff, "accept failed; backing off");
                }
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let open = shared.metrics.connections.fetch_add(1, Relaxed) as usize;
        let guard = ConnGuard {
            metrics: shared.metrics.clone(),
        };
        if open >= shared.options.max_connections {
            shared.metrics.refused_busy.fetch_add(1, Relaxed);
            tasks.spawn(refuse(socket, transport, Status::Busy, guard));
            continue;
        }
        match transport {
            Transport::Tcp => shared.metrics.connections_tcp.fetch_add(1, Relaxed),
            Transport::Ws => shared.metrics.connections_ws.fetch_add(1, Relaxed),
        };
        let shared = shared.clone();
        let (kick, shutdown) = (kick.clone(), shutdown.clone());
        tasks.spawn(async move {
            let _guard = guard;
            let result = match transport {
                Transport::Tcp => shared.clone().tcp(socket, kick, shutdown).await,
                Transport::Ws => shared.clone().ws(socket, kick, shutdown).await,
            };
            match result {
                Ok(()) => debug!(%peer, "closed"),
                Err(e) => debug!(%peer, error = %e, "closed"),
            }
        });
    }
    info!(
        connections = shared.metrics.connections.load(Relaxed),
        "shutting down: closing connections"
    );
    drop((tcp, ws));
    let grace = shared.options.shutdown_grace;
    let _ = timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.shutdown().await;
    super::trim_memory();
}

/// Counts an open socket; the count drops when the task ends.
struct ConnGuard {
    metrics: Arc<Metrics>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.metrics.connections.fetch_sub(1, Relaxed);
    }
}

/// Tells a connection why it is refused and closes it (1 s at most).
async fn refuse(mut socket: TcpStream, transport: Transport, status: Status, guard: ConnGuard) {
    let _guard = guard;
    let reply = HelloReply::refuse(status).encode();
    let _ = timeout(Duration::from_secs(1), async {
        match transport {
            Transport::Tcp => {
                let _ = socket.write_all(&reply).await;
                let _ = socket.shutdown().await;
            }
            Transport::Ws => {
                if let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await {
                    let _ = ws.send(ws_binary(Bytes::copy_from_slice(&reply))).await;
                    let _ = ws.close(None).await;
                }
            }
        }
    })
    .await;
}

impl<S: ChatStore> Shared<S> {
    /// Times a store call, counting errors and latency.
    async fn timed<T, E: std::fmt::Display>(
        &self,
        what: &'static str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> io::Result<T> {
        let start = StdInstant::now();
        let r = f.await;
        self.metrics.store_call(start.elapsed(), r.is_ok());
        self.metrics.store_up.store(r.is_ok(), Relaxed);
        r.map_err(|e| {
            warn!(error = %e, op = what, "store error; closing the connection");
            io::Error::other(format!("store {what}: {e}"))
        })
    }

    /// Checks the token and the per-client cap; the refusal if any.
    fn admit(&self, hello: &Hello) -> Result<ClientSlot<'_, S>, Status> {
        if !self.options.secret.verify(hello.client, &hello.token) {
            self.metrics.refused_token.fetch_add(1, Relaxed);
            return Err(Status::BadToken);
        }
        let mut per = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let n = per.entry(hello.client).or_default();
        if *n >= self.options.max_per_client {
            self.metrics.refused_busy.fetch_add(1, Relaxed);
            return Err(Status::Busy);
        }
        *n += 1;
        self.metrics.accepted.fetch_add(1, Relaxed);
        Ok(ClientSlot {
            shared: self,
            client: hello.client,
        })
    }

    fn accepted(&self) -> HelloReply {
        HelloReply {
            status: Status::Ok,
            keepalive: self.options.keepalive,
        }
    }

    async fn tcp(
        self: Arc<Self>,
        mut socket: TcpStream,
        kick: watch::Receiver<u64>,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let _transport = TransportGuard(self.metrics.clone(), Transport::Tcp);
        let hello = match timeout(self.options.hello_timeout, Hello::read(&mut socket)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                self.metrics.refused_hello.fetch_add(1, Relaxed);
                let _ = socket
                    .write_all(&HelloReply::refuse(Status::BadHello).encode())
                    .await;
                return Err(e);
            }
            Err(_) => {
                self.metrics.refused_hello.fetch_add(1, Relaxed);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no hello"));
            }
        };
        let slot = match self.admit(&hello) {
            Ok(s) => s,
            Err(status) => {
                let _ = timeout(
                    Duration::from_secs(1),
                    socket.write_all(&HelloReply::refuse(status).encode()),
                )
                .await;
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{status:?}"),
                ));
            }
        };
        socket.write_all(&self.accepted().encode()).await?;
        let (r, w) = socket.into_split();
        // Small buffers that grow to a packet when one comes: an idle
        // connection holds little.
        let reader = FramedRead::with_capacity(r, PacketCodec::new(wire::MAX_PACKET), 256);
        let writer = wire::small_writer(w);
        let reader: PacketStream = Box::pin(reader);
        let writer: PacketSink = Box::pin(writer);
        let result = self.session(&hello, reader, writer, kick, shutdown).await;
        drop(slot);
        result
    }

    async fn ws(
        self: Arc<Self>,
        socket: TcpStream,
        kick: watch::Receiver<u64>,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let _transport = TransportGuard(self.metrics.clone(), Transport::Ws);
        let handshake = async {
            let mut ws =
                tokio_tungstenite::accept_async_with_config(socket, Some(wire::ws_config()))
                    .await
                    .map_err(io::Error::other)?;
            loop {
                use tokio_tungstenite::tungstenite::Message as M;
                match ws.next().await {
                    Some(Ok(M::Binary(b))) => return Ok((Hello::decode(&b), ws)),
                    Some(Ok(M::Ping(_) | M::Pong(_))) => continue,
                    Some(Ok(_)) => return Ok((Err(io::ErrorKind::InvalidData.into()), ws)),
                    Some(Err(e)) => return Err(io::Error::other(e)),
                    None => return Err(io::ErrorKind::UnexpectedEof.into()),
                }
            }
        };
        let (hello, mut ws) = match timeout(self.options.hello_timeout, handshake).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                self.metrics.refused_hello.fetch_add(1, Relaxed);
                return Err(e);
            }
            Err(_) => {
                self.metrics.refused_hello.fetch_add(1, Relaxed);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no hello"));
            }
        };
        let hello = match hello {
            Ok(h) => h,
            Err(e) => {
                self.metrics.refused_hello.fetch_add(1, Relaxed);
                let reply = HelloReply::refuse(Status::BadHello).encode();
                let _ = ws.send(ws_binary(Bytes::copy_from_slice(&reply))).await;
                return Err(e);
            }
        };
        let slot = match self.admit(&hello) {
            Ok(s) => s,
            Err(status) => {
                let reply = HelloReply::refuse(status).encode();
                let _ = timeout(Duration::from_secs(1), async {
                    let _ = ws.send(ws_binary(Bytes::copy_from_slice(&reply))).await;
                    let _ = ws.close(None).await;
                })
                .await;
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{status:?}"),
                ));
            }
        };
        let reply = self.accepted().encode();
        ws.send(ws_binary(Bytes::copy_from_slice(&reply)))
            .await
            .map_err(io::Error::other)?;
        let (reader, writer) = ws_packets(ws);
        let result = self.session(&hello, reader, writer, kick, shutdown).await;
        drop(slot);
        result
    }

    /// One admitted client, on either transport.
    async fn session(
        &self,
        hello: &Hello,
        mut reader: PacketStream,
        mut writer: PacketSink,
        mut kick: watch::Receiver<u64>,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let mut conn = new_connection(&self.config);
        let client = hello.client;
        // Where this client's outbox stands in the store: resends of what
        // is stored are duplicates from here on (and get their receipts).
        let outbox_head = self
            .timed("outbox_head", self.store.outbox_head(client))
            .await?;
        // The client's evidence counts too: what it saw acked was stored,
        // even if the store has lost it since (never store it twice).
        conn.resume(OUTBOX, outbox_head.max(hello.acked_outbox));
        let conversations: Vec<u64> = hello.conversations.iter().map(|(c, _)| *c).collect();
        // Subscribed before the heads are read: nothing appended after a
        // head was read goes unnoticed.
        let sub = self.hub.subscribe(&conversations);
        let mut pushed = BTreeMap::new();
        for &(c, client_head) in &hello.conversations {
            let stream = StreamId(c);
            let head = self.timed("head", self.store.head(stream)).await?;
            self.hub.raise_floor(c, head);
            if client_head > head {
                // The client holds a version the store does not: the store
                // lost data. Its evidence goes to the store (other servers
                // append above it too) and into every append here.
                self.regressed(c, head, client_head, "a client's hello");
                self.hub.raise_floor(c, client_head);
                self.timed(
                    "persist_bound",
                    self.store.persist_bound(stream, client_head),
                )
                .await?;
            }
            // Live pushes start here; what the client lacks before it comes
            // by its resume sync.
            pushed.insert(c, head.max(client_head));
        }
        let mut dirty: BTreeSet<u64> = BTreeSet::new();
        let mut blocked = false;
        let mut more = false;
        let now = StdInstant::now();
        let (mut last_heard, mut last_sent) = (now, now);
        let mut retransmits = 0;
        kick.mark_unchanged();
        loop {
            // A fresh `now` on every iteration; run timers that are due even
            // if a packet woke us first (an elapsed sleep never gets lost).
            let now = self.clock.now();
            if conn.poll_timeout().is_some_and(|d| d <= now) {
                conn.handle_timeout(now);
                debug_assert!(conn.poll_timeout().is_none_or(|d| d > now));
            }
            if !self.events(&mut conn, hello, &sub).await? {
                return Ok(());
            }
            dirty.extend(sub.inbox.take());
            if !dirty.is_empty() && !blocked {
                (blocked, more) = self.push(&mut conn, &mut pushed, &mut dirty).await?;
            }
            if last_sent.elapsed() >= self.options.keepalive {
                let _ = conn.send(self.clock.now(), wire::keepalive());
            }
            let now = self.clock.now();
            while let Some(packet) = conn.poll_transmit(now) {
                writer.feed(packet).await?;
                last_sent = StdInstant::now();
            }
            writer.flush().await?;
            let r = conn.sender().stats().retransmits;
            self.metrics.retransmits.fetch_add(r - retransmits, Relaxed);
            retransmits = r;
            let deadline = conn
                .poll_timeout()
                .map(|d| self.clock.to_tokio(d))
                .into_iter()
                .chain([
                    tokio::time::Instant::from_std(last_sent + self.options.keepalive),
                    tokio::time::Instant::from_std(last_heard + self.options.dead_after),
                ])
                .min()
                .expect("two deadlines at least");
            tokio::select! {
                packet = reader.next() => match packet {
                    Some(Ok(p)) => {
                        // A packet that fails its checks changes nothing; on
                        // a stream it means a broken peer: hang up.
                        conn.handle_input(self.clock.now(), p)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        last_heard = StdInstant::now();
                        // Acks may have opened the window.
                        blocked = false;
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
                _ = sleep_until(deadline) => {
                    if last_heard.elapsed() >= self.options.dead_after {
                        self.metrics.dead_peers.fetch_add(1, Relaxed);
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "peer silent"));
                    }
                }
                _ = sub.inbox.notify.notified() => {}
                // Err (the handle is gone) only disables the branch.
                Ok(()) = kick.changed() => return Ok(()),
                Ok(()) = shutdown.changed() => {
                    let _ = writer.close().await;
                    return Ok(());
                }
                // More pages wait in the store: go on at once.
                _ = std::future::ready(()), if more && !blocked => {}
            }
        }
    }

    fn regressed(&self, c: u64, store: Version, seen: Version, evidence: &str) {
        self.metrics.store_regressions.fetch_add(1, Relaxed);
        warn!(
            conversation = c,
            store_head = store.0,
            seen = seen.0,
            evidence,
            "STORE REGRESSED: the store holds less than was seen; new versions go above what was seen"
        );
    }

    /// Handles the connection's events; `false` ends the connection.
    async fn events(
        &self,
        conn: &mut Connection,
        hello: &Hello,
        sub: &Subscription,
    ) -> io::Result<bool> {
        let _ = sub;
        while let Some(event) = conn.poll_event() {
            let now = self.clock.now();
            match event {
                Event::Receiver(ReceiverEvent::Deliver(m)) if m.stream == OUTBOX => {
                    let receipt = self.store_send(hello, &m).await?;
                    conn.commit_with_receipt(now, OUTBOX, m.version, receipt.encode())
                        .expect("delivered, receipt of 8 bytes at most");
                }
                Event::Receiver(ReceiverEvent::Deliver(m)) => {
                    // Clients send on their outbox only; ack anything else.
                    let _ = conn.commit(now, m.stream, m.version);
                }
                Event::Receiver(ReceiverEvent::ReceiptWanted { stream, version }) => {
                    let key = ReceiptKey {
                        client: hello.client,
                        outbox: version,
                    };
                    let receipt = match self.timed("receipt", self.store.receipt(key)).await? {
                        Some(v) => Receipt::Stored(v),
                        None => Receipt::StoredUnknown,
                    };
                    let _ = conn.provide_receipt(stream, version, receipt.encode());
                }
                Event::Sender(SenderEvent::SyncRequested(req)) => {
                    self.metrics.syncs.fetch_add(1, Relaxed);
                    let mut page = if hello.member(req.stream.0) {
                        self.timed("read", self.store.read(req.stream, req.range, req.limit))
                            .await?
                    } else {
                        Default::default()
                    };
                    if let SyncRange::After(head) = req.range {
                        // The client holds `head` (or retention trimmed up
                        // to past it: the page starts at the cut, and the
                        // client is told); a first message that does not
                        // follow that means the store lost what lay between.
                        let from = head.max(page.trimmed);
                        if let Some(first) = page.messages.first_mut() {
                            if first.prev != from && first.version > from {
                                self.regressed(req.stream.0, first.prev, from, "a sync request");
                                first.prev = from;
                            }
                        }
                    }
                    // A request that reached what retention trimmed ends in
                    // a TRIMMED frame saying where retained history starts
                    // (otherwise this is `answer_sync`). Refused only under
                    // backpressure; the client asks again.
                    let _ = conn.answer_sync_trimmed(
                        now,
                        &req,
                        page.trimmed,
                        &page.messages,
                        page.more,
                    );
                }
                // The push is stored: the client gets it by sync when it
                // comes back. Drop the connection, as M3 suggests.
                Event::Sender(SenderEvent::Escalated(_))
                | Event::Sender(SenderEvent::PeerDead { .. })
                | Event::Sender(SenderEvent::Closed { .. }) => return Ok(false),
                _ => {}
            }
        }
        Ok(true)
    }

    /// Stores one upstream send, once, whichever server gets it, above
    /// every version seen of its conversation.
    async fn store_send(&self, hello: &Hello, m: &Message) -> io::Result<Receipt> {
        let Some((conv, text)) = wire::parse_outbox_payload(m.payload.clone()) else {
            return Ok(Receipt::Refused);
        };
        if !hello.member(conv) {
            return Ok(Receipt::Refused);
        }
        let payload = wire::conversation_payload(hello.client, m.version, &text);
        let key = ReceiptKey {
            client: hello.client,
            outbox: m.version,
        };
        let floor = self.hub.floor(conv);
        // An error ends the connection before any ack: the client resends,
        // and the receipt key keeps the retry from storing it twice.
        let (appended, regressed) = self
            .timed(
                "append",
                self.store
                    .append_above(StreamId(conv), payload, Some(key), floor),
            )
            .await?;
        match &appended {
            Appended::New(stored) => {
                if regressed {
                    self.regressed(conv, stored.prev, floor, "an append");
                }
                self.metrics.stored.fetch_add(1, Relaxed);
                self.hub.publish(stored);
            }
            Appended::Duplicate(_) => {
                self.metrics.duplicates.fetch_add(1, Relaxed);
            }
        }
        Ok(Receipt::Stored(appended.version()))
    }

    /// Pushes what the dirty conversations gained. Returns (blocked by
    /// backpressure, more waiting in the store).
    async fn push(
        &self,
        conn: &mut Connection,
        pushed: &mut BTreeMap<u64, Version>,
        dirty: &mut BTreeSet<u64>,
    ) -> io::Result<(bool, bool)> {
        let mut more = false;
        while let Some(&c) = dirty.first() {
            let after = pushed[&c];
            let (messages, page_more) = match self.hub.recent_after(c, after) {
                Recent::Messages(m) => (m, false),
                Recent::ReadStore => {
                    let page = self
                        .timed(
                            "read",
                            self.store.read(
                                StreamId(c),
                                SyncRange::After(after),
                                self.options.push_batch,
                            ),
                        )
                        .await?;
                    (page.messages, page.more)
                }
            };
            for mut m in messages {
                let head = pushed[&c];
                if m.version <= head {
                    continue;
                }
                if m.prev != head {
                    // Only after the store lost data: what lay between is
                    // gone, and the client's chain goes on from its head.
                    self.regressed(c, m.prev, head, "a push");
                    m.prev = head;
                }
                let version = m.version;
                if conn.send(self.clock.now(), m).is_err() {
                    // Backpressure: the rest waits for acks.
                    return Ok((true, more));
                }
                self.metrics.pushed.fetch_add(1, Relaxed);
                pushed.insert(c, version);
            }
            if page_more {
                more = true;
            } else {
                dirty.remove(&c);
            }
            if page_more {
                // One page per look; the loop comes back at once.
                break;
            }
        }
        Ok((false, more))
    }
}

/// A connection's `Connection`, built in one place (the core may add a
/// connection id or a required `resume` here).
pub fn new_connection(config: &Arc<ackwire::Config>) -> Connection {
    Connection::new(config.clone(), wire::CONNECTION_ID)
}

struct TransportGuard(Arc<Metrics>, Transport);

impl Drop for TransportGuard {
    fn drop(&mut self) {
        match self.1 {
            Transport::Tcp => self.0.connections_tcp.fetch_sub(1, Relaxed),
            Transport::Ws => self.0.connections_ws.fetch_sub(1, Relaxed),
        };
    }
}

/// A client id's place under `max_per_client`.
struct ClientSlot<'a, S> {
    shared: &'a Shared<S>,
    client: u64,
}

impl<S> Drop for ClientSlot<'_, S> {
    fn drop(&mut self) {
        let mut per = self
            .shared
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.client);
            }
        }
    }
}

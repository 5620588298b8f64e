//! The tokio server: one task per TCP connection, each driving its own
//! `Connection` against a shared `Store`.
//!
//! The store is the source of truth. A connection task pushes what its
//! client's conversations gained since it last looked (it tails the store:
//! woken by appends on this server, and by a periodic check for appends on
//! other servers sharing the store), answers syncs from it, and stores the
//! client's sends in it — acking each only after the store confirmed it.

use super::wire::{self, Clock, Hello, PacketCodec, Receipt, OUTBOX};
use ackwire::store::{Appended, ReceiptKey, Store};
use ackwire::{Connection, Event, Message, ReceiverEvent, SenderEvent, StreamId, Version};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep_until, timeout, MissedTickBehavior};
use tokio_util::codec::{FramedRead, FramedWrite};

#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// How often a connection checks the store for messages appended by
    /// other servers (appends on this one wake it at once).
    pub poll_every: Duration,
    /// Messages pushed per conversation per look at the store.
    pub push_batch: u32,
    /// Print connections and errors to stderr.
    pub verbose: bool,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            poll_every: Duration::from_millis(100),
            push_batch: 256,
            verbose: false,
        }
    }
}

/// A running server. Dropping the handle leaves it running; `kill` is a
/// crash: every connection ends at once, nothing is flushed.
pub struct ServerHandle {
    pub addr: SocketAddr,
    kick: watch::Sender<u64>,
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
}

/// Starts a server on `listener`.
pub fn spawn<S: Store + Clone + 'static>(
    listener: TcpListener,
    store: S,
    options: ServerOptions,
) -> io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let (kick, _) = watch::channel(0u64);
    let kick_rx = kick.subscribe();
    let task = tokio::spawn(serve(listener, store, options, kick_rx));
    Ok(ServerHandle { addr, kick, task })
}

/// The accept loop. Connection tasks live in a `JoinSet` owned here, so
/// ending this future ends them all.
pub async fn serve<S: Store + Clone + 'static>(
    listener: TcpListener,
    store: S,
    options: ServerOptions,
    kick: watch::Receiver<u64>,
) {
    let clock = Clock::new();
    let (appended, _) = watch::channel(0u64);
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, peer)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                let task = ConnTask {
                    store: store.clone(),
                    options: options.clone(),
                    clock,
                    appended: appended.clone(),
                    kick: kick.clone(),
                };
                let verbose = options.verbose;
                tasks.spawn(async move {
                    match task.run(socket).await {
                        Err(e) if verbose => eprintln!("server: {peer}: {e}"),
                        _ if verbose => eprintln!("server: {peer}: closed"),
                        _ => {}
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

struct ConnTask<S> {
    store: S,
    options: ServerOptions,
    clock: Clock,
    appended: watch::Sender<u64>,
    kick: watch::Receiver<u64>,
}

fn store_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> io::Error {
    io::Error::other(e)
}

impl<S: Store + Clone + 'static> ConnTask<S> {
    async fn run(self, mut socket: TcpStream) -> io::Result<()> {
        let hello = timeout(Duration::from_secs(5), Hello::read(&mut socket))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no hello"))??;
        let config = wire::config();
        let (r, w) = socket.into_split();
        let mut reader = FramedRead::new(r, PacketCodec::new(config.max_packet_size));
        let mut writer = FramedWrite::new(w, PacketCodec::new(config.max_packet_size));
        // A new TCP connection can not carry an earlier one's packets: one id serves.
        let mut conn = Connection::new(config, ackwire::ConnectionId(0));
        let client = hello.client;
        // Where this client's outbox stands in the store: resends of what
        // is stored are duplicates from here on (and get their receipts).
        let outbox_head = self.store.outbox_head(client).await.map_err(store_err)?;
        conn.resume(OUTBOX, outbox_head);
        // Live pushes start at each conversation's current head; what the
        // client lacks before it comes by its resume sync.
        let mut pushed = BTreeMap::new();
        for &c in &hello.conversations {
            let head = self.store.head(StreamId(c)).await.map_err(store_err)?;
            pushed.insert(StreamId(c), head);
        }
        let mut appended = self.appended.subscribe();
        let mut poll = tokio::time::interval(self.options.poll_every);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut kick = self.kick.clone();
        kick.mark_unchanged();
        let mut look = true;
        loop {
            // A fresh `now` on every iteration; run timers that are due even
            // if a packet woke us first (an elapsed sleep never gets lost).
            let now = self.clock.now();
            if conn.poll_timeout().is_some_and(|d| d <= now) {
                conn.handle_timeout(now);
                // The library's contract; a deadline that never clears
                // would be a busy loop here.
                debug_assert!(conn.poll_timeout().is_none_or(|d| d > now));
            }
            if !self.events(&mut conn, &hello).await? {
                return Ok(());
            }
            if look {
                look = self.push_new(&mut conn, &mut pushed).await?;
            }
            let now = self.clock.now();
            while let Some(packet) = conn.poll_transmit(now) {
                writer.feed(packet).await?;
            }
            writer.flush().await?;
            // Recomputed every iteration: a deadline that moved earlier (or
            // appeared) is never missed, one that cleared stops the sleep.
            let deadline = conn.poll_timeout().map(|d| self.clock.to_tokio(d));
            tokio::select! {
                packet = reader.next() => match packet {
                    Some(Ok(p)) => {
                        // A packet that fails its checks changes nothing; on
                        // a TCP stream it means a broken peer: hang up.
                        conn.handle_input(self.clock.now(), p)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
                _ = async { sleep_until(deadline.unwrap()).await }, if deadline.is_some() => {}
                Ok(()) = appended.changed() => look = true,
                _ = poll.tick() => look = true,
                // Err (the handle is gone) only disables the branch.
                Ok(()) = kick.changed() => return Ok(()),
                // More pages wait in the store: go on at once.
                _ = std::future::ready(()), if look => {}
            }
        }
    }

    /// Handles the connection's events; `false` ends the connection.
    async fn events(&self, conn: &mut Connection, hello: &Hello) -> io::Result<bool> {
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
                    let receipt = match self.store.receipt(key).await.map_err(store_err)? {
                        Some(v) => Receipt::Stored(v),
                        None => Receipt::StoredUnknown,
                    };
                    let _ = conn.provide_receipt(stream, version, receipt.encode());
                }
                Event::Sender(SenderEvent::SyncRequested(req)) => {
                    let member = hello.conversations.contains(&req.stream.0);
                    let page = if member {
                        self.store
                            .read(req.stream, req.range, req.limit)
                            .await
                            .map_err(store_err)?
                    } else {
                        Default::default()
                    };
                    // Refused only under backpressure; the client asks again.
                    let _ = conn.answer_sync(now, &req, &page.messages, page.more);
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

    /// Stores one upstream send, once, whichever server gets it.
    async fn store_send(&self, hello: &Hello, m: &Message) -> io::Result<Receipt> {
        let Some((conv, text)) = wire::parse_outbox_payload(m.payload.clone()) else {
            return Ok(Receipt::Refused);
        };
        if !hello.conversations.contains(&conv) {
            return Ok(Receipt::Refused);
        }
        let payload = wire::conversation_payload(hello.client, m.version, &text);
        let key = ReceiptKey {
            client: hello.client,
            outbox: m.version,
        };
        // An error ends the connection before any ack: the client resends,
        // and the receipt key keeps the retry from storing it twice.
        let appended = self
            .store
            .append(StreamId(conv), payload, Some(key))
            .await
            .map_err(store_err)?;
        if let Appended::New(_) = appended {
            self.appended.send_modify(|n| *n += 1);
        }
        Ok(Receipt::Stored(appended.version()))
    }

    /// Pushes what the client's conversations gained; `true` if more wait.
    async fn push_new(
        &self,
        conn: &mut Connection,
        pushed: &mut BTreeMap<StreamId, Version>,
    ) -> io::Result<bool> {
        let mut more = false;
        for (&stream, head) in pushed.iter_mut() {
            let page = self
                .store
                .read(
                    stream,
                    ackwire::SyncRange::After(*head),
                    self.options.push_batch,
                )
                .await
                .map_err(store_err)?;
            for m in page.messages {
                let version = m.version;
                if conn.send(self.clock.now(), m).is_err() {
                    // Backpressure: the rest waits for acks (and the next
                    // periodic look).
                    return Ok(false);
                }
                *head = version;
            }
            more |= page.more;
        }
        Ok(more)
    }
}

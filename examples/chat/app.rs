//! The client app, sans-IO: what to do on connect, on a send, and with each
//! event. The tokio and the blocking client differ only in their I/O.

use super::db::{ClientDb, Stored};
use super::wire::{self, Hello, Receipt, OUTBOX};
use ackwire::{
    Connection, Event, Instant, Message, ReceiverEvent, SenderEvent, StreamId, SyncRange, Version,
};
use std::io;
use std::path::Path;

/// What the app shows the user after one round of events.
#[derive(Debug, Default)]
pub struct Progress {
    /// Newly committed conversation messages: (conversation, message).
    pub delivered: Vec<(u64, Message)>,
    /// Sends the server answered, each once: (outbox version, receipt).
    pub acked: Vec<(u64, Option<Receipt>)>,
    /// Connection events for the user (connected, refused, lost).
    pub notes: Vec<String>,
    /// The connection is over (peer dead or closed): reconnect.
    pub dead: bool,
}

/// A request from the user (or a test): send `text` to `conversation`.
/// `accepted` learns the outbox version once the send is on disk.
pub struct Command {
    pub conversation: u64,
    pub text: String,
    pub accepted: Option<tokio::sync::oneshot::Sender<u64>>,
}

pub struct ClientApp {
    pub client: u64,
    pub token: [u8; 32],
    pub conversations: Vec<u64>,
    pub db: ClientDb,
    conn: Option<Connection>,
}

impl ClientApp {
    pub fn open(
        client: u64,
        token: [u8; 32],
        conversations: Vec<u64>,
        db: &Path,
    ) -> io::Result<ClientApp> {
        Ok(ClientApp {
            client,
            token,
            conversations,
            db: ClientDb::open(db)?,
            conn: None,
        })
    }

    /// The hello for a new connection: who this is, and how far each
    /// conversation got here (the server's evidence that versions went at
    /// least that far, even if its store lost them).
    pub fn hello(&self) -> Hello {
        Hello {
            client: self.client,
            token: self.token,
            acked_outbox: Version(
                self.db
                    .contents()
                    .outbox
                    .iter()
                    .take_while(|(_, o)| o.receipt.is_some())
                    .last()
                    .map_or(0, |(&v, _)| v),
            ),
            conversations: self
                .conversations
                .iter()
                .map(|&c| (c, self.db.head(c)))
                .collect(),
        }
    }

    /// A new TCP connection gets a new `Connection` (SIDs restart at 0):
    /// every conversation resumes from the local database, which also makes
    /// the server send whatever came meanwhile, and every unacked send is
    /// sent again with its identity.
    pub fn connect(&mut self, now: Instant) -> &mut Connection {
        let mut conn = new_connection();
        for &c in &self.conversations {
            conn.resume(StreamId(c), self.db.head(c));
        }
        for (&v, out) in &self.db.contents().outbox {
            if out.receipt.is_none() {
                // Only Backpressure can refuse, past max_queued unacked
                // sends; those go out on the next connection.
                let _ = conn.send(now, outbox_message(v, out.conversation, &out.text));
            }
        }
        self.conn.insert(conn)
    }

    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    pub fn conn(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    /// Puts a send on disk, then on the connection if there is one.
    pub fn submit(&mut self, now: Instant, cmd: Command) -> io::Result<()> {
        let v = self
            .db
            .add_outgoing(cmd.conversation, cmd.text.as_bytes())?;
        if let Some(tx) = cmd.accepted {
            let _ = tx.send(v);
        }
        if let Some(conn) = &mut self.conn {
            let _ = conn.send(
                now,
                outbox_message(v, cmd.conversation, cmd.text.as_bytes()),
            );
        }
        Ok(())
    }

    /// Handles every pending event: deliveries are written and fsynced as
    /// one batch, then committed (so acked) — never before.
    pub fn process(&mut self, now: Instant) -> io::Result<Progress> {
        let mut progress = Progress::default();
        let Some(conn) = &mut self.conn else {
            return Ok(progress);
        };
        let mut batch = Vec::new();
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Receiver(ReceiverEvent::Deliver(m)) if m.stream != OUTBOX => {
                    batch.push(m);
                }
                Event::Sender(SenderEvent::Acked {
                    stream: OUTBOX,
                    version,
                    receipt,
                }) => {
                    // Acked again after a resend: shown once.
                    let receipt = receipt.unwrap_or_default();
                    if self.db.record_receipt(version.0, &receipt)? {
                        progress.acked.push((version.0, Receipt::decode(&receipt)));
                    }
                }
                // "Failed, tap to retry", tapped at once: the same identity
                // again, so the server still stores it once.
                Event::Sender(SenderEvent::Escalated(m)) => {
                    let _ = conn.send(now, m);
                }
                Event::Sender(SenderEvent::SyncRequested(req)) => {
                    // The server missed part of the outbox: answer from disk.
                    let after = match req.range {
                        SyncRange::After(v) => v.0,
                        _ => u64::MAX,
                    };
                    let outbox = &self.db.contents().outbox;
                    let page: Vec<Message> = outbox
                        .range(after.saturating_add(1)..)
                        .take(req.limit as usize)
                        .map(|(&v, o)| outbox_message(v, o.conversation, &o.text))
                        .collect();
                    let more = outbox
                        .range(after.saturating_add(1)..)
                        .nth(page.len())
                        .is_some();
                    let _ = conn.answer_sync(now, &req, &page, more);
                }
                Event::Sender(SenderEvent::PeerDead { .. } | SenderEvent::Closed { .. }) => {
                    progress.dead = true;
                }
                // Gaps and resume syncs are handled by the receiver itself.
                _ => {}
            }
        }
        let rows: Vec<(u64, Stored)> = batch
            .iter()
            .map(|m| {
                let s = Stored {
                    prev: m.prev,
                    version: m.version,
                    payload: m.payload.clone(),
                };
                (m.stream.0, s)
            })
            .collect();
        self.db.store_messages(&rows)?;
        for m in batch {
            conn.commit(now, m.stream, m.version)
                .expect("a delivered message commits");
            progress.delivered.push((m.stream.0, m));
        }
        Ok(progress)
    }
}

/// The client's `Connection`, built in one place (the core may add a
/// connection id here).
pub fn new_connection() -> Connection {
    Connection::new(wire::config(), wire::CONNECTION_ID)
}

/// A send on the outbox: versions 1, 2, 3… from the local database, each
/// asking for the server's receipt.
pub fn outbox_message(v: u64, conversation: u64, text: &[u8]) -> Message {
    Message::new(
        OUTBOX,
        Version(v - 1),
        Version(v),
        wire::outbox_payload(conversation, text),
    )
    .with_receipt()
}

/// A delivered message as a line for the user.
pub fn show(conversation: u64, m: &Message) -> String {
    match wire::parse_conversation_payload(m.payload.clone()) {
        Some((sender, _, text)) => format!(
            "[{conversation}] #{} from {sender}: {}",
            m.version.0,
            String::from_utf8_lossy(&text)
        ),
        None => format!("[{conversation}] #{} (unreadable)", m.version.0),
    }
}

/// A send's answer as a line for the user.
pub fn show_ack(outbox: u64, receipt: Option<Receipt>) -> String {
    match receipt {
        Some(Receipt::Stored(v)) => format!("sent #{outbox}: stored as message #{}", v.0),
        Some(Receipt::StoredUnknown) => format!("sent #{outbox}: stored (earlier)"),
        Some(Receipt::Refused) => format!("sent #{outbox}: refused (not a member)"),
        None => format!("sent #{outbox}: answered with an unreadable receipt"),
    }
}

/// Everything one round of events shows, one line per event.
pub fn lines(p: &Progress) -> Vec<String> {
    let mut out = p.notes.clone();
    out.extend(p.delivered.iter().map(|(c, m)| show(*c, m)));
    out.extend(p.acked.iter().map(|(v, r)| show_ack(*v, *r)));
    out
}

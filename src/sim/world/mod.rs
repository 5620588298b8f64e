//! The simulated world: one server, many clients, their links, and the
//! virtual clock that drives them all. The server keeps its messages in a
//! [`MemoryStore`](crate::store::MemoryStore) behind the delay and crash
//! model of [`SimStore`]; this module decides when its writes happen.
//!
//! Everything that happens is an event in one time-ordered queue (ties in
//! the order they were scheduled) or a connection's timer; nothing iterates
//! a hash map, so a seed fixes the run.
//!
//! This file holds the [`World`] and its loop: the event queue, the
//! connections' timers, pumping each app in turn. Beside it:
//!
//! - `simulation`: [`Simulation`], the public entry point: members, the
//!   random workload and faults drawn from the seed, scripted actions.
//! - `client`: the client app: its database, its user, its events and
//!   database writes; `outbox` (what its user sent, until confirmed) and
//!   `history` (older messages fetched page by page) are its parts.
//! - `server`: the server app: its store, pushes, answers to sync requests.
//! - `connections`: connecting, resuming and tearing down, both ends.
//! - `network`: the links: latency, loss, duplication, partitions.
//! - `payload`: what the apps put in payloads and receipts.
//! - `stats`, `trace`: the report's counters and the trace hash.
//! - `settle`: whether the run is done, and the stall report if it is not.
//! - `outcome`: the checker's verdict and the [`Report`](crate::sim::Report).

mod client;
mod connections;
mod history;
mod network;
mod outbox;
mod outcome;
mod payload;
mod server;
mod settle;
mod simulation;
mod stats;
mod trace;

use client::{Client, ClientDb};
pub use outcome::Outcome;
use server::{Server, Upstream};
pub use simulation::Simulation;
use stats::Counters;
use trace::Trace;

use crate::message::{Message, StreamId, Version};
use crate::sim::check::{Checker, ClientId};
use crate::sim::report::Delivery;
use crate::sim::rng::SimRng;
use crate::sim::scenario::{conversation_stream, Action, SimConfig, SimError};
use crate::sim::store::{SimStore, WriteTicket};
use crate::time::Instant;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

/// Where a running simulation stands, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Virtual time.
    pub now: Duration,
    /// The period of sending and faults; after it the run drains.
    pub duration: Duration,
    /// Messages the script will send in all.
    pub messages: u64,
    /// Messages sent so far.
    pub sent: u64,
    /// Messages confirmed to their authors so far.
    pub acked: u64,
    /// Deliveries to member apps so far.
    pub delivered: u64,
}

enum Ev {
    Packet {
        client: usize,
        to_server: bool,
        epoch: u64,
        bytes: Bytes,
    },
    DbWrite {
        client: usize,
        life: u64,
        epoch: u64,
        stream: StreamId,
        /// One message, or a package's members: written together.
        versions: Vec<Version>,
    },
    /// The server app pushes an escalated message again.
    Repush {
        client: usize,
        epoch: u64,
        msg: Message,
    },
    StoreWrite {
        ticket: WriteTicket,
        upstream: Upstream,
    },
    Script(Action),
    ClientRestart(usize),
    ServerRestart,
    Heal(usize),
    Reconnect {
        client: usize,
        life: u64,
    },
}

struct World {
    cfg: SimConfig,
    rng: SimRng,
    members: Vec<Vec<ClientId>>,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    server: Server,
    clients: Vec<Client>,
    link_down: Vec<u32>,
    in_flight: u64,
    next_epoch: u64,
    script_left: u64,
    script_messages: u64,
    steps: u64,
    last_progress: Instant,
    failure: Option<SimError>,
    counters: Counters,
    trace: Trace,
    deliveries: Vec<Delivery>,
    retransmits_per_second: Vec<u64>,
    retransmits_sampled: u64,
    /// The histories as they happen: commits, history pages, the server's
    /// acks and skips, datagrams and markers (the store and the outboxes
    /// are added at the end).
    checker: Checker,
}

impl World {
    fn new(sim: Simulation) -> Result<World, SimError> {
        let cfg = sim.cfg;
        let n = cfg.clients as usize;
        let mut clients: Vec<Client> = (0..n)
            .map(|_| Client {
                up: true,
                life: 0,
                db: ClientDb::default(),
                conn: None,
                conversations: Vec::new(),
                writes_pending: 0,
                write_tail: Instant::ZERO,
                deferred: VecDeque::new(),
                typing: 0,
                reconnect_scheduled: false,
            })
            .collect();
        for (k, m) in sim.members.iter().enumerate() {
            for c in m {
                clients[c.0 as usize]
                    .conversations
                    .push(conversation_stream(k as u32));
            }
        }
        let mut w = World {
            rng: sim.rng,
            members: sim.members,
            now: Instant::ZERO,
            queue: BTreeMap::new(),
            seq: 0,
            server: Server {
                up: true,
                store: SimStore::new(cfg.alloc_step, cfg.retain)?,
                conns: (0..n).map(|_| None).collect(),
                origins: BTreeMap::new(),
                passed: BTreeMap::new(),
            },
            clients,
            link_down: alloc::vec![0; n],
            in_flight: 0,
            next_epoch: 0,
            script_left: 0,
            script_messages: 0,
            steps: 0,
            last_progress: Instant::ZERO,
            failure: None,
            counters: Counters::default(),
            trace: Trace(0xCBF2_9CE4_8422_2325),
            deliveries: Vec::new(),
            retransmits_per_second: Vec::new(),
            retransmits_sampled: 0,
            checker: Checker::new(),
            cfg,
        };
        for (t, a) in sim.script {
            w.script_left += 1;
            if matches!(a, Action::Send { .. }) {
                w.script_messages += 1;
            }
            w.at(Instant::ZERO + t, Ev::Script(a));
        }
        for c in 0..n {
            w.schedule_reconnect(c, Duration::ZERO);
        }
        Ok(w)
    }

    fn at(&mut self, t: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((t, self.seq), ev);
    }

    fn fail(&mut self, e: SimError) {
        if self.failure.is_none() {
            self.failure = Some(e);
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - Instant::ZERO
    }

    fn progress_made(&mut self) {
        self.last_progress = self.now;
    }

    fn run(&mut self, mut progress: impl FnMut(&Progress)) -> Result<Outcome, SimError> {
        loop {
            self.steps += 1;
            if self.steps > self.cfg.max_steps {
                return Err(SimError::StepLimit { at: self.elapsed() });
            }
            self.pump();
            if let Some(e) = self.failure.take() {
                return Err(e);
            }
            if self.steps % 1024 == 0 {
                progress(&self.progress());
            }
            if self.script_left == 0 && self.settled() {
                break;
            }
            if self.now - self.last_progress > self.cfg.stall_timeout {
                let remaining = self.remaining();
                if remaining.is_empty() {
                    self.last_progress = self.now;
                } else {
                    return Err(SimError::Stalled {
                        at: self.elapsed(),
                        remaining,
                    });
                }
            }
            // An app that queued work while handling events (a resend of an
            // escalated message) does it on the next pump, now.
            let app_work = self
                .clients
                .iter()
                .any(|c| c.conn.as_ref().is_some_and(|cc| !cc.resends.is_empty()));
            let next = self.next_deadline().or(app_work.then_some(self.now));
            let Some(next) = next else {
                // Nothing can happen any more: let the checker judge.
                break;
            };
            self.now = self.now.max(next);
            self.sample_retransmits(false);
            while let Some(e) = self.queue.first_entry() {
                if e.key().0 > self.now {
                    break;
                }
                let ev = e.remove();
                self.handle(ev);
            }
            self.handle_timeouts();
        }
        progress(&self.progress());
        let unsettled = if self.settled() {
            String::new()
        } else {
            self.remaining()
        };
        Ok(self.finish(unsettled))
    }

    fn progress(&self) -> Progress {
        Progress {
            now: self.elapsed(),
            duration: self.cfg.duration,
            messages: self.script_messages,
            sent: self.counters.sent,
            acked: self.counters.acked,
            delivered: self.counters.delivered,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next = self.queue.keys().next().map(|k| k.0);
        let timers = self
            .clients
            .iter()
            .filter_map(|c| c.conn.as_ref().and_then(|cc| cc.conn.poll_timeout()))
            .chain(
                self.server
                    .conns
                    .iter()
                    .filter_map(|s| s.as_ref().and_then(|sc| sc.conn.poll_timeout())),
            );
        for t in timers {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    fn handle_timeouts(&mut self) {
        let now = self.now;
        for c in &mut self.clients {
            if let Some(cc) = c.conn.as_mut() {
                if cc.conn.poll_timeout().is_some_and(|t| t <= now) {
                    cc.conn.handle_timeout(now);
                }
            }
        }
        for sc in self.server.conns.iter_mut().flatten() {
            if sc.conn.poll_timeout().is_some_and(|t| t <= now) {
                sc.conn.handle_timeout(now);
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Packet {
                client,
                to_server,
                epoch,
                bytes,
            } => self.arrive(client, to_server, epoch, bytes),
            Ev::DbWrite {
                client,
                life,
                epoch,
                stream,
                versions,
            } => self.db_write(client, life, epoch, stream, versions),
            Ev::Repush { client, epoch, msg } => {
                if let Some(sc) = self.server.conns[client]
                    .as_mut()
                    .filter(|sc| sc.epoch == epoch)
                {
                    sc.backlog.push_back(msg);
                }
            }
            Ev::StoreWrite { ticket, upstream } => self.store_write(ticket, upstream),
            Ev::Script(a) => {
                self.script_left -= 1;
                self.act(a);
            }
            Ev::ClientRestart(c) => {
                let cl = &mut self.clients[c];
                cl.up = true;
                while let Some(a) = self.clients[c].deferred.pop_front() {
                    self.user(c, a);
                }
                self.schedule_reconnect(c, Duration::ZERO);
            }
            Ev::ServerRestart => self.server.up = true,
            Ev::Heal(c) => self.link_down[c] -= 1,
            Ev::Reconnect { client, life } => self.reconnect(client, life),
        }
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::Send { client, .. }
            | Action::SendPackage { client, .. }
            | Action::Marker { client } => {
                let c = client.0 as usize;
                if self.clients[c].up {
                    self.user(c, a);
                } else {
                    self.clients[c].deferred.push_back(a);
                }
            }
            Action::Typing {
                client,
                conversation,
            } => self.typing(client.0 as usize, conversation),
            Action::CrashClient { client, down_for } => self.crash_client(client, down_for, false),
            Action::Reinstall { client, down_for } => self.crash_client(client, down_for, true),
            Action::CrashServer { down_for } => {
                if !self.server.up {
                    return;
                }
                self.counters.server_crashes += 1;
                self.trace.num(0x5E);
                self.server.up = false;
                self.server.store.crash(self.now);
                for c in 0..self.clients.len() {
                    self.disconnect(c);
                }
                self.at(self.now + down_for, Ev::ServerRestart);
            }
            Action::Partition { client, down_for } => {
                let c = client.0 as usize;
                self.counters.partitions += 1;
                self.link_down[c] += 1;
                self.at(self.now + down_for, Ev::Heal(c));
            }
        }
    }

    fn pump(&mut self) {
        for c in 0..self.clients.len() {
            self.pump_client(c);
            self.pump_server(c);
        }
    }
}

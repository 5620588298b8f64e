//! The public entry point: a [`Simulation`] is built from a [`SimConfig`],
//! which draws the conversations' members and the random workload and
//! faults from its seed; scripted actions can be added before it runs.

use super::outcome::Outcome;
use super::{Progress, World};
use crate::message::StreamId;
use crate::sim::check::ClientId;
use crate::sim::rng::SimRng;
use crate::sim::scenario::{conversation_stream, Action, SimConfig, SimError};
use alloc::format;
use alloc::vec::Vec;
use core::time::Duration;

/// A simulation: an IM server with a store (a
/// [`MemoryStore`](crate::store::MemoryStore), used through the
/// [`Store`](crate::store::Store) trait) and many clients with their own
/// databases, exchanging messages over faulty links on a virtual clock.
///
/// Build it from a [`SimConfig`] (which generates a random workload and
/// fault schedule from its seed), optionally add your own
/// [`Action`]s with [`schedule`](Simulation::schedule), then
/// [`run`](Simulation::run) it.
///
/// ```
/// use ackwire::sim::{Simulation, SimConfig};
///
/// let cfg = SimConfig { clients: 3, conversations: 2, members: 2, messages: 20, ..SimConfig::default() };
/// let outcome = Simulation::new(cfg).unwrap().run().unwrap();
/// assert!(outcome.is_clean(), "{}", outcome.report);
/// assert_eq!(outcome.report.stored, 20);
/// ```
pub struct Simulation {
    pub(super) cfg: SimConfig,
    pub(super) members: Vec<Vec<ClientId>>,
    pub(super) script: Vec<(Duration, Action)>,
    pub(super) rng: SimRng,
}

impl Simulation {
    /// A simulation of `cfg`: its conversations' members and its random
    /// workload and faults are drawn from `cfg.seed`.
    pub fn new(cfg: SimConfig) -> Result<Simulation, SimError> {
        if cfg.clients == 0 || cfg.conversations == 0 {
            return Err(SimError::Config("needs a client and a conversation".into()));
        }
        if cfg.members == 0 || cfg.members > cfg.clients {
            return Err(SimError::Config(format!(
                "members must be between 1 and the {} clients",
                cfg.clients
            )));
        }
        if cfg.alloc_step == 0 {
            return Err(SimError::Config("alloc_step must be at least 1".into()));
        }
        for p in [cfg.link.loss, cfg.link.duplicate, cfg.link.reorder] {
            if !(0.0..=1.0).contains(&p) {
                return Err(SimError::Config(format!("probability {p} is not in 0..=1")));
            }
        }
        if cfg.link.loss >= 1.0 {
            return Err(SimError::Config("a link that loses everything".into()));
        }
        let mut rng = SimRng::new(cfg.seed);
        let n = cfg.clients as usize;
        // Members: a random subset per conversation, then anyone left out
        // joins a random conversation.
        let mut members: Vec<Vec<ClientId>> = Vec::new();
        let mut all: Vec<u32> = (0..cfg.clients).collect();
        for _ in 0..cfg.conversations {
            for i in 0..cfg.members as usize {
                let j = i + rng.below((n - i) as u64) as usize;
                all.swap(i, j);
            }
            let mut m: Vec<ClientId> = all[..cfg.members as usize]
                .iter()
                .map(|&c| ClientId(c))
                .collect();
            m.sort_unstable();
            members.push(m);
        }
        for c in 0..cfg.clients {
            if !members.iter().any(|m| m.contains(&ClientId(c))) {
                let k = rng.below(u64::from(cfg.conversations)) as usize;
                members[k].push(ClientId(c));
                members[k].sort_unstable();
            }
        }
        let mut sim = Simulation {
            members,
            script: Vec::new(),
            rng,
            cfg,
        };
        sim.generate();
        Ok(sim)
    }

    /// The random workload and faults of the config.
    pub(super) fn generate(&mut self) {
        let cfg = &self.cfg;
        let rng = &mut self.rng;
        let at = |rng: &mut SimRng| rng.duration_upto(cfg.duration);
        let down = |rng: &mut SimRng| rng.duration_between(cfg.max_downtime / 10, cfg.max_downtime);
        for _ in 0..cfg.messages {
            let t = at(rng);
            let k = rng.below(self.members.len() as u64) as usize;
            let m = &self.members[k];
            let client = m[rng.below(m.len() as u64) as usize];
            let conversation = conversation_stream(k as u32);
            // Draws nothing when packages are off: older seeds keep their runs.
            let action = if rng.chance(cfg.package_share) {
                let size = 2 + rng.below(u64::from(cfg.max_package.max(2) - 1)) as u32;
                Action::SendPackage {
                    client,
                    conversation,
                    size,
                }
            } else {
                Action::Send {
                    client,
                    conversation,
                }
            };
            self.script.push((t, action));
        }
        for _ in 0..cfg.client_crashes {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            let down_for = down(rng);
            self.script
                .push((t, Action::CrashClient { client, down_for }));
        }
        for _ in 0..cfg.server_crashes {
            let t = at(rng);
            let down_for = down(rng);
            self.script.push((t, Action::CrashServer { down_for }));
        }
        for _ in 0..cfg.partitions {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            let down_for = down(rng);
            self.script
                .push((t, Action::Partition { client, down_for }));
        }
        for _ in 0..cfg.reinstalls {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            let down_for = down(rng);
            self.script
                .push((t, Action::Reinstall { client, down_for }));
        }
        for _ in 0..cfg.datagrams {
            let t = at(rng);
            let k = rng.below(self.members.len() as u64) as usize;
            let m = &self.members[k];
            let client = m[rng.below(m.len() as u64) as usize];
            let conversation = conversation_stream(k as u32);
            self.script.push((
                t,
                Action::Typing {
                    client,
                    conversation,
                },
            ));
        }
        for _ in 0..cfg.markers {
            let t = at(rng);
            let client = ClientId(rng.below(u64::from(cfg.clients)) as u32);
            self.script.push((t, Action::Marker { client }));
        }
    }

    /// The members of each conversation, by stream.
    pub fn conversations(&self) -> impl Iterator<Item = (StreamId, &[ClientId])> {
        self.members
            .iter()
            .enumerate()
            .map(|(k, m)| (conversation_stream(k as u32), m.as_slice()))
    }

    /// Replaces the members of `conversation` (for scripted scenarios).
    pub fn set_members(
        &mut self,
        conversation: StreamId,
        members: &[ClientId],
    ) -> Result<(), SimError> {
        let k = self.conversation_index(conversation)?;
        if let Some(c) = members.iter().find(|c| c.0 >= self.cfg.clients) {
            return Err(SimError::Config(format!("no {c}")));
        }
        let mut m = members.to_vec();
        m.sort_unstable();
        m.dedup();
        self.members[k] = m;
        Ok(())
    }

    /// Adds `action` at virtual time `at` (after any action already
    /// scheduled for the same time).
    pub fn schedule(&mut self, at: Duration, action: Action) {
        self.script.push((at, action));
    }

    /// Removes the random workload and faults drawn from the config,
    /// keeping the members: for fully scripted scenarios.
    pub fn clear_script(&mut self) {
        self.script.clear();
    }

    pub(super) fn conversation_index(&self, s: StreamId) -> Result<usize, SimError> {
        let k = s.0.wrapping_sub(1);
        if k < self.members.len() as u64 {
            Ok(k as usize)
        } else {
            Err(SimError::Config(format!("no conversation {}", s.0)))
        }
    }

    pub(super) fn validate(&self) -> Result<(), SimError> {
        let cfg = &self.cfg;
        let p = &cfg.protocol;
        // A package's members are held, uncommitted, until all are there:
        // it must fit the receiver's bounds and the sender's window.
        let max_package = (p.max_reorder_per_stream as u64)
            .min(p.max_held_messages as u64 / 4)
            .min(p.max_in_flight);
        if cfg.package_share > 0.0 && u64::from(cfg.max_package.max(2)) > max_package {
            return Err(SimError::Config(format!(
                "packages of up to {} members do not fit receivers holding {} per stream, \
                 {} in all, or a window of {}",
                cfg.max_package, p.max_reorder_per_stream, p.max_held_messages, p.max_in_flight
            )));
        }
        if !(0.0..=1.0).contains(&cfg.package_share) || !(0.0..=1.0).contains(&cfg.link.stale) {
            return Err(SimError::Config("a share outside 0..=1".into()));
        }
        if cfg.contiguous_conversations && cfg.server_crashes > 0 {
            return Err(SimError::Config(
                "contiguous conversations need a store that never skips: no server crashes".into(),
            ));
        }
        for (_, a) in &self.script {
            let client = match *a {
                Action::SendPackage {
                    client,
                    conversation,
                    size,
                } => {
                    let k = self.conversation_index(conversation)?;
                    if size == 0 || !self.members[k].contains(&client) {
                        return Err(SimError::Config(format!(
                            "{client}: an empty package, or not a member of {}",
                            conversation.0
                        )));
                    }
                    Some(client)
                }
                Action::Typing { client, .. } | Action::Marker { client } => Some(client),
                Action::Reinstall { client, .. } => Some(client),
                Action::CrashServer { .. } if cfg.contiguous_conversations => {
                    return Err(SimError::Config(
                        "contiguous conversations need a store that never skips".into(),
                    ));
                }
                Action::Send {
                    client,
                    conversation,
                } => {
                    let k = self.conversation_index(conversation)?;
                    if !self.members[k].contains(&client) {
                        return Err(SimError::Config(format!(
                            "{client} is not a member of conversation {}",
                            conversation.0
                        )));
                    }
                    Some(client)
                }
                Action::CrashClient { client, .. } | Action::Partition { client, .. } => {
                    Some(client)
                }
                Action::CrashServer { .. } => None,
            };
            if client.is_some_and(|c| c.0 >= self.cfg.clients) {
                return Err(SimError::Config(format!(
                    "no {}",
                    client.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Runs to the end: every scripted action, then every fault healed and
    /// the service left to settle until every client holds every message of
    /// its conversations (or nothing more can happen). Then the checker
    /// compares the clients' databases and acknowledgements with the
    /// server's store.
    pub fn run(self) -> Result<Outcome, SimError> {
        self.run_with_progress(|_| {})
    }

    /// [`run`](Simulation::run), calling `progress` now and then (it cannot
    /// change the run).
    pub fn run_with_progress(self, progress: impl FnMut(&Progress)) -> Result<Outcome, SimError> {
        self.validate()?;
        let mut world = World::new(self)?;
        world.run(progress)
    }
}

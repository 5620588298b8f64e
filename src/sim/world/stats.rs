//! The counters a run keeps for its report: the stats of closed
//! connections added up, the driver's own counts, and retransmits per
//! virtual second for the timeline.

use super::World;
use crate::receiver::ReceiverStats;
use crate::sender::SenderStats;

/// Stats of closed connections, plus the driver's own counters.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) down: SenderStats,
    pub(super) up: SenderStats,
    pub(super) client_rx: ReceiverStats,
    pub(super) server_rx: ReceiverStats,
    pub(super) sent: u64,
    pub(super) acked: u64,
    pub(super) stored: u64,
    pub(super) delivered: u64,
    pub(super) committed: u64,
    pub(super) deduped: u64,
    pub(super) sync_pages: u64,
    pub(super) sync_messages: u64,
    pub(super) connections: u64,
    pub(super) disconnects: u64,
    pub(super) client_crashes: u64,
    pub(super) server_crashes: u64,
    pub(super) partitions: u64,
    pub(super) packets: u64,
    pub(super) lost: u64,
    pub(super) duplicated: u64,
    pub(super) packages: u64,
    pub(super) skipped_down: u64,
    pub(super) skipped_up: u64,
    pub(super) history_pages: u64,
    pub(super) history_messages: u64,
    pub(super) trimmed: u64,
    pub(super) datagrams_sent: u64,
    pub(super) datagrams_received: u64,
    pub(super) markers_received: u64,
    pub(super) stale_rejected: u64,
    pub(super) escalations_resent: u64,
    pub(super) reinstalls: u64,
}

pub(super) fn add_sender(a: &mut SenderStats, b: SenderStats) {
    a.sent += b.sent;
    a.retransmits += b.retransmits;
    a.fast_retransmits += b.fast_retransmits;
    a.escalated += b.escalated;
    a.stall_escalations += b.stall_escalations;
    a.acked += b.acked;
    a.skipped += b.skipped;
    a.packets += b.packets;
    a.datagrams += b.datagrams;
}

pub(super) fn add_receiver(a: &mut ReceiverStats, b: ReceiverStats) {
    a.delivered += b.delivered;
    a.duplicates += b.duplicates;
    a.dropped_full += b.dropped_full;
    a.chain_conflicts += b.chain_conflicts;
    a.acks_sent += b.acks_sent;
    a.sync_requests += b.sync_requests;
    a.gaps += b.gaps;
    a.packages_expired += b.packages_expired;
}

impl World {
    /// Retransmits per virtual second, for the timeline.
    pub(super) fn sample_retransmits(&mut self, last: bool) {
        let second = self.elapsed().as_secs() as usize;
        if !last && second <= self.retransmits_per_second.len() {
            return;
        }
        let total = self.retransmits_total();
        let delta = total - self.retransmits_sampled;
        self.retransmits_sampled = total;
        // The whole delta goes to the last second passed; skipped seconds
        // were quiet (nothing ran in between).
        while self.retransmits_per_second.len() + 1 < second.max(1) {
            self.retransmits_per_second.push(0);
        }
        self.retransmits_per_second.push(delta);
    }

    pub(super) fn retransmits_total(&self) -> u64 {
        let live: u64 = self
            .clients
            .iter()
            .filter_map(|c| c.conn.as_ref())
            .map(|cc| cc.conn.sender().stats().retransmits)
            .chain(
                self.server
                    .conns
                    .iter()
                    .flatten()
                    .map(|sc| sc.conn.sender().stats().retransmits),
            )
            .sum();
        live + self.counters.down.retransmits + self.counters.up.retransmits
    }
}

//! The end of a run: the checker is loaded with every history (the store,
//! each client's outbox, acks and skips) and the counters become the
//! [`Report`].

use super::stats::{add_receiver, add_sender};
use super::World;
use crate::message::Version;
use crate::sim::check::{Checker, ClientId, Tally, Violation};
use crate::sim::report::{Latency, Report};
use crate::sim::scenario::{marker_stream, outbox_stream, OUTBOX_BASE};
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

/// A finished run: the report and what the checker found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The numbers.
    pub report: Report,
    /// Every violation the checker found (empty on a correct run).
    pub violations: Vec<Violation>,
    /// The checker, loaded with the run's histories.
    pub checker: Checker,
    /// Why the run did not settle (empty if it did): it ended because
    /// nothing more could happen, with this still outstanding.
    pub unsettled: String,
}

impl Outcome {
    /// Whether nothing was lost, duplicated or reordered, and every sent
    /// message was confirmed.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.report.is_clean()
    }
}

impl World {
    pub(super) fn finish(&mut self, unsettled: String) -> Outcome {
        self.sample_retransmits(true);
        for c in 0..self.clients.len() {
            if let Some(cc) = self.clients[c].conn.as_ref() {
                add_sender(&mut self.counters.up, cc.conn.sender().stats());
                add_receiver(&mut self.counters.client_rx, cc.conn.receiver().stats());
            }
            if let Some(sc) = self.server.conns[c].as_ref() {
                add_sender(&mut self.counters.down, sc.conn.sender().stats());
                add_receiver(&mut self.counters.server_rx, sc.conn.receiver().stats());
            }
        }
        // The checker sees the store as it is, each message with the origin
        // recorded when the store took it (none for one it never gave).
        let mut checker = core::mem::take(&mut self.checker);
        let mut versions_skipped = 0;
        let contents = self.server.store.contents();
        for (stream, _) in &contents {
            checker.retention(*stream, self.server.store.trimmed(*stream));
        }
        for (stream, chain) in &contents {
            let origins = self.server.origins.get(stream);
            for &(version, prev) in chain {
                let origin = origins.and_then(|o| o.get(&version)).copied();
                checker.stored(*stream, version, origin);
                versions_skipped += version.0.saturating_sub(prev.0).saturating_sub(1);
            }
        }
        let mut unconfirmed = 0;
        for (i, cl) in self.clients.iter().enumerate() {
            let id = ClientId(i as u32);
            for &k in &cl.conversations {
                checker.member(id, k);
            }
            let outbox = outbox_stream(id);
            for ov in 1..=cl.db.outbox.len() as u64 {
                checker.sent(id, outbox, Version(ov));
            }
            for (&ov, &resent) in &cl.db.skipped {
                checker.skipped_up(id, outbox, Version(ov), Some(Version(resent)));
            }
            for n in 1..=cl.db.markers {
                checker.at_least_once_sent(id, marker_stream(id), Version(n));
            }
            for &ov in &cl.db.acked {
                checker.acked(id, outbox, Version(ov));
            }
            for (&ov, &(k, v)) in &cl.db.receipts {
                checker.receipt(id, outbox, Version(ov), k, v);
            }
            unconfirmed += (cl.db.outbox.len() - cl.db.settled()) as u64;
            unconfirmed += cl.db.markers - cl.db.markers_acked.len() as u64;
        }
        let violations = checker.check();
        let k = &self.counters;
        let latencies: Vec<Duration> = self.deliveries.iter().map(|d| d.latency).collect();
        let report = Report {
            seed: self.cfg.seed,
            clients: self.cfg.clients,
            conversations: self.members.len() as u32,
            members: self.cfg.members,
            link: self.cfg.link.clone(),
            sent: k.sent,
            acked: k.acked,
            unconfirmed,
            stored: k.stored,
            delivered: k.delivered,
            committed: k.committed,
            pushed: k.down.sent,
            uploaded: k.up.sent,
            retransmits_down: k.down.retransmits,
            retransmits_up: k.up.retransmits,
            fast_retransmits: k.down.fast_retransmits + k.up.fast_retransmits,
            duplicates_dropped: k.client_rx.duplicates + k.server_rx.duplicates,
            duplicates_deduped: k.deduped,
            gaps: k.client_rx.gaps + k.server_rx.gaps,
            sync_requests: k.client_rx.sync_requests + k.server_rx.sync_requests,
            sync_pages: k.sync_pages,
            sync_messages: k.sync_messages,
            escalations: k.down.escalated + k.up.escalated,
            stall_escalations: k.down.stall_escalations + k.up.stall_escalations,
            connections: k.connections,
            disconnects: k.disconnects,
            client_crashes: k.client_crashes,
            server_crashes: k.server_crashes,
            partitions: k.partitions,
            versions_skipped,
            packets: k.packets,
            packets_lost: k.lost,
            packets_duplicated: k.duplicated,
            packages: k.packages,
            packages_expired: k.client_rx.packages_expired + k.server_rx.packages_expired,
            skipped_down: k.skipped_down,
            skipped_up: k.skipped_up,
            history_pages: k.history_pages,
            history_messages: k.history_messages,
            trimmed: k.trimmed,
            datagrams_sent: k.datagrams_sent,
            datagrams_received: k.datagrams_received,
            markers_received: k.markers_received,
            stale_rejected: k.stale_rejected,
            escalations_resent: k.escalations_resent,
            reinstalls: k.reinstalls,
            virtual_time: self.elapsed(),
            steps: self.steps,
            latency: Latency::of(&latencies),
            deliveries: core::mem::take(&mut self.deliveries),
            retransmits_per_second: core::mem::take(&mut self.retransmits_per_second),
            violations: Tally::of(&violations),
            settled: unsettled.is_empty(),
            trace_hash: self.trace.0,
        };
        debug_assert!(contents.iter().all(|(k, _)| k.0 < OUTBOX_BASE));
        Outcome {
            report,
            violations,
            checker,
            unsettled,
        }
    }
}

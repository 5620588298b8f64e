//! What a run did, as numbers and as a table a person reads.

use super::check::Tally;
use super::link::LinkConfig;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

/// Delivery latency: from the moment the author's app sent a message to
/// the moment another member's app had it delivered, on the virtual clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Deliveries measured.
    pub samples: u64,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Latency {
    /// The summary of `samples` (any order).
    pub fn of(samples: &[Duration]) -> Latency {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        // Nearest rank: the smallest sample with at least p% at or below it.
        let rank = |p: usize| -> Duration {
            if sorted.is_empty() {
                return Duration::ZERO;
            }
            let i = (sorted.len() * p).div_ceil(100).max(1) - 1;
            sorted[i.min(sorted.len() - 1)]
        };
        Latency {
            samples: sorted.len() as u64,
            p50: rank(50),
            p99: rank(99),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

/// One delivery on the timeline: when it happened and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Virtual time of the delivery.
    pub at: Duration,
    /// Time since the author sent the message.
    pub latency: Duration,
}

/// Everything a run counted. Two runs with the same configuration and seed
/// produce equal reports, down to [`trace_hash`](Report::trace_hash).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// Clients.
    pub clients: u32,
    /// Conversations (streams in the server's store).
    pub conversations: u32,
    /// Members per conversation.
    pub members: u32,
    /// The links' faults.
    pub link: LinkConfig,
    /// Messages the clients' users sent.
    pub sent: u64,
    /// Of those, confirmed to their author as stored (acked).
    pub acked: u64,
    /// Sent messages never confirmed to their author by the end.
    pub unconfirmed: u64,
    /// Messages in the server's store.
    pub stored: u64,
    /// Deliveries to client apps (each member gets each message).
    pub delivered: u64,
    /// Messages client apps wrote to their databases.
    pub committed: u64,
    /// DATA frames the server sent the first time (pushes and sync pages).
    pub pushed: u64,
    /// DATA frames the clients sent the first time (upstream messages).
    pub uploaded: u64,
    /// DATA frames the server sent again.
    pub retransmits_down: u64,
    /// DATA frames the clients sent again.
    pub retransmits_up: u64,
    /// Of all retransmits, those sent on gap evidence before the timer.
    pub fast_retransmits: u64,
    /// Duplicate frames receivers recognised and dropped (both directions).
    pub duplicates_dropped: u64,
    /// Upstream messages the server had already stored (by client and
    /// outbox version) and did not store again.
    pub duplicates_deduped: u64,
    /// Gaps receivers reported.
    pub gaps: u64,
    /// Sync requests receivers wrote (retries included).
    pub sync_requests: u64,
    /// Sync pages answered from a store (server) or an outbox (client).
    pub sync_pages: u64,
    /// Messages in those pages.
    pub sync_messages: u64,
    /// Messages senders gave up on (then fetched by sync).
    pub escalations: u64,
    /// Of those, given up to unblock a stalled window.
    pub stall_escalations: u64,
    /// Connections opened.
    pub connections: u64,
    /// Connections torn down (escalation, peer death, crash).
    pub disconnects: u64,
    /// Client processes crashed.
    pub client_crashes: u64,
    /// Server processes crashed.
    pub server_crashes: u64,
    /// Links partitioned.
    pub partitions: u64,
    /// Versions the store never used: gaps in its conversations' chains.
    /// Each server crash restarts the store's allocator from its persisted
    /// bounds, so versions skip ahead (by less than two allocator steps
    /// per conversation) rather than repeat.
    pub versions_skipped: u64,
    /// Packets written by all endpoints.
    pub packets: u64,
    /// Packets the network lost (partitions included).
    pub packets_lost: u64,
    /// Packets the network duplicated.
    pub packets_duplicated: u64,
    /// Packages the server stored (each once).
    pub packages: u64,
    /// Packages receivers gave up (`PackageExpired`), both directions.
    pub packages_expired: u64,
    /// Downstream messages clients settled without storing
    /// (`SenderEvent::Skipped` at the server).
    pub skipped_down: u64,
    /// Upstream messages the server skipped (the author resent them).
    pub skipped_up: u64,
    /// History pages clients stored.
    pub history_pages: u64,
    /// Messages in them, stored.
    pub history_messages: u64,
    /// Answers that told a client its sync or history request reached
    /// versions the store's retention trimmed (`ReceiverEvent::Trimmed`).
    pub trimmed: u64,
    /// At-most-once datagrams sent by clients.
    pub datagrams_sent: u64,
    /// Datagrams received, at the server and relayed to clients.
    pub datagrams_received: u64,
    /// At-least-once read markers the server app received (repeats
    /// included).
    pub markers_received: u64,
    /// Late packets of earlier connections the current one rejected.
    pub stale_rejected: u64,
    /// Escalated messages the apps sent again on the same connection.
    pub escalations_resent: u64,
    /// Clients reinstalled (their conversations wiped).
    pub reinstalls: u64,
    /// Virtual time at the end.
    pub virtual_time: Duration,
    /// Simulation steps.
    pub steps: u64,
    /// Delivery latency.
    pub latency: Latency,
    /// Every measured delivery, in time order.
    pub deliveries: Vec<Delivery>,
    /// Retransmits (both directions) per virtual second.
    pub retransmits_per_second: Vec<u64>,
    /// What the checker found.
    pub violations: Tally,
    /// Whether the run ended settled: every process up and connected,
    /// every message delivered and confirmed. A run that ends unsettled
    /// ended because nothing more could happen.
    pub settled: bool,
    /// A hash of everything that happened (every packet, delivery and
    /// write, with its time): equal hashes mean equal runs.
    pub trace_hash: u64,
}

impl Report {
    /// Whether the checker found nothing and every sent message was
    /// confirmed.
    pub fn is_clean(&self) -> bool {
        self.violations.is_clean() && self.unconfirmed == 0 && self.settled
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A probability as a percentage with one decimal, without float formatting
/// differences between platforms.
struct Pct(f64);

impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 1000.0 + 0.5) as u64;
        write!(f, "{}.{}%", tenths / 10, tenths % 10)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ackwire sim, seed {}: {} clients, {} conversations of {} members",
            self.seed, self.clients, self.conversations, self.members
        )?;
        writeln!(
            f,
            "network: {} ms + up to {} ms jitter, loss {}, duplication {}, reordering {}",
            ms(self.link.latency),
            ms(self.link.jitter),
            Pct(self.link.loss),
            Pct(self.link.duplicate),
            Pct(self.link.reorder)
        )?;
        writeln!(
            f,
            "faults: {} client {}, {} server {}, {} {}",
            self.client_crashes,
            plural(self.client_crashes, "crash", "crashes"),
            self.server_crashes,
            plural(self.server_crashes, "crash", "crashes"),
            self.partitions,
            plural(self.partitions, "partition", "partitions")
        )?;
        let line = "  ---------------------------------------------------------";
        writeln!(f, "{line}")?;
        let row = |f: &mut fmt::Formatter<'_>, k: &str, v: &dyn fmt::Display| {
            writeln!(f, "  {k:<44} {v:>12}")
        };
        row(f, "messages sent by clients", &self.sent)?;
        row(f, "  stored by the server (once each)", &self.stored)?;
        row(f, "  confirmed to their author (acked)", &self.acked)?;
        row(f, "delivered to member apps", &self.delivered)?;
        row(f, "  written to the apps' databases", &self.committed)?;
        row(
            f,
            "first transmissions down / up",
            &Pair(self.pushed, self.uploaded),
        )?;
        row(
            f,
            "retransmits down / up",
            &Pair(self.retransmits_down, self.retransmits_up),
        )?;
        row(f, "  of which fast retransmits", &self.fast_retransmits)?;
        row(
            f,
            "duplicates dropped by receivers",
            &self.duplicates_dropped,
        )?;
        row(
            f,
            "duplicates dropped by the server's store",
            &self.duplicates_deduped,
        )?;
        row(f, "gaps detected", &self.gaps)?;
        row(f, "sync requests (retries included)", &self.sync_requests)?;
        row(
            f,
            "sync pages answered / messages in them",
            &Pair(self.sync_pages, self.sync_messages),
        )?;
        row(
            f,
            "escalations (given up, fetched by sync)",
            &self.escalations,
        )?;
        row(
            f,
            "packages stored / given up by receivers",
            &Pair(self.packages, self.packages_expired),
        )?;
        row(
            f,
            "skipped (not stored) down / up",
            &Pair(self.skipped_down, self.skipped_up),
        )?;
        row(
            f,
            "reinstalls / history pages / messages",
            &Triple(self.reinstalls, self.history_pages, self.history_messages),
        )?;
        if self.trimmed > 0 {
            row(f, "told of trimmed history (retention)", &self.trimmed)?;
        }
        row(
            f,
            "datagrams sent / received",
            &Pair(self.datagrams_sent, self.datagrams_received),
        )?;
        row(
            f,
            "read markers received (at least once)",
            &self.markers_received,
        )?;
        row(
            f,
            "escalations resent by the apps",
            &self.escalations_resent,
        )?;
        row(f, "stale packets rejected", &self.stale_rejected)?;
        row(
            f,
            "connections opened / torn down",
            &Pair(self.connections, self.disconnects),
        )?;
        row(
            f,
            "versions skipped (store restarts)",
            &self.versions_skipped,
        )?;
        row(
            f,
            "packets sent / lost / duplicated",
            &Triple(self.packets, self.packets_lost, self.packets_duplicated),
        )?;
        row(f, "virtual time", &Ms(self.virtual_time))?;
        row(
            f,
            "trace hash (same seed, same hash)",
            &Hex(self.trace_hash),
        )?;
        row(f, "delivery latency p50", &Ms(self.latency.p50))?;
        row(f, "delivery latency p99", &Ms(self.latency.p99))?;
        row(f, "delivery latency max", &Ms(self.latency.max))?;
        writeln!(f, "{line}")?;
        row(f, "checker: lost", &self.violations.lost)?;
        row(f, "checker: duplicated", &self.violations.duplicated)?;
        row(f, "checker: out of order", &self.violations.out_of_order)?;
        row(
            f,
            "checker: unknown (not in the store)",
            &self.violations.unknown,
        )?;
        row(
            f,
            "checker: receipts naming another message",
            &self.violations.wrong_receipts,
        )?;
        row(
            f,
            "checker: acked but never committed",
            &self.violations.acked_not_committed,
        )?;
        row(
            f,
            "checker: history without a reason",
            &self.violations.unexplained,
        )?;
        row(f, "sent but never confirmed", &self.unconfirmed)?;
        row(
            f,
            "settled at the end",
            &if self.settled { "yes" } else { "NO" },
        )?;
        Ok(())
    }
}

struct Pair(u64, u64);
impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&alloc::format!("{} / {}", self.0, self.1))
    }
}

struct Triple(u64, u64, u64);
impl fmt::Display for Triple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&alloc::format!("{} / {} / {}", self.0, self.1, self.2))
    }
}

struct Hex(u64);
impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&alloc::format!("{:016x}", self.0))
    }
}

struct Ms(Duration);
impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&alloc::format!("{} ms", ms(self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let d = Duration::from_millis;
        let samples: Vec<Duration> = (1..=100).rev().map(d).collect();
        let l = Latency::of(&samples);
        assert_eq!(
            (l.samples, l.p50, l.p99, l.max),
            (100, d(50), d(99), d(100))
        );
        assert_eq!(Latency::of(&[]), Latency::default());
        assert_eq!(Latency::of(&[d(7)]).p99, d(7));
    }

    #[test]
    fn table_has_the_checker_lines() {
        let text = alloc::format!("{}", Report::default());
        assert!(text.contains("checker: lost"));
        assert!(text.contains("checker: out of order"));
        assert!(text.contains("0.0%"));
    }
}

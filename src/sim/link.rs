//! The network between the server and one client: latency, jitter, loss,
//! duplication, reordering, and partitions (the link down for a while).

use super::rng::SimRng;
use core::time::Duration;

/// How one client's link to the server misbehaves, the same in both
/// directions. Probabilities are per packet, from 0.0 to 1.0.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way delay every packet takes at least.
    pub latency: Duration,
    /// Extra delay, uniform in `0..=jitter` per packet (reorders packets
    /// sent close together).
    pub jitter: Duration,
    /// Chance a packet is lost.
    pub loss: f64,
    /// Chance a packet arrives twice (each copy with its own delay).
    pub duplicate: f64,
    /// Chance a packet is held back by another one to three latencies, so
    /// packets sent well after it overtake it.
    pub reorder: f64,
    /// Chance a packet is held back by one to five seconds, so that it may
    /// arrive after its connection was replaced. A packet of an earlier
    /// connection (late by this fault or by plain latency) is delivered to
    /// the client's current connection, as on a datagram transport, which
    /// must reject it by its connection id (`InputError::OtherConnection`).
    pub stale: f64,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            latency: Duration::from_millis(30),
            jitter: Duration::from_millis(20),
            loss: 0.10,
            duplicate: 0.02,
            reorder: 0.05,
            stale: 0.0,
        }
    }
}

impl LinkConfig {
    /// A perfect link with `latency`: no jitter, loss, duplication or
    /// reordering.
    pub fn clean(latency: Duration) -> LinkConfig {
        LinkConfig {
            latency,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            stale: 0.0,
        }
    }

    /// What becomes of one packet put on the link: the delay of each copy
    /// that arrives (none if lost, two if duplicated).
    pub fn transmit(&self, rng: &mut SimRng) -> Copies {
        let mut copies = Copies::default();
        let n = if rng.chance(self.duplicate) { 2 } else { 1 };
        for _ in 0..n {
            if rng.chance(self.loss) {
                continue;
            }
            let mut delay = self.latency + rng.duration_upto(self.jitter);
            if rng.chance(self.reorder) {
                let held = self.latency.max(Duration::from_millis(1));
                delay += rng.duration_between(held, held * 3);
            }
            if rng.chance(self.stale) {
                delay += rng.duration_between(Duration::from_secs(1), Duration::from_secs(5));
            }
            copies.delays[copies.len] = delay;
            copies.len += 1;
        }
        copies
    }
}

/// The copies of one packet that arrive, with their delays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copies {
    delays: [Duration; 2],
    len: usize,
}

impl Copies {
    /// The delay of each arriving copy.
    pub fn delays(&self) -> &[Duration] {
        &self.delays[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_happen_at_their_rates() {
        let link = LinkConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(5),
            loss: 0.25,
            duplicate: 0.10,
            reorder: 0.0,
            stale: 0.0,
        };
        let mut rng = SimRng::new(3);
        let (mut arrived, mut late) = (0, 0);
        for _ in 0..10_000 {
            for d in link.transmit(&mut rng).delays() {
                arrived += 1;
                assert!(*d >= Duration::from_millis(10) && *d <= Duration::from_millis(15));
                late += usize::from(*d > Duration::from_millis(15));
            }
        }
        // 1.1 copies sent per packet, 75 % of them arrive: ~8,250.
        assert!((7_900..8_600).contains(&arrived), "{arrived}");
        assert_eq!(late, 0);
        let clean = LinkConfig::clean(Duration::from_millis(1));
        assert_eq!(
            clean.transmit(&mut rng).delays(),
            &[Duration::from_millis(1)]
        );
    }
}

//! Round-trip time estimation and the retransmission timeout (RFC 6298).

use core::time::Duration;

/// Smoothed RTT and variance; the RTO derived from them.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    initial: Duration,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    pub(crate) fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            initial,
            min_rto,
            max_rto: max_rto.max(min_rto),
        }
    }

    /// Feeds one sample. The caller has already applied Karn's rule (no
    /// samples from retransmitted messages) and removed the peer's ack delay.
    pub(crate) fn on_sample(&mut self, rtt: Duration) {
        let (srtt, rttvar) = match self.srtt {
            None => (rtt, rtt / 2),
            Some(srtt) => {
                let err = srtt.abs_diff(rtt);
                ((srtt * 7 + rtt) / 8, (self.rttvar * 3 + err) / 4)
            }
        };
        // Whole microseconds, the unit of `Instant` and of snapshots: a
        // restored estimator then computes exactly the same deadlines.
        self.srtt = Some(whole_micros(srtt));
        self.rttvar = whole_micros(rttvar);
    }

    /// Puts back a snapshot's estimate.
    pub(crate) fn restore(&mut self, srtt: Option<Duration>, rttvar: Duration) {
        self.srtt = srtt;
        self.rttvar = rttvar;
    }

    /// The smoothed RTT, if any sample was taken.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The RTT's mean deviation (zero before any sample).
    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// SRTT + max(4·RTTVAR, 1 ms): how long an ack may take before it is
    /// overdue, by the RTT's own measure (`None` before any sample).
    fn overdue_after(&self) -> Option<Duration> {
        Some(self.srtt? + (self.rttvar * 4).max(Duration::from_millis(1)))
    }

    /// RTO = SRTT + 4·RTTVAR, clamped; `initial` before any sample.
    pub(crate) fn rto(&self) -> Duration {
        let raw = self.overdue_after().unwrap_or(self.initial);
        raw.clamp(self.min_rto, self.max_rto)
    }

    /// The tail-loss probe's timeout (QUIC's PTO): the same measure plus the
    /// peer's allowed ack delay, unclamped (`None` before any sample).
    pub(crate) fn probe_timeout(&self, ack_delay: Duration) -> Option<Duration> {
        Some(self.overdue_after()? + ack_delay)
    }

    /// The RTO doubled `backoff` times, capped at the maximum.
    pub(crate) fn backed_off(&self, backoff: u32) -> Duration {
        let factor = 1u32.checked_shl(backoff.min(31)).unwrap_or(u32::MAX);
        self.rto().saturating_mul(factor).min(self.max_rto)
    }
}

fn whole_micros(d: Duration) -> Duration {
    Duration::new(d.as_secs(), d.subsec_micros() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn follows_rfc6298() {
        let mut r = RttEstimator::new(ms(1000), ms(10), ms(60_000));
        assert_eq!(r.rto(), ms(1000));
        r.on_sample(ms(100));
        assert_eq!(r.srtt(), Some(ms(100)));
        assert_eq!(r.rto(), ms(300), "srtt + 4 * srtt/2");
        r.on_sample(ms(200));
        // rttvar = 3/4*50 + 1/4*100 = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.rto(), Duration::from_micros(112_500 + 250_000));
    }

    #[test]
    fn rto_follows_rtt_changes_and_backoff_caps() {
        let mut r = RttEstimator::new(ms(1000), ms(10), ms(5_000));
        for _ in 0..50 {
            r.on_sample(ms(40));
        }
        let low = r.rto();
        assert!(low < ms(60), "{low:?}");
        for _ in 0..50 {
            r.on_sample(ms(400));
        }
        assert!(r.rto() >= ms(400) && r.rto() < ms(600), "{:?}", r.rto());
        assert_eq!(r.backed_off(1), r.rto() * 2);
        assert_eq!(r.backed_off(40), ms(5_000));
    }
}

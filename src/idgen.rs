//! Time-based 64-bit ids (snowflake style, M9): unique per node without
//! coordination, roughly ordered by time across nodes.

use thiserror::Error;

/// How an id's 64 bits are split, and what one tick of time is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdLayout {
    /// Bits of time, in ticks since `epoch_ms`; the top of the id.
    pub time_bits: u32,
    /// Bits of node id, between time and counter.
    pub node_bits: u32,
    /// Bits of per-tick counter; the bottom of the id.
    pub counter_bits: u32,
    /// Milliseconds per tick (the timestamp's precision).
    pub tick_ms: u64,
    /// Unix time in milliseconds where tick 0 starts.
    pub epoch_ms: u64,
}

impl Default for IdLayout {
    /// 41 time bits of 1 ms from 2024-01-01T00:00:00Z, 10 node bits, 12
    /// counter bits: 63 bits in all, ≈ 69.7 years.
    fn default() -> IdLayout {
        IdLayout {
            time_bits: 41,
            node_bits: 10,
            counter_bits: 12,
            tick_ms: 1,
            epoch_ms: 1_704_067_200_000,
        }
    }
}

/// The fields of an id, as [`IdLayout::decode`] reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdParts {
    /// Ticks since the layout's epoch (logical time).
    pub tick: u64,
    /// The node that issued it.
    pub node: u64,
    /// Its place within the tick.
    pub counter: u64,
}

/// Why [`IdGenerator::new`] refused a layout or node.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdConfigError {
    /// Ids need at least one bit of time to be time-ordered.
    #[error("time_bits must be at least 1")]
    NoTimeBits,
    /// The fields add up to more than 64 bits.
    #[error("layout needs {0} bits, ids have 64")]
    TooWide(u32),
    /// A tick of zero milliseconds.
    #[error("tick_ms must be at least 1")]
    ZeroTick,
    /// The node id does not fit in `node_bits`.
    #[error("node {node} out of range (max {max})")]
    NodeOutOfRange {
        /// The node id given.
        node: u64,
        /// The largest node id the layout holds.
        max: u64,
    },
}

/// Why [`IdGenerator::next_id`] issued no id. Nothing changed.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The next id would need a tick past the last one `time_bits` holds.
    #[error("time bits exhausted")]
    TimeExhausted,
}

/// The largest value of `bits` bits, without overflowing at 64.
const fn max_of(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

impl IdLayout {
    /// Checks the layout: at least one time bit, 64 bits in all at most, a
    /// tick of at least 1 ms.
    pub fn validate(&self) -> Result<(), IdConfigError> {
        if self.time_bits == 0 {
            return Err(IdConfigError::NoTimeBits);
        }
        let total = self
            .time_bits
            .saturating_add(self.node_bits)
            .saturating_add(self.counter_bits);
        if total > 64 {
            return Err(IdConfigError::TooWide(total));
        }
        if self.tick_ms == 0 {
            return Err(IdConfigError::ZeroTick);
        }
        Ok(())
    }

    /// The largest node id.
    pub fn max_node(&self) -> u64 {
        max_of(self.node_bits)
    }

    /// The largest tick, after which time runs out.
    pub fn max_tick(&self) -> u64 {
        max_of(self.time_bits)
    }

    /// Ids one node issues per tick before it borrows the next tick.
    pub fn ids_per_tick(&self) -> u128 {
        u128::from(max_of(self.counter_bits)) + 1
    }

    /// Milliseconds from the epoch until time runs out (saturating).
    pub fn range_ms(&self) -> u64 {
        self.max_tick()
            .saturating_add(1)
            .saturating_mul(self.tick_ms)
    }

    /// The fields of `id` (for a valid layout).
    pub fn decode(&self, id: u64) -> IdParts {
        let node_shift = self.counter_bits.saturating_add(self.node_bits);
        IdParts {
            tick: id.checked_shr(node_shift).unwrap_or(0) & self.max_tick(),
            node: id.checked_shr(self.counter_bits).unwrap_or(0) & self.max_node(),
            counter: id & max_of(self.counter_bits),
        }
    }

    /// The Unix time in milliseconds of `id`'s tick (logical: may be ahead
    /// of the wall clock that issued it).
    pub fn unix_ms(&self, id: u64) -> u64 {
        self.decode(id)
            .tick
            .saturating_mul(self.tick_ms)
            .saturating_add(self.epoch_ms)
    }

    fn compose(&self, tick: u64, node: u64, counter: u64) -> u64 {
        let node_shift = self.counter_bits + self.node_bits;
        // Shifts below 64 except where the shifted field has no bits (and is 0).
        tick.checked_shl(node_shift).unwrap_or(0)
            | node.checked_shl(self.counter_bits).unwrap_or(0)
            | counter
    }

    fn tick_of(&self, wall_clock_ms: u64) -> u64 {
        wall_clock_ms.saturating_sub(self.epoch_ms) / self.tick_ms
    }
}

/// Issues strictly increasing, never repeated 64-bit ids for one node, from
/// the caller's wall clock (snowflake style, M9).
///
/// ## Layout
/// The default layout, [`IdLayout::default`] (Twitter's snowflake):
///
/// ```text
///  63  62                                        22 21          12 11           0
/// +---+--------------------------------------------+--------------+-------------+
/// | 0 | tick: 41 bits, ms since the epoch          | node: 10 bits| counter: 12 |
/// +---+--------------------------------------------+--------------+-------------+
/// ```
///
/// High bits beyond `time_bits + node_bits + counter_bits` stay zero; the
/// default uses 63 so ids are positive as a signed 64-bit integer too. With
/// 1 ms ticks, 41 time bits last 2^41 ms ≈ 69.7 years from the epoch
/// (2024-01-01, so until 2093); 1024 nodes; 4096 ids per node per tick. A
/// sonyflake-like layout (39 time bits of 10 ms, 16 node bits, 8 counter
/// bits) lasts ≈ 174 years with 256 ids per 10 ms.
///
/// ## A clock that goes backwards
/// The generator keeps a *logical* tick: the maximum of the last tick used
/// and the wall clock's. When the wall clock jumps back, ids go on from the
/// last tick; when a tick's counter is used up, the next tick is borrowed.
/// It never repeats an id and never waits (cf. sonyflake issue 39, twitter
/// snowflake issue 6, where a backwards clock blocked or failed).
///
/// ## Limits
/// - **Running ahead.** Logical time is ahead of the wall clock by the size
///   of the last backwards jump not yet caught up, plus one tick per
///   `ids_per_tick` ids asked beyond the rate the layout allows. It is not
///   capped: ids stay unique, only their timestamps drift.
///   [`IdGenerator::lead_ms`] reports the drift, to alarm or throttle on.
/// - **Restarts.** The logical tick lives in memory. A node that restarts
///   while ahead of its wall clock must not reuse its node id before the
///   clock passes its last id, or must call [`IdGenerator::resume_after`]
///   with the last id it issued (persisted by the caller).
/// - **End of time.** Once the last id is issued (largest tick and
///   counter; for any layout, 64 time bits included), or
///   [`resume_after`](IdGenerator::resume_after) it,
///   [`next_id`](IdGenerator::next_id) fails with
///   [`IdError::TimeExhausted`] for good; pick a later epoch or more time
///   bits for a new id space. A wall-clock reading past the last tick fails
///   that call alone and changes nothing.
/// - Wall-clock readings before the epoch count as tick 0.
///
/// ```
/// use ackwire::{IdGenerator, IdLayout};
///
/// let layout = IdLayout::default();
/// let mut ids = IdGenerator::new(layout, 7).unwrap();
/// let now_ms = 1_750_000_000_000; // from the caller's wall clock
/// let a = ids.next_id(now_ms).unwrap();
/// // The clock steps back a second: ids still increase.
/// let b = ids.next_id(now_ms - 1_000).unwrap();
/// assert!(b > a);
/// assert_eq!(layout.decode(b).node, 7);
/// assert_eq!(layout.unix_ms(b), now_ms);
/// ```
#[derive(Clone, Debug)]
pub struct IdGenerator {
    layout: IdLayout,
    node: u64,
    /// The logical tick: never behind any tick used before.
    tick: u64,
    /// The counter the next id in `tick` gets; past the maximum, the next id
    /// borrows the following tick.
    next_counter: u64,
}

impl IdGenerator {
    /// A generator for `node` with `layout`, both validated.
    pub fn new(layout: IdLayout, node: u64) -> Result<IdGenerator, IdConfigError> {
        layout.validate()?;
        if node > layout.max_node() {
            return Err(IdConfigError::NodeOutOfRange {
                node,
                max: layout.max_node(),
            });
        }
        Ok(IdGenerator {
            layout,
            node,
            tick: 0,
            next_counter: 0,
        })
    }

    /// The layout ids follow.
    pub fn layout(&self) -> IdLayout {
        self.layout
    }

    /// This generator's node id.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// The next id, given the wall clock in Unix milliseconds. Greater than
    /// every id this generator issued before, whatever the clock does.
    ///
    /// Fails with [`IdError::TimeExhausted`], changing nothing, when the id
    /// would need a tick past [`IdLayout::max_tick`]: for good once the last
    /// tick's counter is used up (for every layout, 64 time bits included);
    /// for this call only when the wall clock alone is past the end.
    pub fn next_id(&mut self, wall_clock_ms: u64) -> Result<u64, IdError> {
        let mut tick = self.tick;
        let mut counter = self.next_counter;
        let now = self.layout.tick_of(wall_clock_ms);
        if now > tick {
            tick = now;
            counter = 0;
        }
        if counter > max_of(self.layout.counter_bits) {
            // This tick is used up: borrow the next instead of waiting for it.
            // With 64 time bits there is none after `u64::MAX`: not
            // saturating here is what keeps the last id from repeating.
            tick = tick.checked_add(1).ok_or(IdError::TimeExhausted)?;
            counter = 0;
        }
        if tick > self.layout.max_tick() {
            return Err(IdError::TimeExhausted);
        }
        self.tick = tick;
        self.next_counter = counter + 1;
        Ok(self.layout.compose(tick, self.node, counter))
    }

    /// How many milliseconds the logical clock is ahead of `wall_clock_ms`
    /// (zero when it is not): the drift of recent ids' timestamps.
    pub fn lead_ms(&self, wall_clock_ms: u64) -> u64 {
        self.tick
            .saturating_sub(self.layout.tick_of(wall_clock_ms))
            .saturating_mul(self.layout.tick_ms)
    }

    /// Continue strictly after `last_id`, an id this node issued before (read
    /// back from storage after a restart), even if the wall clock is behind
    /// it. Never moves the generator backwards. After the layout's last id
    /// (largest tick and counter), every [`next_id`](IdGenerator::next_id)
    /// fails with [`IdError::TimeExhausted`].
    pub fn resume_after(&mut self, last_id: u64) {
        let parts = self.layout.decode(last_id);
        let next = (parts.tick, parts.counter.saturating_add(1));
        if next > (self.tick, self.next_counter) {
            (self.tick, self.next_counter) = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPOCH: u64 = 1_704_067_200_000;

    #[test]
    fn default_layout_lasts_about_seventy_years() {
        let l = IdLayout::default();
        l.validate().unwrap();
        let years = l.range_ms() as f64 / (365.25 * 24.0 * 3600.0 * 1000.0);
        assert!((69.0..70.0).contains(&years), "{years}");
        assert_eq!(l.max_node(), 1023);
        assert_eq!(l.ids_per_tick(), 4096);
    }

    #[test]
    fn fields_round_trip_through_the_id() {
        let l = IdLayout::default();
        let mut g = IdGenerator::new(l, 1023).unwrap();
        let id = g.next_id(EPOCH + 12_345).unwrap();
        assert_eq!(
            l.decode(id),
            IdParts {
                tick: 12_345,
                node: 1023,
                counter: 0
            }
        );
        assert_eq!(id >> 63, 0);
        assert_eq!(l.unix_ms(id), EPOCH + 12_345);
    }

    #[test]
    fn borrows_the_next_tick_when_the_counter_runs_out() {
        let l = IdLayout {
            counter_bits: 2,
            ..IdLayout::default()
        };
        let mut g = IdGenerator::new(l, 0).unwrap();
        let ids: [u64; 5] = core::array::from_fn(|_| g.next_id(EPOCH + 100).unwrap());
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(l.decode(ids[3]).tick, 100);
        assert_eq!(l.decode(ids[4]).tick, 101);
        assert_eq!(g.lead_ms(EPOCH + 100), 1);
        // The wall clock catching up ends the borrowing.
        let next = g.next_id(EPOCH + 102).unwrap();
        assert_eq!(l.decode(next).tick, 102);
        assert_eq!(g.lead_ms(EPOCH + 102), 0);
    }

    #[test]
    fn runs_out_of_time_with_an_error_and_no_repeat() {
        let l = IdLayout {
            time_bits: 2,
            node_bits: 0,
            counter_bits: 1,
            ..IdLayout::default()
        };
        let mut g = IdGenerator::new(l, 0).unwrap();
        let mut last = None;
        for _ in 0..8 {
            let id = g.next_id(EPOCH).unwrap();
            assert!(last < Some(id));
            last = Some(id);
        }
        assert_eq!(g.next_id(EPOCH), Err(IdError::TimeExhausted));
        assert_eq!(g.next_id(u64::MAX), Err(IdError::TimeExhausted));
    }

    #[test]
    fn full_width_layouts_do_not_overflow_shifts() {
        for (t, n, c) in [(64, 0, 0), (1, 0, 63), (1, 63, 0), (32, 16, 16)] {
            let l = IdLayout {
                time_bits: t,
                node_bits: n,
                counter_bits: c,
                tick_ms: 1,
                epoch_ms: 0,
            };
            let mut g = IdGenerator::new(l, l.max_node()).unwrap();
            let a = g.next_id(0).unwrap();
            let b = g.next_id(0).unwrap();
            assert!(a < b, "{t}/{n}/{c}");
            assert_eq!(l.decode(b).node, l.max_node());
        }
    }

    #[test]
    fn resumes_after_a_persisted_id() {
        let l = IdLayout::default();
        let mut g = IdGenerator::new(l, 3).unwrap();
        let last = g.next_id(EPOCH + 5_000).unwrap();
        let mut restarted = IdGenerator::new(l, 3).unwrap();
        restarted.resume_after(last);
        assert!(restarted.next_id(EPOCH + 1_000).unwrap() > last);
        restarted.resume_after(0);
        assert!(restarted.next_id(EPOCH).unwrap() > last);
    }
}

//! Time-based ids under a wall clock that jumps backwards and forwards,
//! bursts that use up a tick's counter, several nodes, invalid layouts, and
//! the end of time for every layout width up to 64 bits.

use ackwire::*;
use proptest::prelude::*;
use std::collections::HashSet;

const EPOCH: u64 = 1_704_067_200_000;

/// Small layouts so bursts really use up ticks and borrow ahead.
fn layout() -> impl Strategy<Value = IdLayout> {
    (
        30u32..=41,
        1u32..=10,
        0u32..=4,
        prop_oneof![Just(1u64), Just(10)],
    )
        .prop_map(|(time_bits, node_bits, counter_bits, tick_ms)| IdLayout {
            time_bits,
            node_bits,
            counter_bits,
            tick_ms,
            epoch_ms: EPOCH,
        })
}

/// A step of the wall clock (ms, may be negative) and a burst of ids at it.
fn steps() -> impl Strategy<Value = Vec<(i64, usize)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                4 => 0i64..5,
                2 => -50i64..0,
                1 => -100_000i64..100_000,
            ],
            prop_oneof![3 => 1usize..4, 1 => 1usize..70],
        ),
        1..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ids_increase_and_never_collide_across_nodes(
        layout in layout(),
        steps in steps(),
        start in 0u64..1_000_000,
    ) {
        let mut nodes = vec![0, 1, layout.max_node()];
        nodes.dedup();
        let mut gens: Vec<IdGenerator> =
            nodes.iter().map(|&n| IdGenerator::new(layout, n).unwrap()).collect();
        let mut last = vec![None; nodes.len()];
        let mut seen = HashSet::new();
        let mut clock = EPOCH + start;
        for (delta, burst) in steps {
            clock = clock.saturating_add_signed(delta);
            for (g, gen) in gens.iter_mut().enumerate() {
                for _ in 0..burst {
                    let id = gen.next_id(clock).unwrap();
                    prop_assert!(last[g] < Some(id), "node {} went back", nodes[g]);
                    last[g] = Some(id);
                    prop_assert!(seen.insert(id), "id {id:#x} issued twice");
                    let parts = layout.decode(id);
                    prop_assert_eq!(parts.node, nodes[g]);
                    // Logical time is never behind the wall clock.
                    prop_assert!(layout.unix_ms(id) + layout.tick_ms > clock);
                }
            }
        }
    }

    #[test]
    fn a_burst_within_one_tick_borrows_ahead(
        counter_bits in 0u32..=6,
        burst in 1usize..2_000,
    ) {
        let layout = IdLayout { counter_bits, ..IdLayout::default() };
        let mut gen = IdGenerator::new(layout, 5).unwrap();
        let now = EPOCH + 1_000;
        let mut prev = 0;
        for i in 0..burst {
            let id = gen.next_id(now).unwrap();
            prop_assert!(id > prev);
            prev = id;
            let per_tick = layout.ids_per_tick() as usize;
            prop_assert_eq!(layout.decode(id).tick, 1_000 + (i / per_tick) as u64);
            prop_assert_eq!(layout.decode(id).counter, (i % per_tick) as u64);
        }
        let per_tick = layout.ids_per_tick() as u64;
        prop_assert_eq!(gen.lead_ms(now), (burst as u64 - 1) / per_tick);
    }
}

#[test]
fn a_clock_stepping_back_an_hour_neither_repeats_nor_waits() {
    let layout = IdLayout::default();
    let mut gen = IdGenerator::new(layout, 9).unwrap();
    let now = EPOCH + 3_600_000 * 24;
    let before = gen.next_id(now).unwrap();
    let mut prev = before;
    for i in 0..10_000 {
        let id = gen.next_id(now - 3_600_000 + i / 10).unwrap();
        assert!(id > prev);
        prev = id;
    }
    // 10 000 ids in the old tick's counter space: 3 ticks borrowed.
    assert_eq!(gen.lead_ms(now), 2);
    assert_eq!(gen.lead_ms(now - 3_600_000), 3_600_002);
}

#[test]
fn invalid_layouts_and_nodes_are_rejected() {
    let ok = IdLayout::default();
    assert_eq!(
        IdGenerator::new(IdLayout { time_bits: 0, ..ok }, 0).err(),
        Some(IdConfigError::NoTimeBits)
    );
    assert_eq!(
        IdGenerator::new(
            IdLayout {
                time_bits: 43,
                ..ok
            },
            0
        )
        .err(),
        Some(IdConfigError::TooWide(65))
    );
    assert_eq!(
        IdGenerator::new(
            IdLayout {
                counter_bits: u32::MAX,
                ..ok
            },
            0
        )
        .err(),
        Some(IdConfigError::TooWide(u32::MAX))
    );
    assert_eq!(
        IdGenerator::new(IdLayout { tick_ms: 0, ..ok }, 0).err(),
        Some(IdConfigError::ZeroTick)
    );
    assert_eq!(
        IdGenerator::new(ok, 1024).err(),
        Some(IdConfigError::NodeOutOfRange {
            node: 1024,
            max: 1023
        })
    );
    assert!(IdGenerator::new(
        IdLayout {
            time_bits: 42,
            ..ok
        },
        1023
    )
    .is_ok());
    assert!(IdGenerator::new(IdLayout { node_bits: 0, ..ok }, 0).is_ok());
}

#[test]
fn a_sonyflake_layout_lasts_174_years() {
    let layout = IdLayout {
        time_bits: 39,
        node_bits: 16,
        counter_bits: 8,
        tick_ms: 10,
        epoch_ms: EPOCH,
    };
    layout.validate().unwrap();
    let years = layout.range_ms() / (365 * 24 * 3_600_000 + 6 * 3_600_000);
    assert_eq!(years, 174);
    let mut gen = IdGenerator::new(layout, 65_535).unwrap();
    let id = gen.next_id(EPOCH + 1_234).unwrap();
    assert_eq!(layout.unix_ms(id), EPOCH + 1_230);
}

#[test]
fn time_bits_running_out_is_an_error() {
    let layout = IdLayout {
        time_bits: 10,
        tick_ms: 1,
        ..IdLayout::default()
    };
    let mut gen = IdGenerator::new(layout, 0).unwrap();
    assert_eq!(gen.next_id(EPOCH + 1023), Ok(1023 << 22));
    assert_eq!(gen.next_id(EPOCH + 1023), Ok(1023 << 22 | 1));
    assert_eq!(gen.next_id(EPOCH + 1024), Err(IdError::TimeExhausted));
    let mut fresh = IdGenerator::new(layout, 0).unwrap();
    assert_eq!(fresh.next_id(EPOCH + 1024), Err(IdError::TimeExhausted));
    assert_eq!(fresh.next_id(EPOCH), Ok(0), "an error changes nothing");
}

/// The id with these fields (the layout's own composition, written again).
fn compose(layout: &IdLayout, tick: u64, node: u64, counter: u64) -> u64 {
    let id = u128::from(tick) << (layout.node_bits + layout.counter_bits)
        | u128::from(node) << layout.counter_bits
        | u128::from(counter);
    u64::try_from(id).expect("fields fit the layout")
}

fn max_counter(layout: &IdLayout) -> u64 {
    u64::try_from(layout.ids_per_tick() - 1).unwrap()
}

/// The tick a wall-clock reading falls in.
fn tick_of(layout: &IdLayout, wall_ms: u64) -> u64 {
    wall_ms.saturating_sub(layout.epoch_ms) / layout.tick_ms
}

/// The wall clock at the start of `tick` (or the latest reading there is).
fn wall_of(layout: &IdLayout, tick: u64) -> u64 {
    tick.checked_mul(layout.tick_ms)
        .and_then(|ms| ms.checked_add(layout.epoch_ms))
        .unwrap_or(u64::MAX)
}

#[test]
fn a_full_width_time_field_runs_out_with_an_error_not_a_repeat() {
    // The case: 64 time bits of 1 ms from 0, accepted by validate().
    let layout = IdLayout {
        time_bits: 64,
        node_bits: 0,
        counter_bits: 0,
        tick_ms: 1,
        epoch_ms: 0,
    };
    layout.validate().unwrap();
    let mut gen = IdGenerator::new(layout, 0).unwrap();
    assert_eq!(gen.next_id(u64::MAX), Ok(u64::MAX));
    assert_eq!(gen.next_id(u64::MAX), Err(IdError::TimeExhausted));
    assert_eq!(gen.next_id(0), Err(IdError::TimeExhausted));

    let mut restarted = IdGenerator::new(layout, 0).unwrap();
    restarted.resume_after(u64::MAX);
    assert_eq!(restarted.next_id(0), Err(IdError::TimeExhausted));
    assert_eq!(restarted.next_id(u64::MAX), Err(IdError::TimeExhausted));
    restarted.resume_after(0);
    assert_eq!(restarted.next_id(0), Err(IdError::TimeExhausted));

    // One id before the end: that id, then the error.
    let mut late = IdGenerator::new(layout, 0).unwrap();
    late.resume_after(u64::MAX - 2);
    assert_eq!(late.next_id(0), Ok(u64::MAX - 1));
    assert_eq!(late.next_id(0), Ok(u64::MAX));
    assert_eq!(late.next_id(0), Err(IdError::TimeExhausted));
}

#[test]
fn every_layout_width_runs_out_with_an_error_not_a_repeat() {
    // Every time width, with no node or counter bits, with all the rest in
    // one of them, and split between them.
    for time_bits in 1..=64u32 {
        let rest = 64 - time_bits;
        for (node_bits, counter_bits) in [
            (0, 0),
            (rest, 0),
            (0, rest),
            (rest / 2, rest - rest / 2),
            (0, rest.min(2)),
        ] {
            let layout = IdLayout {
                time_bits,
                node_bits,
                counter_bits,
                tick_ms: 1,
                epoch_ms: 0,
            };
            let node = layout.max_node();
            let end = compose(&layout, layout.max_tick(), node, max_counter(&layout));
            // The id before the last: the counter's last but one, or the
            // last tick but one's only id.
            let before = match max_counter(&layout) {
                0 => compose(&layout, layout.max_tick() - 1, node, 0),
                c => compose(&layout, layout.max_tick(), node, c - 1),
            };
            let what = format!("{time_bits}/{node_bits}/{counter_bits}");

            // Issued up to the end by next_id, from the id before it.
            let mut gen = IdGenerator::new(layout, node).unwrap();
            gen.resume_after(before);
            let mut last = before;
            while last < end {
                let id = gen
                    .next_id(0)
                    .unwrap_or_else(|e| panic!("{what}: {e} before the end"));
                assert!(id > last, "{what}: {id:#x} after {last:#x}");
                last = id;
            }
            assert_eq!(last, end, "{what}");
            for wall in [0, u64::MAX, wall_of(&layout, layout.max_tick())] {
                assert_eq!(gen.next_id(wall), Err(IdError::TimeExhausted), "{what}");
            }

            // Resumed after the last id: nothing left.
            let mut resumed = IdGenerator::new(layout, node).unwrap();
            resumed.resume_after(end);
            for wall in [0, u64::MAX] {
                assert_eq!(resumed.next_id(wall), Err(IdError::TimeExhausted), "{what}");
            }
            resumed.resume_after(0);
            assert_eq!(resumed.next_id(0), Err(IdError::TimeExhausted), "{what}");
        }
    }
}

/// Any valid layout: time bits from 1 to 64 (63 and 64 often), the rest
/// split at random between node and counter, several ticks and epochs.
fn any_layout() -> impl Strategy<Value = IdLayout> {
    (
        prop_oneof![1 => Just(64u32), 1 => Just(63u32), 4 => 1u32..=64],
        any::<u32>(),
        any::<u32>(),
        prop_oneof![Just(1u64), Just(10), Just(1_000)],
        prop_oneof![Just(0u64), Just(EPOCH)],
    )
        .prop_map(|(time_bits, a, b, tick_ms, epoch_ms)| {
            let rest = 64 - time_bits;
            let node_bits = a % (rest + 1);
            let counter_bits = b % (rest - node_bits + 1);
            IdLayout {
                time_bits,
                node_bits,
                counter_bits,
                tick_ms,
                epoch_ms,
            }
        })
}

/// Somewhere near the end of time (or at its start), as ticks or counters
/// counted back from the last (or up from the first).
#[derive(Clone, Copy, Debug)]
enum Near {
    End(u64),
    Start(u64),
}

impl Near {
    fn resolve(self, max: u64) -> u64 {
        match self {
            Near::End(back) => max.saturating_sub(back),
            Near::Start(up) => up.min(max),
        }
    }
}

fn near() -> impl Strategy<Value = Near> {
    prop_oneof![3 => (0u64..4).prop_map(Near::End), 1 => (0u64..4).prop_map(Near::Start)]
}

#[derive(Clone, Copy, Debug)]
enum IdOp {
    /// `next_id` with the wall clock in this tick; `None`: u64::MAX ms.
    Next(Option<Near>),
    /// `resume_after` the id with these tick and counter.
    Resume(Near, Near),
}

fn id_op() -> impl Strategy<Value = IdOp> {
    prop_oneof![
        4 => proptest::option::weighted(0.9, near()).prop_map(IdOp::Next),
        1 => (near(), near()).prop_map(|(t, c)| IdOp::Resume(t, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// At the end of time, for every layout width: ids strictly increase
    /// (so never repeat), `next_id` fails only past the end, and once the
    /// last id is issued (or resumed after) every call fails for good.
    #[test]
    fn every_layout_runs_out_of_time_without_a_repeat(
        layout in any_layout(),
        node_pick in any::<u64>(),
        ops in proptest::collection::vec(id_op(), 0..40),
        last_counters in 0u64..4,
    ) {
        let node = node_pick & layout.max_node();
        let max_tick = layout.max_tick();
        let max_c = max_counter(&layout);
        let end = compose(&layout, max_tick, node, max_c);
        let mut gen = IdGenerator::new(layout, node).unwrap();
        // The greatest id issued or resumed after.
        let mut floor: Option<u64> = None;
        let next = |gen: &mut IdGenerator, floor: &mut Option<u64>, wall: u64| {
            let exhausted = *floor == Some(end);
            match gen.next_id(wall) {
                Ok(id) => {
                    prop_assert!(!exhausted, "{:#x} after the last id", id);
                    prop_assert!(*floor < Some(id), "{:#x} not after {:x?}", id, floor);
                    let parts = layout.decode(id);
                    prop_assert_eq!(parts.node, node);
                    prop_assert!(parts.tick >= tick_of(&layout, wall).min(max_tick));
                    *floor = Some(id);
                }
                Err(IdError::TimeExhausted) => prop_assert!(
                    exhausted || tick_of(&layout, wall) > max_tick,
                    "exhausted early: wall {}, after {:x?}", wall, floor
                ),
                Err(other) => prop_assert!(false, "{:?}", other),
            }
            Ok(())
        };
        for op in ops {
            match op {
                IdOp::Next(at) => {
                    let wall = at.map_or(u64::MAX, |n| wall_of(&layout, n.resolve(max_tick)));
                    next(&mut gen, &mut floor, wall)?;
                }
                IdOp::Resume(tick, counter) => {
                    let id = compose(&layout, tick.resolve(max_tick), node, counter.resolve(max_c));
                    gen.resume_after(id);
                    floor = floor.max(Some(id));
                }
            }
        }
        // Drive to the end: a few ids before it, then next_id until it.
        let id = compose(&layout, max_tick, node, max_c.saturating_sub(last_counters));
        gen.resume_after(id);
        floor = floor.max(Some(id));
        for _ in 0..last_counters {
            next(&mut gen, &mut floor, 0)?;
        }
        prop_assert_eq!(floor, Some(end));
        for wall in [0, u64::MAX, wall_of(&layout, max_tick)] {
            prop_assert_eq!(gen.next_id(wall), Err(IdError::TimeExhausted));
        }
        gen.resume_after(0);
        prop_assert_eq!(gen.next_id(0), Err(IdError::TimeExhausted));
    }
}

//! Time-based ids under a wall clock that jumps backwards and forwards,
//! bursts that use up a tick's counter, several nodes, and invalid layouts.

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

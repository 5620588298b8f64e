//! `Config::validate`: each documented rule has its typed error, and the
//! defaults pass (the sweeps' configurations are checked in `sim_sweep.rs`).

use ackwire::{Config, ConfigError, MIN_PACKET_SIZE};
use std::time::Duration;

#[test]
fn the_defaults_are_valid() {
    assert_eq!(Config::default().validate(), Ok(()));
}

#[test]
fn each_rule_has_its_error() {
    let d = Config::default;
    let cases: Vec<(Config, ConfigError)> = vec![
        (
            Config {
                max_packet_size: MIN_PACKET_SIZE - 1,
                ..d()
            },
            ConfigError::PacketTooSmall {
                got: MIN_PACKET_SIZE - 1,
            },
        ),
        (
            Config {
                min_rto: Duration::ZERO,
                ..d()
            },
            ConfigError::RtoOrder,
        ),
        (
            Config {
                initial_rto: Duration::from_secs(60),
                ..d()
            },
            ConfigError::RtoOrder,
        ),
        (
            Config {
                ack_delay: Duration::from_millis(200),
                ..d()
            },
            ConfigError::AckDelayNotBelowMinRto { field: "ack_delay" },
        ),
        (
            Config {
                sparse_ack_delay: Duration::from_secs(1),
                ..d()
            },
            ConfigError::AckDelayNotBelowMinRto {
                field: "sparse_ack_delay",
            },
        ),
        (
            Config {
                max_in_flight: 0,
                ..d()
            },
            ConfigError::TooSmall {
                field: "max_in_flight",
                min: 1,
            },
        ),
        (
            Config {
                max_held_messages: 1,
                ..d()
            },
            ConfigError::TooSmall {
                field: "max_held_messages",
                min: 2,
            },
        ),
        (
            Config {
                sync_page: 0,
                ..d()
            },
            ConfigError::TooSmall {
                field: "sync_page",
                min: 1,
            },
        ),
    ];
    for (cfg, want) in cases {
        assert_eq!(cfg.validate(), Err(want));
    }
}

/// The longest receipt `validate` allows fits a packet beside an ack; one
/// byte more does not (at the smallest packet, where it binds).
#[test]
fn the_receipt_bound_is_exact_at_the_smallest_packet() {
    let small = |max_receipt_len| Config {
        max_packet_size: MIN_PACKET_SIZE,
        max_receipt_len,
        ..Config::default()
    };
    let Err(ConfigError::ReceiptTooLong { max, .. }) = small(usize::MAX).validate() else {
        panic!("an endless receipt passed");
    };
    assert!(max > 0);
    assert_eq!(small(max).validate(), Ok(()));
    assert_eq!(
        small(max + 1).validate(),
        Err(ConfigError::ReceiptTooLong { got: max + 1, max })
    );
}

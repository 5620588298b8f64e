//! Seeds: meaningful starting points for each target, written to
//! `fuzz/corpus/<target>/seed-<name>` by `tests/fuzz_corpus.rs` (`write_seeds`);
//! those named `bug-*` (fixed) and `known-bug-*` (not fixed yet) reproduce a
//! bug and go to `fuzz/artifacts/<target>/` instead.

mod packet;
mod pair;
mod receiver;
mod sender;

pub use packet::packet_seeds;
pub use pair::pair_seeds;
pub use receiver::receiver_seeds;
pub use sender::sender_seeds;

use super::*;

fn ops_bytes<T>(ops: &[T], encode: impl Fn(&T, &mut Enc)) -> Vec<u8> {
    let mut e = Enc::default();
    for op in ops {
        encode(op, &mut e);
    }
    e.0
}

/// Every seed, by target.
pub fn seeds() -> Vec<(&'static str, Seeds)> {
    vec![
        ("packet_decode", packet_seeds()),
        ("receiver_hostile", receiver_seeds()),
        ("sender_hostile", sender_seeds()),
        ("pair_ops", pair_seeds()),
    ]
}

/// The seeds' operations read back exactly as written (the seeds mean what
/// they say with this version of `arbitrary`).
pub fn check_seed_encoding() {
    fn round_trip<'a, T: Arbitrary<'a> + core::fmt::Debug + PartialEq>(
        bytes: &'a [u8],
        encode: impl Fn(&T, &mut Enc),
    ) {
        let ops: Vec<T> = read_ops(bytes);
        assert_eq!(
            ops_bytes(&ops, encode),
            bytes,
            "seed does not round-trip: {ops:?}"
        );
    }
    for (_, b) in receiver_seeds() {
        round_trip::<RxOp>(&b, RxOp::encode);
    }
    for (_, b) in sender_seeds() {
        round_trip::<TxOp>(&b, TxOp::encode);
    }
    for (_, b) in pair_seeds() {
        round_trip::<PairOp>(&b, PairOp::encode);
    }
}

/// An input of a structured target as the operations it runs (for reading
/// finds): `FUZZ_TARGET=pair_ops FUZZ_INPUT=<file> cargo test --test
/// fuzz_corpus -- --ignored --nocapture show_input`.
pub fn describe(target: &str, data: &[u8]) -> String {
    fn list<'a, T: Arbitrary<'a> + core::fmt::Debug>(data: &'a [u8]) -> String {
        read_ops::<T>(data)
            .iter()
            .map(|op| format!("{op:?}\n"))
            .collect()
    }
    match target {
        "receiver_hostile" => list::<RxOp>(data),
        "sender_hostile" => list::<TxOp>(data),
        "pair_ops" => list::<PairOp>(data),
        _ => format!("{data:02x?}\n"),
    }
}

//! The fuzz targets' bodies and invariant checks, shared by the libFuzzer
//! binaries in `fuzz/fuzz_targets/` and by the root crate's tests, which
//! use this library as a dev-dependency (without its `libfuzzer` feature):
//! `tests/fuzz_corpus.rs` replays the corpus through the targets and
//! `tests/fuzz_regressions.rs` builds packets with the codec. Keep its
//! dependencies to `ackwire`, `arbitrary`, `bytes` and `crc32fast`, so
//! `cargo test` in the root never builds libFuzzer.
//!
//! Each target takes raw bytes and panics when an invariant breaks. The
//! structured targets read their operations with `arbitrary` one at a time
//! (`u.arbitrary::<Op>()` until the input is used up), so an input is simply
//! the concatenation of its operations and [`Enc`] can write seeds.
//!
//! - `codec`: the wire format, written independently of the library.
//! - `known_bugs`: the bugs the targets step around ([`avoiding`]).
//! - `ops`: reading operations, the deadline check every target makes.
//! - `packet_decode`, `receiver_hostile`, `sender_hostile`, `pair_ops`: one
//!   module per target, with its model of what the endpoint may do.
//! - `seed_encoding`: [`Enc`], the byte form `arbitrary` reads.
//! - `seeds`: the committed seeds of each target, and [`describe`].
mod codec;
mod known_bugs;
mod ops;
mod packet_decode;
mod pair_ops;
mod receiver_hostile;
mod seed_encoding;
mod seeds;
mod sender_hostile;

pub use codec::{
    data_flags, decode_packet, flag, get_varint, kind, mode, open_packet, package_fits, put_data,
    put_datagram, put_range_list, put_receipt, put_skip_list, put_sync_end, put_trimmed,
    put_varint, ranges_of, receipt_of, seal, seal_for, skip_ranges_of, wire, WireFrame, CONN,
    ID_LEN,
};
pub use known_bugs::{avoiding, avoiding_known_bugs, expose_known_bug};
pub use packet_decode::{busy_connection, busy_pair, packet_decode};
pub use pair_ops::{pair_config, pair_ops, PairOp};
pub use receiver_hostile::{receiver_config, receiver_hostile, RxOp, Seq};
pub use seed_encoding::{Enc, Num};
pub use seeds::{
    check_seed_encoding, describe, packet_seeds, pair_seeds, receiver_seeds, seeds, sender_seeds,
};
pub use sender_hostile::{sender_config, sender_hostile, Ranges, Sid, Skips, TxOp};

use ackwire::*;
use arbitrary::{Arbitrary, Unstructured};
use bytes::{BufMut, Bytes, BytesMut};
// Helpers the targets and the seeds share.
use codec::{key, well_formed};
use ops::{assert_deadline_after, read_ops, sender_timeout};
use packet_decode::{busy_config, msg, tx_view};
use pair_ops::trace;
use receiver_hostile::payload;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

/// A target's body: panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Named inputs for one target.
pub type Seeds = Vec<(String, Vec<u8>)>;

/// A range list's floor and its `[start, end)` ranges.
pub type RangeSet = (u64, Vec<(u64, u64)>);

/// A message's identity in the checkers.
pub type Key = (StreamId, Version);

/// The fuzz targets, by the name of their corpus directory.
pub const TARGETS: [(&str, Target); 4] = [
    ("packet_decode", packet_decode),
    ("receiver_hostile", receiver_hostile),
    ("sender_hostile", sender_hostile),
    ("pair_ops", pair_ops),
];

/// Most operations one structured input runs (keeps each execution short).
const MAX_OPS: usize = 400;

/// Rounds `pair_ops` gives the healed pair to go quiet. Under its tight
/// bounds (a window of 8, 24 held messages) recovery can go one message
/// per retry round: find 25 needed between 5,000 and 10,000, find 27
/// between 20,000 and 30,000. A livelock runs into this bound for ever.
const HEAL_ROUNDS: usize = 200_000;

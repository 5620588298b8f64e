//! What every structured target shares: reading its operations from the
//! input, and the deadline check after `handle_timeout`.

use super::*;

/// Reads operations until the input runs out (or `MAX_OPS`).
pub(crate) fn read_ops<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Vec<T> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match u.arbitrary::<T>() {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// `handle_timeout(now)` must leave no deadline at or before `now`: one that
/// never clears is a busy loop in every adapter (STYLE.md, rule 3).
/// Known bug 12: `Sender::handle_timeout` checks the stall escape before
/// the retransmission timer, whose escalations can make the stall due at
/// once; a second call runs it. While avoiding known bugs, a sender gets
/// that second call ([`sender_timeout`]).
pub(crate) fn assert_deadline_after(deadline: Option<Instant>, now: Instant, who: &str) {
    if let Some(t) = deadline {
        assert!(
            t > now,
            "{who}: deadline {t:?} still due after handle_timeout({now:?})"
        );
    }
}

/// `tx.handle_timeout(now)`, then the deadline check (see known bug 12).
pub(crate) fn sender_timeout(tx: &mut Sender, now: Instant) {
    tx.handle_timeout(now);
    assert_deadline_after(tx.poll_timeout(), now, "Sender");
}

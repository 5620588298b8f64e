//! The trace hash: every packet and every app-visible step mixed into one
//! number, so two runs of a seed can be compared at a glance.

/// FNV-1a, 64 bits: the trace hash.
pub(super) struct Trace(pub(super) u64);

impl Trace {
    pub(super) fn mix(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x100_0000_01B3);
        }
    }
    pub(super) fn num(&mut self, n: u64) {
        self.mix(&n.to_le_bytes());
    }
}

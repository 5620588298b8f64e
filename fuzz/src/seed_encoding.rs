//! Seed writing: the byte form `arbitrary` 1.x reads (little-endian integers,
//! `bool` = low bit of a byte, enum variant `i` of `n` = a u32 `x` with
//! `x * n >> 32 == i`). `tests/fuzz_corpus.rs` checks it round-trips.

use super::*;

/// Writes operations in the form the structured targets read them.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn variant(&mut self, i: u32, n: u32) -> &mut Self {
        let x = ((u64::from(i) << 32).div_ceil(u64::from(n))) as u32;
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.0.push(u8::from(v));
        self
    }
    pub fn num(&mut self, n: Num) -> &mut Self {
        match n {
            Num::Small(x) => self.variant(0, 3).u8(x),
            Num::Top(x) => self.variant(1, 3).u8(x),
            Num::Any(x) => self.variant(2, 3).u64(x),
        }
    }
}

/// A number a hostile peer picks: small, near `u64::MAX`, or anything.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Num {
    Small(u8),
    Top(u8),
    Any(u64),
}

impl Num {
    pub fn get(self) -> u64 {
        match self {
            Num::Small(x) => u64::from(x),
            Num::Top(x) => u64::MAX - u64::from(x),
            Num::Any(x) => x,
        }
    }
}

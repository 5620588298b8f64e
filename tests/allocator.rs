//! The version allocator against a simulated durable store, through random
//! allocations, writes that land late or never, confirmations, evictions and
//! crashes that lose all memory.
//!
//! Checked: per stream, versions strictly increase across every crash (so
//! none repeats); no version is above a bound the store durably holds or the
//! allocator was told is confirmed; each load epoch asks for exactly one
//! write per `step` allocations, each one `step` above the last.

use ackwire::*;
use proptest::prelude::*;

const STREAMS: usize = 5;
const MAX_STREAMS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Allocate(usize),
    Poll,
    /// A requested write reaches the store (possibly after its requester died).
    Land(usize),
    /// A landed write is confirmed to the process that asked for it.
    Confirm(usize),
    Remove(usize),
    /// The process dies: memory and unconfirmed landings are lost, writes
    /// already sent may still land.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..STREAMS).prop_map(Op::Allocate),
        3 => Just(Op::Poll),
        3 => any::<usize>().prop_map(Op::Land),
        3 => any::<usize>().prop_map(Op::Confirm),
        1 => (0..STREAMS).prop_map(Op::Remove),
        1 => Just(Op::Crash),
    ]
}

/// What the model knows of one stream since it was last loaded.
#[derive(Clone, Copy, Debug)]
struct Epoch {
    id: u64,
    base: u64,
    confirmed: u64,
    requests: u64,
    allocations: u64,
}

struct Write {
    stream: usize,
    bound: u64,
    process: u64,
    epoch: u64,
}

struct World {
    step: u64,
    alloc: VersionAllocator,
    process: u64,
    next_epoch: u64,
    /// The durable bound per stream; writes only raise it.
    store: [u64; STREAMS],
    /// Sent to the store, not landed yet. Survives crashes.
    sent: Vec<Write>,
    /// Landed, not confirmed yet. Lost on a crash.
    landed: Vec<Write>,
    /// The highest version ever handed out per stream, across crashes.
    highest: [u64; STREAMS],
    epochs: [Option<Epoch>; STREAMS],
}

impl World {
    fn new(step: u64) -> World {
        World {
            step,
            alloc: VersionAllocator::new(step, MAX_STREAMS).unwrap(),
            process: 0,
            next_epoch: 0,
            store: [0; STREAMS],
            sent: Vec::new(),
            landed: Vec::new(),
            highest: [0; STREAMS],
            epochs: [None; STREAMS],
        }
    }

    fn load(&mut self, s: usize) -> bool {
        match self.alloc.load(StreamId(s as u64), Version(self.store[s])) {
            Ok(evicted) => {
                if let Some(e) = evicted {
                    self.epochs[e.0 as usize] = None;
                }
                self.next_epoch += 1;
                self.epochs[s] = Some(Epoch {
                    id: self.next_epoch,
                    base: self.store[s],
                    confirmed: self.store[s],
                    requests: 0,
                    allocations: 0,
                });
                true
            }
            Err(LoadError::Full) => {
                assert_eq!(self.alloc.len(), MAX_STREAMS);
                false
            }
            Err(e) => panic!("unexpected load error {e:?}"),
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Allocate(s) => {
                let stream = StreamId(s as u64);
                assert_eq!(self.alloc.is_loaded(stream), self.epochs[s].is_some());
                if self.epochs[s].is_none() && !self.load(s) {
                    return;
                }
                let epoch = self.epochs[s].as_mut().unwrap();
                match self.alloc.allocate(stream) {
                    Ok(Version(v)) => {
                        assert!(v > self.highest[s], "version {v} repeats or goes back");
                        assert!(v <= self.store[s], "version {v} above the durable bound");
                        assert!(
                            v <= epoch.confirmed,
                            "version {v} above the confirmed bound"
                        );
                        self.highest[s] = v;
                        epoch.allocations += 1;
                    }
                    Err(AllocError::AwaitingPersist) => {
                        assert_eq!(epoch.base + epoch.allocations, epoch.confirmed);
                    }
                    Err(e) => panic!("unexpected allocate error {e:?}"),
                }
                assert!(self.alloc.len() <= MAX_STREAMS);
            }
            Op::Poll => {
                while let Some(PersistBound { stream, bound }) = self.alloc.poll_persist() {
                    let s = stream.0 as usize;
                    let epoch = self.epochs[s]
                        .as_mut()
                        .expect("request for an unloaded stream");
                    epoch.requests += 1;
                    assert_eq!(bound.0, epoch.base + epoch.requests * self.step);
                    self.sent.push(Write {
                        stream: s,
                        bound: bound.0,
                        process: self.process,
                        epoch: epoch.id,
                    });
                }
                // Exactly one request per step: one on load, then one each
                // time half of a confirmed segment is used.
                for e in self.epochs.iter().flatten() {
                    let due = 1 + (e.allocations + self.step / 2) / self.step;
                    assert_eq!(e.requests, due, "requests per step in {e:?}");
                }
            }
            Op::Land(i) => {
                if self.sent.is_empty() {
                    return;
                }
                let w = self.sent.swap_remove(i % self.sent.len());
                self.store[w.stream] = self.store[w.stream].max(w.bound);
                if w.process == self.process {
                    self.landed.push(w);
                }
            }
            Op::Confirm(i) => {
                if self.landed.is_empty() {
                    return;
                }
                let w = self.landed.swap_remove(i % self.landed.len());
                let result = self
                    .alloc
                    .confirm_persisted(StreamId(w.stream as u64), Version(w.bound));
                match self.epochs[w.stream].as_mut() {
                    Some(e) if e.id == w.epoch => {
                        assert_eq!(result, Ok(()));
                        e.confirmed = e.confirmed.max(w.bound);
                    }
                    Some(e) => {
                        // From an earlier load of this stream: harmless either way.
                        if result.is_ok() {
                            e.confirmed = e.confirmed.max(w.bound);
                        }
                    }
                    None => assert_eq!(result, Err(ConfirmError::UnknownStream)),
                }
            }
            Op::Remove(s) => {
                let was = self.alloc.remove(StreamId(s as u64));
                assert_eq!(was, self.epochs[s].is_some());
                self.epochs[s] = None;
            }
            Op::Crash => {
                self.alloc = VersionAllocator::new(self.step, MAX_STREAMS).unwrap();
                self.process += 1;
                self.landed.clear();
                self.epochs = [None; STREAMS];
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn versions_never_repeat_across_crashes(
        step in 1u64..=8,
        ops in proptest::collection::vec(op(), 0..400),
    ) {
        let mut world = World::new(step);
        for op in ops {
            world.apply(op);
        }
    }
}

/// A run that keeps the store prompt allocates without ever stalling.
#[test]
fn a_prompt_store_never_stalls_allocation() {
    let step = 16;
    let mut alloc = VersionAllocator::new(step, 8).unwrap();
    let mut store = [0u64; 8];
    for s in 0..8u64 {
        alloc.load(StreamId(s), Version(0)).unwrap();
    }
    let mut expected = [0u64; 8];
    for i in 0..10_000u64 {
        while let Some(p) = alloc.poll_persist() {
            let s = p.stream.0 as usize;
            store[s] = store[s].max(p.bound.0);
            alloc.confirm_persisted(p.stream, p.bound).unwrap();
        }
        let s = (i % 8) as usize;
        expected[s] += 1;
        assert_eq!(alloc.allocate(StreamId(s as u64)), Ok(Version(expected[s])));
    }
    let stats = alloc.stats();
    assert_eq!(stats.stalls, 0);
    // One write per step per stream, plus the one each stream's load asks for.
    assert_eq!(stats.persist_requests, 8 * (1 + (1250 + step / 2) / step));
}

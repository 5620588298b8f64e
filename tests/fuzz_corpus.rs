//! Replays every input under `fuzz/corpus/<target>/` and
//! `fuzz/artifacts/<target>/` through the fuzz targets' own invariant checks
//! (`fuzz/src/lib.rs`, included below), on the stable toolchain without
//! libFuzzer: a committed find stays fixed, and a seed that stops meaning
//! what it says fails here.
//!
//! Artifacts named `known-bug-*` reproduce a bug not fixed yet; they are
//! replayed by the ignored test of that bug instead, and move to the normal
//! replay once it is fixed (rename them).

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The inputs of one target: its corpus and artifacts, sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_file() && !name.starts_with('.') && !name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn is_known_bug(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("known-bug-"))
}

/// Runs each input; panics listing every one that broke an invariant.
fn replay(target: &str, paths: &[PathBuf]) {
    let (_, run) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of that name");
    let mut failed = Vec::new();
    for path in paths {
        let data = std::fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs broke an invariant (messages above):\n{}",
        failed.len(),
        paths.len(),
        failed.join("\n")
    );
}

/// Replays the `known-bug-<n>-*` artifacts of every target with the
/// harness's workarounds off: each must break an invariant no more.
fn replay_known_bug(n: u32) {
    harness::set_avoiding_known_bugs(false);
    let prefix = format!("known-bug-{n}-");
    let mut any = false;
    for (target, _) in harness::TARGETS {
        let paths: Vec<PathBuf> = inputs(target)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&prefix)
            })
            .collect();
        any |= !paths.is_empty();
        replay(target, &paths);
    }
    assert!(any, "no artifact for known bug {n}");
}

#[test]
#[ignore = "bug: SidSet::insert and Receiver::on_data compute sid + 1; a DATA frame with SID u64::MAX after a FLOOR near u64::MAX overflows (panics with debug assertions)"]
fn known_bug_1_sid_max_overflow() {
    replay_known_bug(1);
}

#[test]
#[ignore = "bug: Sender escalation unlinks the entry twice (handle_timeout/fast retransmit, then settle), emptying the retransmission list; other outstanding messages are never resent or escalated"]
fn known_bug_2_double_unlink() {
    replay_known_bug(2);
}

#[test]
#[ignore = "bug: Receiver never evicts a buffered message whose prev fell below the stream head; it holds a slot for good and Gap reports waiting_after < after"]
fn known_bug_3_stale_buffered() {
    replay_known_bug(3);
}

fn replay_target(target: &str) {
    let paths: Vec<PathBuf> = inputs(target)
        .into_iter()
        .filter(|p| !is_known_bug(p))
        .collect();
    assert!(!paths.is_empty(), "{target}: no corpus committed");
    replay(target, &paths);
}

#[test]
fn replay_packet_decode() {
    replay_target("packet_decode");
}

#[test]
fn replay_receiver_hostile() {
    replay_target("receiver_hostile");
}

#[test]
fn replay_sender_hostile() {
    replay_target("sender_hostile");
}

#[test]
fn replay_pair_ops() {
    replay_target("pair_ops");
}

/// Where a seed lives: known bugs' reproducers among the artifacts.
fn seed_path(target: &str, name: &str) -> PathBuf {
    if name.starts_with("known-bug-") {
        fuzz_dir().join("artifacts").join(target).join(name)
    } else {
        fuzz_dir()
            .join("corpus")
            .join(target)
            .join(format!("seed-{name}"))
    }
}

/// The seeds read back as the operations they were written from, and each
/// committed seed file is the current seed (regenerate with `write_seeds`).
#[test]
fn seeds_are_current() {
    harness::check_seed_encoding();
    for (target, seeds) in harness::seeds() {
        for (name, bytes) in seeds {
            let path = seed_path(target, &name);
            let on_disk = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run write_seeds)", path.display()));
            assert!(
                on_disk == bytes,
                "{} is stale: run write_seeds",
                path.display()
            );
        }
    }
}

/// Writes the seeds to `fuzz/corpus/<target>/seed-*`:
/// `cargo test --test fuzz_corpus -- --ignored write_seeds`.
#[test]
#[ignore = "writes files: run by hand after changing the seeds"]
fn write_seeds() {
    for (target, seeds) in harness::seeds() {
        for (name, bytes) in seeds {
            let path = seed_path(target, &name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            // Write and rename, so a concurrent `seeds_are_current` never
            // reads a half-written file.
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes).unwrap();
            std::fs::rename(tmp, path).unwrap();
        }
    }
}

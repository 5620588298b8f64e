//! The simulator across a fault matrix: loss from 0 to 50 %, duplication,
//! reordering, partitions, client and server crashes, each combination
//! under eight seed slots, each slot driving another mechanism beside plain
//! sends (packages over small sync pages, reinstalled devices with latest
//! starts and history from a store that trims, at-most-once and at-least-once traffic, apps that
//! resend escalated messages, contiguous conversations, small receive
//! bounds, most of them at once) — 1,024 runs, every one clean by the
//! independent checker. And the same seed twice gives the same run.

use ackwire::sim::*;
use ackwire::Config;
use std::time::Duration;

/// A small service (few clients, a couple of dozen messages) so a
/// thousand runs fit in a debug build's test time.
fn small(seed: u64, loss: f64, dup: f64, reorder: f64, faults: (u32, u32, u32)) -> SimConfig {
    let (partitions, client_crashes, server_crashes) = faults;
    SimConfig {
        seed,
        clients: 3,
        conversations: 2,
        members: 2,
        messages: 24,
        duration: Duration::from_secs(4),
        link: LinkConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(15),
            loss,
            duplicate: dup,
            reorder,
            stale: 0.0,
        },
        partitions,
        client_crashes,
        server_crashes,
        max_downtime: Duration::from_millis(1500),
        ..SimConfig::default()
    }
}

/// The mechanisms beside plain sends, one set per seed slot (0..8) of the
/// fault matrix, so each is crossed with every fault: packages (larger
/// than a sync page and straddling pages), reinstalled devices that start
/// from their latest messages and page through history, contiguous
/// conversations, at-most-once and at-least-once traffic, apps that resend
/// escalated messages, small receive bounds, and (with the reinstalls) a
/// store that keeps only each conversation's newest messages.
fn mechanisms(slot: u64, seed: u64, cfg: SimConfig) -> SimConfig {
    let mut r = SimRng::new(seed ^ 0x3EC4);
    let packages = |cfg: SimConfig, page: u32| SimConfig {
        package_share: 0.3,
        max_package: (2 * page + 1).min(8),
        protocol: Config {
            sync_page: page,
            ..cfg.protocol.clone()
        },
        ..cfg
    };
    let reinstalls = |cfg: SimConfig| SimConfig {
        reinstalls: 2,
        latest: 3,
        history_page: 2,
        ..cfg
    };
    let qos = |cfg: SimConfig| SimConfig {
        datagrams: 20,
        markers: 10,
        ..cfg
    };
    match slot {
        // Plain sends, over a link that also delivers packets of earlier
        // connections late (they must be rejected by their connection id).
        0 => SimConfig {
            link: LinkConfig {
                stale: 0.02,
                ..cfg.link.clone()
            },
            ..cfg
        },
        1 => packages(cfg, 1 + r.below(4) as u32),
        // Reinstalled devices paging history from a store that keeps only
        // a conversation's newest messages (retention): syncs and history
        // pages reach trimmed versions and are told so.
        2 => SimConfig {
            retain: Some([1, 3, 8][r.below(3) as usize]),
            ..reinstalls(cfg)
        },
        3 => qos(cfg),
        4 => SimConfig {
            resend_escalated: true,
            protocol: Config {
                max_retransmits: 2,
                ..cfg.protocol.clone()
            },
            ..cfg
        },
        5 if cfg.server_crashes == 0 => SimConfig {
            contiguous_conversations: true,
            ..packages(cfg, 3)
        },
        5 => reinstalls(packages(cfg, 2)),
        // Small bounds with reinstalled devices paging history.
        6 => reinstalls(small_bounds(&mut r, cfg)),
        _ => {
            let cfg = small_bounds(&mut r, cfg);
            let page = cfg.protocol.sync_page;
            let cfg = qos(packages(cfg, page));
            let max = (cfg.protocol.max_held_messages / 4).min(cfg.protocol.max_reorder_per_stream);
            SimConfig {
                max_package: cfg.max_package.min(max as u32).max(2),
                resend_escalated: true,
                ..cfg
            }
        }
    }
}

/// Small receive bounds: a few messages held, a short window, short pages.
fn small_bounds(r: &mut SimRng, cfg: SimConfig) -> SimConfig {
    SimConfig {
        protocol: Config {
            max_held_messages: 8 + r.below(17) as usize,
            max_in_flight: 8 + r.below(25),
            max_reorder_per_stream: 4 + r.below(13) as usize,
            sync_page: 1 + r.below(8) as u32,
            ..cfg.protocol.clone()
        },
        ..cfg
    }
}

/// Small bounds with reinstalled devices (everything else on too): the
/// combination the 1,024-run sweep leaves out. 10 of the 1,024 sweep runs
/// once stalled with it (seeds 100047, 100063, 100255, 250079, 250095,
/// 500007, 500047, 500055, 500087, 500223 — all with a reinstalled client
/// whose `resume_latest` start never came). They pass on main (checked at
/// eb8aaa0 and since): the ignore outlived the fix.
#[test]
fn small_bounds_with_reinstalls() {
    let mut failures = Vec::new();
    // Seed, loss, duplication, reordering, (partitions, client crashes,
    // server crashes), as the sweep ran them.
    type Run = (u64, f64, f64, f64, (u32, u32, u32));
    let runs: [Run; 10] = [
        (100047, 0.1, 0.0, 0.0, (2, 0, 1)),
        (100063, 0.1, 0.0, 0.0, (2, 2, 1)),
        (100255, 0.1, 0.15, 0.2, (2, 2, 1)),
        (250079, 0.25, 0.0, 0.2, (0, 0, 1)),
        (250095, 0.25, 0.0, 0.2, (0, 2, 1)),
        (500007, 0.5, 0.0, 0.0, (0, 0, 0)),
        (500047, 0.5, 0.0, 0.0, (2, 0, 1)),
        (500055, 0.5, 0.0, 0.0, (2, 2, 0)),
        (500087, 0.5, 0.0, 0.2, (0, 2, 0)),
        (500223, 0.5, 0.15, 0.2, (0, 2, 1)),
    ];
    for (seed, loss, dup, reorder, faults) in runs {
        let mut r = SimRng::new(seed ^ 0x3EC4);
        let cfg = small_bounds(&mut r, small(seed, loss, dup, reorder, faults));
        let page = cfg.protocol.sync_page;
        let max = (cfg.protocol.max_held_messages / 4).min(cfg.protocol.max_reorder_per_stream);
        let cfg = SimConfig {
            package_share: 0.3,
            max_package: (2 * page + 1).min(max as u32).max(2),
            reinstalls: 2,
            latest: 3,
            history_page: 2,
            datagrams: 20,
            markers: 10,
            resend_escalated: true,
            ..cfg
        };
        match Simulation::new(cfg).and_then(Simulation::run) {
            Ok(o) if o.is_clean() => {}
            Ok(o) => failures.push(format!("seed {seed}: {:?}", o.violations)),
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What one sweep exercised, summed over its clean runs.
#[derive(Debug, Default)]
struct Totals {
    packages: u64,
    packages_expired: u64,
    skipped_down: u64,
    skipped_up: u64,
    reinstalls: u64,
    history_pages: u64,
    datagrams: u64,
    markers: u64,
    escalations_resent: u64,
    stale_rejected: u64,
}

fn add(t: &mut Totals, r: &Report) {
    t.packages += r.packages;
    t.packages_expired += r.packages_expired;
    t.skipped_down += r.skipped_down;
    t.skipped_up += r.skipped_up;
    t.reinstalls += r.reinstalls;
    t.history_pages += r.history_pages;
    t.datagrams += r.datagrams_received;
    t.markers += r.markers_received;
    t.escalations_resent += r.escalations_resent;
    t.stale_rejected += r.stale_rejected;
}

/// Runs every combination of the other faults at `loss`, 8 seeds each,
/// and fails listing every run the checker (or the run itself) faulted.
fn sweep(loss: f64) -> Totals {
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut totals = Totals::default();
    for dup in [0.0, 0.15] {
        for reorder in [0.0, 0.2] {
            for partitions in [0, 2] {
                for client_crashes in [0, 2] {
                    for server_crashes in [0, 1] {
                        for slot in 0..8 {
                            let faults = (partitions, client_crashes, server_crashes);
                            // Distinct seeds across the whole matrix.
                            let seed = slot + 8 * (runs / 8) + 10_000 * (loss * 100.0) as u64;
                            let cfg =
                                mechanisms(slot, seed, small(seed, loss, dup, reorder, faults));
                            runs += 1;
                            let what = format!(
                                "seed {seed} slot {slot} loss {loss} dup {dup} reorder {reorder} \
                                 partitions {partitions} client crashes {client_crashes} \
                                 server crashes {server_crashes}"
                            );
                            match Simulation::new(cfg).and_then(Simulation::run) {
                                Ok(o) if o.is_clean() => {
                                    let r = &o.report;
                                    assert!(r.sent >= 24 && r.stored == r.sent, "{what}\n{r}");
                                    add(&mut totals, r);
                                }
                                Ok(o) => failures.push(format!(
                                    "{what}: {:?} {} {:?}",
                                    o.report.violations,
                                    o.unsettled,
                                    &o.violations[..o.violations.len().min(5)]
                                )),
                                Err(e) => failures.push(format!("{what}: {e}")),
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(runs, 256);
    println!("loss {loss}: {totals:?}");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every mechanism was driven.
    let t = &totals;
    assert!(
        t.packages > 0 && t.reinstalls > 0 && t.history_pages > 0,
        "{t:?}"
    );
    assert!(t.datagrams > 0 && t.markers > 0, "{t:?}");
    totals
}

#[test]
fn sweep_no_loss() {
    sweep(0.0);
}

#[test]
fn sweep_loss_10() {
    sweep(0.10);
}

#[test]
fn sweep_loss_25() {
    sweep(0.25);
}

#[test]
fn sweep_loss_50() {
    sweep(0.50);
}

#[test]
fn same_seed_same_run() {
    let cfg = SimConfig {
        clients: 5,
        messages: 200,
        members: 3,
        conversations: 3,
        duration: Duration::from_secs(10),
        client_crashes: 2,
        server_crashes: 1,
        partitions: 2,
        ..SimConfig::default()
    };
    let a = Simulation::new(cfg.clone()).unwrap().run().unwrap();
    let b = Simulation::new(cfg.clone()).unwrap().run().unwrap();
    assert!(a.is_clean(), "{}", a.report);
    // Short comparisons first, so a failure reads well.
    assert_eq!(a.report.trace_hash, b.report.trace_hash);
    assert_eq!(a.report.to_string(), b.report.to_string());
    assert!(a.report == b.report, "reports differ beyond the table");
    assert!(a.checker == b.checker, "histories differ");
    // A different seed is a different run.
    let c = Simulation::new(SimConfig { seed: 2, ..cfg })
        .unwrap()
        .run()
        .unwrap();
    assert_ne!(a.report.trace_hash, c.report.trace_hash);
}

/// The deep sweep's faults, size and protocol settings for `seed`, as they
/// were drawn before the mechanisms (the regression seeds below name
/// these runs), and the generator to draw the rest from.
fn deep_faults(seed: u64) -> (SimConfig, SimRng) {
    let mut r = SimRng::new(seed ^ 0xD1CE);
    let pick = |r: &mut SimRng, xs: &[f64]| xs[r.below(xs.len() as u64) as usize];
    let clients = 2 + r.below(6) as u32;
    let cfg = SimConfig {
        seed,
        clients,
        conversations: 1 + r.below(4) as u32,
        members: 2.min(clients) + r.below(u64::from(clients - 1)) as u32,
        messages: 10 + r.below(150) as u32,
        duration: Duration::from_secs(2 + r.below(20)),
        link: LinkConfig {
            latency: Duration::from_millis(1 + r.below(80)),
            jitter: Duration::from_millis(r.below(80)),
            loss: pick(&mut r, &[0.0, 0.05, 0.2, 0.35, 0.5]),
            duplicate: pick(&mut r, &[0.0, 0.05, 0.3]),
            reorder: pick(&mut r, &[0.0, 0.1, 0.4]),
            stale: 0.0,
        },
        partitions: r.below(5) as u32,
        client_crashes: r.below(5) as u32,
        server_crashes: r.below(3) as u32,
        max_downtime: Duration::from_millis(100 + r.below(4000)),
        commit_delay: Duration::from_millis(r.below(100)),
        store_delay: Duration::from_millis(r.below(30)),
        alloc_step: 1 + r.below(20),
        contiguous_outbox: r.below(2) == 0,
        protocol: Config {
            max_packet_size: [300, 1200, 16 * 1024][r.below(3) as usize],
            max_in_flight: [4, 16, 1024][r.below(3) as usize],
            max_reorder_per_stream: [4, 256][r.below(2) as usize],
            max_held_messages: [16, 4096][r.below(2) as usize],
            sync_page: [1, 3, 100][r.below(3) as usize],
            ack_every: [1, 16][r.below(2) as usize],
            gap_wait: Duration::from_millis([20, 300][r.below(2) as usize]),
            ..SimConfig::default().protocol
        },
        ..SimConfig::default()
    };
    (
        SimConfig {
            members: cfg.members.min(clients),
            ..cfg
        },
        r,
    )
}

/// The deep sweep's run for `seed`: its size, faults and protocol settings
/// drawn from the seed, then every mechanism (packages, reinstalls,
/// contiguous conversations, datagrams, markers, escalation resends) and,
/// in one run of four, small receive bounds.
fn deep_config(seed: u64) -> SimConfig {
    let (cfg, mut r) = deep_faults(seed);
    let pick = |r: &mut SimRng, xs: &[f64]| xs[r.below(xs.len() as u64) as usize];
    let clients = cfg.clients;
    let cfg = if r.below(4) == 0 {
        small_bounds(&mut r, cfg)
    } else {
        cfg
    };
    let protocol = cfg.protocol.clone();
    let max_package = (protocol.max_held_messages / 4)
        .min(protocol.max_reorder_per_stream)
        .min(protocol.max_in_flight as usize) as u32;
    let server_crashes = cfg.server_crashes;
    SimConfig {
        members: cfg.members.min(clients),
        package_share: if max_package >= 2 {
            pick(&mut r, &[0.0, 0.1, 0.4])
        } else {
            0.0
        },
        max_package: (2 + r.below(2 * u64::from(protocol.sync_page.min(64))))
            .min(u64::from(max_package.max(2))) as u32,
        reinstalls: r.below(3) as u32,
        latest: 1 + r.below(20) as u32,
        history_page: 1 + r.below(10) as u32,
        contiguous_conversations: server_crashes == 0 && r.below(3) == 0,
        datagrams: r.below(40) as u32,
        markers: r.below(20) as u32,
        resend_escalated: r.below(2) == 0,
        link: LinkConfig {
            stale: pick(&mut r, &[0.0, 0.0, 0.01, 0.05]),
            ..cfg.link.clone()
        },
        // Drawn last, so every other dimension of a seed is as before.
        retain: [None, None, Some(1), Some(3), Some(20)][r.below(5) as usize],
        ..cfg
    }
}

/// A longer hunt, in release: `SIM_RUNS=20000 cargo test --release --test
/// sim_sweep -- --ignored --nocapture`. Each run draws its own mix of
/// faults and size from its seed.
#[test]
#[ignore = "long: run on demand in release"]
fn deep_sweep() {
    let runs: u64 = std::env::var("SIM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let first: u64 = std::env::var("SIM_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    for seed in first..first + runs {
        let cfg = deep_config(seed);
        let failure = match Simulation::new(cfg.clone()).and_then(Simulation::run) {
            Ok(o) if o.is_clean() => None,
            Ok(o) => Some(format!(
                "{:?} {} {:?}",
                o.report.violations,
                o.unsettled,
                &o.violations[..o.violations.len().min(5)]
            )),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failure {
            // As they happen, for a long run watched from outside.
            eprintln!("FAIL seed {seed}: {why}");
            failures.push(format!("{cfg:?}\n  -> {why}"));
        }
        if (seed - first + 1) % 1000 == 0 {
            eprintln!(
                "{} runs, {} failed, {:.0} s",
                seed - first + 1,
                failures.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One run of the 1,024-run sweep, to look at: `SWEEP_SEED=500007
/// SWEEP_SLOT=7 SWEEP_FAULTS=0,0,0 SWEEP_LINK=0.5,0,0 cargo test --test
/// sim_sweep one_sweep_run -- --ignored --nocapture`.
#[test]
#[ignore = "on demand"]
fn one_sweep_run() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let nums = |k: &str| -> Vec<f64> { var(k).split(',').filter_map(|x| x.parse().ok()).collect() };
    let seed: u64 = var("SWEEP_SEED").parse().unwrap_or(0);
    let slot: u64 = var("SWEEP_SLOT").parse().unwrap_or(seed % 8);
    let f = nums("SWEEP_FAULTS");
    let l = nums("SWEEP_LINK");
    let faults = (f[0] as u32, f[1] as u32, f[2] as u32);
    let cfg = mechanisms(slot, seed, small(seed, l[0], l[1], l[2], faults));
    println!("{cfg:?}");
    match Simulation::new(cfg).and_then(Simulation::run) {
        Ok(o) => println!("{}\n{:?}\n{}", o.report, o.violations, o.unsettled),
        Err(e) => panic!("{e}"),
    }
}

/// One run of the deep sweep, to look at: `SIM_SEED=3018993 cargo test
/// --release --test sim_sweep one_deep_run -- --ignored --nocapture`.
#[test]
#[ignore = "on demand"]
fn one_deep_run() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let cfg = deep_config(seed);
    println!("{cfg:?}");
    match Simulation::new(cfg).and_then(Simulation::run) {
        Ok(o) => println!("{}\n{:?}\n{}", o.report, o.violations, o.unsettled),
        Err(e) => panic!("{e}"),
    }
}

/// Found by the deep sweep (7 of 30,000 runs, all at 50 % loss with small
/// sync pages): catching up stalled for more than the 10-minute stall
/// bound. A page's SYNC_END is written once; when it was lost while the
/// page's DATA got through by retransmission, only the receiver's sync
/// retry timer moved the sync on, and its backoff (up to 64 × `sync_retry`)
/// was reset only by a SYNC_END. Fixed: a sync's progress resets the backoff
/// and moves the retry to one `sync_retry` after the last delivery.
///
/// Then seeds 1000628 (before the tail-loss probe, c45f630), 1007051 and
/// 1009209 (after it), each 1 in 20,000: after such a reset, the ~16
/// retries of the next ten minutes were all lost (a 64× cap leaves that
/// few, lost together once in about 2^15). Fixed: the backoff stops at 8×.
#[test]
fn sync_catch_up_at_half_loss_does_not_stall() {
    for seed in [3_018_993, 3_014_139, 1_000_628, 1_007_051, 1_009_209] {
        let cfg = deep_faults(seed).0;
        assert_eq!(cfg.link.loss, 0.5);
        assert!(cfg.protocol.sync_page <= 3);
        let outcome = Simulation::new(cfg).and_then(Simulation::run);
        match outcome {
            Ok(o) => assert!(o.is_clean(), "seed {seed}: {}", o.report),
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
}

/// Found by the deep sweep (1 of 20,000 runs): a receiver holding at most
/// 16 messages got a 95-message sync page reordered, its early messages
/// took all 16 slots, and the message filling their hole was dropped as
/// "full" on every retransmission, on every connection: the client never
/// caught up. Fixed: an early message never takes the last free slot.
/// (Found on main before the tail-loss probe, c45f630, which changed every
/// run: this seed now passes either way. The deterministic regression
/// tests are in `bounds.rs` and `endpoints.rs`.)
#[test]
fn early_messages_do_not_wedge_a_small_receiver() {
    let seed = 1_017_873;
    let cfg = deep_faults(seed).0;
    assert_eq!(cfg.protocol.max_held_messages, 16);
    match Simulation::new(cfg).and_then(Simulation::run) {
        Ok(o) => assert!(o.is_clean(), "seed {seed}: {}", o.report),
        Err(e) => panic!("seed {seed}: {e}"),
    }
}

/// A store that keeps only each conversation's newest message, with
/// clients crashing, reconnecting and reinstalling: syncs and history
/// pages reach trimmed versions, clients are told and move on, and every
/// run settles — a member that lacks a trimmed message it was told of has
/// accounted for it (before the settle check counted those, such runs
/// never settled: "stored messages missing" for ever) — and is clean by
/// the checker, which accepts only trimmed-and-told gaps.
#[test]
fn retention_runs_settle_with_trimmed_and_told_messages_accounted_for() {
    let mut told = 0;
    let mut failures = Vec::new();
    for seed in 0..16 {
        let cfg = SimConfig {
            retain: Some(1),
            reinstalls: 2,
            latest: 3,
            history_page: 2,
            ..small(seed, 0.1, 0.05, 0.05, (2, 1, 1))
        };
        match Simulation::new(cfg).and_then(Simulation::run) {
            Ok(o) if o.is_clean() => told += o.report.trimmed,
            Ok(o) => failures.push(format!("seed {seed}: {:?} {}", o.violations, o.unsettled)),
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(told > 0, "no client was told of trimmed history");
}

/// Resends that reach the store before the first copy's write landed: with
/// store writes slower than reconnects, a torn-down connection's messages
/// are still being written when the client hands them over again on the
/// next one (the server resumed its outbox below them), so the store sees
/// each twice. The sweep above almost never gets there (a write takes
/// milliseconds, a reconnect hundreds); here the store's receipt keys must
/// turn every second copy into `Appended::Duplicate`, answered with the
/// first copy's receipt.
#[test]
fn resends_overtaking_slow_store_writes_are_stored_once() {
    let mut deduped = 0;
    let mut failures = Vec::new();
    for seed in 0..24 {
        let cfg = SimConfig {
            store_delay: Duration::from_secs(1),
            reconnect_delay: Duration::from_millis(50),
            max_downtime: Duration::from_millis(300),
            ..small(seed, 0.1, 0.0, 0.0, (2, 2, 1))
        };
        match Simulation::new(cfg).and_then(Simulation::run) {
            Ok(o) if o.is_clean() && o.report.stored == 24 => {
                deduped += o.report.duplicates_deduped
            }
            Ok(o) => failures.push(format!("seed {seed}: {:?}", o.violations)),
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(deduped > 0, "no resend reached the store twice");
}

/// Totals over the 1,024 runs of the sweep above (and the deep sweep's
/// first `SIM_RUNS`): retransmits, sync traffic and recovery time, to
/// compare protocol changes. `cargo test --release --test sim_sweep
/// sweep_totals -- --ignored --nocapture`.
#[test]
#[ignore = "measurement"]
fn sweep_totals() {
    let mut configs = Vec::new();
    for loss in [0.0, 0.10, 0.25, 0.50] {
        let mut runs = 0;
        for dup in [0.0, 0.15] {
            for reorder in [0.0, 0.2] {
                for partitions in [0, 2] {
                    for client_crashes in [0, 2] {
                        for server_crashes in [0, 1] {
                            for seed in 0..8 {
                                let faults = (partitions, client_crashes, server_crashes);
                                let seed = seed + 8 * (runs / 8) + 10_000 * (loss * 100.0) as u64;
                                runs += 1;
                                configs.push(("sweep", small(seed, loss, dup, reorder, faults)));
                            }
                        }
                    }
                }
            }
        }
    }
    let deep: u64 = std::env::var("SIM_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for seed in 1_000_000..1_000_000 + deep {
        configs.push(("deep", deep_config(seed)));
    }
    for kind in ["sweep", "deep"] {
        let (mut n, mut failed, mut rtx, mut sent, mut syncs, mut time_ms, mut worst) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u128, 0u128);
        let mut p99s = Vec::new();
        for (k, cfg) in &configs {
            if *k != kind {
                continue;
            }
            n += 1;
            match Simulation::new(cfg.clone()).and_then(Simulation::run) {
                Ok(o) => {
                    if !o.is_clean() {
                        failed += 1;
                    }
                    let r = &o.report;
                    rtx += r.retransmits_down + r.retransmits_up;
                    sent += r.pushed + r.uploaded;
                    syncs += r.sync_requests;
                    let t = r.virtual_time.as_millis();
                    time_ms += t;
                    worst = worst.max(t);
                    p99s.push(r.latency.p99.as_millis());
                }
                Err(_) => failed += 1,
            }
        }
        p99s.sort_unstable();
        println!(
            "{kind}: {n} runs, {failed} not clean; retransmits {rtx} for {sent} first sends ({:.3} each); sync requests {syncs}; virtual time total {} s, worst {} s; median p99 latency {} ms",
            rtx as f64 / sent.max(1) as f64,
            time_ms / 1000,
            worst / 1000,
            p99s.get(p99s.len() / 2).copied().unwrap_or(0)
        );
    }
}

/// Late packets of earlier connections delivered to the current one, which
/// must reject them by their connection id (and change nothing).
#[test]
fn stale_packets_of_earlier_connections_are_rejected() {
    let mut rejected = 0;
    for seed in 0..16 {
        let mut cfg = small(seed, 0.1, 0.0, 0.0, (2, 2, 1));
        cfg.link.stale = 0.05;
        match Simulation::new(cfg).and_then(Simulation::run) {
            Ok(o) => {
                assert!(o.is_clean(), "seed {seed}: {}", o.report);
                rejected += o.report.stale_rejected;
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    assert!(rejected > 0);
}

/// Found by the deep sweep of issue 13 (206 of 20,000 runs stalled for ten
/// minutes before these fixes; these five stood for the four mechanisms):
/// - 1019879: page end markers waited until *no* answer was queued, while
///   retries refilled the queue behind a window of 4 (336 markers queued);
///   now each waits for its own page only, and a repeated page adds none.
/// - 1000042: two packages' members filled a window of 4, each waiting for
///   the other's slots; now a package enters only with slots for the rest.
/// - 1001301: the one message the receiver needed was queued behind an
///   earlier answer's tail, behind a window it had no room for; now the
///   latest answer goes to the front of the queue.
/// - 1000361, 1000751: a SYNC expedited the lowest SIDs of the stream, not
///   the lowest versions, and flow control let the queue's front out
///   rather than the oldest; now both pick what the receiver waits for.
/// - 1000190: a second copy of a package member took the slot kept for the
///   package's last member; now a copy takes an ordinary slot.
/// - 1015254: `Acked` for two members of a package given up on an earlier
///   connection: a resumed position past them looked like proof they were
///   stored. Now the app hands the range to `Receiver::pass_over`.
/// - 1006488: the same upstream: the server gave a client's package up, the
///   client never heard, and its resend was acked with a receipt naming
///   nothing (the simulated server now passes such ranges over too).
/// - 1003943: a range passed over above the resumed position (the package
///   was delivered again and stored) answered the resend for its receipt
///   "skipped"; and a receipt for a message already reported committed did
///   not settle it (resent 162 times). Now `resume` drops ranges above the
///   position, and such a receipt settles the message.
/// - 1004825, 1010559, 1012117, 1014173, 1014490: history pages of 3-4
///   streams at once, under a held bound of 8-16 at 50 % loss, each took
///   room the others needed and dropped what it had collected, in turn,
///   for ever. Now one page is collected at a time.
#[test]
fn small_windows_and_small_receivers_do_not_stall() {
    for seed in [
        1_019_879, 1_000_042, 1_001_301, 1_000_361, 1_000_751, 1_000_190, 1_015_254, 1_006_488,
        1_003_943, 1_004_825, 1_010_559, 1_012_117, 1_014_173, 1_014_490,
    ] {
        let cfg = deep_config(seed);
        match Simulation::new(cfg).and_then(Simulation::run) {
            Ok(o) => assert!(o.is_clean(), "seed {seed}: {}", o.report),
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
}

/// The sweeps explore small bounds, not broken configurations: every
/// protocol configuration they draw passes `Config::validate`.
#[test]
fn every_configuration_the_sweeps_draw_is_valid() {
    let mut checked = 0;
    for seed in 1_000_000..1_002_000 {
        let cfg = deep_config(seed).protocol;
        assert_eq!(cfg.validate(), Ok(()), "deep seed {seed}: {cfg:?}");
        checked += 1;
    }
    for loss in [0.0, 0.5] {
        for seed in 0..64 {
            let cfg = mechanisms(seed % 8, seed, small(seed, loss, 0.1, 0.1, (1, 1, 1))).protocol;
            assert_eq!(cfg.validate(), Ok(()), "sweep seed {seed}: {cfg:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 2_128);
}

//! The demo: an IM server and many clients exchange messages over a hostile
//! network — loss, duplication, reordering, partitions — while clients and
//! the server crash and restart, all on a virtual clock. At the end an
//! independent checker compares every client's database and every
//! author's acknowledgements with the server's store.
//!
//! `cargo run --release --example simulate -- --help`

use ackwire::sim::{Report, SimConfig, Simulation};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
simulate [FLAGS]: an IM server and many clients over a hostile network

  --clients N          client devices                         (default 30)
  --conversations N    group conversations (alias --streams)  (default 12)
  --members N          members per conversation               (default 5)
  --messages N         messages the users send                (default 5000)
  --duration S         virtual seconds of sending and faults  (default 60)
  --loss PCT           packets lost, per link                 (default 10)
  --dup PCT            packets duplicated                     (default 2)
  --reorder PCT        packets held back so later ones pass   (default 5)
  --latency MS         one-way latency                        (default 30)
  --jitter MS          extra random delay, up to              (default 20)
  --crashes N          client crashes                         (default 6)
  --server-crashes N   server crashes                         (default 1)
  --partitions N       links down for a while                 (default 6)
  --downtime MS        longest crash or partition             (default 3000)
  --commit-delay MS    longest client database write          (default 20)
  --seed S             the run's seed: same seed, same run    (default 1)
  --packages PCT       sends that are packages                (default 0)
  --max-package N      largest package                        (default 4)
  --reinstalls N       clients reinstalled: latest + history  (default 0)
  --datagrams N        typing indicators (at most once)       (default 0)
  --markers N          read markers (at least once)           (default 0)
  --resend-escalated 1 apps resend escalated messages         (default 0)
  --contiguous 1       contiguous conversations (no server crashes)
  --plot FILE.svg      draw delivery latency and retransmits over time

Exits non-zero if the checker finds a message lost, duplicated or out of
order, or the run fails to finish.";

struct Args {
    cfg: SimConfig,
    plot: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut cfg = SimConfig::default();
    let mut plot = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or(format!("{flag} needs a value\n\n{USAGE}"))?;
        if flag == "--plot" {
            plot = Some(value);
            continue;
        }
        let v: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or(format!("{flag}: not a number: {value}"))?;
        let n = v as u64;
        let count = u32::try_from(n).map_err(|_| format!("{flag}: too large"))?;
        let ms = Duration::from_millis(n);
        let pct = || -> Result<f64, String> {
            if v <= 100.0 {
                Ok(v / 100.0)
            } else {
                Err(format!("{flag}: a percentage is at most 100"))
            }
        };
        match flag.as_str() {
            "--clients" => cfg.clients = count,
            "--conversations" | "--streams" => cfg.conversations = count,
            "--members" => cfg.members = count,
            "--messages" => cfg.messages = count,
            "--duration" => cfg.duration = Duration::from_secs(n),
            "--loss" => cfg.link.loss = pct()?.min(0.9),
            "--dup" => cfg.link.duplicate = pct()?,
            "--reorder" => cfg.link.reorder = pct()?,
            "--latency" => cfg.link.latency = ms,
            "--jitter" => cfg.link.jitter = ms,
            "--crashes" => cfg.client_crashes = count,
            "--server-crashes" => cfg.server_crashes = count,
            "--partitions" => cfg.partitions = count,
            "--downtime" => cfg.max_downtime = ms,
            "--commit-delay" => cfg.commit_delay = ms,
            "--seed" => cfg.seed = n,
            "--packages" => cfg.package_share = pct()?,
            "--max-package" => cfg.max_package = count,
            "--reinstalls" => cfg.reinstalls = count,
            "--datagrams" => cfg.datagrams = count,
            "--markers" => cfg.markers = count,
            "--resend-escalated" => cfg.resend_escalated = n > 0,
            "--contiguous" => cfg.contiguous_conversations = n > 0,
            _ => return Err(format!("unknown flag {flag}\n\n{USAGE}")),
        }
    }
    cfg.members = cfg.members.min(cfg.clients);
    Ok(Args { cfg, plot })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulation::new(args.cfg.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A bar on the terminal only: piped or redirected output stays clean.
    let bar = if std::io::stdout().is_terminal() {
        let bar = ProgressBar::with_draw_target(
            Some(u64::from(args.cfg.messages)),
            ProgressDrawTarget::stdout(),
        );
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{bar:40}] {pos}/{len} messages confirmed  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let result = sim.run_with_progress(|p| {
        bar.set_position(p.acked);
        let phase = if p.now <= p.duration {
            "sending"
        } else {
            "healing"
        };
        bar.set_message(format!(
            "virtual {:.1} s ({phase}), {} deliveries",
            p.now.as_secs_f64(),
            p.delivered
        ));
    });
    bar.finish_and_clear();
    let wall = started.elapsed();
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            eprintln!("FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", outcome.report);
    println!(
        "  {:<44} {:>12}",
        "wall-clock time",
        format!("{:.2} s", wall.as_secs_f64())
    );
    if let Some(path) = &args.plot {
        match plot(&outcome.report, path) {
            Ok(()) => println!("plot written to {path}"),
            Err(e) => {
                eprintln!("could not draw {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if !outcome.is_clean() {
        println!("FAILED: the checker found problems:");
        for v in outcome.violations.iter().take(20) {
            println!("  {v}");
        }
        if outcome.violations.len() > 20 {
            println!("  ... and {} more", outcome.violations.len() - 20);
        }
        return ExitCode::FAILURE;
    }
    println!(
        "OK: every message stored once, delivered to every member exactly once and in order, \
         and confirmed to its author"
    );
    ExitCode::SUCCESS
}

/// Two panels over virtual time: delivery latency (p50, p99 and max per
/// second) and retransmits per second.
fn plot(report: &Report, path: &str) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let seconds = (report.virtual_time.as_secs() + 1) as usize;
    let mut per_second: Vec<Vec<f64>> = vec![Vec::new(); seconds];
    for d in &report.deliveries {
        let s = (d.at.as_secs() as usize).min(seconds - 1);
        per_second[s].push(d.latency.as_secs_f64() * 1000.0);
    }
    let mut lines: [Vec<(f64, f64)>; 3] = Default::default();
    for (s, l) in per_second.iter_mut().enumerate() {
        if l.is_empty() {
            continue;
        }
        l.sort_by(f64::total_cmp);
        let at = |p: usize| l[((l.len() * p).div_ceil(100)).max(1) - 1];
        let x = s as f64 + 0.5;
        lines[0].push((x, at(50)));
        lines[1].push((x, at(99)));
        lines[2].push((x, *l.last().unwrap()));
    }
    let max_latency = lines[2].iter().map(|p| p.1).fold(1.0, f64::max);
    let retransmits: Vec<(f64, f64)> = report
        .retransmits_per_second
        .iter()
        .enumerate()
        .map(|(s, &n)| (s as f64 + 0.5, n as f64))
        .collect();
    let max_rtx = retransmits.iter().map(|p| p.1).fold(1.0, f64::max);
    let x_end = seconds as f64;

    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(400);
    let title = format!(
        "ackwire sim, seed {}: {} clients, loss {:.0}%, dup {:.0}%, reorder {:.0}%, \
         {} client / {} server crashes, {} partitions",
        report.seed,
        report.clients,
        report.link.loss * 100.0,
        report.link.duplicate * 100.0,
        report.link.reorder * 100.0,
        report.client_crashes,
        report.server_crashes,
        report.partitions
    );
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_end, 0.0..max_latency * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("delivery latency (ms)")
        .draw()?;
    let styles = [("p50", BLUE), ("p99", RED), ("max", BLACK)];
    for (points, (name, color)) in lines.iter().zip(styles) {
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_end, 0.0..max_rtx * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("virtual time (s)")
        .y_desc("retransmits per second")
        .draw()?;
    chart.draw_series(LineSeries::new(retransmits, MAGENTA))?;
    root.present()?;
    Ok(())
}

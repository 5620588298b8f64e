//! A crate endpoint behind the conformance line protocol, on stdin and
//! stdout: another implementation's test harness can drive it with the
//! same commands as the trace files of `conformance/traces/` and compare
//! its own endpoint's answers (see `conformance/README.md`).
//!
//! ```text
//! $ cargo run --quiet --example conformance_probe
//! receiver 0x0102030405060708
//! deadline none
//! in 0 415702000000000a010203040506070801050700ac02000268695cc27877
//! ok
//! event deliver stream=7 prev=0 version=300 payload=6869 qos=exactly receipt=0 package=-
//! deadline none
//! ```
//!
//! One command per line; each response ends with its `deadline` line.
//! Blank lines and lines starting with `#` are ignored, and lines starting
//! with `> ` (a trace's expectations) too, so a trace file can be piped in
//! as it is.

#[path = "../conformance/driver.rs"]
mod driver;

use std::io::{BufRead, Write};

fn main() {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut d = driver::Driver::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('>') {
            continue;
        }
        for l in d.run(line) {
            if writeln!(out, "{l}").is_err() {
                return;
            }
        }
        if out.flush().is_err() {
            return;
        }
    }
}

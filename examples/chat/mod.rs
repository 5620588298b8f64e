//! A chat service on ackwire, shared by the examples `chat_server`,
//! `chat_client`, `chat_client_blocking`, `chat_bench` and by the tests
//! that run them for real.
//!
//! - [`wire`]: the clock mapping, the packet codec (tokio-util) over
//!   `ackwire::packet_len`, the hello and its reply, the payload layouts;
//! - [`auth`]: the hello's token (HMAC-SHA256 of the client id);
//! - [`db`]: the client's local database (one append-only file, fsynced);
//! - [`app`]: the client's app logic, sans-IO, shared by both clients;
//! - [`hub`]: a server process's fan-out to its connections;
//! - [`store`]: what the server needs of a store (floors, a feed of
//!   appends), for `MemoryStore` and `RedisStore`;
//! - [`server`]: the tokio server (TCP and WebSocket);
//! - [`metrics`]: its Prometheus counters and `/metrics`, `/health`;
//! - [`client`]: the tokio client (TCP or WebSocket); [`blocking`]: the
//!   same client on `std::net::TcpStream` with read timeouts.
#![allow(dead_code)]

pub mod app;
pub mod auth;
pub mod blocking;
pub mod client;
pub mod db;
pub mod hub;
pub mod metrics;
pub mod server;
pub mod store;
pub mod wire;

/// Logs to stderr with timestamps and levels; `RUST_LOG` filters
/// (default `info`).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Raises the soft limit on open files to the hard one (a server holds a
/// file per connection; the usual soft limit is 1,024). Returns the limit
/// now in force.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// Gives freed heap pages back to the OS. glibc keeps freed memory in its
/// arenas (each worker thread has one), so after a burst of connections
/// the RSS would stay high; `malloc_trim` returns what is free. Elsewhere
/// a no-op.
pub fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; no pointer is
    // passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The resident set size of this process, in bytes (Linux; 0 elsewhere).
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

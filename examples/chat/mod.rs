//! A chat service on ackwire, shared by the examples `chat_server`,
//! `chat_client`, `chat_client_blocking` and by the tests that run them for
//! real on loopback.
//!
//! - [`wire`]: the clock mapping, the packet codec (tokio-util) over
//!   `ackwire::packet_len`, the hello, the payload layouts;
//! - [`db`]: the client's local database (one append-only file, fsynced);
//! - [`app`]: the client's app logic, sans-IO, shared by both clients;
//! - [`server`]: the tokio server, over any `ackwire::store::Store`;
//! - [`client`]: the tokio client; [`blocking`]: the same client on
//!   `std::net::TcpStream` with read timeouts.
#![allow(dead_code)]

pub mod app;
pub mod blocking;
pub mod client;
pub mod db;
pub mod server;
pub mod wire;

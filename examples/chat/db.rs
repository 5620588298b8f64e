//! The client's local database: one append-only text file, a line per
//! record, fsynced before the records it holds are acknowledged.
//!
//! ```text
//! m <conversation> <prev> <version> <payload hex>   a committed message
//! o <outbox version> <conversation> <text hex>      a send, before it goes out
//! r <outbox version> <receipt hex>                  the server's receipt
//! ```
//!
//! A crash can leave a torn last line (no newline): it is ignored, and cut
//! off when the file is opened for writing. Nothing before it is lost,
//! because nothing was acknowledged before its fsync.

use super::wire::{hex, unhex};
use ackwire::Version;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One committed message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub prev: Version,
    pub version: Version,
    pub payload: Bytes,
}

/// One send: the conversation, the text, and the receipt once acked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub conversation: u64,
    pub text: Bytes,
    pub receipt: Option<Bytes>,
}

/// What a database file holds, read without opening it for writing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// Per conversation, in the order they were committed.
    pub messages: BTreeMap<u64, Vec<Stored>>,
    /// By outbox version.
    pub outbox: BTreeMap<u64, Outgoing>,
}

impl Contents {
    /// Parses a file's bytes; returns the contents and the length of the
    /// complete lines (a torn last line is left out).
    pub fn parse(text: &[u8]) -> io::Result<(Contents, usize)> {
        let bad = |line: &str| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad db line {line:?}"))
        };
        let mut c = Contents::default();
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&text[..complete]).map_err(|_| bad("not utf-8"))?;
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| {
                f.get(i)
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| bad(line))
            };
            let bytes = |i: usize| {
                f.get(i)
                    .and_then(|s| unhex(s))
                    .map(Bytes::from)
                    .ok_or_else(|| bad(line))
            };
            match f[0] {
                "m" => c.messages.entry(num(1)?).or_default().push(Stored {
                    prev: Version(num(2)?),
                    version: Version(num(3)?),
                    payload: bytes(4)?,
                }),
                "o" => {
                    c.outbox.insert(
                        num(1)?,
                        Outgoing {
                            conversation: num(2)?,
                            text: bytes(3)?,
                            receipt: None,
                        },
                    );
                }
                "r" => {
                    let entry = c.outbox.get_mut(&num(1)?).ok_or_else(|| bad(line))?;
                    entry.receipt = Some(bytes(2)?);
                }
                _ => return Err(bad(line)),
            }
        }
        Ok((c, complete))
    }

    /// Reads the file at `path` (empty if it does not exist).
    pub fn load(path: &Path) -> io::Result<Contents> {
        match std::fs::read(path) {
            Ok(b) => Ok(Contents::parse(&b)?.0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Contents::default()),
            Err(e) => Err(e),
        }
    }

    /// The newest committed version of a conversation.
    pub fn head(&self, conversation: u64) -> Version {
        self.messages
            .get(&conversation)
            .and_then(|m| m.iter().map(|s| s.version).max())
            .unwrap_or(Version::ZERO)
    }
}

/// The database, open for writing.
pub struct ClientDb {
    path: PathBuf,
    file: File,
    contents: Contents,
}

impl ClientDb {
    pub fn open(path: &Path) -> io::Result<ClientDb> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let bytes = std::fs::read(path)?;
        let (contents, complete) = Contents::parse(&bytes)?;
        if complete < bytes.len() {
            file.set_len(complete as u64)?;
            file.sync_all()?;
        }
        file.flush()?;
        Ok(ClientDb {
            path: path.to_owned(),
            file,
            contents,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contents(&self) -> &Contents {
        &self.contents
    }

    pub fn head(&self, conversation: u64) -> Version {
        self.contents.head(conversation)
    }

    /// Writes committed messages and fsyncs: only then may they be acked.
    pub fn store_messages(&mut self, batch: &[(u64, Stored)]) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut out = String::new();
        for (conv, s) in batch {
            out += &format!(
                "m {conv} {} {} {}\n",
                s.prev.0,
                s.version.0,
                hex(&s.payload)
            );
        }
        self.file.write_all(out.as_bytes())?;
        self.file.sync_data()?;
        for (conv, s) in batch {
            self.contents
                .messages
                .entry(*conv)
                .or_default()
                .push(s.clone());
        }
        Ok(())
    }

    /// Records a send before it goes out (fsynced: after a crash it is
    /// resent with the same identity); returns its outbox version.
    pub fn add_outgoing(&mut self, conversation: u64, text: &[u8]) -> io::Result<u64> {
        let v = self.contents.outbox.keys().next_back().map_or(1, |v| v + 1);
        self.file
            .write_all(format!("o {v} {conversation} {}\n", hex(text)).as_bytes())?;
        self.file.sync_data()?;
        self.contents.outbox.insert(
            v,
            Outgoing {
                conversation,
                text: Bytes::copy_from_slice(text),
                receipt: None,
            },
        );
        Ok(v)
    }

    /// Records a receipt; `true` if it is new. Not fsynced: losing it only
    /// means a resend, which the server answers with the same receipt.
    pub fn record_receipt(&mut self, outbox: u64, receipt: &[u8]) -> io::Result<bool> {
        let Some(entry) = self.contents.outbox.get_mut(&outbox) else {
            return Ok(false);
        };
        if entry.receipt.is_some() {
            return Ok(false);
        }
        entry.receipt = Some(Bytes::copy_from_slice(receipt));
        self.file
            .write_all(format!("r {outbox} {}\n", hex(receipt)).as_bytes())?;
        Ok(true)
    }
}

//! The unit of delivery: a message on a stream, placed in the stream's
//! version chain, optionally a member of a package.

use bytes::Bytes;

/// A conversation or inbox. Order is kept per stream; streams are independent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

/// A message's place in its stream. Versions only have to increase along the
/// chain, not be contiguous; `Version(0)` means "nothing before".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl Version {
    /// "Nothing before": the `prev` of a stream's first message.
    pub const ZERO: Version = Version(0);
}

/// Membership of a package: messages that must reach the app together,
/// complete and in order, or not at all (a message plus the signal that
/// goes with it; a batch of offline messages).
///
/// Members are consecutive in their stream's chain: member `index + 1`
/// follows member `index`. Every member names the package's `last` version
/// so a receiver that gives up on an incomplete package knows exactly which
/// versions it skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Package {
    /// Chosen by the producer; reported back in
    /// [`ReceiverEvent::PackageExpired`](crate::ReceiverEvent::PackageExpired).
    pub id: u64,
    /// This member's position, from 0.
    pub index: u32,
    /// Members in the package, at least 1.
    pub count: u32,
    /// The version of the package's last member.
    pub last: Version,
}

impl Package {
    /// Member `index` of `count` in package `id`, which ends at version `last`.
    pub fn new(id: u64, index: u32, count: u32, last: Version) -> Package {
        Package {
            id,
            index,
            count,
            last,
        }
    }

    /// Whether the fields agree with each other and with the member's
    /// `version`: a count of at least one, the index inside it, the last
    /// member exactly at `last`, and room below `last` for the members after
    /// this one.
    pub(crate) fn fits(&self, version: Version) -> bool {
        let after = u64::from(self.count) - u64::from(self.index).min(u64::from(self.count));
        self.count > 0
            && self.index < self.count
            && version <= self.last
            && (after == 1) == (version == self.last)
            && self.last.0 - version.0 >= after - 1
    }
}

/// The delivery guarantee of one message (MQTT's QoS levels, M12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Qos {
    /// May be lost, never repeated: sent once, no ack, no retransmission, no
    /// chain. For typing indicators and presence. The receiver reports it as
    /// [`ReceiverEvent::Datagram`](crate::ReceiverEvent::Datagram); `prev`
    /// is not sent and `version` is the app's own id.
    AtMostOnce,
    /// Never lost, may be repeated: acked after commit and retransmitted,
    /// but delivered on arrival without a chain (`prev` is ignored), so a
    /// copy resent on a new connection can reach the app again. Cheaper
    /// receiver state: no per-stream order or reorder buffer.
    AtLeastOnce,
    /// Never lost, never repeated, in order per stream: the chain and the
    /// dedup of the default path.
    #[default]
    ExactlyOnce,
}

/// One message of one stream.
///
/// `prev` names the version this message follows. A receiver delivers a
/// message only once the message it follows has been delivered, so the chain
/// `prev -> version` both orders the stream and exposes gaps.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The stream the message belongs to.
    pub stream: StreamId,
    /// The version this message follows (`Version::ZERO` for the first).
    pub prev: Version,
    /// This message's version; must be greater than `prev`.
    pub version: Version,
    /// Application bytes, carried opaquely and sliced without copying.
    pub payload: Bytes,
    /// The package this message belongs to, if any.
    pub package: Option<Package>,
    /// The delivery guarantee.
    pub qos: Qos,
    /// The sender wants the receiving app's receipt with the ack (the
    /// version a server assigned to an upstream message, say).
    pub wants_receipt: bool,
}

impl Message {
    /// A message that follows `prev` in `stream`.
    pub fn new(stream: StreamId, prev: Version, version: Version, payload: Bytes) -> Message {
        Message {
            stream,
            prev,
            version,
            payload,
            package: None,
            qos: Qos::ExactlyOnce,
            wants_receipt: false,
        }
    }

    /// The same message with another delivery guarantee.
    pub fn with_qos(mut self, qos: Qos) -> Message {
        self.qos = qos;
        self
    }

    /// The same message, asking the receiving app for a receipt: the
    /// sender's [`SenderEvent::Acked`](crate::SenderEvent::Acked) carries it.
    /// A resend of a message the receiver already committed gets the same
    /// receipt again.
    pub fn with_receipt(mut self) -> Message {
        self.wants_receipt = true;
        self
    }

    /// The same message as a member of `package`.
    pub fn with_package(mut self, package: Package) -> Message {
        self.package = Some(package);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_fields_must_agree() {
        let v = Version;
        assert!(Package::new(1, 0, 1, v(5)).fits(v(5)));
        assert!(Package::new(1, 0, 2, v(6)).fits(v(5)));
        assert!(Package::new(1, 1, 2, v(6)).fits(v(6)));
        assert!(!Package::new(1, 0, 0, v(5)).fits(v(5)), "empty");
        assert!(!Package::new(1, 2, 2, v(6)).fits(v(6)), "index past count");
        assert!(!Package::new(1, 0, 2, v(5)).fits(v(5)), "last member early");
        assert!(!Package::new(1, 1, 2, v(9)).fits(v(6)), "last not at last");
        assert!(
            !Package::new(1, 0, 3, v(6)).fits(v(5)),
            "no room for two more"
        );
        assert!(!Package::new(1, 0, 1, v(4)).fits(v(5)), "past last");
    }
}

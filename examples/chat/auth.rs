//! The hello's token: HMAC-SHA256 of the client id under a secret only the
//! servers (and whoever issues tokens) know. A client cannot name another
//! client id without that client's token, so it cannot write as anyone
//! else. (Membership of conversations is still taken from the hello: a
//! real service looks it up; the example caps it at `MAX_CONVERSATIONS`.)

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Binds the token to this protocol, so a MAC made for something else with
/// the same secret is not a token.
const DOMAIN: &[u8] = b"ackwire-chat-hello-v1";

/// The secret the servers share.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    fn mac(&self, client: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac.update(&client.to_be_bytes());
        mac
    }

    /// The token of `client`.
    pub fn token(&self, client: u64) -> [u8; 32] {
        self.mac(client).finalize().into_bytes().into()
    }

    /// Whether `token` is `client`'s (compared in constant time).
    pub fn verify(&self, client: u64, token: &[u8; 32]) -> bool {
        self.mac(client).verify_slice(token).is_ok()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

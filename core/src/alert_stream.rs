//! The alert stream's messages: what integrations receive about alerts, numbered and signed so
//! that a consumer can trust them and notice what it missed.
//!
//! Every message is the alert payload (`v`, `event`, `alert`, … — unchanged for consumers that
//! read only those) with four fields more:
//!
//! - `seq`: the stream's sequence number, gap-free and strictly increasing in the order the
//!   messages must be applied (the store gives them out, [`crate::storage::Store::append_to_alert_stream`]);
//! - `district_prev`: the `seq` of the previous message about the same district (for alerts
//!   without one, the triage queue: the previous without one), 0 for the first — what a consumer
//!   that follows one district checks instead of `seq - 1`;
//! - `kid`: which platform key signed it (16 hex digits of the SHA-256 of the public key);
//! - `sig`: the Ed25519 signature (RFC 8032), 128 lowercase hex digits, always last.
//!
//! **What is signed**, so that any language can check it without canonical JSON: a message
//! always ends with `,"sig":"` + 128 hex digits + `"}`. Cut those last [`SIG_SUFFIX_LEN`] bytes
//! and put back a `}`: the bytes you have are exactly the bytes that were signed (and a JSON
//! object without `sig`). [`verify`] does this; docs/ALERTS.md shows it in Python with a worked
//! example, which the tests below pin.

use crate::secret::{REDACTED, hex};
use crate::storage::{StorageError, Store};
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The name of the stream's key pair in the store's `platform_keys`.
pub const KEY_NAME: &str = "alert_stream";

/// The algorithm, as `GET /api/v1/alerts/key` names it.
pub const ALGORITHM: &str = "Ed25519";

/// The length of `,"sig":"<128 hex>"}`, the end of every message.
pub const SIG_SUFFIX_LEN: usize = SIG_PREFIX.len() + 128 + 2;

const SIG_PREFIX: &str = ",\"sig\":\"";

/// Where a message stands in the stream; given out by the store.
pub use crate::storage::StreamPosition as Position;

/// The platform's public key: what integrations verify messages with. Nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicKey {
    /// `Ed25519`.
    pub algorithm: &'static str,
    /// The key's id, in every message it signed: 16 hex digits of SHA-256 of the key.
    pub kid: String,
    /// The 32-byte public key, lowercase hex.
    pub public_key: String,
    #[serde(skip)]
    key: VerifyingKey,
}

impl PublicKey {
    fn of(key: VerifyingKey) -> Self {
        let bytes = key.to_bytes();
        Self {
            algorithm: ALGORITHM,
            kid: hex(&Sha256::digest(bytes))[..16].to_string(),
            public_key: hex(&bytes),
            key,
        }
    }

    /// A key published as 64 hex digits.
    pub fn from_hex(public_key: &str) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = unhex(public_key)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self::of)
            .map_err(|_| KeyError)
    }
}

/// A key that is not 32 bytes of lowercase hex, or not a valid Ed25519 key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 key (64 lowercase hex digits)")]
pub struct KeyError;

/// Signs the stream's messages with the platform's key.
#[derive(Clone)]
pub struct StreamSigner {
    key: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for StreamSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSigner")
            .field("kid", &self.public.kid)
            .field("key", &format_args!("{REDACTED}"))
            .finish()
    }
}

impl StreamSigner {
    /// A new random key pair.
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut secret);
        Self::from_secret(secret)
    }

    fn from_secret(secret: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&secret);
        let public = PublicKey::of(key.verifying_key());
        Self { key, public }
    }

    /// The key pair whose secret half is these 64 hex digits.
    pub fn from_secret_hex(secret: &str) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = unhex(secret)
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError)?;
        Ok(Self::from_secret(bytes))
    }

    /// The deployment's key pair, kept in the store: made once, on first use, and the same for
    /// every process and after every restart.
    pub async fn from_store(store: &Store, now: DateTime<Utc>) -> Result<Self, StorageError> {
        let stored = store
            .platform_key_or_init(
                KEY_NAME,
                ALGORITHM,
                || {
                    let new = Self::generate();
                    (new.public.public_key.clone(), hex(&new.key.to_bytes()))
                },
                now,
            )
            .await?;
        let signer = Self::from_secret_hex(stored.secret_key.expose_secret())
            .map_err(|e| StorageError::Corrupt(format!("platform key {KEY_NAME}: {e}")))?;
        if signer.public.public_key != stored.public_key {
            return Err(StorageError::Corrupt(format!(
                "platform key {KEY_NAME}: the public half does not match the secret half"
            )));
        }
        Ok(signer)
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The message for `payload` (a JSON object) at `position`: the stream's fields first, the
    /// payload's own after them, the signature last.
    pub fn sign(&self, payload: &serde_json::Value, position: Position) -> String {
        let fields = payload.to_string();
        let rest = fields
            .strip_prefix('{')
            .filter(|r| r.len() > 1)
            .expect("an alert payload is a JSON object with fields");
        let signed = format!(
            "{{\"seq\":{},\"district_prev\":{},\"kid\":\"{}\",{rest}",
            position.seq, position.district_prev, self.public.kid
        );
        let signature = self.key.sign(signed.as_bytes()).to_bytes();
        format!(
            "{}{SIG_PREFIX}{}\"}}",
            &signed[..signed.len() - 1],
            hex(&signature)
        )
    }
}

/// Why a message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the message does not end with a signature")]
    Unsigned,
    #[error("the signature does not match the message and key")]
    BadSignature,
    #[error("the signed part is not a JSON object with seq")]
    Malformed,
}

/// Checks a message against `key`; the signed fields when it verifies.
pub fn verify(message: &[u8], key: &PublicKey) -> Result<serde_json::Value, VerifyError> {
    let signed = signed_part(message).ok_or(VerifyError::Unsigned)?;
    let at = message.len() - SIG_SUFFIX_LEN + SIG_PREFIX.len();
    let signature: [u8; 64] = std::str::from_utf8(&message[at..at + 128])
        .ok()
        .and_then(unhex)
        .and_then(|b| b.try_into().ok())
        .ok_or(VerifyError::Unsigned)?;
    key.key
        .verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(&signature))
        .map_err(|_| VerifyError::BadSignature)?;
    let fields: serde_json::Value =
        serde_json::from_slice(&signed).map_err(|_| VerifyError::Malformed)?;
    if fields.get("seq").and_then(|s| s.as_i64()).is_none() {
        return Err(VerifyError::Malformed);
    }
    Ok(fields)
}

/// The bytes a message's signature covers: the message without its `,"sig":"…"}` end, closed
/// with `}`. `None` when it does not end so.
pub fn signed_part(message: &[u8]) -> Option<Vec<u8>> {
    let cut = message.len().checked_sub(SIG_SUFFIX_LEN)?;
    let (head, tail) = message.split_at(cut);
    let hex_digits = tail.get(SIG_PREFIX.len()..SIG_PREFIX.len() + 128)?;
    let ok = tail.starts_with(SIG_PREFIX.as_bytes())
        && tail.ends_with(b"\"}")
        && hex_digits
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    ok.then(|| [head, b"}"].concat())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                _ => None,
            };
            Some(digit(pair[0])? << 4 | digit(pair[1])?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of docs/ALERTS.md, signed with [`example_signer`].
    const EXAMPLE_MESSAGE: &str = r#"{"seq":42,"district_prev":40,"kid":"34750f98bd59fcfc","alert":{"district":"kugenuma","id":12,"kind":"emergency","label":"緊急通報","state":"open"},"event":"created","notification":17,"step":null,"teams":["houkatsu-kugenuma"],"v":1,"sig":"03257f54c71142f5f309e27eda110562e9414f927656ba156e11f14fb9f8bdc314649d61adff4fba659dce9f9058a49e18b1868ea8758b0390ce4da45afe6d03"}"#;

    /// The key of the worked example in docs/ALERTS.md: secret half 32 bytes of 0x01.
    fn example_signer() -> StreamSigner {
        StreamSigner::from_secret([1u8; 32])
    }

    fn example_payload() -> serde_json::Value {
        serde_json::json!({
            "v": 1, "event": "created", "notification": 17, "teams": ["houkatsu-kugenuma"],
            "step": null,
            "alert": {"id": 12, "kind": "emergency", "label": "緊急通報", "state": "open",
                      "district": "kugenuma"},
        })
    }

    #[test]
    fn the_worked_example_of_the_docs_is_what_is_signed() {
        let signer = example_signer();
        assert_eq!(
            signer.public_key().public_key,
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        let message = signer.sign(
            &example_payload(),
            Position {
                seq: 42,
                district_prev: 40,
                first_of_alert: true,
            },
        );
        let signed = String::from_utf8(signed_part(message.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            signed,
            format!(
                "{{\"seq\":42,\"district_prev\":40,\"kid\":\"{}\",\"alert\":{{\"district\":\"kugenuma\",\"id\":12,\"kind\":\"emergency\",\"label\":\"緊急通報\",\"state\":\"open\"}},\"event\":\"created\",\"notification\":17,\"step\":null,\"teams\":[\"houkatsu-kugenuma\"],\"v\":1}}",
                signer.public_key().kid
            )
        );
        assert_eq!(signer.public_key().kid, "34750f98bd59fcfc");
        assert!(message.starts_with(&signed[..signed.len() - 1]));
        assert!(message.ends_with("\"}"));
        // The example in docs/ALERTS.md, whole (Ed25519 signatures are deterministic).
        assert_eq!(message, EXAMPLE_MESSAGE);
        let fields = verify(message.as_bytes(), signer.public_key()).unwrap();
        assert_eq!(fields["seq"], 42);
        assert_eq!(fields["alert"]["kind"], "emergency");
        // A consumer that reads the message as JSON sees every field, `sig` last.
        let whole: serde_json::Value = serde_json::from_str(&message).unwrap();
        assert_eq!(whole["event"], "created");
        assert_eq!(whole["sig"].as_str().unwrap().len(), 128);
    }

    #[test]
    fn any_changed_byte_fails_verification() {
        let signer = StreamSigner::generate();
        let message = signer.sign(
            &example_payload(),
            Position {
                seq: 7,
                district_prev: 0,
                first_of_alert: true,
            },
        );
        let key = signer.public_key();
        assert!(verify(message.as_bytes(), key).is_ok());
        let bytes = message.as_bytes();
        for i in 0..bytes.len() {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= 0x01;
            assert!(
                verify(&tampered, key).is_err(),
                "byte {i} changed, still verified"
            );
        }
        // Cut short, lengthened, or signed by another key.
        assert_eq!(
            verify(&bytes[..bytes.len() - 1], key),
            Err(VerifyError::Unsigned)
        );
        assert!(verify(&[bytes, b" "].concat(), key).is_err());
        let other = StreamSigner::generate();
        assert_eq!(
            verify(bytes, other.public_key()),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(verify(b"{}", key), Err(VerifyError::Unsigned));
        assert_eq!(verify(b"", key), Err(VerifyError::Unsigned));
    }

    #[test]
    fn keys_round_trip_through_hex_and_debug_hides_the_secret() {
        let signer = StreamSigner::generate();
        let public = PublicKey::from_hex(&signer.public_key().public_key).unwrap();
        assert_eq!(&public, signer.public_key());
        let secret = hex(&signer.key.to_bytes());
        let again = StreamSigner::from_secret_hex(&secret).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        assert!(!format!("{signer:?}").contains(&secret));
        assert!(PublicKey::from_hex("zz").is_err());
        assert!(PublicKey::from_hex(&"0".repeat(63)).is_err());
        assert!(StreamSigner::from_secret_hex("ABCD").is_err());
        let json = serde_json::to_value(signer.public_key()).unwrap();
        assert_eq!(json["algorithm"], "Ed25519");
        assert_eq!(json.as_object().unwrap().len(), 3, "{json}");
    }
}

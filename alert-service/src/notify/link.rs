//! Acknowledgement links in emails: a signed, expiring token naming one alert and one responder.
//!
//! A token reads `{alert}.{responder}.{expires}.{nonce}.{signature}`: the alert id, the responder
//! id (a slug, so never a `.`), the expiry in Unix seconds, a random nonce, and an HMAC-SHA256 over
//! the rest under a key kept in the store (made once, on first use, so every process of a
//! deployment shares it). The link opens a confirmation page; only the POST behind it acts, and
//! the store's `used_links` table makes each nonce work once.

use chrono::{DateTime, Utc};
use mimamori_core::domain::{AlertId, ResponderId};
use mimamori_core::secret::{constant_time_eq, hex, hmac_sha256};
use mimamori_core::storage::{StorageError, Store};

/// Where the signing key is kept (`platform_state`).
const KEY_NAME: &str = "email_link_key";

/// What a valid token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub alert: AlertId,
    pub responder: ResponderId,
    pub expires: DateTime<Utc>,
    /// The single-use marker.
    pub nonce: String,
}

/// Why a token does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not one of ours, or altered.
    Invalid,
    /// Ours, but past its expiry.
    Expired,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner")
    }
}

impl LinkSigner {
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// The deployment's signer: its key from the store, made on first use.
    pub async fn from_store(store: &Store, now: DateTime<Utc>) -> Result<Self, StorageError> {
        let key = store
            .platform_value_or_init(KEY_NAME, || mimamori_core::secret::generate(48), now)
            .await?;
        Ok(Self::new(key.into_bytes()))
    }

    /// A token for `responder` to acknowledge `alert`, working until `expires`.
    pub fn issue(&self, alert: AlertId, responder: &ResponderId, expires: DateTime<Utc>) -> String {
        let body = format!(
            "{}.{}.{}.{}",
            alert.0,
            responder.as_str(),
            expires.timestamp(),
            mimamori_core::secret::generate(16)
        );
        let signature = self.sign(&body);
        format!("{body}.{signature}")
    }

    /// Checks a token's signature and expiry.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, LinkError> {
        let (body, signature) = token.rsplit_once('.').ok_or(LinkError::Invalid)?;
        if !constant_time_eq(signature.as_bytes(), self.sign(body).as_bytes()) {
            return Err(LinkError::Invalid);
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [alert, responder, expires, nonce] = parts[..] else {
            return Err(LinkError::Invalid);
        };
        let claims = Claims {
            alert: AlertId(alert.parse().map_err(|_| LinkError::Invalid)?),
            responder: ResponderId::parse(responder).map_err(|_| LinkError::Invalid)?,
            expires: expires
                .parse()
                .ok()
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .ok_or(LinkError::Invalid)?,
            nonce: nonce.to_string(),
        };
        if claims.expires <= now {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }

    fn sign(&self, body: &str) -> String {
        hex(&hmac_sha256(
            &self.key,
            format!("mimamori-ack-link-v1:{body}").as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_says_what_it_was_issued_for_until_it_expires() {
        let signer = LinkSigner::new(b"key".to_vec());
        let responder = ResponderId::parse("p-kugenuma-1").unwrap();
        let token = signer.issue(AlertId(42), &responder, at("2026-12-02T10:00:00Z"));
        let claims = signer.verify(&token, at("2026-12-02T09:59:59Z")).unwrap();
        assert_eq!(claims.alert, AlertId(42));
        assert_eq!(claims.responder, responder);
        assert_eq!(claims.nonce.len(), 16);
        assert_eq!(
            signer.verify(&token, at("2026-12-02T10:00:00Z")),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let signer = LinkSigner::new(b"key".to_vec());
        let responder = ResponderId::parse("p-kugenuma-1").unwrap();
        let token = signer.issue(AlertId(42), &responder, at("2026-12-02T10:00:00Z"));
        let now = at("2026-12-02T09:00:00Z");
        // Another alert, another responder, a later expiry: each breaks the signature.
        for altered in [
            token.replacen("42.", "43.", 1),
            token.replacen("p-kugenuma-1", "p-kugenuma-2", 1),
            token.replacen(".1796205600.", ".1896205600.", 1),
        ] {
            assert_ne!(altered, token);
            assert_eq!(signer.verify(&altered, now), Err(LinkError::Invalid));
        }
        let other = LinkSigner::new(b"another deployment".to_vec());
        assert_eq!(other.verify(&token, now), Err(LinkError::Invalid));
        for junk in ["", "abc", "1.2.3.4", "....", "../../etc/passwd"] {
            assert_eq!(signer.verify(junk, now), Err(LinkError::Invalid));
        }
    }
}

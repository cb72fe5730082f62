//! Secrets issued to devices and partners. The plain secret is shown once, at creation; only a
//! hash is stored.
//!
//! - Device passwords are checked by the MQTT broker at every connect: argon2id (PHC string).
//! - Partner API tokens carry 190 bits of randomness, so a fast hash (SHA-256) is enough and lets
//!   the store look a token up by its hash.
//!
//! Secrets the platform is given (the MQTT service password, the Telegram bot token, SMTP and
//! webhook keys) are a [`Secret`]: `Debug` prints `[REDACTED]`, so a logged configuration never
//! shows them.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, Params};
use rand::Rng;
use sha2::{Digest, Sha256};

/// A password, token or key from the configuration. `Debug` prints `[REDACTED]`, the memory is
/// wiped when it is dropped, and reading it takes a deliberate [`Secret::expose_secret`].
///
/// A thin wrapper over `secrecy::SecretString` that adds what the configuration needs besides:
/// equality (constant time), so `Config` stays comparable.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(secrecy::SecretString);

impl Secret {
    /// The secret itself, for the one place that must send or check it.
    pub fn expose_secret(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }

    /// Whether none was given (some secrets are optional, or generated when empty).
    pub fn is_empty(&self) -> bool {
        self.expose_secret().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(
            self.expose_secret().as_bytes(),
            other.expose_secret().as_bytes(),
        )
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

/// What `Debug` shows in place of a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Letters and digits for generated secrets.
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A random secret of `len` characters (about 5.8 bits each).
pub fn generate(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| SECRET_ALPHABET[rng.random_range(0..SECRET_ALPHABET.len())] as char)
        .collect()
}

/// A new device password: 24 characters, about 140 bits.
pub fn generate_device_password() -> String {
    generate(24)
}

/// Prefix of partner API tokens (the broker tells a partner's login by it).
pub const PARTNER_TOKEN_PREFIX: &str = "mmp_";

/// A new partner API token: `mmp_` and 33 characters, about 190 bits.
pub fn generate_partner_token() -> String {
    format!("{PARTNER_TOKEN_PREFIX}{}", generate(33))
}

/// Hashes passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasherConfig {
    argon: Argon2<'static>,
}

impl std::fmt::Debug for PasswordHasherConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasherConfig")
    }
}

impl Default for PasswordHasherConfig {
    /// The argon2 crate's recommended parameters (argon2id, 19 MiB, 2 passes).
    fn default() -> Self {
        Self {
            argon: Argon2::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

impl PasswordHasherConfig {
    /// Cheap parameters for tests only: never use these for stored credentials.
    pub fn insecure_for_tests() -> Self {
        let params = Params::new(8, 1, 1, None).expect("static argon2 parameters are valid");
        Self {
            argon: Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params),
        }
    }

    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        self.argon
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Verifies against a stored PHC string; the parameters come from the string itself.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self
                .argon
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }
}

/// Prefix of a device secret stored with [`device_secret_hash`].
pub const DEVICE_SECRET_SCHEME: &str = "hmac-sha256$";

/// What the store keeps of a device password: `hmac-sha256${salt}${HMAC-SHA256(salt, password)}`
/// (hex). Device passwords are made by the platform with ~140 bits of entropy, so a keyed fast
/// hash is as safe as argon2 against guessing, and checking one costs microseconds instead of
/// ~20 ms: a reconnect storm of 10,000 devices is a hash-table's work, not minutes of a core.
/// argon2 stays for what people choose.
pub fn device_secret_hash(password: &str) -> String {
    let salt = generate(16);
    let mac = hmac_sha256(salt.as_bytes(), password.as_bytes());
    format!("{DEVICE_SECRET_SCHEME}{salt}${}", hex(&mac))
}

/// How a stored device secret checks out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSecretCheck {
    Valid,
    Invalid,
    /// Stored in the older argon2 form: verify with [`PasswordHasherConfig::verify`] (slow), and
    /// store [`device_secret_hash`] once it verifies.
    Argon2,
}

/// Checks `password` against a stored [`device_secret_hash`], in constant time.
pub fn check_device_secret(password: &str, stored: &str) -> DeviceSecretCheck {
    if stored.starts_with("$argon2") {
        return DeviceSecretCheck::Argon2;
    }
    let Some((salt, mac)) = stored
        .strip_prefix(DEVICE_SECRET_SCHEME)
        .and_then(|rest| rest.split_once('$'))
    else {
        return DeviceSecretCheck::Invalid;
    };
    let expected = hex(&hmac_sha256(salt.as_bytes(), password.as_bytes()));
    if constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
        DeviceSecretCheck::Valid
    } else {
        DeviceSecretCheck::Invalid
    }
}

/// The HMAC key of a device's messages, derived from its password when it is issued: the
/// device derives the same key, the gateway keeps only this key (hex), never the password.
pub fn device_mac_key(password: &str) -> String {
    hex(&hmac_sha256(password.as_bytes(), b"mimamori-device-mac-v1"))
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    // Two table lookups a byte: the gateway writes two MACs for every event, and a `format!`
    // a byte made that a tenth of its CPU at saturation (issue 15).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Compares in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of a high-entropy token, hex encoded: what the store keeps of partner tokens.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let h = PasswordHasherConfig::insecure_for_tests();
        let pw = generate_device_password();
        let phc = h.hash(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify(&pw, &phc));
        assert!(!h.verify("wrong", &phc));
        assert!(!h.verify(&pw, "not a hash"));
    }

    #[test]
    fn a_device_secret_checks_against_its_fast_hash_only() {
        let pw = generate_device_password();
        let stored = device_secret_hash(&pw);
        assert!(stored.starts_with(DEVICE_SECRET_SCHEME));
        assert_ne!(stored, device_secret_hash(&pw), "salted");
        assert_eq!(check_device_secret(&pw, &stored), DeviceSecretCheck::Valid);
        assert_eq!(
            check_device_secret("wrong", &stored),
            DeviceSecretCheck::Invalid
        );
        assert_eq!(
            check_device_secret(&pw, "garbage"),
            DeviceSecretCheck::Invalid
        );
        assert_eq!(
            check_device_secret(&pw, "hmac-sha256$nosep"),
            DeviceSecretCheck::Invalid
        );
        let argon = PasswordHasherConfig::insecure_for_tests()
            .hash(&pw)
            .unwrap();
        assert_eq!(check_device_secret(&pw, &argon), DeviceSecretCheck::Argon2);
    }

    #[test]
    fn a_secret_is_redacted_in_debug_and_compares_by_value() {
        let s = Secret::from("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(s.expose_secret(), "hunter2-hunter2");
        assert_eq!(s, Secret::from("hunter2-hunter2".to_string()));
        assert_ne!(s, Secret::default());
        assert!(Secret::default().is_empty());
    }

    #[test]
    fn token_hashes_are_stable_and_distinct() {
        let t = generate_partner_token();
        assert_eq!(token_hash(&t), token_hash(&t));
        assert_ne!(token_hash(&t), token_hash(&generate_partner_token()));
        assert_eq!(token_hash(&t).len(), 64);
    }
}

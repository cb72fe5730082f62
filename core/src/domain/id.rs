//! Identifiers. Text ids (residents, devices, teams…) are short slugs that are safe inside MQTT
//! topics and URLs; row ids of append-heavy tables (signals, alerts) are database integers.

use super::DomainError;
use rand::Rng;

/// Characters of generated ids: lowercase letters and digits without look-alikes (0/o, 1/l/i).
const ID_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A random slug of `len` characters from [`ID_ALPHABET`].
pub(crate) fn random_slug(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

/// Checks the slug rule shared by every text id: 1–64 characters of `a-z 0-9 - _`, starting with
/// a letter or digit. This keeps ids safe as MQTT topic levels (no `/`, `+`, `#`) and in URLs.
pub(crate) fn check_slug(field: &'static str, s: &str) -> Result<(), DomainError> {
    let ok_len = (1..=64).contains(&s.len());
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    let ok_start = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(DomainError::new(
            field,
            format!("{s:?} is not a valid id (1–64 characters of a-z, 0-9, '-', '_')"),
        ))
    }
}

macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates an id given from outside.
            pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
                let s = s.into();
                check_slug($field, &s)?;
                Ok(Self(s))
            }

            /// A new random id with this kind's prefix.
            pub fn generate() -> Self {
                Self(format!(concat!($prefix, "-{}"), random_slug(10)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

text_id!(
    /// A resident under watch (見守り対象者).
    ResidentId, "r", "resident_id"
);
text_id!(
    /// A device in a home; also its MQTT client id and topic level.
    DeviceId, "d", "device_id"
);
text_id!(
    /// A team of responders (包括, CSW, coordinator, operators).
    TeamId, "t", "team_id"
);
text_id!(
    /// A responder: a person who receives and handles alerts.
    ResponderId, "p", "responder_id"
);
text_id!(
    /// A partner organisation under a watch-over agreement (見守り協定).
    PartnerId, "org", "partner_id"
);

macro_rules! row_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

row_id!(
    /// A stored signal (append-only).
    SignalId
);
row_id!(
    /// An alert.
    AlertId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_slugs_with_their_prefix() {
        let id = DeviceId::generate();
        assert!(id.as_str().starts_with("d-"));
        assert_eq!(DeviceId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn ids_that_would_break_topics_are_refused() {
        for bad in [
            "",
            "a/b",
            "a+b",
            "#",
            "UPPER",
            "-lead",
            "鵠沼",
            &"x".repeat(65),
        ] {
            assert!(DeviceId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(DeviceId::parse("button-0001").is_ok());
    }
}

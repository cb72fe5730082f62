//! Why a message was not stored: the one vocabulary shared by the adapters that reject a payload,
//! ingestion that rejects a device or a signature, and the metrics that count both. It depends on
//! nothing in the gateway, so each of them can import it without importing the others.

/// Why a message was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    Oversized,
    UnknownTopic,
    UnknownDevice,
    DisabledDevice,
    Malformed,
    UnknownType,
    UnsupportedVersion,
    /// The HMAC is missing or wrong: someone speaking as a device it is not. A security event.
    BadMac,
    /// Understood, but says nothing we keep (e.g. a zigbee2mqtt link-quality report).
    NothingToStore,
    /// zigbee2mqtt's old plain-text availability.
    LegacyAvailability,
    /// A report on the topic of a partner id nobody registered. A security event.
    UnknownPartner,
    /// A report of a partner whose every token is revoked. A security event.
    DisabledPartner,
    /// A partner's report that claims to come from another partner. A security event.
    OtherPartner,
    /// A partner's report refused by the concern intake's checks (the receipt says why).
    InvalidReport,
}

impl DropReason {
    pub const ALL: &'static [DropReason] = &[
        Self::Oversized,
        Self::UnknownTopic,
        Self::UnknownDevice,
        Self::DisabledDevice,
        Self::Malformed,
        Self::UnknownType,
        Self::UnsupportedVersion,
        Self::BadMac,
        Self::NothingToStore,
        Self::LegacyAvailability,
        Self::UnknownPartner,
        Self::DisabledPartner,
        Self::OtherPartner,
        Self::InvalidReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oversized => "oversized",
            Self::UnknownTopic => "unknown_topic",
            Self::UnknownDevice => "unknown_device",
            Self::DisabledDevice => "disabled_device",
            Self::Malformed => "malformed",
            Self::UnknownType => "unknown_type",
            Self::UnsupportedVersion => "unsupported_version",
            Self::BadMac => "bad_mac",
            Self::NothingToStore => "nothing_to_store",
            Self::LegacyAvailability => "legacy_availability",
            Self::UnknownPartner => "unknown_partner",
            Self::DisabledPartner => "disabled_partner",
            Self::OtherPartner => "other_partner",
            Self::InvalidReport => "invalid_report",
        }
    }
}

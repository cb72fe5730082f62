//! What must never show in what is sent: the resident's personal data.

/// Fails if `text` shows any of the resident's personal data. The phone number is matched whole:
/// ack links carry random hex, where a bare area code such as "0466" turns up by chance.
pub fn no_personal_data(text: &str) {
    for private in [
        "藤沢 花子",
        "フジサワ",
        "鵠沼海岸",
        "二丁目",
        "糖尿病",
        "0466-00-0000",
        "一郎",
        "長男",
    ] {
        assert!(!text.contains(private), "{private:?} in {text}");
    }
}

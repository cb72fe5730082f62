//! What our HTML and our forms share: escaping (for the HTML of messages: email, Telegram), the
//! headers every page is sent with, and reading form fields. The pages themselves are templates of
//! the web crate (`web/templates/`), escaped there.

/// Escapes text for HTML (element content and quoted attribute values).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The headers every page is sent with: nothing cached (tokens in addresses, personal data on
/// the dashboard), no referrer to leak a link, no search engine indexing.
pub const PAGE_HEADERS: [(&str, &str); 3] = [
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-robots-tag", "noindex"),
];

/// Why a form's text field was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    TooLong,
    ControlCharacter,
}

/// A form's (or a report's) text field, trimmed; `None` when empty. Refused when longer than `max`
/// characters or holding control characters — a `multiline` field may hold line breaks and tabs.
pub fn form_text(value: &str, max: usize, multiline: bool) -> Result<Option<String>, TextProblem> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(TextProblem::TooLong);
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(TextProblem::ControlCharacter);
    }
    Ok(Some(value.to_string()))
}

/// A form's `datetime-local` value (`2026-12-01T08:30`) in the city's time zone; `None` when it is
/// not one or names a time the zone skips.
pub fn form_datetime(
    value: &str,
    timezone: chrono_tz::Tz,
) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M").ok()?;
    timezone
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The `datetime-local` value of a moment in the city's time zone.
pub fn form_datetime_value(at: chrono::DateTime<chrono::Utc>, timezone: chrono_tz::Tz) -> String {
    at.with_timezone(&timezone)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_fields_are_trimmed_bounded_and_without_control_characters() {
        use super::{TextProblem, form_text};
        assert_eq!(form_text("  鵠沼  ", 5, false), Ok(Some("鵠沼".into())));
        assert_eq!(form_text("   ", 5, false), Ok(None));
        assert_eq!(
            form_text("あいうえおか", 5, false),
            Err(TextProblem::TooLong)
        );
        assert_eq!(
            form_text("a\nb", 5, false),
            Err(TextProblem::ControlCharacter)
        );
        assert_eq!(form_text("a\nb", 5, true), Ok(Some("a\nb".into())));
        assert_eq!(
            form_text("a\u{0}b", 5, true),
            Err(TextProblem::ControlCharacter)
        );
    }

    #[test]
    fn form_times_are_city_times() {
        let tz = chrono_tz::Asia::Tokyo;
        let t = super::form_datetime("2026-12-01T08:30", tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T23:30:00+00:00");
        assert_eq!(super::form_datetime_value(t, tz), "2026-12-01T08:30");
        assert!(super::form_datetime("昨日の朝", tz).is_none());
    }

    #[test]
    fn escapes_what_could_open_a_tag_or_an_attribute() {
        assert_eq!(
            super::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

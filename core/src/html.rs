//! The few pieces of HTML every page of ours shares (the dashboard, the email link pages, the
//! partners' report form): escaping and the document around a page's body. Japanese first, for
//! phones as well as desks.

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

/// A whole page: `title` (escaped here) as its heading, `body` as given (already HTML).
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t} - 見守り mimamori</title></head>\
         <body style=\"font-family:sans-serif;line-height:1.6;max-width:40em;margin:2em auto;padding:0 1em\">\
         <h1 style=\"font-size:1.4em\">{t}</h1>{body}</body></html>",
        t = escape(title),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_what_could_open_a_tag_or_an_attribute() {
        assert_eq!(
            super::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

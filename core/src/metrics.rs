//! The one shape in which a component offers its counters to `/metrics`: Prometheus' text
//! exposition. The web server renders whatever components run in its process (the gateway's
//! ingestion counters, the embedded broker's logins and refusals) without knowing their types.

/// A component's counters, rendered in the Prometheus text exposition format (with `# HELP` and
/// `# TYPE` lines, ending with a newline).
pub trait Exposition: Send + Sync {
    fn render(&self) -> String;
}

/// One counter or gauge without labels, in the text exposition format.
pub fn metric(out: &mut String, kind: &str, name: &str, help: &str, value: u64) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    ));
}

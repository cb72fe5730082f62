//! A benchmark's command line: `--name value` options and `--flag`s, as each bench's
//! `Options::from_args` reads them.

use anyhow::{Context, Result};

/// The arguments a benchmark was started with.
pub struct Args(Vec<String>);

impl Args {
    /// This process's arguments.
    pub fn from_env() -> Self {
        Args(std::env::args().collect())
    }

    /// The given arguments (the first is the program's name).
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        Args(args.into_iter().collect())
    }

    /// The value after `name`, if it is given.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .cloned()
    }

    /// Whether `name` is given.
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    /// The number after `name`, or `default` when it is not given; an error that names the
    /// option when what follows is not a number.
    pub fn number(&self, name: &str, default: usize) -> Result<usize> {
        self.text(name).map_or(Ok(default), |v| {
            v.parse()
                .with_context(|| format!("{name} takes a number, not {v:?}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Args;

    #[test]
    fn options_flags_numbers_and_a_clear_error() {
        let args = Args::new(
            [
                "bench",
                "--events",
                "500",
                "--tcp",
                "--database",
                "postgres://x",
                "--rate",
                "lots",
            ]
            .map(String::from),
        );
        assert_eq!(args.number("--events", 1).unwrap(), 500);
        assert_eq!(args.number("--devices", 1_000).unwrap(), 1_000);
        assert!(args.flag("--tcp") && !args.flag("--keep"));
        assert_eq!(args.text("--database").as_deref(), Some("postgres://x"));
        let e = args.number("--rate", 1).unwrap_err().to_string();
        assert!(e.contains("--rate") && e.contains("lots"), "{e}");
    }
}

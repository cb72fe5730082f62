//! `mimamori config example | check`.

use crate::Failure;
use crate::cli::ConfigCommand;
use mimamori_core::config::{Config, EXAMPLE};
use std::path::Path;

pub fn run(command: ConfigCommand, file: Option<&Path>) -> Result<(), Failure> {
    match command {
        ConfigCommand::Example => {
            print!("{EXAMPLE}");
            Ok(())
        }
        ConfigCommand::Check => {
            let c = Config::load_from_env(file)?;
            println!(
                "configuration OK ({})",
                file.map(|f| f.display().to_string())
                    .unwrap_or_else(|| "defaults and environment".into())
            );
            println!("data_dir        = {}", c.data_dir.display());
            println!("storage.url     = {}", super::redact(&c.database_url()));
            println!("broker.listen   = {}", c.broker.listen);
            println!("http.listen     = {}", c.http.listen);
            println!("http.public_url = {}", c.http.public_url);
            println!("city.timezone   = {}", c.city.timezone);
            println!(
                "city.registry   = {}",
                c.city
                    .registry
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "built-in Fujisawa (藤沢市)".into())
            );
            Ok(())
        }
    }
}

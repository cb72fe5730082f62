//! Loading: built-in defaults, then the TOML file, then `MIMAMORI__SECTION__KEY` variables;
//! then every section's checks. Each problem becomes one [`ConfigError`] naming where it is.

use super::{Config, ConfigError, ENV_PREFIX};
use std::path::Path;

impl Config {
    /// Loads configuration: defaults, then `file` (when given), then the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut value, text, origin) = match file {
            None => (toml::Table::new(), String::new(), String::new()),
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    origin: origin.clone(),
                    line: None,
                    key: None,
                    message: match e.kind() {
                        std::io::ErrorKind::NotFound => "configuration file not found".into(),
                        _ => format!("cannot read the configuration file: {e}"),
                    },
                })?;
                // Parse once into the typed config for precise errors (line, key), then keep
                // the table to merge the environment into.
                parse_typed(&text, &origin)?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError {
                    origin: origin.clone(),
                    line: e.span().map(|s| line_of(&text, s.start)),
                    key: None,
                    message: e.message().to_string(),
                })?;
                (table, text, origin)
            }
        };

        let mut env_keys = Vec::new();
        for (name, raw) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
            if keys.iter().any(String::is_empty) {
                return Err(ConfigError {
                    origin: name.clone(),
                    line: None,
                    key: None,
                    message: "malformed variable name (use MIMAMORI__SECTION__KEY)".into(),
                });
            }
            set_path(&mut value, &keys, env_value(&raw)).map_err(|message| ConfigError {
                origin: name.clone(),
                line: None,
                key: Some(keys.join(".")),
                message,
            })?;
            env_keys.push((keys.join("."), name));
        }

        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(value)).map_err(|e| {
                let key = e.path().to_string();
                let origin = env_keys
                    .iter()
                    .find(|(k, _)| {
                        key == *k
                            || key.starts_with(&format!("{k}."))
                            || k.starts_with(&format!("{key}."))
                    })
                    .map(|(_, name)| name.clone())
                    .unwrap_or_else(|| origin.clone());
                ConfigError {
                    origin,
                    line: None,
                    key: (key != ".").then_some(key),
                    message: e.into_inner().message().to_string(),
                }
            })?;
        config.validate().map_err(|(key, message)| {
            let from_env = env_keys.iter().find(|(k, _)| *k == key);
            match from_env {
                Some((_, name)) => ConfigError {
                    origin: name.clone(),
                    line: None,
                    key: Some(key.to_string()),
                    message,
                },
                None => ConfigError {
                    origin: if origin.is_empty() {
                        "defaults".into()
                    } else {
                        origin.clone()
                    },
                    line: line_of_key(&text, key),
                    key: Some(key.to_string()),
                    message,
                },
            }
        })?;
        Ok(config)
    }

    /// Loads from the process environment.
    pub fn load_from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }
}

fn parse_typed(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError {
        origin: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        key: None,
        message: e.message().to_string(),
    })?;
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        ConfigError {
            origin: origin.to_string(),
            line: inner.span().map(|s| line_of(text, s.start)),
            key: (key != ".").then_some(key),
            message: inner.message().to_string(),
        }
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a dotted key (`section.key` or `key`) is set, if the file sets it.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = match dotted.rsplit_once('.') {
        Some((s, k)) => (s, k),
        None => ("", dotted),
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            current = h.trim().to_string();
        } else if current == section && t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return Some(i + 1);
        }
    }
    None
}

/// An environment value as TOML: numbers and booleans typed, anything else a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("empty key")?;
    let mut t = table;
    for k in parents {
        let entry = t
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("{k} is not a section"))?;
    }
    if t.get(last).is_some_and(toml::Value::is_table) {
        return Err(format!("{last} is a section, not a value"));
    }
    // A number given for a string setting (e.g. a numeric password) stays a string.
    t.insert(last.clone(), value);
    Ok(())
}

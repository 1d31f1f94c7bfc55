//! Loading the settings: defaults < TOML file < `CHURN_<SECTION>_<KEY>`
//! environment variables < flags. Unknown keys, and keys that were replaced,
//! are refused with their names.

use std::path::Path;

use super::{Config, Overrides};
use crate::error::{Error, Result};

/// Keys that were removed, with what replaced them: a config that still
/// sets one gets this answer instead of a bare "unknown field".
const REPLACED_KEYS: [(&str, &str, &str); 2] = [
    (
        "labels",
        "window_days",
        "labels.window_days was replaced by labels.horizon_days (the user leaves within it, default 30) \
         and labels.inactive_days (and stays away this long after it, default 30)",
    ),
    (
        "train",
        "purge",
        "train.purge was removed: the purge gap between train and test dates is always \
         labels.horizon_days + labels.inactive_days",
    ),
];

fn replaced_key(section: &str, key: &str) -> Option<&'static str> {
    REPLACED_KEYS
        .iter()
        .find(|(s, k, _)| *s == section && *k == key)
        .map(|(_, _, why)| *why)
}

impl Config {
    /// Loads defaults, then the file (if any), then `CHURN_*` variables from
    /// `env`, then the flags; validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Config(format!(
                        "cannot read config file {}: {e}; check the path given with --config or CHURN_CONFIG",
                        path.display()
                    ))
                })?;
                let table: toml::Table = toml::from_str(&text)
                    .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))?;
                for (section, keys) in &table {
                    for key in keys.as_table().map(|t| t.keys().collect()).unwrap_or(Vec::new()) {
                        if let Some(why) = replaced_key(section, key) {
                            return Err(Error::Config(format!("{}: {why}", path.display())));
                        }
                    }
                }
                // Deserialize once on the file alone so an unknown key is
                // reported against the file, with its name.
                Config::from_table(table.clone()).map_err(|e| {
                    let why = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
                    Error::Config(format!(
                        "{}: {why}; see churn.example.toml for every key",
                        path.display()
                    ))
                })?;
                table
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        let mut config = Config::from_table(table).map_err(|e| Error::Config(e.to_string()))?;
        config.apply(flags);
        config.validate()?;
        Ok(config)
    }

    fn from_table(table: toml::Table) -> std::result::Result<Config, toml::de::Error> {
        toml::Value::Table(table).try_into()
    }

    fn apply(&mut self, flags: &Overrides) {
        let g = &mut self.generate;
        if let Some(v) = flags.users {
            g.users = v;
        }
        if let Some(v) = flags.days {
            g.days = v;
        }
        if let Some(v) = flags.start_date {
            g.start_date = v;
        }
        if let Some(v) = flags.seed {
            g.seed = v;
        }
    }
}

/// Overlays `CHURN_<SECTION>_<KEY>` variables onto the file's table. A
/// variable that names a known section but no key of it is refused.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<()> {
    let defaults = toml::Table::try_from(Config::default()).expect("defaults serialize");
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("CHURN_") else {
            continue;
        };
        let Some((section, keys)) = defaults.iter().find_map(|(section, keys)| {
            let prefix = format!("{}_", section.to_uppercase());
            rest.strip_prefix(prefix.as_str())
                .map(|key| (section, (key, keys)))
        }) else {
            continue;
        };
        let (key_upper, keys) = keys;
        if let Some(why) = REPLACED_KEYS
            .iter()
            .find(|(s, k, _)| s == section && k.to_uppercase() == key_upper)
            .map(|(_, _, why)| why)
        {
            return Err(Error::Config(format!("environment variable {name}: {why}")));
        }
        let keys = keys.as_table().expect("sections are tables");
        let Some((key, default)) = keys
            .iter()
            .find(|(k, v)| k.to_uppercase() == key_upper && !v.is_table())
        else {
            let known: Vec<String> = keys
                .keys()
                .map(|k| format!("CHURN_{}_{}", section.to_uppercase(), k.to_uppercase()))
                .collect();
            return Err(Error::Config(format!(
                "environment variable {name} names no setting; the [{section}] settings are {}",
                known.join(", ")
            )));
        };
        let value = parse_env_value(&raw, default).ok_or_else(|| {
            Error::Config(format!(
                "environment variable {name}={raw:?} is not a valid {} for {section}.{key}; write it as \
                 the default is written: {name}='{default}'",
                default.type_str()
            ))
        })?;
        table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| Error::Config(format!("[{section}] in the config file must be a table")))?
            .insert(key.clone(), value);
    }
    Ok(())
}

/// Reads an environment value as the type of the default it replaces:
/// strings (and dates) as they are, everything else as a TOML value.
fn parse_env_value(raw: &str, default: &toml::Value) -> Option<toml::Value> {
    if default.is_str() {
        return Some(toml::Value::String(raw.to_string()));
    }
    // A list may come bare (7,14) as well as in brackets ([7,14]).
    let raw = if default.is_array() && !raw.trim_start().starts_with('[') {
        format!("[{raw}]")
    } else {
        raw.to_string()
    };
    let parsed: toml::Table = toml::from_str(&format!("v = {raw}")).ok()?;
    let v = parsed.get("v")?.clone();
    let same = std::mem::discriminant(&v) == std::mem::discriminant(default)
        || (default.is_float() && v.is_integer());
    same.then(|| match v {
        toml::Value::Integer(i) if default.is_float() => toml::Value::Float(i as f64),
        v => v,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env;
    use crate::config::*;

    #[test]
    fn example_file_lists_the_defaults() {
        let table: toml::Table = toml::from_str(include_str!("../../churn.example.toml")).unwrap();
        let from_file = Config::from_table(table.clone()).unwrap();
        assert_eq!(from_file, Config::default());
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        for (section, keys) in &defaults {
            for key in keys.as_table().unwrap().keys() {
                assert!(
                    table[section].get(key).is_some(),
                    "churn.example.toml lacks {section}.{key}"
                );
            }
        }
    }

    #[test]
    fn precedence_is_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[generate]\nusers = 10\ndays = 20\nseed = 5\n").unwrap();
        let c = Config::load(
            Some(&file),
            env(&[("CHURN_GENERATE_USERS", "30"), ("CHURN_GENERATE_DAYS", "40")]),
            &Overrides {
                users: Some(50),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.generate.users, 50, "flag beats env");
        assert_eq!(c.generate.days, 40, "env beats file");
        assert_eq!(c.generate.seed, 5, "file beats default");
        assert_eq!(c.generate.paid_ratio, 0.35, "default");
    }

    #[test]
    fn env_parses_lists_floats_and_enums() {
        let c = Config::load(
            None,
            env(&[
                ("CHURN_FEATURES_WINDOWS", "[3, 10]"),
                ("CHURN_TRAIN_C", "2"),
                ("CHURN_LABELS_POPULATION", "all"),
                ("CHURN_DB", "ignored.duckdb"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.features.windows, vec![3, 10]);
        assert_eq!(c.train.c, 2.0);
        assert_eq!(c.labels.population, Population::All);
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[generate]\nusrs = 10\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert_eq!(err.code(), 3);
        assert!(err.to_string().contains("usrs"), "{err}");
        std::fs::write(&file, "[genrate]\nusers = 10\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("genrate"), "{err}");
    }

    #[test]
    fn replaced_keys_say_what_replaced_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[labels]\nwindow_days = 30\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert_eq!(err.code(), 3);
        let text = err.to_string();
        assert!(
            text.contains("labels.horizon_days") && text.contains("labels.inactive_days"),
            "{text}"
        );
        let err = Config::load(
            None,
            env(&[("CHURN_LABELS_WINDOW_DAYS", "30")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("labels.horizon_days"), "{err}");
        std::fs::write(&file, "[train]\npurge = false\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("purge gap"), "{err}");
    }

    #[test]
    fn bad_env_values_are_named() {
        let err =
            Config::load(None, env(&[("CHURN_GENERATE_USRS", "1")]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("CHURN_GENERATE_USRS"), "{err}");
        let err = Config::load(
            None,
            env(&[("CHURN_GENERATE_USERS", "many")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("generate.users"), "{err}");
        // A bad value is answered with the accepted form, the default's.
        let err = Config::load(
            None,
            env(&[("CHURN_FEATURES_WINDOWS", "7;14")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("CHURN_FEATURES_WINDOWS='[7, 14, 30]'"),
            "{err}"
        );
        // A list may come without its brackets.
        let c = Config::load(
            None,
            env(&[("CHURN_FEATURES_WINDOWS", "7,14")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.features.windows, vec![7, 14]);
    }
}

//! `DRCTL__SECTION__KEY` environment variables over the config file's values.

/// Set `table[a][b]… = value` for the path `A__B__…` (case-insensitive).
pub(super) fn apply_override(
    table: &mut toml::Table,
    path: &str,
    value: String,
) -> Result<(), String> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    if keys.iter().any(String::is_empty) {
        return Err("expected DRCTL__<SECTION>__<KEY>, e.g. DRCTL__DR__REGION".to_owned());
    }
    let (last, parents) = keys.split_last().expect("split yields at least one key");
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is a value in the config file, not a section"))?;
    }
    // A value the file gives as a number or boolean is overridden as one.
    let typed = match current.get(last.as_str()) {
        Some(toml::Value::Integer(_)) => value.parse().ok().map(toml::Value::Integer),
        Some(toml::Value::Float(_)) => value.parse().ok().map(toml::Value::Float),
        Some(toml::Value::Boolean(_)) => value.parse().ok().map(toml::Value::Boolean),
        _ => Some(toml::Value::String(value.clone())),
    }
    .ok_or_else(|| format!("{value:?} is not of the type the config file gives for `{last}`"))?;
    current.insert(last.clone(), typed);
    Ok(())
}

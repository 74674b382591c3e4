//! One JSON document per report: the Lambda's summary and `drctl --output json`. Figures
//! under their snake-case keys (counts as integers), dimensions and facts beside them,
//! details as a list, sections as objects or list elements where their place says.

use serde_json::{json, Map, Value};

use super::{Place, Report, Section, Unit};

/// `report` as one JSON object.
pub fn render(report: &impl Report) -> Value {
    let mut root = Map::new();
    for section in report.sections() {
        place(&mut root, &section);
    }
    Value::Object(root)
}

fn place(parent: &mut Map<String, Value>, section: &Section) {
    match section.place {
        Place::Top => merge(parent, object(section)),
        Place::Named(key) => {
            let entry = parent
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match entry {
                Value::Object(existing) => merge(existing, object(section)),
                other => *other = Value::Object(object(section)),
            }
        }
        Place::Listed(key) => {
            let entry = parent
                .entry(key.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            match entry {
                Value::Array(items) => items.push(Value::Object(object(section))),
                other => *other = json!([object(section)]),
            }
        }
    }
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        into.insert(key, value);
    }
}

fn object(section: &Section) -> Map<String, Value> {
    let mut object = Map::new();
    for (name, value) in &section.dimensions {
        object.insert(super::words(name).join("_"), json!(value));
    }
    for figure in &section.figures {
        let value = match figure.unit {
            Unit::Count => json!(figure.value as u64),
            Unit::Seconds | Unit::Milliseconds => json!(figure.value),
        };
        object.insert(figure.key(), value);
    }
    for (key, value) in &section.facts {
        object.insert(key.clone(), value.clone());
    }
    if !section.details.is_empty() {
        object.insert(
            "details".to_owned(),
            section
                .details
                .iter()
                .map(|d| json!({"kind": d.kind, "subject": d.subject, "detail": d.text}))
                .collect(),
        );
    }
    for child in &section.children {
        place(&mut object, child);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Detail, Figure};

    struct Example;

    impl Report for Example {
        fn sections(&self) -> Vec<Section> {
            vec![
                Section::top()
                    .figure(Figure::count("RepairFailures", 2))
                    .fact("cursor", json!({"phase": "source"})),
                Section::named("status_pass")
                    .figure(Figure::count("WrongStatus", 1))
                    .details([Detail::new("missing", "abc", "abc absent from the target")]),
                Section::listed("databases")
                    .dimension("Database", "fleet")
                    .figure(Figure::seconds("RpoSeconds", 1.5)),
                Section::listed("databases").dimension("Database", "audit"),
            ]
        }
    }

    #[test]
    fn figures_facts_details_and_sections_land_where_their_place_says() {
        let document = render(&Example);
        assert_eq!(document["repair_failures"], 2);
        assert_eq!(document["cursor"]["phase"], "source");
        assert_eq!(document["status_pass"]["wrong_status"], 1);
        assert_eq!(document["status_pass"]["details"][0]["subject"], "abc");
        assert_eq!(document["databases"][0]["database"], "fleet");
        assert_eq!(document["databases"][0]["rpo_seconds"], 1.5);
        assert_eq!(document["databases"][1]["database"], "audit");
    }
}

//! Self-describing reports: every use case returns a typed report that lists its figures
//! once — name, value, unit — and the renderers here turn any report into what its reader
//! needs:
//!
//! * [`emf`] — CloudWatch embedded-metric-format lines, one per section (the Lambdas);
//! * [`json`] — one JSON document (the Lambda's summary and `drctl --output json`);
//! * [`table`] — lines for a person (`drctl`'s default output).
//!
//! So a new drift kind or metric is one edit: the figure is added where the report lists
//! its figures, and every output shows it. Figure names are CloudWatch metric names
//! (`WrongStatus`); JSON keys and table labels are derived from them (`wrong_status`,
//! `wrong status`), so the three never disagree.

pub mod emf;
pub mod json;
pub mod table;

/// The unit of a figure, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A whole number of things.
    Count,
    /// A duration in seconds.
    Seconds,
    /// A duration in milliseconds.
    Milliseconds,
}

impl Unit {
    /// CloudWatch's name for the unit.
    pub fn cloudwatch(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One measured figure of a report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// Its CloudWatch metric name, CamelCase (`RepairFailures`).
    pub name: &'static str,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
}

impl Figure {
    /// A count.
    pub fn count(name: &'static str, value: u64) -> Self {
        Self {
            name,
            value: value as f64,
            unit: Unit::Count,
        }
    }

    /// A yes/no as a count of 0 or 1 (a metric an alarm can sum).
    pub fn flag(name: &'static str, value: bool) -> Self {
        Self::count(name, u64::from(value))
    }

    /// A duration in seconds.
    pub fn seconds(name: &'static str, value: f64) -> Self {
        Self {
            name,
            value,
            unit: Unit::Seconds,
        }
    }

    /// A duration in milliseconds.
    pub fn millis(name: &'static str, value: f64) -> Self {
        Self {
            name,
            value,
            unit: Unit::Milliseconds,
        }
    }

    /// Its JSON key: the name in snake case (`RepairFailures` → `repair_failures`).
    pub fn key(&self) -> String {
        words(self.name).join("_")
    }

    /// Its label for a person: the name in words (`RepairFailures` → `repair failures`).
    pub fn label(&self) -> String {
        words(self.name).join(" ")
    }

    /// The value as a person reads it: counts whole, durations to a tenth.
    pub fn display_value(&self) -> String {
        match self.unit {
            Unit::Count => format!("{}", self.value as u64),
            Unit::Seconds => format!("{:.1} s", self.value),
            Unit::Milliseconds => format!("{:.0} ms", self.value),
        }
    }
}

/// The words of a CamelCase name, lowercase; a run of capitals is one word (`RpoSeconds`
/// → `rpo seconds`, `DNSRto` → `dns rto`).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
        if c.is_uppercase() && !word.is_empty() && (prev_lower || next_lower) {
            words.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A line for a person about one subject (a drift found, a repair that failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// What kind of line (`missing`, `failed`…).
    pub kind: &'static str,
    /// What it is about (a certificate id, a database).
    pub subject: String,
    /// The sentence.
    pub text: String,
}

impl Detail {
    /// A detail line.
    pub fn new(kind: &'static str, subject: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            kind,
            subject: subject.into(),
            text: text.into(),
        }
    }
}

/// Where a section sits in the JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The document's (or its parent section's) own object.
    Top,
    /// An object under this key.
    Named(&'static str),
    /// One element of the list under this key (one per database, per round).
    Listed(&'static str),
}

/// A part of a report: figures that share their dimensions (one EMF line), one JSON
/// object, one block of a table. Children add dimensions to their parent's: in EMF each is
/// a line of its own, in JSON an object inside the parent's.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Where it sits in the JSON document; its table heading.
    pub place: Place,
    /// CloudWatch dimensions beyond the function's own (`Tier` = `status`); JSON shows
    /// them as keys, the table as the heading.
    pub dimensions: Vec<(&'static str, String)>,
    /// Its figures.
    pub figures: Vec<Figure>,
    /// Lines for a person.
    pub details: Vec<Detail>,
    /// Facts that are not metrics (a cursor, a snapshot's name): JSON only.
    pub facts: serde_json::Map<String, serde_json::Value>,
    /// Sections inside this one.
    pub children: Vec<Section>,
}

impl Section {
    /// The report's top level.
    pub fn top() -> Self {
        Self::at(Place::Top)
    }

    /// An object under `key`.
    pub fn named(key: &'static str) -> Self {
        Self::at(Place::Named(key))
    }

    /// One element of the list under `key`.
    pub fn listed(key: &'static str) -> Self {
        Self::at(Place::Listed(key))
    }

    fn at(place: Place) -> Self {
        Self {
            place,
            dimensions: Vec::new(),
            figures: Vec::new(),
            details: Vec::new(),
            facts: serde_json::Map::new(),
            children: Vec::new(),
        }
    }

    /// With a CloudWatch dimension.
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    /// With these figures.
    pub fn figures(mut self, figures: impl IntoIterator<Item = Figure>) -> Self {
        self.figures.extend(figures);
        self
    }

    /// With one more figure.
    pub fn figure(mut self, figure: Figure) -> Self {
        self.figures.push(figure);
        self
    }

    /// With these details.
    pub fn details(mut self, details: impl IntoIterator<Item = Detail>) -> Self {
        self.details.extend(details);
        self
    }

    /// With a fact for the JSON document.
    pub fn fact(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.facts.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        );
        self
    }

    /// With a section inside.
    pub fn child(mut self, child: Section) -> Self {
        self.children.push(child);
        self
    }

    /// With sections inside.
    pub fn children(mut self, children: impl IntoIterator<Item = Section>) -> Self {
        self.children.extend(children);
        self
    }

    /// The value of the figure named `name`, if the section lists it.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }
}

/// A use case's report: its sections, figures listed once.
pub trait Report {
    /// The sections, the top level first.
    fn sections(&self) -> Vec<Section>;
}

/// Something whose counts are figures (a drift tally).
pub trait Figures {
    /// The figures, in the order a person reads them.
    fn figures(&self) -> Vec<Figure>;
}

/// A struct of counts whose fields are listed once: the struct, its sum, and its figures
/// (metric name per field) all come from one list, so a new kind is one line.
#[macro_export]
macro_rules! counts {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident => $metric:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        $vis struct $name {
            $( $(#[$field_meta])* #[serde(default)] $vis $field: u64, )*
        }

        impl $name {
            /// Both tallies added up, field by field.
            $vis fn plus(self, other: Self) -> Self {
                Self { $( $field: self.$field + other.$field, )* }
            }
        }

        impl $crate::report::Figures for $name {
            fn figures(&self) -> Vec<$crate::report::Figure> {
                vec![ $( $crate::report::Figure::count($metric, self.$field), )* ]
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_keys_and_labels() {
        let f = Figure::count("RepairFailures", 2);
        assert_eq!(
            (f.key(), f.label()),
            ("repair_failures".into(), "repair failures".into())
        );
        assert_eq!(Figure::count("RpoSeconds", 1).key(), "rpo_seconds");
        assert_eq!(Figure::count("DNSRto", 1).key(), "dns_rto");
        assert_eq!(Figure::count("Missing", 1).key(), "missing");
        assert_eq!(Figure::count("LagMax", 1).label(), "lag max");
    }

    counts! {
        /// Two kinds.
        struct Pair {
            /// One.
            one => "One",
            /// Two.
            two => "TwoThings",
        }
    }

    #[test]
    fn a_counts_struct_adds_up_and_lists_every_field_as_a_figure() {
        let sum = Pair { one: 1, two: 2 }.plus(Pair { one: 10, two: 20 });
        assert_eq!(sum, Pair { one: 11, two: 22 });
        let figures = sum.figures();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[1].name, "TwoThings");
        assert_eq!(figures[1].value, 22.0);
    }
}

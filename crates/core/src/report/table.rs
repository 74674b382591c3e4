//! A report for a person: one line per section with its figures, then its details
//! indented. `drctl`'s default output.

use super::{Place, Report, Section};

/// `report` as lines of text.
pub fn render(report: &impl Report) -> String {
    let mut out = String::new();
    for section in report.sections() {
        write(&mut out, &section, 0);
    }
    out
}

fn write(out: &mut String, section: &Section, depth: usize) {
    let indent = "  ".repeat(depth);
    let figures: Vec<String> = section
        .figures
        .iter()
        .map(|f| format!("{} {}", f.label(), f.display_value()))
        .collect();
    let heading = heading(section);
    if !figures.is_empty() || !heading.is_empty() {
        let separator = if heading.is_empty() || figures.is_empty() {
            ""
        } else {
            ": "
        };
        out.push_str(&format!(
            "{indent}{heading}{separator}{}\n",
            figures.join(", ")
        ));
    }
    for detail in &section.details {
        out.push_str(&format!("{indent}  {:<9} {}\n", detail.kind, detail.text));
    }
    for child in &section.children {
        write(out, child, depth + 1);
    }
}

fn heading(section: &Section) -> String {
    let name = match section.place {
        Place::Top => String::new(),
        Place::Named(key) | Place::Listed(key) => key.replace('_', " "),
    };
    let dimensions: Vec<&str> = section.dimensions.iter().map(|(_, v)| v.as_str()).collect();
    match (name.is_empty(), dimensions.is_empty()) {
        (_, true) => name,
        (true, false) => dimensions.join(" "),
        (false, false) => format!("{name} {}", dimensions.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Detail, Figure};

    struct Example;

    impl Report for Example {
        fn sections(&self) -> Vec<Section> {
            vec![Section::named("status_pass")
                .figure(Figure::count("WrongStatus", 1))
                .figure(Figure::seconds("PassSeconds", 12.25))
                .details([Detail::new("missing", "abc", "abc absent from the target")])]
        }
    }

    #[test]
    fn a_section_is_a_line_of_labelled_figures_and_its_details_below() {
        assert_eq!(
            render(&Example),
            "status pass: wrong status 1, pass seconds 12.2 s\n  missing   abc absent from the target\n"
        );
    }
}

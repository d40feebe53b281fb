//! How results are shown: aligned tables and key-value blocks for people, JSON for scripts.

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A table with a header row and no borders (easy to read, easy to grep).
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        t.add_row(row);
    }
    // comfy-table pads each line's start with one space; the output reads better without.
    t.to_string()
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `label   value` lines, the labels aligned.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$}  {value}").trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Unix seconds as `2026-12-06 10:30:01 UTC`.
pub fn when(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).map_or_else(|_| unix.to_string(), human)
}

/// An RFC 3339 time as `2026-12-06 10:30:01 UTC` (as stored if it does not parse).
pub fn when_text(rfc3339: &str) -> String {
    OffsetDateTime::parse(rfc3339, &Rfc3339).map_or_else(|_| rfc3339.to_owned(), human)
}

fn human(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A deadline against now: `in 4m 10s`, `overdue by 3m`.
pub fn relative(deadline: i64, now: i64) -> String {
    let d = deadline - now;
    if d >= 0 {
        format!("in {}", span(d))
    } else {
        format!("overdue by {}", span(-d))
    }
}

/// Seconds as `1h 5m`, `4m 10s`, `12s`.
pub fn span(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) if s == 0 => format!("{m}m"),
        (0, _) => format!("{m}m {s}s"),
        _ if m == 0 => format!("{h}h"),
        _ => format!("{h}h {m}m"),
    }
}

pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(when(1_765_017_001), "2025-12-06 10:30:01 UTC");
        assert_eq!(when_text("2025-12-06T10:30:01Z"), "2025-12-06 10:30:01 UTC");
        assert_eq!(when_text("not a time"), "not a time");
        assert_eq!(relative(1_250, 1_000), "in 4m 10s");
        assert_eq!(relative(820, 1_000), "overdue by 3m");
        assert_eq!(span(3_900), "1h 5m");
        assert_eq!(span(7_200), "2h");
        assert_eq!(span(12), "12s");
    }

    #[test]
    fn tables_and_fields_line_up() {
        let t = table(&["state", "topic"], vec![vec!["queued".into(), "Weekly".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].find("TOPIC"), lines[1].find("Weekly"), "{t}");
        assert!(lines[0].starts_with("STATE"), "{t}");
        assert_eq!(fields(&[("a", "1".into()), ("long", "2".into())]), "a     1\nlong  2");
    }
}

//! Participant display names from `participant_audio_files[].file_name`.

use std::collections::HashSet;

const PREFIX: &str = "Audio only - ";

/// `"Audio only - Mary-Jane O'Neil"` gives `Mary-Jane O'Neil`; anything without the
/// prefix is taken whole (the original's `split("-")` cut hyphenated names).
pub fn display_name(file_name: &str) -> String {
    let trimmed = file_name.trim();
    trimmed.strip_prefix(PREFIX).unwrap_or(trimmed).trim().to_owned()
}

/// Makes names unique in order: the second "Alex" becomes "Alex (2)"; an empty name
/// becomes "Participant k" (1-based position).
pub fn disambiguate<I, S>(names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let names: Vec<String> = names
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let n = n.as_ref().trim();
            if n.is_empty() {
                format!("Participant {}", i + 1)
            } else {
                n.to_owned()
            }
        })
        .collect();
    // Names as given are reserved first, so a real "Alex (2)" keeps its name.
    let given: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for name in &names {
        let mut candidate = name.clone();
        let mut k = 2;
        while taken.contains(&candidate) || (candidate != *name && given.contains(candidate.as_str())) {
            candidate = format!("{name} ({k})");
            k += 1;
        }
        taken.insert(candidate.clone());
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixed_names() {
        assert_eq!(display_name("Audio only - Mary-Jane O'Neil"), "Mary-Jane O'Neil");
        assert_eq!(display_name("Audio only - Elisa L"), "Elisa L");
        assert_eq!(display_name("Audio only - 李雷"), "李雷");
        assert_eq!(display_name("Audio only - Jean - Luc"), "Jean - Luc");
        assert_eq!(display_name("Dana"), "Dana");
        assert_eq!(display_name("  Audio only -  Bo  "), "Bo");
    }

    #[test]
    fn disambiguates_duplicates() {
        assert_eq!(
            disambiguate(["Alex", "Bo", "Alex", "Alex"]),
            ["Alex", "Bo", "Alex (2)", "Alex (3)"]
        );
        assert_eq!(
            disambiguate(["Alex", "Alex", "Alex (2)"]),
            ["Alex", "Alex (3)", "Alex (2)"]
        );
        assert_eq!(disambiguate(["", "Bo", " "]), ["Participant 1", "Bo", "Participant 3"]);
    }
}

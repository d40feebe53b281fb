//! Whose file is whose: Zoom's participant files carry only a display name, so a name that
//! never records twice at once is one person who stopped and restarted, and a name recording
//! twice at once is two people. Pure.

use time::OffsetDateTime;

/// One participant file, as grouping sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The display name; empty when the event gave none.
    pub name: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

/// The files of each person, as indices into `files`: people in the order their first file
/// appears in the event (so labels keep the event's order), each person's files by start.
/// A file without a name stays alone: nothing says whose it is.
pub fn people(files: &[Span]) -> Vec<Vec<usize>> {
    let mut by_start: Vec<usize> = (0..files.len()).collect();
    by_start.sort_by_key(|&i| (files[i].start, i));
    // (name, latest end so far, files in start order)
    let mut groups: Vec<(&str, OffsetDateTime, Vec<usize>)> = Vec::new();
    for i in by_start {
        let f = &files[i];
        let free = groups
            .iter_mut()
            .find(|(name, end, _)| !f.name.is_empty() && *name == f.name && *end <= f.start);
        match free {
            Some((_, end, members)) => {
                *end = (*end).max(f.end);
                members.push(i);
            }
            None => groups.push((&f.name, f.end, vec![i])),
        }
    }
    let mut people: Vec<Vec<usize>> = groups.into_iter().map(|(_, _, members)| members).collect();
    people.sort_by_key(|members| members.iter().min().copied());
    people
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn span(name: &str, start: OffsetDateTime, end: OffsetDateTime) -> Span {
        Span {
            name: name.into(),
            start,
            end,
        }
    }

    #[test]
    fn a_restarted_name_is_one_person_with_its_files_in_time_order() {
        let files = [
            span(
                "Bo",
                datetime!(2024-01-01 10:00:00 UTC),
                datetime!(2024-01-01 10:50:00 UTC),
            ),
            // Listed first in the event, recorded after the restart.
            span(
                "Ann",
                datetime!(2024-01-01 10:30:00 UTC),
                datetime!(2024-01-01 10:50:00 UTC),
            ),
            span(
                "Ann",
                datetime!(2024-01-01 10:00:00 UTC),
                datetime!(2024-01-01 10:20:00 UTC),
            ),
        ];
        assert_eq!(people(&files), [vec![0], vec![2, 1]]);
    }

    #[test]
    fn one_name_recording_twice_at_once_is_two_people() {
        let files = [
            span(
                "Ann",
                datetime!(2024-01-01 10:00:00 UTC),
                datetime!(2024-01-01 10:40:00 UTC),
            ),
            span(
                "Ann",
                datetime!(2024-01-01 10:10:00 UTC),
                datetime!(2024-01-01 10:20:00 UTC),
            ),
            // After the second Ann left, while the first still records: the second's restart.
            span(
                "Ann",
                datetime!(2024-01-01 10:25:00 UTC),
                datetime!(2024-01-01 10:30:00 UTC),
            ),
        ];
        assert_eq!(people(&files), [vec![0], vec![1, 2]]);
    }

    #[test]
    fn files_without_a_name_stay_apart() {
        let files = [
            span(
                "",
                datetime!(2024-01-01 10:00:00 UTC),
                datetime!(2024-01-01 10:10:00 UTC),
            ),
            span(
                "",
                datetime!(2024-01-01 10:20:00 UTC),
                datetime!(2024-01-01 10:30:00 UTC),
            ),
        ];
        assert_eq!(people(&files), [vec![0], vec![1]]);
        assert!(people(&[]).is_empty());
    }
}

//! How an operator names a meeting: an instance's UUID, a meeting number (its latest instance),
//! or a Zoom share link; found through the meetings table's indexes, never a scan.

use aws_sdk_dynamodb::types::AttributeValue;
use zoom_symbl_core::meeting_key::MeetingKey;

use crate::error::{CliError, Result};
use crate::stack::Stack;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingRef {
    Uuid(String),
    /// Digits only.
    Number(String),
    /// Without its query (`?pwd=...`) or fragment.
    ShareLink(String),
}

impl MeetingRef {
    pub fn parse(raw: &str) -> Result<MeetingRef> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(CliError::Usage(
                "name a meeting: its UUID, its number or its share link".into(),
            ));
        }
        if raw.starts_with("https://") || raw.starts_with("http://") {
            let url = url::Url::parse(raw).map_err(|e| CliError::Usage(format!("not a link: {e}")))?;
            let path = url.path();
            // A join link names the meeting number.
            if let Some(number) = path.strip_prefix("/j/").filter(|n| is_number(n)) {
                return Ok(MeetingRef::Number(number.to_owned()));
            }
            if path.starts_with("/rec/share/") || path.starts_with("/rec/play/") {
                let mut link = url.clone();
                link.set_query(None);
                link.set_fragment(None);
                return Ok(MeetingRef::ShareLink(link.to_string()));
            }
            return Err(CliError::Usage(format!(
                "{raw} is not a Zoom recording share link (…/rec/share/…) or join link (…/j/<number>)"
            )));
        }
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if is_number(&digits) {
            return Ok(MeetingRef::Number(digits));
        }
        if raw.chars().any(char::is_whitespace) {
            return Err(CliError::Usage(format!(
                "{raw:?} is not a meeting UUID, number or link"
            )));
        }
        Ok(MeetingRef::Uuid(raw.to_owned()))
    }

    /// The meeting's key in the table.
    pub async fn resolve(&self, stack: &Stack) -> Result<MeetingKey> {
        let (index, attr, value) = match self {
            MeetingRef::Uuid(uuid) => return Ok(MeetingKey::from_uuid(uuid)),
            MeetingRef::Number(n) => ("by_meeting_id", "meeting_id", n),
            MeetingRef::ShareLink(link) => ("by_share_url", "share_url", link),
        };
        let out = stack
            .dynamodb()
            .query()
            .table_name(stack.output("MeetingsTableName")?)
            .index_name(index)
            .key_condition_expression("#k = :v")
            .expression_attribute_names("#k", attr)
            .expression_attribute_values(":v", AttributeValue::S(value.clone()))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| CliError::aws("DynamoDB Query", e))?;
        let key = out
            .items()
            .first()
            .and_then(|i| i.get("meeting_key"))
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| CliError::NoSuchMeeting(value.clone()))?;
        Ok(MeetingKey::parse(key)?)
    }
}

impl std::fmt::Display for MeetingRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MeetingRef::Uuid(s) | MeetingRef::Number(s) | MeetingRef::ShareLink(s) => f.write_str(s),
        }
    }
}

/// Zoom meeting numbers are 9 to 11 digits.
fn is_number(s: &str) -> bool {
    (9..=11).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_of_naming_a_meeting() {
        assert_eq!(
            MeetingRef::parse("tFpXbu/pQ9+zPgGteb/Krw==").unwrap(),
            MeetingRef::Uuid("tFpXbu/pQ9+zPgGteb/Krw==".into())
        );
        assert_eq!(
            MeetingRef::parse("845 1234 5678").unwrap(),
            MeetingRef::Number("84512345678".into())
        );
        assert_eq!(
            MeetingRef::parse("845-123-4567").unwrap(),
            MeetingRef::Number("8451234567".into())
        );
        assert_eq!(
            MeetingRef::parse("https://us02web.zoom.us/rec/share/AbCd?pwd=secret#x").unwrap(),
            MeetingRef::ShareLink("https://us02web.zoom.us/rec/share/AbCd".into())
        );
        assert_eq!(
            MeetingRef::parse("https://us02web.zoom.us/j/84512345678?pwd=x").unwrap(),
            MeetingRef::Number("84512345678".into())
        );
    }

    #[test]
    fn what_names_no_meeting_is_bad_usage() {
        for bad in [
            "",
            "  ",
            "https://example.com/about",
            "two words",
            "https://zoom.us/j/12",
        ] {
            assert!(matches!(MeetingRef::parse(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
        // Too short for a meeting number: taken as a UUID, which is then simply not found.
        assert_eq!(MeetingRef::parse("12345").unwrap(), MeetingRef::Uuid("12345".into()));
    }
}

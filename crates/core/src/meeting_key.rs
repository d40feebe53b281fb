//! Lossless storage keys for Zoom meeting instance UUIDs.
//!
//! Zoom UUIDs are base64-like and contain `/`, `+` and `=`. The original code deleted
//! those characters, which is lossy and lets two meetings collide. Here the key is the
//! unpadded base64url encoding of the UUID's bytes: safe in S3 keys, DynamoDB keys and
//! URLs, and reversible.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MeetingKey(String);

impl MeetingKey {
    pub fn from_uuid(uuid: &str) -> Self {
        MeetingKey(URL_SAFE_NO_PAD.encode(uuid.as_bytes()))
    }

    /// Parses a key previously produced by [`MeetingKey::from_uuid`].
    pub fn parse(key: &str) -> Result<Self, Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(key)
            .map_err(|e| Error::Invalid(format!("meeting key is not base64url: {e}")))?;
        String::from_utf8(bytes).map_err(|_| Error::Invalid("meeting key is not UTF-8".into()))?;
        Ok(MeetingKey(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn uuid(&self) -> String {
        // Constructed only from UTF-8 input, so decoding cannot fail; keep a lossless fallback anyway.
        URL_SAFE_NO_PAD
            .decode(&self.0)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// The S3 prefix under which everything about this meeting is stored.
    pub fn s3_prefix(&self) -> String {
        format!("meetings/{}/", self.0)
    }

    /// Where a run's files go. A restarted run writes beside the earlier one, so a late
    /// writer of the earlier run (its database writes fenced by the attempt) cannot overwrite
    /// this run's files in S3 either. The first run keeps the original layout.
    pub fn run_prefix(&self, run: u32) -> String {
        run_prefix(&self.0, run)
    }
}

/// [`MeetingKey::run_prefix`] of a key as stored (records name their meeting by its key).
pub fn run_prefix(key: &str, run: u32) -> String {
    match run {
        0 | 1 => format!("meetings/{key}/"),
        n => format!("meetings/{key}/run-{n}/"),
    }
}

impl fmt::Display for MeetingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_zoom_uuids() {
        for uuid in [
            "WEz4RT2lSyKx2MD9Z+lYfA==",
            "/ajXp112QmuoKj4854875==",
            "abc//def==",
            "tFpXbu/pQ9+zPgGteb/Krw==",
        ] {
            let key = MeetingKey::from_uuid(uuid);
            assert_eq!(key.uuid(), uuid);
            assert!(
                key.as_str()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{key}"
            );
            assert_eq!(MeetingKey::parse(key.as_str()).unwrap(), key);
        }
    }

    #[test]
    fn uuids_that_sanitising_would_merge_stay_distinct() {
        // The original's sanitiser mapped all of these to "ab".
        let keys: std::collections::HashSet<_> = ["a/b", "a+b", "ab=", "ab", "a-b"]
            .iter()
            .map(|u| MeetingKey::from_uuid(u))
            .collect();
        assert_eq!(keys.len(), 5);
    }

    #[test]
    fn rejects_foreign_keys() {
        assert!(MeetingKey::parse("not/base64").is_err());
        assert!(MeetingKey::parse("_w").is_err()); // decodes to 0xFF, not UTF-8
    }

    #[test]
    fn prefix_is_per_meeting() {
        assert_eq!(MeetingKey::from_uuid("ab").s3_prefix(), "meetings/YWI/");
    }
}

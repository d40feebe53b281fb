//! The Zoom webhook model (docs/zoom.md, "URL validation", "recording.completed"): lenient to unknown
//! fields, `id` and `file_size` as number or string, `null` as absent, event types as an open set.

use serde::{Deserialize, Deserializer, Serialize};

use crate::secret::SecretString;

/// A webhook body, classified by its `event` field.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoomEvent {
    UrlValidation {
        plain_token: String,
    },
    RecordingCompleted(Box<RecordingCompleted>),
    /// Any other event type: acknowledged and logged, never processed.
    Other {
        event: String,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("malformed Zoom webhook body: {0}")]
pub struct MalformedEvent(String);

impl ZoomEvent {
    pub fn parse(body: &[u8]) -> Result<Self, MalformedEvent> {
        #[derive(Deserialize)]
        struct Envelope {
            event: String,
        }
        #[derive(Deserialize)]
        struct Validation {
            payload: ValidationPayload,
        }
        #[derive(Deserialize)]
        struct ValidationPayload {
            #[serde(rename = "plainToken")]
            plain_token: String,
        }
        let envelope: Envelope = serde_json::from_slice(body).map_err(describe)?;
        match envelope.event.as_str() {
            "endpoint.url_validation" => {
                let v: Validation = serde_json::from_slice(body).map_err(describe)?;
                if v.payload.plain_token.is_empty() || v.payload.plain_token.len() > 256 {
                    return Err(MalformedEvent("plainToken must be 1 to 256 characters".into()));
                }
                Ok(ZoomEvent::UrlValidation {
                    plain_token: v.payload.plain_token,
                })
            }
            "recording.completed" => {
                let r: RecordingCompleted = serde_json::from_slice(body).map_err(describe)?;
                if r.payload.object.uuid.is_empty() {
                    return Err(MalformedEvent("payload.object.uuid is empty".into()));
                }
                Ok(ZoomEvent::RecordingCompleted(Box::new(r)))
            }
            _ => Ok(ZoomEvent::Other { event: envelope.event }),
        }
    }
}

// serde's messages name the field and position only; they never quote values of strings.
fn describe(e: serde_json::Error) -> MalformedEvent {
    MalformedEvent(e.to_string())
}

/// `recording.completed`, keeping what the pipeline uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingCompleted {
    pub event: String,
    #[serde(default)]
    pub event_ts: Option<i64>,
    /// Bearer token for the download URLs, valid 24 h.
    #[serde(default)]
    pub download_token: Option<SecretString>,
    pub payload: RecordingPayload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingPayload {
    #[serde(default, deserialize_with = "null_as_default")]
    pub account_id: String,
    pub object: RecordingObject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingObject {
    /// Meeting instance UUID: the idempotency key.
    pub uuid: String,
    /// Meeting number, shared by the instances of a recurring meeting.
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub account_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub host_email: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub topic: String,
    #[serde(default, rename = "type")]
    pub meeting_type: Option<i64>,
    /// RFC 3339 UTC, kept as sent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub start_time: String,
    #[serde(default)]
    pub timezone: Option<String>,
    /// Minutes.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub duration: u64,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total_size: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recording_files: Vec<RecordingFile>,
    /// Present only when the account records a separate audio file per participant.
    #[serde(default)]
    pub participant_audio_files: Option<Vec<ParticipantAudioFile>>,
    /// The recording's share link, by which an operator may name the meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingFile {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recording_start: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recording_end: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_type: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_extension: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub file_size: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub download_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recording_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantAudioFile {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recording_start: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub recording_end: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_type: String,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub file_size: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub download_url: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
}

impl RecordingObject {
    /// Every download URL the pipeline may fetch with the meeting's token.
    pub fn download_urls(&self) -> impl Iterator<Item = &str> {
        self.recording_files
            .iter()
            .map(|f| f.download_url.as_str())
            .chain(
                self.participant_audio_files
                    .iter()
                    .flatten()
                    .map(|f| f.download_url.as_str()),
            )
            .filter(|u| !u.is_empty())
    }

    /// How many audio files the pipeline can use: completed participant files, and completed
    /// `audio_only` files. A later delivery with more of them is a richer recording of the
    /// same meeting (its files finished processing since), not a duplicate.
    pub fn completed_audio_files(&self) -> u32 {
        let participants = self
            .participant_audio_files
            .iter()
            .flatten()
            .filter(|f| is_completed(&f.status))
            .count();
        let mixed = self
            .recording_files
            .iter()
            .filter(|f| f.recording_type == "audio_only" && is_completed(&f.status))
            .count();
        u32::try_from(participants + mixed).unwrap_or(u32::MAX)
    }

    /// The audio files Zoom had not finished (`file name: status`), for the meeting record:
    /// they are why a meeting may lack a participant, and why a later delivery may add one.
    pub fn unfinished_audio_files(&self) -> Vec<String> {
        let participants = self
            .participant_audio_files
            .iter()
            .flatten()
            .filter(|f| !is_completed(&f.status))
            .map(|f| unfinished(&f.file_name, &f.id, &f.status));
        let mixed = self
            .recording_files
            .iter()
            .filter(|f| f.recording_type == "audio_only" && !is_completed(&f.status))
            .map(|f| unfinished("audio_only", f.id.as_deref().unwrap_or(""), &f.status));
        participants.chain(mixed).collect()
    }
}

fn is_completed(status: &str) -> bool {
    status.eq_ignore_ascii_case("completed")
}

fn unfinished(name: &str, id: &str, status: &str) -> String {
    let name = if name.is_empty() { id } else { name };
    let status = if status.is_empty() { "no status" } else { status };
    format!("{name}: {status}")
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    Num(serde_json::Number),
    Str(String),
}

/// `null` reads as the field's default: Zoom sends `"topic": null` and the like, and a meeting is not
/// lost over a field the pipeline can do without. (`Option` fields read `null` as `None` already.)
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<NumOrString>::deserialize(d)? {
        None => String::new(),
        Some(NumOrString::Num(n)) => n.to_string(),
        Some(NumOrString::Str(s)) => s,
    })
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match Option::<NumOrString>::deserialize(d)? {
        None => Ok(0),
        Some(NumOrString::Num(n)) => n
            .as_u64()
            .ok_or_else(|| D::Error::custom("expected a non-negative integer")),
        Some(NumOrString::Str(s)) if s.trim().is_empty() => Ok(0),
        Some(NumOrString::Str(s)) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom("expected an integer string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT_SAMPLE: &str = include_str!("../../../../events/zoom-recording-completed.json");

    #[test]
    fn parses_contract_sample() {
        let ZoomEvent::RecordingCompleted(ev) = ZoomEvent::parse(CONTRACT_SAMPLE.as_bytes()).unwrap() else {
            panic!("not a recording.completed")
        };
        let o = &ev.payload.object;
        assert_eq!(o.uuid, "tFpXbu/pQ9+zPgGteb/Krw==");
        assert_eq!(o.id, "84512345678");
        assert_eq!(o.host_email, "host@example.com");
        assert_eq!(o.duration, 42);
        let parts = o.participant_audio_files.as_ref().unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].file_name, "Audio only - 李雷");
        assert_eq!(o.download_urls().count(), 6);
        assert!(ev.download_token.is_some());
    }

    #[test]
    fn counts_completed_audio_and_names_the_unfinished() {
        let ZoomEvent::RecordingCompleted(ev) = ZoomEvent::parse(CONTRACT_SAMPLE.as_bytes()).unwrap() else {
            panic!("not a recording.completed")
        };
        let mut o = ev.payload.object;
        // Three participant files and one audio_only file.
        assert_eq!(o.completed_audio_files(), 4);
        assert!(o.unfinished_audio_files().is_empty());
        o.participant_audio_files.as_mut().unwrap()[1].status = "processing".into();
        assert_eq!(o.completed_audio_files(), 3);
        assert_eq!(
            o.unfinished_audio_files(),
            ["Audio only - Mary-Jane O'Neil: processing"]
        );
    }

    #[test]
    fn id_and_sizes_accept_numbers_or_strings_and_unknown_fields() {
        let body = r#"{"event":"recording.completed","new_top":1,"payload":{"object":{"uuid":"u=","id":"87565330005",
            "total_size":"123","future":{"x":1},
            "participant_audio_files":[{"file_name":"Audio only - A","file_size":"4096","download_url":"https://zoom.us/a","status":"completed","extra":true}]}}}"#;
        let ZoomEvent::RecordingCompleted(ev) = ZoomEvent::parse(body.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(ev.payload.object.id, "87565330005");
        assert_eq!(ev.payload.object.total_size, 123);
        assert_eq!(ev.payload.object.participant_audio_files.unwrap()[0].file_size, 4096);
        assert!(ev.download_token.is_none());
    }

    /// Every optional or defaulted field Zoom may send as `null`: the meeting is still read.
    #[test]
    fn nulls_read_as_absent() {
        let body = r#"{"event":"recording.completed","event_ts":null,"download_token":null,
            "payload":{"account_id":null,"object":{"uuid":"u=","id":null,"account_id":null,"host_id":null,
            "host_email":null,"topic":null,"type":null,"start_time":null,"timezone":null,"duration":null,
            "total_size":null,
            "recording_files":[{"id":null,"recording_start":null,"recording_end":null,"file_type":null,
                "file_extension":null,"file_size":null,"download_url":null,"status":null,"recording_type":null}],
            "participant_audio_files":[{"id":null,"recording_start":null,"recording_end":null,"file_name":null,
                "file_type":null,"file_size":null,"download_url":null,"status":null}]}}}"#;
        let ZoomEvent::RecordingCompleted(ev) = ZoomEvent::parse(body.as_bytes()).unwrap() else {
            panic!("not a recording.completed")
        };
        let o = &ev.payload.object;
        assert_eq!(
            (o.uuid.as_str(), o.topic.as_str(), o.host_email.as_str()),
            ("u=", "", "")
        );
        assert_eq!(
            (o.timezone.as_deref(), ev.download_token.as_ref(), ev.event_ts),
            (None, None, None)
        );
        assert_eq!(o.recording_files[0].file_extension, "");
        assert_eq!(o.recording_files[0].recording_end, "");
        assert_eq!(o.participant_audio_files.as_ref().unwrap()[0].file_name, "");
        let lists = br#"{"event":"recording.completed","payload":{"object":{"uuid":"u=","recording_files":null,"participant_audio_files":null}}}"#;
        let ZoomEvent::RecordingCompleted(ev) = ZoomEvent::parse(lists).unwrap() else {
            panic!("not a recording.completed")
        };
        assert!(ev.payload.object.recording_files.is_empty());
        assert_eq!(ev.payload.object.participant_audio_files, None);
    }

    #[test]
    fn classifies_events() {
        let v = br#"{"event":"endpoint.url_validation","payload":{"plainToken":"abc"},"event_ts":1}"#;
        assert_eq!(
            ZoomEvent::parse(v).unwrap(),
            ZoomEvent::UrlValidation {
                plain_token: "abc".into()
            }
        );
        let other = br#"{"event":"meeting.started","payload":{}}"#;
        assert_eq!(
            ZoomEvent::parse(other).unwrap(),
            ZoomEvent::Other {
                event: "meeting.started".into()
            }
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            &b"not json"[..],
            b"{}",
            b"[]",
            br#"{"event":5}"#,
            br#"{"event":"endpoint.url_validation","payload":{}}"#,
            br#"{"event":"endpoint.url_validation","payload":{"plainToken":""}}"#,
            br#"{"event":"recording.completed","payload":{"object":{"uuid":""}}}"#,
            br#"{"event":"recording.completed","payload":{"object":{"id":1}}}"#,
            br#"{"event":"recording.completed","payload":{"object":{"uuid":"u","total_size":-1}}}"#,
        ] {
            assert!(ZoomEvent::parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn token_is_redacted_in_debug_but_kept_for_the_producer() {
        let ZoomEvent::RecordingCompleted(ev) = ZoomEvent::parse(CONTRACT_SAMPLE.as_bytes()).unwrap() else {
            panic!()
        };
        let token = ev.download_token.as_ref().unwrap().expose().to_owned();
        assert!(!format!("{ev:?}").contains(&token));
        assert!(serde_json::to_string(&ev).unwrap().contains(&token));
    }
}

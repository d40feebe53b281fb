//! The recording object as the webhook and the recordings API show it (docs/zoom.md, "recording.completed",
//! "Meeting recordings API").

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::meeting::{GeneratedMeeting, GeneratedTrack};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `/rec/webhook_download/` links, with host_email, share_url and timezone.
    Webhook,
    /// `/rec/download/` links, without the fields the API omits.
    Api,
}

/// RFC 3339 in whole seconds with `Z`, as Zoom sends.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

pub fn recording_object(m: &GeneratedMeeting, base_url: &str, account_id: &str, flavor: Flavor) -> Value {
    let spec = &m.spec;
    let route = match flavor {
        Flavor::Webhook => "webhook_download",
        Flavor::Api => "download",
    };
    let file = |t: &GeneratedTrack| {
        let mut f = json!({
            "id": t.file_id,
            "recording_start": rfc3339(t.recording_start),
            "recording_end": rfc3339(t.recording_end),
            "file_type": "M4A",
            "file_extension": "M4A",
            "file_size": t.size,
            "play_url": format!("{base_url}/rec/play/{}", t.file_id),
            "download_url": format!("{base_url}/rec/{route}/{}", t.file_id),
            "status": "completed",
        });
        match t.participant {
            Some(i) => f["file_name"] = json!(format!("Audio only - {}", spec.participants[i].name)),
            None => {
                f["meeting_id"] = json!(spec.uuid);
                f["recording_type"] = json!("audio_only");
            }
        }
        f
    };
    let recording_files: Vec<Value> = m.tracks.iter().filter(|t| t.participant.is_none()).map(file).collect();
    let participant_files: Vec<Value> = m.tracks.iter().filter(|t| t.participant.is_some()).map(file).collect();

    let mut o = json!({
        "uuid": spec.uuid,
        "id": spec.meeting_id,
        "account_id": account_id,
        "host_id": crate::listing::user_id(&spec.host_email),
        "topic": spec.topic,
        "type": 2,
        "start_time": rfc3339(spec.start),
        "duration": (spec.duration_secs / 60.0).ceil() as u64,
        "total_size": m.tracks.iter().map(|t| t.size).sum::<u64>(),
        "recording_count": m.tracks.len(),
        "password": "sandbox",
        "recording_play_passcode": "c2FuZGJveA",
        "recording_files": recording_files,
    });
    if spec.per_participant_files {
        o["participant_audio_files"] = json!(participant_files);
    }
    if flavor == Flavor::Webhook {
        o["host_email"] = json!(spec.host_email);
        o["share_url"] = json!(format!("{base_url}/rec/share/{}", spec.meeting_id));
        o["timezone"] = json!("UTC");
        o["on_prem"] = json!(false);
    }
    o
}

pub fn recording_completed(m: &GeneratedMeeting, base_url: &str, account_id: &str, download_token: &str) -> Value {
    json!({
        "event": "recording.completed",
        "event_ts": OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000,
        "download_token": download_token,
        "payload": {
            "account_id": account_id,
            "object": recording_object(m, base_url, account_id, Flavor::Webhook),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_whole_seconds_in_utc() {
        assert_eq!(rfc3339(datetime!(2024-05-31 18:00:07.25 UTC)), "2024-05-31T18:00:07Z");
    }
}

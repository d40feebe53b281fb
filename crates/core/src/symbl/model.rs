//! Typed requests, lenient responses.

use serde::{Deserialize, Serialize};

/// `POST /v1/process/audio/url` body. Options absent from a request are omitted, not sent
/// as null or false.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitAudio {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_separate_recognition_per_channel: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channel_metadata: Vec<ChannelSpeaker>,
    /// Only for a mixed track: diarization wins over per-channel, so never both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_speaker_diarization: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diarization_speaker_count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelSpeaker {
    /// 1-based.
    pub channel: u16,
    pub speaker: Speaker,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Speaker {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl ChannelSpeaker {
    pub fn new(channel: u16, name: impl Into<String>) -> Self {
        ChannelSpeaker {
            channel,
            speaker: Speaker {
                name: name.into(),
                email: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Submitted {
    pub conversation_id: String,
    pub job_id: String,
}

/// `status` of `GET /v1/job/{id}` and of the job-status webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Scheduled,
    InProgress,
    Completed,
    Failed,
}

impl From<JobStatus> for crate::lifecycle::JobState {
    fn from(s: JobStatus) -> Self {
        use crate::lifecycle::JobState;
        match s {
            JobStatus::Scheduled => JobState::Scheduled,
            JobStatus::InProgress => JobState::InProgress,
            JobStatus::Completed => JobState::Completed,
            JobStatus::Failed => JobState::Failed,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(rename = "accessToken")]
    pub access_token: crate::secret::SecretString,
    #[serde(rename = "expiresIn", default)]
    pub expires_in: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multichannel_request_matches_the_contract() {
        let req = SubmitAudio {
            url: "https://b/m.wav?sig".into(),
            name: Some("Q3 planning sync".into()),
            webhook_url: Some("https://api/symbl/webhook?t=tok".into()),
            language_code: Some("en-US".into()),
            enable_separate_recognition_per_channel: Some(true),
            channel_metadata: vec![ChannelSpeaker::new(1, "Dana Host"), ChannelSpeaker::new(2, "李雷")],
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({
                "url": "https://b/m.wav?sig", "name": "Q3 planning sync",
                "webhookUrl": "https://api/symbl/webhook?t=tok", "languageCode": "en-US",
                "enableSeparateRecognitionPerChannel": true,
                "channelMetadata": [
                    {"channel": 1, "speaker": {"name": "Dana Host"}},
                    {"channel": 2, "speaker": {"name": "李雷"}}
                ]
            })
        );
    }

    #[test]
    fn lenient_responses() {
        let s: Submitted =
            serde_json::from_str(r#"{"conversationId":"5815170693595136","jobId":"9b1d","extra":1}"#).unwrap();
        assert_eq!(s.job_id, "9b1d");
        let st: JobStatus = serde_json::from_str(r#""in_progress""#).unwrap();
        assert_eq!(st, JobStatus::InProgress);
        assert_eq!(
            crate::lifecycle::JobState::from(st),
            crate::lifecycle::JobState::InProgress
        );
        assert!(crate::lifecycle::JobState::from(JobStatus::Failed).is_terminal());
    }
}

//! The `aws` insights provider: one transcription job per speaking participant (or one for a
//! mixed track), their words put back at meeting time through the segment maps, the merged
//! transcript stored beside the meeting, and the insights asked of a model.
//!
//! It is made of ports, not SDK clients: Transcribe and Bedrock in Lambda, in-memory doubles
//! in the tests. What the pipeline records as the meeting's one job is the run's job id (the
//! Transcribe names without their subject) with its subjects (`p0,p2`) as the conversation,
//! so the status path, the reconciler and the email work as they do for Symbl.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use tracing::{info, warn};

use crate::insights::{Insights, InsightsReport};
use crate::lifecycle::JobState;
use crate::llm::{InsightsConversation, MeetingFacts, Step, TranscriptLine};
use crate::meeting::{AudioMode, ProducedAudio};
use crate::meeting_key::MeetingKey;
use crate::ports::{
    InsightsModel, InsightsProvider, InsightsRequest, JobRef, Language, ObjectStore, ProviderError, ProviderJob,
    Transcriber, TranscriptionJob, TranscriptionState,
};
use crate::speech::SegmentMap;
use crate::transcript::jobs::{self, JobSubject};
use crate::transcript::{merge_participants, parse_words, split_by_speaker, Transcript, Word};

#[cfg(test)]
mod tests;

/// The provider on its AWS adapters.
pub type OnAws = TranscribeInsights<
    crate::aws::transcribe::TranscribeJobs,
    crate::aws::bedrock::BedrockModel,
    crate::aws::objects::S3Objects,
>;

impl OnAws {
    pub fn on_aws(sdk: &aws_config::SdkConfig, settings: Settings, model: &ModelSettings) -> Self {
        TranscribeInsights {
            transcriber: crate::aws::transcribe::TranscribeJobs::new(sdk),
            model: crate::aws::bedrock::BedrockModel::new(sdk, &model.model_id, model.max_output_tokens),
            objects: crate::aws::objects::S3Objects::new(sdk),
            settings,
        }
    }
}

/// Transcribe takes files up to four hours long.
pub const MAX_AUDIO_SECS: f64 = 4.0 * 3600.0;
/// The name of the semaphore item that counts this stack's Transcribe jobs.
pub const SEMAPHORE_NAME: &str = "transcribe-jobs";
/// The account's default is 250 concurrent jobs; leave room for anything else in it.
pub const DEFAULT_CONCURRENCY_LIMIT: u32 = 100;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The stack's name: the prefix of every job name, and what the EventBridge rule matches.
    pub stack: String,
    pub language: Language,
    pub vocabulary: Option<String>,
    pub redact_pii: bool,
    /// `BedrockMaxInputTokens`: a longer transcript is summarized in parts.
    pub max_input_tokens: usize,
}

impl Settings {
    pub fn from_env(env: &crate::config::Env) -> Result<Self, crate::Error> {
        Ok(Settings {
            stack: env.required("STACK_NAME")?,
            language: Language::parse(&env.optional("TRANSCRIBE_LANGUAGE").unwrap_or_else(|| "en-US".into())),
            vocabulary: env.optional("TRANSCRIBE_VOCABULARY_NAME"),
            redact_pii: env.parse_or("TRANSCRIBE_REDACT_PII", false)?,
            max_input_tokens: env.parse_or("BEDROCK_MAX_INPUT_TOKENS", DEFAULT_MAX_INPUT_TOKENS)?,
        })
    }
}

/// The model and how long its answers may be (`BedrockModelId`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    pub model_id: String,
    pub max_output_tokens: i32,
}

impl ModelSettings {
    pub fn from_env(env: &crate::config::Env) -> Result<Self, crate::Error> {
        Ok(ModelSettings {
            model_id: env
                .optional("BEDROCK_MODEL_ID")
                .unwrap_or_else(|| DEFAULT_MODEL_ID.into()),
            max_output_tokens: env.parse_or("BEDROCK_MAX_OUTPUT_TOKENS", 4096)?,
        })
    }
}

/// Claude Haiku 4.5 through the US regions' inference profile.
pub const DEFAULT_MODEL_ID: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
/// Haiku 4.5 reads 200k tokens; the rest is room for the prompts and the answer.
pub const DEFAULT_MAX_INPUT_TOKENS: usize = 150_000;

pub struct TranscribeInsights<T, M, O> {
    pub transcriber: T,
    pub model: M,
    pub objects: O,
    pub settings: Settings,
}

/// Whose speech the meeting's jobs transcribe: every participant with a speech file, or the
/// mixed track when there are no participant files.
pub fn subjects(audio: &ProducedAudio) -> Vec<JobSubject> {
    if audio.mode == AudioMode::MixedDiarization && audio.speech.is_empty() {
        return vec![JobSubject::Mixed];
    }
    audio
        .speech
        .iter()
        .filter(|t| t.flac_key.is_some())
        .map(|t| JobSubject::Participant(t.index))
        .collect()
}

/// Speaker labels for a mixed track: at least 2, at most Transcribe's 30.
fn speaker_labels(audio: &ProducedAudio) -> u8 {
    audio.participants.len().clamp(2, 30) as u8
}

fn refused(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Refused(e.to_string())
}

impl<T: Transcriber, M: InsightsModel, O: ObjectStore> TranscribeInsights<T, M, O> {
    fn run_job(&self, job: JobRef<'_>) -> Result<(MeetingKey, Vec<JobSubject>), ProviderError> {
        let key = MeetingKey::parse(job.meeting_key).map_err(refused)?;
        let subjects = JobSubject::decode_all(job.conversation_id).ok_or_else(|| {
            ProviderError::Refused(format!("job {} names no transcriptions this provider made", job.job_id))
        })?;
        Ok((key, subjects))
    }

    /// Each job's words with the map that places them, and who is left out and why.
    async fn transcripts(
        &self,
        key: &MeetingKey,
        job: JobRef<'_>,
        subjects: &[JobSubject],
        audio: &ProducedAudio,
    ) -> Result<(Vec<(Option<SegmentMap>, Vec<Word>)>, Vec<String>), ProviderError> {
        let mut heard = Vec::new();
        let mut missing = Vec::new();
        for &subject in subjects {
            let name = jobs::name_in(job.job_id, subject);
            let track = match subject {
                JobSubject::Participant(k) => audio.speech.iter().find(|t| t.index == k),
                JobSubject::Mixed => None,
            };
            let who = track.map_or("the meeting's mixed track", |t| t.name.as_str());
            match self.transcriber.state(&name).await? {
                TranscriptionState::Completed => {}
                TranscriptionState::Failed { reason } => {
                    warn!(job = %name, %reason, "a transcription failed; its participant is left out");
                    missing.push(format!("{who} ({reason})"));
                    continue;
                }
                TranscriptionState::Running => {
                    return Err(ProviderError::Unavailable(format!(
                        "transcription {name} is still running"
                    )))
                }
            }
            let output = jobs::output_key(key, audio.run, subject);
            let words = parse_words(&self.get(&audio.merged_bucket, &output).await?).map_err(refused)?;
            let map = match track {
                Some(t) => {
                    let bytes = self.get(&audio.merged_bucket, &t.map_key).await?;
                    Some(
                        serde_json::from_slice::<SegmentMap>(&bytes)
                            .map_err(|e| ProviderError::Refused(format!("segment map {}: {e}", t.map_key)))?,
                    )
                }
                None => None,
            };
            heard.push((map, words));
        }
        Ok((heard, missing))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, ProviderError> {
        self.objects.get(bucket, key).await.map_err(|e| match e.retry() {
            crate::error::Retry::Retryable => ProviderError::Unavailable(e.to_string()),
            crate::error::Retry::Permanent => ProviderError::Refused(e.to_string()),
        })
    }

    /// The model's insights on the transcript, asked again once on an invalid answer and in
    /// parts when it is too long for one request.
    async fn ask_model(&self, facts: MeetingFacts, lines: &[TranscriptLine]) -> Result<Insights, ProviderError> {
        let mut conversation =
            InsightsConversation::new(facts, lines, self.settings.max_input_tokens).map_err(refused)?;
        loop {
            let Some(request) = conversation.request() else {
                return Err(ProviderError::Refused(
                    "the model's conversation ended without insights".into(),
                ));
            };
            let reply = self.model.ask(&request).await?;
            match conversation.answer(reply).map_err(refused)? {
                Step::Ask(_) => continue,
                Step::Done(insights) => return Ok(insights),
            }
        }
    }
}

impl<T: Transcriber, M: InsightsModel, O: ObjectStore> InsightsProvider for TranscribeInsights<T, M, O> {
    fn max_audio_secs(&self) -> f64 {
        MAX_AUDIO_SECS
    }

    fn slot_holders(&self, meeting_key: &str, audio: &ProducedAudio) -> Vec<String> {
        subjects(audio)
            .into_iter()
            .map(|s| format!("{meeting_key}#{}", s.label()))
            .collect()
    }

    async fn submit(&self, req: &InsightsRequest<'_>) -> Result<ProviderJob, ProviderError> {
        let audio = req.audio;
        let subjects = subjects(audio);
        if subjects.is_empty() {
            return Err(ProviderError::Refused(
                "nobody spoke in the recording: there is nothing to transcribe".into(),
            ));
        }
        let run_job = jobs::run_job_id(&self.settings.stack, req.meeting_key, audio.run);
        for &subject in &subjects {
            let name = jobs::name_in(&run_job, subject);
            let media_key = match subject {
                JobSubject::Participant(k) => audio
                    .speech
                    .iter()
                    .find(|t| t.index == k)
                    .and_then(|t| t.flac_key.as_deref())
                    .unwrap_or_default(),
                JobSubject::Mixed => &audio.mixdown_key,
            };
            let output_key = jobs::output_key(req.meeting_key, audio.run, subject);
            let job = TranscriptionJob {
                name: &name,
                media_bucket: &audio.merged_bucket,
                media_key,
                output_bucket: &audio.merged_bucket,
                output_key: &output_key,
                language: &self.settings.language,
                vocabulary: self.settings.vocabulary.as_deref(),
                redact_pii: self.settings.redact_pii,
                speakers: (subject == JobSubject::Mixed).then(|| speaker_labels(audio)),
            };
            // A start repeated after a crash or a redelivery is Transcribe's conflict: the job
            // exists, nothing runs twice.
            let started = self.transcriber.start(&job).await?;
            info!(job = %name, ?started, "transcription");
        }
        Ok(ProviderJob {
            job_id: run_job,
            conversation_id: JobSubject::encode_all(&subjects),
        })
    }

    /// Running until every job is terminal; then completed if anyone was transcribed.
    async fn job_state(&self, job: JobRef<'_>) -> Result<JobState, ProviderError> {
        let (_, subjects) = self.run_job(job)?;
        let mut completed = false;
        for subject in subjects {
            match self.transcriber.state(&jobs::name_in(job.job_id, subject)).await? {
                TranscriptionState::Running => return Ok(JobState::InProgress),
                TranscriptionState::Completed => completed = true,
                TranscriptionState::Failed { .. } => {}
            }
        }
        Ok(if completed {
            JobState::Completed
        } else {
            JobState::Failed
        })
    }

    async fn insights(&self, job: JobRef<'_>, audio: &ProducedAudio) -> Result<InsightsReport, ProviderError> {
        let (key, subjects) = self.run_job(job)?;
        let (heard, missing) = self.transcripts(&key, job, &subjects, audio).await?;
        let transcript = match heard.as_slice() {
            [(None, words)] => split_by_speaker(words, None),
            _ => merge_participants(
                heard
                    .iter()
                    .filter_map(|(map, words)| Some((map.as_ref()?, words.as_slice()))),
            ),
        };
        info!(utterances = transcript.utterances.len(), "transcript merged");
        let lines: Vec<TranscriptLine> = transcript
            .utterances
            .iter()
            .map(|u| TranscriptLine {
                start_secs: u.start,
                speaker: u.speaker.clone(),
                text: u.text.clone(),
            })
            .collect();
        let mut insights = self.ask_model(facts(audio, &transcript), &lines).await?;
        insights.left_out.extend(missing);
        Ok(InsightsReport {
            documents: documents(&insights),
            insights,
            transcript: Some(transcript),
        })
    }

    async fn summary_page(
        &self,
        _conversation_id: &str,
        _media_url: &str,
        _expires_in_secs: u64,
    ) -> Result<String, ProviderError> {
        Err(ProviderError::Refused(
            "the aws provider makes no page of its own".into(),
        ))
    }
}

/// What the model is told: the topic, the meeting's date where it was held (due dates are
/// resolved against it), and the only names it may assign work to.
pub fn facts(audio: &ProducedAudio, transcript: &Transcript) -> MeetingFacts {
    let tz = audio
        .timezone
        .as_deref()
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let at = audio
        .start_time
        .parse::<Timestamp>()
        .unwrap_or_else(|_| Timestamp::now());
    let day = at.to_zoned_datetime(tz).date();
    let date = time::Month::try_from(day.month() as u8)
        .ok()
        .and_then(|month| time::Date::from_calendar_date(day.year().into(), month, day.day() as u8).ok())
        .unwrap_or(time::Date::MIN);
    let mut participants: Vec<String> = audio.speech.iter().map(|t| t.name.clone()).collect();
    if participants.is_empty() {
        participants = audio.participants.iter().map(|p| p.name.clone()).collect();
    }
    for u in &transcript.utterances {
        if !participants.contains(&u.speaker) {
            participants.push(u.speaker.clone());
        }
    }
    MeetingFacts {
        topic: audio.topic.clone(),
        date,
        timezone: audio.timezone.clone().unwrap_or_default(),
        participants,
    }
}

/// The same five documents the Symbl path stores, each the section in our terms.
fn documents(insights: &Insights) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    vec![
        ("summary", json!({ "summary": insights.summary })),
        ("topics", json!({ "topics": insights.topics })),
        ("questions", json!({ "questions": insights.questions })),
        ("action-items", json!({ "actionItems": insights.action_items })),
        ("follow-ups", json!({ "followUps": insights.follow_ups })),
    ]
}

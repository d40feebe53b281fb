//! Amazon Transcribe as the [`Transcriber`]: one batch job per participant's speech, its name
//! chosen by the caller so that a repeated start is Transcribe's `ConflictException`.

use aws_sdk_transcribe::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_transcribe::operation::start_transcription_job::StartTranscriptionJobError;
use aws_sdk_transcribe::types::{
    ContentRedaction, LanguageCode, Media, MediaFormat, RedactionOutput, RedactionType, Settings,
    TranscriptionJobStatus,
};
use aws_sdk_transcribe::Client;

use crate::ports::{Language, ProviderError, Transcriber, TranscriptionJob, TranscriptionStart, TranscriptionState};

/// The rate the producer writes each participant's speech at.
const SPEECH_SAMPLE_RATE_HZ: i32 = 16_000;

#[derive(Clone)]
pub struct TranscribeJobs {
    client: Client,
}

impl TranscribeJobs {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        TranscribeJobs {
            client: Client::new(sdk),
        }
    }
}

impl Transcriber for TranscribeJobs {
    async fn start(&self, job: &TranscriptionJob<'_>) -> Result<TranscriptionStart, ProviderError> {
        let media = Media::builder()
            .media_file_uri(format!("s3://{}/{}", job.media_bucket, job.media_key))
            .build();
        let mut req = self
            .client
            .start_transcription_job()
            .transcription_job_name(job.name)
            .media(media)
            .media_format(MediaFormat::Flac)
            .media_sample_rate_hertz(SPEECH_SAMPLE_RATE_HZ)
            .output_bucket_name(job.output_bucket)
            .output_key(job.output_key);
        req = match job.language {
            Language::Code(code) => req.language_code(LanguageCode::from(code.as_str())),
            Language::Identify => req.identify_language(true),
        };
        if job.vocabulary.is_some() || job.speakers.is_some() {
            let mut settings = Settings::builder().set_vocabulary_name(job.vocabulary.map(str::to_owned));
            if let Some(speakers) = job.speakers {
                settings = settings
                    .show_speaker_labels(true)
                    .max_speaker_labels(i32::from(speakers.clamp(2, 30)));
            }
            req = req.settings(settings.build());
        }
        if job.redact_pii {
            let redaction = ContentRedaction::builder()
                .redaction_type(RedactionType::Pii)
                .redaction_output(RedactionOutput::Redacted)
                .build()
                .map_err(|e| ProviderError::Refused(format!("transcribe: {e}")))?;
            req = req.content_redaction(redaction);
        }
        match req.send().await {
            Ok(_) => Ok(TranscriptionStart::Started),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), StartTranscriptionJobError::ConflictException(_)) => {
                Ok(TranscriptionStart::AlreadyStarted)
            }
            Err(e) => Err(provider_error(e)),
        }
    }

    async fn state(&self, name: &str) -> Result<TranscriptionState, ProviderError> {
        let out = self
            .client
            .get_transcription_job()
            .transcription_job_name(name)
            .send()
            .await
            .map_err(provider_error)?;
        let job = out
            .transcription_job()
            .ok_or_else(|| ProviderError::Unavailable("transcribe: the answer holds no job".into()))?;
        Ok(match job.transcription_job_status() {
            Some(TranscriptionJobStatus::Completed) => TranscriptionState::Completed,
            Some(TranscriptionJobStatus::Failed) => TranscriptionState::Failed {
                reason: job.failure_reason().unwrap_or("no reason given").to_owned(),
            },
            _ => TranscriptionState::Running,
        })
    }
}

/// Transcribe's answers in the provider vocabulary: its limit is "later, without a retry
/// spent", its faults "later", a bad request or a missing job "never".
fn provider_error<E>(err: SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = match &err {
        SdkError::ServiceError(s) => s.err().code().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let message = format!("transcribe: {}", aws_sdk_transcribe::error::DisplayErrorContext(&err));
    match code.as_str() {
        "LimitExceededException" | "ThrottlingException" => ProviderError::AtCapacity(message),
        "BadRequestException" | "NotFoundException" | "ValidationException" | "AccessDeniedException" => {
            ProviderError::Refused(message)
        }
        _ => ProviderError::Unavailable(message),
    }
}

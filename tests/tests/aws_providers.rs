//! The aws provider's adapters against the local stack's Transcribe and Bedrock Runtime: a
//! job per name exactly once, its transcript in the real shape, a failed job's reason, and a
//! Converse request answered.

use std::time::Duration;

use e2e::{eventually, Stack};
use zoom_symbl_core::aws::bedrock::BedrockModel;
use zoom_symbl_core::aws::objects::S3Objects;
use zoom_symbl_core::aws::transcribe::TranscribeJobs;
use zoom_symbl_core::llm::{InsightsConversation, MeetingFacts, ModelReply, TranscriptLine};
use zoom_symbl_core::ports::{
    InsightsModel, Language, ObjectStore, Transcriber, TranscriptionJob, TranscriptionStart, TranscriptionState,
};

/// Two seconds of a tone as 16 kHz mono FLAC, made by ffmpeg.
async fn flac() -> Vec<u8> {
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:duration=2:sample_rate=16000")
        .args(["-ac", "1", "-c:a", "flac", "-f", "flac", "pipe:1"])
        .output()
        .await
        .expect("ffmpeg runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn job<'a>(
    name: &'a str,
    bucket: &'a str,
    media: &'a str,
    output: &'a str,
    language: &'a Language,
) -> TranscriptionJob<'a> {
    TranscriptionJob {
        name,
        media_bucket: bucket,
        media_key: media,
        output_bucket: bucket,
        output_key: output,
        language,
        vocabulary: None,
        redact_pii: false,
        speakers: None,
    }
}

async fn settled(transcriber: &TranscribeJobs, name: &str) -> TranscriptionState {
    eventually("the transcription job to end", Duration::from_secs(60), || async {
        let state = transcriber.state(name).await?;
        Ok((state != TranscriptionState::Running).then_some(state))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_job_starts_once_by_its_name_and_writes_a_transcript_in_the_real_shape() {
    let stack = Stack::load();
    let aws = stack.aws().await;
    let objects = S3Objects::new(&aws);
    let bucket = stack.output("OutputBucketName");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let media = format!("meetings/test-transcribe-{id}/speech/0.flac");
    let bytes = flac().await;
    objects
        .put_stream(bucket, &media, "audio/flac", bytes.as_slice())
        .await
        .unwrap();
    let output = format!("meetings/test-transcribe-{id}/transcripts/0.json");
    let name = format!("zs-test-{id}-0");
    let language = Language::parse("en-US");
    let transcriber = TranscribeJobs::new(&aws);
    let request = job(&name, bucket, &media, &output, &language);
    assert_eq!(transcriber.start(&request).await.unwrap(), TranscriptionStart::Started);
    assert_eq!(
        transcriber.start(&request).await.unwrap(),
        TranscriptionStart::AlreadyStarted,
        "a repeat start is Transcribe's conflict"
    );
    assert_eq!(settled(&transcriber, &name).await, TranscriptionState::Completed);
    let transcript = stack.object(bucket, &output).await.unwrap();
    let words = zoom_symbl_core::transcript::parse_words(&transcript).unwrap();
    assert!(!words.is_empty(), "{}", String::from_utf8_lossy(&transcript));
}

#[tokio::test]
async fn a_job_without_its_media_fails_with_transcribes_reason() {
    let stack = Stack::load();
    let aws = stack.aws().await;
    let bucket = stack.output("OutputBucketName");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (media, output, name) = (
        format!("meetings/test-transcribe-{id}/speech/missing.flac"),
        format!("meetings/test-transcribe-{id}/transcripts/missing.json"),
        format!("zs-test-{id}-missing"),
    );
    let language = Language::Identify;
    let transcriber = TranscribeJobs::new(&aws);
    transcriber
        .start(&job(&name, bucket, &media, &output, &language))
        .await
        .unwrap();
    match settled(&transcriber, &name).await {
        TranscriptionState::Failed { reason } => assert!(!reason.is_empty()),
        other => panic!("expected a failed job, got {other:?}"),
    }
}

#[tokio::test]
async fn a_converse_request_is_answered() {
    let stack = Stack::load();
    let model = BedrockModel::new(&stack.aws().await, "us.anthropic.claude-haiku-4-5-20251001-v1:0", 1024);
    let facts = MeetingFacts {
        topic: "Weekly sync".into(),
        date: time::macros::date!(2026 - 12 - 03),
        timezone: "UTC".into(),
        participants: vec!["Dana Host".into()],
    };
    let lines = [TranscriptLine {
        start_secs: 1.0,
        speaker: "Dana Host".into(),
        text: "Can we ship on Friday?".into(),
    }];
    let conversation = InsightsConversation::new(facts, &lines, 20_000).unwrap();
    let request = conversation.request().expect("a first request");
    // The local stack's Bedrock answers text or, with the LLM sandbox behind it, the tool.
    match model.ask(&request).await.unwrap() {
        ModelReply::Tool(input) => assert!(input.is_object(), "{input}"),
        ModelReply::Text(text) => assert!(!text.is_empty()),
    }
}

/// Bedrock itself when it throttles: the local stack's Bedrock cannot (its proxy answers text
/// for any error behind it, docs/aws-transcribe-bedrock.md), so a stand-in answers as Bedrock
/// does, `429` with `x-amzn-ErrorType: ThrottlingException`.
#[tokio::test]
async fn a_throttled_converse_is_at_capacity_not_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0; 64 << 10];
            let _ = socket.read(&mut buf).await;
            let body = r#"{"message":"Too many requests, please wait before trying again."}"#;
            let reply = format!(
                "HTTP/1.1 429 Too Many Requests\r\nx-amzn-ErrorType: ThrottlingException\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let model = BedrockModel::new(&sdk, "us.anthropic.claude-haiku-4-5-20251001-v1:0", 1024);
    let facts = MeetingFacts {
        topic: "Weekly sync".into(),
        date: time::macros::date!(2026 - 12 - 03),
        timezone: "UTC".into(),
        participants: vec!["Dana Host".into()],
    };
    let lines = [TranscriptLine {
        start_secs: 1.0,
        speaker: "Dana Host".into(),
        text: "Can we ship on Friday?".into(),
    }];
    let request = InsightsConversation::new(facts, &lines, 20_000)
        .unwrap()
        .request()
        .unwrap();
    let err = model.ask(&request).await.unwrap_err();
    assert!(
        matches!(&err, zoom_symbl_core::ports::ProviderError::AtCapacity(_)),
        "throttling is later, not failed: {err:?}"
    );
}

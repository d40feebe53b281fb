//! The aws provider on the local stack (its own stack, `.local/stack-aws.json`): from the
//! signed recording.completed through one Transcribe job per speaking participant and the
//! model (the LLM sandbox behind the local Bedrock) to the host's email.

use std::time::Duration;

use e2e::{attr_s, audio_of, llm, record, Mail, Stack};
use zoom_sandbox::{GeneratedMeeting, MeetingSpec};
use zoom_symbl_core::aws::transcribe::TranscribeJobs;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{Transcriber, TranscriptionState};
use zoom_symbl_core::transcript::jobs::{self, JobSubject};

const WAIT: Duration = Duration::from_secs(240);

/// Three people, the second of whom never says a word; the topic carries a unique tag.
async fn meeting_with_a_silent_participant() -> (GeneratedMeeting, String) {
    let mut spec = MeetingSpec::staggered(3, 12.0);
    spec.participants[1].speech.clear();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("Roadmap review {tag}");
    (record(spec).await, tag)
}

async fn start(stack: &Stack, m: &GeneratedMeeting) -> String {
    e2e::start(stack, m).await["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// What the model was asked about this meeting.
fn model_requests(tag: &str) -> Vec<String> {
    llm()
        .requests()
        .into_iter()
        .map(|r| r.body.to_string())
        .filter(|body| body.contains(tag))
        .collect()
}

async fn one_mail(stack: &Stack, tag: &str) -> Mail {
    stack.one_mail(tag, WAIT, Duration::from_secs(3)).await
}

#[tokio::test]
async fn a_meeting_is_transcribed_per_speaker_summarized_by_the_model_and_emailed_once() {
    let stack = Stack::load_aws();
    assert_eq!(stack.provider(), "aws");
    llm();
    let (m, tag) = meeting_with_a_silent_participant().await;
    assert_eq!(start(&stack, &m).await, "accepted");
    let mail = one_mail(&stack, &tag).await;
    assert_eq!(
        mail.subject,
        format!("Meeting insights: {}", m.spec.topic),
        "the email says:\n{}",
        mail.text
    );
    for part in [&mail.text, &mail.html] {
        for needle in ["Dana Host", "李雷", "Summary"] {
            assert!(part.contains(needle), "{needle} missing from:\n{part}");
        }
        assert!(
            !part.contains("symbl.ai"),
            "no Symbl page for the aws provider:\n{part}"
        );
    }

    let key = MeetingKey::from_uuid(&m.spec.uuid);
    let item = stack.meeting(&m.spec.uuid).await.expect("the meeting's record");
    assert_eq!(attr_s(&item, "status"), Some("transcribed"));
    let audio = audio_of(&item);
    // Everyone's speech was looked for; the silent one has a map and no file.
    let speech = audio["speech"].as_array().expect("speech tracks").clone();
    let spoke: Vec<(String, bool)> = speech
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["flac_key"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        spoke,
        [
            ("Dana Host".to_owned(), true),
            (m.spec.participants[1].name.clone(), false),
            ("李雷".to_owned(), true)
        ]
    );
    let bucket = stack.output("OutputBucketName");
    assert!(
        stack
            .object(bucket, &format!("{}merged.wav", key.s3_prefix()))
            .await
            .is_err(),
        "no multichannel file for the aws provider"
    );
    stack
        .object(bucket, audio["mixdown_key"].as_str().unwrap())
        .await
        .expect("the mixdown");

    // One job per speaking participant, none for the silent one.
    let run_job = jobs::run_job_id(&stack.stack_name, &key, 1);
    let job = stack.job(&run_job).await.expect("the run's job is recorded");
    assert_eq!(attr_s(&job, "conversation_id"), Some("p0,p2"));
    let transcribe = TranscribeJobs::new(&stack.aws().await);
    for k in [0, 2] {
        let name = jobs::name_in(&run_job, JobSubject::Participant(k));
        assert_eq!(
            transcribe.state(&name).await.unwrap(),
            TranscriptionState::Completed,
            "{name}"
        );
    }
    let silent = jobs::name_in(&run_job, JobSubject::Participant(1));
    assert!(
        transcribe.state(&silent).await.is_err(),
        "no job for the silent participant"
    );

    // The transcript: words at meeting time, by the two who spoke, in time order.
    let transcript = stack.transcript(&m.spec.uuid).await.unwrap();
    assert!(!transcript.utterances.is_empty());
    let mut last = 0.0;
    for u in &transcript.utterances {
        assert!(["Dana Host", "李雷"].contains(&u.speaker.as_str()), "{u:?}");
        assert!(u.start >= last && u.end <= m.spec.duration_secs + 1.0, "{u:?}");
        last = u.start;
    }
    let vtt = stack
        .object(bucket, &format!("{}transcript.vtt", key.s3_prefix()))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&vtt).starts_with("WEBVTT"));

    // The model was asked once, with the transcript's speakers, and its slots are free.
    let asked = model_requests(&tag);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].contains("Dana Host") && asked[0].contains("李雷"));
    let holders = stack.slot_holders().await.unwrap();
    assert!(!holders.iter().any(|h| h.starts_with(key.as_str())), "{holders:?}");
}

#[tokio::test]
async fn duplicate_deliveries_and_a_redelivered_work_item_start_nothing_twice() {
    let stack = Stack::load_aws();
    llm();
    let (m, tag) = meeting_with_a_silent_participant().await;
    assert_eq!(start(&stack, &m).await, "accepted");
    assert_eq!(start(&stack, &m).await, "duplicate");
    one_mail(&stack, &tag).await;
    let key = MeetingKey::from_uuid(&m.spec.uuid);
    let run_job = jobs::run_job_id(&stack.stack_name, &key, 1);
    let before = stack.job(&run_job).await.expect("the run's job");

    // The work item again, as SQS may deliver it: the consumer finds the meeting submitted.
    let body = serde_json::json!({"meeting_key": key.as_str(), "produced_at": "2026-01-01T00:00:00Z"});
    stack
        .sqs()
        .await
        .send_message()
        .queue_url(stack.output("WorkQueueUrl"))
        .message_body(body.to_string())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(stack.mails(&tag).len(), 1, "one email");
    assert_eq!(model_requests(&tag).len(), 1, "the model was asked once");
    let after = stack.job(&run_job).await.expect("the run's job");
    assert_eq!(attr_s(&after, "submitted_at"), attr_s(&before, "submitted_at"));
}

#[tokio::test]
async fn without_participant_files_the_mixed_track_is_one_job_with_speaker_labels() {
    let stack = Stack::load_aws();
    llm();
    let mut spec = MeetingSpec::staggered(3, 12.0);
    spec.per_participant_files = false;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    spec.topic = format!("Mixed track {tag}");
    let m = record(spec).await;
    assert_eq!(start(&stack, &m).await, "accepted");
    let mail = one_mail(&stack, &tag).await;
    assert!(mail.subject.starts_with("Meeting insights:"), "{}", mail.subject);
    let key = MeetingKey::from_uuid(&m.spec.uuid);
    let run_job = jobs::run_job_id(&stack.stack_name, &key, 1);
    let job = stack.job(&run_job).await.expect("the run's job");
    assert_eq!(attr_s(&job, "conversation_id"), Some("mixed"));
    let transcribe = TranscribeJobs::new(&stack.aws().await);
    let name = jobs::name_in(&run_job, JobSubject::Mixed);
    assert_eq!(transcribe.state(&name).await.unwrap(), TranscriptionState::Completed);
    let transcript = stack.transcript(&m.spec.uuid).await.unwrap();
    assert!(!transcript.utterances.is_empty());
    // Transcribe's labels, not the participants' names: a mixed track does not say who is who.
    assert!(
        transcript
            .utterances
            .iter()
            .all(|u| u.speaker.starts_with("Speaker ") || u.speaker == "Unknown speaker"),
        "{transcript:?}"
    );
    assert_eq!(model_requests(&tag).len(), 1);
}

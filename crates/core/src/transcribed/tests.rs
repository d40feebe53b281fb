use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::insights::Action;
use crate::llm::{to_tool_input, ModelReply, Request};
use crate::meeting::SpeechTrack;
use crate::ports::TranscriptionStart;
use crate::speech::segment_map::Segment;
use crate::testkit::{samples, AudioBuilder, MemObjects};

/// Transcribe in memory: a start is refused as a repeat once the name exists.
#[derive(Default)]
struct MemTranscriber {
    started: Mutex<Vec<String>>,
    states: Mutex<BTreeMap<String, TranscriptionState>>,
    at_capacity: Mutex<bool>,
}

impl Transcriber for MemTranscriber {
    async fn start(&self, job: &TranscriptionJob<'_>) -> Result<TranscriptionStart, ProviderError> {
        if *self.at_capacity.lock().unwrap() {
            return Err(ProviderError::AtCapacity("LimitExceededException".into()));
        }
        let mut states = self.states.lock().unwrap();
        if states.contains_key(job.name) {
            return Ok(TranscriptionStart::AlreadyStarted);
        }
        states.insert(job.name.to_owned(), TranscriptionState::Running);
        self.started
            .lock()
            .unwrap()
            .push(format!("{} <- {}", job.name, job.media_key));
        Ok(TranscriptionStart::Started)
    }

    async fn state(&self, name: &str) -> Result<TranscriptionState, ProviderError> {
        self.states
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| ProviderError::Refused(format!("no job {name}")))
    }
}

/// The model in memory: its replies in order, and every request it was sent.
#[derive(Default)]
struct MemModel {
    replies: Mutex<Vec<Result<ModelReply, ProviderError>>>,
    asked: Mutex<Vec<Request>>,
}

impl InsightsModel for MemModel {
    async fn ask(&self, request: &Request) -> Result<ModelReply, ProviderError> {
        self.asked.lock().unwrap().push(request.clone());
        let mut replies = self.replies.lock().unwrap();
        if replies.is_empty() {
            return Err(ProviderError::Refused(
                "the test gave the model nothing more to say".into(),
            ));
        }
        replies.remove(0)
    }
}

type Subject = TranscribeInsights<MemTranscriber, MemModel, MemObjects>;

fn provider() -> Subject {
    TranscribeInsights {
        transcriber: MemTranscriber::default(),
        model: MemModel::default(),
        objects: MemObjects::default(),
        settings: Settings {
            stack: "zs".into(),
            language: Language::Code("en-US".into()),
            vocabulary: None,
            redact_pii: false,
            max_input_tokens: 20_000,
        },
    }
}

fn track(index: u16, name: &str, spoke: bool) -> SpeechTrack {
    let prefix = samples::meeting_key().s3_prefix();
    SpeechTrack {
        index,
        name: name.into(),
        map_key: format!("{prefix}speech/{index}.json"),
        flac_key: spoke.then(|| format!("{prefix}speech/{index}.flac")),
        talk_seconds: if spoke { 4.0 } else { 0.0 },
    }
}

/// Dana and Lei spoke, Sam did not.
fn audio() -> ProducedAudio {
    let mut audio = AudioBuilder::sample()
        .speakers(&["Dana", "Sam", "Lei"])
        .timezone(Some("America/Los_Angeles"))
        .build();
    audio.speech = vec![track(0, "Dana", true), track(1, "Sam", false), track(2, "Lei", true)];
    audio
}

fn request<'a>(key: &'a MeetingKey, audio: &'a ProducedAudio) -> InsightsRequest<'a> {
    InsightsRequest {
        meeting_key: key,
        audio,
        audio_url: "",
        callback_url: "",
        language: "en-US",
    }
}

fn transcript_json(words: &[(f64, f64, &str)]) -> Vec<u8> {
    let items: Vec<_> = words
        .iter()
        .map(|(s, e, w)| {
            json!({"type": "pronunciation", "start_time": s.to_string(), "end_time": e.to_string(),
                   "alternatives": [{"confidence": "0.99", "content": w}]})
        })
        .collect();
    serde_json::to_vec(&json!({"results": {"transcripts": [], "items": items}})).unwrap()
}

fn put(p: &Subject, key: &str, bytes: Vec<u8>) {
    p.objects.objects.lock().unwrap().insert(
        ("out".into(), key.into()),
        crate::testkit::StoredObject {
            content_type: "application/json".into(),
            bytes,
        },
    );
}

/// Both jobs ended (Lei's as `lei`), with their transcripts and the maps: Dana spoke at 10 s
/// and 40 s of the meeting, Lei at 12 s, over Dana.
fn finished(p: &Subject, job: &ProviderJob, lei: TranscriptionState) {
    let key = samples::meeting_key();
    let mut states = p.transcriber.states.lock().unwrap();
    states.insert(
        jobs::name_in(&job.job_id, JobSubject::Participant(0)),
        TranscriptionState::Completed,
    );
    states.insert(jobs::name_in(&job.job_id, JobSubject::Participant(2)), lei);
    drop(states);
    let dana = SegmentMap::new(
        0,
        "Dana",
        vec![
            Segment {
                speech_start: 0.0,
                meeting_start: 10.0,
                duration: 2.0,
            },
            Segment {
                speech_start: 2.0,
                meeting_start: 40.0,
                duration: 2.0,
            },
        ],
    )
    .unwrap();
    let lei_map = SegmentMap::new(
        2,
        "Lei",
        vec![Segment {
            speech_start: 0.0,
            meeting_start: 12.0,
            duration: 4.0,
        }],
    )
    .unwrap();
    put(p, &track(0, "Dana", true).map_key, serde_json::to_vec(&dana).unwrap());
    put(p, &track(2, "Lei", true).map_key, serde_json::to_vec(&lei_map).unwrap());
    put(
        p,
        &jobs::output_key(&key, 1, JobSubject::Participant(0)),
        transcript_json(&[(0.2, 0.6, "Hello"), (0.6, 1.0, "all"), (2.1, 2.5, "Bye")]),
    );
    put(
        p,
        &jobs::output_key(&key, 1, JobSubject::Participant(2)),
        transcript_json(&[(0.5, 0.9, "Sorry"), (1.0, 1.4, "late")]),
    );
}

fn valid_reply(assignee: &str) -> ModelReply {
    ModelReply::Tool(to_tool_input(&Insights {
        summary: vec!["They met.".into()],
        action_items: vec![Action {
            text: "Send the notes".into(),
            assignee: Some(assignee.into()),
            due_by: Some("2024-06-07".into()),
            from: None,
        }],
        ..Insights::default()
    }))
}

#[tokio::test]
async fn one_job_per_speaking_participant_and_a_repeat_starts_nothing() {
    let p = provider();
    let (key, audio) = (samples::meeting_key(), audio());
    let job = p.submit(&request(&key, &audio)).await.unwrap();
    assert_eq!(job.job_id, jobs::run_job_id("zs", &key, 1));
    assert_eq!(job.conversation_id, "p0,p2", "Sam never spoke");
    let started = p.transcriber.started.lock().unwrap().clone();
    assert_eq!(started.len(), 2);
    assert!(
        started[0].contains("-r1-p0 <- ") && started[0].ends_with("speech/0.flac"),
        "{started:?}"
    );
    assert!(
        started[1].contains("-r1-p2 <- ") && started[1].ends_with("speech/2.flac"),
        "{started:?}"
    );
    let again = p.submit(&request(&key, &audio)).await.unwrap();
    assert_eq!(again, job, "the same job, by name");
    assert_eq!(p.transcriber.started.lock().unwrap().len(), 2, "nothing started twice");
    assert_eq!(
        p.slot_holders(key.as_str(), &audio),
        [format!("{key}#p0"), format!("{key}#p2")],
        "a slot per Transcribe job"
    );
}

#[tokio::test]
async fn nobody_speaking_is_refused_and_capacity_waits() {
    let p = provider();
    let key = samples::meeting_key();
    let mut silent = audio();
    silent.speech = vec![track(0, "Dana", false)];
    let err = p.submit(&request(&key, &silent)).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Refused(r) if r.contains("nobody spoke")),
        "{err}"
    );
    *p.transcriber.at_capacity.lock().unwrap() = true;
    let err = p.submit(&request(&key, &audio())).await.unwrap_err();
    assert!(matches!(err, ProviderError::AtCapacity(_)), "{err}");
}

#[tokio::test]
async fn a_mixed_track_is_one_labelled_job_on_the_mixdown() {
    let p = provider();
    let key = samples::meeting_key();
    let mixed = AudioBuilder::sample().mode(AudioMode::MixedDiarization).build();
    let job = p.submit(&request(&key, &mixed)).await.unwrap();
    assert_eq!(job.conversation_id, "mixed");
    let started = p.transcriber.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert!(started[0].ends_with("mixdown.mp3"), "{started:?}");
}

#[tokio::test]
async fn the_meeting_is_transcribed_once_every_job_ended_and_anyone_was_heard() {
    let p = provider();
    let (key, audio) = (samples::meeting_key(), audio());
    let job = p.submit(&request(&key, &audio)).await.unwrap();
    let at = JobRef {
        job_id: &job.job_id,
        conversation_id: &job.conversation_id,
        meeting_key: key.as_str(),
    };
    assert_eq!(p.job_state(at).await.unwrap(), JobState::InProgress);
    let name = |k| jobs::name_in(&job.job_id, JobSubject::Participant(k));
    p.transcriber
        .states
        .lock()
        .unwrap()
        .insert(name(0), TranscriptionState::Completed);
    assert_eq!(p.job_state(at).await.unwrap(), JobState::InProgress, "Lei's still runs");
    let failed = TranscriptionState::Failed {
        reason: "unsupported".into(),
    };
    p.transcriber.states.lock().unwrap().insert(name(2), failed.clone());
    assert_eq!(p.job_state(at).await.unwrap(), JobState::Completed);
    p.transcriber.states.lock().unwrap().insert(name(0), failed);
    assert_eq!(
        p.job_state(at).await.unwrap(),
        JobState::Failed,
        "nobody was transcribed"
    );
}

#[tokio::test]
async fn words_go_back_to_meeting_time_merged_stored_and_summarized() {
    let p = provider();
    let (key, audio) = (samples::meeting_key(), audio());
    let job = p.submit(&request(&key, &audio)).await.unwrap();
    finished(&p, &job, TranscriptionState::Completed);
    p.model.replies.lock().unwrap().push(Ok(valid_reply("Lei")));
    let at = JobRef {
        job_id: &job.job_id,
        conversation_id: &job.conversation_id,
        meeting_key: key.as_str(),
    };
    let report = p.insights(at, &audio).await.unwrap();
    assert_eq!(report.insights.action_items[0].assignee.as_deref(), Some("Lei"));
    assert!(report.insights.missing.is_empty() && report.insights.left_out.is_empty());
    let names: Vec<&str> = report.documents.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["summary", "topics", "questions", "action-items", "follow-ups"]);

    let transcript = report.transcript.expect("the merged transcript");
    let said: Vec<(&str, f64, &str)> = transcript
        .utterances
        .iter()
        .map(|u| (u.speaker.as_str(), u.start, u.text.as_str()))
        .collect();
    // Lei's apology overlaps Dana's greeting, as it happened.
    assert_eq!(
        said,
        [
            ("Dana", 10.2, "Hello all"),
            ("Lei", 12.5, "Sorry late"),
            ("Dana", 40.1, "Bye")
        ]
    );

    let asked = p.model.asked.lock().unwrap();
    assert_eq!(asked.len(), 1);
    let prompt = &asked[0].messages[0].text;
    for needle in ["Dana", "Lei", "Sam", "Hello all", "2024-05-31"] {
        assert!(prompt.contains(needle), "{needle} not in the prompt: {prompt}");
    }
}

#[tokio::test]
async fn a_failed_job_leaves_its_participant_out_with_the_reason() {
    let p = provider();
    let (key, audio) = (samples::meeting_key(), audio());
    let job = p.submit(&request(&key, &audio)).await.unwrap();
    finished(
        &p,
        &job,
        TranscriptionState::Failed {
            reason: "The media format is not supported".into(),
        },
    );
    p.model.replies.lock().unwrap().push(Ok(valid_reply("Dana")));
    let at = JobRef {
        job_id: &job.job_id,
        conversation_id: &job.conversation_id,
        meeting_key: key.as_str(),
    };
    let report = p.insights(at, &audio).await.unwrap();
    assert_eq!(report.insights.left_out, ["Lei (The media format is not supported)"]);
    let transcript = report.transcript.expect("the merged transcript");
    assert!(transcript.utterances.iter().all(|u| u.speaker == "Dana"));
}

#[tokio::test]
async fn an_invalid_answer_is_asked_again_once_then_the_meeting_fails_and_throttling_waits() {
    let p = provider();
    let (key, audio) = (samples::meeting_key(), audio());
    let job = p.submit(&request(&key, &audio)).await.unwrap();
    finished(&p, &job, TranscriptionState::Completed);
    let at = JobRef {
        job_id: &job.job_id,
        conversation_id: &job.conversation_id,
        meeting_key: key.as_str(),
    };
    // Not a participant, then valid: asked twice, the second answer kept.
    p.model
        .replies
        .lock()
        .unwrap()
        .extend([Ok(valid_reply("Mallory")), Ok(valid_reply("Dana"))]);
    let report = p.insights(at, &audio).await.unwrap();
    assert_eq!(report.insights.action_items[0].assignee.as_deref(), Some("Dana"));
    assert_eq!(p.model.asked.lock().unwrap().len(), 2);

    p.model
        .replies
        .lock()
        .unwrap()
        .extend([Ok(valid_reply("Mallory")), Ok(ModelReply::Text("no".into()))]);
    let err = p.insights(at, &audio).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Refused(r) if r.contains("invalid twice")),
        "{err}"
    );

    p.model
        .replies
        .lock()
        .unwrap()
        .push(Err(ProviderError::AtCapacity("ThrottlingException".into())));
    let err = p.insights(at, &audio).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::AtCapacity(_)),
        "throttling is later, not failed: {err}"
    );
}

#[test]
fn the_meeting_date_is_where_it_was_held() {
    let mut audio = audio();
    audio.start_time = "2024-06-01T02:30:00Z".into();
    let facts = facts(&audio, &Transcript::default());
    assert_eq!(facts.date.to_string(), "2024-05-31", "still the 31st in Los Angeles");
    assert_eq!(facts.participants, ["Dana", "Sam", "Lei"]);
    assert_eq!(facts.timezone, "America/Los_Angeles");
}

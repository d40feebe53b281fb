//! The producer on the local stack, fed by the Zoom sandbox through the deployed webhook:
//! real downloads, real ffmpeg, real S3/DynamoDB/SQS.

use std::time::Duration;

use e2e::audio::{energy, ffprobe, Energy};
use e2e::{attr_s, audio_of, deliver, record, sandbox, submissions_of, symbl, Stack};
use serde_json::Value;
use zoom_sandbox::{Fault, GeneratedMeeting, MeetingSpec};

const PRODUCED: Duration = Duration::from_secs(240);

/// Delivers the meeting and waits for the producer to queue it.
async fn produce(stack: &Stack, meeting: &GeneratedMeeting, token: &str) -> Value {
    symbl(); // the consumer downstream submits what the producer queues
    let event = sandbox().recording_completed(meeting, token);
    let (status, reply) = deliver(stack, &event).await;
    assert_eq!(status, 200, "{reply}");
    match stack.produced(&meeting.spec.uuid, PRODUCED).await {
        Ok(item) => audio_of(&item),
        Err(e) => panic!("{e:#}; record: {:?}", stack.meeting(&meeting.spec.uuid).await),
    }
}

/// The meeting reached Symbl exactly once (the consumer downstream of the one queued message).
async fn submitted_once(stack: &Stack, uuid: &str) {
    stack
        .meeting_in(uuid, &["submitted", "transcribed"], PRODUCED)
        .await
        .unwrap();
    assert_eq!(submissions_of(uuid).len(), 1);
}

/// Speech intervals in merged-file time (the file starts at the earliest join).
fn speech_in_file(spec: &MeetingSpec, participant: usize) -> Vec<(f64, f64)> {
    let origin = spec
        .participants
        .iter()
        .map(|p| p.join_secs)
        .fold(f64::INFINITY, f64::min);
    spec.participants[participant]
        .speech
        .iter()
        .map(|(a, b)| (a - origin, b - origin))
        .collect()
}

/// Participant `p`'s speech is loud on `channel` (0-based) and silent on every other channel;
/// `channel` is silent whenever `p` is not speaking. 100 ms of tolerance at every edge.
fn assert_speech_on_channel(e: &Energy, spec: &MeetingSpec, p: usize, channel: usize) {
    const LOUD: f64 = 0.1; // a 0.5-amplitude tone has an RMS of 0.35
    const QUIET: f64 = 0.01;
    let speech = speech_in_file(spec, p);
    assert!(!speech.is_empty());
    for &(a, b) in &speech {
        let windows = e.windows_within(a, b, 0.1);
        assert!(!windows.is_empty(), "speech {a}..{b} too short to check");
        for w in windows {
            for (c, ch) in e.rms.iter().enumerate() {
                if c == channel {
                    assert!(
                        ch[w] > LOUD,
                        "{}: silent on its channel {} at {:.2}s (rms {:.4})",
                        spec.participants[p].name,
                        c + 1,
                        w as f64 * e.window_secs,
                        ch[w]
                    );
                } else {
                    assert!(
                        ch[w] < QUIET,
                        "{}'s speech leaks into channel {} at {:.2}s (rms {:.4})",
                        spec.participants[p].name,
                        c + 1,
                        w as f64 * e.window_secs,
                        ch[w]
                    );
                }
            }
        }
    }
    for (w, rms) in e.rms[channel].iter().enumerate() {
        let (t0, t1) = (w as f64 * e.window_secs, (w + 1) as f64 * e.window_secs);
        if !Energy::near(&speech, t0, t1, 0.1) {
            assert!(
                *rms < QUIET,
                "channel {} is not silent at {t0:.2}s outside {}'s speech (rms {rms:.4})",
                channel + 1,
                spec.participants[p].name
            );
        }
    }
}

async fn merged_wav(stack: &Stack, audio: &Value) -> (Vec<u8>, tempfile_path::TempPath) {
    let bytes = stack
        .object(
            audio["merged_bucket"].as_str().unwrap(),
            audio["merged_key"].as_str().unwrap(),
        )
        .await
        .unwrap();
    let path = tempfile_path::TempPath::with(&bytes, "wav");
    (bytes, path)
}

mod tempfile_path {
    /// A file removed on drop, for ffprobe.
    pub struct TempPath(pub std::path::PathBuf);
    impl TempPath {
        pub fn with(bytes: &[u8], ext: &str) -> Self {
            let p = std::env::temp_dir().join(format!("zs-e2e-{}.{ext}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&p, bytes).expect("writing temp file");
            TempPath(p)
        }
    }
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn names_and_channels(audio: &Value) -> Vec<(String, Option<u64>)> {
    audio["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["channel"].as_u64()))
        .collect()
}

#[tokio::test]
async fn three_staggered_participants_each_on_their_own_channel_for_the_whole_meeting() {
    let stack = Stack::load();
    let meeting = record(MeetingSpec::staggered(3, 60.0)).await;
    let spec = &meeting.spec;
    let audio = produce(&stack, &meeting, &sandbox().default_download_token()).await;

    assert_eq!(audio["mode"], "multichannel");
    assert_eq!(
        names_and_channels(&audio),
        [
            ("Dana Host".into(), Some(1)),
            ("Mary-Jane O'Neil".into(), Some(2)),
            ("李雷".into(), Some(3))
        ]
    );
    // Originals archived byte for byte.
    for (p, track) in audio["participants"].as_array().unwrap().iter().zip(&meeting.tracks) {
        let original = stack
            .object(stack.output("InputBucketName"), p["original_key"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(original, std::fs::read(&track.path).unwrap(), "{}", p["name"]);
    }

    let (wav, path) = merged_wav(&stack, &audio).await;
    let probe = ffprobe(&path.0).unwrap();
    let origin = spec
        .participants
        .iter()
        .map(|p| p.join_secs)
        .fold(f64::INFINITY, f64::min);
    let end = spec.participants.iter().map(|p| p.leave_secs).fold(0.0, f64::max);
    assert_eq!(
        (probe.codec.as_str(), probe.channels, probe.sample_rate),
        ("pcm_s16le", 3, 16_000)
    );
    assert!(
        (probe.duration_secs - (end - origin)).abs() < 0.05,
        "lasts {} s, meeting {} s",
        probe.duration_secs,
        end - origin
    );
    assert!(
        !probe.channel_layout.contains("LFE") && probe.channel_layout != "2.1",
        "layout {}",
        probe.channel_layout
    );

    let e = energy(&wav, 0.05).unwrap();
    for p in 0..3 {
        assert_speech_on_channel(&e, spec, p, p);
    }
    // The participant who left early is silent to the end, and the file still runs to the end.
    assert!(spec.participants[2].leave_secs < end);

    let mix = stack
        .object(stack.output("OutputBucketName"), audio["mixdown_key"].as_str().unwrap())
        .await
        .unwrap();
    let mix_path = tempfile_path::TempPath::with(&mix, "mp3");
    let mix_probe = ffprobe(&mix_path.0).unwrap();
    assert_eq!((mix_probe.codec.as_str(), mix_probe.channels), ("mp3", 1));
    assert!(
        (mix_probe.duration_secs - (end - origin)).abs() < 0.2,
        "mixdown lasts {}",
        mix_probe.duration_secs
    );
    submitted_once(&stack, &spec.uuid).await;
}

#[tokio::test]
async fn a_failed_download_is_recorded_and_the_others_keep_their_labels() {
    let stack = Stack::load();
    let meeting = record(MeetingSpec::staggered(3, 24.0)).await;
    sandbox().set_fault(
        &meeting.tracks[1].file_id,
        Fault {
            fail_5xx_times: 1_000,
            ..Fault::default()
        },
    );
    let audio = produce(&stack, &meeting, &sandbox().default_download_token()).await;
    assert_eq!(
        names_and_channels(&audio),
        [
            ("Dana Host".into(), Some(1)),
            ("Mary-Jane O'Neil".into(), None),
            ("李雷".into(), Some(2))
        ]
    );
    assert_eq!(audio["participants"][1]["failure"], "HTTP 503");
    let (wav, path) = merged_wav(&stack, &audio).await;
    assert_eq!(ffprobe(&path.0).unwrap().channels, 2);
    let e = energy(&wav, 0.05).unwrap();
    assert_speech_on_channel(&e, &meeting.spec, 0, 0);
    assert_speech_on_channel(&e, &meeting.spec, 2, 1);
}

#[tokio::test]
async fn html_with_200_is_a_failed_download_not_audio() {
    let stack = Stack::load();
    let meeting = record(MeetingSpec::staggered(2, 16.0)).await;
    sandbox().set_fault(
        &meeting.tracks[0].file_id,
        Fault {
            html_200: true,
            ..Fault::default()
        },
    );
    let audio = produce(&stack, &meeting, &sandbox().default_download_token()).await;
    assert_eq!(audio["mode"], "single_participant");
    assert_eq!(
        audio["participants"][0]["failure"],
        "not audio: an HTML page instead of audio"
    );
    assert_eq!(audio["participants"][1]["channel"], 1);
}

#[tokio::test]
async fn an_expired_token_is_reminted_with_server_to_server_oauth() {
    let stack = Stack::load();
    let meeting = record(MeetingSpec::staggered(2, 16.0)).await;
    let expired = sandbox().issue_download_token(-3600);
    let audio = produce(&stack, &meeting, &expired).await;
    assert_eq!(audio["channels"], 2);
    let requests = sandbox().requests();
    assert!(
        requests.iter().any(|r| r.path == "/oauth/token" && r.status == 200),
        "no S2S token was minted"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/v2/meetings/") && r.status == 200),
        "recordings API not called"
    );
}

#[tokio::test]
async fn a_single_participant_is_not_merged_but_kept_mono() {
    let stack = Stack::load();
    let meeting = record(MeetingSpec::staggered(1, 12.0)).await;
    let audio = produce(&stack, &meeting, &sandbox().default_download_token()).await;
    assert_eq!(audio["mode"], "single_participant");
    let (wav, path) = merged_wav(&stack, &audio).await;
    assert_eq!(ffprobe(&path.0).unwrap().channels, 1);
    assert_speech_on_channel(&energy(&wav, 0.05).unwrap(), &meeting.spec, 0, 0);
}

#[tokio::test]
async fn without_participant_files_the_mixed_track_is_used_for_diarization() {
    let stack = Stack::load();
    let mut spec = MeetingSpec::staggered(3, 24.0);
    spec.per_participant_files = false;
    let meeting = record(spec).await;
    let audio = produce(&stack, &meeting, &sandbox().default_download_token()).await;
    assert_eq!(audio["mode"], "mixed_diarization");
    assert_eq!(audio["channels"], 1);
    let item = stack.meeting(&meeting.spec.uuid).await.unwrap();
    assert_eq!(attr_s(&item, "mode"), Some("mixed_diarization"));
    stack
        .meeting_in(&meeting.spec.uuid, &["submitted", "transcribed"], PRODUCED)
        .await
        .unwrap();
    let sub = &submissions_of(&meeting.spec.uuid)[0];
    assert_eq!(sub.body["enableSpeakerDiarization"], true);
    assert!(sub.body.get("enableSeparateRecognitionPerChannel").is_none());
}

#[tokio::test]
async fn a_duplicate_invocation_queues_the_meeting_once() {
    let stack = Stack::load();
    let meeting = record(MeetingSpec::staggered(2, 12.0)).await;
    let event = sandbox().recording_completed(&meeting, &sandbox().default_download_token());
    produce(&stack, &meeting, &sandbox().default_download_token()).await;
    // Lambda may deliver an async event twice: invoke the producer again with the same job.
    let job = serde_json::json!({
        "meeting_key": zoom_symbl_core::meeting_key::MeetingKey::from_uuid(&meeting.spec.uuid).to_string(),
        "claim_id": "replayed",
        "received_at": "2026-01-01T00:00:00Z",
        "event": event,
    });
    let out = stack
        .lambda()
        .await
        .invoke()
        .function_name(stack.output("ProducerFunctionName"))
        .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(&job).unwrap()))
        .send()
        .await
        .unwrap();
    let reply = String::from_utf8_lossy(out.payload().map(|b| b.as_ref()).unwrap_or_default()).into_owned();
    assert!(out.function_error().is_none(), "{reply}");
    assert!(reply.contains("AlreadyDone"), "{reply}");
    submitted_once(&stack, &meeting.spec.uuid).await;
}

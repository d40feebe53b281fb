//! The handler against in-memory ports: core's testkit for the stores, the queue and S3;
//! `crate::testing` for Zoom and the codecs. The archive, channel, plan, interleave and WAV
//! code is the real one.

use std::time::Duration;

use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::meeting::{AudioMode, ProducedAudio};
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{ProducerJob, ProductionStart};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::testkit::{
    samples, AudioBuilder, Faults, MeetingRow, MemMeetings, MemObjects, MemQueue, StoredObject,
};
use zoom_symbl_core::zoom::HostAllowList;

use super::*;
use crate::archive::Archiver;
use crate::testing::{Answer, MemCodecs, MemRecordings, MemTokens};
use crate::zoom_api::{S2sCredentials, ZoomApi};
use zoom_symbl_core::config::Provider;

fn settings(format: OutputFormat) -> Settings {
    Settings {
        input_bucket: "in".into(),
        output_bucket: "out".into(),
        sample_rate: RATE,
        format,
        download_concurrency: 2,
        lease_secs: 30,
        max_attempts: 3,
        presign_ttl: Duration::from_secs(60),
        limits: Limits {
            max_audio_secs: 4.0 * 3600.0,
            max_tracks: 40,
        },
        provider: Provider::Symbl,
    }
}

fn producer(
    start: ProductionStart,
    s2s: bool,
) -> Producer<MemMeetings, MemObjects, MemQueue, MemRecordings, ZoomApi, MemCodecs> {
    Producer {
        // The sample meeting, in the state on which production starts as `start`.
        store: MemMeetings::default().with(
            samples::meeting_key().as_str(),
            MeetingRow::where_production_starts(&start),
        ),
        // The paths under test must not reach storage.
        objects: MemObjects::default().forbidding(&["put_stream", "presign_get"]),
        queue: MemQueue::default(),
        archiver: Archiver::new(
            MemRecordings::default(),
            Default::default(),
            1,
            Duration::from_millis(1),
        ),
        zoom: ZoomApi {
            http: reqwest::Client::new(),
            // A closed local port: a mint attempt fails at once and reaches nothing.
            oauth_url: "https://localhost:1/oauth/token".into(),
            default_api_base: "https://localhost:1".into(),
            allowed: HostAllowList::parse("localhost"),
            credentials: s2s.then(|| S2sCredentials {
                account_id: "a".into(),
                client_id: "c".into(),
                client_secret: SecretString::new("s"),
            }),
        },
        codecs: MemCodecs::default(),
        settings: settings(OutputFormat::Wav),
    }
}

/// The sample `recording.completed` as a job; `token` replaces its download token (which expired in 2024).
fn job(token: Option<&str>) -> ProducerJob {
    let mut job = samples::producer_job();
    if let Some(t) = token {
        job.event.download_token = Some(SecretString::new(t));
    }
    job
}

#[tokio::test]
async fn expired_token_without_s2s_fails_the_meeting_with_its_reason() {
    let p = producer(ProductionStart::Produce { attempt: 1 }, false);
    // Recorded as failed, so the event ends here: no Lambda retry, no dead letter.
    assert_eq!(p.handle(job(None)).await.unwrap(), Outcome::Failed);
    let events = p.store.production_log.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert!(
        events[0].starts_with("failed: ") && events[0].contains("no Zoom Server-to-Server OAuth credentials"),
        "{events:?}"
    );
    assert!(p.queue.items.lock().unwrap().is_empty());
}

#[tokio::test]
async fn expired_token_with_s2s_tries_to_mint_and_records_why_it_could_not() {
    let p = producer(ProductionStart::Produce { attempt: 3 }, true);
    let expired = "eyJhbGciOiJIUzUxMiJ9.eyJleHAiOjEwMDB9.sig"; // exp 1000
    assert_eq!(p.handle(job(Some(expired))).await.unwrap(), Outcome::Failed);
    let log = p.store.production_log.lock().unwrap()[0].clone();
    assert!(log.starts_with("failed: ") && log.contains("zoom oauth"), "{log}");
}

#[tokio::test]
async fn a_retryable_failure_is_final_only_on_the_last_attempt() {
    let expired = "eyJhbGciOiJIUzUxMiJ9.eyJleHAiOjEwMDB9.sig";
    // The OAuth server is unreachable: retryable.
    let first = producer(ProductionStart::Produce { attempt: 1 }, true);
    let err = first.handle(job(Some(expired))).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(first.store.production_log.lock().unwrap()[0].starts_with("retrying: "));

    let last = producer(ProductionStart::Produce { attempt: 3 }, true);
    assert_eq!(last.handle(job(Some(expired))).await.unwrap(), Outcome::Failed);
    assert!(last.store.production_log.lock().unwrap()[0].starts_with("failed: "));
}

#[tokio::test]
async fn a_meeting_that_failed_for_good_is_not_produced_again() {
    let p = producer(
        ProductionStart::Failed {
            reason: "no track could be downloaded".into(),
        },
        false,
    );
    // The host was told already: a redelivered event ends quietly, not in the failure queue.
    assert_eq!(p.handle(job(Some("t"))).await.unwrap(), Outcome::Failed);
    assert!(
        p.store.production_log.lock().unwrap().is_empty(),
        "nothing recorded twice"
    );
    assert!(p.queue.items.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_lease_is_renewed_until_another_attempt_takes_it() {
    let p = producer(ProductionStart::Produce { attempt: 1 }, false);
    *p.store.renewals.lock().unwrap() = vec![Some(true), Some(true), Some(false)];
    let key = MeetingKey::from_uuid("m");
    let lost = p.hold_lease(&key, 1).await;
    assert!(lost.to_string().contains("lost the production lease"), "{lost}");
    assert!(
        p.store.renewals.lock().unwrap().is_empty(),
        "renewed three times before it was lost"
    );
}

#[tokio::test(start_paused = true)]
async fn one_failed_renewal_is_tolerated_two_in_a_row_end_the_attempt() {
    let p = producer(ProductionStart::Produce { attempt: 1 }, false);
    *p.store.renewals.lock().unwrap() = vec![None, Some(true), None, None];
    let lost = p.hold_lease(&MeetingKey::from_uuid("m"), 1).await;
    assert!(lost.is_retryable() && lost.to_string().contains("throttled"), "{lost}");
    assert!(p.store.renewals.lock().unwrap().is_empty());
}

#[tokio::test]
async fn retried_invocations_do_no_work_twice() {
    let done = producer(ProductionStart::AlreadyDone, false);
    assert_eq!(done.handle(job(Some("t"))).await.unwrap(), Outcome::AlreadyDone);
    assert!(done.queue.items.lock().unwrap().is_empty());

    let busy = producer(ProductionStart::Busy, false);
    assert_eq!(busy.handle(job(Some("t"))).await.unwrap(), Outcome::InProgressElsewhere);
    assert!(busy.queue.items.lock().unwrap().is_empty());

    // A richer delivery restarted the meeting as run 2: the run-1 event is not produced.
    let superseded = producer(ProductionStart::Superseded { run: 2 }, false);
    assert_eq!(superseded.handle(job(Some("t"))).await.unwrap(), Outcome::AlreadyDone);
    assert!(superseded.queue.items.lock().unwrap().is_empty());
    assert_eq!(
        superseded.store.row(samples::meeting_key().as_str()).unwrap().status,
        Some(MeetingState::Received),
        "the later run's record untouched"
    );

    // Produced before a crash, not yet queued: queue it, once, without producing again.
    let half = producer(ProductionStart::EnqueueOnly, false);
    assert_eq!(half.handle(job(Some("t"))).await.unwrap(), Outcome::Queued);
    assert_eq!(half.queue.items.lock().unwrap().len(), 1);
    assert_eq!(*half.store.production_log.lock().unwrap(), ["queued"]);
}

#[tokio::test]
async fn a_job_for_another_meeting_is_refused() {
    let p = producer(ProductionStart::Produce { attempt: 1 }, false);
    let mut j = job(Some("t"));
    j.meeting_key = MeetingKey::from_uuid("other").to_string();
    assert!(p.handle(j).await.is_err());
    assert!(p.store.production_log.lock().unwrap().is_empty());
}

#[test]
fn the_sample_invocation_parses() {
    let job: ProducerJob = serde_json::from_str(include_str!("../../../../events/producer-job.json")).unwrap();
    assert_eq!(
        job.meeting_key,
        MeetingKey::from_uuid(&job.event.payload.object.uuid).to_string()
    );
}

// Successful productions of the sample meeting: Dana Host from 18:00:07 to 18:42:11,
// Mary-Jane O'Neil joining at 18:03:40, 李雷 from 18:00:09 leaving at 18:30:02.

/// 10 Hz, so the sample meeting's 2524 s are 25 240 frames and every sample can be checked.
const RATE: u32 = 10;
const FRAMES: usize = 25_240;
/// Mary-Jane joins 213 s after Dana, 李雷 2 s after.
const MARY_JANE_AT: usize = 2_130;
const LI_LEI_AT: usize = 20;
/// The sample event's token is a JWT that expired; Zoom takes this one.
const EVENT_TOKEN: &str = "opaque-event-token";
const PCM_OFFSET: usize = 68; // the WAV header of a file under 4 GiB

/// The sample's participant files, in event order: (file id, download URL).
const TRACKS: [(&str, &str); 3] = [
    (
        "a1a1a1a1-0001-4c3d-8e9f-000000000001",
        "https://us02web.zoom.us/rec/webhook_download/p1-opaque",
    ),
    (
        "a1a1a1a1-0002-4c3d-8e9f-000000000002",
        "https://us02web.zoom.us/rec/webhook_download/p2-opaque",
    ),
    (
        "a1a1a1a1-0003-4c3d-8e9f-000000000003",
        "https://us02web.zoom.us/rec/webhook_download/p3-opaque",
    ),
];
const MIXED: (&str, &str) = (
    "0f3c1d2e-2222-4b6a-9c0d-bbbbbbbbbbbb",
    "https://us02web.zoom.us/rec/webhook_download/m4a-opaque",
);

/// What Zoom serves for a file: an MP4 box header, then something of its own.
fn m4a(file_id: &str) -> Vec<u8> {
    let mut bytes = b"\0\0\0\x20ftypM4A \0\0\0\0".to_vec();
    bytes.extend_from_slice(file_id.as_bytes());
    bytes
}

/// The sample job with a token Zoom takes and file sizes that match what it serves.
fn zoom_job() -> ProducerJob {
    let mut job = job(Some(EVENT_TOKEN));
    let object = &mut job.event.payload.object;
    for f in object.participant_audio_files.iter_mut().flatten() {
        f.file_size = m4a(&f.id).len() as u64;
    }
    for f in &mut object.recording_files {
        f.file_size = m4a(f.id.as_deref().unwrap_or_default()).len() as u64;
    }
    job
}

/// Zoom serving every file of the sample once it is asked with `token`.
fn zoom(token: &str) -> MemRecordings {
    TRACKS
        .iter()
        .chain([&MIXED])
        .fold(MemRecordings::default().accepting(token), |z, (id, url)| {
            z.serving(url, vec![Answer::audio(&m4a(id))])
        })
}

/// Decoders for the sample: Dana speaks (100) through the whole meeting, Mary-Jane (200) and
/// 李雷 (300) for half a second from when they join, then their decoders end.
fn codecs() -> MemCodecs {
    MemCodecs::default()
        .decoding(TRACKS[0].0, vec![100; FRAMES])
        .decoding(TRACKS[1].0, vec![200; 5])
        .decoding(TRACKS[2].0, vec![300; 5])
        .decoding(MIXED.0, vec![50; 5])
}

fn making<Z: DownloadTokens>(
    recordings: MemRecordings,
    tokens: Z,
    codecs: MemCodecs,
    format: OutputFormat,
) -> Producer<MemMeetings, MemObjects, MemQueue, MemRecordings, Z, MemCodecs> {
    let start = ProductionStart::Produce { attempt: 1 };
    Producer {
        store: MemMeetings::default().with(
            samples::meeting_key().as_str(),
            MeetingRow::where_production_starts(&start),
        ),
        objects: MemObjects::default(),
        queue: MemQueue::default(),
        archiver: Archiver::new(recordings, HostAllowList::default(), 2, Duration::from_millis(1)),
        zoom: tokens,
        codecs,
        settings: settings(format),
    }
}

fn prefix() -> String {
    samples::meeting_key().s3_prefix()
}

fn original_key(n: usize, file_id: &str) -> String {
    format!("{}originals/{n:02}-{file_id}.m4a", prefix())
}

/// The sample as the producer makes it here: originals of the sizes served, at 10 Hz.
fn expected_audio(builder: AudioBuilder, merged_bytes: u64) -> ProducedAudio {
    let mut audio = builder.build();
    for p in &mut audio.participants {
        if p.failure.is_some() {
            (p.original_key, p.bytes) = (None, None);
        } else {
            p.bytes = Some(m4a(&p.file_id).len() as u64);
        }
    }
    audio.sample_rate = RATE;
    audio.merged_bytes = merged_bytes;
    audio
}

fn object(
    p: &Producer<MemMeetings, MemObjects, MemQueue, MemRecordings, impl Sized, MemCodecs>,
    bucket: &str,
    key: &str,
) -> StoredObject {
    p.objects
        .object(bucket, key)
        .unwrap_or_else(|| panic!("no object {bucket}/{key}"))
}

fn samples_of(pcm: &[u8]) -> Vec<i16> {
    pcm.chunks_exact(2).map(|s| i16::from_le_bytes([s[0], s[1]])).collect()
}

/// Channel k of interleaved s16le.
fn channel(pcm: &[u8], channels: usize, k: usize) -> Vec<i16> {
    samples_of(pcm).into_iter().skip(k).step_by(channels).collect()
}

/// A meeting-long channel: silence, then `value` for `len` samples from `at`.
fn speech(at: usize, value: i16, len: usize) -> Vec<i16> {
    let mut s = vec![0; FRAMES];
    s[at..at + len].fill(value);
    s
}

/// The saved record, the work item and the log of outcome writes.
fn assert_recorded_and_queued(store: &MemMeetings, queue: &MemQueue, audio: &ProducedAudio) {
    let row = store.row(samples::meeting_key().as_str()).unwrap();
    assert_eq!(row.status, Some(MeetingState::Queued));
    assert_eq!(row.audio.as_ref(), Some(audio));
    assert_eq!(*store.production_log.lock().unwrap(), ["produced", "queued"]);
    let items = queue.items.lock().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].meeting_key, samples::meeting_key().to_string());
}

#[tokio::test]
async fn a_meeting_is_archived_merged_recorded_and_queued() {
    let p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs(), OutputFormat::Wav);
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Queued);

    // Every participant's track, fetched once with the event's token, archived byte for byte.
    for (n, (id, url)) in TRACKS.iter().enumerate() {
        assert_eq!(p.archiver.downloads.requests_for(url), [EVENT_TOKEN]);
        let original = object(&p, "in", &original_key(n + 1, id));
        assert_eq!((original.content_type.as_str(), original.bytes), ("audio/mp4", m4a(id)));
    }
    assert!(
        p.archiver.downloads.requests_for(MIXED.1).is_empty(),
        "the mixed file is not needed"
    );

    // Channel k decodes participant k's original, read through a presigned URL.
    let originals: Vec<String> = (1..=3).map(|n| original_key(n, TRACKS[n - 1].0)).collect();
    // Each is presigned for its probe, then for its decoder.
    let presigned: Vec<String> = originals.iter().map(|k| format!("in/{k}")).collect();
    assert_eq!(
        *p.objects.presigned.lock().unwrap(),
        [presigned.clone(), presigned].concat()
    );
    assert_eq!(p.codecs.probed.lock().unwrap().len(), 3);
    let decoded = p.codecs.decoded.lock().unwrap().clone();
    assert_eq!(decoded.len(), 3);
    for (source, key) in decoded.iter().zip(&originals) {
        assert!(source.contains(&format!("in.s3.testkit.invalid/{key}?")), "{source}");
    }
    assert_eq!(
        *p.codecs.encoders.lock().unwrap(),
        ["mp3 10 Hz"],
        "WAV needs no encoder"
    );
    // Dana's decoder still had output at the meeting's end; the others ended and were checked.
    assert_eq!(
        *p.codecs.ended.lock().unwrap(),
        [
            format!("stopped decoder {}", TRACKS[0].0),
            format!("finished decoder {}", TRACKS[1].0),
            format!("finished decoder {}", TRACKS[2].0),
            "finished mp3 encoder".into(),
        ]
    );

    // The merged WAV: three channels, each participant delayed to their join, the meeting long.
    let merged = object(&p, "out", &format!("{}merged.wav", prefix()));
    assert_eq!(merged.content_type, "audio/wav");
    assert_eq!(merged.bytes.len(), PCM_OFFSET + FRAMES * 3 * 2);
    assert_eq!(&merged.bytes[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([merged.bytes[22], merged.bytes[23]]), 3);
    assert_eq!(u32::from_le_bytes(merged.bytes[24..28].try_into().unwrap()), RATE);
    let pcm = &merged.bytes[PCM_OFFSET..];
    assert_eq!(channel(pcm, 3, 0), vec![100; FRAMES]);
    assert_eq!(channel(pcm, 3, 1), speech(MARY_JANE_AT, 200, 5));
    assert_eq!(channel(pcm, 3, 2), speech(LI_LEI_AT, 300, 5));
    // The mixdown is the mono sum (through the MP3 encoder, here a pass-through).
    let mixdown = object(&p, "out", &format!("{}mixdown.mp3", prefix()));
    assert_eq!(mixdown.content_type, "audio/mpeg");
    let mut mix = vec![100; FRAMES];
    mix[LI_LEI_AT..LI_LEI_AT + 5].fill(400);
    mix[MARY_JANE_AT..MARY_JANE_AT + 5].fill(300);
    assert_eq!(samples_of(&mixdown.bytes), mix);

    let audio = expected_audio(AudioBuilder::sample(), merged.bytes.len() as u64);
    assert_recorded_and_queued(&p.store, &p.queue, &audio);
}

#[tokio::test]
async fn a_failed_track_is_left_out_with_its_reason_and_the_others_keep_their_labels() {
    let zoom = zoom(EVENT_TOKEN).serving(TRACKS[1].1, vec![Answer::Fails(FetchError::Status(503))]);
    let p = making(zoom, MemTokens::default(), codecs(), OutputFormat::Wav);
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Queued);

    // A 503 may pass: asked again (two attempts here), then given up on.
    assert_eq!(p.archiver.downloads.requests_for(TRACKS[1].1).len(), 2);
    assert!(p.objects.object("in", &original_key(2, TRACKS[1].0)).is_none());
    let decoded = p.codecs.decoded.lock().unwrap().clone();
    assert!(
        decoded[0].contains(TRACKS[0].0) && decoded[1].contains(TRACKS[2].0),
        "{decoded:?}"
    );
    assert_eq!(decoded.len(), 2);

    // 李雷 is channel 2, still 2 s in: the failed track keeps its place in the timeline.
    let merged = object(&p, "out", &format!("{}merged.wav", prefix()));
    assert_eq!(u16::from_le_bytes([merged.bytes[22], merged.bytes[23]]), 2);
    let pcm = &merged.bytes[PCM_OFFSET..];
    assert_eq!(pcm.len(), FRAMES * 2 * 2);
    assert_eq!(channel(pcm, 2, 0), vec![100; FRAMES]);
    assert_eq!(channel(pcm, 2, 1), speech(LI_LEI_AT, 300, 5));

    let audio = expected_audio(
        AudioBuilder::sample().channels(&[Some(1), None, Some(2)]),
        merged.bytes.len() as u64,
    );
    assert_eq!(audio.participants[1].failure.as_deref(), Some("HTTP 503"));
    assert_eq!(audio.channels, 2);
    assert_recorded_and_queued(&p.store, &p.queue, &audio);
}

#[tokio::test]
async fn what_may_pass_is_fetched_again_and_what_cannot_is_not() {
    let zoom = zoom(EVENT_TOKEN)
        // Throttled once, then served.
        .serving(
            TRACKS[0].1,
            vec![Answer::Fails(FetchError::Status(429)), Answer::audio(&m4a(TRACKS[0].0))],
        )
        // An HTML page with 200 will not turn into audio.
        .serving(
            TRACKS[1].1,
            vec![Answer::Serves {
                content_type: "text/html; charset=utf-8",
                body: b"<html>sign in</html>".to_vec(),
            }],
        )
        // Shorter than the event says, twice: retried, then left out.
        .serving(TRACKS[2].1, vec![Answer::audio(&m4a(TRACKS[2].0)[..10])]);
    let p = making(zoom, MemTokens::default(), codecs(), OutputFormat::Wav);
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Queued);

    let requests: Vec<usize> = TRACKS
        .iter()
        .map(|(_, url)| p.archiver.downloads.requests_for(url).len())
        .collect();
    assert_eq!(requests, [2, 1, 2]);
    let audio = p.store.row(samples::meeting_key().as_str()).unwrap().audio.unwrap();
    let got: Vec<_> = audio
        .participants
        .iter()
        .map(|p| (p.channel, p.failure.clone()))
        .collect();
    let full = m4a(TRACKS[2].0).len();
    assert_eq!(
        got,
        [
            (Some(1), None),
            (None, Some("not audio: an HTML page instead of audio".into())),
            (None, Some(format!("truncated: 10 of {full} bytes"))),
        ]
    );
    assert_eq!((audio.mode, audio.channels), (AudioMode::SingleParticipant, 1));
}

#[tokio::test]
async fn a_refused_token_is_reminted_and_only_the_refused_tracks_fetched_again() {
    // Zoom takes only a fresh token; the event's opaque one is refused (401).
    let p = making(zoom("fresh"), MemTokens::minting("fresh"), codecs(), OutputFormat::Wav);
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Queued);

    assert_eq!(*p.zoom.minted.lock().unwrap(), [samples::meeting().uuid]);
    for (n, (id, url)) in TRACKS.iter().enumerate() {
        assert_eq!(p.archiver.downloads.requests_for(url), [EVENT_TOKEN, "fresh"]);
        assert_eq!(object(&p, "in", &original_key(n + 1, id)).bytes, m4a(id));
    }
    let audio = p.store.row(samples::meeting_key().as_str()).unwrap().audio.unwrap();
    assert_eq!(audio.channels, 3);
    assert!(audio.participants.iter().all(|p| p.failure.is_none()));
}

#[tokio::test]
async fn a_refused_token_that_cannot_be_reminted_fails_the_meeting_for_good() {
    let p = making(zoom("fresh"), MemTokens::default(), codecs(), OutputFormat::Wav);
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Failed);
    assert!(p.zoom.minted.lock().unwrap().is_empty());
    let log = p.store.production_log.lock().unwrap().clone();
    assert_eq!(
        log,
        [format!(
            "failed: zoom download: no track could be downloaded (Dana Host: {r}; Mary-Jane O'Neil: {r}; 李雷: {r})",
            r = "download token rejected or expired (HTTP 401)"
        )]
    );
    assert!(p.codecs.decoded.lock().unwrap().is_empty(), "nothing to merge");
    assert!(p.queue.items.lock().unwrap().is_empty());
}

#[tokio::test]
async fn flac_is_written_by_the_encoder_and_recorded_as_flac() {
    let p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs(), OutputFormat::Flac);
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Queued);

    assert_eq!(
        *p.codecs.encoders.lock().unwrap(),
        ["mp3 10 Hz", "flac 3 channels 10 Hz"]
    );
    assert_eq!(
        p.codecs.ended.lock().unwrap().last().map(String::as_str),
        Some("finished flac encoder")
    );
    // The encoder (a pass-through here) gets the interleaved samples, without a WAV header.
    let merged = object(&p, "out", &format!("{}merged.flac", prefix()));
    assert_eq!(merged.content_type, "audio/flac");
    assert_eq!(merged.bytes.len(), FRAMES * 3 * 2);
    assert_eq!(channel(&merged.bytes, 3, 1), speech(MARY_JANE_AT, 200, 5));

    let mut audio = expected_audio(AudioBuilder::sample(), merged.bytes.len() as u64);
    audio.merged_key = format!("{}merged.flac", prefix());
    audio.merged_format = "flac".into();
    assert_recorded_and_queued(&p.store, &p.queue, &audio);
}

#[tokio::test]
async fn one_participant_is_kept_alone_and_without_participant_files_the_mixed_track_is_used() {
    // Only 李雷's file is complete: their track alone, from their own start.
    let mut single = zoom_job();
    let files = single.event.payload.object.participant_audio_files.as_mut().unwrap();
    files[0].status = "processing".into();
    files[1].status = "processing".into();
    let p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs(), OutputFormat::Wav);
    assert_eq!(p.handle(single).await.unwrap(), Outcome::Queued);
    let audio = p.store.row(samples::meeting_key().as_str()).unwrap().audio.unwrap();
    assert_eq!(
        (audio.mode, audio.channels, audio.duration_secs),
        (AudioMode::SingleParticipant, 1, 1793.0)
    );
    assert_eq!(audio.participants.len(), 1);
    assert_eq!(
        (audio.participants[0].name.as_str(), audio.participants[0].channel),
        ("李雷", Some(1))
    );
    assert_eq!(audio.participants[0].original_key, Some(original_key(3, TRACKS[2].0)));
    let merged = object(&p, "out", &audio.merged_key);
    assert_eq!(
        samples_of(&merged.bytes[PCM_OFFSET..])[..6],
        [300, 300, 300, 300, 300, 0]
    );

    // No participant files: the mixed recording, on no one's channel, for diarization.
    let mut mixed = zoom_job();
    mixed.event.payload.object.participant_audio_files = None;
    let p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs(), OutputFormat::Wav);
    assert_eq!(p.handle(mixed).await.unwrap(), Outcome::Queued);
    assert_eq!(p.archiver.downloads.requests_for(MIXED.1), [EVENT_TOKEN]);
    let audio = p.store.row(samples::meeting_key().as_str()).unwrap().audio.unwrap();
    assert_eq!((audio.mode, audio.channels), (AudioMode::MixedDiarization, 1));
    let only = &audio.participants[0];
    assert_eq!((only.name.as_str(), only.channel), ("All participants (mixed)", None));
    // The audio_only file is the event's second recording file.
    assert_eq!(only.original_key, Some(original_key(2, MIXED.0)));
    assert_eq!(p.queue.items.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_decoder_that_ended_badly_fails_the_attempt_for_a_retry() {
    let codecs = codecs().failing(TRACKS[2].0);
    let p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs, OutputFormat::Wav);
    let err = p.handle(zoom_job()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        *p.store.production_log.lock().unwrap(),
        [format!(
            "retrying: ffmpeg: decoder {} exited with exit status: 1",
            TRACKS[2].0
        )]
    );
    let row = p.store.row(samples::meeting_key().as_str()).unwrap();
    assert_eq!((row.status, row.audio), (Some(MeetingState::Retrying), None));
    assert!(p.queue.items.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_meeting_beyond_the_limits_fails_before_anything_is_downloaded() {
    let mut p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs(), OutputFormat::Wav);
    p.settings.limits.max_tracks = 2;
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Failed);
    let status = p.store.status_line(samples::meeting_key().as_str());
    assert!(
        status.starts_with("failed: ") && status.contains("3 participant tracks"),
        "{status}"
    );
    for (_, url) in TRACKS.iter().chain([&MIXED]) {
        assert!(p.archiver.downloads.requests_for(url).is_empty(), "{url} was fetched");
    }

    let mut p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs(), OutputFormat::Wav);
    p.settings.limits.max_audio_secs = 60.0;
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Failed);
    let status = p.store.status_line(samples::meeting_key().as_str());
    assert!(status.contains("the insights provider processes at most"), "{status}");
}

#[tokio::test]
async fn an_undecodable_track_is_left_out_with_its_reason_and_the_others_merged() {
    let codecs = codecs().undecodable(TRACKS[1].0, "moov atom not found");
    let p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs, OutputFormat::Wav);
    assert_eq!(p.handle(zoom_job()).await.unwrap(), Outcome::Queued);
    let audio = p.store.row(samples::meeting_key().as_str()).unwrap().audio.unwrap();
    let got: Vec<_> = audio
        .participants
        .iter()
        .map(|p| (p.channel, p.failure.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(1), None),
            (None, Some("not decodable audio: moov atom not found".into())),
            (Some(2), None),
        ]
    );
    assert_eq!((audio.mode, audio.channels), (AudioMode::Multichannel, 2));
    assert_eq!(
        p.codecs.probed.lock().unwrap().len(),
        3,
        "every archived track is probed"
    );
    let decoded = p.codecs.decoded.lock().unwrap().clone();
    assert!(
        decoded.iter().all(|s| !s.contains(TRACKS[1].0)),
        "the bad track never reaches a decoder: {decoded:?}"
    );
}

/// Issue #13: 李雷 stopped and restarted recording, a second file from 18:35:00 (2093 s in).
#[tokio::test]
async fn a_restarted_participant_is_one_channel_with_audio_at_each_pieces_offset() {
    const AGAIN: (&str, &str) = (
        "a1a1a1a1-0004-4c3d-8e9f-000000000004",
        "https://us02web.zoom.us/rec/webhook_download/p4-opaque",
    );
    const AGAIN_AT: usize = 20_930;
    let mut job = zoom_job();
    let files = job.event.payload.object.participant_audio_files.as_mut().unwrap();
    let mut again = files[2].clone();
    (again.id, again.download_url, again.file_size) = (AGAIN.0.into(), AGAIN.1.into(), m4a(AGAIN.0).len() as u64);
    (again.recording_start, again.recording_end) = ("2024-05-31T18:35:00Z".into(), "2024-05-31T18:40:00Z".into());
    files.push(again);
    let zoom = zoom(EVENT_TOKEN).serving(AGAIN.1, vec![Answer::audio(&m4a(AGAIN.0))]);
    let codecs = codecs().decoding(AGAIN.0, vec![301; 5]);
    let p = making(zoom, MemTokens::default(), codecs, OutputFormat::Wav);
    assert_eq!(p.handle(job).await.unwrap(), Outcome::Queued);

    assert_eq!(object(&p, "in", &original_key(4, AGAIN.0)).bytes, m4a(AGAIN.0));
    // One decoder per piece, 李雷's two last and in time order.
    let decoded = p.codecs.decoded.lock().unwrap().clone();
    assert_eq!(decoded.len(), 4);
    assert!(
        decoded[2].contains(TRACKS[2].0) && decoded[3].contains(AGAIN.0),
        "{decoded:?}"
    );

    // Still three channels: 李雷's speaks from both joins, silent in between.
    let merged = object(&p, "out", &format!("{}merged.wav", prefix()));
    assert_eq!(u16::from_le_bytes([merged.bytes[22], merged.bytes[23]]), 3);
    let pcm = &merged.bytes[PCM_OFFSET..];
    assert_eq!(channel(pcm, 3, 0), vec![100; FRAMES]);
    assert_eq!(channel(pcm, 3, 1), speech(MARY_JANE_AT, 200, 5));
    let mut li_lei = speech(LI_LEI_AT, 300, 5);
    li_lei[AGAIN_AT..AGAIN_AT + 5].fill(301);
    assert_eq!(channel(pcm, 3, 2), li_lei);

    // One record entry for 李雷: first file and start, last end, both files' bytes.
    let audio = p.store.row(samples::meeting_key().as_str()).unwrap().audio.unwrap();
    assert_eq!(
        (audio.mode, audio.channels, audio.participants.len()),
        (AudioMode::Multichannel, 3, 3)
    );
    let li = &audio.participants[2];
    assert_eq!(
        (li.name.as_str(), li.channel, li.file_id.as_str(), li.failure.as_deref()),
        ("李雷", Some(3), TRACKS[2].0, None)
    );
    assert_eq!(
        (li.recording_start.as_str(), li.recording_end.as_str()),
        ("2024-05-31T18:00:09Z", "2024-05-31T18:40:00Z")
    );
    assert_eq!(li.original_key, Some(original_key(3, TRACKS[2].0)));
    assert_eq!(li.bytes, Some((m4a(TRACKS[2].0).len() + m4a(AGAIN.0).len()) as u64));
}

/// Issue #13: the mixed recording stopped and restarted at 18:45:00 (2693 s in): both parts
/// are merged, each at its offset.
#[tokio::test]
async fn every_audio_only_file_is_merged_at_its_offset() {
    const LATER: (&str, &str) = (
        "0f3c1d2e-4444-4b6a-9c0d-dddddddddddd",
        "https://us02web.zoom.us/rec/webhook_download/m4a-later",
    );
    const LATER_AT: usize = 26_930;
    let mut job = zoom_job();
    let event = &mut job.event.payload.object;
    event.participant_audio_files = None;
    let mut later = event.recording_files[1].clone();
    (later.id, later.download_url, later.file_size) = (Some(LATER.0.into()), LATER.1.into(), m4a(LATER.0).len() as u64);
    (later.recording_start, later.recording_end) = ("2024-05-31T18:45:00Z".into(), "2024-05-31T18:50:00Z".into());
    event.recording_files.push(later);
    let zoom = zoom(EVENT_TOKEN).serving(LATER.1, vec![Answer::audio(&m4a(LATER.0))]);
    let codecs = codecs().decoding(LATER.0, vec![51; 5]);
    let p = making(zoom, MemTokens::default(), codecs, OutputFormat::Wav);
    assert_eq!(p.handle(job).await.unwrap(), Outcome::Queued);

    let audio = p.store.row(samples::meeting_key().as_str()).unwrap().audio.unwrap();
    assert_eq!((audio.mode, audio.channels), (AudioMode::MixedDiarization, 1));
    assert_eq!(audio.duration_secs, 2993.0);
    assert_eq!(audio.participants.len(), 1);
    assert_eq!(audio.participants[0].recording_end, "2024-05-31T18:50:00Z");
    let merged = object(&p, "out", &audio.merged_key);
    let mut expected = vec![0; 29_930];
    expected[..5].fill(50);
    expected[LATER_AT..LATER_AT + 5].fill(51);
    assert_eq!(samples_of(&merged.bytes[PCM_OFFSET..]), expected);
}

#[test]
fn a_restarted_run_writes_its_audio_beside_the_earlier_run() {
    let key = zoom_symbl_core::testkit::samples::meeting_key();
    assert_eq!(key.run_prefix(1), key.s3_prefix(), "the first run keeps the layout");
    assert_eq!(key.run_prefix(2), format!("{}run-2/", key.s3_prefix()));
}

/// For the `aws` provider: each participant's speech is cut from the merge's own decoders
/// (Dana and 李雷 speak, Mary-Jane never does), each original decoded once, and no
/// multichannel file is made; the mixdown still is. The sample meeting shortened to ten
/// seconds, at the detector's 16 kHz.
#[tokio::test]
async fn for_aws_each_speaker_gets_a_speech_file_and_a_map_and_no_multichannel_file_is_made() {
    use crate::speech::tests::pcm;
    let (dana, li_lei) = (pcm(3.0, &[(1.0, 2.0)]), pcm(2.0, &[(0.5, 1.5)]));
    let codecs = MemCodecs::default()
        .decoding(TRACKS[0].0, dana.clone())
        .decoding(TRACKS[1].0, pcm(1.0, &[]))
        .decoding(TRACKS[2].0, li_lei.clone());
    let mut p = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs, OutputFormat::Wav);
    p.settings.provider = Provider::Aws;
    p.settings.sample_rate = 16_000;
    let mut job = zoom_job();
    let spans = [("07", "17"), ("10", "15"), ("09", "16")];
    for (f, (start, end)) in job
        .event
        .payload
        .object
        .participant_audio_files
        .iter_mut()
        .flatten()
        .zip(spans)
    {
        f.recording_start = format!("2024-05-31T18:00:{start}Z");
        f.recording_end = format!("2024-05-31T18:00:{end}Z");
    }
    assert_eq!(p.handle(job).await.unwrap(), Outcome::Queued);
    let row = p.store.row(samples::meeting_key().as_str()).unwrap();
    let audio = row.audio.unwrap();
    let spoke: Vec<(u16, &str, bool)> = audio
        .speech
        .iter()
        .map(|t| (t.index, t.name.as_str(), t.flac_key.is_some()))
        .collect();
    assert_eq!(
        spoke,
        [
            (0, "Dana Host", true),
            (1, "Mary-Jane O'Neil", false),
            (2, "李雷", true)
        ]
    );
    // Each original decoded once, by the merge; the FLACs are encoded in the process.
    assert_eq!(p.codecs.decoded.lock().unwrap().len(), 3);
    assert_eq!(*p.codecs.encoders.lock().unwrap(), ["mp3 16000 Hz"]);
    // 李雷 joins 2 s after Dana: their speech is put back there.
    for (t, (track, joins)) in audio.speech.iter().zip([(&dana, 0.0), (&dana, 0.0), (&li_lei, 2.0)]) {
        assert_eq!(t.map_key, format!("{}speech/{}.json", prefix(), t.index));
        let map: zoom_symbl_core::speech::SegmentMap =
            serde_json::from_slice(&object(&p, "out", &t.map_key).bytes).unwrap();
        assert_eq!((map.index(), map.name()), (t.index, t.name.as_str()));
        let Some(flac) = &t.flac_key else {
            assert!(map.segments().is_empty() && t.talk_seconds == 0.0);
            continue;
        };
        assert!(t.talk_seconds > 1.0 && t.talk_seconds < 2.0, "{}", t.talk_seconds);
        assert_eq!(map.speech_seconds(), t.talk_seconds);
        // The FLAC, read back, is the track's samples where the map says.
        let stored = object(&p, "out", flac);
        assert_eq!(stored.content_type, "audio/flac");
        let cut = crate::speech::flac::decode(&stored.bytes);
        let [segment] = map.segments() else {
            panic!("one segment: {:?}", map.segments())
        };
        let at = |secs: f64| (secs * 16_000.0).round() as usize;
        let from = at(segment.meeting_start - joins);
        assert_eq!(cut, track[from..from + at(segment.duration)], "{}", t.name);
    }
    assert!(p.objects.object("out", &format!("{}merged.wav", prefix())).is_none());
    assert_eq!(audio.mixdown_key, format!("{}mixdown.mp3", prefix()));
    let mixdown = object(&p, "out", &audio.mixdown_key);
    assert_eq!(mixdown.bytes.len(), 10 * 16_000 * 2, "ten seconds of the mono mix");
    assert_eq!((audio.merged_format.as_str(), audio.channels), ("mp3", 1));
}

#[tokio::test]
async fn a_replay_makes_the_next_run_from_the_archived_originals_and_asks_zoom_for_nothing() {
    let first = making(zoom(EVENT_TOKEN), MemTokens::default(), codecs(), OutputFormat::Wav);
    assert_eq!(first.handle(zoom_job()).await.unwrap(), Outcome::Queued);
    // The run keeps its delivery beside its originals, without the download token.
    let kept = object(&first, "in", &format!("{}originals/event.json", prefix()));
    let event: zoom_symbl_core::zoom::RecordingCompleted = serde_json::from_slice(&kept.bytes).unwrap();
    assert!(event.download_token.is_none());
    assert_eq!(event.payload, zoom_job().event.payload);

    // Zoom serves nothing and no token can be minted; 李雷's original is gone from the archive.
    let replay = making(
        MemRecordings::default(),
        MemTokens::default(),
        codecs(),
        OutputFormat::Wav,
    );
    *replay.objects.objects.lock().unwrap() = first.objects.objects.lock().unwrap().clone();
    replay
        .objects
        .objects
        .lock()
        .unwrap()
        .remove(&("in".to_owned(), original_key(3, TRACKS[2].0)));
    let start = ProductionStart::Produce { attempt: 1 };
    replay.store.insert(
        samples::meeting_key().as_str(),
        MeetingRow {
            run: Some(2),
            ..MeetingRow::where_production_starts(&start)
        },
    );
    let originals_prefix = format!("{}originals/", prefix());
    let job = ProducerJob {
        run: 2,
        replay: Some(zoom_symbl_core::ports::Replay {
            originals_prefix: originals_prefix.clone(),
        }),
        event,
        ..zoom_job()
    };
    assert_eq!(replay.handle(job).await.unwrap(), Outcome::Queued);

    assert!(
        replay.archiver.downloads.requests.lock().unwrap().is_empty(),
        "nothing downloaded"
    );
    assert!(replay.zoom.minted.lock().unwrap().is_empty(), "no token minted");
    let audio = replay
        .store
        .row(samples::meeting_key().as_str())
        .unwrap()
        .audio
        .unwrap();
    assert_eq!(audio.run, 2);
    assert_eq!(
        audio.originals_prefix, originals_prefix,
        "the record points at the originals it was made from"
    );
    let run2 = samples::meeting_key().run_prefix(2);
    assert_eq!(
        audio.merged_key,
        format!("{run2}merged.wav"),
        "the next run's own outputs"
    );
    assert!(object(&replay, "out", &audio.merged_key).bytes.len() > PCM_OFFSET);
    assert_eq!(
        audio.participants[2].failure.as_deref(),
        Some("not in the archive of the earlier run")
    );
    assert!(audio.participants[..2].iter().all(|p| p.failure.is_none()));
    assert_eq!(audio.channels, 2);
}

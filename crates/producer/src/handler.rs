//! The producer's work for one meeting: choose the tracks, archive them, merge them,
//! record the result and queue it, idempotently.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use tokio::io::AsyncWrite;
use tracing::{info, info_span, warn, Instrument};

use zoom_symbl_core::keys::MeetingKey;
use zoom_symbl_core::meeting::{AudioMode, Participant, ProducedAudio};
use zoom_symbl_core::ports::{Finality, MeetingStore, ObjectStore, ProducerJob, ProductionStart, WorkItem, WorkQueue};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::timefmt::{now_rfc3339, unix_now};
use zoom_symbl_core::zoom::names::{disambiguate, display_name};
use zoom_symbl_core::zoom::RecordingObject;
use zoom_symbl_core::Error;

use crate::download::{Destination, Downloader, FetchError};
use crate::ffmpeg::{self, Ffmpeg};
use crate::merge;
use crate::plan::{parse_time, MergePlan, Timeline, TrackInput};
use crate::wav;
use crate::zoom_api::{jwt_expired, ZoomApi};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Wav,
    Flac,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "wav" => Ok(OutputFormat::Wav),
            "flac" => Ok(OutputFormat::Flac),
            other => Err(format!("{other:?} is not wav or flac")),
        }
    }
}

/// FLAC stops at 8 channels; larger meetings are written as WAV whatever the setting.
const FLAC_MAX_CHANNELS: usize = 8;

#[derive(Debug, Clone)]
pub struct Settings {
    pub input_bucket: String,
    pub output_bucket: String,
    pub sample_rate: u32,
    pub format: OutputFormat,
    pub download_concurrency: usize,
    /// How long an attempt holds the meeting without renewing; renewed every third of it
    /// while producing, so a crashed or timed-out attempt's lease lapses before Lambda's
    /// retry arrives (a minute later on AWS).
    pub lease_secs: u64,
    /// Attempts Lambda makes (1 + the template's MaximumRetryAttempts): the last one's
    /// failure is final.
    pub max_attempts: u32,
    /// How long ffmpeg's presigned input URLs live (the merge must start within it).
    pub presign_ttl: Duration,
}

pub struct Producer<S, O, Q> {
    pub store: S,
    pub objects: O,
    pub queue: Q,
    pub downloader: Downloader,
    pub zoom: ZoomApi,
    pub ffmpeg: Ffmpeg,
    pub settings: Settings,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Queued,
    AlreadyDone,
    InProgressElsewhere,
}

/// A track chosen from the event, in event order.
struct Source {
    index: usize,
    file_id: String,
    name: String,
    start: String,
    end: String,
    url: String,
    size: u64,
}

impl<S: MeetingStore, O: ObjectStore, Q: WorkQueue> Producer<S, O, Q> {
    pub async fn handle(&self, job: ProducerJob) -> Result<Outcome, Error> {
        let object = &job.event.payload.object;
        let key = MeetingKey::parse(&job.meeting_key)?;
        if key != MeetingKey::from_uuid(&object.uuid) {
            return Err(Error::Invalid("meeting_key does not match the event's uuid".into()));
        }
        let span = info_span!("producer", meeting_uuid = %object.uuid, meeting_key = %key);
        async {
            match self.store.begin_production(&key, self.settings.lease_secs).await? {
                ProductionStart::AlreadyDone => {
                    info!("meeting already produced and queued; nothing to do");
                    return Ok(Outcome::AlreadyDone);
                }
                ProductionStart::Busy => {
                    info!("another invocation is producing this meeting");
                    return Ok(Outcome::InProgressElsewhere);
                }
                ProductionStart::Failed { reason } => {
                    // Failing again sends the event to the failure queue after Lambda's retries.
                    info!(%reason, "the meeting failed for good earlier");
                    return Err(Error::permanent(
                        "production",
                        format!("the meeting failed earlier: {reason}"),
                    ));
                }
                ProductionStart::EnqueueOnly => info!("audio already produced; queueing it"),
                ProductionStart::Produce { attempt } => {
                    info!(attempt, "producing");
                    let produced = tokio::select! {
                        produced = self.produce(&key, &job) => produced,
                        lost = self.hold_lease(&key, attempt) => Err(lost),
                    };
                    match produced {
                        Ok(audio) => self.store.save_produced(&key, &audio).await?,
                        Err(e) => {
                            let finality = if e.is_retryable() && attempt < self.settings.max_attempts {
                                Finality::WillRetry
                            } else {
                                Finality::Final
                            };
                            warn!(error = %e, retryable = e.is_retryable(), ?finality, "production failed");
                            self.store.mark_failed(&key, &e.to_string(), finality).await?;
                            return Err(e);
                        }
                    }
                }
            }
            self.queue
                .enqueue(&WorkItem {
                    meeting_key: key.to_string(),
                    produced_at: now_rfc3339(),
                })
                .await?;
            self.store.mark_queued(&key).await?;
            info!("queued for the consumer");
            Ok(Outcome::Queued)
        }
        .instrument(span)
        .await
    }

    /// Renews the production lease until it is lost (the future then ends with why); the
    /// production it races against is dropped with it, ffmpeg children included.
    async fn hold_lease(&self, key: &MeetingKey, attempt: u32) -> Error {
        let every = Duration::from_secs((self.settings.lease_secs / 3).max(1));
        let mut failures = 0;
        loop {
            tokio::time::sleep(every).await;
            match self.store.renew_lease(key, attempt, self.settings.lease_secs).await {
                Ok(true) => failures = 0,
                Ok(false) => return Error::retryable("production", "lost the production lease to another attempt"),
                // One missed renewal still leaves two thirds of the lease; two in a row do not.
                Err(e) if failures == 0 => {
                    warn!(error = %e, "could not renew the production lease; trying again");
                    failures += 1;
                }
                Err(e) => return e,
            }
        }
    }

    async fn produce(&self, key: &MeetingKey, job: &ProducerJob) -> Result<ProducedAudio, Error> {
        let object = &job.event.payload.object;
        let (mode, sources) = select_sources(object)?;
        let timeline = Timeline::span(
            sources
                .iter()
                .map(|s| {
                    Ok((
                        parse_time("recording_start", &s.start)?,
                        parse_time("recording_end", &s.end)?,
                    ))
                })
                .collect::<Result<Vec<_>, Error>>()?
                .iter()
                .map(|(a, b)| (a, b)),
        )?;
        let token = self.download_token(job).await?;
        let prefix = key.s3_prefix();
        let originals_prefix = format!("{prefix}originals/");
        let mut results = self.archive_all(&sources, &token, &originals_prefix).await;
        if results.iter().any(|r| matches!(r.1, Err(FetchError::TokenRejected))) && self.zoom.can_mint() {
            info!("download token rejected; re-minting with Server-to-Server OAuth");
            let fresh = self.zoom.mint_download_token(&object.uuid).await?;
            let rejected: Vec<usize> = (0..results.len())
                .filter(|&i| matches!(results[i].1, Err(FetchError::TokenRejected)))
                .collect();
            let retry: Vec<&Source> = rejected.iter().map(|&i| &sources[i]).collect();
            let again = self.archive_refs(&retry, &fresh, &originals_prefix).await;
            for (i, r) in rejected.into_iter().zip(again) {
                results[i] = r;
            }
        }

        // Channels follow event order among the tracks that arrived: one list feeds both the
        // decoders and channelMetadata, so a failure never shifts a label.
        let mut participants = Vec::with_capacity(sources.len());
        let mut tracks = Vec::new();
        for (src, (orig_key, result)) in sources.iter().zip(results) {
            let (channel, bytes, failure) = match result {
                Ok(bytes) => {
                    tracks.push((src, orig_key.clone()));
                    (Some(tracks.len() as u16), Some(bytes), None)
                }
                Err(e) => {
                    warn!(participant = %src.name, file_id = %src.file_id, reason = %e, "track left out of the merge");
                    (None, None, Some(e.to_string()))
                }
            };
            participants.push(Participant {
                channel: if mode == AudioMode::MixedDiarization {
                    None
                } else {
                    channel
                },
                name: src.name.clone(),
                file_id: src.file_id.clone(),
                recording_start: src.start.clone(),
                recording_end: src.end.clone(),
                original_key: bytes.map(|_| orig_key),
                bytes,
                failure,
            });
        }
        if tracks.is_empty() {
            let reasons: Vec<String> = participants
                .iter()
                .map(|p| format!("{}: {}", p.name, p.failure.as_deref().unwrap_or("?")))
                .collect();
            return Err(Error::permanent(
                "zoom download",
                format!("no track could be downloaded ({})", reasons.join("; ")),
            ));
        }
        let mode = if mode == AudioMode::Multichannel && tracks.len() == 1 {
            AudioMode::SingleParticipant
        } else {
            mode
        };

        let mut inputs = Vec::with_capacity(tracks.len());
        for (src, orig_key) in &tracks {
            inputs.push(TrackInput {
                name: src.name.clone(),
                start: parse_time("recording_start", &src.start)?,
                end: parse_time("recording_end", &src.end)?,
                source: self
                    .objects
                    .presign_get(&self.settings.input_bucket, orig_key, self.settings.presign_ttl)
                    .await?,
            });
        }
        let plan = MergePlan::new(timeline, &inputs, self.settings.sample_rate)?;
        let format = if self.settings.format == OutputFormat::Flac && plan.channels.len() > FLAC_MAX_CHANNELS {
            warn!(
                channels = plan.channels.len(),
                "FLAC holds at most 8 channels; writing WAV"
            );
            OutputFormat::Wav
        } else {
            self.settings.format
        };
        let ext = match format {
            OutputFormat::Wav => "wav",
            OutputFormat::Flac => "flac",
        };
        let merged_key = format!("{prefix}merged.{ext}");
        let mixdown_key = format!("{prefix}mixdown.mp3");
        let started = std::time::Instant::now();
        let merged_bytes = self.merge(&plan, format, &merged_key, &mixdown_key).await?;
        info!(
            channels = plan.channels.len(),
            duration_secs = plan.duration_secs(),
            merged_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "merged"
        );

        Ok(ProducedAudio {
            mode,
            topic: object.topic.clone(),
            host_email: object.host_email.clone(),
            start_time: object.start_time.clone(),
            duration_secs: timeline.duration_secs(),
            participants,
            sample_rate: plan.sample_rate,
            channels: plan.channels.len() as u16,
            merged_bucket: self.settings.output_bucket.clone(),
            merged_key,
            merged_format: ext.to_owned(),
            merged_bytes,
            mixdown_key,
            originals_prefix,
        })
    }

    /// The event's token while it is valid; otherwise one minted with S2S OAuth, if configured.
    async fn download_token(&self, job: &ProducerJob) -> Result<SecretString, Error> {
        match &job.event.download_token {
            Some(t) if !t.is_empty() && !jwt_expired(t.expose(), unix_now()) => Ok(t.clone()),
            _ if self.zoom.can_mint() => {
                info!("download token missing or expired; re-minting with Server-to-Server OAuth");
                self.zoom.mint_download_token(&job.event.payload.object.uuid).await
            }
            _ => Err(Error::permanent(
                "zoom download",
                "download token missing or expired and no Zoom Server-to-Server OAuth credentials are configured to re-mint it",
            )),
        }
    }

    async fn archive_all(
        &self,
        sources: &[Source],
        token: &SecretString,
        prefix: &str,
    ) -> Vec<(String, Result<u64, FetchError>)> {
        self.archive_refs(&sources.iter().collect::<Vec<_>>(), token, prefix)
            .await
    }

    /// Downloads in parallel (bounded), results in input order.
    async fn archive_refs(
        &self,
        sources: &[&Source],
        token: &SecretString,
        prefix: &str,
    ) -> Vec<(String, Result<u64, FetchError>)> {
        stream::iter(sources.iter().map(|src| {
            let key = format!("{prefix}{:02}-{}.m4a", src.index + 1, safe_id(&src.file_id));
            async move {
                let dest = Destination {
                    bucket: &self.settings.input_bucket,
                    key: &key,
                };
                let r = self
                    .downloader
                    .archive(&self.objects, &src.url, token, src.size, dest)
                    .await;
                (key, r)
            }
        }))
        .buffered(self.settings.download_concurrency.max(1))
        .collect()
        .await
    }

    /// Decoders → interleaver → (WAV | FLAC encoder) → S3, and mono mix → MP3 encoder → S3.
    async fn merge(
        &self,
        plan: &MergePlan,
        format: OutputFormat,
        merged_key: &str,
        mixdown_key: &str,
    ) -> Result<u64, Error> {
        let rate = plan.sample_rate;
        let mut decoders = Vec::with_capacity(plan.channels.len());
        let mut readers = Vec::with_capacity(plan.channels.len());
        for c in &plan.channels {
            let mut d = self
                .ffmpeg
                .spawn("decoder", &ffmpeg::decoder_args(&c.source, rate), false)?;
            readers.push(
                d.child
                    .stdout
                    .take()
                    .ok_or_else(|| Error::retryable("ffmpeg", "decoder has no stdout"))?,
            );
            decoders.push(d);
        }
        let mut mp3 = self
            .ffmpeg
            .spawn("mp3 encoder", &ffmpeg::mp3_encoder_args(rate), true)?;
        let mut mp3_in = mp3
            .child
            .stdin
            .take()
            .ok_or_else(|| Error::retryable("ffmpeg", "encoder has no stdin"))?;
        let mp3_out = mp3
            .child
            .stdout
            .take()
            .ok_or_else(|| Error::retryable("ffmpeg", "encoder has no stdout"))?;

        let (mut merged_in, merged_out, header, content_type, mut flac): (
            Box<dyn AsyncWrite + Unpin + Send>,
            Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Vec<u8>,
            &str,
            _,
        ) = match format {
            OutputFormat::Wav => {
                let (w, r) = tokio::io::duplex(1 << 20);
                let header = wav::header(plan.channels.len() as u16, rate, plan.total_samples);
                (Box::new(w), Box::new(r), header, "audio/wav", None)
            }
            OutputFormat::Flac => {
                let mut enc = self.ffmpeg.spawn(
                    "flac encoder",
                    &ffmpeg::flac_encoder_args(plan.channels.len() as u16, rate),
                    true,
                )?;
                let w = enc
                    .child
                    .stdin
                    .take()
                    .ok_or_else(|| Error::retryable("ffmpeg", "encoder has no stdin"))?;
                let r = enc
                    .child
                    .stdout
                    .take()
                    .ok_or_else(|| Error::retryable("ffmpeg", "encoder has no stdout"))?;
                (Box::new(w), Box::new(r), Vec::new(), "audio/flac", Some(enc))
            }
        };
        let out = &self.settings.output_bucket;
        let interleaving = async {
            let stats = merge::interleave(plan, &mut readers, &header, &mut merged_in, &mut mp3_in).await;
            // Closing the inputs lets the encoders and uploads finish.
            drop(merged_in);
            drop(mp3_in);
            stats
        };
        let (stats, merged_bytes, _mix_bytes) = tokio::try_join!(
            interleaving,
            self.objects.put_stream(out, merged_key, content_type, merged_out),
            self.objects.put_stream(out, mixdown_key, "audio/mpeg", mp3_out),
        )?;
        // A decoder that stopped early must have stopped cleanly, or its silence is a lie.
        for (d, s) in decoders.into_iter().zip(&stats) {
            if s.ended_early {
                d.finish().await?;
            } else {
                d.stop().await;
            }
        }
        mp3.finish().await?;
        if let Some(enc) = flac.take() {
            enc.finish().await?;
        }
        Ok(merged_bytes)
    }
}

/// Participant tracks when the account records them (completed ones, in event order), else
/// the mixed `audio_only` file for diarization.
fn select_sources(object: &RecordingObject) -> Result<(AudioMode, Vec<Source>), Error> {
    let per_participant: Vec<_> = object
        .participant_audio_files
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, f)| f.status.eq_ignore_ascii_case("completed"))
        .collect();
    if !per_participant.is_empty() {
        let names = disambiguate(per_participant.iter().map(|(_, f)| display_name(&f.file_name)));
        let sources = per_participant
            .into_iter()
            .zip(names)
            .map(|((index, f), name)| Source {
                index,
                file_id: f.id.clone(),
                name,
                start: f.recording_start.clone(),
                end: f.recording_end.clone(),
                url: f.download_url.clone(),
                size: f.file_size,
            })
            .collect();
        return Ok((AudioMode::Multichannel, sources));
    }
    let mixed = object
        .recording_files
        .iter()
        .enumerate()
        .find(|(_, f)| f.recording_type == "audio_only" && f.status.eq_ignore_ascii_case("completed"))
        .ok_or_else(|| {
            Error::permanent(
                "zoom event",
                "the recording has neither participant audio files nor an audio_only file",
            )
        })?;
    let (index, f) = mixed;
    Ok((
        AudioMode::MixedDiarization,
        vec![Source {
            index,
            file_id: f.id.clone().unwrap_or_else(|| format!("audio-only-{index}")),
            name: "All participants (mixed)".into(),
            start: f.recording_start.clone(),
            end: f.recording_end.clone(),
            url: f.download_url.clone(),
            size: f.file_size,
        }],
    ))
}

fn safe_id(id: &str) -> String {
    let s: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if s.is_empty() {
        "track".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoom_symbl_core::testkit::{samples, Faults, MeetingRow, MemMeetings, MemObjects, MemQueue};

    fn sample() -> RecordingObject {
        samples::meeting()
    }

    #[test]
    fn participants_in_event_order_with_parsed_names() {
        let (mode, sources) = select_sources(&sample()).unwrap();
        assert_eq!(mode, AudioMode::Multichannel);
        let names: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Dana Host", "Mary-Jane O'Neil", "李雷"]);
        assert_eq!(sources[1].start, "2024-05-31T18:03:40Z");
    }

    #[test]
    fn incomplete_tracks_are_skipped_and_duplicates_named_apart() {
        let mut o = sample();
        let files = o.participant_audio_files.as_mut().unwrap();
        files[0].status = "processing".into();
        files[2].file_name = "Audio only - Mary-Jane O'Neil".into();
        let (_, sources) = select_sources(&o).unwrap();
        let got: Vec<_> = sources.iter().map(|s| (s.index, s.name.as_str())).collect();
        assert_eq!(got, [(1, "Mary-Jane O'Neil"), (2, "Mary-Jane O'Neil (2)")]);
    }

    #[test]
    fn without_participant_files_the_mixed_track_is_used() {
        let mut o = sample();
        o.participant_audio_files = None;
        let (mode, sources) = select_sources(&o).unwrap();
        assert_eq!(mode, AudioMode::MixedDiarization);
        assert_eq!(sources.len(), 1);
        assert!(sources[0].url.ends_with("m4a-opaque"));
        o.recording_files.retain(|f| f.recording_type != "audio_only");
        assert!(select_sources(&o).is_err());
    }

    fn producer(start: ProductionStart, s2s: bool) -> Producer<MemMeetings, MemObjects, MemQueue> {
        let http = reqwest::Client::new();
        Producer {
            // The sample meeting, in the state on which production starts as `start`.
            store: MemMeetings::default().with(
                samples::meeting_key().as_str(),
                MeetingRow::where_production_starts(&start),
            ),
            // The paths under test must not reach storage.
            objects: MemObjects::default().forbidding(&["put_stream", "presign_get"]),
            queue: MemQueue::default(),
            downloader: Downloader::new(http.clone(), Default::default(), 1, Duration::from_millis(1)),
            zoom: ZoomApi {
                http,
                // A closed local port: a mint attempt fails at once and reaches nothing.
                oauth_url: "https://localhost:1/oauth/token".into(),
                default_api_base: "https://localhost:1".into(),
                allowed: zoom_symbl_core::zoom::HostAllowList::parse("localhost"),
                credentials: s2s.then(|| crate::zoom_api::S2sCredentials {
                    account_id: "a".into(),
                    client_id: "c".into(),
                    client_secret: SecretString::new("s"),
                }),
            },
            ffmpeg: Ffmpeg::locate(None),
            settings: Settings {
                input_bucket: "in".into(),
                output_bucket: "out".into(),
                sample_rate: 16_000,
                format: OutputFormat::Wav,
                download_concurrency: 2,
                lease_secs: 30,
                max_attempts: 3,
                presign_ttl: Duration::from_secs(60),
            },
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
        let err = p.handle(job(None)).await.unwrap_err();
        assert!(!err.is_retryable());
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
        let err = p.handle(job(Some(expired))).await.unwrap_err();
        assert!(err.to_string().contains("zoom oauth"), "{err}");
        assert!(p.store.production_log.lock().unwrap()[0].starts_with("failed: "));
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
        last.handle(job(Some(expired))).await.unwrap_err();
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
        let err = p.handle(job(Some("t"))).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("no track could be downloaded"), "{err}");
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
        let job: ProducerJob = serde_json::from_str(include_str!("../../../events/producer-job.json")).unwrap();
        assert_eq!(
            job.meeting_key,
            MeetingKey::from_uuid(&job.event.payload.object.uuid).to_string()
        );
    }

    #[test]
    fn ids_are_safe_in_keys() {
        assert_eq!(safe_id("a1a1-0001_x"), "a1a1-0001_x");
        assert_eq!(safe_id("../../etc"), "etc");
        assert_eq!(safe_id("///"), "track");
        assert_eq!("flac".parse::<OutputFormat>(), Ok(OutputFormat::Flac));
        assert!("mp3".parse::<OutputFormat>().is_err());
    }
}

//! The producer's work for one meeting: choose the tracks, archive them, merge them,
//! record the result and queue it, idempotently. Each step is its own module (`sources`,
//! `archive`, `channels`, `plan`, `merge`, `output`); this is their order and the meeting's
//! bookkeeping.

use crate::preflight::{self, Limits};
use std::time::{Duration, Instant};

use tracing::{info, info_span, warn, Instrument};

use zoom_symbl_core::config::Provider;
use zoom_symbl_core::error::Retry;
use zoom_symbl_core::meeting::{AudioMode, ProducedAudio, SpeechTrack, ORIGINAL_EVENT};
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{Finality, MeetingStore, ObjectStore, ProducerJob, ProductionStart, WorkItem, WorkQueue};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::timefmt::{now_rfc3339, unix_now};
use zoom_symbl_core::Error;

use crate::archive::{self, Archived, Archiver, Originals};
use crate::channels::{self, Cast, Channel};
use crate::download::FetchError;
use crate::merge::{self, Target};
use crate::output::OutputFormat;
use crate::plan::{parse_time, MergePlan, PieceInput, Timeline, TrackInput};
use crate::ports::{Codecs, DownloadTokens, Recordings};
use crate::sources::{self, select_speakers, Source};
use crate::speech::{self, Mixdown, SpeechTarget};
use crate::zoom_api::jwt_expired;

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
    /// What is refused before any download.
    pub limits: Limits,
    /// `aws`: each participant's speech is cut for Transcribe and no multichannel file is
    /// made; `symbl`: the multichannel file.
    pub provider: Provider,
}

/// The handler, generic over its ports: core's stores and queue, Zoom's downloads (inside
/// the archiver, with its retry policy), Zoom's token minting, and the codecs.
pub struct Producer<S, O, Q, D, Z, C> {
    pub store: S,
    pub objects: O,
    pub queue: Q,
    pub archiver: Archiver<D>,
    pub zoom: Z,
    pub codecs: C,
    pub settings: Settings,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Queued,
    AlreadyDone,
    InProgressElsewhere,
    /// Failed for good and recorded so (the reconciler tells the host): the event is done
    /// with, so Lambda neither retries it nor dead-letters what the host is already told.
    Failed,
}

/// How a production attempt ended, when Lambda need not try again.
#[derive(Debug, PartialEq, Eq)]
enum Attempted {
    Produced,
    FailedForGood,
}

/// What a merge wrote.
struct Merged {
    sample_rate: u32,
    channels: u16,
    /// The multichannel file's format, or `mp3` when only the mixdown was made.
    format: &'static str,
    merged_key: String,
    merged_bytes: u64,
    mixdown_key: String,
}

impl<S, O, Q, D, Z, C> Producer<S, O, Q, D, Z, C>
where
    S: MeetingStore,
    O: ObjectStore,
    Q: WorkQueue,
    D: Recordings,
    Z: DownloadTokens,
    C: Codecs,
{
    pub async fn handle(&self, job: ProducerJob) -> Result<Outcome, Error> {
        let object = &job.event.payload.object;
        let key = MeetingKey::parse(&job.meeting_key)?;
        if key != MeetingKey::from_uuid(&object.uuid) {
            return Err(Error::Invalid("meeting_key does not match the event's uuid".into()));
        }
        let span = info_span!("producer", meeting_uuid = %object.uuid, meeting_key = %key);
        self.run(&key, &job).instrument(span).await
    }

    async fn run(&self, key: &MeetingKey, job: &ProducerJob) -> Result<Outcome, Error> {
        match self
            .store
            .begin_production(key, job.run, self.settings.lease_secs)
            .await?
        {
            ProductionStart::Superseded { run } => {
                info!(
                    run,
                    this_run = job.run,
                    "a richer recording restarted the meeting; this earlier one is not produced"
                );
                return Ok(Outcome::AlreadyDone);
            }
            ProductionStart::AlreadyDone => {
                info!("meeting already produced and queued; nothing to do");
                return Ok(Outcome::AlreadyDone);
            }
            ProductionStart::Busy => {
                info!("another invocation is producing this meeting");
                return Ok(Outcome::InProgressElsewhere);
            }
            ProductionStart::Failed { reason } => {
                info!(%reason, "the meeting failed for good earlier");
                return Ok(Outcome::Failed);
            }
            ProductionStart::EnqueueOnly => info!("audio already produced; queueing it"),
            ProductionStart::Produce { attempt } => {
                info!(attempt, "producing");
                if self.attempt(key, job, attempt).await? == Attempted::FailedForGood {
                    return Ok(Outcome::Failed);
                }
            }
        }
        self.enqueue(key).await
    }

    /// One production attempt, recorded: produced, failed for now (an error, so Lambda
    /// retries), or failed for good.
    async fn attempt(&self, key: &MeetingKey, job: &ProducerJob, attempt: u32) -> Result<Attempted, Error> {
        let produced = tokio::select! {
            produced = self.produce(key, job) => produced,
            lost = self.hold_lease(key, attempt) => Err(lost),
        };
        match produced {
            Ok(audio) => {
                self.store.save_produced(key, attempt, &audio).await?;
                Ok(Attempted::Produced)
            }
            Err(e) => {
                let finality = self.finality(&e, attempt);
                warn!(error = %e, retryable = e.is_retryable(), ?finality, "production failed");
                self.store.mark_failed(key, attempt, &e.to_string(), finality).await?;
                match finality {
                    Finality::WillRetry => Err(e),
                    Finality::Final => Ok(Attempted::FailedForGood),
                }
            }
        }
    }

    /// Lambda tries again after a failure that may pass, unless this was its last attempt.
    fn finality(&self, e: &Error, attempt: u32) -> Finality {
        match e.retry() {
            Retry::Retryable if attempt < self.settings.max_attempts => Finality::WillRetry,
            Retry::Retryable | Retry::Permanent => Finality::Final,
        }
    }

    async fn enqueue(&self, key: &MeetingKey) -> Result<Outcome, Error> {
        self.queue
            .enqueue(&WorkItem {
                meeting_key: key.to_string(),
                produced_at: now_rfc3339(),
            })
            .await?;
        self.store.mark_queued(key).await?;
        info!("queued for the consumer");
        Ok(Outcome::Queued)
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
        let (mode, speakers) = select_speakers(object)?;
        // Every piece has its own decoder: the limit counts pieces.
        let pieces = sources::pieces(&speakers);
        let timeline = sources::timeline(pieces.iter().copied())?;
        preflight::check(&timeline, pieces.len(), &self.settings.limits)?;
        let prefix = key.run_prefix(job.run);
        let (originals_prefix, archived) = match &job.replay {
            Some(replay) => {
                info!(originals = %replay.originals_prefix, "replaying the archived originals; nothing is downloaded");
                let found = archive::find_archived(
                    &self.objects,
                    &self.settings.input_bucket,
                    &replay.originals_prefix,
                    &pieces,
                )
                .await?;
                (replay.originals_prefix.clone(), found)
            }
            None => {
                let originals_prefix = format!("{prefix}originals/");
                let archived = self.archive(job, &pieces, &originals_prefix).await?;
                self.keep_event(job, &originals_prefix).await?;
                (originals_prefix, archived)
            }
        };
        let archived = self.probe(archived).await?;
        let Cast {
            mode,
            participants,
            channels,
        } = channels::assign(mode, &speakers, archived)?;
        // A mixed track is transcribed whole, its speakers labelled by Transcribe.
        let cut_speech = match (self.settings.provider, mode) {
            (Provider::Aws, AudioMode::Multichannel | AudioMode::SingleParticipant) => true,
            (Provider::Aws, AudioMode::MixedDiarization) | (Provider::Symbl, _) => false,
        };
        let (merged, speech) = self.merge(&prefix, timeline, &channels, cut_speech).await?;
        Ok(ProducedAudio {
            mode,
            topic: object.topic.clone(),
            host_email: object.host_email.clone(),
            start_time: object.start_time.clone(),
            timezone: object.timezone.clone(),
            duration_secs: timeline.duration_secs(),
            participants,
            sample_rate: merged.sample_rate,
            channels: merged.channels,
            merged_bucket: self.settings.output_bucket.clone(),
            merged_key: merged.merged_key,
            merged_format: merged.format.to_owned(),
            merged_bytes: merged.merged_bytes,
            mixdown_key: merged.mixdown_key,
            originals_prefix,
            run: job.run,
            speech,
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

    /// Keeps the delivery beside its originals, without its download token: what a replay
    /// of this run reads to make the meeting again.
    async fn keep_event(&self, job: &ProducerJob, originals_prefix: &str) -> Result<(), Error> {
        let mut event = job.event.clone();
        event.download_token = None;
        let json = serde_json::to_vec(&event).map_err(|e| Error::Invalid(format!("the event: {e}")))?;
        self.objects
            .put_stream(
                &self.settings.input_bucket,
                &format!("{originals_prefix}{ORIGINAL_EVENT}"),
                "application/json",
                json.as_slice(),
            )
            .await?;
        Ok(())
    }

    /// Archives every source; those Zoom refused the token for go again with a fresh one,
    /// when one can be minted. Results in source order.
    async fn archive(&self, job: &ProducerJob, sources: &[&Source], prefix: &str) -> Result<Vec<Archived>, Error> {
        let token = self.download_token(job).await?;
        let to = Originals {
            bucket: &self.settings.input_bucket,
            prefix,
        };
        let concurrency = self.settings.download_concurrency;
        let mut results = self
            .archiver
            .archive_all(&self.objects, sources, &token, &to, concurrency)
            .await;
        let rejected: Vec<usize> = (0..results.len())
            .filter(|&i| matches!(results[i].1, Err(FetchError::TokenRejected)))
            .collect();
        if rejected.is_empty() || !self.zoom.can_mint() {
            return Ok(results);
        }
        info!("download token rejected; re-minting with Server-to-Server OAuth");
        let fresh = self.zoom.mint_download_token(&job.event.payload.object.uuid).await?;
        let again: Vec<&Source> = rejected.iter().map(|&i| sources[i]).collect();
        let retried = self
            .archiver
            .archive_all(&self.objects, &again, &fresh, &to, concurrency)
            .await;
        for (i, r) in rejected.into_iter().zip(retried) {
            results[i] = r;
        }
        Ok(results)
    }

    /// Merges the archived pieces, channel k being the k-th, into the output bucket: the
    /// multichannel file for Symbl and the MP3 mixdown, or (for `aws`) the mixdown alone, and
    /// with `cut_speech` each participant's speech cut from the same decoders (participant k
    /// is channel k + 1).
    async fn merge(
        &self,
        prefix: &str,
        timeline: Timeline,
        channels: &[Channel<'_>],
        cut_speech: bool,
    ) -> Result<(Merged, Vec<SpeechTrack>), Error> {
        let plan = self.plan(timeline, channels).await?;
        let format = self.settings.format.for_channels(plan.channels.len());
        let mixdown_key = format!("{prefix}mixdown.mp3");
        let multichannel = match self.settings.provider {
            Provider::Symbl => Some(format!("{prefix}merged.{}", format.extension())),
            Provider::Aws => None,
        };
        let to = Target {
            bucket: &self.settings.output_bucket,
            merged_key: multichannel.as_deref(),
            mixdown_key: &mixdown_key,
            format,
        };
        let started = Instant::now();
        let (merged_bytes, speech) = if cut_speech {
            let indexes: Vec<u16> = (0..plan.channels.len() as u16).collect();
            let mixdown = Mixdown {
                bucket: to.bucket,
                key: &mixdown_key,
            };
            let target = SpeechTarget {
                bucket: &self.settings.output_bucket,
                meeting_prefix: prefix,
            };
            let cuts = speech::cut_in_merge(&self.codecs, &self.objects, &plan, &mixdown, &indexes, &target).await?;
            let tracks: Vec<SpeechTrack> = cuts
                .into_iter()
                .zip(&plan.channels)
                .zip(indexes)
                .map(|((cut, channel), index)| SpeechTrack {
                    index,
                    name: channel.name.clone(),
                    map_key: cut.map_key,
                    flac_key: cut.flac_key,
                    talk_seconds: cut.talk_seconds,
                })
                .collect();
            (0, tracks)
        } else {
            (merge::merge(&self.codecs, &self.objects, &plan, &to).await?, Vec::new())
        };
        info!(
            channels = plan.channels.len(),
            duration_secs = plan.duration_secs(),
            merged_bytes,
            speaking = speech.iter().filter(|t| t.flac_key.is_some()).count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "merged"
        );
        let merged = match multichannel {
            Some(merged_key) => Merged {
                sample_rate: plan.sample_rate,
                channels: plan.channels.len() as u16,
                format: format.extension(),
                merged_key,
                merged_bytes,
                mixdown_key,
            },
            None => Merged {
                sample_rate: plan.sample_rate,
                channels: 1,
                format: "mp3",
                merged_key: mixdown_key.clone(),
                merged_bytes: 0,
                mixdown_key,
            },
        };
        Ok((merged, speech))
    }

    /// Every archived original is probed: one that holds no decodable audio is left out with
    /// its reason, as a failed download is, so its labels do not shift the others.
    async fn probe(&self, archived: Vec<Archived>) -> Result<Vec<Archived>, Error> {
        let mut probed = Vec::with_capacity(archived.len());
        for (original_key, result) in archived {
            let result = match result {
                Ok(bytes) => {
                    let url = self
                        .objects
                        .presign_get(&self.settings.input_bucket, &original_key, self.settings.presign_ttl)
                        .await?;
                    match self.codecs.probe(&url).await {
                        Ok(()) => Ok(bytes),
                        Err(reason) => Err(FetchError::Undecodable(reason)),
                    }
                }
                failed => failed,
            };
            probed.push((original_key, result));
        }
        Ok(probed)
    }

    /// The decoders read the archived originals through presigned URLs.
    async fn plan(&self, timeline: Timeline, channels: &[Channel<'_>]) -> Result<MergePlan, Error> {
        let mut inputs = Vec::with_capacity(channels.len());
        for channel in channels {
            let mut pieces = Vec::with_capacity(channel.pieces.len());
            for (src, original_key) in &channel.pieces {
                pieces.push(PieceInput {
                    start: parse_time("recording_start", &src.start)?,
                    source: self
                        .objects
                        .presign_get(&self.settings.input_bucket, original_key, self.settings.presign_ttl)
                        .await?,
                });
            }
            inputs.push(TrackInput {
                name: channel.name.to_owned(),
                pieces,
            });
        }
        MergePlan::new(timeline, &inputs, self.settings.sample_rate)
    }
}

#[cfg(test)]
mod tests;

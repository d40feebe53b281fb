//! A job's status, applied once and in order. Terminal statuses are confirmed with the
//! provider before anything happens, and every terminal status releases the job's concurrency
//! slot (idempotently: a retry after a crash releases what is still held, nothing more).

use std::collections::BTreeMap;

use tracing::{info, info_span, warn, Instrument};
use zoom_symbl_core::error::Retry;
use zoom_symbl_core::insights::Insights;
use zoom_symbl_core::lifecycle::JobState;
use zoom_symbl_core::meeting::ProducedAudio;
use zoom_symbl_core::meeting_key::run_prefix;
use zoom_symbl_core::ports::{
    InsightsProvider, JobRef, JobStore, JobView, Mailer, MeetingFailures, MeetingOutcomes, ObjectStore, OutgoingEmail,
    Semaphore, StatusEvent, SubmittedJob,
};
use zoom_symbl_core::timefmt::{now_rfc3339, unix_now};
use zoom_symbl_core::transcript::{talk_times, vtt, Transcript};
use zoom_symbl_core::Error;

use crate::delivery::JobEmail;
use crate::email::{failure_email, insights_email, stable_id, EmailKind, Links, MeetingFacts, Rendered};
use crate::handler::{Notifier, Outcome};

impl<J, S, P, M, O, E> Notifier<J, S, P, M, O, E>
where
    J: JobStore,
    S: Semaphore,
    P: InsightsProvider,
    M: MeetingOutcomes + MeetingFailures,
    O: ObjectStore,
    E: Mailer,
{
    pub async fn apply(&self, event: StatusEvent) -> Result<Outcome, Error> {
        let span = info_span!("job", job_id = %event.job_id, source = %event.source);
        async {
            let Some(job) = self.jobs.get(&event.job_id).await? else {
                return match event.meeting_key.as_deref() {
                    Some(meeting_key) => self.adopt(&event, meeting_key).await,
                    None => {
                        info!("no such job; ignored");
                        Ok(Outcome::UnknownJob)
                    }
                };
            };
            if !event.status.is_terminal() {
                return Ok(Outcome::Advanced(self.jobs.advance(&job.job_id, event.status).await?));
            }
            if job.status.is_terminal() {
                // Confirmed when it ended; a repeat only makes sure nothing is left undone.
                return self.finish(&job, job.status).await;
            }
            // Symbl signs nothing: a terminal status is acted on only once Symbl confirms it.
            let confirmed = self.provider.job_state(job.as_ref()).await?;
            if !confirmed.is_terminal() {
                warn!(claimed = ?event.status, ?confirmed, "terminal status not confirmed by the provider");
                self.jobs.advance(&job.job_id, confirmed).await?;
                return Ok(Outcome::NotTerminalYet(confirmed));
            }
            self.finish(&job, confirmed).await
        }
        .instrument(span)
        .await
    }

    /// A job that calls back for a meeting (its callback URL names it) but was never recorded:
    /// the provider took the submission and its answer was lost, or the consumer died before
    /// recording it. Adopting it as the meeting's job means nothing submits the meeting again
    /// (two jobs, billed twice, two emails). Only a job the provider confirms, for a meeting
    /// with no submission under way, is adopted.
    async fn adopt(&self, event: &StatusEvent, meeting_key: &str) -> Result<Outcome, Error> {
        let asked = JobRef {
            job_id: &event.job_id,
            conversation_id: "",
            meeting_key,
        };
        let confirmed = match self.provider.job_state(asked).await {
            Ok(state) => state,
            Err(e) if e.retry() == Retry::Permanent => {
                info!(error = %e, "the provider does not confirm the job; ignored");
                return Ok(Outcome::UnknownJob);
            }
            Err(e) => return Err(e.into()),
        };
        let Some(audio) = self.meetings.audio(meeting_key).await? else {
            info!(meeting_key, "the callback names no meeting with audio; ignored");
            return Ok(Outcome::UnknownJob);
        };
        let now = unix_now();
        let job = SubmittedJob {
            job_id: event.job_id.clone(),
            // Symbl gives the conversation only in its answer to the submission.
            conversation_id: String::new(),
            meeting_key: meeting_key.to_owned(),
            submitted_at: now_rfc3339(),
            deadline: now + (2.0 * audio.duration_secs) as i64 + ADOPTED_JOB_SLACK_SECS,
        };
        if !self.meetings.adopt_job(&job, now).await? {
            info!(
                meeting_key,
                "the meeting's submission is under way or recorded; not adopted"
            );
            return Ok(Outcome::UnknownJob);
        }
        self.jobs.adopt(&job).await?;
        // It runs at the provider whatever we do: it counts against the limit until it ends.
        if let Err(e) = self.semaphore.acquire(meeting_key, job.deadline).await {
            warn!(error = %e, "could not count the adopted job against the concurrency limit");
        }
        warn!(meeting_key, status = ?confirmed, "adopted a job whose submission was never recorded");
        let view = self
            .jobs
            .get(&job.job_id)
            .await?
            .ok_or_else(|| Error::Invalid(format!("adopted job {} has no record", job.job_id)))?;
        if confirmed.is_terminal() {
            return self.finish(&view, confirmed).await;
        }
        Ok(Outcome::Advanced(self.jobs.advance(&view.job_id, confirmed).await?))
    }

    /// A confirmed terminal status: the job ends once, its slot is released (idempotently),
    /// the meeting records the outcome and the host is told.
    pub(crate) async fn finish(&self, job: &JobView, status: JobState) -> Result<Outcome, Error> {
        let first = self.jobs.finish(&job.job_id, status).await?;
        let holders = match self.meetings.audio(&job.meeting_key).await? {
            Some(audio) => self.provider.slot_holders(&job.meeting_key, &audio),
            None => vec![job.meeting_key.clone()],
        };
        for holder in &holders {
            if self.semaphore.release(holder).await? {
                info!(%holder, "released a concurrency slot");
            }
        }
        // An adopted job whose results cannot be fetched is, for its meeting, a failed one.
        let for_meeting = if job.conversation_id.is_empty() {
            JobState::Failed
        } else {
            status
        };
        self.meetings.job_finished(&job.meeting_key, for_meeting).await?;
        info!(?status, first, "job finished");
        self.email_host(job, status).await?;
        // A richer recording that arrived while this job worked is the next run, now that
        // the host has this one's email; the reconciler's next run starts its producer.
        if let Some(run) = self.meetings.restart_deferred(&job.meeting_key, unix_now()).await? {
            info!(
                run,
                "restarted the meeting with the richer delivery kept while its job worked"
            );
        }
        Ok(Outcome::Finished { status, first })
    }

    /// Exactly one email per job (see [`Notifier::email_once`]).
    async fn email_host(&self, job: &JobView, status: JobState) -> Result<(), Error> {
        let ledger = JobEmail {
            jobs: &self.jobs,
            meetings: &self.meetings,
            job,
            stale_secs: self.settings.email_claim_stale_secs,
        };
        self.email_once("insights", &ledger, self.job_email(job, status))
            .await?;
        Ok(())
    }

    /// The email for a finished job: its insights (stored first) or the news that it failed.
    async fn job_email(&self, job: &JobView, status: JobState) -> Result<OutgoingEmail, Error> {
        let audio = self
            .meetings
            .audio(&job.meeting_key)
            .await?
            .ok_or_else(|| Error::Invalid("the meeting record has no audio details".into()))?;
        if audio.host_email.trim().is_empty() {
            return Err(Error::Invalid("the meeting has no host email".into()));
        }
        let facts = MeetingFacts::of(&audio);
        let (kind, rendered) = match status {
            JobState::Completed if !job.conversation_id.is_empty() => match self.store_insights(job, &audio).await {
                Ok(stored) => (
                    EmailKind::Insights,
                    self.insights_email_of(&job.meeting_key, &audio, &stored)?,
                ),
                // Transcribed, but the insights cannot be made (the model answered invalidly
                // twice, the transcript is unreadable): the host hears why, once.
                Err(e) if e.retry() == Retry::Permanent => {
                    let reason = format!(
                        "The recording was transcribed, but its insights could not be made: {}",
                        e.reason()
                    );
                    warn!(%reason, "the meeting fails; emailing the host why");
                    self.meetings.insights_failed(&job.meeting_key, &reason).await?;
                    (EmailKind::Failure, failure_email(&facts, &reason))
                }
                Err(e) => return Err(e),
            },
            JobState::Completed => (EmailKind::Failure, failure_email(&facts, UNFETCHABLE)),
            _ => (
                EmailKind::Failure,
                failure_email(
                    &facts,
                    "The insights provider could not process the recording (the transcription failed).",
                ),
            ),
        };
        Ok(OutgoingEmail {
            to: audio.host_email.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            stable_id: stable_id(kind, &job.meeting_key, audio.run),
        })
    }

    /// The insights email of a meeting whose insights are stored, its page link signed now.
    pub(crate) fn insights_email_of(
        &self,
        meeting_key: &str,
        audio: &ProducedAudio,
        stored: &StoredReport,
    ) -> Result<Rendered, Error> {
        let mut facts = MeetingFacts::of(audio);
        if let Some(transcript) = &stored.transcript {
            facts.talk = talk_times(audio, Some(transcript));
        }
        let page = self.page_url(meeting_key)?;
        let links = Links {
            page: page.as_deref(),
            provider_page: stored.provider_page.as_deref(),
        };
        Ok(insights_email(&facts, &stored.insights, links))
    }

    /// Fetches the finished job's insights, keeps the provider's documents beside the meeting
    /// (and the insights in our own terms, [`INSIGHTS_DOCUMENT`]), makes the provider's page
    /// where it has one, and records where they all are. Once recorded, an email sent again
    /// (its first try failed) is rendered from them: no second fetch, upload or page.
    async fn store_insights(&self, job: &JobView, audio: &ProducedAudio) -> Result<StoredReport, Error> {
        if let Some(stored) = self.stored_insights(&job.meeting_key, audio).await? {
            return Ok(stored);
        }
        let report = self.provider.insights(job.as_ref(), audio).await?;
        let mut documents = BTreeMap::new();
        let prefix = format!("meetings/{}/insights/", job.meeting_key);
        for (name, doc) in &report.documents {
            let key = format!("{prefix}{name}.json");
            let bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::Invalid(e.to_string()))?;
            self.objects
                .put_stream(&audio.merged_bucket, &key, "application/json", bytes.as_slice())
                .await?;
            documents.insert((*name).to_owned(), key);
        }
        let ours = format!("meetings/{}/{INSIGHTS_DOCUMENT}.json", job.meeting_key);
        let bytes = serde_json::to_vec(&report.insights).map_err(|e| Error::Invalid(e.to_string()))?;
        self.objects
            .put_stream(&audio.merged_bucket, &ours, "application/json", bytes.as_slice())
            .await?;
        documents.insert(INSIGHTS_DOCUMENT.to_owned(), ours);
        if let Some(transcript) = &report.transcript {
            let key = self.store_transcript(&job.meeting_key, audio, transcript).await?;
            documents.insert(TRANSCRIPT_DOCUMENT.to_owned(), key);
        }
        let media = self
            .objects
            .presign_get(&audio.merged_bucket, &audio.mixdown_key, self.settings.media_url_ttl)
            .await?;
        let page = match self
            .provider
            .summary_page(&job.conversation_id, &media, self.settings.summary_page_ttl_secs)
            .await
        {
            Ok(url) => Some(url),
            // The insights are worth sending without the page; a transient failure is retried.
            Err(e) if e.retry() == Retry::Retryable => return Err(e.into()),
            Err(e) => {
                warn!(error = %e, "no summary page; emailing without its link");
                None
            }
        };
        self.meetings
            .insights_stored(&job.meeting_key, &documents, page.as_deref())
            .await?;
        Ok(StoredReport {
            insights: report.insights,
            provider_page: page,
            transcript: report.transcript,
        })
    }

    /// The meeting page's link, signed now (never stored: an email sent again signs afresh),
    /// valid for `SummaryPageDays`.
    fn page_url(&self, meeting_key: &str) -> Result<Option<String>, Error> {
        let Some(site) = &self.settings.page else {
            return Ok(None);
        };
        let days = self.settings.summary_page_ttl_secs / 86_400;
        site.links.url(&site.base_url, meeting_key, unix_now(), days).map(Some)
    }

    /// The whole transcript beside the run's audio, as JSON (for the meeting page) and WebVTT;
    /// the JSON's key.
    async fn store_transcript(
        &self,
        meeting_key: &str,
        audio: &ProducedAudio,
        transcript: &Transcript,
    ) -> Result<String, Error> {
        let prefix = run_prefix(meeting_key, audio.run);
        let json_key = Transcript::key(&prefix);
        let json = serde_json::to_vec(transcript).map_err(|e| Error::Invalid(e.to_string()))?;
        self.objects
            .put_stream(&audio.merged_bucket, &json_key, "application/json", json.as_slice())
            .await?;
        let rendered = vtt::render(transcript);
        self.objects
            .put_stream(
                &audio.merged_bucket,
                &format!("{prefix}{}", vtt::FILE),
                "text/vtt",
                rendered.as_bytes(),
            )
            .await?;
        info!(utterances = transcript.utterances.len(), "stored the transcript");
        Ok(json_key)
    }

    /// The insights an earlier try stored, with its page; `None` when there are none yet.
    pub(crate) async fn stored_insights(
        &self,
        meeting_key: &str,
        audio: &ProducedAudio,
    ) -> Result<Option<StoredReport>, Error> {
        let Some(stored) = self.meetings.insights_of(meeting_key).await? else {
            return Ok(None);
        };
        let Some(key) = stored.documents.get(INSIGHTS_DOCUMENT) else {
            return Ok(None);
        };
        let bytes = self.objects.get(&audio.merged_bucket, key).await?;
        let insights: Insights = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("stored insights are malformed: {e}")))?;
        // Only the talk-time line needs it, and only without a speech cut (Symbl): an
        // unreadable transcript costs the email that line, not the email.
        let transcript = match stored.documents.get(TRANSCRIPT_DOCUMENT) {
            Some(key) if audio.speech.is_empty() => match self.stored_transcript(&audio.merged_bucket, key).await {
                Ok(t) => Some(t),
                Err(e) => {
                    warn!(error = %e, "the stored transcript could not be read; emailing without talk times");
                    None
                }
            },
            _ => None,
        };
        info!("rendering the email from the insights stored earlier");
        Ok(Some(StoredReport {
            insights,
            provider_page: stored.summary_url,
            transcript,
        }))
    }

    async fn stored_transcript(&self, bucket: &str, key: &str) -> Result<Transcript, Error> {
        let bytes = self.objects.get(bucket, key).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("the stored transcript is malformed: {e}")))
    }
}

/// The insights behind an email: stored now or by an earlier try.
pub(crate) struct StoredReport {
    insights: Insights,
    /// The provider's own summary page, when it made one.
    provider_page: Option<String>,
    /// The whole transcript, when the provider gave one (for the talk-time line).
    transcript: Option<Transcript>,
}

/// An adopted job's deadline beyond twice the meeting's length, as the consumer's default.
const ADOPTED_JOB_SLACK_SECS: i64 = 1_800;

/// An adopted job finished, but Symbl names its results only in the submission's lost answer.
const UNFETCHABLE: &str = "Symbl processed the recording, but its answer to our submission was lost, \
                           so its results cannot be fetched. Nothing was submitted twice.";

/// The name (and file) of the insights in our own terms, beside the provider's documents.
pub(crate) const INSIGHTS_DOCUMENT: &str = "insights";
/// The name of the whole transcript among the stored documents.
pub(crate) const TRANSCRIPT_DOCUMENT: &str = "transcript";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zoom_symbl_core::lifecycle::MeetingState;
    use zoom_symbl_core::testkit::{
        samples, AudioBuilder, Clock, Faults, MeetingRow, MemInsights, MemJobs, MemMailer, MemMeetings, MemObjects,
        MemSemaphore,
    };

    use super::*;
    use crate::handler::Settings;

    type Subject = Notifier<MemJobs, MemSemaphore, MemInsights, MemMeetings, MemObjects, MemMailer>;

    /// Job `job` of meeting `key`, which Symbl reports `status`; the jobs table on `clock`.
    fn notifier(jobs: Vec<(&str, &str)>, status: JobState, clock: &Clock) -> Subject {
        let mut table = MemJobs::default().with_clock(clock.clone());
        let mut meetings = MemMeetings::default();
        for (job, key) in jobs {
            table = table.with_job(samples::scheduled_job(job, key));
            meetings = meetings.with(
                key,
                MeetingRow {
                    status: Some(MeetingState::Submitted),
                    job_id: Some(job.into()),
                    conversation_id: Some("c".into()),
                    ..MeetingRow::queued(AudioBuilder::sample().build())
                },
            );
        }
        Notifier {
            jobs: table,
            semaphore: MemSemaphore::default(),
            provider: MemInsights::default().reporting(status),
            meetings,
            objects: MemObjects::default(),
            mailer: MemMailer::default(),
            settings: Settings {
                summary_page_ttl_secs: 0,
                media_url_ttl: Duration::from_secs(60),
                email_claim_stale_secs: 600,
                smtp_attempts: 1,
                smtp_backoff: Duration::from_millis(1),
                stall_grace_secs: 600,
                page: None,
            },
        }
    }

    fn stable_ids(n: &Subject) -> Vec<String> {
        n.mailer
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.stable_id.clone())
            .collect()
    }

    /// Job `j` completes and its email goes out, but recording that fails; once the claim is
    /// stale the email is sent again, rendered from the insights the first try stored.
    async fn completed_with_a_failed_settle(n: &Subject, clock: &Clock) {
        n.jobs.fail("email_settled");
        let completed = || samples::status_event("j", JobState::Completed);
        assert!(n.apply(completed()).await.is_err());
        n.jobs.heal("email_settled");
        clock.advance(601);
        n.apply(completed()).await.unwrap();
    }

    /// The relay took the email but recording that failed: the copy sent once the claim goes
    /// stale is the same message (same Message-ID), so mail clients fold it into the first.
    #[tokio::test]
    async fn an_email_sent_again_after_a_failed_settle_keeps_its_message_id() {
        let clock = Clock::at(1_000_000);
        let n = notifier(vec![("j", "m")], JobState::Completed, &clock);
        completed_with_a_failed_settle(&n, &clock).await;
        let ids = stable_ids(&n);
        assert_eq!(ids.len(), 2, "sent twice");
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[0], stable_id(EmailKind::Insights, "m", 1));
    }

    #[tokio::test]
    async fn a_providers_transcript_is_stored_beside_the_runs_audio_as_json_and_webvtt() {
        use zoom_symbl_core::transcript::Utterance;
        let clock = Clock::at(1_000_000);
        let mut n = notifier(vec![("j", "m")], JobState::Completed, &clock);
        n.provider.insights.transcript = Some(Transcript {
            utterances: vec![Utterance {
                speaker: "Dana <Host>".into(),
                start: 4.0,
                end: 6.0,
                text: "Ship it.".into(),
            }],
        });
        n.apply(samples::status_event("j", JobState::Completed)).await.unwrap();
        let json = n.objects.object("out", "meetings/m/transcript.json").expect("the JSON");
        let stored: Transcript = serde_json::from_slice(&json.bytes).unwrap();
        assert_eq!(Some(stored), n.provider.insights.transcript);
        let vtt = n
            .objects
            .object("out", "meetings/m/transcript.vtt")
            .expect("the WebVTT");
        assert_eq!(vtt.content_type, "text/vtt");
        assert!(String::from_utf8(vtt.bytes)
            .unwrap()
            .contains("<v Dana &lt;Host&gt;>Ship it."));
        let stored = n.meetings.stored_insights.lock().unwrap();
        assert_eq!(
            stored[0].documents.get(TRANSCRIPT_DOCUMENT).map(String::as_str),
            Some("meetings/m/transcript.json"),
            "the page finds it by its name"
        );
    }

    #[tokio::test]
    async fn the_talk_time_line_comes_from_the_transcript_also_when_the_email_is_sent_again() {
        use zoom_symbl_core::transcript::Utterance;
        let said = |speaker: &str, start: f64, end: f64| Utterance {
            speaker: speaker.into(),
            start,
            end,
            text: "words".into(),
        };
        let clock = Clock::at(1_000_000);
        let mut n = notifier(vec![("j", "m")], JobState::Completed, &clock);
        n.provider.insights.transcript = Some(Transcript {
            utterances: vec![
                said("Dana", 0.0, 65.0),
                said("Lei", 66.0, 70.0),
                said("Dana", 71.0, 72.0),
            ],
        });
        completed_with_a_failed_settle(&n, &clock).await;
        let sent = n.mailer.sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        for email in sent.iter() {
            assert!(
                email.text.contains("\nTalk time: Dana 1:06 · Lei 0:04\n"),
                "{}",
                email.text
            );
            assert!(
                email.html.contains(">Talk time: Dana 1:06 · Lei 0:04</p>"),
                "{}",
                email.html
            );
        }
    }

    #[tokio::test]
    async fn the_insights_email_links_to_the_meeting_page_signed_afresh() {
        use zoom_symbl_core::page_link::PageLinks;
        use zoom_symbl_core::secret::SecretString;
        let clock = Clock::at(1_000_000);
        let mut n = notifier(vec![("j", "m")], JobState::Completed, &clock);
        let links = PageLinks::new(&SecretString::new("page-key-for-the-test-0123456789"));
        n.settings.summary_page_ttl_secs = 30 * 86_400;
        n.settings.page = Some(crate::handler::PageSite {
            base_url: "https://api.example/Prod".into(),
            links: links.clone(),
        });
        n.apply(samples::status_event("j", JobState::Completed)).await.unwrap();
        let sent = n.mailer.sent.lock().unwrap();
        let text = &sent[0].text;
        let url = text
            .split_whitespace()
            .find(|w| w.starts_with("https://api.example/Prod/meetings/m?t="))
            .unwrap_or_else(|| panic!("no page link in {text}"));
        let token = url.split("?t=").nth(1).unwrap();
        assert_eq!(links.check(token, "m", unix_now()), Ok(()));
        assert_eq!(
            links.check(token, "m", unix_now() + 31 * 86_400),
            Err(zoom_symbl_core::page_link::LinkError::Expired),
            "SummaryPageDays"
        );
        assert!(sent[0].html.contains(">Open the meeting page</a>"), "{}", sent[0].html);
        assert!(
            sent[0].html.contains("The provider&#39;s interactive summary")
                || sent[0].html.contains("The provider's interactive summary"),
            "Symbl's page stays as a second link: {}",
            sent[0].html
        );
    }

    #[tokio::test]
    async fn each_meeting_and_kind_has_its_own_message_id() {
        let clock = Clock::at(1_000_000);
        let done = notifier(vec![("j", "m"), ("k", "other")], JobState::Completed, &clock);
        done.apply(samples::status_event("j", JobState::Completed))
            .await
            .unwrap();
        done.apply(samples::status_event("k", JobState::Completed))
            .await
            .unwrap();
        let failed = notifier(vec![("j", "m")], JobState::Failed, &clock);
        failed
            .apply(samples::status_event("j", JobState::Failed))
            .await
            .unwrap();
        let (mut ids, failure) = (stable_ids(&done), stable_ids(&failed));
        ids.extend(failure);
        assert_eq!(ids.len(), 3);
        assert!(ids[0] != ids[1] && ids[0] != ids[2] && ids[1] != ids[2], "{ids:?}");
        assert!(ids[2].starts_with("failure."), "{ids:?}");
    }
}

//! The meetings table: one item per meeting instance, keyed by [`MeetingKey`](crate::meeting_key::MeetingKey).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{conditional, conditional_failed, guarded, n, s, sdk_error, state, DUE_AT};
use crate::lifecycle::{deadline, MeetingState, Step};
use crate::meeting::ProducedAudio;
use crate::meeting_key::MeetingKey;
use crate::ports::{ClaimOutcome, Finality, MeetingClaim, MeetingClaims, MeetingStore, ProductionStart};
use crate::timefmt::{now_rfc3339, unix_now};
use crate::{Error, Result};

/// Partition key attribute of the meetings table.
pub const PK: &str = "meeting_key";

/// The TTL attribute of the meetings and jobs tables: Unix seconds after which DynamoDB may
/// delete the record (the S3 lifecycle expires its audio on the same schedule).
pub const EXPIRES_AT: &str = "expires_at";

/// `expires_at` for a record written now and kept `retention`.
pub fn expiry(retention: Duration) -> AttributeValue {
    let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    n(unix_now().saturating_add(secs))
}

/// Unix seconds until which a `received` meeting's claim belongs to the delivery that made it.
pub const CLAIM_UNTIL: &str = "claim_until";

/// The delivery's event (JSON), kept so the reconciler can start the producer again.
pub const EVENT: &str = "event";

/// How many times the reconciler has moved the meeting on.
pub const HEALS: &str = "heals";

/// Which run of the meeting the record holds (a richer delivery starts the next).
pub const RUN: &str = "run";

/// The earlier run's originals a replayed run is made from (see [`Replay`](crate::ports::Replay)).
pub const REPLAY_ORIGINALS: &str = "replay_originals";

/// The UTC month a claim was written in (`2026-12`) and its time: the `by_month` index that
/// lists meetings newest first without a scan.
pub const RECEIVED_MONTH: &str = "received_month";

/// The recording's share link (the `by_share_url` index finds a meeting by it).
pub const SHARE_URL: &str = "share_url";

/// DynamoDB items stop at 400 KB; an event larger than this is not kept (the meeting then
/// fails with that reason if its producer never starts).
const MAX_KEPT_EVENT_BYTES: usize = 300 * 1024;

#[derive(Clone)]
pub struct DynamoMeetings {
    client: Client,
    table: String,
    retention: Option<Duration>,
}

impl DynamoMeetings {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoMeetings {
            client,
            table: table.into(),
            retention: None,
        }
    }

    /// Claims carry [`EXPIRES_AT`] this long after they are made; the table's TTL deletes them.
    pub fn expiring_after(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }
}

/// What a richer delivery is measured against: the claimed run as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeenRun {
    pub(crate) state: MeetingState,
    /// Records from before the count was kept read as unknown: never poorer than a delivery.
    audio_files: u32,
    deferred_files: Option<u32>,
    pub(crate) run: u32,
    /// The production attempts so far: a restart continues the count, so an attempt of the
    /// earlier run can never pass for one of the new run.
    attempt: Option<u32>,
    /// The record as stored had a run number (records from before runs had none).
    has_run: bool,
    claim_until: Option<i64>,
}

/// Which claim item is written, on what condition.
pub(crate) enum ClaimWrite<'a> {
    /// The meeting's first claim: no record yet.
    First,
    /// The same run's `received` claim whose lease lapsed before `now`, taken over.
    TakeOver(&'a SeenRun, i64),
    /// The meeting's next run, on a richer delivery.
    Restart(&'a SeenRun),
}

impl DynamoMeetings {
    pub(crate) async fn run_of(&self, key: &MeetingKey) -> Result<Option<SeenRun>> {
        run_of(&self.client, &self.table, key.as_str()).await
    }

    /// Writes the claim's item; `false` if the condition failed.
    async fn put_claim(&self, c: &MeetingClaim, write: ClaimWrite<'_>) -> Result<bool> {
        put_claim(&self.client, &self.table, self.retention, c, write).await
    }

    /// Keeps a richer delivery with a `submitted` meeting for after its job.
    async fn defer(&self, c: &MeetingClaim, seen: &SeenRun) -> Result<bool> {
        let Ok(event) = serde_json::to_string(&c.event) else {
            return Err(Error::Invalid("the delivery's event cannot be kept".into()));
        };
        if event.len() > MAX_KEPT_EVENT_BYTES {
            return Err(Error::Invalid("the delivery's event is too large to keep".into()));
        }
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(c.key.as_str()));
        let (mut req, guard) = guarded(req, Step::DeferDelivery);
        if seen.has_run {
            req = req.expression_attribute_values(":seen_run", n(seen.run.into()));
        }
        let res = req
            .update_expression("SET #st = :to, next_event = :ev, next_audio_files = :files, updated_at = :now")
            .condition_expression(format!(
                "{guard} AND {} AND (attribute_not_exists(next_audio_files) OR next_audio_files < :files)",
                seen.run_clause()
            ))
            .expression_attribute_names("#run", RUN)
            .expression_attribute_values(":ev", s(&event))
            .expression_attribute_values(":files", n(c.audio_files.into()))
            .expression_attribute_values(":now", s(&now_rfc3339()))
            .send()
            .await;
        conditional(res)
    }
}

impl SeenRun {
    /// The condition that the record is still this run (`:seen_run` holds its number).
    fn run_clause(&self) -> &'static str {
        if self.has_run {
            "#run = :seen_run"
        } else {
            "attribute_not_exists(#run)"
        }
    }
}

/// The claimed run of a meeting, read consistently; `None` if there is no record.
pub(crate) async fn run_of(client: &Client, table: &str, key: &str) -> Result<Option<SeenRun>> {
    let out = client
        .get_item()
        .table_name(table)
        .key(PK, s(key))
        .consistent_read(true)
        .projection_expression("#st, audio_files, next_audio_files, #run, attempt, claim_until")
        .expression_attribute_names("#st", "status")
        .expression_attribute_names("#run", RUN)
        .send()
        .await
        .map_err(|e| sdk_error("dynamodb", e))?;
    let Some(item) = out.item else { return Ok(None) };
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
    };
    let Some(state) = item
        .get("status")
        .and_then(|v| v.as_s().ok())
        .and_then(|v| MeetingState::parse(v))
    else {
        return Err(Error::Invalid(format!("meeting {key} has no known status")));
    };
    Ok(Some(SeenRun {
        state,
        audio_files: number("audio_files").unwrap_or(u32::MAX),
        deferred_files: number("next_audio_files"),
        run: number(RUN).unwrap_or(1),
        attempt: number("attempt"),
        has_run: item.contains_key(RUN),
        claim_until: item
            .get(CLAIM_UNTIL)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok()),
    }))
}

/// Puts the claim's item (a put replaces the whole item: a taken-over claim or an earlier run
/// leaves nothing of its own behind). `false` if its condition failed.
pub(crate) async fn put_claim(
    client: &Client,
    table: &str,
    retention: Option<Duration>,
    c: &MeetingClaim,
    write: ClaimWrite<'_>,
) -> Result<bool> {
    let mut put = client
        .put_item()
        .table_name(table)
        .item(PK, s(c.key.as_str()))
        .item("uuid", s(&c.uuid))
        .item("meeting_id", s(&c.meeting_id))
        .item("topic", s(&c.topic))
        .item("host_email", s(&c.host_email))
        .item("status", state(Step::Claim.to()))
        .item("claim_id", s(&c.claim_id))
        .item(CLAIM_UNTIL, n(c.lease_until))
        .item(DUE_AT, n(c.lease_until))
        .item("received_at", s(&c.received_at))
        .item("updated_at", s(&c.received_at))
        .item("audio_files", n(c.audio_files.into()))
        .item("start_time", s(&c.event.payload.object.start_time));
    if !c.unfinished_files.is_empty() {
        put = put.item(
            "unfinished_files",
            AttributeValue::L(c.unfinished_files.iter().map(|f| s(f)).collect()),
        );
    }
    let (run, seen) = match write {
        ClaimWrite::First => {
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK);
            (1, None)
        }
        ClaimWrite::TakeOver(seen, now) => {
            put = put
                .condition_expression(format!("#st = :seen AND {} AND #until < :now", seen.run_clause()))
                .expression_attribute_names("#until", CLAIM_UNTIL)
                .expression_attribute_values(":now", n(now));
            (seen.run, Some(seen))
        }
        ClaimWrite::Restart(seen) => {
            put = put
                .item("restarted_at", s(&c.received_at))
                .condition_expression(format!("#st = :seen AND {}", seen.run_clause()));
            (seen.run + 1, Some(seen))
        }
    };
    put = put.item(RUN, n(run.into()));
    if let Some(seen) = seen {
        // Only conditions on a seen record name these (DynamoDB refuses unused names).
        put = put
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#run", RUN)
            .expression_attribute_values(":seen", state(seen.state));
        if seen.has_run {
            put = put.expression_attribute_values(":seen_run", n(seen.run.into()));
        }
        // The attempts continue their count: an earlier run's attempt never passes for one of this run.
        if let Some(attempt) = seen.attempt {
            put = put.item("attempt", n(attempt.into()));
        }
    }
    match serde_json::to_string(&c.event) {
        Ok(json) if json.len() <= MAX_KEPT_EVENT_BYTES => put = put.item(EVENT, s(&json)),
        Ok(json) => tracing::warn!(bytes = json.len(), "event too large to keep with the claim"),
        Err(e) => tracing::warn!(error = %e, "could not keep the event with the claim"),
    }
    if let Some(ts) = c.event_ts {
        put = put.item("event_ts", AttributeValue::N(ts.to_string()));
    }
    if let Some(t) = &c.tracking_id {
        put = put.item("zoom_tracking_id", s(t));
    }
    if let Some(replay) = &c.replay {
        put = put.item(REPLAY_ORIGINALS, s(&replay.originals_prefix));
    }
    if let Some(month) = c.received_at.get(..7) {
        put = put.item(RECEIVED_MONTH, s(month));
    }
    if let Some(link) = c.event.payload.object.share_url.as_deref().filter(|l| !l.is_empty()) {
        put = put.item(SHARE_URL, s(link));
    }
    // The failure email shows the meeting's time in its own zone, even if production never ran.
    if let Some(tz) = c.event.payload.object.timezone.as_deref().filter(|t| !t.is_empty()) {
        put = put.item("timezone", s(tz));
    }
    if let Some(retention) = retention {
        put = put.item(EXPIRES_AT, expiry(retention));
    }
    conditional(put.send().await)
}

/// What an operator's replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayStart {
    /// The claim of the next run is written; the caller starts its producer.
    Started {
        run: u32,
    },
    /// A run is in flight (or the record changed while replaying): nothing was written.
    InFlight(MeetingState),
    NoSuchMeeting,
}

impl DynamoMeetings {
    /// Claims the meeting's next run for an operator's replay (`c.replay` says from where),
    /// only from a final state: a run in flight is never replaced.
    pub async fn replay(&self, c: &MeetingClaim) -> Result<ReplayStart> {
        let Some(seen) = self.run_of(&c.key).await? else {
            return Ok(ReplayStart::NoSuchMeeting);
        };
        if !Step::Replay.from().contains(&seen.state) {
            return Ok(ReplayStart::InFlight(seen.state));
        }
        if self.put_claim(c, ClaimWrite::Restart(&seen)).await? {
            return Ok(ReplayStart::Started { run: seen.run + 1 });
        }
        let now = self.run_of(&c.key).await?.map_or(seen.state, |s| s.state);
        Ok(ReplayStart::InFlight(now))
    }

    /// The meeting's status and, when it failed, why.
    async fn status_of(&self, key: &MeetingKey) -> Result<(Option<MeetingState>, Option<String>)> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()))
            .consistent_read(true)
            .projection_expression("#st, failure_reason")
            .expression_attribute_names("#st", "status")
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", e))?;
        let text = |name: &str| {
            out.item
                .as_ref()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_s().ok())
                .cloned()
        };
        Ok((
            text("status").as_deref().and_then(MeetingState::parse),
            text("failure_reason"),
        ))
    }
}

impl MeetingClaims for DynamoMeetings {
    async fn claim(&self, c: &MeetingClaim, now: i64) -> Result<ClaimOutcome> {
        // A few rounds: each conditional write that loses re-reads what won.
        for _ in 0..3 {
            if self.put_claim(c, ClaimWrite::First).await? {
                return Ok(ClaimOutcome::Claimed);
            }
            // Released between the two calls: claim it afresh.
            let Some(seen) = self.run_of(&c.key).await? else {
                continue;
            };
            if seen.state == Step::TakeOverClaim.from()[0] && seen.claim_until.is_some_and(|until| until < now) {
                if self.put_claim(c, ClaimWrite::TakeOver(&seen, now)).await? {
                    return Ok(ClaimOutcome::Claimed);
                }
                continue;
            }
            match Step::for_richer_delivery(seen.state, seen.audio_files, seen.deferred_files, c.audio_files) {
                None => return Ok(ClaimOutcome::AlreadyClaimed),
                Some(Step::Restart) => {
                    if self.put_claim(c, ClaimWrite::Restart(&seen)).await? {
                        return Ok(ClaimOutcome::Restarted { run: seen.run + 1 });
                    }
                }
                Some(_) => {
                    if self.defer(c, &seen).await? {
                        return Ok(ClaimOutcome::Deferred);
                    }
                }
            }
        }
        Err(Error::retryable(
            "dynamodb",
            "the meeting record kept changing while claiming it",
        ))
    }

    async fn release(&self, c: &MeetingClaim) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(c.key.as_str()))
            .condition_expression("claim_id = :claim AND #st = :received")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":claim", s(&c.claim_id))
            .expression_attribute_values(":received", state(MeetingState::Received))
            .send()
            .await;
        // Not ours any more (or already gone): nothing to undo.
        conditional(res).map(drop)
    }

    async fn mark_dispatched(&self, c: &MeetingClaim) -> Result<()> {
        let now = now_rfc3339();
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(c.key.as_str()));
        let (req, guard) = guarded(req, Step::Dispatch);
        let res = req
            .update_expression("SET #st = :to, dispatched_at = :now, updated_at = :now, #due = :due REMOVE claim_until")
            .condition_expression(format!("claim_id = :claim AND {guard}"))
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":claim", s(&c.claim_id))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":due", n(unix_now() + deadline::DISPATCHED_SECS))
            .send()
            .await;
        // The producer may already have moved the meeting on; that is progress, not an error.
        conditional(res).map(drop)
    }
}

impl MeetingStore for DynamoMeetings {
    async fn begin_production(&self, key: &MeetingKey, run: u32, lease_secs: u64) -> Result<ProductionStart> {
        let now = unix_now();
        let lease = now + lease_secs as i64;
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()));
        let (req, guard) = guarded(req, Step::BeginProduction);
        let run_clause = if run <= 1 {
            "attribute_not_exists(#run) OR #run = :run"
        } else {
            "#run = :run"
        };
        let res = req
            .update_expression(
                "SET #st = :to, lease_until = :lease, #due = :lease, \
                 attempt = if_not_exists(attempt, :zero) + :one, updated_at = :now, production_started_at = :now",
            )
            // A `producing` meeting only once its attempt's lease lapsed. (A comparison with an
            // absent attribute is false in DynamoDB, hence the explicit first case.)
            // And only the record's own run: a restart's earlier event must not be produced
            // (records from before runs are the first run).
            .condition_expression(format!(
                "{guard} AND (attribute_not_exists(#st) OR #st <> :to OR lease_until < :epoch) \
                 AND ({run_clause})"
            ))
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_names("#run", RUN)
            .expression_attribute_values(":run", n(run.into()))
            .expression_attribute_values(":lease", n(lease))
            .expression_attribute_values(":epoch", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(&now_rfc3339()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let attempt = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("attempt"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Ok(ProductionStart::Produce { attempt })
            }
            Err(e) if conditional_failed(&e) => {
                let (state, reason) = self.status_of(key).await?;
                if let Some(seen) = self.run_of(key).await?.filter(|seen| seen.run > run) {
                    return Ok(ProductionStart::Superseded { run: seen.run });
                }
                Ok(match state {
                    Some(MeetingState::Produced) => ProductionStart::EnqueueOnly,
                    Some(MeetingState::Producing) => ProductionStart::Busy,
                    Some(MeetingState::Failed) => ProductionStart::Failed {
                        reason: reason.unwrap_or_default(),
                    },
                    _ => ProductionStart::AlreadyDone,
                })
            }
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn save_produced(&self, key: &MeetingKey, attempt: u32, audio: &ProducedAudio) -> Result<()> {
        let audio_attr: AttributeValue =
            serde_dynamo::to_attribute_value(audio).map_err(|e| Error::Invalid(format!("meeting record: {e}")))?;
        let now = now_rfc3339();
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()));
        let (req, guard) = guarded(req, Step::SaveProduced);
        req.update_expression(
            "SET #st = :to, audio = :audio, topic = :topic, host_email = :host, start_time = :start, \
             duration_secs = :dur, #mode = :mode, produced_at = :now, updated_at = :now, #due = :due \
             REMOVE lease_until, failure_reason, #event",
        )
        // Only the attempt that holds the lease: a lapsed one must not overwrite the winner's channels.
        .condition_expression(format!("{guard} AND attempt = :attempt"))
        .expression_attribute_names("#mode", "mode")
        .expression_attribute_names("#due", DUE_AT)
        // Only a producer that never started needs the event again.
        .expression_attribute_names("#event", EVENT)
        .expression_attribute_values(":attempt", n(i64::from(attempt)))
        .expression_attribute_values(":audio", audio_attr)
        .expression_attribute_values(":topic", s(&audio.topic))
        .expression_attribute_values(":host", s(&audio.host_email))
        .expression_attribute_values(":start", s(&audio.start_time))
        .expression_attribute_values(":dur", AttributeValue::N(format!("{:.3}", audio.duration_secs)))
        .expression_attribute_values(
            ":mode",
            serde_dynamo::to_attribute_value(audio.mode).map_err(|e| Error::Invalid(e.to_string()))?,
        )
        .expression_attribute_values(":now", s(&now))
        .expression_attribute_values(":due", n(unix_now() + deadline::PRODUCED_SECS))
        .send()
        .await
        .map_err(|e| {
            if conditional_failed(&e) {
                Error::retryable("dynamodb", "lost the production lease to another invocation")
            } else {
                sdk_error("dynamodb", e)
            }
        })?;
        Ok(())
    }

    async fn mark_queued(&self, key: &MeetingKey) -> Result<()> {
        let now = now_rfc3339();
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()));
        let (req, guard) = guarded(req, Step::Queue);
        let res = req
            .update_expression("SET #st = :to, queued_at = :now, updated_at = :now, #due = :due")
            .condition_expression(guard)
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":due", n(unix_now() + deadline::QUEUED_SECS))
            .send()
            .await;
        // Already moved on (the consumer may be faster than us): fine.
        conditional(res).map(drop)
    }

    async fn renew_lease(&self, key: &MeetingKey, attempt: u32, lease_secs: u64) -> Result<bool> {
        let lease = n(unix_now() + lease_secs as i64);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()))
            .update_expression("SET lease_until = :lease, #due = :lease")
            .condition_expression("#st = :producing AND attempt = :attempt")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":producing", state(MeetingState::Producing))
            .expression_attribute_values(":attempt", n(i64::from(attempt)))
            .expression_attribute_values(":lease", lease)
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(sdk_error("dynamodb", e)),
        }
    }

    async fn mark_failed(&self, key: &MeetingKey, attempt: u32, reason: &str, finality: Finality) -> Result<()> {
        let now = now_rfc3339();
        let step = match finality {
            Finality::WillRetry => Step::RetryProduction,
            Finality::Final => Step::FailProduction,
        };
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()));
        let (req, guard) = guarded(req, step);
        // `lease_until` now: the reconciler fails a retry that never comes (see `fail_stalled`);
        // a final failure is due at once, for its email.
        let res = req
            .update_expression(
                "SET #st = :to, failure_reason = :reason, failed_at = :now, updated_at = :now, \
                 lease_until = :epoch, #due = :epoch",
            )
            // A later attempt owns the meeting now: this one's failure must not overwrite it.
            .condition_expression(format!("{guard} AND attempt = :attempt"))
            .expression_attribute_names("#due", DUE_AT)
            .expression_attribute_values(":attempt", n(i64::from(attempt)))
            .expression_attribute_values(":reason", s(reason))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":epoch", n(unix_now()))
            .send()
            .await;
        // A later stage owns the meeting (or it already failed); a stale failure must not overwrite it.
        conditional(res).map(drop)
    }
}

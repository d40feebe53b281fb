//! The webhook logic, generic over the meeting-claim store and the producer invoker.

use std::time::Instant;

use http::HeaderMap;
use serde_json::{json, Value};
use tracing::{error, info, info_span, warn, Instrument};
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{ClaimOutcome, MeetingClaim, MeetingClaims, ProducerInvoker, ProducerJob};
use zoom_symbl_core::zoom::{HostAllowList, RecordingCompleted, WebhookVerifier, ZoomEvent};

/// A request as the handler sees it: headers (case-insensitive by construction) and raw body bytes.
pub struct Incoming {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply { status: 200, body }
    }

    fn error(status: u16, message: &str) -> Self {
        Reply {
            status,
            body: json!({ "error": message }),
        }
    }
}

pub struct ZoomWebhook<C, P> {
    pub verifier: WebhookVerifier,
    pub allowed_hosts: HostAllowList,
    pub max_body_bytes: usize,
    /// See [`MeetingClaim::lease_until`].
    pub claim_lease_secs: u64,
    pub claims: C,
    pub producer: P,
    /// Unix seconds; injected so tests can pin time.
    pub clock: fn() -> i64,
}

impl<C: MeetingClaims, P: ProducerInvoker> ZoomWebhook<C, P> {
    pub async fn handle(&self, req: Incoming) -> Reply {
        let tracking_id = header(&req.headers, "x-zm-trackingid").map(str::to_owned);
        let span = info_span!("zoom_webhook", zoom_tracking_id = tracking_id.as_deref().unwrap_or(""));
        self.handle_inner(req, tracking_id).instrument(span).await
    }

    async fn handle_inner(&self, req: Incoming, tracking_id: Option<String>) -> Reply {
        if req.body.len() > self.max_body_bytes {
            warn!(
                bytes = req.body.len(),
                limit = self.max_body_bytes,
                "refused oversized body"
            );
            return Reply::error(413, "request body too large");
        }
        if let Err(e) = self.verifier.verify(
            header(&req.headers, "x-zm-request-timestamp"),
            header(&req.headers, "x-zm-signature"),
            &req.body,
            (self.clock)(),
        ) {
            warn!(reason = %e, "refused unverified webhook");
            return Reply::error(401, "invalid or missing signature");
        }
        let event = match ZoomEvent::parse(&req.body) {
            Ok(event) => event,
            Err(e) => {
                warn!(error = %e, "refused malformed webhook");
                return Reply::error(400, "malformed webhook body");
            }
        };
        match event {
            ZoomEvent::UrlValidation { plain_token } => {
                info!("answered endpoint.url_validation");
                let encrypted = self.verifier.encrypt_token(&plain_token);
                Reply::ok(json!({ "plainToken": plain_token, "encryptedToken": encrypted }))
            }
            ZoomEvent::Other { event } => {
                info!(event = %event, "ignored event type");
                Reply::ok(json!({ "status": "ignored", "event": event }))
            }
            ZoomEvent::RecordingCompleted(rec) => self.recording_completed(*rec, tracking_id).await,
        }
    }

    async fn recording_completed(&self, rec: RecordingCompleted, tracking_id: Option<String>) -> Reply {
        let object = &rec.payload.object;
        let key = MeetingKey::from_uuid(&object.uuid);
        let span = info_span!("recording_completed", meeting_uuid = %object.uuid, meeting_key = %key);
        async {
            if let Some(refused) = self.refuse_disallowed_hosts(&rec) {
                return refused;
            }
            let now = (self.clock)();
            // The lease and the claim's condition read one `now`, so the lease is exactly its length.
            let claim = MeetingClaim::of_delivery(&rec, tracking_id, now, self.claim_lease_secs);
            // Stage timings go into the outcome's log line: under a burst they show where the
            // webhook's time went (the claim's write, the producer's invoke).
            let started = Instant::now();
            let claimed = self.claims.claim(&claim, now).await;
            let claim_ms = millis_since(started);
            match claimed {
                Ok(ClaimOutcome::Claimed) => self.dispatch(&rec, &claim, 1, claim_ms).await,
                Ok(ClaimOutcome::Restarted { run }) => {
                    info!(run, audio_files = claim.audio_files, "a richer delivery; the meeting starts over");
                    self.dispatch(&rec, &claim, run, claim_ms).await
                }
                Ok(ClaimOutcome::Deferred) => {
                    info!(
                        audio_files = claim.audio_files,
                        claim_ms, "a richer delivery while the provider works on the earlier audio; kept for after it"
                    );
                    Reply::ok(json!({ "status": "deferred" }))
                }
                Ok(ClaimOutcome::AlreadyClaimed) => {
                    info!(claim_ms, "duplicate delivery; meeting already claimed");
                    Reply::ok(json!({ "status": "duplicate" }))
                }
                Err(e) => {
                    error!(error = %e, retryable = e.is_retryable(), claim_ms, "could not claim meeting; Zoom will retry");
                    Reply::error(503, "temporarily unable to accept the recording")
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Our Zoom credentials go only to Zoom's own https hosts.
    fn refuse_disallowed_hosts(&self, rec: &RecordingCompleted) -> Option<Reply> {
        let refused = rec
            .payload
            .object
            .download_urls()
            .find_map(|url| self.allowed_hosts.check(url).err())?;
        // The URL's path may carry an opaque credential; log only why it was refused.
        warn!(reason = %refused, "refused recording.completed with a disallowed download URL");
        Some(Reply::error(400, "download URL is not https on an allowed host"))
    }

    /// Holding the claim: starts the producer, or gives the claim back so Zoom's retry can.
    async fn dispatch(&self, rec: &RecordingCompleted, claim: &MeetingClaim, run: u32, claim_ms: u64) -> Reply {
        let job = ProducerJob {
            meeting_key: claim.key.to_string(),
            claim_id: claim.claim_id.clone(),
            received_at: claim.received_at.clone(),
            tracking_id: claim.tracking_id.clone(),
            event: claim.event.clone(),
            run,
            replay: None,
        };
        let started = Instant::now();
        let invoked = self.producer.invoke(&job).await;
        let invoke_ms = millis_since(started);
        if let Err(e) = invoked {
            error!(error = %e, retryable = e.is_retryable(), claim_ms, invoke_ms, "producer invoke failed; releasing claim so Zoom's retry is accepted");
            if let Err(release) = self.claims.release(claim).await {
                // The claim stays until its lease lapses; a later delivery then takes it over.
                error!(error = %release, "could not release claim after failed invoke");
            }
            return Reply::error(503, "temporarily unable to start processing");
        }
        if let Err(e) = self.claims.mark_dispatched(claim).await {
            // The producer has the job; the record's status catches up when it writes.
            warn!(error = %e, "could not mark meeting dispatched");
        }
        let participants = rec.payload.object.participant_audio_files.as_ref().map_or(0, Vec::len);
        info!(participants, claim_ms, invoke_ms, "meeting accepted; producer invoked");
        if run == 1 {
            Reply::ok(json!({ "status": "accepted" }))
        } else {
            Reply::ok(json!({ "status": "restarted", "run": run }))
        }
    }
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use zoom_symbl_core::lifecycle::MeetingState;
    use zoom_symbl_core::secret::SecretString;
    use zoom_symbl_core::testkit::{samples, Faults, MemMeetings, MemProducer};

    use super::*;

    const SECRET: &str = "zm_test_secret_token_123";
    const NOW: i64 = 1_701_461_200;

    fn webhook(claims: MemMeetings, producer: MemProducer) -> ZoomWebhook<MemMeetings, MemProducer> {
        ZoomWebhook {
            verifier: WebhookVerifier::new(SecretString::new(SECRET), 300).unwrap(),
            allowed_hosts: HostAllowList::default(),
            max_body_bytes: 1 << 20,
            claim_lease_secs: 30,
            claims,
            producer,
            clock: || NOW,
        }
    }

    fn signed(body: &str, ts: i64) -> Incoming {
        let v = WebhookVerifier::new(SecretString::new(SECRET), 300).unwrap();
        let ts = ts.to_string();
        let mut headers = HeaderMap::new();
        // Mixed case on purpose: header lookup must not depend on it.
        headers.insert("X-Zm-Request-Timestamp", HeaderValue::from_str(&ts).unwrap());
        headers.insert(
            "X-ZM-SIGNATURE",
            HeaderValue::from_str(&v.sign(&ts, body.as_bytes())).unwrap(),
        );
        Incoming {
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn sample() -> String {
        samples::RECORDING_COMPLETED.to_owned()
    }

    #[tokio::test]
    async fn the_sample_api_gateway_request_is_answered() {
        let req = lambda_http::request::from_str(include_str!("../../../events/zoom-webhook-apigw.json")).unwrap();
        let mut hook = webhook(MemMeetings::default(), MemProducer::default());
        hook.clock = || 1_701_461_195;
        let reply = hook.handle(crate::http_io::incoming(req)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body["encryptedToken"],
            "672785779fef03b9e9983134331e00b156084d3cd0f8a20356b85a57fe7d61df"
        );
    }

    #[tokio::test]
    async fn url_validation_contract_vector() {
        let body = r#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1701461195123}"#;
        let reply = webhook(MemMeetings::default(), MemProducer::default())
            .handle(signed(body, 1701461195))
            .await;
        assert_eq!(
            reply,
            Reply::ok(json!({
                "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                "encryptedToken": "672785779fef03b9e9983134331e00b156084d3cd0f8a20356b85a57fe7d61df"
            }))
        );
    }

    #[tokio::test]
    async fn recording_completed_claims_and_invokes_once() {
        let hook = webhook(MemMeetings::default(), MemProducer::default());
        let reply = hook.handle(signed(&sample(), NOW)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let again = hook.handle(signed(&sample(), NOW)).await;
        assert_eq!(again, Reply::ok(json!({ "status": "duplicate" })));
        let jobs = hook.producer.jobs.lock().unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            jobs[0].meeting_key,
            MeetingKey::from_uuid("tFpXbu/pQ9+zPgGteb/Krw==").to_string()
        );
        assert!(jobs[0].event.download_token.is_some());
        assert_eq!(hook.claims.rows.lock().unwrap().len(), 1);
        assert_eq!(hook.claims.in_status(MeetingState::Dispatched).len(), 1);
    }

    /// The sample delivery with participant file `i` still processing at Zoom.
    fn with_file_processing(i: usize) -> String {
        let mut v: Value = serde_json::from_str(&sample()).unwrap();
        v["payload"]["object"]["participant_audio_files"][i]["status"] = json!("processing");
        v.to_string()
    }

    #[tokio::test]
    async fn a_richer_delivery_restarts_the_meeting_as_its_next_run() {
        for state in [
            MeetingState::Dispatched,
            MeetingState::Queued,
            MeetingState::Transcribed,
            MeetingState::Failed,
        ] {
            let hook = webhook(MemMeetings::default(), MemProducer::default());
            let first = hook.handle(signed(&with_file_processing(1), NOW)).await;
            assert_eq!(first, Reply::ok(json!({ "status": "accepted" })));
            let key = samples::meeting_key();
            let row = hook.claims.row(key.as_str()).unwrap();
            assert_eq!(
                row.claim.as_ref().unwrap().unfinished_files,
                ["Audio only - Mary-Jane O'Neil: processing"]
            );
            hook.claims.rows.lock().unwrap().get_mut(key.as_str()).unwrap().status = Some(state);
            // The same poorer delivery again is a duplicate in every state.
            let again = hook.handle(signed(&with_file_processing(1), NOW)).await;
            assert_eq!(again, Reply::ok(json!({ "status": "duplicate" })), "{state}");
            let richer = hook.handle(signed(&sample(), NOW)).await;
            assert_eq!(richer, Reply::ok(json!({ "status": "restarted", "run": 2 })), "{state}");
            let after = hook.handle(signed(&sample(), NOW)).await;
            assert_eq!(after, Reply::ok(json!({ "status": "duplicate" })), "{state}: once");
            let jobs = hook.producer.jobs.lock().unwrap();
            assert_eq!(jobs.len(), 2, "{state}");
            assert_eq!((jobs[0].run, jobs[1].run), (1, 2));
            assert_eq!(
                jobs[1].event.payload.object.completed_audio_files(),
                4,
                "with every file"
            );
            let row = hook.claims.row(key.as_str()).unwrap();
            assert_eq!(row.status, Some(MeetingState::Dispatched));
            assert!(row.claim.unwrap().unfinished_files.is_empty());
        }
    }

    #[tokio::test]
    async fn a_richer_delivery_while_the_provider_works_is_kept_for_after_its_job() {
        let hook = webhook(MemMeetings::default(), MemProducer::default());
        hook.handle(signed(&with_file_processing(2), NOW)).await;
        let key = samples::meeting_key();
        hook.claims.rows.lock().unwrap().get_mut(key.as_str()).unwrap().status = Some(MeetingState::Submitted);
        let richer = hook.handle(signed(&sample(), NOW)).await;
        assert_eq!(richer, Reply::ok(json!({ "status": "deferred" })));
        let again = hook.handle(signed(&sample(), NOW)).await;
        assert_eq!(again, Reply::ok(json!({ "status": "duplicate" })), "kept once");
        assert_eq!(hook.producer.jobs.lock().unwrap().len(), 1, "nothing started meanwhile");
        let row = hook.claims.row(key.as_str()).unwrap();
        assert_eq!(row.status, Some(MeetingState::Submitted));
        assert_eq!(row.deferred.unwrap().audio_files, 4);
    }

    #[tokio::test]
    async fn a_claim_whose_delivery_died_before_the_invoke_is_taken_over_once_its_lease_lapses() {
        let mut hook = webhook(MemMeetings::default(), MemProducer::default());
        // A delivery that claimed at NOW and was killed before it started the producer.
        let body = sample();
        let dead = samples::claim("dead-delivery", NOW + 30);
        assert_eq!(hook.claims.claim(&dead, NOW).await.unwrap(), ClaimOutcome::Claimed);
        hook.clock = || NOW + 10;
        let early = hook.handle(signed(&body, NOW + 10)).await;
        assert_eq!(
            early,
            Reply::ok(json!({ "status": "duplicate" })),
            "a live lease is respected"
        );
        hook.clock = || NOW + 31;
        let late = hook.handle(signed(&body, NOW + 31)).await;
        assert_eq!(
            late,
            Reply::ok(json!({ "status": "accepted" })),
            "a lapsed lease is taken over"
        );
        let again = hook.handle(signed(&body, NOW + 31)).await;
        assert_eq!(again, Reply::ok(json!({ "status": "duplicate" })), "and started once");
        assert_eq!(hook.producer.jobs.lock().unwrap().len(), 1);
        let claims = hook.claims.rows.lock().unwrap();
        assert_eq!(claims.len(), 1);
        // The claim as the taking-over delivery wrote it.
        let claim = claims[dead.key.as_str()].claim.clone().unwrap();
        assert_ne!(claim.claim_id, "dead-delivery");
        assert_eq!(claim.lease_until, NOW + 31 + 30);
    }

    #[tokio::test]
    async fn failed_invoke_releases_claim_and_asks_for_retry() {
        let hook = webhook(MemMeetings::default(), MemProducer::default().failing("invoke"));
        let reply = hook.handle(signed(&sample(), NOW)).await;
        assert_eq!(reply.status, 503);
        assert!(hook.claims.rows.lock().unwrap().is_empty(), "claim must be released");
        assert!(hook.claims.in_status(MeetingState::Dispatched).is_empty());
    }

    #[tokio::test]
    async fn claim_store_down_asks_for_retry_and_invokes_nothing() {
        let hook = webhook(MemMeetings::default().failing("claim"), MemProducer::default());
        assert_eq!(hook.handle(signed(&sample(), NOW)).await.status, 503);
        assert!(hook.producer.jobs.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn refusals() {
        let hook = webhook(MemMeetings::default(), MemProducer::default());
        // forged signature
        let mut forged = signed(&sample(), NOW);
        forged.body = sample().replace("Q3 planning sync", "Q4").into_bytes();
        assert_eq!(hook.handle(forged).await.status, 401);
        // missing headers
        assert_eq!(
            hook.handle(Incoming {
                headers: HeaderMap::new(),
                body: sample().into_bytes()
            })
            .await
            .status,
            401
        );
        // stale
        assert_eq!(hook.handle(signed(&sample(), NOW - 301)).await.status, 401);
        // malformed JSON under a valid signature
        assert_eq!(hook.handle(signed("{\"event\":", NOW)).await.status, 400);
        // oversized
        let big = format!("{{\"event\":\"x\",\"pad\":\"{}\"}}", "a".repeat(1 << 20));
        assert_eq!(hook.handle(signed(&big, NOW)).await.status, 413);
        // other event types are acknowledged
        let other = hook
            .handle(signed(r#"{"event":"meeting.started","payload":{}}"#, NOW))
            .await;
        assert_eq!(other.status, 200);
        assert!(hook.producer.jobs.lock().unwrap().is_empty());
        assert!(hook.claims.rows.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn disallowed_download_hosts_are_refused_before_any_claim() {
        let hook = webhook(MemMeetings::default(), MemProducer::default());
        for bad in [
            "https://evil.example.com/rec/webhook_download/p1-opaque",
            "http://us02web.zoom.us/rec/webhook_download/p1-opaque",
        ] {
            let body = sample().replace("https://us02web.zoom.us/rec/webhook_download/p1-opaque", bad);
            assert_eq!(hook.handle(signed(&body, NOW)).await.status, 400, "{bad}");
        }
        assert!(hook.claims.rows.lock().unwrap().is_empty());
        assert!(hook.producer.jobs.lock().unwrap().is_empty());
    }
}

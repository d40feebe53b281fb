//! Symbl's job-status callbacks: authenticated by the unguessable token in the URL (Symbl
//! signs nothing), checked against our own jobs, handed to the notifier. Answers fast.

use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tracing::{info, warn};
use zoom_symbl_core::lifecycle::JobState;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::ports::{JobLookup, NotifierInvoker, StatusEvent};
use zoom_symbl_core::secret::SecretString;

/// Symbl's callbacks are a few dozen bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct Incoming {
    pub token: Option<String>,
    /// The meeting the job's callback URL names (`m`), for a job we never recorded.
    pub meeting: Option<String>,
    pub body: Vec<u8>,
}

/// The `t` and `m` query parameters (decoded) and the body bytes of an API Gateway request.
pub fn incoming(req: lambda_http::Request) -> Incoming {
    use lambda_http::RequestExt;
    let query = req.query_string_parameters_ref();
    let token = query.and_then(|q| q.first("t")).map(str::to_owned);
    let meeting = query.and_then(|q| q.first("m")).map(str::to_owned);
    let body = match req.into_body() {
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Incoming { token, meeting, body }
}

#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// `{"id"|"jobId": ..., "status": ...}`; anything else in it is ignored.
#[derive(Debug, Deserialize)]
struct Callback {
    #[serde(alias = "jobId")]
    id: String,
    /// Symbl's own status names, mapped into the lifecycle's job states.
    status: zoom_symbl_core::symbl::model::JobStatus,
}

pub struct SymblWebhook<J, N> {
    pub token: SecretString,
    pub jobs: J,
    pub notifier: N,
}

impl<J: JobLookup, N: NotifierInvoker> SymblWebhook<J, N> {
    pub async fn handle(&self, req: Incoming) -> Reply {
        let presented = req.token.unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(self.token.expose().as_bytes())) || presented.is_empty() {
            warn!("refused a Symbl callback without the right token");
            return error(401, "unauthorized");
        }
        if req.body.len() > MAX_BODY_BYTES {
            return error(413, "request body too large");
        }
        let cb: Callback = match serde_json::from_slice(&req.body) {
            Ok(cb) => cb,
            Err(e) => {
                warn!(error = %e, "malformed Symbl callback");
                return error(400, "malformed callback body");
            }
        };
        if cb.id.is_empty() || cb.id.len() > 128 {
            return error(400, "malformed job id");
        }
        // Only a well-formed meeting key is passed on; the notifier checks it is the job's.
        let meeting = req.meeting.filter(|m| MeetingKey::parse(m).is_ok());
        let mut adopt = None;
        match self.jobs.get(&cb.id).await {
            Ok(Some(_)) => {}
            Ok(None) if meeting.is_some() => {
                info!(job_id = %cb.id, status = ?cb.status, "callback for a job never recorded; the notifier may adopt it");
                adopt = meeting;
            }
            Ok(None) => {
                info!(job_id = %cb.id, status = ?cb.status, "callback for a job we do not know; ignored");
                return Reply {
                    status: 200,
                    body: json!({ "status": "ignored" }),
                };
            }
            Err(e) => {
                warn!(error = %e, "jobs table unavailable");
                return error(503, "temporarily unavailable");
            }
        }
        let event = StatusEvent {
            job_id: cb.id.clone(),
            status: JobState::from(cb.status),
            source: "webhook".into(),
            meeting_key: adopt,
        };
        if let Err(e) = self.notifier.invoke(&event).await {
            // The reconciler polls overdue jobs, so a callback lost here is not lost for good.
            warn!(error = %e, job_id = %cb.id, "could not hand the status to the notifier");
            return error(503, "temporarily unavailable");
        }
        info!(job_id = %cb.id, status = ?cb.status, "status handed to the notifier");
        Reply {
            status: 200,
            body: json!({ "status": "accepted" }),
        }
    }
}

fn error(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: json!({ "error": message }),
    }
}

#[cfg(test)]
mod tests {
    use zoom_symbl_core::testkit::{samples, Faults, MemJobs, MemNotifier};

    use super::*;

    /// Only the job "known" is ours.
    fn hook(failing: bool) -> SymblWebhook<MemJobs, MemNotifier> {
        let notifier = MemNotifier::default();
        if failing {
            notifier.fail("invoke");
        }
        SymblWebhook {
            token: SecretString::new("tok"),
            jobs: MemJobs::default().with_job(samples::scheduled_job("known", "m")),
            notifier,
        }
    }

    fn req(token: Option<&str>, body: &str) -> Incoming {
        Incoming {
            token: token.map(str::to_owned),
            meeting: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn a_job_never_recorded_is_passed_on_when_its_callback_names_a_meeting() {
        let h = hook(false);
        let key = samples::meeting_key().to_string();
        let named = |meeting: &str| Incoming {
            meeting: Some(meeting.to_owned()),
            ..req(Some("tok"), r#"{"id":"lost","status":"in_progress"}"#)
        };
        assert_eq!(h.handle(named(&key)).await.body, json!({"status": "accepted"}));
        assert_eq!(
            h.handle(named("not a meeting key")).await.body,
            json!({"status": "ignored"}),
            "only a well-formed meeting key"
        );
        let known = Incoming {
            meeting: Some(key.clone()),
            ..req(Some("tok"), r#"{"id":"known","status":"scheduled"}"#)
        };
        h.handle(known).await;
        let seen = h.notifier.events.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].meeting_key.as_deref(), Some(key.as_str()));
        assert_eq!(seen[1].meeting_key, None, "a recorded job needs no adopting");
    }

    #[tokio::test]
    async fn id_or_job_id_with_extra_fields() {
        let h = hook(false);
        assert_eq!(
            h.handle(req(Some("tok"), r#"{"id":"known","status":"scheduled"}"#))
                .await
                .status,
            200
        );
        assert_eq!(
            h.handle(req(Some("tok"), r#"{"jobId":"known","status":"completed","x":1}"#))
                .await
                .status,
            200
        );
        let seen = h.notifier.events.lock().unwrap();
        assert_eq!(
            seen.iter().map(|e| e.status).collect::<Vec<_>>(),
            [JobState::Scheduled, JobState::Completed]
        );
    }

    #[tokio::test]
    async fn refusals() {
        let h = hook(false);
        for t in [None, Some(""), Some("tok2"), Some("to")] {
            assert_eq!(
                h.handle(req(t, r#"{"id":"known","status":"completed"}"#)).await.status,
                401,
                "{t:?}"
            );
        }
        for body in [
            "",
            "{",
            "[]",
            r#"{"id":"known"}"#,
            r#"{"id":"known","status":"done"}"#,
            r#"{"id":5,"status":"completed"}"#,
        ] {
            assert_eq!(h.handle(req(Some("tok"), body)).await.status, 400, "{body}");
        }
        let big = format!(
            r#"{{"id":"known","status":"completed","pad":"{}"}}"#,
            "a".repeat(MAX_BODY_BYTES)
        );
        assert_eq!(h.handle(req(Some("tok"), &big)).await.status, 413);
        let unknown = h
            .handle(req(Some("tok"), r#"{"id":"other","status":"completed"}"#))
            .await;
        assert_eq!(
            unknown,
            Reply {
                status: 200,
                body: json!({"status": "ignored"})
            }
        );
        assert!(h.notifier.events.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_sample_api_gateway_request_is_authenticated_and_parsed() {
        let req = lambda_http::request::from_str(include_str!("../../../events/symbl-webhook-apigw.json")).unwrap();
        let incoming = incoming(req);
        assert_eq!(incoming.token.as_deref(), Some("sample-token"));
        let mut h = hook(false);
        h.token = SecretString::new("sample-token");
        // Its job is not one of ours: acknowledged and ignored.
        assert_eq!(
            h.handle(incoming).await,
            Reply {
                status: 200,
                body: json!({"status": "ignored"})
            }
        );
    }

    #[tokio::test]
    async fn notifier_down_asks_for_a_retry() {
        assert_eq!(
            hook(true)
                .handle(req(Some("tok"), r#"{"id":"known","status":"completed"}"#))
                .await
                .status,
            503
        );
    }
}

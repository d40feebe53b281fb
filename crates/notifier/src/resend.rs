//! An operator's `zoom-symbl resend`: a finished meeting's email again, to its host or to
//! another address. Not the owed email (that one goes once, through the ledgers in
//! [`crate::delivery`]): this one is asked for, so it goes each time it is asked, with a
//! Message-ID of its own (mail services drop a Message-ID they have seen).

use serde::Deserialize;
use tracing::info;
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::ports::{
    InsightsProvider, JobStore, Mailer, MeetingFailures, MeetingOutcomes, ObjectStore, OutgoingEmail, Semaphore,
};
use zoom_symbl_core::timefmt::unix_now;
use zoom_symbl_core::Error;

use crate::email::{stable_id, EmailKind};
use crate::handler::{Notifier, Outcome};
use crate::reconcile::failure_notice;

/// The notifier's event for a resend: `{"resend": {"meeting_key": "...", "to": "..."}}`.
#[derive(Debug, Deserialize)]
pub struct ResendRequest {
    pub resend: ResendTarget,
}

#[derive(Debug, Deserialize)]
pub struct ResendTarget {
    pub meeting_key: String,
    /// Another address than the host's.
    #[serde(default)]
    pub to: Option<String>,
}

impl<J, S, P, M, O, E> Notifier<J, S, P, M, O, E>
where
    J: JobStore,
    S: Semaphore,
    P: InsightsProvider,
    M: MeetingOutcomes + MeetingFailures,
    O: ObjectStore,
    E: Mailer,
{
    /// Renders the meeting's email from what is stored (no provider call) and sends it.
    pub async fn resend(&self, target: &ResendTarget) -> Result<Outcome, Error> {
        let key = target.meeting_key.as_str();
        let Some((state, facts)) = self.meetings.meeting_facts(key).await? else {
            return Err(Error::Invalid(format!("no meeting {key}")));
        };
        let (kind, mut email) = match state {
            MeetingState::Failed if facts.reason.is_empty() => {
                let mut facts = facts.clone();
                facts.reason = "The insights provider could not process the recording.".into();
                (EmailKind::Failure, failure_notice(&facts)?)
            }
            MeetingState::Failed => (EmailKind::Failure, failure_notice(&facts)?),
            MeetingState::Transcribed => (EmailKind::Insights, self.stored_insights_email(key).await?),
            other => {
                return Err(Error::Invalid(format!(
                    "the meeting is {other}: it has no email yet (its run is in flight)"
                )))
            }
        };
        if let Some(to) = target.to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            email.to = to.to_owned();
        }
        email.stable_id = format!(
            "{}.resent-{}",
            stable_id(kind, key, facts.run),
            uuid::Uuid::new_v4().simple()
        );
        let message_id = self.send(&email).await?;
        let kind = match kind {
            EmailKind::Insights => "insights",
            EmailKind::Failure => "failure",
        };
        info!(kind, %message_id, at = unix_now(), "sent the meeting's email again, as an operator asked");
        Ok(Outcome::Resent {
            kind: kind.into(),
            to: email.to,
            message_id,
        })
    }

    async fn stored_insights_email(&self, key: &str) -> Result<OutgoingEmail, Error> {
        let audio = self
            .meetings
            .audio(key)
            .await?
            .ok_or_else(|| Error::Invalid("the meeting record has no audio details".into()))?;
        let stored = self
            .stored_insights(key, &audio)
            .await?
            .ok_or_else(|| Error::Invalid("the meeting's insights are not stored (yet)".into()))?;
        let rendered = self.insights_email_of(key, &audio, &stored)?;
        Ok(OutgoingEmail {
            to: audio.host_email.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            stable_id: String::new(),
        })
    }
}

//! What the page shows, from the meeting's records: every string as it came (the template
//! escapes), times already formatted, talk time as a share of the most talkative.

use askama::Template;

use zoom_symbl_core::insights::Insights;
use zoom_symbl_core::meeting::ProducedAudio;
use zoom_symbl_core::timefmt::local_time;
use zoom_symbl_core::transcript::{clock, talk_times, Transcript};

#[derive(Template)]
#[template(path = "meeting.html")]
pub struct MeetingView {
    pub title: String,
    pub when: String,
    pub duration: String,
    pub talkers: Vec<Talker>,
    pub summary: Vec<String>,
    pub action_items: Vec<ActionView>,
    pub follow_ups: Vec<ActionView>,
    pub questions: Vec<QuestionView>,
    pub topics: Vec<TopicView>,
    pub lines: Vec<Line>,
    /// Presigned for this view only.
    pub audio_url: String,
    /// The provider's own page, when it made one (Symbl).
    pub provider_page: Option<String>,
    /// Lets this response's own style and script run under its CSP, and nothing else.
    pub nonce: String,
}

/// The page for a link that is wrong (404) or expired (410).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessageView {
    pub title: String,
    pub text: String,
    pub nonce: String,
}

pub struct Talker {
    pub name: String,
    pub talk: String,
    /// Width of the bar, 0 to 100.
    pub percent: u32,
}

pub struct ActionView {
    pub text: String,
    pub assignee: Option<String>,
    pub due: Option<String>,
}

pub struct QuestionView {
    pub text: String,
    pub from: Option<String>,
}

pub struct TopicView {
    pub text: String,
    pub sentiment: Option<String>,
}

pub struct Line {
    /// `12:04` or `1:02:09`.
    pub at: String,
    /// Whole seconds from the meeting's start, for the player.
    pub secs: u64,
    pub speaker: String,
    pub text: String,
}

impl MeetingView {
    pub fn new(
        audio: &ProducedAudio,
        insights: &Insights,
        transcript: &Transcript,
        audio_url: String,
        provider_page: Option<String>,
        nonce: String,
    ) -> Self {
        let title = match audio.topic.trim() {
            "" => "Your Zoom meeting".to_owned(),
            topic => topic.to_owned(),
        };
        MeetingView {
            title,
            when: local_time(&audio.start_time, audio.timezone.as_deref()).unwrap_or_else(|| audio.start_time.clone()),
            duration: clock(audio.duration_secs),
            talkers: talkers(audio, transcript),
            summary: insights.summary.clone(),
            action_items: insights.action_items.iter().map(ActionView::of).collect(),
            follow_ups: insights.follow_ups.iter().map(ActionView::of).collect(),
            questions: insights
                .questions
                .iter()
                .map(|q| QuestionView {
                    text: q.text.clone(),
                    from: q.from.clone(),
                })
                .collect(),
            topics: insights
                .topics
                .iter()
                .map(|t| TopicView {
                    text: t.text.clone(),
                    sentiment: t.sentiment.clone(),
                })
                .collect(),
            lines: transcript
                .utterances
                .iter()
                .map(|u| Line {
                    at: clock(u.start),
                    secs: u.start.max(0.0) as u64,
                    speaker: u.speaker.clone(),
                    text: u.text.clone(),
                })
                .collect(),
            audio_url,
            provider_page,
            nonce,
        }
    }
}

impl ActionView {
    fn of(a: &zoom_symbl_core::insights::Action) -> Self {
        ActionView {
            text: a.text.clone(),
            assignee: a.assignee.clone(),
            // A date, or the date of an RFC 3339 time.
            due: a.due_by.as_ref().map(|d| d.chars().take(10).collect()),
        }
    }
}

/// Everyone's talk time (core's one reading of it), as a share of the most talkative.
pub fn talkers(audio: &ProducedAudio, transcript: &Transcript) -> Vec<Talker> {
    let talk = talk_times(audio, Some(transcript));
    let most = talk.iter().map(|t| t.seconds).fold(0.0, f64::max);
    talk.into_iter()
        .map(|t| Talker {
            talk: clock(t.seconds),
            percent: if most > 0.0 {
                (100.0 * t.seconds / most).round() as u32
            } else {
                0
            },
            name: t.name,
        })
        .collect()
}

//! Conversation insights as Symbl returns them (kept raw for storage), read leniently into
//! the provider-neutral [`Insights`] (docs/symbl.md, "Insights": every field optional).

use serde_json::Value;

use crate::insights::{Action, Insights, InsightsReport, Question, Topic};
use crate::transcript::merge::UNKNOWN_SPEAKER;
use crate::transcript::{Transcript, Utterance};

/// The five insight documents, exactly as received; one Symbl refused is `null` and named in
/// `missing`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawInsights {
    pub summary: Value,
    pub topics: Value,
    pub questions: Value,
    pub action_items: Value,
    pub follow_ups: Value,
    /// File stems (as in [`RawInsights::documents`]) of the documents Symbl refused.
    pub missing: Vec<&'static str>,
    /// `GET .../messages`: the transcript, by speaker; `null` when Symbl refused it.
    pub messages: Value,
}

impl RawInsights {
    /// (file stem, document) pairs, for storage.
    pub fn documents(&self) -> [(&'static str, &Value); 5] {
        [
            ("summary", &self.summary),
            ("topics", &self.topics),
            ("questions", &self.questions),
            ("action-items", &self.action_items),
            ("follow-ups", &self.follow_ups),
        ]
    }
}

/// Symbl's messages as our transcript: who said what, from when to when in the meeting
/// (`timeOffset` and `duration`, seconds). Messages without text or a time are left out;
/// `None` when there were no messages to read.
pub fn transcript_of(messages: &Value) -> Option<Transcript> {
    let list = messages.get("messages")?.as_array()?;
    let mut utterances: Vec<Utterance> = list
        .iter()
        .filter_map(|m| {
            let said = text(m, "text")?;
            let start = m.get("timeOffset")?.as_f64().filter(|t| t.is_finite() && *t >= 0.0)?;
            let duration = m
                .get("duration")
                .and_then(Value::as_f64)
                .filter(|d| d.is_finite() && *d >= 0.0)
                .unwrap_or(0.0);
            Some(Utterance {
                speaker: m
                    .get("from")
                    .and_then(|f| text(f, "name"))
                    .unwrap_or_else(|| UNKNOWN_SPEAKER.to_owned()),
                start,
                end: start + duration,
                text: said,
            })
        })
        .collect();
    utterances.sort_by(|a, b| a.start.total_cmp(&b.start));
    Some(Transcript { utterances })
}

fn items<'a>(doc: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    doc.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn name_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(|o| text(o, "name"))
}

fn action(v: &Value) -> Option<Action> {
    Some(Action {
        text: text(v, "text")?,
        assignee: name_of(v, "assignee"),
        due_by: text(v, "dueBy"),
        from: name_of(v, "from"),
    })
}

impl RawInsights {
    /// The lenient typed view: items without text are skipped, absent fields are `None`.
    pub fn insights(&self) -> Insights {
        let raw = self;
        Insights {
            summary: items(&raw.summary, "summary").filter_map(|v| text(v, "text")).collect(),
            topics: items(&raw.topics, "topics")
                .filter_map(|v| {
                    Some(Topic {
                        text: text(v, "text")?,
                        sentiment: v.get("sentiment").and_then(|s| text(s, "suggested")),
                    })
                })
                .collect(),
            questions: items(&raw.questions, "questions")
                .filter_map(|v| {
                    Some(Question {
                        text: text(v, "text")?,
                        from: name_of(v, "from"),
                    })
                })
                .collect(),
            action_items: items(&raw.action_items, "actionItems").filter_map(action).collect(),
            follow_ups: items(&raw.follow_ups, "followUps").filter_map(action).collect(),
            missing: raw.missing.iter().map(|name| (*name).to_owned()).collect(),
            left_out: Vec::new(),
        }
    }

    /// What the Symbl provider reports: the typed insights and the documents as received
    /// (a missing one is not stored as an empty file).
    pub fn into_report(self) -> InsightsReport {
        let documents = self
            .documents()
            .into_iter()
            .filter(|(name, _)| !self.missing.contains(name))
            .map(|(name, doc)| (name, doc.clone()))
            .collect();
        InsightsReport {
            insights: self.insights(),
            documents,
            transcript: transcript_of(&self.messages),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn contract_shapes_and_missing_fields() {
        let raw = RawInsights {
            summary: json!({"summary": [{"id": "1", "text": "Dana and Mary-Jane agreed.", "messageRefs": []}, {"id": "2"}]}),
            topics: json!({"topics": [{"text": "launch review", "sentiment": {"polarity": {"score": 0.3}, "suggested": "positive"}}, {"text": "scope"}]}),
            questions: json!({"questions": [{"text": "Can we ship later?", "from": {"name": "Dana Host"}}]}),
            action_items: json!({"actionItems": [{"text": "Send the scope.", "assignee": {"name": "Mary-Jane"}, "dueBy": "2024-06-07T07:00:00.000Z", "from": {"name": "Mary-Jane O'Neil"}}]}),
            follow_ups: json!({"followUps": [{"text": "Meet the customer.", "from": {}, "assignee": {}}]}),
            missing: vec![],
            messages: Value::Null,
        };
        let i = raw.insights();
        assert_eq!(i.summary, ["Dana and Mary-Jane agreed."]);
        assert_eq!(i.topics[0].sentiment.as_deref(), Some("positive"));
        assert_eq!(i.topics[1].sentiment, None);
        assert_eq!(i.questions[0].from.as_deref(), Some("Dana Host"));
        assert_eq!(i.action_items[0].assignee.as_deref(), Some("Mary-Jane"));
        assert_eq!(
            i.follow_ups[0],
            Action {
                text: "Meet the customer.".into(),
                assignee: None,
                due_by: None,
                from: None
            }
        );
        let empty = RawInsights {
            summary: json!({}),
            topics: json!(null),
            questions: json!([]),
            action_items: json!({"actionItems": 5}),
            follow_ups: json!({}),
            missing: vec![],
            messages: Value::Null,
        };
        assert_eq!(empty.insights(), Insights::default());
    }

    #[test]
    fn missing_documents_are_named_and_not_stored() {
        let raw = RawInsights {
            summary: json!({"summary": [{"text": "Agreed."}]}),
            topics: json!({"topics": []}),
            questions: Value::Null,
            action_items: json!({"actionItems": []}),
            follow_ups: Value::Null,
            missing: vec!["questions", "follow-ups"],
            messages: Value::Null,
        };
        let report = raw.into_report();
        assert_eq!(report.insights.summary, ["Agreed."]);
        assert_eq!(report.insights.missing, ["questions", "follow-ups"]);
        let stored: Vec<_> = report.documents.iter().map(|(name, _)| *name).collect();
        assert_eq!(stored, ["summary", "topics", "action-items"]);
        assert_eq!(report.transcript, None, "no messages, no transcript");
    }

    #[test]
    fn messages_are_the_transcript_by_speaker_at_meeting_time() {
        let messages = json!({"messages": [
            {"text": "Then Tuesday.", "from": {"id": "u2", "name": "李雷"}, "timeOffset": 12.5, "duration": 1.5},
            {"text": "Let's move the review.", "from": {"name": "Dana Host", "email": "d@example.com"},
             "startTime": "2024-05-31T18:04:21.024Z", "timeOffset": 3.0, "duration": 3.7},
            {"text": "No speaker.", "from": {}, "timeOffset": 20.0},
            {"text": "No time.", "from": {"name": "Dana Host"}},
            {"from": {"name": "Dana Host"}, "timeOffset": 30.0, "duration": 1.0},
            {"text": "Bad time.", "from": {"name": "Dana Host"}, "timeOffset": -1.0}
        ]});
        let t = transcript_of(&messages).unwrap();
        let said: Vec<(&str, f64, f64, &str)> = t
            .utterances
            .iter()
            .map(|u| (u.speaker.as_str(), u.start, u.end, u.text.as_str()))
            .collect();
        assert_eq!(
            said,
            [
                ("Dana Host", 3.0, 6.7, "Let's move the review."),
                ("李雷", 12.5, 14.0, "Then Tuesday."),
                (UNKNOWN_SPEAKER, 20.0, 20.0, "No speaker.")
            ]
        );
        assert_eq!(transcript_of(&json!({"messages": []})), Some(Transcript::default()));
        assert_eq!(transcript_of(&Value::Null), None);
    }
}

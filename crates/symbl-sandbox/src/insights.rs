//! Deterministic conversation insights in the shapes of docs/symbl.md, "Insights", built from the
//! conversation's name and its speakers (channelMetadata), so tests can check that
//! the right names reach the right places.

use serde_json::{json, Value};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};

const ISO_MS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Speaker {
    pub name: String,
    pub email: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Conversation {
    pub conversation_id: String,
    pub name: String,
    pub speakers: Vec<Speaker>,
    /// When the conversation started (the submission time).
    pub start_ms: i64,
}

/// FNV-1a: stable across runs and platforms, unlike the std hasher.
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn first_name(full: &str) -> &str {
    full.split_whitespace().next().unwrap_or(full)
}

fn iso(t: OffsetDateTime) -> String {
    t.format(ISO_MS).unwrap_or_default()
}

fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl Conversation {
    /// A 16-digit id, like Symbl's, unique per (conversation, kind, index).
    fn id(&self, kind: &str, i: usize) -> String {
        let n = fnv(&[&self.conversation_id, kind, &i.to_string()]) % 9_000_000_000_000_000 + 1_000_000_000_000_000;
        n.to_string()
    }

    fn user_id(&self, i: usize) -> String {
        let a = fnv(&[&self.conversation_id, "user", &i.to_string()]);
        let b = fnv(&[&self.conversation_id, "user-b", &i.to_string()]);
        uuid::Builder::from_random_bytes({
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&a.to_be_bytes());
            bytes[8..].copy_from_slice(&b.to_be_bytes());
            bytes
        })
        .into_uuid()
        .to_string()
    }

    fn speaker(&self, i: usize) -> &Speaker {
        &self.speakers[i.min(self.speakers.len() - 1)]
    }

    fn start(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.start_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Message i starts 5 s after message i-1 and lasts 3.5 s.
    fn message_times(&self, i: usize) -> (OffsetDateTime, OffsetDateTime, f64) {
        let offset = 5.0 * i as f64;
        let start = self.start() + Duration::milliseconds((offset * 1000.0) as i64);
        (start, start + Duration::milliseconds(3500), offset)
    }

    fn message_text(&self, i: usize) -> String {
        let name = &self.name;
        match i {
            0 => format!("Welcome everyone, today we are going over {name}."),
            1 => format!("Can we agree on the next steps for {name} before Friday?"),
            2 => "I will share my notes with the team after the call.".to_owned(),
            _ => format!("Thanks, I have nothing more to add on {name}."),
        }
    }

    fn message_ids(&self) -> Vec<String> {
        (0..self.speakers.len()).map(|i| self.id("message", i)).collect()
    }

    fn due_by(&self, days: i64) -> OffsetDateTime {
        let day = (self.start() + Duration::days(days)).date();
        day.with_hms(7, 0, 0).map(|d| d.assume_utc()).unwrap_or(self.start())
    }

    pub fn summary(&self) -> Value {
        let names: Vec<&str> = self.speakers.iter().map(|s| s.name.as_str()).collect();
        let owner = first_name(&self.speaker(0).name);
        let ids = self.message_ids();
        json!({
            "summary": [
                {
                    "id": self.id("summary", 0),
                    "text": format!("{} met to discuss {}. They reviewed the open points and agreed on the next steps.",
                                    list(&names), self.name),
                    "messageRefs": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
                },
                {
                    "id": self.id("summary", 1),
                    "text": format!("{owner} will follow up with a written plan by the end of the week."),
                    "messageRefs": [ { "id": ids[0] } ],
                }
            ]
        })
    }

    pub fn topics(&self, sentiment: bool, parent_refs: bool) -> Value {
        let ids = self.message_ids();
        let topics = [
            (self.name.clone(), 0.92, 0.41, "positive"),
            ("next steps".to_owned(), 0.71, 0.0, "neutral"),
        ];
        let items: Vec<Value> = topics
            .iter()
            .enumerate()
            .map(|(i, (text, score, polarity, suggested))| {
                let mut t = json!({
                    "id": self.id("topic", i),
                    "text": text,
                    "type": "topic",
                    "score": score,
                    "messageIds": ids,
                });
                if sentiment {
                    t["sentiment"] = json!({ "polarity": { "score": polarity }, "suggested": suggested });
                }
                if parent_refs {
                    t["parentRefs"] = json!([]);
                }
                t
            })
            .collect();
        json!({ "topics": items })
    }

    pub fn questions(&self) -> Value {
        let asker = if self.speakers.len() > 1 { 1 } else { 0 };
        let s = self.speaker(asker);
        json!({
            "questions": [{
                "id": self.id("question", 0),
                "text": self.message_text(1),
                "type": "question",
                "score": 0.9844425742283145,
                "messageIds": [ self.id("message", asker) ],
                "from": { "id": self.user_id(asker), "name": s.name, "userId": s.email.clone().unwrap_or_default() },
            }]
        })
    }

    pub fn action_items(&self) -> Value {
        let s = self.speaker(0);
        let first = first_name(&s.name);
        let phrase = format!("send the written plan for {}", self.name);
        json!({
            "actionItems": [{
                "id": self.id("action", 0),
                "text": format!("{first} will {phrase} by Friday."),
                "type": "action_item",
                "score": 0.9456050585275944,
                "messageIds": [ self.id("message", 0) ],
                "entities": [ { "type": "person", "text": first, "offset": 0,
                                "value": { "assignee": true, "name": first } } ],
                "phrases": [ { "type": "action_phrase", "text": phrase } ],
                "from": { "id": self.user_id(0), "name": s.name, "userId": s.email.clone().unwrap_or_default() },
                "definitive": true,
                "assignee": { "name": s.name, "email": s.email.clone().unwrap_or_default() },
                "dueBy": iso(self.due_by(7)),
            }]
        })
    }

    pub fn follow_ups(&self) -> Value {
        let text = format!("We need to meet again next week about {}.", self.name);
        let offset = text.find("next week").unwrap_or(0);
        let (from, to) = (self.start() + Duration::days(7), self.start() + Duration::days(13));
        json!({
            "followUps": [{
                "id": self.id("follow-up", 0),
                "text": text,
                "type": "follow_up",
                "score": 0.8660254037851491,
                "messageIds": [ self.id("message", self.speakers.len() - 1) ],
                "entities": [ { "type": "daterange", "text": "next week", "offset": offset,
                                "start": from.format(DATE).unwrap_or_default(),
                                "end": to.format(DATE).unwrap_or_default() } ],
                "phrases": [],
                "from": {},
                "assignee": {},
                "dueBy": iso(self.due_by(7)),
            }]
        })
    }

    pub fn messages(&self, verbose: bool, sentiment: bool) -> Value {
        let items: Vec<Value> = self
            .speakers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (start, end, offset) = self.message_times(i);
                let text = self.message_text(i);
                let mut from = json!({ "id": self.user_id(i), "name": s.name });
                if let Some(email) = &s.email {
                    from["email"] = json!(email);
                }
                let mut m = json!({
                    "id": self.id("message", i),
                    "text": text,
                    "from": from,
                    "startTime": iso(start),
                    "endTime": iso(end),
                    "timeOffset": offset,
                    "duration": 3.5,
                    "conversationId": self.conversation_id,
                    "phrases": [],
                });
                if sentiment {
                    m["sentiment"] = json!({ "polarity": { "score": 0.2 }, "suggested": "neutral" });
                }
                if verbose {
                    let words: Vec<&str> = text.split_whitespace().collect();
                    let step = 3.5 / words.len().max(1) as f64;
                    m["words"] = words
                        .iter()
                        .enumerate()
                        .map(|(k, w)| {
                            let ws = start + Duration::milliseconds((k as f64 * step * 1000.0) as i64);
                            let we = ws + Duration::milliseconds((step * 1000.0) as i64);
                            json!({ "word": w, "startTime": iso(ws), "endTime": iso(we), "score": 0.91,
                                    "timeOffset": offset + k as f64 * step, "duration": step })
                        })
                        .collect();
                }
                m
            })
            .collect();
        json!({ "messages": items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv() -> Conversation {
        Conversation {
            conversation_id: "5815170693595136".into(),
            name: "Q3 planning sync".into(),
            speakers: vec![
                Speaker {
                    name: "Dana Host".into(),
                    email: Some("host@example.com".into()),
                },
                Speaker {
                    name: "Mary-Jane O'Neil".into(),
                    email: None,
                },
                Speaker {
                    name: "李雷".into(),
                    email: None,
                },
            ],
            start_ms: 1_717_178_661_024,
        }
    }

    #[test]
    fn content_is_deterministic_and_names_the_speakers() {
        let (a, b) = (conv(), conv());
        assert_eq!(a.summary(), b.summary());
        assert_eq!(a.messages(true, true), b.messages(true, true));
        let summary = a.summary()["summary"][0]["text"].as_str().unwrap().to_owned();
        assert!(summary.contains("Dana Host, Mary-Jane O'Neil and 李雷"), "{summary}");
        assert!(summary.contains("Q3 planning sync"));
        let id = a.summary()["summary"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn shapes_follow_the_contract() {
        let c = conv();
        let t = c.topics(false, false);
        assert_eq!(t["topics"][0]["text"], "Q3 planning sync");
        assert!(t["topics"][0].get("sentiment").is_none());
        assert_eq!(c.topics(true, false)["topics"][0]["sentiment"]["suggested"], "positive");
        assert_eq!(c.topics(false, true)["topics"][1]["parentRefs"], json!([]));

        let q = &c.questions()["questions"][0];
        assert_eq!(q["from"]["name"], "Mary-Jane O'Neil");
        assert_eq!(q["type"], "question");

        let a = &c.action_items()["actionItems"][0];
        assert_eq!(a["assignee"]["name"], "Dana Host");
        assert_eq!(a["from"]["userId"], "host@example.com");
        assert_eq!(a["dueBy"], "2024-06-07T07:00:00.000Z");
        assert_eq!(a["phrases"][0]["type"], "action_phrase");

        let f = &c.follow_ups()["followUps"][0];
        assert_eq!(f["type"], "follow_up");
        assert_eq!(f["entities"][0]["start"], "2024-06-07");
        let offset = f["entities"][0]["offset"].as_u64().unwrap() as usize;
        assert!(f["text"].as_str().unwrap()[offset..].starts_with("next week"));

        let m = c.messages(false, false);
        let msgs = m["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0]["from"]["email"], "host@example.com");
        assert_eq!(msgs[0]["startTime"], "2024-05-31T18:04:21.024Z");
        assert_eq!(msgs[2]["from"]["name"], "李雷");
        assert!(msgs[0].get("words").is_none() && msgs[0].get("sentiment").is_none());
        let v = c.messages(true, false);
        assert!(!v["messages"][1]["words"].as_array().unwrap().is_empty());
    }

    #[test]
    fn one_speaker_asks_and_answers() {
        let mut c = conv();
        c.speakers.truncate(1);
        assert_eq!(c.questions()["questions"][0]["from"]["name"], "Dana Host");
        assert_eq!(
            c.summary()["summary"][0]["text"].as_str().unwrap().split(" met").next(),
            Some("Dana Host")
        );
    }
}

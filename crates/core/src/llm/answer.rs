//! Checking the model's `record_insights` input before anyone sees it: the schema, that every
//! name is a participant and every date a real one not before the meeting. The reasons are
//! sent back to the model for its one retry and shown to the host when it fails again, so
//! they are short and name the field and the bad value.

use serde_json::{json, Map, Value};
use time::{Date, Month};

use super::prompt::{iso_date, MeetingFacts};
use crate::insights::{Action, Insights, Question, Topic};

/// Why an answer was refused, fit to send back to the model and to show a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAnswer(pub String);

/// At most this many problems are listed: enough for the model to fix them all in its one
/// retry, few enough to stay readable.
const MAX_PROBLEMS: usize = 5;

const SENTIMENTS: [&str; 3] = ["positive", "neutral", "negative"];

/// Validates a `record_insights` input against `facts` and maps it to [`Insights`], with
/// names in the participants' own spelling. Fields beyond the schema's are ignored.
pub fn validate(input: &Value, facts: &MeetingFacts) -> Result<Insights, InvalidAnswer> {
    let mut check = Checker {
        facts,
        problems: Vec::new(),
    };
    let insights = check.insights(input);
    match check.problems.len() {
        0 => Ok(insights),
        n if n <= MAX_PROBLEMS => Err(InvalidAnswer(check.problems.join("; "))),
        n => Err(InvalidAnswer(format!(
            "{}; and {} more",
            check.problems[..MAX_PROBLEMS].join("; "),
            n - MAX_PROBLEMS
        ))),
    }
}

/// Validated insights back in the tool's input shape: what the combine message shows the
/// model, so it sees the parts with names already normalised.
pub fn to_tool_input(insights: &Insights) -> Value {
    let actions = |list: &[Action]| -> Vec<Value> {
        list.iter()
            .map(|a| json!({"text": a.text, "assignee": a.assignee, "due_date": a.due_by}))
            .collect()
    };
    json!({
        "summary": insights.summary,
        "topics": insights.topics.iter().map(|t| json!({"text": t.text, "sentiment": t.sentiment})).collect::<Vec<_>>(),
        "questions": insights.questions.iter().map(|q| json!({"text": q.text, "asked_by": q.from})).collect::<Vec<_>>(),
        "action_items": actions(&insights.action_items),
        "follow_ups": actions(&insights.follow_ups),
    })
}

/// Walks the answer once, collecting every problem rather than stopping at the first.
struct Checker<'a> {
    facts: &'a MeetingFacts,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn insights(&mut self, input: &Value) -> Insights {
        let Some(obj) = input.as_object() else {
            self.problems
                .push(format!("the input must be a JSON object, not {}", kind(input)));
            return Insights::default();
        };
        let summary = self.list(obj, "summary", |c, path, v| c.text(v, &path));
        let topics = self.list(obj, "topics", |c, path, v| {
            let o = c.object(v, &path)?;
            let text = c.text(o.get("text"), &format!("{path}.text"));
            let sentiment = c.sentiment(o.get("sentiment"), &format!("{path}.sentiment"));
            Some(Topic {
                text: text?,
                sentiment: Some(sentiment?),
            })
        });
        let questions = self.list(obj, "questions", |c, path, v| {
            let o = c.object(v, &path)?;
            let text = c.text(o.get("text"), &format!("{path}.text"));
            let from = c.name(o.get("asked_by"), &format!("{path}.asked_by"));
            Some(Question {
                text: text?,
                from: from?,
            })
        });
        let action_items = self.list(obj, "action_items", Self::action);
        let follow_ups = self.list(obj, "follow_ups", Self::action);
        Insights {
            summary,
            topics,
            questions,
            action_items,
            follow_ups,
            missing: Vec::new(),
            left_out: Vec::new(),
        }
    }

    /// The array `key` of `obj`, each item mapped by `item` (None: it reported a problem).
    fn list<T>(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        mut item: impl FnMut(&mut Self, String, Option<&Value>) -> Option<T>,
    ) -> Vec<T> {
        let items = match obj.get(key) {
            Some(Value::Array(items)) => items,
            None => {
                self.problems.push(format!("{key} is missing"));
                return Vec::new();
            }
            Some(other) => {
                self.problems
                    .push(format!("{key} must be an array, not {}", kind(other)));
                return Vec::new();
            }
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| item(self, format!("{key}[{i}]"), Some(v)))
            .collect()
    }

    fn action(&mut self, path: String, v: Option<&Value>) -> Option<Action> {
        let o = self.object(v, &path)?;
        let text = self.text(o.get("text"), &format!("{path}.text"));
        let assignee = self.name(o.get("assignee"), &format!("{path}.assignee"));
        let due = self.due_date(o.get("due_date"), &format!("{path}.due_date"));
        Some(Action {
            text: text?,
            assignee: assignee?,
            due_by: due?.map(iso_date),
            from: None,
        })
    }

    fn object<'v>(&mut self, v: Option<&'v Value>, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Some(Value::Object(o)) => Some(o),
            other => self.problem(format!("{path} must be an object, not {}", kind_of(other))),
        }
    }

    /// A non-empty string, trimmed.
    fn text(&mut self, v: Option<&Value>, path: &str) -> Option<String> {
        match v {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::String(_)) => self.problem(format!("{path} is empty")),
            other => self.problem(format!("{path} must be a string, not {}", kind_of(other))),
        }
    }

    fn sentiment(&mut self, v: Option<&Value>, path: &str) -> Option<String> {
        match v {
            Some(Value::String(s)) if SENTIMENTS.contains(&s.as_str()) => Some(s.clone()),
            Some(Value::String(s)) => {
                self.problem(format!("{path} {} is not positive, neutral or negative", quoted(s)))
            }
            other => self.problem(format!("{path} must be a string, not {}", kind_of(other))),
        }
    }

    /// Null, or one of the participants, matched ignoring case and spacing and returned in
    /// the participant's spelling. `Some(None)` is a valid null.
    fn name(&mut self, v: Option<&Value>, path: &str) -> Option<Option<String>> {
        match v {
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => {
                let wanted = normalise(s);
                match self.facts.participants.iter().find(|p| normalise(p) == wanted) {
                    Some(p) => Some(Some(p.trim().to_owned())),
                    None => self.problem(format!("{path} {} is not one of the participants", quoted(s))),
                }
            }
            other => self.problem(format!(
                "{path} must be a participant's name or null, not {}",
                kind_of(other)
            )),
        }
    }

    /// Null, or a real `YYYY-MM-DD` date not before the meeting's.
    fn due_date(&mut self, v: Option<&Value>, path: &str) -> Option<Option<Date>> {
        match v {
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => match parse_date(s) {
                None => self.problem(format!("{path} {} is not a real date as YYYY-MM-DD", quoted(s))),
                Some(d) if d < self.facts.date => self.problem(format!(
                    "{path} {} is before the meeting's date {}",
                    quoted(s),
                    iso_date(self.facts.date)
                )),
                Some(d) => Some(Some(d)),
            },
            other => self.problem(format!(
                "{path} must be a YYYY-MM-DD string or null, not {}",
                kind_of(other)
            )),
        }
    }

    fn problem<T>(&mut self, reason: String) -> Option<T> {
        self.problems.push(reason);
        None
    }
}

/// Exactly `YYYY-MM-DD` and a day that exists: `time` alone would accept signs and widths.
fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return None;
    }
    let year: i32 = s[0..4].parse().ok()?;
    let month: u8 = s[5..7].parse().ok()?;
    let day: u8 = s[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// Lower case with runs of whitespace as one space: "  ann   LEE " matches "Ann Lee".
fn normalise(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// A model's string in a reason, JSON-quoted and cut short: it may be long or hold newlines.
fn quoted(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        Value::from(s).to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        Value::from(format!("{head}...")).to_string()
    }
}

fn kind_of(v: Option<&Value>) -> &'static str {
    v.map_or("missing", kind)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn facts() -> MeetingFacts {
        MeetingFacts {
            topic: "Weekly sync".into(),
            date: date!(2026 - 02 - 26),
            timezone: "UTC".into(),
            participants: vec!["Ann Lee".into(), "Bob Stone".into()],
        }
    }

    fn valid_input() -> Value {
        json!({
            "summary": ["We agreed to ship on Friday."],
            "topics": [{"text": "Release", "sentiment": "positive"}],
            "questions": [{"text": "Shall we ship?", "asked_by": "Ann Lee"}, {"text": "Who tests?", "asked_by": null}],
            "action_items": [{"text": "Ship the release", "assignee": "Bob Stone", "due_date": "2026-02-27"}],
            "follow_ups": [{"text": "Check the metrics", "assignee": null, "due_date": null}]
        })
    }

    fn reason(input: &Value) -> String {
        validate(input, &facts()).unwrap_err().0
    }

    #[test]
    fn valid_answer_maps_to_insights() {
        let got = validate(&valid_input(), &facts()).unwrap();
        assert_eq!(
            got,
            Insights {
                summary: vec!["We agreed to ship on Friday.".into()],
                topics: vec![Topic {
                    text: "Release".into(),
                    sentiment: Some("positive".into())
                }],
                questions: vec![
                    Question {
                        text: "Shall we ship?".into(),
                        from: Some("Ann Lee".into())
                    },
                    Question {
                        text: "Who tests?".into(),
                        from: None
                    },
                ],
                action_items: vec![Action {
                    text: "Ship the release".into(),
                    assignee: Some("Bob Stone".into()),
                    due_by: Some("2026-02-27".into()),
                    from: None,
                }],
                follow_ups: vec![Action {
                    text: "Check the metrics".into(),
                    assignee: None,
                    due_by: None,
                    from: None
                }],
                missing: vec![],
                left_out: Vec::new(),
            }
        );
        // And back: the combine message shows the same answer.
        assert_eq!(to_tool_input(&got), valid_input());
    }

    #[test]
    fn empty_lists_are_valid() {
        let input = json!({"summary": [], "topics": [], "questions": [], "action_items": [], "follow_ups": []});
        assert_eq!(validate(&input, &facts()).unwrap(), Insights::default());
    }

    #[test]
    fn missing_field_is_invalid() {
        let mut input = valid_input();
        input.as_object_mut().unwrap().remove("follow_ups");
        assert_eq!(reason(&input), "follow_ups is missing");
        input["action_items"][0].as_object_mut().unwrap().remove("due_date");
        assert_eq!(
            reason(&input),
            "action_items[0].due_date must be a YYYY-MM-DD string or null, not missing; follow_ups is missing"
        );
    }

    #[test]
    fn wrong_types_are_invalid() {
        assert_eq!(reason(&json!("text")), "the input must be a JSON object, not a string");
        let mut input = valid_input();
        input["summary"] = json!("one paragraph");
        input["topics"][0]["text"] = json!(3);
        assert_eq!(
            reason(&input),
            "summary must be an array, not a string; topics[0].text must be a string, not a number"
        );
    }

    #[test]
    fn bad_sentiment_is_invalid() {
        let mut input = valid_input();
        input["topics"][0]["sentiment"] = json!("happy");
        assert_eq!(
            reason(&input),
            "topics[0].sentiment \"happy\" is not positive, neutral or negative"
        );
    }

    #[test]
    fn assignee_not_a_participant_is_invalid_and_named() {
        let mut input = valid_input();
        input["action_items"][0]["assignee"] = json!("Carol");
        input["questions"][0]["asked_by"] = json!("");
        assert_eq!(
            reason(&input),
            "questions[0].asked_by \"\" is not one of the participants; \
             action_items[0].assignee \"Carol\" is not one of the participants"
        );
    }

    #[test]
    fn assignee_with_other_case_and_spacing_is_normalised() {
        let mut input = valid_input();
        input["action_items"][0]["assignee"] = json!("  bob   STONE ");
        input["questions"][0]["asked_by"] = json!("ann lee");
        let got = validate(&input, &facts()).unwrap();
        assert_eq!(got.action_items[0].assignee.as_deref(), Some("Bob Stone"));
        assert_eq!(got.questions[0].from.as_deref(), Some("Ann Lee"));
    }

    #[test]
    fn null_assignee_is_valid() {
        let mut input = valid_input();
        input["action_items"][0]["assignee"] = Value::Null;
        assert_eq!(validate(&input, &facts()).unwrap().action_items[0].assignee, None);
    }

    #[test]
    fn impossible_or_malformed_date_is_invalid() {
        let mut input = valid_input();
        input["action_items"][0]["due_date"] = json!("2026-02-30");
        assert_eq!(
            reason(&input),
            "action_items[0].due_date \"2026-02-30\" is not a real date as YYYY-MM-DD"
        );
        for bad in [
            "2026-2-27",
            "+2026-02-27",
            "2026-02-27T10:00:00Z",
            "next Friday",
            "2026/02/27",
        ] {
            input["action_items"][0]["due_date"] = json!(bad);
            assert!(reason(&input).contains("is not a real date"), "{bad}");
        }
        input["action_items"][0]["due_date"] = json!("2028-02-29");
        assert!(validate(&input, &facts()).is_ok());
    }

    #[test]
    fn date_before_the_meeting_is_invalid() {
        let mut input = valid_input();
        input["follow_ups"][0]["due_date"] = json!("2026-02-25");
        assert_eq!(
            reason(&input),
            "follow_ups[0].due_date \"2026-02-25\" is before the meeting's date 2026-02-26"
        );
        input["follow_ups"][0]["due_date"] = json!("2026-02-26");
        assert!(validate(&input, &facts()).is_ok());
    }

    #[test]
    fn blank_text_is_invalid_and_text_is_trimmed() {
        let mut input = valid_input();
        input["summary"] = json!(["  First.  ", " "]);
        assert_eq!(reason(&input), "summary[1] is empty");
        input["summary"] = json!(["  First.  "]);
        assert_eq!(validate(&input, &facts()).unwrap().summary, ["First."]);
    }

    #[test]
    fn many_problems_are_capped() {
        let input = json!({"summary": [1, 2, 3, 4, 5, 6, 7], "topics": [], "questions": [], "action_items": [], "follow_ups": []});
        let r = reason(&input);
        assert!(
            r.ends_with("summary[4] must be a string, not a number; and 2 more"),
            "{r}"
        );
    }

    #[test]
    fn long_bad_names_are_cut_in_the_reason() {
        let mut input = valid_input();
        input["action_items"][0]["assignee"] = json!("x".repeat(500));
        let r = reason(&input);
        assert!(r.contains("xxx...\" is not one of") && r.len() < 130, "{r}");
    }
}

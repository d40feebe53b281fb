//! The conversation that yields a meeting's insights, as a state machine an adapter drives:
//! it asks [`InsightsConversation::request`], sends that to its model, and hands the reply to
//! [`InsightsConversation::answer`], which gives the next request or the insights.
//!
//! One request per transcript part. An invalid answer is asked once more, with the reason;
//! invalid again, the meeting fails with it. Several parts are then combined by the model
//! (not merged here: only the model can tell two phrasings of one topic apart), under the same
//! rule. When the parts' answers are too large for one combine message they are combined in
//! groups, and the groups' answers again, until one remains.

use std::collections::VecDeque;

use serde_json::Value;

use super::answer::{to_tool_input, validate, InvalidAnswer};
use super::prompt::{
    combine_message, estimate_tokens, fixed_overhead_tokens, part_message, retry_message, split_into_parts,
    system_prompt, MeetingFacts, PartOf, TranscriptLine,
};
use super::schema::{ToolSpec, TOOL_NAME};
use crate::insights::Insights;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One turn of the conversation. An assistant's tool answer is kept as the JSON text of its
/// tool input, so that the retry can show the model what it said without provider types; an
/// adapter may send it back as a tool-use block built from that JSON or as plain text.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub text: String,
}

impl Message {
    fn user(text: String) -> Self {
        Self { role: Role::User, text }
    }
}

/// What to send the model: the tool is to be the answer (a forced tool choice where the
/// model allows it).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub system: String,
    pub messages: Vec<Message>,
    pub tool: ToolSpec,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelReply {
    /// The input of its `record_insights` call (the only tool declared).
    Tool(Value),
    /// Text without a tool call: invalid, and asked again like any invalid answer.
    Text(String),
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Ask(Request),
    Done(Insights),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    /// The model answered invalidly twice in a row; the meeting fails with this reason.
    #[error("the model's insights were invalid twice: {0}")]
    GaveUp(String),
    #[error("a request of at most {max} input tokens leaves no room for the transcript (the prompts alone take about {needed})")]
    BudgetTooSmall { max: usize, needed: usize },
    #[error("the parts' insights are too large to combine within {max} input tokens")]
    TooLargeToCombine { max: usize },
    #[error("the conversation is already over")]
    Over,
}

/// The least room a part must leave for transcript lines: below it, parts would hold a few
/// words each and the meeting would cost hundreds of requests.
const MIN_TRANSCRIPT_TOKENS: usize = 200;

pub struct InsightsConversation {
    facts: MeetingFacts,
    max_input_tokens: usize,
    /// What is left to ask in this round, in order.
    queue: VecDeque<Task>,
    /// This round's answers, in order.
    done: Vec<Insights>,
    /// The request being answered; None once over.
    current: Option<Asking>,
}

enum Task {
    Ask {
        label: Option<String>,
        prompt: String,
    },
    /// A lone answer in a combine round: nothing to combine it with, so it goes on as it is.
    Keep(Insights),
}

struct Asking {
    /// "part 2 of 3" or "combining parts", prefixed to a reason to fail with.
    label: Option<String>,
    prompt: String,
    /// The invalid answer's text and why, once asked again.
    retry: Option<(String, String)>,
}

impl InsightsConversation {
    /// Starts the conversation on a transcript; the lines are split into parts when the whole
    /// does not fit `max_input_tokens` (`BedrockMaxInputTokens`).
    pub fn new(
        facts: MeetingFacts,
        lines: &[TranscriptLine],
        max_input_tokens: usize,
    ) -> Result<Self, ConversationError> {
        let widest = PartOf {
            number: usize::MAX,
            count: usize::MAX,
        };
        let needed = fixed_overhead_tokens() + estimate_tokens(&part_message(&facts, &[], Some(widest)));
        if max_input_tokens < needed + MIN_TRANSCRIPT_TOKENS {
            return Err(ConversationError::BudgetTooSmall {
                max: max_input_tokens,
                needed,
            });
        }
        let parts = split_into_parts(lines, &facts, max_input_tokens);
        let count = parts.len();
        let queue = parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let of = (count > 1).then_some(PartOf { number: i + 1, count });
                Task::Ask {
                    label: of.map(|p| format!("part {} of {}", p.number, p.count)),
                    prompt: part_message(&facts, part, of),
                }
            })
            .collect();
        let mut conversation = Self {
            facts,
            max_input_tokens,
            queue,
            done: Vec::new(),
            current: None,
        };
        // The first task is always an Ask: there is at least one part.
        conversation.advance()?;
        Ok(conversation)
    }

    /// The request to send now; None once the conversation is over.
    pub fn request(&self) -> Option<Request> {
        let asking = self.current.as_ref()?;
        let mut messages = vec![Message::user(asking.prompt.clone())];
        if let Some((previous, reason)) = &asking.retry {
            messages.push(Message {
                role: Role::Assistant,
                text: previous.clone(),
            });
            messages.push(Message::user(retry_message(reason)));
        }
        Some(Request {
            system: system_prompt(),
            messages,
            tool: ToolSpec::record_insights(),
        })
    }

    /// Takes the model's reply to [`Self::request`] and says what comes next.
    pub fn answer(&mut self, reply: ModelReply) -> Result<Step, ConversationError> {
        let Some(asking) = self.current.as_mut() else {
            return Err(ConversationError::Over);
        };
        let (text, checked) = match reply {
            ModelReply::Tool(input) => (input.to_string(), validate(&input, &self.facts)),
            ModelReply::Text(text) => {
                let why = InvalidAnswer(format!("it was text, not a call of {TOOL_NAME}"));
                (text, Err(why))
            }
        };
        match checked {
            Ok(insights) => {
                self.current = None;
                self.done.push(insights);
                self.advance()
            }
            Err(InvalidAnswer(reason)) if asking.retry.is_none() => {
                asking.retry = Some((text, reason));
                self.request().map(Step::Ask).ok_or(ConversationError::Over)
            }
            Err(InvalidAnswer(reason)) => {
                let reason = match self.current.take().and_then(|a| a.label) {
                    Some(label) => format!("{label}: {reason}"),
                    None => reason,
                };
                self.queue.clear();
                Err(ConversationError::GaveUp(reason))
            }
        }
    }

    /// Moves to the next request, starting a combine round when a round has ended with
    /// several answers.
    fn advance(&mut self) -> Result<Step, ConversationError> {
        loop {
            match self.queue.pop_front() {
                Some(Task::Ask { label, prompt }) => {
                    self.current = Some(Asking {
                        label,
                        prompt,
                        retry: None,
                    });
                    return self.request().map(Step::Ask).ok_or(ConversationError::Over);
                }
                Some(Task::Keep(insights)) => self.done.push(insights),
                None if self.done.len() <= 1 => {
                    return Ok(Step::Done(self.done.pop().unwrap_or_default()));
                }
                None => self.queue = self.combine_round()?,
            }
        }
    }

    /// This round's answers in groups whose combine message fits, in order.
    fn combine_round(&mut self) -> Result<VecDeque<Task>, ConversationError> {
        let fits = |group: &[Value]| {
            fixed_overhead_tokens() + estimate_tokens(&combine_message(&self.facts, group)) <= self.max_input_tokens
        };
        let mut groups: Vec<Vec<(Value, Insights)>> = Vec::new();
        for insights in std::mem::take(&mut self.done) {
            let value = to_tool_input(&insights);
            let joins = groups.last().is_some_and(|g| {
                let mut values: Vec<Value> = g.iter().map(|(v, _)| v.clone()).collect();
                values.push(value.clone());
                fits(&values)
            });
            match groups.last_mut() {
                Some(group) if joins => group.push((value, insights)),
                _ => groups.push(vec![(value, insights)]),
            }
        }
        // Each round must combine something, or it would never end.
        if groups.iter().all(|g| g.len() < 2) {
            return Err(ConversationError::TooLargeToCombine {
                max: self.max_input_tokens,
            });
        }
        Ok(groups
            .into_iter()
            .map(|mut group| {
                if group.len() == 1 {
                    if let Some((_, insights)) = group.pop() {
                        return Task::Keep(insights);
                    }
                }
                let values: Vec<Value> = group.into_iter().map(|(v, _)| v).collect();
                Task::Ask {
                    label: Some("combining the parts".to_owned()),
                    prompt: combine_message(&self.facts, &values),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    fn facts() -> MeetingFacts {
        MeetingFacts {
            topic: "Weekly sync".into(),
            date: date!(2026 - 03 - 02),
            timezone: "UTC".into(),
            participants: vec!["Ann Lee".into(), "Bob Stone".into()],
        }
    }

    fn lines(n: usize) -> Vec<TranscriptLine> {
        (0..n)
            .map(|i| TranscriptLine {
                start_secs: i as f64 * 4.0,
                speaker: if i % 2 == 0 { "Ann Lee" } else { "Bob Stone" }.into(),
                text: format!("Line {i}: we talked about the launch plan and the budget for next quarter."),
            })
            .collect()
    }

    fn answer(summary: &str, assignee: &str) -> Value {
        json!({
            "summary": [summary],
            "topics": [{"text": "Launch", "sentiment": "neutral"}],
            "questions": [],
            "action_items": [{"text": "Send the plan", "assignee": assignee, "due_date": "2026-03-06"}],
            "follow_ups": []
        })
    }

    fn ask(step: Step) -> Request {
        match step {
            Step::Ask(r) => r,
            Step::Done(i) => panic!("done early: {i:?}"),
        }
    }

    fn done(step: Step) -> Insights {
        match step {
            Step::Done(i) => i,
            Step::Ask(r) => panic!("asked again: {r:?}"),
        }
    }

    #[test]
    fn valid_first_time() {
        let mut c = InsightsConversation::new(facts(), &lines(3), 100_000).unwrap();
        let req = c.request().unwrap();
        assert_eq!(req.system, system_prompt());
        assert_eq!(req.tool.name, "record_insights");
        assert_eq!(req.messages, [Message::user(part_message(&facts(), &lines(3), None))]);
        let insights = done(
            c.answer(ModelReply::Tool(answer("Planned the launch.", "ann lee")))
                .unwrap(),
        );
        assert_eq!(insights.summary, ["Planned the launch."]);
        assert_eq!(insights.action_items[0].assignee.as_deref(), Some("Ann Lee"));
        assert_eq!(c.request(), None);
        assert_eq!(c.answer(ModelReply::Text("late".into())), Err(ConversationError::Over));
    }

    #[test]
    fn invalid_then_valid() {
        let mut c = InsightsConversation::new(facts(), &lines(3), 100_000).unwrap();
        let bad = answer("Planned the launch.", "Carol");
        let retry = ask(c.answer(ModelReply::Tool(bad.clone())).unwrap());
        assert_eq!(retry.messages.len(), 3);
        assert_eq!(
            retry.messages[0],
            Message::user(part_message(&facts(), &lines(3), None))
        );
        assert_eq!(
            retry.messages[1],
            Message {
                role: Role::Assistant,
                text: bad.to_string()
            }
        );
        assert_eq!(
            retry.messages[2].text,
            "Your previous answer was invalid: action_items[0].assignee \"Carol\" is not one of the \
             participants. Call record_insights again with a corrected answer."
        );
        assert_eq!(c.request(), Some(retry));
        let insights = done(
            c.answer(ModelReply::Tool(answer("Planned the launch.", "Bob Stone")))
                .unwrap(),
        );
        assert_eq!(insights.action_items[0].assignee.as_deref(), Some("Bob Stone"));
    }

    #[test]
    fn invalid_twice_gives_up_with_the_reason() {
        let mut c = InsightsConversation::new(facts(), &lines(3), 100_000).unwrap();
        let retry = ask(c.answer(ModelReply::Text("Here are the insights...".into())).unwrap());
        assert_eq!(
            retry.messages[1],
            Message {
                role: Role::Assistant,
                text: "Here are the insights...".into()
            }
        );
        assert!(retry.messages[2]
            .text
            .contains("it was text, not a call of record_insights"));
        let mut bad = answer("x", "Ann Lee");
        bad["topics"][0]["sentiment"] = json!("mixed");
        let err = c.answer(ModelReply::Tool(bad)).unwrap_err();
        assert_eq!(
            err,
            ConversationError::GaveUp("topics[0].sentiment \"mixed\" is not positive, neutral or negative".into())
        );
        assert_eq!(
            err.to_string(),
            "the model's insights were invalid twice: topics[0].sentiment \"mixed\" is not positive, neutral or negative"
        );
        assert_eq!(c.request(), None);
    }

    /// A budget that makes `lines(24)` two parts but lets their answers combine at once.
    fn small_budget() -> usize {
        fixed_overhead_tokens() + 700
    }

    #[test]
    fn two_parts_then_combine() {
        let all = lines(24);
        let parts = split_into_parts(&all, &facts(), small_budget());
        assert_eq!(parts.len(), 2, "the sample must make two parts");
        let mut c = InsightsConversation::new(facts(), &all, small_budget()).unwrap();

        let first = c.request().unwrap();
        let part1 = part_message(&facts(), &parts[0], Some(PartOf { number: 1, count: 2 }));
        assert_eq!(first.messages, [Message::user(part1)]);
        assert!(first.messages[0].text.contains("\nPart 1 of 2\nTranscript:\n"));

        let second = ask(c.answer(ModelReply::Tool(answer("First half.", "ANN LEE"))).unwrap());
        assert!(second.messages[0].text.contains("\nPart 2 of 2\nTranscript:\n"));

        let combine = ask(c.answer(ModelReply::Tool(answer("Second half.", "Bob Stone"))).unwrap());
        let expected = combine_message(
            &facts(),
            &[
                to_tool_input(&validate(&answer("First half.", "Ann Lee"), &facts()).unwrap()),
                to_tool_input(&validate(&answer("Second half.", "Bob Stone"), &facts()).unwrap()),
            ],
        );
        assert_eq!(combine.messages, [Message::user(expected)]);
        assert!(combine.messages[0]
            .text
            .contains("Partial insights (JSON, one per part, in order):\n[{"));

        // The combine answer follows the same rule: one retry, then the insights.
        let mut bad = answer("Whole meeting.", "Ann Lee");
        bad["action_items"][0]["due_date"] = json!("2026-03-01");
        let retry = ask(c.answer(ModelReply::Tool(bad)).unwrap());
        assert!(retry.messages[2]
            .text
            .contains("is before the meeting's date 2026-03-02"));
        let insights = done(c.answer(ModelReply::Tool(answer("Whole meeting.", "Ann Lee"))).unwrap());
        assert_eq!(insights.summary, ["Whole meeting."]);
    }

    #[test]
    fn giving_up_on_a_part_names_it() {
        let mut c = InsightsConversation::new(facts(), &lines(24), small_budget()).unwrap();
        ask(c.answer(ModelReply::Tool(answer("First half.", "Ann Lee"))).unwrap());
        ask(c.answer(ModelReply::Tool(answer("Second half.", "Zed"))).unwrap());
        let err = c.answer(ModelReply::Tool(answer("Second half.", "Zed"))).unwrap_err();
        assert_eq!(
            err,
            ConversationError::GaveUp(
                "part 2 of 2: action_items[0].assignee \"Zed\" is not one of the participants".into()
            )
        );
    }

    #[test]
    fn many_parts_combine_in_groups_until_one_answer() {
        // A budget so small that each combine message holds only a few parts' answers.
        let budget = fixed_overhead_tokens() + 400;
        let mut c = InsightsConversation::new(facts(), &lines(200), budget).unwrap();
        let mut combines = 0;
        let mut requests = 0;
        let mut step = Step::Ask(c.request().unwrap());
        let insights = loop {
            match step {
                Step::Ask(req) => {
                    requests += 1;
                    assert!(requests < 500, "no end");
                    let msg = &req.messages[0].text;
                    assert!(fixed_overhead_tokens() + estimate_tokens(msg) <= budget);
                    if msg.contains("Partial insights") {
                        combines += 1;
                    }
                    step = c.answer(ModelReply::Tool(answer("Some.", "Ann Lee"))).unwrap();
                }
                Step::Done(i) => break i,
            }
        };
        assert!(combines > 1, "{combines} combine requests");
        assert_eq!(insights.summary, ["Some."]);
    }

    #[test]
    fn too_small_a_budget_is_refused() {
        let err = InsightsConversation::new(facts(), &lines(3), 100).err();
        assert!(matches!(err, Some(ConversationError::BudgetTooSmall { max: 100, .. })));
    }
}

//! `zoom-symbl redrive [--queue work|producer|notifier]`: dead letters shown, then moved back
//! to where they failed: a work item onto the work queue, a producer or notifier event
//! (Lambda's on-failure record) invoked again. Each is deleted only once it is moved.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{json, Value};

use crate::args::{QueueName, RedriveArgs};
use crate::error::{CliError, Result};
use crate::output::{print_json, table, when};
use crate::stack::Stack;

/// How long the messages read are hidden from others while this command moves them.
const HOLD_SECS: i32 = 120;

/// One dead letter, as shown.
struct Letter {
    queue: QueueName,
    message: Message,
    /// What to send or invoke again.
    payload: String,
    meeting: String,
    why: String,
}

pub async fn run(stack: &Stack, args: &RedriveArgs, as_json: bool) -> Result<()> {
    let queues = args.queue.map_or_else(|| QueueName::ALL.to_vec(), |q| vec![q]);
    let mut letters = Vec::new();
    for queue in &queues {
        letters.extend(read(stack, *queue).await?);
    }
    let shown: Vec<Value> = letters
        .iter()
        .map(|l| {
            let sent = l
                .message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse::<i64>().ok())
                .map(|ms| when(ms / 1000));
            json!({"queue": l.queue.as_str(), "meeting": l.meeting, "why": l.why, "sent": sent})
        })
        .collect();
    if !as_json {
        if shown.is_empty() {
            println!("No dead letters in {}.", names(&queues));
        } else {
            let rows = shown
                .iter()
                .map(|r| {
                    let t = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                    vec![t("queue"), t("sent"), t("meeting"), t("why")]
                })
                .collect();
            println!("{}\n", table(&["queue", "dead since", "meeting", "why"], rows));
        }
    }
    let mut moved = 0;
    let mut failures = Vec::new();
    for letter in &letters {
        if args.dry_run {
            release(stack, letter).await;
            continue;
        }
        match redrive(stack, letter).await {
            Ok(()) => moved += 1,
            Err(e) => {
                release(stack, letter).await;
                failures.push(format!("{} ({}): {e}", letter.meeting, letter.queue.as_str()));
            }
        }
    }
    if as_json {
        print_json(&json!({
            "dead_letters": shown, "moved": moved, "failed": failures, "dry_run": args.dry_run,
        }));
    } else if !letters.is_empty() {
        if args.dry_run {
            println!("Moved nothing (--dry-run): {} stay.", letters_n(letters.len()));
        } else {
            println!("Moved {moved} of {} back.", letters_n(letters.len()));
        }
        for f in &failures {
            println!("Not moved: {f}");
        }
    }
    if !failures.is_empty() {
        return Err(CliError::Partial(format!(
            "{} dead letters could not be moved",
            failures.len()
        )));
    }
    Ok(())
}

fn letters_n(n: usize) -> String {
    format!("{n} dead letter{}", if n == 1 { "" } else { "s" })
}

fn names(queues: &[QueueName]) -> String {
    let names: Vec<&str> = queues.iter().map(|q| q.as_str()).collect();
    format!(
        "the {} dead-letter queue{}",
        names.join(", "),
        if names.len() > 1 { "s" } else { "" }
    )
}

fn dead_letter_url(stack: &Stack, queue: QueueName) -> Result<&str> {
    stack.output(match queue {
        QueueName::Work => "WorkDeadLetterQueueUrl",
        QueueName::Producer => "ProducerFailureQueueUrl",
        QueueName::Notifier => "NotifierFailureQueueUrl",
    })
}

/// Every message in the queue, hidden from others while this command runs.
async fn read(stack: &Stack, queue: QueueName) -> Result<Vec<Letter>> {
    let url = dead_letter_url(stack, queue)?;
    let sqs = stack.sqs();
    let mut letters = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(HOLD_SECS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| CliError::aws("SQS ReceiveMessage", e))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(letters);
        }
        for message in messages {
            letters.push(letter(queue, message));
        }
    }
}

/// What the message is: the work item's meeting, or the failed invocation's event and error.
fn letter(queue: QueueName, message: Message) -> Letter {
    let body: Value = message
        .body()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    let receives = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned()
        .unwrap_or_default();
    let (payload, meeting, why) = match queue {
        QueueName::Work => (
            message.body().unwrap_or_default().to_owned(),
            body["meeting_key"].as_str().unwrap_or("?").to_owned(),
            "the consumer could not submit it (its receives ran out)".to_owned(),
        ),
        QueueName::Producer | QueueName::Notifier => {
            // Lambda's on-failure record: the event, and how the last attempt ended.
            let request = body["requestPayload"].clone();
            let meeting = request["meeting_key"]
                .as_str()
                .or(request["payload"]["object"]["uuid"].as_str())
                .or(request["resend"]["meeting_key"].as_str())
                .or(request["job_id"].as_str())
                .or(request["detail"]["TranscriptionJobName"].as_str())
                .unwrap_or("?")
                .to_owned();
            let why = [
                body["requestContext"]["condition"].as_str(),
                body["responsePayload"]["errorMessage"].as_str(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
            (request.to_string(), meeting, why)
        }
    };
    let why = if why.is_empty() {
        format!("received {receives} times")
    } else {
        why
    };
    Letter {
        queue,
        message,
        payload,
        meeting,
        why,
    }
}

async fn redrive(stack: &Stack, letter: &Letter) -> Result<()> {
    match letter.queue {
        QueueName::Work => {
            stack
                .sqs()
                .send_message()
                .queue_url(stack.output("WorkQueueUrl")?)
                .message_body(&letter.payload)
                .send()
                .await
                .map_err(|e| CliError::aws("SQS SendMessage", e))?;
        }
        QueueName::Producer | QueueName::Notifier => {
            if letter.payload == "null" {
                return Err(CliError::remote("the dead letter", "it holds no event to invoke again"));
            }
            let function = stack.output(if letter.queue == QueueName::Producer {
                "ProducerFunctionName"
            } else {
                "NotifierFunctionName"
            })?;
            stack
                .lambda()
                .invoke()
                .function_name(function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(letter.payload.clone()))
                .send()
                .await
                .map_err(|e| CliError::aws("Lambda Invoke", e))?;
        }
    }
    let receipt = letter.message.receipt_handle().unwrap_or_default();
    stack
        .sqs()
        .delete_message()
        .queue_url(dead_letter_url(stack, letter.queue)?)
        .receipt_handle(receipt)
        .send()
        .await
        .map_err(|e| CliError::aws("SQS DeleteMessage", e))?;
    Ok(())
}

/// Visible again at once: a dead letter this command did not move stays for the next.
async fn release(stack: &Stack, letter: &Letter) {
    if let (Ok(url), Some(receipt)) = (dead_letter_url(stack, letter.queue), letter.message.receipt_handle()) {
        let _ = stack
            .sqs()
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_invocations_record_says_what_and_why() {
        let body = json!({
            "requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": {"meeting_key": "k1", "run": 1},
            "responsePayload": {"errorMessage": "zoom download: HTTP 503"},
        });
        let l = letter(QueueName::Producer, Message::builder().body(body.to_string()).build());
        assert_eq!(l.meeting, "k1");
        assert_eq!(l.why, "RetriesExhausted: zoom download: HTTP 503");
        assert_eq!(
            serde_json::from_str::<Value>(&l.payload).unwrap(),
            json!({"meeting_key": "k1", "run": 1})
        );
        let w = letter(
            QueueName::Work,
            Message::builder()
                .body(r#"{"meeting_key":"k2","produced_at":"x"}"#)
                .build(),
        );
        assert_eq!((w.meeting.as_str(), w.payload.contains("k2")), ("k2", true));
    }
}

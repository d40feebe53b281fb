//! `zoom-symbl resend <meeting> [--to ADDRESS]`: the notifier renders the meeting's email
//! from what is stored and sends it again (it holds the SMTP login and the page key).

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::{json, Value};

use crate::args::ResendArgs;
use crate::error::{CliError, Result};
use crate::meeting_ref::MeetingRef;
use crate::output::{fields, print_json};
use crate::records::MeetingRecord;
use crate::stack::Stack;

pub async fn run(stack: &Stack, args: &ResendArgs, as_json: bool) -> Result<()> {
    if let Some(to) = &args.to {
        check_address(to)?;
    }
    let meeting = MeetingRef::parse(&args.meeting.meeting)?;
    let key = meeting.resolve(stack).await?;
    let record = MeetingRecord::load(stack, &key)
        .await?
        .ok_or_else(|| CliError::NoSuchMeeting(meeting.to_string()))?;
    let request = json!({"resend": {"meeting_key": key.to_string(), "to": args.to}});
    let out = stack
        .lambda()
        .invoke()
        .function_name(stack.output("NotifierFunctionName")?)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(request.to_string()))
        .send()
        .await
        .map_err(|e| CliError::aws("Lambda Invoke (notifier)", e))?;
    let answer: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    if out.function_error().is_some() {
        let message = answer["errorMessage"]
            .as_str()
            .unwrap_or("the notifier failed")
            .to_owned();
        return Err(if message.contains("no email yet") || message.contains("not stored") {
            CliError::Refused(format!("meeting {meeting}: {message}"))
        } else if message.contains("no meeting") {
            CliError::NoSuchMeeting(meeting.to_string())
        } else {
            CliError::remote("the notifier", message)
        });
    }
    let (Some(kind), Some(to)) = (answer["resent"].as_str(), answer["to"].as_str()) else {
        return Err(CliError::remote("the notifier", format!("unexpected answer: {answer}")));
    };
    if as_json {
        print_json(&json!({
            "meeting_key": key.to_string(),
            "email": kind,
            "to": to,
            "message_id": answer["message_id"],
        }));
    } else {
        println!(
            "{}",
            fields(&[
                (
                    "Sent",
                    format!("the {kind} email of {}", record.text("topic").unwrap_or_default())
                ),
                ("To", to.to_owned()),
                ("Message-ID", answer["message_id"].as_str().unwrap_or("").to_owned()),
            ])
        );
    }
    Ok(())
}

/// A plain check before anything is sent; the relay has the last word.
fn check_address(to: &str) -> Result<()> {
    let ok = to
        .split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.starts_with('.'))
        && !to
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == '<' || c == '>');
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!("--to {to:?} is not one email address")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_plain_address_only() {
        assert!(check_address("ops@example.com").is_ok());
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@localhost",
            "a@b.com, c@d.com",
            "Ops <ops@example.com>",
        ] {
            assert!(matches!(check_address(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}

//! `zoom-symbl list`: meetings newest first from the `by_month` index, or the ones past their
//! state's deadline from `by_due` (`--stuck`); never a table scan.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use time::{Date, Duration, OffsetDateTime};
use zoom_symbl_core::lifecycle::MeetingState;
use zoom_symbl_core::timefmt::unix_now;

use crate::args::ListArgs;
use crate::error::{CliError, Result};
use crate::output::{print_json, relative, table, when_text};
use crate::records::{number, text, Item};
use crate::stack::Stack;

pub async fn run(stack: &Stack, args: &ListArgs, as_json: bool) -> Result<()> {
    let states = parse_states(&args.state)?;
    let now = OffsetDateTime::now_utc();
    let since = parse_since(&args.since, now)?;
    let mut items = if args.stuck {
        stuck(stack, &states, unix_now(), args.limit).await?
    } else {
        recent(stack, &states, since, now, args.limit).await?
    };
    items.truncate(args.limit);
    let rows: Vec<Value> = items.iter().map(|i| row(i, unix_now())).collect();
    if as_json {
        print_json(&Value::Array(rows));
        return Ok(());
    }
    if rows.is_empty() {
        println!("No meetings{}.", if args.stuck { " past their deadline" } else { "" });
        return Ok(());
    }
    let cells = rows
        .iter()
        .map(|r| {
            let t = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            vec![
                when_text(&t("received_at")),
                t("state"),
                t("deadline"),
                t("topic"),
                t("host_email"),
                t("uuid"),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["received", "state", "deadline", "topic", "host", "uuid"], cells)
    );
    Ok(())
}

fn row(i: &Item, now: i64) -> Value {
    json!({
        "meeting_key": text(i, "meeting_key"),
        "uuid": text(i, "uuid"),
        "received_at": text(i, "received_at"),
        "state": text(i, "status"),
        "run": number(i, "run").unwrap_or(1),
        "topic": text(i, "topic"),
        "host_email": text(i, "host_email"),
        "due_at": number(i, "due_at"),
        "deadline": number(i, "due_at").map(|d| relative(d, now)),
        "failure_reason": text(i, "failure_reason"),
    })
}

/// Each month's partition from now back to `since`, newest first, until `limit`.
async fn recent(
    stack: &Stack,
    states: &[MeetingState],
    since: OffsetDateTime,
    now: OffsetDateTime,
    limit: usize,
) -> Result<Vec<Item>> {
    let table_name = stack.output("MeetingsTableName")?;
    let since_text = rfc3339(since);
    let mut out = Vec::new();
    for month in months_back(now.date(), since.date()) {
        let mut start = None;
        loop {
            let mut q = stack
                .dynamodb()
                .query()
                .table_name(table_name)
                .index_name("by_month")
                .key_condition_expression("received_month = :m AND received_at >= :since")
                .expression_attribute_values(":m", AttributeValue::S(month.clone()))
                .expression_attribute_values(":since", AttributeValue::S(since_text.clone()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start);
            if !states.is_empty() {
                let names: Vec<String> = (0..states.len()).map(|i| format!(":s{i}")).collect();
                q = q
                    .filter_expression(format!("#st IN ({})", names.join(", ")))
                    .expression_attribute_names("#st", "status");
                for (name, state) in names.iter().zip(states) {
                    q = q.expression_attribute_values(name, AttributeValue::S(state.as_str().into()));
                }
            }
            let page = q.send().await.map_err(|e| CliError::aws("DynamoDB Query", e))?;
            out.extend(page.items.unwrap_or_default());
            if out.len() >= limit {
                return Ok(out);
            }
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
    }
    Ok(out)
}

/// Meetings past their state's deadline, most overdue first.
async fn stuck(stack: &Stack, states: &[MeetingState], now: i64, limit: usize) -> Result<Vec<Item>> {
    let table_name = stack.output("MeetingsTableName")?;
    let wanted = if states.is_empty() {
        MeetingState::ALL.to_vec()
    } else {
        states.to_vec()
    };
    let mut out = Vec::new();
    for state in wanted {
        let mut start = None;
        loop {
            let page = stack
                .dynamodb()
                .query()
                .table_name(table_name)
                .index_name("by_due")
                .key_condition_expression("#st = :st AND due_at < :now")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":st", AttributeValue::S(state.as_str().into()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| CliError::aws("DynamoDB Query", e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if out.len() < limit => start = Some(key),
                _ => break,
            }
        }
    }
    out.sort_by_key(|i| number(i, "due_at").unwrap_or(i64::MAX));
    Ok(out)
}

fn parse_states(raw: &[String]) -> Result<Vec<MeetingState>> {
    raw.iter()
        .flat_map(|s| s.split(','))
        .map(|s| {
            MeetingState::parse(s.trim()).ok_or_else(|| {
                let known: Vec<&str> = MeetingState::ALL.iter().map(|s| s.as_str()).collect();
                CliError::Usage(format!("no state {s:?}; the states are {}", known.join(", ")))
            })
        })
        .collect()
}

/// `7d`, `24h`, `2w`, `90m` back from now, or a date (midnight UTC).
pub fn parse_since(raw: &str, now: OffsetDateTime) -> Result<OffsetDateTime> {
    let raw = raw.trim();
    let bad = || CliError::Usage(format!("--since {raw:?}: use 7d, 24h, 2w, 90m or a date (2026-11-01)"));
    if let Ok(date) = Date::parse(raw, time::macros::format_description!("[year]-[month]-[day]")) {
        return Ok(date.midnight().assume_utc());
    }
    let split = raw.len().checked_sub(1).ok_or_else(bad)?;
    let (count, unit) = raw.split_at(split);
    let count: i64 = count.parse().map_err(|_| bad())?;
    let back = match unit {
        "m" => Duration::minutes(count),
        "h" => Duration::hours(count),
        "d" => Duration::days(count),
        "w" => Duration::weeks(count),
        _ => return Err(bad()),
    };
    Ok(now - back)
}

/// `2026-12`, `2026-11`, ... from `to`'s month back to `from`'s.
fn months_back(to: Date, from: Date) -> Vec<String> {
    let (mut y, mut m) = (to.year(), u8::from(to.month()));
    let stop = (from.year(), u8::from(from.month()));
    let mut out = Vec::new();
    // Bounded: a `--since` of years is still a few dozen queries.
    while (y, m) >= stop && out.len() < 240 {
        out.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    }
    out
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn since_reads_spans_and_dates() {
        let now = datetime!(2026-12-06 10:00 UTC);
        assert_eq!(parse_since("7d", now).unwrap(), datetime!(2026-11-29 10:00 UTC));
        assert_eq!(parse_since("24h", now).unwrap(), datetime!(2026-12-05 10:00 UTC));
        assert_eq!(parse_since("2w", now).unwrap(), datetime!(2026-11-22 10:00 UTC));
        assert_eq!(parse_since("2026-11-01", now).unwrap(), datetime!(2026-11-01 0:00 UTC));
        for bad in ["", "d", "7", "7y", "yesterday"] {
            assert!(matches!(parse_since(bad, now), Err(CliError::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn the_months_to_ask_newest_first() {
        assert_eq!(
            months_back(date!(2026 - 01 - 05), date!(2025 - 11 - 30)),
            ["2026-01", "2025-12", "2025-11"]
        );
        assert_eq!(months_back(date!(2026 - 12 - 06), date!(2026 - 12 - 01)), ["2026-12"]);
    }

    #[test]
    fn states_by_name_with_a_plain_refusal() {
        assert_eq!(
            parse_states(&["failed,queued".into()]).unwrap(),
            [MeetingState::Failed, MeetingState::Queued]
        );
        let err = parse_states(&["done".into()]).unwrap_err().to_string();
        assert!(
            err.contains("no state \"done\"") && err.contains("transcribed"),
            "{err}"
        );
    }
}

//! Timestamps as RFC 3339 strings, the one format every record uses.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    // Formatting a valid UTC OffsetDateTime as RFC 3339 cannot fail for years 0..=9999.
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A Unix time in milliseconds (the Lambda context's deadline) as an instant on the
/// monotonic clock, so a budget against it cannot be fooled by a clock step.
pub fn instant_of_unix_ms(unix_ms: u64) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    std::time::Instant::now() + std::time::Duration::from_millis(unix_ms.saturating_sub(now_ms))
}

const DATE_FORMAT: &str = "%-d %B %Y, %H:%M";

/// The start in the meeting's own time zone, named (`31 May 2024, 11:00 (America/Los_Angeles)`);
/// in UTC, labelled so, when the zone is absent or unknown. `None`: not an RFC 3339 time.
pub fn local_time(start_time: &str, timezone: Option<&str>) -> Option<String> {
    let at: Timestamp = start_time.trim().parse().ok()?;
    let zone = timezone.and_then(|name| Some((TimeZone::get(name.trim()).ok()?, name.trim())));
    Some(match zone {
        Some((tz, name)) => {
            let label = tz.iana_name().unwrap_or(name).to_owned();
            format!("{} ({label})", at.to_zoned_datetime(tz).strftime(DATE_FORMAT))
        }
        None => format!("{} UTC", at.to_zoned_datetime(TimeZone::UTC).strftime(DATE_FORMAT)),
    })
}

//! The pieces behind the two list endpoints a backfill walks, `GET /v2/users` and
//! `GET /v2/users/{userId}/recordings`: users derived from meeting hosts, the date window,
//! opaque page tokens and the per-second ("Medium") rate limit.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration as StdDuration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::macros::format_description;
use time::Date;

/// Zoom's default and maximum `page_size` for list calls.
pub const DEFAULT_PAGE_SIZE: usize = 30;
pub const MAX_PAGE_SIZE: usize = 300;
/// Zoom lets a `next_page_token` live 15 minutes.
const PAGE_TOKEN_SECS: i64 = 900;

/// A stable, Zoom-looking user id (22 URL-safe base64 characters) for an email, so the
/// same host gets the same id in every run and in every meeting's `host_id`.
pub fn user_id(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    B64.encode(&digest[..16])
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl User {
    pub fn new(email: &str, first_name: &str, last_name: &str) -> User {
        User {
            id: user_id(email),
            email: email.trim().to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
        }
    }

    /// A meeting host nobody described: names guessed from the local part
    /// ("dana.host@…" → "Dana" "Host").
    pub fn from_email(email: &str) -> User {
        let local = email.split('@').next().unwrap_or("");
        let mut words = local
            .split(['.', '_', '-', '+'])
            .filter(|w| !w.is_empty())
            .map(capitalize);
        let first = words.next().unwrap_or_default();
        let last = words.collect::<Vec<_>>().join(" ");
        User::new(email, &first, &last)
    }

    /// Case-insensitive key: Zoom treats emails that way.
    pub fn key(&self) -> String {
        self.email.to_lowercase()
    }

    /// Matches the path's `{userId}`: the id or the email.
    pub fn is(&self, user_id_or_email: &str) -> bool {
        self.id == user_id_or_email || self.email.eq_ignore_ascii_case(user_id_or_email)
    }

    pub fn json(&self) -> Value {
        let display = format!("{} {}", self.first_name, self.last_name);
        json!({
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "display_name": display.trim(),
            "type": 2,
            "status": "active",
            "timezone": "UTC",
        })
    }
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A query value that is present and not blank.
fn given(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

pub fn format_date(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

/// The same day one calendar month later, clamped to that month's end (Jan 31 → Feb 28/29).
fn plus_one_month(d: Date) -> Date {
    let (year, month) = match d.month() {
        time::Month::December => (d.year() + 1, time::Month::January),
        m => (d.year(), m.next()),
    };
    let day = d.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MAX)
}

/// `from`/`to` as Zoom reads them: `to` defaults to today, `from` to the day before `to`;
/// at most one calendar month apart. The error is the message of a 400 with code 300.
pub fn date_window(from: Option<&str>, to: Option<&str>, today: Date) -> Result<(Date, Date), String> {
    let to = match given(to) {
        None => today,
        Some(s) => parse_date(s).ok_or_else(|| format!("Invalid field: to ({s}); expected yyyy-mm-dd."))?,
    };
    let from = match given(from) {
        None => to.previous_day().unwrap_or(to),
        Some(s) => parse_date(s).ok_or_else(|| format!("Invalid field: from ({s}); expected yyyy-mm-dd."))?,
    };
    if from > to {
        return Err("The from date must not be after the to date.".into());
    }
    if to > plus_one_month(from) {
        return Err("The date range must be within one month.".into());
    }
    Ok((from, to))
}

/// Default 30; Zoom caps larger values at 300. Zero or junk is refused (400, code 300).
pub fn page_size(raw: Option<&str>) -> Result<usize, String> {
    match given(raw) {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(MAX_PAGE_SIZE)),
            _ => Err(format!("Invalid field: page_size ({s}).")),
        },
    }
}

struct Cursor {
    /// The query the token belongs to: a token from another listing is invalid.
    scope: String,
    offset: usize,
    expires: i64,
}

/// Opaque `next_page_token`s kept server-side. A token can be replayed until it expires, so a
/// client retrying a page after a 429 gets the same page again.
#[derive(Default)]
pub struct Pager {
    cursors: HashMap<String, Cursor>,
}

impl Pager {
    /// Where a page starts: 0 without a token, else the token's offset (None = invalid/expired).
    pub fn resume(&self, scope: &str, token: Option<&str>, now: i64) -> Option<usize> {
        match given(token) {
            None => Some(0),
            Some(t) => self
                .cursors
                .get(t)
                .filter(|c| c.scope == scope && c.expires > now)
                .map(|c| c.offset),
        }
    }

    pub fn issue(&mut self, scope: &str, offset: usize, now: i64) -> String {
        self.cursors.retain(|_, c| c.expires > now);
        let token: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        self.cursors.insert(
            token.clone(),
            Cursor {
                scope: scope.to_owned(),
                offset,
                expires: now + PAGE_TOKEN_SECS,
            },
        );
        token
    }
}

/// Zoom's per-second limit for the list endpoints, plus a counter that forces the next
/// requests to 429 so tests can prove a client backs off without racing the clock.
pub struct RateLimit {
    /// Requests admitted per rolling second; 0 = unlimited.
    per_sec: u32,
    admitted: VecDeque<Instant>,
    forced: u32,
}

impl RateLimit {
    pub fn new(per_sec: u32) -> RateLimit {
        RateLimit {
            per_sec,
            admitted: VecDeque::new(),
            forced: 0,
        }
    }

    pub fn force_next(&mut self, n: u32) {
        self.forced = n;
    }

    /// false = answer 429. Refused requests do not use up the window.
    pub fn admit(&mut self, now: Instant) -> bool {
        if self.forced > 0 {
            self.forced -= 1;
            return false;
        }
        if self.per_sec == 0 {
            return true;
        }
        let second = StdDuration::from_secs(1);
        while self
            .admitted
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= second)
        {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= self.per_sec as usize {
            return false;
        }
        self.admitted.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn user_ids_are_stable_and_case_blind() {
        let id = user_id("Dana.Host@Example.com");
        assert_eq!(id, user_id("dana.host@example.com"));
        assert_eq!(id.len(), 22);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(id, user_id("other@example.com"));
        let u = User::from_email("dana.host-x@example.com");
        assert_eq!((u.first_name.as_str(), u.last_name.as_str()), ("Dana", "Host X"));
        assert_eq!(u.json()["display_name"], "Dana Host X");
        assert_eq!(User::from_email("host@example.com").json()["display_name"], "Host");
        assert!(u.is(&u.id) && u.is("DANA.HOST-X@example.com") && !u.is("dana"));
    }

    #[test]
    fn date_window_defaults_and_limits() {
        let today = date!(2024 - 03 - 15);
        assert_eq!(date_window(None, None, today), Ok((date!(2024 - 03 - 14), today)));
        assert_eq!(
            date_window(None, Some("2024-01-01"), today),
            Ok((date!(2023 - 12 - 31), date!(2024 - 01 - 01)))
        );
        assert_eq!(
            date_window(Some("2024-01-31"), Some("2024-02-29"), today),
            Ok((date!(2024 - 01 - 31), date!(2024 - 02 - 29)))
        );
        assert!(date_window(Some("2024-01-31"), Some("2024-03-01"), today).is_err());
        assert_eq!(
            date_window(Some("2024-01-15"), Some("2024-02-15"), today),
            Ok((date!(2024 - 01 - 15), date!(2024 - 02 - 15)))
        );
        assert_eq!(
            date_window(Some("2024-01-15"), Some("2024-02-16"), today),
            Err("The date range must be within one month.".into())
        );
        assert!(date_window(Some("2023-12-20"), Some("2024-01-20"), today).is_ok());
        for bad in ["2024-1-5", "2024-02-30", "yesterday", "20240101"] {
            assert!(date_window(Some(bad), Some("2024-02-01"), today).is_err(), "{bad}");
            assert!(date_window(None, Some(bad), today).is_err(), "{bad}");
        }
        assert!(date_window(Some("2024-02-02"), Some("2024-02-01"), today).is_err());
        assert_eq!(format_date(date!(2024 - 02 - 01)), "2024-02-01");
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None), Ok(30));
        assert_eq!(page_size(Some("")), Ok(30));
        assert_eq!(page_size(Some("2")), Ok(2));
        assert_eq!(page_size(Some("5000")), Ok(300));
        assert!(page_size(Some("0")).is_err());
        assert!(page_size(Some("-1")).is_err());
    }

    #[test]
    fn page_tokens_are_scoped_replayable_and_expire() {
        let mut p = Pager::default();
        assert_eq!(p.resume("a", None, 0), Some(0));
        assert_eq!(p.resume("a", Some(""), 0), Some(0));
        let t = p.issue("a", 4, 0);
        assert_eq!(p.resume("a", Some(&t), 10), Some(4));
        assert_eq!(p.resume("a", Some(&t), 10), Some(4));
        assert_eq!(p.resume("b", Some(&t), 10), None);
        assert_eq!(p.resume("a", Some("nope"), 10), None);
        assert_eq!(p.resume("a", Some(&t), PAGE_TOKEN_SECS), None);
    }

    #[test]
    fn rate_limit_counts_a_rolling_second() {
        let t0 = Instant::now();
        let ms = |n| t0 + StdDuration::from_millis(n);
        let mut r = RateLimit::new(2);
        assert!(r.admit(ms(0)) && r.admit(ms(100)));
        assert!(!r.admit(ms(500)));
        assert!(r.admit(ms(1000)));
        assert!(!r.admit(ms(1050)));
        assert!(r.admit(ms(1100)));
        r.force_next(2);
        assert!(!r.admit(ms(5000)) && !r.admit(ms(5001)));
        assert!(r.admit(ms(5002)));
        let mut unlimited = RateLimit::new(0);
        assert!((0..100).all(|_| unlimited.admit(t0)));
    }
}

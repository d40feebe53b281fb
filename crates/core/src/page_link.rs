//! The meeting page's link: `/meetings/{key}?t=<token>`, the token a JWT (HS256) whose subject
//! is the meeting key and whose expiry is `SummaryPageDays` away (none for 0). Made by the
//! notifier for each email, checked by the meeting page; the key is in its own secret.
//!
//! Whatever is wrong with a token (forged, altered, another meeting's, another algorithm,
//! `alg: none`, not a JWT) reads the same, [`LinkError::NotThisMeeting`], so a page says
//! nothing about whether a meeting exists; only a genuine link past its expiry says so.

use jsonwebtoken::{decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

/// The query parameter that carries the token.
pub const TOKEN_PARAM: &str = "t";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("not a link to this meeting")]
    NotThisMeeting,
    #[error("the link has expired")]
    Expired,
}

/// Signs and checks page links with the deployment's key.
#[derive(Clone)]
pub struct PageLinks {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for PageLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageLinks(<redacted>)")
    }
}

impl PageLinks {
    pub fn new(key: &SecretString) -> Self {
        let bytes = key.expose().as_bytes();
        PageLinks {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
        }
    }

    /// A token for `meeting_key`, valid for `days` from `now` (unix seconds); 0 days: for ever.
    pub fn sign(&self, meeting_key: &str, now: i64, days: u64) -> Result<String, crate::Error> {
        let claims = Claims {
            sub: meeting_key.to_owned(),
            iat: now,
            exp: (days > 0).then(|| now.saturating_add_unsigned(days.saturating_mul(86_400))),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| crate::Error::Invalid(format!("signing a page link: {e}")))
    }

    /// The page's URL for `meeting_key` under `base` (`https://.../Prod`), signed now.
    pub fn url(&self, base: &str, meeting_key: &str, now: i64, days: u64) -> Result<String, crate::Error> {
        let token = self.sign(meeting_key, now, days)?;
        Ok(format!(
            "{}/meetings/{meeting_key}?{TOKEN_PARAM}={token}",
            base.trim_end_matches('/')
        ))
    }

    /// Whether `token` opens `meeting_key`'s page at `now`.
    pub fn check(&self, token: &str, meeting_key: &str, now: i64) -> Result<(), LinkError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is ours to check (against `now`, and optional); the subject must be this meeting.
        validation.validate_exp = false;
        validation.required_spec_claims = ["sub".to_owned()].into_iter().collect();
        validation.sub = Some(meeting_key.to_owned());
        let data = decode::<Claims>(token, &self.decoding, &validation).map_err(|e| match e.kind() {
            // A signed token cannot say `exp` wrongly; anything else is simply not this page's.
            ErrorKind::ExpiredSignature => LinkError::Expired,
            _ => LinkError::NotThisMeeting,
        })?;
        match data.claims.exp {
            Some(exp) if exp <= now => Err(LinkError::Expired),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    const NOW: i64 = 1_764_000_000;

    fn links() -> PageLinks {
        PageLinks::new(&SecretString::new("a-page-key-of-the-deployment-0123456789"))
    }

    #[test]
    fn a_link_opens_its_meeting_until_it_expires() {
        let token = links().sign("m1", NOW, 30).unwrap();
        assert_eq!(links().check(&token, "m1", NOW), Ok(()));
        assert_eq!(links().check(&token, "m1", NOW + 30 * 86_400 - 1), Ok(()));
        assert_eq!(links().check(&token, "m1", NOW + 30 * 86_400), Err(LinkError::Expired));
    }

    #[test]
    fn zero_days_never_expires() {
        let token = links().sign("m1", NOW, 0).unwrap();
        assert_eq!(links().check(&token, "m1", NOW + 10 * 365 * 86_400), Ok(()));
    }

    #[test]
    fn another_meetings_link_a_forged_or_altered_one_is_not_this_meetings() {
        let token = links().sign("m1", NOW, 30).unwrap();
        assert_eq!(links().check(&token, "m2", NOW), Err(LinkError::NotThisMeeting));
        let forged = PageLinks::new(&SecretString::new("someone-elses-key"))
            .sign("m1", NOW, 30)
            .unwrap();
        assert_eq!(links().check(&forged, "m1", NOW), Err(LinkError::NotThisMeeting));
        // The payload changed (another meeting, a later expiry), the signature kept.
        let parts: Vec<&str> = token.split('.').collect();
        let altered = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"m2","iat":{NOW}}}"#));
        let altered = format!("{}.{altered}.{}", parts[0], parts[2]);
        assert_eq!(links().check(&altered, "m2", NOW), Err(LinkError::NotThisMeeting));
        for junk in ["", "not-a-jwt", "a.b.c", &format!("{token}x")] {
            assert_eq!(links().check(junk, "m1", NOW), Err(LinkError::NotThisMeeting), "{junk}");
        }
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"m1","iat":{NOW}}}"#));
        for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"HS512","typ":"JWT"}"#] {
            let header = URL_SAFE_NO_PAD.encode(header);
            for signature in ["", "c2ln"] {
                let token = format!("{header}.{payload}.{signature}");
                assert_eq!(
                    links().check(&token, "m1", NOW),
                    Err(LinkError::NotThisMeeting),
                    "{token}"
                );
            }
        }
    }

    #[test]
    fn the_url_carries_the_key_and_the_token() {
        let url = links().url("https://api.example/Prod/", "m1", NOW, 1).unwrap();
        let (page, token) = url.split_once("?t=").unwrap();
        assert_eq!(page, "https://api.example/Prod/meetings/m1");
        assert_eq!(links().check(token, "m1", NOW), Ok(()));
        assert_eq!(format!("{:?}", links()), "PageLinks(<redacted>)");
    }
}

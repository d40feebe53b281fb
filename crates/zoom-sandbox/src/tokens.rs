//! JWT-shaped bearer tokens and signed CDN links, both keyed by a per-process
//! random key so nothing survives a restart.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// `download_token` / `download_access_token`: downloads only.
    Download,
    /// Server-to-Server OAuth access token: API calls and downloads.
    S2s,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    kind: TokenKind,
    iat: i64,
    exp: i64,
    jti: String,
}

pub struct Keys {
    key: [u8; 32],
}

impl Keys {
    pub fn random() -> Keys {
        Keys { key: rand::random() }
    }

    #[allow(clippy::expect_used, reason = "HMAC takes a key of any length")]
    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }

    /// `header.payload.sig`; a non-positive ttl gives an already expired token.
    pub fn issue(&self, kind: TokenKind, ttl_secs: i64, now: i64) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = Claims {
            iss: "zoom-sandbox".into(),
            kind,
            iat: now,
            exp: now.saturating_add(ttl_secs),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        #[allow(clippy::expect_used, reason = "strings and integers always serialise")]
        let payload = B64.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let signed = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    pub fn check(&self, token: &str, now: i64) -> Result<TokenKind, TokenError> {
        let (signed, sig) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Invalid)?;
        let payload = signed.split('.').nth(1).ok_or(TokenError::Invalid)?;
        let bytes = B64.decode(payload).map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims.kind)
    }

    pub fn cdn_sig(&self, file_id: &str, exp: i64) -> String {
        let mut mac = self.mac();
        mac.update(format!("cdn:{file_id}:{exp}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn cdn_ok(&self, file_id: &str, exp: i64, sig: &str, now: i64) -> bool {
        let Ok(sig) = hex::decode(sig) else { return false };
        let mut mac = self.mac();
        mac.update(format!("cdn:{file_id}:{exp}").as_bytes());
        exp > now && mac.verify_slice(&sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let keys = Keys::random();
        let t = keys.issue(TokenKind::Download, 60, 1_000);
        assert_eq!(t.split('.').count(), 3);
        assert_eq!(keys.check(&t, 1_000), Ok(TokenKind::Download));
        assert_eq!(keys.check(&t, 1_059), Ok(TokenKind::Download));
        assert_eq!(keys.check(&t, 1_060), Err(TokenError::Expired));
        let expired = keys.issue(TokenKind::S2s, -1, 1_000);
        assert_eq!(keys.check(&expired, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn exp_claim_is_readable_without_the_key() {
        let t = Keys::random().issue(TokenKind::Download, 86_400, 1_000);
        let payload = B64.decode(t.split('.').nth(1).unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["exp"], 87_400);
    }

    #[test]
    fn foreign_or_tampered_tokens_are_invalid() {
        let keys = Keys::random();
        let other = Keys::random().issue(TokenKind::S2s, 60, 0);
        assert_eq!(keys.check(&other, 0), Err(TokenError::Invalid));
        let mine = keys.issue(TokenKind::Download, 60, 0);
        let mut parts: Vec<&str> = mine.split('.').collect();
        let forged = B64.encode(br#"{"iss":"x","kind":"s2s","iat":0,"exp":99999,"jti":"j"}"#);
        parts[1] = &forged;
        assert_eq!(keys.check(&parts.join("."), 0), Err(TokenError::Invalid));
        for junk in ["", "a", "a.b", "a.b.c", "..."] {
            assert_eq!(keys.check(junk, 0), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn cdn_signatures_bind_file_and_expiry() {
        let keys = Keys::random();
        let sig = keys.cdn_sig("f1", 100);
        assert!(keys.cdn_ok("f1", 100, &sig, 99));
        assert!(!keys.cdn_ok("f1", 100, &sig, 100));
        assert!(!keys.cdn_ok("f2", 100, &sig, 0));
        assert!(!keys.cdn_ok("f1", 101, &sig, 0));
        assert!(!keys.cdn_ok("f1", 100, "zz", 0));
    }
}

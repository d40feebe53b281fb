//! `x-zm-signature` verification (docs/zoom.md, "Webhook signature") and the
//! `endpoint.url_validation` answer (docs/zoom.md, "URL validation").

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SecretString;
use crate::Error;

type HmacSha256 = Hmac<Sha256>;

/// Default replay window; Zoom documents none, community practice is five minutes.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing x-zm-request-timestamp header")]
    MissingTimestamp,
    #[error("missing x-zm-signature header")]
    MissingSignature,
    #[error("x-zm-request-timestamp is not a unix time in seconds")]
    MalformedTimestamp,
    #[error("x-zm-request-timestamp is {skew_secs} s away from now (window {window_secs} s)")]
    OutsideWindow { skew_secs: i64, window_secs: u64 },
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies Zoom webhook signatures with the app's Secret Token.
#[derive(Clone)]
pub struct WebhookVerifier {
    /// Keyed once with the Secret Token; each check starts from a copy.
    keyed: HmacSha256,
    window_secs: u64,
}

impl WebhookVerifier {
    /// Fails closed: an empty secret would make every forged request verifiable.
    pub fn new(secret: SecretString, window_secs: u64) -> Result<Self, Error> {
        if secret.is_empty() {
            return Err(Error::Config("Zoom webhook secret token is empty".into()));
        }
        let keyed = HmacSha256::new_from_slice(secret.expose().as_bytes())
            .map_err(|_| Error::Config("Zoom webhook secret token is not a usable HMAC key".into()))?;
        Ok(WebhookVerifier { keyed, window_secs })
    }

    /// Checks headers and raw body bytes. `now` is unix seconds.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
        let signature = signature.ok_or(SignatureError::MissingSignature)?;
        let ts = parse_timestamp(timestamp)?;
        let skew = now.saturating_sub(ts);
        if skew.unsigned_abs() > self.window_secs {
            return Err(SignatureError::OutsideWindow {
                skew_secs: skew,
                window_secs: self.window_secs,
            });
        }
        let provided = signature
            .strip_prefix("v0=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(SignatureError::Mismatch)?;
        // verify_slice compares in constant time.
        self.mac_over(timestamp, body)
            .verify_slice(&provided)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// `encryptedToken` for an `endpoint.url_validation` challenge.
    pub fn encrypt_token(&self, plain_token: &str) -> String {
        let mut mac = self.mac();
        mac.update(plain_token.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The `x-zm-signature` value Zoom would send (used by the Zoom sandbox and tests).
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        format!(
            "v0={}",
            hex::encode(self.mac_over(timestamp, body).finalize().into_bytes())
        )
    }

    fn mac_over(&self, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac();
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac
    }

    fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

/// Decimal seconds only: no sign, no fraction, at most 12 digits (far-future values are
/// caught by the window).
fn parse_timestamp(raw: &str) -> Result<i64, SignatureError> {
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    raw.parse().map_err(|_| SignatureError::MalformedTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "zm_test_secret_token_123";
    const VALIDATION_BODY: &str = r#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1701461195123}"#;
    const RECORDING_BODY: &str = r#"{"event":"recording.completed","event_ts":1701461193266,"payload":{"account_id":"lKhkVIjNSuylhCRHs7nZzw","object":{"uuid":"WEz4RT2lSyKx2MD9Z+lYfA==","id":87565330005}},"download_token":"abc"}"#;

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::new(SecretString::new(SECRET), DEFAULT_WINDOW_SECS).unwrap()
    }

    #[test]
    fn contract_vectors_verify() {
        let v = verifier();
        let sig1 = "v0=8b188ed3c27928016b563cabe2a1850d4008092f4bc43fa2e179f799cb76a4e6";
        let sig2 = "v0=c52f5694b0b70c3f59f4f7c262df841e0b0115be1a3aad0c706216705e664e23";
        assert_eq!(v.sign("1701461195", VALIDATION_BODY.as_bytes()), sig1);
        assert_eq!(v.sign("1701461194", RECORDING_BODY.as_bytes()), sig2);
        assert_eq!(
            v.verify(Some("1701461195"), Some(sig1), VALIDATION_BODY.as_bytes(), 1701461200),
            Ok(())
        );
        assert_eq!(
            v.verify(Some("1701461194"), Some(sig2), RECORDING_BODY.as_bytes(), 1701461194),
            Ok(())
        );
    }

    #[test]
    fn contract_encrypted_token() {
        assert_eq!(
            verifier().encrypt_token("qgg8vlvZRS6UYooatFL8Aw"),
            "672785779fef03b9e9983134331e00b156084d3cd0f8a20356b85a57fe7d61df"
        );
    }

    #[test]
    fn rejects_tampering_and_wrong_secret() {
        let v = verifier();
        let sig = v.sign("1701461194", RECORDING_BODY.as_bytes());
        let tampered = RECORDING_BODY.replace("abc", "abd");
        assert_eq!(
            v.verify(Some("1701461194"), Some(&sig), tampered.as_bytes(), 1701461194),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is part of the signed message.
        assert_eq!(
            v.verify(Some("1701461195"), Some(&sig), RECORDING_BODY.as_bytes(), 1701461194),
            Err(SignatureError::Mismatch)
        );
        let other = WebhookVerifier::new(SecretString::new("other"), 300).unwrap();
        assert_eq!(
            other.verify(Some("1701461194"), Some(&sig), RECORDING_BODY.as_bytes(), 1701461194),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "v0=", "v0=zz", "v1=8b18", &sig[3..], &sig.to_uppercase()] {
            assert_eq!(
                v.verify(Some("1701461194"), Some(bad), RECORDING_BODY.as_bytes(), 1701461194),
                Err(SignatureError::Mismatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn timestamp_rules() {
        let v = verifier();
        let body = b"{}";
        let at = |ts: &str, now: i64| v.verify(Some(ts), Some(&v.sign(ts, body)), body, now);
        assert_eq!(at("1000", 1300), Ok(()));
        assert_eq!(at("1000", 700), Ok(()));
        assert_eq!(
            at("1000", 1301),
            Err(SignatureError::OutsideWindow {
                skew_secs: 301,
                window_secs: 300
            })
        );
        assert_eq!(
            at("2000", 1000),
            Err(SignatureError::OutsideWindow {
                skew_secs: -1000,
                window_secs: 300
            })
        );
        for bad in ["", "-5", "1e9", "12.5", " 1000", "1000000000000"] {
            assert_eq!(at(bad, 1000), Err(SignatureError::MalformedTimestamp), "{bad:?}");
        }
        assert_eq!(
            v.verify(None, Some("v0=00"), body, 0),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            v.verify(Some("1"), None, body, 0),
            Err(SignatureError::MissingSignature)
        );
    }

    #[test]
    fn configurable_window() {
        let v = WebhookVerifier::new(SecretString::new(SECRET), 5400).unwrap();
        let sig = v.sign("1000", b"x");
        assert_eq!(v.verify(Some("1000"), Some(&sig), b"x", 1000 + 5400), Ok(()));
    }

    #[test]
    fn fails_closed_without_secret() {
        assert!(WebhookVerifier::new(SecretString::new(""), 300).is_err());
    }
}

//! Server-to-Server OAuth, used only to re-mint a download token that has expired
//! (docs/zoom.md, "Server-to-Server OAuth", "Meeting recordings API").

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::zoom::HostAllowList;
use zoom_symbl_core::Error;

use crate::ports::DownloadTokens;

#[derive(Clone, Debug)]
pub struct S2sCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Clone)]
pub struct ZoomApi {
    pub http: reqwest::Client,
    pub oauth_url: String,
    pub default_api_base: String,
    pub allowed: HostAllowList,
    pub credentials: Option<S2sCredentials>,
}

/// True when the token is a JWT whose `exp` has passed (with a minute's margin). Tokens
/// that are not JWTs are assumed valid; the download's 401 is the final word.
pub fn jwt_expired(token: &str, now: i64) -> bool {
    let Some(payload) = token.split('.').nth(1) else {
        return false;
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return false;
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return false;
    };
    match claims.get("exp").and_then(|e| e.as_i64()) {
        // Zoom's old docs showed milliseconds; normalise.
        Some(exp) if exp > 100_000_000_000 => exp / 1000 < now + 60,
        Some(exp) => exp < now + 60,
        None => false,
    }
}

/// Meeting UUIDs double-encoded, which Zoom requires for `/`-leading or `//` UUIDs and
/// accepts for all.
pub fn double_encode(uuid: &str) -> String {
    let once = utf8_percent_encode(uuid, NON_ALPHANUMERIC).to_string();
    utf8_percent_encode(&once, NON_ALPHANUMERIC).to_string()
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    api_url: Option<String>,
}

#[derive(Deserialize)]
struct RecordingsResponse {
    download_access_token: Option<SecretString>,
}

impl DownloadTokens for ZoomApi {
    fn can_mint(&self) -> bool {
        self.credentials.is_some()
    }

    /// A fresh download token for the meeting instance.
    async fn mint_download_token(&self, meeting_uuid: &str) -> Result<SecretString, Error> {
        let creds = self
            .credentials
            .as_ref()
            .ok_or_else(|| Error::Config("no Zoom Server-to-Server OAuth credentials configured".into()))?;
        self.allowed
            .check(&self.oauth_url)
            .map_err(|e| Error::Config(format!("ZOOM_OAUTH_URL refused: {e}")))?;
        let resp = self
            .http
            .post(&self.oauth_url)
            .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", creds.account_id.as_str()),
            ])
            .send()
            .await
            .map_err(|_| Error::retryable("zoom oauth", "request failed"))?;
        let token: TokenResponse = json_or_error("zoom oauth", resp).await?;
        let base = token.api_url.unwrap_or_else(|| self.default_api_base.clone());
        let url = format!(
            "{}/v2/meetings/{}/recordings?include_fields=download_access_token&ttl=3600",
            base.trim_end_matches('/'),
            double_encode(meeting_uuid)
        );
        self.allowed
            .check(&url)
            .map_err(|e| Error::permanent("zoom api", format!("api_url refused: {e}")))?;
        let resp = self
            .http
            .get(&url)
            .bearer_auth(token.access_token.expose())
            .send()
            .await
            .map_err(|_| Error::retryable("zoom api", "request failed"))?;
        let rec: RecordingsResponse = json_or_error("zoom api", resp).await?;
        rec.download_access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::permanent("zoom api", "no download_access_token in the recordings response"))
    }
}

async fn json_or_error<T: serde::de::DeserializeOwned>(dep: &'static str, resp: reqwest::Response) -> Result<T, Error> {
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        // Zoom's error bodies ({code, message}) carry no secrets; keep a short one for the record.
        let body: String = resp.text().await.unwrap_or_default().chars().take(200).collect();
        let msg = format!("HTTP {status}: {body}");
        return Err(Error::http(dep, status, msg));
    }
    resp.json()
        .await
        .map_err(|e| Error::permanent(dep, format!("unexpected response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!("eyJhbGciOiJIUzUxMiJ9.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn expiry_from_the_jwt() {
        assert!(jwt_expired(&jwt(r#"{"exp":1000}"#), 2000));
        assert!(!jwt_expired(&jwt(r#"{"exp":5000}"#), 2000));
        assert!(
            jwt_expired(&jwt(r#"{"exp":1000000}"#), 1_000_000_000),
            "ms or s both understood"
        );
        assert!(jwt_expired(&jwt(r#"{"exp":2030}"#), 2000), "a minute's margin");
        assert!(!jwt_expired("opaque-token", 2000));
        assert!(!jwt_expired(&jwt(r#"{"sub":"x"}"#), 2000));
    }

    #[test]
    fn contract_double_encoding() {
        assert_eq!(
            double_encode("/ajXp112QmuoKj4854875=="),
            "%252FajXp112QmuoKj4854875%253D%253D"
        );
        assert_eq!(double_encode("abc//def=="), "abc%252F%252Fdef%253D%253D");
    }
}

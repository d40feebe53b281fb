//! Which hosts may receive our Zoom credentials (SSRF guard; docs/zoom.md, "Download hosts").

use url::Url;

/// Zoom's own domains; the local sandbox host is added only by configuration.
pub const DEFAULT_ALLOWED_HOSTS: &str = "zoom.us,zoom.com,zoomgov.com";

/// Hosts allowed for download URLs. An entry `zoom.us` allows `zoom.us` and any
/// subdomain of it; matching is case-insensitive and ignores the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAllowList {
    domains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRejected {
    #[error("not a URL")]
    Unparsable,
    #[error("scheme {0} is not https")]
    NotHttps(String),
    #[error("URL carries credentials")]
    HasCredentials,
    #[error("host {0} is not allowed")]
    HostNotAllowed(String),
    #[error("an IP address is not an allowed host")]
    IpLiteral,
}

/// Redirects one download may follow (Zoom's go to its CDN once).
const MAX_REDIRECTS: usize = 5;

impl HostAllowList {
    /// Parses a comma-separated list; empty entries are ignored.
    pub fn parse(list: &str) -> Self {
        let domains = list
            .split(',')
            .map(|d| {
                d.trim()
                    .trim_start_matches("*.")
                    .trim_start_matches('.')
                    .to_ascii_lowercase()
            })
            .filter(|d| !d.is_empty())
            .collect();
        HostAllowList { domains }
    }

    pub fn check(&self, raw: &str) -> Result<Url, UrlRejected> {
        let url = Url::parse(raw).map_err(|_| UrlRejected::Unparsable)?;
        if url.scheme() != "https" {
            return Err(UrlRejected::NotHttps(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRejected::HasCredentials);
        }
        if matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))) {
            return Err(UrlRejected::IpLiteral);
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        let allowed = self
            .domains
            .iter()
            .any(|d| host == d || host.strip_suffix(d.as_str()).is_some_and(|rest| rest.ends_with('.')));
        if allowed {
            Ok(url)
        } else {
            Err(UrlRejected::HostNotAllowed(host.to_owned()))
        }
    }
}

impl HostAllowList {
    /// A redirect policy that holds every hop to [`HostAllowList::check`]: a redirect to plain
    /// http, an IP address or a host off the list is refused before its request is made (so
    /// neither the token in the query nor anything else reaches it).
    pub fn redirect_policy(&self) -> reqwest::redirect::Policy {
        let list = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match list.check(attempt.url().as_str()) {
                Ok(_) => attempt.follow(),
                Err(refused) => attempt.error(format!("redirect refused: {refused}")),
            }
        })
    }
}

impl Default for HostAllowList {
    fn default() -> Self {
        HostAllowList::parse(DEFAULT_ALLOWED_HOSTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_domains_by_default() {
        let list = HostAllowList::default();
        assert!(list.check("https://us02web.zoom.us/rec/webhook_download/x").is_ok());
        assert!(list.check("https://ZOOM.US/rec/download/x").is_ok());
        assert!(list.check("https://ssrweb.zoomgov.com/x").is_ok());
        assert!(list.check("https://zoom.us.:443/x").is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        let list = HostAllowList::default();
        assert_eq!(
            list.check("http://us02web.zoom.us/x"),
            Err(UrlRejected::NotHttps("http".into()))
        );
        assert_eq!(
            list.check("https://evilzoom.us/x"),
            Err(UrlRejected::HostNotAllowed("evilzoom.us".into()))
        );
        assert_eq!(
            list.check("https://zoom.us.evil.com/x"),
            Err(UrlRejected::HostNotAllowed("zoom.us.evil.com".into()))
        );
        assert_eq!(
            list.check("https://169.254.169.254/latest"),
            Err(UrlRejected::IpLiteral)
        );
        assert_eq!(list.check("https://a:b@zoom.us/x"), Err(UrlRejected::HasCredentials));
        assert_eq!(
            list.check("file:///etc/passwd"),
            Err(UrlRejected::NotHttps("file".into()))
        );
        assert_eq!(list.check("not a url"), Err(UrlRejected::Unparsable));
        assert!(list.check("https://localhost:8443/rec").is_err());
    }

    #[test]
    fn sandbox_host_only_by_configuration() {
        let list = HostAllowList::parse("zoom.us, localhost ,");
        assert!(list.check("https://localhost:8443/rec/webhook_download/1").is_ok());
        assert!(list.check("https://us02web.zoom.us/x").is_ok());
        assert!(list.check("https://127.0.0.1:8443/x").is_err());
    }

    #[test]
    fn ip_literals_are_refused_even_when_listed() {
        let list = HostAllowList::parse("zoom.us,127.0.0.1");
        assert_eq!(list.check("https://127.0.0.1/x"), Err(UrlRejected::IpLiteral));
        assert_eq!(list.check("https://[::1]/x"), Err(UrlRejected::IpLiteral));
    }

    /// A server that answers every request with a redirect to `location` and records the paths asked for.
    async fn redirecting(location: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = paths.clone();
        let next = location.replace("{base}", &base);
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = vec![0; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or_default().to_owned();
                seen.lock().unwrap().push(path);
                let reply =
                    format!("HTTP/1.1 302 Found\r\nLocation: {next}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = conn.write_all(reply.as_bytes()).await;
            }
        });
        (base, paths)
    }

    #[tokio::test]
    async fn a_redirect_off_the_list_is_refused_before_its_request_is_made() {
        let list = HostAllowList::parse("zoom.us,localhost");
        let client = reqwest::Client::builder()
            .redirect(list.redirect_policy())
            .build()
            .unwrap();
        for target in ["{base}/next", "https://evil.example/next", "https://127.0.0.1:1/next"] {
            let (base, paths) = redirecting(target).await;
            let err = client.get(format!("{base}/start")).send().await.unwrap_err();
            assert!(
                err.is_redirect() || err.to_string().contains("redirect"),
                "{target}: {err}"
            );
            assert_eq!(
                *paths.lock().unwrap(),
                ["/start"],
                "{target}: the redirect was not followed"
            );
        }
    }
}

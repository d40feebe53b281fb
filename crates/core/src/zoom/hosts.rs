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
}

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
            Err(UrlRejected::HostNotAllowed("169.254.169.254".into()))
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
}

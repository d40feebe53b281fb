//! SMTP through lettre: STARTTLS or implicit TLS to any relay (Amazon SES, Gmail with an app
//! password), plain only when asked for (the local stack's server).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zoom_symbl_core::ports::{MailError, Mailer, OutgoingEmail};
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    StartTls,
    Tls,
    /// No encryption: only for a server on the same machine.
    None,
}

impl std::str::FromStr for Security {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            "none" => Ok(Security::None),
            other => Err(format!("{other:?} is not starttls, tls or none")),
        }
    }
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(
        host: &str,
        port: u16,
        security: Security,
        credentials: Option<(String, SecretString)>,
        from: &str,
    ) -> Result<Self, Error> {
        let config = |e: lettre::transport::smtp::Error| Error::Config(format!("SMTP relay {host}: {e}"));
        let mut builder = match security {
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(config)?,
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(config)?,
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        }
        .port(port)
        .timeout(Some(Duration::from_secs(20)));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
        }
        let from = from
            .parse()
            .map_err(|e| Error::Config(format!("SMTP_FROM {from:?}: {e}")))?;
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| MailError::Permanent(format!("recipient {:?}: {e}", email.to)))?;
        let id = format!("<{}@zoom-symbl>", uuid::Uuid::new_v4());
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(id.clone()))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(format!("building the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(id),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(e.to_string())),
            // 4xx, refused connections, timeouts, TLS trouble: all may pass.
            Err(e) => Err(MailError::Temporary(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_modes() {
        assert_eq!("STARTTLS".parse::<Security>(), Ok(Security::StartTls));
        assert!("ssl".parse::<Security>().is_err());
        assert!(SmtpMailer::new("localhost", 2525, Security::None, None, "not an address").is_err());
        assert!(SmtpMailer::new(
            "email-smtp.us-east-1.amazonaws.com",
            587,
            Security::StartTls,
            None,
            "zoom-symbl <noreply@example.com>"
        )
        .is_ok());
    }
}

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

impl SmtpMailer {
    /// The message as it is sent, and its Message-ID: `<{stable_id}@{sender's domain}>`, the same
    /// for every send of the same email.
    fn message(&self, email: &OutgoingEmail) -> Result<(Message, String), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| MailError::Permanent(format!("recipient {:?}: {e}", email.to)))?;
        // Every email is built with one; a random one only keeps the header valid without it.
        let left = match email.stable_id.trim() {
            "" => uuid::Uuid::new_v4().to_string(),
            id => id.to_owned(),
        };
        let id = format!("<{left}@{}>", self.from.email.domain());
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
        Ok((message, id))
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let (message, id) = self.message(email)?;
        self.transport.send(message).await.map_err(|e| classify(&e))?;
        Ok(id)
    }
}

/// Only a refusal of the recipient is final. Anything else (4xx, a 5xx to AUTH or MAIL FROM, a
/// relay that refuses to send at all, TLS, refused connections, timeouts) is the relay or our
/// configuration: the email stays owed and is sent once that is fixed. lettre does not say
/// at which command a reply came, so the reply decides (docs/smtp.md).
fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    // lettre keeps the reply's text as the error's source.
    let text = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    match e.status().map(u16::from) {
        Some(code) if recipient_refused(code, &text) => MailError::Permanent(e.to_string()),
        _ => MailError::Temporary(e.to_string()),
    }
}

/// An enhanced status code (RFC 3463) decides when the reply has one, since the three digits are
/// used loosely: `5.1.x` addressing and `5.2.x` mailbox are the recipient's, except `5.1.7` and
/// `5.1.8` (our sender address); `5.7.x` policy and the rest are the relay's (`550 5.7.1` is
/// relaying denied). Without one, RFC 5321's refusals of a mailbox: 550 unavailable, 551 not
/// local, 552 over its storage, 553 name not allowed, 556 domain takes no mail, 501 a malformed
/// address. (535/534/530 are authentication, 554 and 421 the relay's own refusal.)
fn recipient_refused(code: u16, text: &str) -> bool {
    if !(500..600).contains(&code) {
        return false;
    }
    match enhanced_status(text) {
        Some((1, 7 | 8)) => false,
        Some((subject, _)) => matches!(subject, 1 | 2),
        None => matches!(code, 501 | 550 | 551 | 552 | 553 | 556),
    }
}

/// The permanent `5.subject.detail` code that starts a reply's text, if it has one.
fn enhanced_status(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split_whitespace().next()?.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    if class != "5" || parts.next().is_some() {
        return None;
    }
    Some((subject.parse().ok()?, detail.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// A relay on a local port that answers `replies` to the commands they name (AUTH, MAIL,
    /// RCPT, DATA), accepts everything else, and keeps every message it is given.
    async fn relay(replies: &'static [(&'static str, &'static str)]) -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (read, mut write) = conn.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 relay ready\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                    let reply = match replies.iter().find(|(v, _)| *v == verb) {
                        Some((_, reply)) => (*reply).to_owned(),
                        None if verb == "EHLO" => "250-relay\r\n250 AUTH PLAIN LOGIN".into(),
                        None if verb == "DATA" => {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut body = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                body.push_str(&l);
                                body.push('\n');
                            }
                            kept.lock().unwrap().push(body);
                            "250 queued".into()
                        }
                        None if verb == "QUIT" => "221 bye".into(),
                        None => "250 ok".into(),
                    };
                    let _ = write.write_all(format!("{reply}\r\n").as_bytes()).await;
                }
            }
        });
        (port, messages)
    }

    fn mailer(port: u16) -> SmtpMailer {
        let credentials = Some(("user".to_owned(), SecretString::new("password")));
        SmtpMailer::new(
            "127.0.0.1",
            port,
            Security::None,
            credentials,
            "zoom-symbl <noreply@example.com>",
        )
        .unwrap()
    }

    fn email(stable_id: &str) -> OutgoingEmail {
        OutgoingEmail {
            to: "host@example.com".into(),
            subject: "Meeting insights: Q3".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
            stable_id: stable_id.into(),
        }
    }

    #[tokio::test]
    async fn the_same_email_sent_twice_has_the_same_message_id() {
        let (port, messages) = relay(&[]).await;
        let mailer = mailer(port);
        let first = mailer.send(&email("insights.abc")).await.unwrap();
        let again = mailer.send(&email("insights.abc")).await.unwrap();
        let other = mailer.send(&email("failure.abc")).await.unwrap();
        assert_eq!(
            (first.as_str(), again.as_str()),
            ("<insights.abc@example.com>", "<insights.abc@example.com>")
        );
        assert_eq!(other, "<failure.abc@example.com>");
        let messages = messages.lock().unwrap();
        assert_eq!(messages.len(), 3);
        for (message, id) in messages.iter().zip([&first, &first, &other]) {
            assert!(message.contains(&format!("Message-ID: {id}\n")), "{message}");
        }
    }

    #[tokio::test]
    async fn only_a_refused_recipient_is_final() {
        for (replies, final_) in [
            (&[("RCPT", "550 5.1.1 no such user")][..], true),
            (&[("RCPT", "553 5.1.3 mailbox name not allowed")][..], true),
            (&[("RCPT", "552 5.2.2 mailbox full")][..], true),
            (&[("RCPT", "550 5.7.1 relaying denied")][..], false),
            (&[("AUTH", "535 5.7.8 authentication credentials invalid")][..], false),
            (&[("MAIL", "554 5.7.1 sending paused for this account")][..], false),
            (&[("MAIL", "421 4.3.2 service not available")][..], false),
            (&[("RCPT", "450 4.2.1 try later")][..], false),
            (&[("DATA", "554 5.6.0 transaction failed")][..], false),
        ] {
            let (port, messages) = relay(replies).await;
            let err = mailer(port).send(&email("insights.abc")).await.unwrap_err();
            assert_eq!(matches!(err, MailError::Permanent(_)), final_, "{replies:?}: {err}");
            let code = &replies[0].1[..3];
            assert!(err.to_string().contains(code), "the reason keeps the reply: {err}");
            assert!(messages.lock().unwrap().is_empty());
        }
        // Nobody listening: the relay is down, not the recipient.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let err = mailer(port).send(&email("insights.abc")).await.unwrap_err();
        assert!(matches!(err, MailError::Temporary(_)), "{err}");
    }

    #[test]
    fn reply_codes_that_refuse_the_recipient() {
        for (code, text) in [
            (501, ""),
            (550, "mailbox unavailable"),
            (550, "5.1.1 no such user"),
            (551, "5.1.6 user not local"),
            (552, "mailbox full"),
            (553, "5.1.3 bad address syntax"),
            (556, "5.1.10 domain takes no mail"),
            (554, "5.2.1 mailbox disabled"),
        ] {
            assert!(recipient_refused(code, text), "{code} {text}");
        }
        for (code, text) in [
            (421, "4.3.2 shutting down"),
            (450, "5.1.1 inconsistent, but a 4xx"),
            (452, "4.2.2 mailbox full"),
            (500, ""),
            (503, "5.5.1 bad sequence"),
            (530, "5.7.0 authentication required"),
            (534, "5.7.9 app password required"),
            (535, "5.7.8 credentials invalid"),
            (550, "5.7.1 relaying denied"),
            (553, "5.1.8 bad sender domain"),
            (554, "Message rejected: Email address is not verified."),
            (554, "5.7.1 sending paused"),
        ] {
            assert!(!recipient_refused(code, text), "{code} {text}");
        }
    }

    #[test]
    fn an_invalid_recipient_is_final() {
        let mut bad = email("insights.abc");
        bad.to = "not an address".into();
        let mailer = mailer(1);
        assert!(matches!(mailer.message(&bad), Err(MailError::Permanent(_))));
        let (_, id) = mailer.message(&email("  ")).unwrap();
        assert!(
            id.ends_with("@example.com>") && id.len() > "<@example.com>".len(),
            "{id}"
        );
    }

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

//! Mail to people: verification links, password resets, invitations. Sent through SMTP (`lettre`;
//! `[mail] smtp_url`), or — in development, with no SMTP configured — written as `.eml` files to a
//! folder, the link logged so it can be followed. Every letter is plain text and HTML, names the
//! platform and the action, and says what to do if it was not expected.
//!
//! Sending happens after the change is committed and never undoes it: a letter that cannot be
//! sent is logged, and the person can ask again (`resendVerification`, another reset, another
//! invitation).

use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use nexus_kit::html::escape;

/// Where letters go.
#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// How identity sends mail.
#[derive(Clone)]
pub struct Mailer {
    /// How many letters a day an organization, an inviter and an account may cause.
    pub limits: MailLimits,
    transport: Transport,
    from: Mailbox,
    /// The platform's public URL: links in letters start here.
    public_url: String,
    /// Whether written letters' links go to the log: only on a loopback platform (development);
    /// elsewhere a log reader would hold everyone's reset links.
    log_links: bool,
}

/// Letters a day (any rolling 24 hours) that one organization, one inviter and one account may
/// cause: far above what a real organization sends, far below what a relay would want.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailLimits {
    pub invitations_per_organization: u64,
    pub invitations_per_inviter: u64,
    /// Verification letters (sign-up, resends, a new address) and reset letters of one account.
    pub letters_per_account: u64,
}

impl Default for MailLimits {
    fn default() -> Self {
        MailLimits {
            invitations_per_organization: 50,
            invitations_per_inviter: 50,
            letters_per_account: 10,
        }
    }
}

/// How long the mail limits count back.
pub const LIMIT_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// `RATE_LIMITED` (`what`, retry when the oldest falls out of the window) once `sent` — the
/// times of the letters counted in the last `LIMIT_WINDOW` — holds `per_day` of them.
pub fn within_daily_limit(
    sent: &[chrono::DateTime<chrono::Utc>],
    per_day: u64,
    what: &str,
) -> nexus_kit::Result<()> {
    if (sent.len() as u64) < per_day {
        return Ok(());
    }
    let now = chrono::Utc::now();
    let oldest = sent.iter().min().copied().unwrap_or(now);
    let retry = (oldest + LIMIT_WINDOW - now).to_std().unwrap_or_default();
    Err(nexus_kit::rate_limit::rate_limited(what, retry))
}

/// A name someone chose (an organization's, an inviter's, an account's) as a letter may carry
/// it: plain text on one line, at most 64 characters, and nothing a mail client would turn into
/// a link (`evil.example` reads `evil[.]example`, `https://` reads `https[:]//`, `@` reads
/// `[at]`) — so nobody sends their own words and links from the platform's address.
pub fn plain_name(name: &str) -> String {
    let visible: String = name
        .chars()
        .map(|c| if invisible(c) { ' ' } else { c })
        .collect();
    let words: Vec<&str> = visible.split_whitespace().collect();
    let one_line = words.join(" ");
    let mut cut: String = one_line.chars().take(64).collect();
    if one_line.chars().count() > 64 {
        cut.push('…');
    }
    let chars: Vec<char> = cut.chars().collect();
    let mut plain = String::with_capacity(cut.len());
    for (i, &c) in chars.iter().enumerate() {
        let between = |f: fn(char) -> bool| {
            i > 0 && i + 1 < chars.len() && f(chars[i - 1]) && f(chars[i + 1])
        };
        match c {
            '.' if between(char::is_alphanumeric) => plain.push_str("[.]"),
            ':' if chars.get(i + 1) == Some(&'/') => plain.push_str("[:]"),
            '@' => plain.push_str("[at]"),
            _ => plain.push(c),
        }
    }
    plain
}

/// A control character, or one that changes how text around it reads without showing itself
/// (zero-width, bidirectional overrides).
pub fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A letter's words.
pub struct Letter {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The link it asks the person to follow (logged in development).
    pub link: String,
}

impl Mailer {
    /// `smtp_url`: `smtp://host:port` (plain), `smtp://…?tls=required` (STARTTLS) or
    /// `smtps://user:password@host` (TLS); without one, letters are written to `folder`.
    pub fn new(
        smtp_url: Option<&str>,
        folder: PathBuf,
        from: &str,
        public_url: &str,
    ) -> anyhow::Result<Mailer> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from `{from}` is not an address: {e}"))?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("mail.smtp_url is not an SMTP URL: {e}"))?
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&folder).map_err(|e| {
                    anyhow::anyhow!("cannot create the mail folder {}: {e}", folder.display())
                })?;
                Transport::Folder(AsyncFileTransport::new(&folder), folder)
            }
        };
        let log_links = url::Url::parse(public_url)
            .is_ok_and(|u| matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")));
        Ok(Mailer {
            limits: MailLimits::default(),
            transport,
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
            log_links,
        })
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Sends `letter` to `to`; failures are logged, not returned (see the module's note).
    pub async fn send(&self, to: &str, letter: Letter) {
        if let Err(e) = self.try_send(to, &letter).await {
            tracing::error!(error = %e, subject = %letter.subject, "a letter could not be sent");
        }
    }

    async fn try_send(&self, to: &str, letter: &Letter) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse()?)
            .subject(&letter.subject)
            .multipart(MultiPart::alternative_plain_html(
                letter.text.clone(),
                letter.html.clone(),
            ))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Folder(files, folder) => {
                let id = files.send(message).await?;
                let file = folder.join(format!("{id}.eml"));
                if self.log_links {
                    tracing::info!(file = %file.display(), link = %letter.link, "mail written (no SMTP server configured): {}", letter.subject);
                } else {
                    tracing::info!(file = %file.display(), "mail written (no SMTP server configured): {}", letter.subject);
                }
            }
        }
        Ok(())
    }
}

/// A letter with one action: `intro` and `outro` around the link and the code.
fn letter(
    subject: &str,
    greeting: &str,
    intro: &str,
    link: String,
    code: &str,
    outro: &str,
) -> Letter {
    let text = format!(
        "{greeting}\n\n{intro}\n\n{link}\n\n(Or use this code with the Nexus API: {code})\n\n{outro}\n\n- Nexus\n"
    );
    let html = format!(
        "<!doctype html><html lang=\"en\"><body style=\"font-family:system-ui,sans-serif\">\
<p>{}</p><p>{}</p><p><a href=\"{}\">{}</a></p><p style=\"color:#555\">Or use this code with the Nexus API: <code>{}</code></p>\
<p style=\"color:#555\">{}</p><p>- Nexus</p></body></html>",
        escape(greeting),
        escape(intro),
        escape(&link),
        escape(subject),
        escape(code),
        escape(outro)
    );
    Letter {
        subject: subject.to_owned(),
        text,
        html,
        link,
    }
}

impl Mailer {
    pub fn verification(&self, name: &str, token: &str) -> Letter {
        letter(
            "Confirm your email address for Nexus",
            &format!("Hello {},", plain_name(name)),
            "Confirm that this is your address to finish setting up your Nexus account (or to switch your account to it). The link works once, for 24 hours.",
            format!("{}/account/verify-email?token={token}", self.public_url),
            token,
            "If you did not ask for this, ignore this letter: nothing changes.",
        )
    }

    pub fn password_reset(&self, name: &str, token: &str) -> Letter {
        letter(
            "Reset your Nexus password",
            &format!("Hello {},", plain_name(name)),
            "Someone (hopefully you) asked to reset the password of your Nexus account. Choose a new one with this link; it works once, for 1 hour, and signs you out everywhere.",
            format!("{}/account/reset-password?token={token}", self.public_url),
            token,
            "If you did not ask for this, ignore this letter: your password stays as it is.",
        )
    }

    pub fn invitation(&self, organization: &str, inviter: &str, role: &str, token: &str) -> Letter {
        let organization = format!("\"{}\"", plain_name(organization));
        let inviter = plain_name(inviter);
        letter(
            &format!("Join {organization} on Nexus"),
            "Hello,",
            &format!(
                "{inviter} invites you to join {organization} on Nexus as {role}. Sign in (or sign up with this address and confirm it), then accept with this link; it works once, for 7 days."
            ),
            format!("{}/account/invitation?token={token}", self.public_url),
            token,
            "If you did not expect this, ignore this letter.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_letters_carry_no_links_and_no_second_line() {
        assert_eq!(plain_name("Acme"), "Acme");
        assert_eq!(
            plain_name("Prize at https://evil.example/win"),
            "Prize at https[:]//evil[.]example/win"
        );
        assert_eq!(
            plain_name("Eve\nclick www.evil.test"),
            "Eve click www[.]evil[.]test"
        );
        assert_eq!(plain_name("mail me@evil.test"), "mail me[at]evil[.]test");
        assert_eq!(plain_name("right\u{202E}to left"), "right to left");
        assert_eq!(plain_name("Version 2. Done"), "Version 2. Done");
        let long = "x".repeat(100);
        assert_eq!(plain_name(&long).chars().count(), 65);
    }
}

//! Letters: what the stack wrote to its mail folder (no SMTP configured), the token a letter's
//! link carries, and memberships made the way people make them (invitation, proof, acceptance).

use std::path::PathBuf;

use serde_json::json;

use super::{Session, TestStack};

/// A letter as written: headers and body, quoted-printable undone.
#[derive(Clone, Debug)]
pub struct Letter {
    pub raw: String,
}

impl Letter {
    /// The token in the letter's link to `path` (`verify-email`, `reset-password`, `invitation`).
    pub fn token(&self, path: &str) -> Option<String> {
        let marker = format!("/account/{path}?token=");
        let start = self.raw.find(&marker)? + marker.len();
        let token: String = self.raw[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        Some(token)
    }
}

/// Soft line breaks and `=XX` escapes of quoted-printable, enough for letters' links.
pub fn unquote(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = String::with_capacity(joined.len());
    let mut chars = joined.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '=' {
            let hex: String = chars.clone().take(2).collect();
            if let Ok(byte) = u8::from_str_radix(&hex, 16)
                && hex.len() == 2
            {
                out.push(byte as char);
                chars.next();
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

impl TestStack {
    pub fn mail_folder(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Every letter to `to`, oldest first.
    pub fn letters_to(&self, to: &str) -> Vec<Letter> {
        let mut found: Vec<(std::time::SystemTime, Letter)> = std::fs::read_dir(self.mail_folder())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .filter_map(|e| {
                        let modified = e.metadata().ok()?.modified().ok()?;
                        let raw = unquote(&std::fs::read_to_string(e.path()).ok()?);
                        Some((modified, Letter { raw }))
                    })
                    .filter(|(_, l)| {
                        l.raw
                            .lines()
                            .any(|line| line.starts_with("To:") && line.contains(to))
                    })
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by_key(|(at, _)| *at);
        found.into_iter().map(|(_, l)| l).collect()
    }

    /// The token of the newest letter to `to` linking to `path`, waiting a little for it.
    pub async fn mailed_token(&self, to: &str, path: &str) -> String {
        for _ in 0..50 {
            if let Some(token) = self.letters_to(to).iter().rev().find_map(|l| l.token(path)) {
                return token;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no letter to {to} with a {path} link");
    }

    /// Invites `email` into `organization` as `by`, with `role` (`MEMBER`, `ADMIN`, `OWNER`), and
    /// has them accept: signed up already, their address proven the quick way. Returns the
    /// membership's id.
    pub async fn add_member(
        &self,
        by: &Session,
        organization: &str,
        email: &str,
        role: &str,
    ) -> String {
        let invited = self
            .gql_as(
                &by.access,
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": organization, "email": email, "role": role } }),
            )
            .await;
        assert!(invited["errors"].is_null(), "{invited}");
        let token = self.mailed_token(email, "invitation").await;
        let user = nexus_identity::users::find_user_by_email(&self.stack.db, email)
            .await
            .expect("lookup")
            .expect("the invitee has signed up");
        nexus_identity::users::mark_email_verified(&self.stack.db, user.id)
            .await
            .expect("verified");
        let invitee = self.log_in(email).await;
        let accepted = self
            .gql_as(
                &invitee.access,
                "mutation($t: String!) { acceptInvitation(token: $t) { id } }",
                json!({ "t": token }),
            )
            .await;
        assert!(accepted["errors"].is_null(), "{accepted}");
        accepted["data"]["acceptInvitation"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

//! Signed-in users: sign-up, log-in, organizations, platform admins.

use serde_json::{Value, json};

use super::TestStack;

/// A signed-in user: an access token (acting in `organization`, if any) and a refresh token.
#[derive(Clone, Debug)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
    pub organization: Option<String>,
}

pub const PASSWORD: &str = "correct horse 42";

const AUTH_FIELDS: &str = "accessToken refreshToken expiresAt user { id } organization { id }";

impl Session {
    fn from_payload(payload: &Value) -> Session {
        Session {
            access: payload["accessToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refresh: payload["refreshToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            user_id: payload["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            organization: payload["organization"]["id"].as_str().map(str::to_owned),
        }
    }
}

impl TestStack {
    pub async fn sign_up(&self, email: &str, name: &str) -> Session {
        let data = self
            .data(
                &format!(
                    "mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {AUTH_FIELDS} }} }}"
                ),
                json!({ "input": { "email": email, "password": PASSWORD, "name": name } }),
            )
            .await;
        Session::from_payload(&data["signUp"])
    }

    pub async fn log_in(&self, email: &str) -> Session {
        let data = self
            .data(
                &format!(
                    "mutation($input: LogInInput!) {{ logIn(input: $input) {{ {AUTH_FIELDS} }} }}"
                ),
                json!({ "input": { "email": email, "password": PASSWORD } }),
            )
            .await;
        Session::from_payload(&data["logIn"])
    }

    /// A session of `session`'s user acting in `organization`.
    pub async fn switch(&self, session: &Session, organization: &str) -> Session {
        let data = self
            .data_as(
                &session.access,
                &format!(
                    "mutation($id: ID!) {{ switchOrganization(id: $id) {{ {AUTH_FIELDS} }} }}"
                ),
                json!({ "id": organization }),
            )
            .await;
        Session::from_payload(&data["switchOrganization"])
    }

    /// Creates an organization owned by `owner`; returns its id.
    pub async fn create_organization(&self, owner: &Session, name: &str, slug: &str) -> String {
        let data = self
            .data_as(
                &owner.access,
                "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }",
                json!({ "input": { "name": name, "slug": slug } }),
            )
            .await;
        data["createOrganization"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A new user who owns a new organization, signed in acting in it; returns the session and
    /// the organization's id.
    pub async fn owner_of(&self, email: &str, name: &str, slug: &str) -> (Session, String) {
        let user = self
            .sign_up(email, email.split('@').next().unwrap_or(email))
            .await;
        let organization = self.create_organization(&user, name, slug).await;
        (self.switch(&user, &organization).await, organization)
    }

    /// A signed-up user made platform admin (as `nexus admin grant` does), logged in again.
    pub async fn platform_admin(&self, email: &str) -> Session {
        self.sign_up(email, "Platform Admin").await;
        nexus_identity::users::set_platform_admin(&self.stack.db, email, true, true)
            .await
            .expect("grant admin");
        self.log_in(email).await
    }
}

//! The OAuth 2.1 / OpenID Connect authorization server's public face, shared by the router (which
//! publishes the metadata) and the apps service (which serves the endpoints): paths, the scopes
//! that are the user's rather than an installation's, and the metadata document (RFC 8414 and
//! OpenID Connect Discovery, one document under both names).

pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// The login form posts here, the consent form to `CONSENT_PATH`.
pub const LOGIN_PATH: &str = "/oauth/login";
pub const CONSENT_PATH: &str = "/oauth/consent";
pub const TOKEN_PATH: &str = "/oauth/token";
pub const USERINFO_PATH: &str = "/oauth/userinfo";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";

/// Every path the apps service answers on the public port.
pub const PATHS: &[&str] = &[
    AUTHORIZE_PATH,
    LOGIN_PATH,
    CONSENT_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    REVOKE_PATH,
    INTROSPECT_PATH,
];

pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// RFC 8693.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Scopes about the user (OpenID Connect), granted by the user at consent, not by an
/// installation: `openid` asks for an id_token, `offline_access` for a refresh token.
pub const USER_SCOPES: &[(&str, &str)] = &[
    ("openid", "know who you are (your Nexus account id)"),
    ("profile", "see your name"),
    ("email", "see your email address"),
    (
        "offline_access",
        "stay signed in for you when you are away (up to 30 days without you)",
    ),
];

pub fn is_user_scope(scope: &str) -> bool {
    USER_SCOPES.iter().any(|(name, _)| *name == scope)
}

/// The metadata document, for `issuer` (the public URL).
pub fn metadata(issuer: &str) -> serde_json::Value {
    let scopes: Vec<&str> = USER_SCOPES
        .iter()
        .chain(crate::scopes::CATALOG)
        .map(|(name, _)| *name)
        .collect();
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "userinfo_endpoint": format!("{issuer}{USERINFO_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECT_PATH}"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, TOKEN_EXCHANGE],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "subject_types_supported": ["public"],
        "scopes_supported": scopes,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "email", "email_verified", "org"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent"],
    })
}

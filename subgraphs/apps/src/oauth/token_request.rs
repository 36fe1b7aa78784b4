//! A request to the token endpoint as RFC 6749 has it: parameters form-encoded
//! (`application/x-www-form-urlencoded`; a JSON object is accepted too, as Nexus took before),
//! each at most once, an empty one as if absent; the client authenticated with HTTP Basic
//! (`client_secret_basic`, id and secret form-encoded before base64, §2.3.1) or with
//! `client_id` and `client_secret` in the body (`client_secret_post`) — one way, not both — or,
//! for a public client (`none`), `client_id` alone in the body.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A parsed token request.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub grant_type: String,
    /// The client's id and secret, however they came.
    pub client: Option<(String, String)>,
    /// A client that named itself without a secret (`client_id` alone): a public client, if its
    /// manifest says so.
    pub public_client: Option<String>,
    /// Whether the client used HTTP Basic (its failures answer with `WWW-Authenticate`).
    pub basic: bool,
    /// The other parameters.
    pub params: BTreeMap<String, String>,
}

/// Why a request is not one (`invalid_request`).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl TokenRequest {
    /// A token endpoint request: `grant_type` is required.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, Malformed> {
        let request = Self::parse_client_request(headers, body)?;
        if request.grant_type.is_empty() {
            return Err(Malformed("grant_type is missing".into()));
        }
        Ok(request)
    }

    /// A request from an authenticated client without a grant (revocation, introspection):
    /// `grant_type` is empty unless given.
    pub fn parse_client_request(
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<TokenRequest, Malformed> {
        let mut params = parameters(headers, body)?;
        let basic = basic_credentials(headers)?;
        let (id, secret) = (params.remove("client_id"), params.remove("client_secret"));
        let mut public_client = None;
        let (client, basic) = match (basic, id, secret) {
            (Some(_), _, Some(_)) => {
                return Err(Malformed(
                    "the client authenticated twice (HTTP Basic and client_secret): use one".into(),
                ));
            }
            // Some clients name themselves in the body as well: the same name is no harm.
            (Some(basic), Some(id), None) if id != basic.0 => {
                return Err(Malformed(
                    "client_id in the body is not the client of the Authorization header".into(),
                ));
            }
            (Some(basic), _, None) => (Some(basic), true),
            (None, Some(id), Some(secret)) => (Some((id, secret)), false),
            (None, None, None) => (None, false),
            (None, Some(id), None) => {
                public_client = Some(id);
                (None, false)
            }
            (None, None, Some(_)) => {
                return Err(Malformed(
                    "send client_id with client_secret, or authenticate with HTTP Basic".into(),
                ));
            }
        };
        let grant_type = params.remove("grant_type").unwrap_or_default();
        Ok(TokenRequest {
            grant_type,
            client,
            public_client,
            basic,
            params,
        })
    }
}

fn parameters(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, Malformed> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let pairs: Vec<(String, String)> = match content_type.as_str() {
        "application/x-www-form-urlencoded" => url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        "application/json" => {
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(body)
                    .map_err(|_| Malformed("the body is not a JSON object".into()))?;
            object
                .into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => Ok((k, s)),
                    serde_json::Value::Null => Ok((k, String::new())),
                    _ => Err(Malformed(format!("`{k}` must be a string"))),
                })
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(Malformed(
                "send the parameters as application/x-www-form-urlencoded".into(),
            ));
        }
    };
    let mut params = BTreeMap::new();
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        if params.insert(name.clone(), value).is_some() {
            return Err(Malformed(format!("`{name}` is given more than once")));
        }
    }
    Ok(params)
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Malformed> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || Malformed("the Authorization header is not HTTP Basic credentials".into());
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn form() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        headers
    }

    fn with_basic(id: &str, secret: &str) -> HeaderMap {
        let mut headers = form();
        let encoded = STANDARD.encode(format!("{id}:{secret}"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
        );
        headers
    }

    #[test]
    fn basic_and_post_credentials_both_parse() {
        let basic = TokenRequest::parse(
            &with_basic("app%3A1", "s%2Bcret"),
            b"grant_type=client_credentials&installation_id=i-1",
        )
        .expect("parses");
        assert_eq!(basic.client, Some(("app:1".into(), "s+cret".into())));
        assert!(basic.basic);
        assert_eq!(basic.params["installation_id"], "i-1");
        let named_too = TokenRequest::parse(&with_basic("a", "b"), b"grant_type=x&client_id=a")
            .expect("the same client named twice");
        assert_eq!(named_too.client, Some(("a".into(), "b".into())));
        let posted = TokenRequest::parse(
            &form(),
            b"grant_type=client_credentials&client_id=a&client_secret=b&scope=",
        )
        .expect("parses");
        assert_eq!(posted.client, Some(("a".into(), "b".into())));
        assert!(!posted.basic);
        assert!(posted.params.is_empty(), "an empty parameter is absent");
        let public = TokenRequest::parse(&form(), b"grant_type=authorization_code&client_id=a")
            .expect("a public client names itself");
        assert_eq!(
            (public.client, public.public_client.as_deref()),
            (None, Some("a"))
        );
    }

    #[test]
    fn malformed_requests_say_why() {
        for (headers, body, why) in [
            (
                with_basic("a", "b"),
                &b"grant_type=x&client_id=a&client_secret=b"[..],
                "twice",
            ),
            (form(), b"grant_type=x&grant_type=y", "more than once"),
            (
                form(),
                b"client_id=a&client_secret=b",
                "grant_type is missing",
            ),
            (
                form(),
                b"grant_type=x&client_secret=a",
                "client_id with client_secret",
            ),
            (
                with_basic("a", "b"),
                b"grant_type=x&client_id=z",
                "not the client",
            ),
            (HeaderMap::new(), b"grant_type=x", "x-www-form-urlencoded"),
        ] {
            let error = TokenRequest::parse(&headers, body).expect_err("refused");
            assert!(error.0.contains(why), "{} vs {why}", error.0);
        }
        let mut bearer = form();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(TokenRequest::parse(&bearer, b"grant_type=x").is_err());
    }
}

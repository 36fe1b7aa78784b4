//! A browser for the OAuth pages: a cookie-keeping HTTP client that follows nothing by itself,
//! so each redirect and page can be looked at.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use super::{PASSWORD, TestStack};

/// The redirect URI the test apps register.
pub const CALLBACK: &str = "http://127.0.0.1:5001/callback";

/// A browser: follows nothing by itself, keeps the session cookie.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> url::Url {
        let location = self
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body));
        url::Url::parse(location)
            .or_else(|_| url::Url::parse(&format!("http://nexus.test{location}")))
            .expect("a URL")
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.location()
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A hidden form field's value.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name}: {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').expect("closing quote");
        self.body[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
    }
}

impl Browser {
    pub fn new(stack: &TestStack) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: stack.stack.keys.issuer().to_owned(),
            cookie: None,
        }
    }

    async fn keep(&mut self, response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(cookie) = headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            self.cookie = cookie.split(';').next().map(str::to_owned);
        }
        let body = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path_and_query: &str) -> Answer {
        let mut request = self.http.get(format!("{}{path_and_query}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("GET");
        self.keep(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("POST");
        self.keep(response).await
    }

    /// Logs in on the login page `page` shows; returns where it sends the browser.
    pub async fn log_in(&mut self, page: &Answer, email: &str, password: &str) -> Answer {
        let (csrf, request) = (page.field("csrf"), page.field("request"));
        self.post(
            "/oauth/login",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Follows a redirect to one of Nexus's own pages.
    pub async fn follow(&mut self, answer: &Answer) -> Answer {
        let location = answer.location();
        let path = match location.query() {
            Some(q) => format!("{}?{q}", location.path()),
            None => location.path().to_owned(),
        };
        self.get(&path).await
    }

    /// The consent page for `scope`, signing in as `email` first if needed.
    pub async fn consent_page(&mut self, app_id: &str, scope: &str, email: &str) -> Answer {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", app_id),
                ("response_type", "code"),
                ("redirect_uri", CALLBACK),
                ("scope", scope),
                ("state", "st"),
                // Any valid S256 challenge: no code is redeemed here.
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let authorize = format!("/oauth/authorize?{query}");
        let mut page = self.get(&authorize).await;
        if page.body.contains("Sign in to Nexus") {
            let (csrf, request) = (page.field("csrf"), page.field("request"));
            let signed_in = self
                .post(
                    "/oauth/login",
                    &[
                        ("csrf", &csrf),
                        ("request", &request),
                        ("email", email),
                        ("password", PASSWORD),
                    ],
                )
                .await;
            assert_eq!(
                signed_in.status,
                StatusCode::SEE_OTHER,
                "{}",
                signed_in.body
            );
            page = self.get(&authorize).await;
        }
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page
    }

    /// Approves `page` for `organization`, keeping the optional `scopes`.
    pub async fn approve(&mut self, page: &Answer, organization: &str, scopes: &[&str]) -> Answer {
        let (csrf, request) = (page.field("csrf"), page.field("request"));
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("request", request.as_str()),
            ("organization", organization),
            ("decision", "approve"),
        ];
        form.extend(scopes.iter().map(|s| ("scope", *s)));
        self.post("/oauth/consent", &form).await
    }
}

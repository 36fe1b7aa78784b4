//! The app's own tests: offline, no platform needed.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn config() -> __CRATE__::Config {
    __CRATE__::Config {
        port: __PORT__,
        platform: "http://127.0.0.1:9".into(),
        webhook_secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        client_id: Some("0192f0c4-0000-7000-8000-000000000001".into()),
    }
}

async fn send(request: Request<Body>) -> (StatusCode, String) {
    let response = __CRATE__::router(config()).oneshot(request).await.expect("answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    (status, headers.get("location").and_then(|l| l.to_str().ok()).map_or(text, str::to_owned))
}

#[tokio::test]
async fn the_schema_extends_the_core_by_id_inside_its_namespace() {
    let (status, body) = send(
        Request::post("/graphql")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"query":"{ _service { sdl } }"}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let sdl = answer["data"]["_service"]["sdl"].as_str().expect("an SDL");
    assert!(sdl.contains(r#"type User @key(fields: "id")"#), "{sdl}");
    assert!(sdl.contains("__NS__Note: String"), "{sdl}");
    assert!(sdl.contains("__NS__Settings: __PREFIX__Settings"), "{sdl}");
    assert!(sdl.contains("__NS__Hello: String!"), "{sdl}");
}

#[tokio::test]
async fn a_call_without_a_context_token_is_refused() {
    let (status, body) = send(
        Request::post("/graphql")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"query":"{ __NS__Hello }"}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn a_signed_webhook_is_taken_and_a_tampered_one_refused() {
    // The Standard Webhooks example, timestamped now.
    let (id, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", r#"{"type":"app.installed","data":{}}"#);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let signature = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id, now, body);
    let delivery = |body: &str| {
        Request::post("/webhooks")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature.clone())
            .body(Body::from(body.to_owned()))
            .expect("request")
    };
    assert_eq!(send(delivery(body)).await.0, StatusCode::NO_CONTENT);
    let (status, reason) = send(delivery(r#"{"type":"app.uninstalled","data":{}}"#)).await;
    assert_eq!((status, reason.as_str()), (StatusCode::UNAUTHORIZED, "bad_signature"));
}

#[tokio::test]
async fn sign_in_sends_the_person_to_the_platform_with_pkce() {
    let (status, location) = send(Request::get("/sign-in").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("http://127.0.0.1:9/oauth/authorize?"), "{location}");
    assert!(location.contains("code_challenge_method=S256"), "{location}");
    assert!(location.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A__PORT__%2Fsign-in%2Fcallback"), "{location}");
}

fn sign(secret: &str, id: &str, timestamp: u64, body: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sha2::Digest;
    // HMAC-SHA256 by hand (RFC 2104), to check the SDK against something it did not write.
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).expect("secret");
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(&key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(format!("{id}.{timestamp}.{body}"))
        .finalize();
    let outer = sha2::Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    format!("v1,{}", STANDARD.encode(outer))
}

//! Payloads shaped by the app: an event subscribed with a GraphQL `query` is sent with that
//! query's result as `shaped` (`{data, errors}`), run through the router as the installation
//! (its scopes and the installation gate apply, as to any call the app makes) with the event's
//! ids as variables (`organizationId`, `installationId` and each `…_id` of the event, in
//! camelCase). It runs before the first attempt; the result is kept, so every attempt sends the
//! same body. The event's own `data` stays as the platform wrote it: the app's subgraph answers
//! part of the query, so nothing it shaped may pass for a platform fact (`envelope`).

use nexus_kit::token::KeyStore;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Map, Value};

use super::entity::delivery;
use crate::entity::installation;

/// Whether `body` carries a query's result already (`event_data`: shaped before `shaped`).
pub fn is_shaped(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .is_ok_and(|b| b.get("shaped").is_some() || b.get("event_data").is_some())
}

/// `organization_id` → `organizationId`.
fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The event's ids as variables.
fn variables(body: &Value) -> Map<String, Value> {
    let mut variables = Map::new();
    let data = body["data"].as_object().into_iter().flatten();
    let top = ["organization_id", "installation_id"]
        .into_iter()
        .map(|k| (k, &body[k]));
    for (key, value) in data.map(|(k, v)| (k.as_str(), v)).chain(top) {
        if key.ends_with("_id") && value.is_string() {
            variables.insert(camel(key), value.clone());
        }
    }
    variables
}

/// Where payload queries run: through the router, as the installation.
pub struct PayloadRouter<'a> {
    pub db: &'a DatabaseConnection,
    /// Sign the installation's token.
    pub keys: &'a KeyStore,
    pub client: &'a reqwest::Client,
    /// The router's GraphQL URL, if one is configured.
    pub url: Option<&'a str>,
}

/// The body with the query's result (and its errors, if any) as `shaped`.
pub async fn shape(
    router: &PayloadRouter<'_>,
    claimed: &delivery::Model,
    query: &str,
) -> Result<String, String> {
    let url = router
        .url
        .ok_or("no router URL is configured for payload queries")?;
    let installation_id = claimed
        .installation_id
        .ok_or("the event concerns no installation")?;
    let installation = installation::Entity::find_by_id(installation_id)
        .one(router.db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the installation is gone")?;
    let token = crate::oauth::client_credentials::sign(
        router.keys,
        &installation,
        std::time::Duration::from_secs(60),
    )
    .map_err(|e| e.to_string())?;
    let mut body: Value = serde_json::from_str(&claimed.body).map_err(|e| e.to_string())?;
    let answer: Value = router
        .client
        .post(url)
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query, "variables": variables(&body) }))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    // Nothing at all (the router refused the token, e.g. while it still trusts an older grant):
    // tried again at the next attempt rather than sent empty.
    if answer["data"].is_null() {
        return Err(format!("the router answered no data: {}", answer["errors"]));
    }
    body["shaped"] = super::envelope::shaped_answer(&answer);
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_events_ids_become_camel_case_variables() {
        let body = json!({ "organization_id": "o", "installation_id": "i", "sequence": 3,
                           "data": { "user_id": "u", "membership_id": "m", "role": "admin" } });
        assert_eq!(
            Value::Object(variables(&body)),
            json!({ "organizationId": "o", "installationId": "i", "userId": "u", "membershipId": "m" })
        );
        assert!(!is_shaped(&body.to_string()));
    }
}

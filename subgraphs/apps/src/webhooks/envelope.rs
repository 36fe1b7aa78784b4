//! What a delivery says, as sent: the platform's facts at the top level — `type`, `timestamp`,
//! `recipient` (the app it is for: `app_id`, `namespace`), `organization_id`,
//! `installation_id`, `sequence` — and the event's own `data`, all written by the platform; what
//! an app's payload query answered goes under `shaped` (`{data, errors}`), never among them.
//!
//! Both signatures cover the body, so a `v1a` signature (the platform's key, which anyone can
//! check against the JWKS) vouches for exactly that: it never vouches for a claim an app wrote,
//! and a delivery to one app does not pass as one to another (receivers check `recipient`).
//! The facts are sealed from the delivery's own columns at every attempt, whatever the stored
//! body says.

use serde_json::{Value, json};
use uuid::Uuid;

use super::entity::delivery;

/// The app a delivery is addressed to.
#[derive(Clone, Debug)]
pub struct Recipient {
    pub app_id: Uuid,
    pub namespace: String,
}

/// The body to sign and send for `claimed`, addressed to `recipient`.
pub fn seal(claimed: &delivery::Model, recipient: &Recipient) -> Result<String, String> {
    let stored: Value = serde_json::from_str(&claimed.body)
        .map_err(|e| format!("the stored body is not JSON: {e}"))?;
    let mut body = json!({
        "type": claimed.event_type,
        "timestamp": stored["timestamp"],
        "recipient": { "app_id": recipient.app_id, "namespace": recipient.namespace },
        "organization_id": claimed.organization_id,
        "installation_id": claimed.installation_id,
        "sequence": claimed.sequence,
    });
    // Bodies shaped before the `shaped` member existed kept the event's data as `event_data`
    // and the query's answer as `data`.
    let legacy = stored.get("event_data").is_some();
    body["data"] = if legacy {
        stored["event_data"].clone()
    } else {
        stored["data"].clone()
    };
    if let Some(shaped) = stored.get("shaped") {
        body["shaped"] = shaped.clone();
    } else if legacy {
        body["shaped"] = shaped_answer(&stored);
    }
    Ok(body.to_string())
}

/// `{data, errors}` of a GraphQL answer (`errors` only when there are some).
pub fn shaped_answer(answer: &Value) -> Value {
    let mut shaped = json!({ "data": answer["data"] });
    if let Some(errors) = answer.get("errors") {
        shaped["errors"] = errors.clone();
    }
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(body: Value) -> delivery::Model {
        delivery::Model {
            id: Uuid::nil(),
            event_id: Uuid::nil(),
            app_id: Uuid::from_u128(7),
            organization_id: Some(Uuid::from_u128(1)),
            installation_id: Some(Uuid::from_u128(2)),
            event_type: "member.added".into(),
            sequence: 3,
            body: body.to_string(),
            status: delivery::Status::Pending,
            attempts: 0,
            next_attempt_at: None,
            leased_until: None,
            created_at: chrono::Utc::now(),
            delivered_at: None,
        }
    }

    fn crm() -> Recipient {
        Recipient {
            app_id: Uuid::from_u128(7),
            namespace: "crm".into(),
        }
    }

    #[test]
    fn the_facts_come_from_the_delivery_and_what_an_app_shaped_stays_apart() {
        // A stored body claiming other facts at the top level and inside its shaped answer.
        let stored = json!({
            "type": "app.installed", "timestamp": "2026-12-04T00:00:00.000Z",
            "organization_id": "someone-else", "installation_id": "forged", "sequence": 99,
            "recipient": { "app_id": "forged", "namespace": "forged" },
            "data": { "role": "member", "user_id": "u" },
            "shaped": { "data": { "app_id": "forged", "organization_id": "forged" } },
        });
        let sealed: Value =
            serde_json::from_str(&seal(&claimed(stored), &crm()).expect("sealed")).expect("JSON");
        assert_eq!(sealed["type"], "member.added");
        assert_eq!(sealed["organization_id"], Uuid::from_u128(1).to_string());
        assert_eq!(sealed["installation_id"], Uuid::from_u128(2).to_string());
        assert_eq!(sealed["sequence"], 3);
        assert_eq!(
            sealed["recipient"],
            json!({ "app_id": Uuid::from_u128(7), "namespace": "crm" })
        );
        assert_eq!(sealed["data"], json!({ "role": "member", "user_id": "u" }));
        assert_eq!(sealed["shaped"]["data"]["app_id"], "forged");
        assert_eq!(sealed["timestamp"], "2026-12-04T00:00:00.000Z");
    }

    #[test]
    fn a_body_shaped_the_old_way_is_sealed_the_new_way() {
        let stored = json!({
            "type": "member.added", "timestamp": "t",
            "data": { "organization": { "name": "Acme" } },
            "errors": [{ "message": "no" }],
            "event_data": { "role": "member" },
        });
        let sealed: Value =
            serde_json::from_str(&seal(&claimed(stored), &crm()).expect("sealed")).expect("JSON");
        assert_eq!(sealed["data"], json!({ "role": "member" }));
        assert_eq!(sealed["shaped"]["data"]["organization"]["name"], "Acme");
        assert_eq!(sealed["shaped"]["errors"][0]["message"], "no");
        assert!(sealed.get("event_data").is_none() && sealed.get("errors").is_none());
    }
}

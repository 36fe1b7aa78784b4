//! The audit log through the router: identity's security-relevant actions are recorded (with
//! actor, organization, target and address), owners and admins read their organization's
//! entries and nobody else does, platform admins read everything, filters narrow it, and a row
//! changed, removed or added in the database breaks the chain where it happened.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::common::*;

const LOG: &str = "query($f: AuditLogFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) { edges { cursor } pageInfo { hasNextPage } nodes { id action actorType actorId organizationId targetType targetId address details } } }";

#[tokio::test]
async fn identity_actions_are_recorded_and_read_by_whom_they_concern() {
    let stack = TestStack::start().await;
    let log = AuditLog::open(&stack).await;
    let (owner, acme) = stack.owner_of("owner@acme.test", "Acme", "acme").await;
    stack.sign_up("member@acme.test", "Member").await;
    let membership = stack
        .add_member(&owner, &acme, "member@acme.test", "MEMBER")
        .await;
    // A failed sign-in, a good one, a role change, an API key made and revoked.
    let failed = stack
        .gql(
            "mutation { logIn(input: { email: \"member@acme.test\", password: \"nope nope 12\" }) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&failed), ["UNAUTHENTICATED"]);
    let member = stack.log_in("member@acme.test").await;
    stack
        .data_as(
            &owner.access,
            "mutation($m: ID!) { changeMemberRole(input: { membershipId: $m, role: ADMIN }) { role } }",
            json!({ "m": membership }),
        )
        .await;
    let key = stack
        .data_as(
            &owner.access,
            "mutation($o: ID!) { createApiKey(input: { organizationId: $o, name: \"ci\" }) { apiKey { id } secret } }",
            json!({ "o": acme }),
        )
        .await;
    let key_id = key["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    stack
        .data_as(
            &owner.access,
            "mutation($o: ID!, $k: ID!) { revokeApiKey(organizationId: $o, id: $k) { id } }",
            json!({ "o": acme, "k": key_id }),
        )
        .await;
    // Revoking again changes nothing, and records nothing.
    stack
        .data_as(
            &owner.access,
            "mutation($o: ID!, $k: ID!) { revokeApiKey(organizationId: $o, id: $k) { id } }",
            json!({ "o": acme, "k": key_id }),
        )
        .await;
    stack
        .data_as(
            &member.access,
            "mutation($p: ChangePasswordInput!) { changePassword(input: $p) }",
            json!({ "p": { "currentPassword": PASSWORD, "newPassword": "a new horse 43" } }),
        )
        .await;

    let entries = log.entries().await;
    let of = |action: &str| {
        entries
            .iter()
            .filter(|e| e.action == action)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("invitation.created").len(), 1);
    assert_eq!(of("invitation.accepted").len(), 1);
    let failure = of("user.sign_in_failed");
    assert_eq!(failure.len(), 1);
    assert_entry(
        failure[0],
        "user.sign_in_failed",
        ("anonymous", None),
        None,
        Some(("user", &member.user_id)),
    );
    assert_eq!(failure[0].address.as_deref(), Some("127.0.0.1"));
    let signed_in = of("user.signed_in");
    let theirs = signed_in
        .iter()
        .find(|e| e.target_id.as_deref() == Some(member.user_id.as_str()))
        .expect("the member's sign-in");
    assert_eq!(
        (theirs.actor_type.as_str(), theirs.actor_id.as_deref()),
        ("user", Some(member.user_id.as_str()))
    );
    let role = of("member.role_changed");
    assert_entry(
        role[0],
        "member.role_changed",
        ("user", Some(&owner.user_id)),
        Some(&acme),
        Some(("membership", &membership)),
    );
    assert_eq!(details(role[0])["from"], "member");
    assert_eq!(details(role[0])["to"], "admin");
    assert_entry(
        of("api_key.created")[0],
        "api_key.created",
        ("user", Some(&owner.user_id)),
        Some(&acme),
        Some(("api_key", &key_id)),
    );
    // Its prefix, to recognize it by; never the secret.
    let secret = key["createApiKey"]["secret"].as_str().unwrap_or_default();
    assert!(secret.len() > 20 && !entries.iter().any(|e| e.details.contains(secret)));
    assert_eq!(of("api_key.revoked").len(), 1);
    assert_entry(
        of("user.password_changed")[0],
        "user.password_changed",
        ("user", Some(&member.user_id)),
        None,
        Some(("user", &member.user_id)),
    );
    log.assert_whole().await;

    // The owner reads Acme's entries, newest first, filtered and paged.
    let page = stack
        .data_as(
            &owner.access,
            LOG,
            json!({ "f": { "organizationId": acme }, "first": 2 }),
        )
        .await;
    let nodes = page["auditLog"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["action"], "api_key.revoked", "{page}");
    assert_eq!(nodes[1]["action"], "api_key.created", "{page}");
    assert_eq!(page["auditLog"]["pageInfo"]["hasNextPage"], true);
    let cursor = page["auditLog"]["edges"][1]["cursor"]
        .as_str()
        .unwrap_or_default();
    let next = stack
        .data_as(
            &owner.access,
            LOG,
            json!({ "f": { "organizationId": acme }, "first": 1, "after": cursor }),
        )
        .await;
    assert_eq!(
        next["auditLog"]["nodes"][0]["action"],
        "member.role_changed"
    );
    let only = stack
        .data_as(
            &owner.access,
            LOG,
            json!({ "f": { "organizationId": acme, "action": "invitation.created", "actorId": owner.user_id } }),
        )
        .await;
    assert_eq!(
        only["auditLog"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "{only}"
    );
    let future = stack
        .data_as(
            &owner.access,
            LOG,
            json!({ "f": { "organizationId": acme, "since": "2999-01-01T00:00:00Z" } }),
        )
        .await;
    assert_eq!(future["auditLog"]["nodes"], json!([]));

    // Another organization's owner, and a plain member, read nothing of Acme's.
    let (stranger, _) = stack
        .owner_of("owner@globex.test", "Globex", "globex")
        .await;
    let refused = stack
        .gql_as(
            &stranger.access,
            LOG,
            json!({ "f": { "organizationId": acme } }),
        )
        .await;
    assert_eq!(error_codes(&refused), ["FORBIDDEN"], "{refused}");
    stack.sign_up("plain@acme.test", "Plain").await;
    stack
        .add_member(&owner, &acme, "plain@acme.test", "MEMBER")
        .await;
    let plain = stack.log_in("plain@acme.test").await;
    let refused = stack
        .gql_as(
            &plain.access,
            LOG,
            json!({ "f": { "organizationId": acme } }),
        )
        .await;
    assert_eq!(error_codes(&refused), ["FORBIDDEN"], "{refused}");
    // The whole log is for platform admins only.
    let refused = stack.gql_as(&owner.access, LOG, json!({})).await;
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
    let admin = stack.platform_admin("root@nexus.test").await;
    let all = stack
        .data_as(
            &admin.access,
            LOG,
            json!({ "f": { "action": "user.sign_in_failed" } }),
        )
        .await;
    assert_eq!(
        all["auditLog"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "{all}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn tampering_with_the_table_is_reported_at_the_first_broken_entry() {
    let stack = TestStack::start().await;
    let log = AuditLog::open(&stack).await;
    let (owner, acme) = stack.owner_of("owner@acme.test", "Acme", "acme").await;
    for name in ["one", "two", "three", "four"] {
        stack
            .data_as(
                &owner.access,
                "mutation($o: ID!, $n: String!) { createApiKey(input: { organizationId: $o, name: $n }) { secret } }",
                json!({ "o": acme, "n": name }),
            )
            .await;
    }
    let entries = log.entries().await;
    assert!(entries.len() >= 4, "{:?}", actions(&entries));
    log.assert_whole().await;
    let last = entries.last().and_then(|e| e.seq).unwrap_or(0);
    let verify = || async {
        nexus_kit::audit::verify(&log.db, &log.keys)
            .await
            .expect("verify")
    };

    // A changed row: its own hash no longer matches.
    let target = last - 2;
    log.db
        .execute_unprepared(&format!(
            "UPDATE audit_log SET address = '10.9.9.9' WHERE seq = {target}"
        ))
        .await
        .expect("tamper");
    let found = verify().await;
    assert_eq!(
        found.first_broken,
        Some((
            target,
            "its content does not match its hash (the entry was changed)".into()
        ))
    );
    // Put back, the chain is whole again (the hash covers exactly the content).
    let original = entries
        .iter()
        .find(|e| e.seq == Some(target))
        .and_then(|e| e.address.clone());
    let restore = match original {
        Some(address) => format!("UPDATE audit_log SET address = '{address}' WHERE seq = {target}"),
        None => format!("UPDATE audit_log SET address = NULL WHERE seq = {target}"),
    };
    log.db.execute_unprepared(&restore).await.expect("restore");
    assert_eq!(verify().await.first_broken, None);

    // A row removed from the middle: a gap.
    log.db
        .execute_unprepared(&format!("DELETE FROM audit_log WHERE seq = {}", last - 1))
        .await
        .expect("delete");
    let found = verify().await;
    assert_eq!(found.first_broken.map(|(seq, _)| seq), Some(last - 1));

    // The newest row removed (the head remembers how many there were).
    let stack2 = TestStack::start().await;
    let log2 = AuditLog::open(&stack2).await;
    let (owner2, org2) = stack2
        .owner_of("owner@initech.test", "Initech", "initech")
        .await;
    stack2
        .data_as(
            &owner2.access,
            "mutation($o: ID!) { createApiKey(input: { organizationId: $o, name: \"k\" }) { secret } }",
            json!({ "o": org2 }),
        )
        .await;
    let newest = log2.mark().await;
    log2.db
        .execute_unprepared(&format!("DELETE FROM audit_log WHERE seq = {newest}"))
        .await
        .expect("delete newest");
    let found = nexus_kit::audit::verify(&log2.db, &log2.keys)
        .await
        .expect("verify");
    assert_eq!(
        found.first_broken.clone().map(|(seq, _)| seq),
        Some(newest),
        "{found:?}"
    );
    stack2.stop().await;
    stack.stop().await;
}

/// Many audited actions at once (PostgreSQL runs them truly in parallel), with several sealers
/// at once: every entry lands and is sealed once, in one unbroken chain without gaps, and
/// verifications running meanwhile see no false break.
#[tokio::test]
async fn concurrent_actions_append_one_unbroken_chain() {
    let stack = TestStack::start().await;
    let log = AuditLog::open(&stack).await;
    let (owner, acme) = stack.owner_of("owner@acme.test", "Acme", "acme").await;
    let before = log.mark().await;
    let attempts: Vec<(String, String, serde_json::Value)> = (0..24)
        .map(|i| {
            (
                owner.access.clone(),
                "mutation($o: ID!, $n: String!) { createApiKey(input: { organizationId: $o, name: $n }) { apiKey { id } } }".to_owned(),
                json!({ "o": acme, "n": format!("key {i}") }),
            )
        })
        .collect();
    // Three sealers at once (besides the platform's), each checking the chain after sealing.
    let sealers: Vec<_> = (0..3)
        .map(|_| {
            let db = log.db.clone();
            let keys = log.keys.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..10 {
                    nexus_kit::audit::seal(&db, &keys).await.expect("seal");
                    seen.push(
                        nexus_kit::audit::verify(&db, &keys)
                            .await
                            .expect("verify")
                            .first_broken,
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                seen
            })
        })
        .collect();
    for (status, body) in stack.all_at_once(attempts).await {
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
    }
    for sealer in sealers {
        assert!(
            sealer.await.expect("task").iter().all(Option::is_none),
            "verification during appends reported a break"
        );
    }
    let added = log.since(before).await;
    assert_eq!(added.len(), 24, "{:?}", actions(&added));
    assert!(added.iter().all(|e| e.action == "api_key.created"));
    let positions: Vec<i64> = added.iter().filter_map(|e| e.seq).collect();
    assert_eq!(positions, (before + 1..=before + 24).collect::<Vec<_>>());
    log.assert_whole().await;
    stack.stop().await;
}

/// Fails today's main: creating and renaming an organization and switching an account to a new
/// address left no entry.
#[tokio::test]
async fn organizations_and_address_changes_are_recorded() {
    let stack = TestStack::start().await;
    let log = AuditLog::open(&stack).await;
    let ada = stack.sign_up("ada@acme.test", "Ada").await;
    let mark = log.mark().await;
    let acme = stack.create_organization(&ada, "Acme", "acme").await;
    let ada = stack.switch(&ada, &acme).await;
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { updateOrganization(id: $id, input: {name: \"Acme Corp\"}) { name } }",
            json!({ "id": acme }),
        )
        .await;
    // Renaming it to what it is already changes nothing, and records nothing.
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { updateOrganization(id: $id, input: {name: \"Acme Corp\"}) { name } }",
            json!({ "id": acme }),
        )
        .await;
    stack
        .data_as(
            &ada.access,
            "mutation { changeEmail(input: {newEmail: \"ada@new.test\", password: \"correct horse 42\"}) }",
            json!({}),
        )
        .await;
    let token = stack.mailed_token("ada@new.test", "verify-email").await;
    stack
        .data_as(
            &ada.access,
            "mutation($t: String!) { verifyEmail(token: $t) { email } }",
            json!({ "t": token }),
        )
        .await;
    let appended: Vec<_> = log
        .since(mark)
        .await
        .into_iter()
        .filter(|e| e.action != "user.signed_in" && e.action != "session.issued")
        .collect();
    assert_eq!(
        actions(&appended),
        [
            "organization.created",
            "organization.updated",
            "user.email_changed"
        ],
        "{appended:?}"
    );
    let user = Some(ada.user_id.as_str());
    assert_entry(
        &appended[0],
        "organization.created",
        ("user", user),
        Some(&acme),
        Some(("organization", &acme)),
    );
    assert_eq!(
        details(&appended[0]),
        json!({ "name": "Acme", "slug": "acme" })
    );
    assert_eq!(details(&appended[1])["name"], "Acme Corp");
    assert_entry(
        &appended[2],
        "user.email_changed",
        ("user", user),
        None,
        Some(("user", &ada.user_id)),
    );
    assert_eq!(
        details(&appended[2]),
        json!({ "from": "ada@acme.test", "to": "ada@new.test" })
    );
    stack.stop().await;
}

/// A subgraph believes `nexus-client-address` only as the public port sealed it: someone who
/// reaches identity's port directly cannot choose the address it rate-limits and audits by, and
/// a value the client sent to the public port is replaced.
#[tokio::test]
async fn a_client_address_is_believed_only_when_the_public_port_sealed_it() {
    let stack = TestStack::start().await;
    let log = AuditLog::open(&stack).await;
    stack.sign_up("ada@acme.test", "Ada").await;
    let mark = log.mark().await;
    let wrong = json!({
        "query": "mutation { logIn(input: { email: \"ada@acme.test\", password: \"nope nope 12\" }) { accessToken } }"
    });
    let identity = stack
        .stack
        .subgraph_url("identity")
        .expect("identity's URL");
    // Straight to identity, with an address of the caller's choosing, bare and "sealed".
    for forged in ["6.6.6.6", "6.6.6.6 k1.AAAA"] {
        let response = stack
            .client
            .post(&identity)
            .header("nexus-client-address", forged)
            .json(&wrong)
            .send()
            .await
            .expect("identity answers");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    }
    // Through the public port, with the same header: replaced by the peer's address.
    let through = stack
        .client
        .post(stack.stack.graphql_url())
        .header("nexus-client-address", "6.6.6.6")
        .json(&wrong)
        .send()
        .await
        .expect("the router answers");
    let body: serde_json::Value = through.json().await.expect("json");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");

    let failures: Vec<_> = log
        .since(mark)
        .await
        .into_iter()
        .filter(|e| e.action == "user.sign_in_failed")
        .collect();
    let addresses: Vec<_> = failures.iter().map(|e| e.address.as_deref()).collect();
    assert_eq!(addresses, [None, None, Some("127.0.0.1")]);
    stack.stop().await;
}

/// Someone who can write to the database but does not hold the key file rewrites the chain: an
/// entry's id, or an entry's content with every hash after it (the head's too) recomputed. Fails
/// on the previous main, where the rewritten chain verified and the id was not hashed.
#[tokio::test]
async fn a_chain_rewritten_without_the_platforms_key_does_not_verify() {
    use nexus_kit::audit::{entry_hash, signed_message};
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
        TransactionTrait,
    };

    let stack = TestStack::start().await;
    let log = AuditLog::open(&stack).await;
    let (owner, acme) = stack.owner_of("owner@acme.test", "Acme", "acme").await;
    for name in ["one", "two", "three"] {
        stack
            .data_as(
                &owner.access,
                "mutation($o: ID!, $n: String!) { createApiKey(input: { organizationId: $o, name: $n }) { secret } }",
                json!({ "o": acme, "n": name }),
            )
            .await;
    }
    let entries = log.entries().await;
    log.assert_whole().await;
    let last = entries.last().and_then(|e| e.seq).unwrap_or(0);
    let target = entries[entries.len() - 3].clone();
    let at = target.seq.unwrap_or(0);

    // The id is part of what is hashed.
    let txn = log.db.begin().await.expect("begin");
    nexus_kit::audit::entity::Entity::update_many()
        .col_expr(
            nexus_kit::audit::entity::Column::Id,
            sea_orm::sea_query::Expr::value(uuid::Uuid::now_v7()),
        )
        .filter(nexus_kit::audit::entity::Column::Seq.eq(at))
        .exec(&txn)
        .await
        .expect("change the id");
    let found = nexus_kit::audit::verify(&txn, &log.keys)
        .await
        .expect("verify");
    assert_eq!(
        found.first_broken,
        Some((
            at,
            "its content does not match its hash (the entry was changed)".into()
        ))
    );
    txn.rollback().await.expect("rollback");

    // A rewrite: the entry changed, every hash after it recomputed, the head moved along.
    let txn = log.db.begin().await.expect("begin");
    let mut previous = target.prev_hash.clone().unwrap_or_default();
    for entry in entries.iter().filter(|e| e.seq >= Some(at)) {
        let mut forged = entry.clone();
        if entry.seq == Some(at) {
            forged.address = Some("10.9.9.9".into());
        }
        let hash = entry_hash(&forged, entry.seq.unwrap_or(0), &previous);
        let mut row = forged.clone().into_active_model();
        row.address = Set(forged.address.clone());
        row.prev_hash = Set(Some(previous.clone()));
        row.hash = Set(Some(hash.clone()));
        row.update(&txn).await.expect("rewrite an entry");
        previous = hash;
    }
    txn.execute_unprepared(&format!(
        "UPDATE audit_chain_head SET hash = '{previous}' WHERE id = 1"
    ))
    .await
    .expect("move the head");
    let found = nexus_kit::audit::verify(&txn, &log.keys)
        .await
        .expect("verify");
    assert_eq!(
        found.first_broken,
        Some((last, "the chain's head signature does not match (the chain or its head was rewritten without the platform's key)".into())),
        "{found:?}"
    );
    // Signed with a key of the forger's own: not one of the platform's.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let forger =
        nexus_kit::token::KeyStore::open_or_create(&elsewhere.path().join("keys.json"), "forger")
            .expect("a key of the forger's own");
    let head = nexus_kit::audit::head::Entity::find_by_id(1)
        .one(&txn)
        .await
        .expect("read the head")
        .expect("the head");
    let (kid, signature) = forger
        .sign_bytes(&signed_message(
            head.seq,
            &head.hash,
            head.signed_at.expect("signed"),
        ))
        .expect("sign");
    txn.execute_unprepared(&format!(
        "UPDATE audit_chain_head SET key_id = '{kid}', signature = '{}' WHERE id = 1",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
    ))
    .await
    .expect("sign the head");
    let found = nexus_kit::audit::verify(&txn, &log.keys)
        .await
        .expect("verify");
    assert_eq!(
        found.first_broken.map(|(_, why)| why),
        Some(format!(
            "the chain's head is signed by key `{kid}`, which this platform does not know"
        ))
    );
    // Committed, the platform stops extending it rather than vouch for it.
    txn.commit().await.expect("commit the forgery");
    let refused = nexus_kit::audit::seal(&log.db, &log.keys).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("not sealing the audit log")),
        "{refused:?}"
    );

    // The signature removed instead: the platform signs the head again, but says so in an
    // entry that stays in the chain.
    let stack2 = TestStack::start().await;
    let log2 = AuditLog::open(&stack2).await;
    stack2.sign_up("ada@acme.test", "Ada").await;
    let before = log2.mark().await;
    let txn = log2.db.begin().await.expect("begin");
    txn.execute_unprepared(
        "UPDATE audit_chain_head SET signature = NULL, key_id = NULL, signed_at = NULL WHERE id = 1",
    )
    .await
    .expect("unsign");
    let found = nexus_kit::audit::verify(&txn, &log2.keys)
        .await
        .expect("verify");
    assert_eq!(
        found.first_broken.map(|(_, why)| why),
        Some("the chain's head is not signed (it was rewritten, or never sealed by a platform that signs)".into())
    );
    txn.commit().await.expect("commit");
    let noted = log2.of("audit.head_signed").await;
    assert_eq!(noted.len(), 1, "{:?}", actions(&log2.entries().await));
    assert_eq!(details(&noted[0])["unsigned_seq"], before);
    log2.assert_whole().await;
    stack2.stop().await;
    stack.stop().await;
}

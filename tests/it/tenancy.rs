//! Nothing of another tenant is readable: ada (organization acme) tries to read bob's organization
//! (bobco) by id, by slug, by nested field and by forged entity representation sent straight to each
//! subgraph. Every attempt is null or refused, and no response contains anything of bobco.

use crate::common::{Session, TestStack, error_codes, post_graphql};
use serde_json::{Value, json};

struct Tenant {
    owner: Session,
    organization: String,
    membership: String,
    installation: String,
    license: String,
}

async fn tenant(
    stack: &TestStack,
    admin: &Session,
    app: &str,
    email: &str,
    name: &str,
    slug: &str,
) -> Tenant {
    let owner = stack.sign_up(email, name).await;
    let organization = stack.create_organization(&owner, name, slug).await;
    let owner = stack.switch(&owner, &organization).await;
    let data = stack
        .data_as(
            &owner.access,
            "mutation($app: ID!, $org: ID!) { createInstallation(input: {appId: $app, organizationId: $org}) { id } }",
            json!({ "app": app, "org": organization }),
        )
        .await;
    let installation = data["createInstallation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let data = stack
        .data_as(
            &admin.access,
            "mutation($app: ID!, $org: ID!) { issueLicense(input: {appId: $app, organizationId: $org, kind: FREE}) { license { id } } }",
            json!({ "app": app, "org": organization }),
        )
        .await;
    let license = data["issueLicense"]["license"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let data = stack
        .data_as(
            &owner.access,
            "query($id: ID!) { organization(id: $id) { members { edges { node { id } } } } }",
            json!({ "id": organization }),
        )
        .await;
    let membership = data["organization"]["members"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Tenant {
        owner,
        organization,
        membership,
        installation,
        license,
    }
}

struct World {
    stack: TestStack,
    app: String,
    ada: Tenant,
    bob: Tenant,
}

async fn world() -> World {
    let stack = TestStack::start().await;
    let admin = stack.platform_admin("admin@nexus.test").await;
    let (_analytics, app) = stack.publish_analytics(&admin, &admin).await;
    let ada = tenant(&stack, &admin, &app, "ada@acme.test", "Acme", "acme").await;
    let bob = tenant(&stack, &admin, &app, "bob@bobco.test", "Bobco", "bobco").await;
    World {
        stack,
        app,
        ada,
        bob,
    }
}

/// Nothing of bob's tenant appears in `body`.
fn assert_nothing_of_bob(world: &World, body: &Value) {
    let text = body.to_string();
    for secret in [
        "bob@bobco.test",
        "Bobco",
        "bobco",
        world.bob.organization.as_str(),
        world.bob.owner.user_id.as_str(),
        world.bob.membership.as_str(),
        world.bob.installation.as_str(),
        world.bob.license.as_str(),
    ] {
        assert!(!text.contains(secret), "`{secret}` leaked: {text}");
    }
}

#[tokio::test]
async fn another_tenants_data_is_unreadable_through_the_router() {
    let world = world().await;
    let (stack, ada, bob) = (&world.stack, &world.ada.owner.access, &world.bob);

    // By id and by slug: null, as if it did not exist.
    let body = stack
        .gql_as(
            ada,
            "query($org: ID!, $user: ID!, $inst: ID!, $lic: ID!) { \
               organization(id: $org) { name } bySlug: organization(slug: \"bobco\") { name } \
               user(id: $user) { email } installation(id: $inst) { id } license(id: $lic) { id } }",
            json!({ "org": bob.organization, "user": bob.owner.user_id, "inst": bob.installation, "lic": bob.license }),
        )
        .await;
    assert_eq!(
        body,
        json!({ "data": { "organization": null, "bySlug": null, "user": null, "installation": null, "license": null } })
    );

    // By nested field: only ada's own organization, members, installations and licenses.
    let body = stack
        .gql_as(
            ada,
            "{ me { memberships { edges { node { organization { slug } } } } } \
               organizations { edges { node { slug members { edges { node { user { email } } } } \
                 installations { edges { node { id } } } licenses { edges { node { id } } } } } } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["organizations"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{body}"
    );
    assert_eq!(
        body["data"]["organizations"]["edges"][0]["node"]["slug"],
        "acme"
    );
    assert_nothing_of_bob(&world, &body);

    // Writes into the other tenant are refused.
    for (query, variables) in [
        (
            "mutation($org: ID!) { inviteMember(input: {organizationId: $org, email: \"ada@acme.test\", role: OWNER}) { id } }",
            json!({ "org": bob.organization }),
        ),
        (
            "mutation($app: ID!, $org: ID!) { createInstallation(input: {appId: $app, organizationId: $org}) { id } }",
            json!({ "app": world.app, "org": bob.organization }),
        ),
        (
            "mutation($org: ID!) { switchOrganization(id: $org) { accessToken } }",
            json!({ "org": bob.organization }),
        ),
        (
            "mutation($m: ID!) { changeMemberRole(input: {membershipId: $m, role: MEMBER}) { id } }",
            json!({ "m": bob.membership }),
        ),
        (
            "mutation($m: ID!) { removeMember(membershipId: $m) }",
            json!({ "m": bob.membership }),
        ),
        (
            "mutation($org: ID!) { createApiKey(input: {organizationId: $org, name: \"x\"}) { secret } }",
            json!({ "org": bob.organization }),
        ),
    ] {
        let body = stack.gql_as(ada, query, variables).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{query}: {body}");
        assert_nothing_of_bob(&world, &body);
    }

    // Bob's organization is untouched.
    let data = stack
        .data_as(
            &bob.owner.access,
            "{ organization(slug: \"bobco\") { members { edges { node { role user { email } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["organization"]["members"]["edges"],
        json!([{ "node": { "role": "OWNER", "user": { "email": "bob@bobco.test" } } }])
    );

    // Anonymous callers get nothing but the app store.
    let body = stack
        .gql(
            "query($org: ID!) { organization(id: $org) { name } }",
            json!({ "org": bob.organization }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_nothing_of_bob(&world, &body);
    let data = stack
        .data("{ apps { edges { node { namespace } } } }", json!({}))
        .await;
    assert_eq!(data["apps"]["edges"][0]["node"]["namespace"], "analytics");
    world.stack.stop().await;
}

#[tokio::test]
async fn forged_representations_sent_to_each_subgraph_are_refused() {
    let world = world().await;
    let (stack, ada, bob) = (&world.stack, &world.ada.owner.access, &world.bob);
    let client = reqwest::Client::new();
    let entities = |subgraph: &str| stack.stack.subgraph_url(subgraph).unwrap_or_default();
    const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
        ... on Organization { id } ... on User { id } ... on Membership { id } } }";

    let (status, body) = post_graphql(
        &client,
        &entities("identity"),
        Some(ada),
        ENTITIES,
        json!({ "r": [
            { "__typename": "Organization", "id": bob.organization },
            { "__typename": "User", "id": bob.owner.user_id },
            { "__typename": "Membership", "id": bob.membership },
        ] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["_entities"],
        json!([null, null, null]),
        "{body}"
    );

    let (_, body) = post_graphql(
        &client,
        &entities("identity"),
        Some(ada),
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Organization { name members { edges { node { id } } } } } }",
        json!({ "r": [{ "__typename": "Organization", "id": bob.organization }] }),
    )
    .await;
    assert_eq!(body["data"]["_entities"], json!([null]), "{body}");
    assert_nothing_of_bob(&world, &body);

    let (_, body) = post_graphql(
        &client,
        &entities("apps"),
        Some(ada),
        "query($r: [_Any!]!) { _entities(representations: $r) { \
           ... on Installation { id status } ... on Organization { installations { edges { node { id } } } } } }",
        json!({ "r": [
            { "__typename": "Installation", "id": bob.installation },
            { "__typename": "Organization", "id": bob.organization },
        ] }),
    )
    .await;
    assert_eq!(body["data"]["_entities"][0], Value::Null, "{body}");
    assert_eq!(
        body["data"]["_entities"][1]["installations"],
        Value::Null,
        "{body}"
    );
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_nothing_of_bob(&world, &body);

    let (_, body) = post_graphql(
        &client,
        &entities("licensing"),
        Some(ada),
        "query($r: [_Any!]!) { _entities(representations: $r) { \
           ... on License { id kind } ... on Installation { license { id } } \
           ... on Organization { licenses { edges { node { id } } } } } }",
        json!({ "r": [
            { "__typename": "License", "id": bob.license },
            { "__typename": "Installation", "id": bob.installation,
              "app": { "id": world.app }, "organization": { "id": bob.organization } },
            { "__typename": "Organization", "id": bob.organization },
        ] }),
    )
    .await;
    assert_eq!(body["data"]["_entities"][0], Value::Null, "{body}");
    assert_eq!(
        body["data"]["_entities"][1]["license"],
        Value::Null,
        "{body}"
    );
    assert_eq!(
        body["data"]["_entities"][2]["licenses"],
        Value::Null,
        "{body}"
    );
    assert_nothing_of_bob(&world, &body);

    // Without any token, a subgraph called directly resolves nothing private either.
    let (_, body) = post_graphql(
        &client,
        &entities("identity"),
        None,
        ENTITIES,
        json!({ "r": [{ "__typename": "Organization", "id": bob.organization }] }),
    )
    .await;
    assert_eq!(body["data"]["_entities"], json!([null]), "{body}");
    world.stack.stop().await;
}

#[tokio::test]
async fn an_api_key_reads_only_its_organization_within_its_scopes() {
    let world = world().await;
    let (stack, ada) = (&world.stack, &world.ada);
    let create = |scopes: Value| {
        stack.data_as(
            &ada.owner.access,
            "mutation($org: ID!, $scopes: [String!]!) { createApiKey(input: {organizationId: $org, name: \"ci\", scopes: $scopes}) { secret apiKey { prefix } } }",
            json!({ "org": ada.organization, "scopes": scopes }),
        )
    };
    let full = create(json!(["organizations:read", "users:read"])).await;
    let secret = full["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(secret.starts_with("nxk_"), "{full}");
    let narrow = create(json!(["organizations:read"])).await;
    let narrow = narrow["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let client = reqwest::Client::new();
    let with_key = |key: String, query: &'static str, variables: Value| {
        let client = client.clone();
        let url = stack.stack.graphql_url();
        async move {
            let response = client
                .post(url)
                .header("x-api-key", key)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .expect("router answers");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or_default(),
            )
        }
    };
    const QUERY: &str = "query($mine: ID!, $theirs: ID!) { \
        mine: organization(id: $mine) { name members { edges { node { user { email } } } } } \
        theirs: organization(id: $theirs) { name } }";
    let variables = json!({ "mine": ada.organization, "theirs": world.bob.organization });
    let (status, body) = with_key(secret.clone(), QUERY, variables.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["mine"]["name"], "Acme", "{body}");
    assert_eq!(
        body["data"]["mine"]["members"]["edges"][0]["node"]["user"]["email"],
        "ada@acme.test"
    );
    assert_eq!(body["data"]["theirs"], Value::Null);
    assert_nothing_of_bob(&world, &body);

    // Without `users:read`, emails are refused.
    let (_, body) = with_key(narrow, QUERY, variables).await;
    assert_eq!(body["data"]["mine"]["name"], "Acme", "{body}");
    assert!(
        error_codes(&body).iter().all(|c| c == "FORBIDDEN") && !error_codes(&body).is_empty(),
        "{body}"
    );
    assert!(!body.to_string().contains("ada@acme.test"), "{body}");
    world.stack.stop().await;
}

#[tokio::test]
async fn a_demoted_or_removed_admin_loses_their_powers_within_seconds_not_at_token_expiry() {
    let stack = TestStack::start().await;
    let developer = stack.sign_up("dev@fresh.test", "Dev").await;
    let admin = stack.platform_admin("admin@fresh.test").await;
    let (_app, app_id) = stack.publish_analytics(&developer, &admin).await;
    let (ada, acme) = stack.owner_of("ada@fresh.test", "Acme", "acme-fresh").await;
    let bob = stack.sign_up("bob@fresh.test", "Bob").await;
    let membership = stack
        .add_member(&ada, &acme, "bob@fresh.test", "ADMIN")
        .await;
    let bob = stack.switch(&bob, &acme).await;
    let install = format!("mutation {{ installApp(appId: \"{app_id}\") {{ id }} }}");
    // An admin installs; installing again is a conflict, not a refusal.
    let installed = stack.data_as(&bob.access, &install, json!({})).await;
    let installation = installed["installApp"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let issued = stack
        .data_as(
            &developer.access,
            "mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { license { id } } }",
            json!({ "i": { "appId": app_id, "organizationId": acme, "kind": "PURCHASE", "maxActivations": 1 } }),
        )
        .await;
    let license = issued["issueLicense"]["license"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // What a member reads in the apps service and in the licensing service.
    let readable = format!(
        "{{ installation(id: \"{installation}\") {{ id }} license(id: \"{license}\") {{ id }} }}"
    );
    let body = stack.gql_as(&bob.access, &install, json!({})).await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");

    // Demoted to member: the same token, still valid for minutes, may no longer manage apps.
    stack
        .data_as(
            &ada.access,
            "mutation($i: ChangeMemberRoleInput!) { changeMemberRole(input: $i) { role } }",
            json!({ "i": { "membershipId": membership, "role": "MEMBER" } }),
        )
        .await;
    let started = std::time::Instant::now();
    stack
        .eventually(
            &bob.access,
            &install,
            std::time::Duration::from_secs(5),
            |body| error_codes(body) == ["FORBIDDEN"],
        )
        .await;
    println!("demotion took effect in {:?}", started.elapsed());
    // A member still reads the organization's installations and licenses.
    let data = stack.data_as(&bob.access, &readable, json!({})).await;
    assert_eq!(data["installation"]["id"], installation.as_str(), "{data}");
    assert_eq!(data["license"]["id"], license.as_str(), "{data}");

    // Removed: nothing of the organization is readable any more, in apps or in licensing.
    stack
        .data_as(
            &ada.access,
            "mutation($id: ID!) { removeMember(membershipId: $id) }",
            json!({ "id": membership }),
        )
        .await;
    let body = stack
        .eventually(
            &bob.access,
            &readable,
            std::time::Duration::from_secs(5),
            |body| body["data"]["installation"].is_null() && body["data"]["license"].is_null(),
        )
        .await;
    assert!(
        error_codes(&body).iter().all(|c| c == "FORBIDDEN"),
        "refused, never failed: {body}"
    );
    stack.stop().await;
}

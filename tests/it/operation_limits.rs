//! `nexus.limits` through the real router: hostile shapes are refused before planning with a
//! stable code and the measured value; what the console and apps send goes through; an operator
//! changes the limits in a `router.yaml` of their own; `mode: measure` only logs.

use serde_json::{Value, json};

use crate::common::{TestStack, error_codes};

/// The cycle from the issue, in a small document: members → organization → members, ten
/// aliases per level, through fragments.
fn fan_out_query(levels: usize) -> String {
    let mut query =
        "{ me { memberships(first: 100) { nodes { organization { ...L1 } } } } }\n".to_owned();
    for level in 1..=levels {
        let inner = if level == levels {
            "id".to_owned()
        } else {
            format!("...L{}", level + 1)
        };
        let aliases: Vec<String> = (0..10)
            .map(|i| {
                format!("m{i}: members(first: 100) {{ nodes {{ organization {{ {inner} }} }} }}")
            })
            .collect();
        query.push_str(&format!(
            "fragment L{level} on Organization {{ {} }}\n",
            aliases.join(" ")
        ));
    }
    query
}

fn error_with<'a>(body: &'a Value, code: &str) -> &'a Value {
    body["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["extensions"]["code"] == code))
        .unwrap_or_else(|| panic!("no {code} error in {body}"))
}

const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;

#[tokio::test]
async fn hostile_shapes_are_refused_with_their_measure_and_honest_ones_pass() {
    let stack = TestStack::start().await;
    let (user, _org) = stack.owner_of("ada@limits.test", "Limits", "limits").await;

    // Honest: a console page, and the introspection query every GraphQL tool sends.
    let page = stack
        .data_as(
            &user.access,
            "{ me { name memberships(first: 20) { nodes { role organization { name members(first: 50) { nodes { role user { name email } } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(page["me"]["name"], "ada");
    let introspection = stack.data_as(&user.access, INTROSPECTION, json!({})).await;
    assert!(
        introspection["__schema"]["types"]
            .as_array()
            .is_some_and(|t| t.len() > 20)
    );

    // The issue's fan-out: 10 aliases × 3 levels of members(first: 100), in under 2 KB.
    let query = fan_out_query(3);
    assert!(query.len() < 2048, "{}", query.len());
    let started = std::time::Instant::now();
    let (status, body) = stack.post_as(&user.access, &query, json!({})).await;
    println!("the fan-out query was refused in {:?}", started.elapsed());
    assert_eq!(status, 400, "{body}");
    let cost = error_with(&body, "COST_LIMIT_EXCEEDED");
    assert_eq!(cost["extensions"]["limit"], 20_000);
    assert!(
        cost["extensions"]["measured"]
            .as_u64()
            .is_some_and(|m| m > 1_000_000_000),
        "{cost}"
    );
    let aliases = error_with(&body, "MAX_ALIASES_EXCEEDED");
    assert_eq!(aliases["extensions"]["measured"], 1110);
    assert_eq!(aliases["extensions"]["limit"], 30);
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "nothing ran: {body}"
    );

    // Too deep, through a fragment chain.
    let mut deep = "id".to_owned();
    for _ in 0..11 {
        deep = format!("members(first: 1) {{ nodes {{ organization {{ {deep} }} }} }}");
    }
    let (status, body) = stack
        .post_as(
            &user.access,
            &format!("{{ organization(slug: \"limits\") {{ {deep} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let depth = error_with(&body, "MAX_DEPTH_EXCEEDED");
    assert_eq!(depth["extensions"]["measured"], 1 + 11 * 3 + 1);
    assert_eq!(depth["extensions"]["limit"], 20);
    assert_eq!(
        depth["message"],
        "operation refused: fields nest 35 levels deep; the limit is 20"
    );

    // Root fields, tokens and fields: each named, anonymous callers included.
    let roots: Vec<String> = (0..21).map(|i| format!("r{i}: __typename")).collect();
    let (status, body) = stack
        .post(&format!("{{ {} }}", roots.join(" ")), json!({}))
        .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["MAX_ROOT_FIELDS_EXCEEDED".to_owned()]),
        "{body}"
    );
    let wide = format!("{{ {} }}", "__typename ".repeat(6_000));
    let (status, body) = stack.post(&wide, json!({})).await;
    assert_eq!(status, 400, "{body}");
    let codes = error_codes(&body);
    assert!(codes.contains(&"MAX_TOKENS_EXCEEDED".to_owned()), "{body}");
    assert!(codes.contains(&"MAX_HEIGHT_EXCEEDED".to_owned()), "{body}");
    assert_eq!(
        error_with(&body, "MAX_TOKENS_EXCEEDED")["extensions"]["limit"],
        10_000
    );

    // A body over the byte limit is refused from its length, before it is read.
    let huge = json!({ "query": "{ __typename }", "variables": { "pad": "x".repeat(1_100_000) } });
    let response = stack
        .client
        .post(stack.stack.graphql_url())
        .json(&huge)
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    let bytes = error_with(&body, "MAX_REQUEST_BYTES_EXCEEDED");
    assert_eq!(bytes["extensions"]["limit"], 1_000_000);

    // The platform answers as before afterwards.
    assert_eq!(
        stack.data("{ __typename }", json!({})).await["__typename"],
        "Query"
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_operator_tightens_limits_or_only_measures_in_their_own_router_yaml() {
    let stack = TestStack::start_with_router_yaml(
        "plugins:\n  nexus.limits:\n    max_depth: 3\n    max_cost: 5\n",
    )
    .await;
    let (user, _org) = stack.owner_of("bo@limits.test", "Bo", "bo").await;
    assert_eq!(
        stack
            .data_as(&user.access, "{ me { name } }", json!({}))
            .await["me"]["name"],
        "bo"
    );
    let (status, body) = stack
        .post_as(
            &user.access,
            "{ me { memberships(first: 3) { nodes { role } } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_with(&body, "MAX_DEPTH_EXCEEDED")["extensions"]["measured"],
        4
    );
    assert_eq!(
        error_with(&body, "MAX_DEPTH_EXCEEDED")["extensions"]["limit"],
        3
    );
    // 1 (me) + 3 × (connection + node): 7 > 5.
    assert_eq!(
        error_with(&body, "COST_LIMIT_EXCEEDED")["extensions"]["measured"],
        7
    );
    // Page sizes given as variables count too.
    let (status, body) = stack
        .post_as(
            &user.access,
            "query($n: Int) { me { memberships(first: $n) { nodes { role } } } }",
            json!({ "n": 100 }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_with(&body, "COST_LIMIT_EXCEEDED")["extensions"]["measured"],
        201
    );
    stack.stop().await;

    let measuring = TestStack::start_with_router_yaml(
        "plugins:\n  nexus.limits:\n    mode: measure\n    max_depth: 2\n",
    )
    .await;
    let (user, _org) = measuring.owner_of("cy@limits.test", "Cy", "cy").await;
    let data = measuring
        .data_as(
            &user.access,
            "{ me { memberships(first: 3) { nodes { role } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["me"]["memberships"]["nodes"][0]["role"], "OWNER");
    measuring.stop().await;
}

#[tokio::test]
async fn a_core_subgraph_refuses_what_is_far_too_deep_even_around_the_router() {
    let stack = TestStack::start().await;
    let mut deep = "id".to_owned();
    for _ in 0..12 {
        deep = format!("members(first: 1) {{ nodes {{ organization {{ {deep} }} }} }}");
    }
    let query = format!("{{ organization(slug: \"nobody\") {{ {deep} }} }}");
    let (status, body) = crate::common::post_graphql(
        &stack.client,
        &stack
            .stack
            .subgraph_url(nexus_identity::NAME)
            .expect("identity"),
        None,
        &query,
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    // async-graphql's own limits: its recursion bound (32) answers before the depth limit.
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("nested too deep") || message.contains("recursion depth"),
        "{body}"
    );
    stack.stop().await;
}

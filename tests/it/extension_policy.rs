//! The extension policy against the real core subgraphs: entities found, an app extending
//! `User` and `Organization` accepted, one touching core fields refused.

use nexus::core_subgraphs::CORE_SUBGRAPHS;
use nexus_registry::SubgraphSdl;
use nexus_registry::policy::{CoreSchema, Limits, check};

const LINK: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@override", "@shareable"])"#;

fn core() -> CoreSchema {
    let subgraphs: Vec<SubgraphSdl> = CORE_SUBGRAPHS
        .iter()
        .map(|c| SubgraphSdl {
            name: c.name.to_owned(),
            routing_url: String::new(),
            sdl: (c.sdl)(),
        })
        .collect();
    CoreSchema::from_subgraphs(&subgraphs).expect("core SDL parses")
}

#[test]
fn the_example_extension_complies_with_the_real_core() {
    let sdl = format!(
        "{LINK}\n\
         type Query {{ analyticsTopUsers(first: Int): [User!]! }}\n\
         type User @key(fields: \"id\") {{ id: ID! analyticsProfile: AnalyticsProfile }}\n\
         type Organization @key(fields: \"id\") {{ id: ID! analyticsDashboard: AnalyticsDashboard }}\n\
         type AnalyticsProfile {{ visits: Int! lastSeenAt: DateTime }}\n\
         type AnalyticsDashboard {{ activeUsers: Int! }}\n\
         scalar DateTime"
    );
    let violations = check("analytics", &sdl, &core(), &Limits::default());
    assert!(violations.is_empty(), "{violations:?}");
}

#[test]
fn touching_core_fields_and_types_is_refused_with_type_and_field() {
    let sdl = format!(
        "{LINK}\n\
         type Organization @key(fields: \"id\") {{ id: ID! name: String! @override(from: \"identity\") }}\n\
         type Installation @key(fields: \"id\") {{ id: ID! status: String }}\n\
         type License {{ id: ID! }}\n\
         enum Role {{ GOD }}"
    );
    let violations = check("analytics", &sdl, &core(), &Limits::default());
    let found: Vec<(&str, Option<&str>, Option<&str>)> = violations
        .iter()
        .map(|v| (v.code, v.type_name.as_deref(), v.field.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("RESTRICTED_DIRECTIVE", Some("Organization"), Some("name")),
            ("CORE_FIELD_REDEFINED", Some("Organization"), Some("name")),
            ("CORE_FIELD_REDEFINED", Some("Installation"), Some("status")),
            ("ENTITY_WITHOUT_KEY", Some("License"), None),
            // Without a `@key`, even `id` is a redefinition.
            ("CORE_FIELD_REDEFINED", Some("License"), Some("id")),
            ("CORE_TYPE_REDEFINED", Some("Role"), None),
        ]
    );
}

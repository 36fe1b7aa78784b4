//! The extension policy for app subgraphs (ARCHITECTURE.md): an app adds to the graph under its
//! namespace and never touches what the core owns. Each violation names the rule, the type and
//! the field, so the developer knows exactly what to change.

use std::collections::{BTreeMap, BTreeSet};

use apollo_compiler::Node;
use apollo_compiler::ast::{Definition, Directive, DirectiveList, Document, FieldDefinition};
use serde::Serialize;

use crate::compose::SubgraphSdl;

/// Directives an app may not use: the unlicensed router refuses the auth ones, and the others
/// would let an app take over or reshape core-owned fields.
pub const RESTRICTED_DIRECTIVES: &[&str] = &[
    "authenticated",
    "requiresScopes",
    "policy",
    "composeDirective",
    "override",
    "interfaceObject",
];

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_sdl_bytes: usize,
    pub max_types: usize,
    pub max_fields_per_type: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sdl_bytes: 256 * 1024,
            max_types: 200,
            max_fields_per_type: 100,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub code: &'static str,
    pub message: String,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub field: Option<String>,
}

/// What the core subgraphs define: entity types with their fields, and every other type name.
#[derive(Clone, Debug, Default)]
pub struct CoreSchema {
    entities: BTreeMap<String, BTreeSet<String>>,
    types: BTreeMap<String, bool>,
}

impl CoreSchema {
    pub fn from_subgraphs(subgraphs: &[SubgraphSdl]) -> Result<Self, String> {
        let mut core = CoreSchema::default();
        for subgraph in subgraphs {
            let document = Document::parse(subgraph.sdl.as_str(), subgraph.name.as_str())
                .map_err(|e| format!("core subgraph {}: {}", subgraph.name, e.errors))?;
            for definition in &document.definitions {
                let Some(name) = definition.name() else {
                    continue;
                };
                let name = name.to_string();
                if is_builtin(&name) {
                    continue;
                }
                let is_scalar = matches!(definition, Definition::ScalarTypeDefinition(_));
                core.types.insert(name.clone(), is_scalar);
                if let Definition::ObjectTypeDefinition(object) = definition
                    && has_directive(&object.directives, "key")
                {
                    core.entities
                        .entry(name)
                        .or_default()
                        .extend(object.fields.iter().map(|f| f.name.to_string()));
                }
            }
        }
        Ok(core)
    }
}

/// Every violation of the policy by the app `namespace`'s SDL (empty: it complies).
pub fn check(namespace: &str, sdl: &str, core: &CoreSchema, limits: &Limits) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut violation =
        |code: &'static str, message: String, ty: Option<&str>, field: Option<&str>| {
            out.push(Violation {
                code,
                message,
                type_name: ty.map(str::to_owned),
                field: field.map(str::to_owned),
            })
        };
    if sdl.len() > limits.max_sdl_bytes {
        violation(
            "SDL_TOO_LARGE",
            format!(
                "the SDL is {} bytes; the limit is {}",
                sdl.len(),
                limits.max_sdl_bytes
            ),
            None,
            None,
        );
        return out;
    }
    let document = match Document::parse(sdl, namespace) {
        Ok(document) => document,
        Err(with_errors) => {
            violation(
                "INVALID_SDL",
                format!("the SDL does not parse: {}", with_errors.errors),
                None,
                None,
            );
            return out;
        }
    };
    let type_prefix = pascal(namespace);
    let mut app_types = BTreeSet::new();

    for definition in &document.definitions {
        // Directives on the schema itself (`extend schema @composeDirective(...)`).
        if let Definition::SchemaDefinition(d) = definition {
            restricted(&d.directives, None, None, &mut violation);
        }
        if let Definition::SchemaExtension(d) = definition {
            restricted(&d.directives, None, None, &mut violation);
        }
        if matches!(definition, Definition::DirectiveDefinition(_)) {
            continue;
        }
        let Some(name) = definition.name().map(|n| n.to_string()) else {
            continue;
        };
        if is_builtin(&name) {
            continue;
        }
        let (directives, fields) = parts(definition);
        restricted(directives, Some(&name), None, &mut violation);
        for field in fields {
            restricted(
                &field.directives,
                Some(&name),
                Some(&field.name),
                &mut violation,
            );
            for argument in &field.arguments {
                restricted(
                    &argument.directives,
                    Some(&name),
                    Some(&field.name),
                    &mut violation,
                );
            }
        }
        if fields.len() > limits.max_fields_per_type {
            violation(
                "TOO_MANY_FIELDS",
                format!(
                    "`{name}` has {} fields; the limit is {}",
                    fields.len(),
                    limits.max_fields_per_type
                ),
                Some(&name),
                None,
            );
        }

        if matches!(name.as_str(), "Query" | "Mutation" | "Subscription") {
            for field in fields.iter().filter(|f| !f.name.starts_with('_')) {
                if !has_prefix(&field.name, namespace) {
                    let (code, message) = not_namespaced(&name, &field.name, namespace);
                    violation(code, message, Some(&name), Some(&field.name));
                }
            }
        } else if let Some(core_fields) = core.entities.get(&name) {
            if !has_directive(directives, "key") {
                violation(
                    "ENTITY_WITHOUT_KEY",
                    format!(
                        "`{name}` is a core entity: reference it with a `@key(fields: \"id\")` stub"
                    ),
                    Some(&name),
                    None,
                );
            }
            let keys = key_fields(directives);
            for field in fields {
                if core_fields.contains(field.name.as_str()) {
                    if !keys.contains(field.name.as_str()) {
                        violation(
                            "CORE_FIELD_REDEFINED",
                            format!(
                                "`{name}.{}` belongs to the core; an app may only add fields starting with `{namespace}`",
                                field.name
                            ),
                            Some(&name),
                            Some(&field.name),
                        );
                    }
                } else if !has_prefix(&field.name, namespace) {
                    let (code, message) = not_namespaced(&name, &field.name, namespace);
                    violation(code, message, Some(&name), Some(&field.name));
                }
            }
        } else if let Some(is_scalar) = core.types.get(&name) {
            // Sharing a core scalar (`DateTime`) is harmless; any other core type is not the app's.
            if !(*is_scalar && matches!(definition, Definition::ScalarTypeDefinition(_))) {
                violation(
                    "CORE_TYPE_REDEFINED",
                    format!("`{name}` is a core type; name the app's own types `{type_prefix}…`"),
                    Some(&name),
                    None,
                );
            }
        } else {
            app_types.insert(name.clone());
            if !has_prefix(&name, &type_prefix) {
                violation(
                    "TYPE_NOT_NAMESPACED",
                    format!(
                        "`{name}` must start with `{type_prefix}` (e.g. `{type_prefix}{name}`)"
                    ),
                    Some(&name),
                    None,
                );
            }
        }
    }
    if app_types.len() > limits.max_types {
        violation(
            "TOO_MANY_TYPES",
            format!(
                "the app defines {} types; the limit is {}",
                app_types.len(),
                limits.max_types
            ),
            None,
            None,
        );
    }
    out
}

fn restricted(
    directives: &DirectiveList,
    ty: Option<&str>,
    field: Option<&str>,
    violation: &mut impl FnMut(&'static str, String, Option<&str>, Option<&str>),
) {
    for directive in directives.iter() {
        let name = directive_name(directive);
        if RESTRICTED_DIRECTIVES.contains(&name) {
            let at = match (ty, field) {
                (Some(t), Some(f)) => format!(" on `{t}.{f}`"),
                (Some(t), None) => format!(" on `{t}`"),
                _ => " on the schema".to_owned(),
            };
            violation(
                "RESTRICTED_DIRECTIVE",
                format!("`@{name}`{at} is not allowed in app subgraphs"),
                ty,
                field,
            );
        }
    }
}

fn not_namespaced(ty: &str, field: &str, namespace: &str) -> (&'static str, String) {
    (
        "FIELD_NOT_NAMESPACED",
        format!(
            "`{ty}.{field}` must start with `{namespace}` (e.g. `{namespace}{}`)",
            capitalize(field)
        ),
    )
}

/// `@federation__override` and `@override` alike.
fn directive_name(directive: &Node<Directive>) -> &str {
    directive.name.as_str().trim_start_matches("federation__")
}

fn has_directive(directives: &DirectiveList, name: &str) -> bool {
    directives.iter().any(|d| directive_name(d) == name)
}

/// Top-level field names in the `fields` of every `@key`.
fn key_fields(directives: &DirectiveList) -> BTreeSet<String> {
    directives
        .iter()
        .filter(|d| directive_name(d) == "key")
        .filter_map(|d| d.specified_argument_by_name("fields"))
        .filter_map(|v| v.as_str().map(str::to_owned))
        .flat_map(|fields| {
            // Only the outer level: `id organization { id }` → id, organization.
            let mut depth = 0;
            let mut names = Vec::new();
            for token in fields
                .replace('{', " { ")
                .replace('}', " } ")
                .split_whitespace()
            {
                match token {
                    "{" => depth += 1,
                    "}" => depth -= 1,
                    name if depth == 0 => names.push(name.to_owned()),
                    _ => {}
                }
            }
            names
        })
        .collect()
}

fn parts(definition: &Definition) -> (&DirectiveList, &[Node<FieldDefinition>]) {
    static EMPTY: DirectiveList = DirectiveList(Vec::new());
    match definition {
        Definition::ObjectTypeDefinition(d) => (&d.directives, &d.fields),
        Definition::ObjectTypeExtension(d) => (&d.directives, &d.fields),
        Definition::InterfaceTypeDefinition(d) => (&d.directives, &d.fields),
        Definition::InterfaceTypeExtension(d) => (&d.directives, &d.fields),
        Definition::ScalarTypeDefinition(d) => (&d.directives, &[]),
        Definition::ScalarTypeExtension(d) => (&d.directives, &[]),
        Definition::UnionTypeDefinition(d) => (&d.directives, &[]),
        Definition::UnionTypeExtension(d) => (&d.directives, &[]),
        Definition::EnumTypeDefinition(d) => (&d.directives, &[]),
        Definition::EnumTypeExtension(d) => (&d.directives, &[]),
        Definition::InputObjectTypeDefinition(d) => (&d.directives, &[]),
        Definition::InputObjectTypeExtension(d) => (&d.directives, &[]),
        _ => (&EMPTY, &[]),
    }
}

/// Federation's and GraphQL's own names, which every subgraph may define.
fn is_builtin(name: &str) -> bool {
    name.starts_with('_')
        || name.starts_with("link__")
        || name.starts_with("federation__")
        || name.starts_with("join__")
        || matches!(
            name,
            "String"
                | "Int"
                | "Float"
                | "Boolean"
                | "ID"
                | "FieldSet"
                | "Import"
                | "Purpose"
                | "link__Import"
                | "ContextFieldValue"
                | "Scope"
                | "Policy"
        )
}

/// `name` starts with `prefix`, followed by the end or an uppercase letter or digit.
fn has_prefix(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| {
        rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

fn pascal(namespace: &str) -> String {
    capitalize(namespace)
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable", "@override", "@external", "@requires", "@authenticated"])"#;

    fn core() -> CoreSchema {
        let identity = SubgraphSdl {
            name: "identity".into(),
            routing_url: String::new(),
            sdl: format!(
                "{LINK}\ntype Query {{ user(id: ID!): User }}\n\
                 type User @key(fields: \"id\") {{ id: ID! email: String name: String! createdAt: DateTime! }}\n\
                 type PageInfo @shareable {{ hasNextPage: Boolean! }}\nscalar DateTime"
            ),
        };
        CoreSchema::from_subgraphs(&[identity]).expect("core parses")
    }

    fn check_app(body: &str) -> Vec<Violation> {
        check(
            "analytics",
            &format!("{LINK}\n{body}"),
            &core(),
            &Limits::default(),
        )
    }

    fn codes(violations: &[Violation]) -> Vec<(&str, Option<&str>, Option<&str>)> {
        violations
            .iter()
            .map(|v| (v.code, v.type_name.as_deref(), v.field.as_deref()))
            .collect()
    }

    #[test]
    fn a_namespaced_extension_complies() {
        let violations = check_app(
            "type Query { analyticsDashboard: AnalyticsDashboard }\n\
             type AnalyticsDashboard { visits: Int! at: DateTime }\n\
             scalar DateTime\n\
             type User @key(fields: \"id\") { id: ID! analyticsProfile: AnalyticsProfile }\n\
             type AnalyticsProfile { score: Float! }\n\
             enum AnalyticsPeriod { DAY WEEK }",
        );
        assert_eq!(violations, [], "{violations:?}");
    }

    #[test]
    fn names_outside_the_namespace_are_refused() {
        let violations = check_app(
            "type Query { dashboard: Profile analyticsX: Int }\n\
             type Profile { score: Int }\n\
             type User @key(fields: \"id\") { id: ID! profile: Profile }",
        );
        assert_eq!(
            codes(&violations),
            [
                ("FIELD_NOT_NAMESPACED", Some("Query"), Some("dashboard")),
                ("TYPE_NOT_NAMESPACED", Some("Profile"), None),
                ("FIELD_NOT_NAMESPACED", Some("User"), Some("profile")),
            ]
        );
        assert_eq!(
            violations[1].message,
            "`Profile` must start with `Analytics` (e.g. `AnalyticsProfile`)"
        );
    }

    #[test]
    fn core_fields_and_types_stay_the_cores() {
        let violations = check_app(
            "type User @key(fields: \"id\") { id: ID! email: String @override(from: \"identity\") }\n\
             type PageInfo { hasNextPage: Boolean! }\n\
             type Query { analyticsMe: User @authenticated }",
        );
        assert_eq!(
            codes(&violations),
            [
                ("RESTRICTED_DIRECTIVE", Some("User"), Some("email")),
                ("CORE_FIELD_REDEFINED", Some("User"), Some("email")),
                ("CORE_TYPE_REDEFINED", Some("PageInfo"), None),
                ("RESTRICTED_DIRECTIVE", Some("Query"), Some("analyticsMe")),
            ]
        );
        assert_eq!(
            violations[0].message,
            "`@override` on `User.email` is not allowed in app subgraphs"
        );
    }

    #[test]
    fn a_core_entity_needs_a_key_stub() {
        let violations = check_app("type User { analyticsScore: Int }");
        assert_eq!(
            codes(&violations),
            [("ENTITY_WITHOUT_KEY", Some("User"), None)]
        );
    }

    #[test]
    fn size_limits() {
        let limits = Limits {
            max_sdl_bytes: 100,
            ..Limits::default()
        };
        let big = format!("{LINK}\ntype Query {{ analyticsX: Int }}");
        let violations = check("analytics", &big, &core(), &limits);
        assert_eq!(violations[0].code, "SDL_TOO_LARGE");
        let fields: String = (0..120).map(|i| format!("analytics{i}: Int ")).collect();
        let violations = check_app(&format!("type Query {{ {fields} }}"));
        assert_eq!(
            codes(&violations),
            [("TOO_MANY_FIELDS", Some("Query"), None)]
        );
    }

    #[test]
    fn unparsable_sdl_is_one_violation() {
        let violations = check_app("type Query {");
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].code, "INVALID_SDL");
    }
}

//! Defence in depth: the router loads only what Nexus composes. A supergraph that links a spec
//! beyond link/join/tag/inaccessible (connectors above all: the router would make their HTTP
//! calls itself, outside the installation gate), applies any other directive, or carries an
//! `@override` or `@interfaceObject` (which no core subgraph uses) is refused at load; the
//! current supergraph keeps serving.

use apollo_compiler::Node;
use apollo_compiler::ast::{Definition, DirectiveList, Document, FieldDefinition};
use nexus_registry::app_plane;

/// Specs a composed Nexus supergraph may link (`https://specs.apollo.dev/<name>/v…`), besides
/// Nexus's own routing table for the app plane (`nexus_registry::app_plane`).
pub const ALLOWED_SPECS: &[&str] = &["link", "join", "tag", "inaccessible"];

/// Directives a composed Nexus supergraph may apply.
pub const ALLOWED_DIRECTIVES: &[&str] = &[
    "link",
    "join__graph",
    "join__type",
    "join__field",
    "join__implements",
    "join__unionMember",
    "join__enumValue",
    "tag",
    "inaccessible",
    "deprecated",
    "specifiedBy",
    "oneOf",
    app_plane::ROUTE_DIRECTIVE,
];

/// `Ok` when the router may load `sdl`; else the first reason it may not.
pub fn check(sdl: &str) -> Result<(), String> {
    let document = Document::parse(sdl, "supergraph.graphql")
        .map_err(|e| format!("the supergraph does not parse: {}", e.errors))?;
    for definition in &document.definitions {
        let where_ = definition
            .name()
            .map_or_else(|| "the schema".to_owned(), |n| format!("`{n}`"));
        for directives in directive_lists(definition) {
            for directive in directives.iter() {
                let name = directive.name.as_str();
                if !ALLOWED_DIRECTIVES.contains(&name) {
                    return Err(format!(
                        "`@{name}` on {where_} is outside the directives Nexus composes"
                    ));
                }
                if name == "link" {
                    let url = directive
                        .specified_argument_by_name("url")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default();
                    let spec = url
                        .strip_prefix("https://specs.apollo.dev/")
                        .and_then(|rest| rest.split('/').next())
                        .unwrap_or_default();
                    if !ALLOWED_SPECS.contains(&spec) && url != app_plane::ROUTING_SPEC {
                        return Err(format!(
                            "the supergraph links `{url}`, which Nexus never composes"
                        ));
                    }
                }
                for argument in ["override", "isInterfaceObject", "overrideLabel"] {
                    let set = directive
                        .specified_argument_by_name(argument)
                        .is_some_and(|v| !v.is_null() && v.to_bool() != Some(false));
                    if set {
                        return Err(format!(
                            "`@{name}({argument}: …)` on {where_}: no Nexus subgraph overrides a field or uses an interface object"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Every directive list in a definition: its own, its fields', arguments', values'.
fn directive_lists(definition: &Definition) -> Vec<&DirectiveList> {
    fn with_fields<'a>(
        own: &'a DirectiveList,
        fields: &'a [Node<FieldDefinition>],
    ) -> Vec<&'a DirectiveList> {
        let mut out = vec![own];
        for field in fields {
            out.push(&field.directives);
            out.extend(field.arguments.iter().map(|a| &a.directives));
        }
        out
    }
    match definition {
        Definition::SchemaDefinition(d) => vec![&d.directives],
        Definition::SchemaExtension(d) => vec![&d.directives],
        Definition::ObjectTypeDefinition(d) => with_fields(&d.directives, &d.fields),
        Definition::ObjectTypeExtension(d) => with_fields(&d.directives, &d.fields),
        Definition::InterfaceTypeDefinition(d) => with_fields(&d.directives, &d.fields),
        Definition::InterfaceTypeExtension(d) => with_fields(&d.directives, &d.fields),
        Definition::UnionTypeDefinition(d) => vec![&d.directives],
        Definition::UnionTypeExtension(d) => vec![&d.directives],
        Definition::ScalarTypeDefinition(d) => vec![&d.directives],
        Definition::ScalarTypeExtension(d) => vec![&d.directives],
        Definition::EnumTypeDefinition(d) => std::iter::once(&d.directives)
            .chain(d.values.iter().map(|v| &v.directives))
            .collect(),
        Definition::EnumTypeExtension(d) => std::iter::once(&d.directives)
            .chain(d.values.iter().map(|v| &v.directives))
            .collect(),
        Definition::InputObjectTypeDefinition(d) => std::iter::once(&d.directives)
            .chain(d.fields.iter().map(|f| &f.directives))
            .collect(),
        Definition::InputObjectTypeExtension(d) => std::iter::once(&d.directives)
            .chain(d.fields.iter().map(|f| &f.directives))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = include_str!("../../schema/supergraph.graphql");

    #[test]
    fn the_core_supergraph_loads() {
        assert_eq!(check(CORE), Ok(()));
    }

    #[test]
    fn connectors_and_overrides_are_refused() {
        let connect = CORE.replacen(
            "schema @link(url: \"https://specs.apollo.dev/link/v1.0\")",
            "schema @link(url: \"https://specs.apollo.dev/link/v1.0\") @link(url: \"https://specs.apollo.dev/connect/v0.1\", for: EXECUTION)",
            1,
        );
        let err = check(&connect).expect_err("connectors refused");
        assert!(err.contains("connect/v0.1"), "{err}");

        let directive = CORE.replacen(
            "@join__graph(name: \"identity\"",
            "@join__directive(graphs: [IDENTITY], name: \"connect\", args: {}) @join__graph(name: \"identity\"",
            1,
        );
        let err = check(&directive).expect_err("join__directive refused");
        assert!(err.contains("`@join__directive`"), "{err}");

        let sdl = "schema @link(url: \"https://specs.apollo.dev/link/v1.0\") { query: Query }\n\
                   type Query { a: Int @join__field(graph: APP, override: \"identity\") }";
        let err = check(sdl).expect_err("override refused");
        assert!(err.contains("override"), "{err}");
    }
}

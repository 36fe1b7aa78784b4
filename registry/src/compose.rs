//! In-process composition. A failure lists every error; it never yields a partial supergraph.

use apollo_federation::composition::{self, CompositionOptions};
use apollo_federation::subgraph::typestate::Subgraph;

/// One subgraph's name, routing URL and federation SDL.
#[derive(Clone, Debug)]
pub struct SubgraphSdl {
    pub name: String,
    pub routing_url: String,
    pub sdl: String,
}

/// Every error composition reported, each with its federation error code.
#[derive(Clone, Debug, thiserror::Error)]
#[error("composition failed:\n{}", .errors.iter().map(|e| format!("  - [{}] {}", e.code, e.message)).collect::<Vec<_>>().join("\n"))]
pub struct CompositionErrors {
    pub errors: Vec<CompositionErrorItem>,
}

#[derive(Clone, Debug)]
pub struct CompositionErrorItem {
    pub code: String,
    pub message: String,
}

/// Composes `subgraphs` into a supergraph SDL (subgraphs are sorted by name, so the output does not
/// depend on their order).
pub fn compose(subgraphs: &[SubgraphSdl]) -> Result<String, CompositionErrors> {
    let mut parsed = Vec::with_capacity(subgraphs.len());
    let mut errors = Vec::new();
    for subgraph in subgraphs {
        match Subgraph::parse(&subgraph.name, &subgraph.routing_url, &subgraph.sdl) {
            Ok(s) => parsed.push(s),
            Err(e) => errors.push(CompositionErrorItem {
                code: "INVALID_GRAPHQL".into(),
                message: format!("[{}] {e}", subgraph.name),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(CompositionErrors { errors });
    }
    match composition::compose(parsed, CompositionOptions::default()) {
        Ok(supergraph) => Ok(supergraph.schema().schema().to_string()),
        Err(failure) => Err(CompositionErrors {
            errors: failure
                .errors
                .iter()
                .map(|e| CompositionErrorItem {
                    code: e.code().definition().code().to_owned(),
                    message: e.to_string(),
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])"#;

    fn subgraph(name: &str, body: &str) -> SubgraphSdl {
        SubgraphSdl {
            name: name.into(),
            routing_url: format!("http://127.0.0.1:1/{name}"),
            sdl: format!("{LINK}\n{body}"),
        }
    }

    #[test]
    fn composes_two_subgraphs_sharing_an_entity() {
        let a = subgraph(
            "a",
            "type Query { user(id: ID!): User } type User @key(fields: \"id\") { id: ID! name: String }",
        );
        let b = subgraph("b", "type User @key(fields: \"id\") { id: ID! age: Int }");
        let sdl = compose(&[a, b]).expect("composes");
        assert!(sdl.contains("age: Int"), "{sdl}");
        assert!(sdl.contains("join__graph"), "{sdl}");
    }

    #[test]
    fn a_type_clash_names_the_field_and_both_subgraphs() {
        let a = subgraph(
            "a",
            "type Query { user(id: ID!): User } type User @key(fields: \"id\") { id: ID! age: Int @shareable }",
        );
        let b = subgraph(
            "b",
            "type User @key(fields: \"id\") { id: ID! age: String @shareable }",
        );
        let err = compose(&[a, b]).expect_err("must not compose");
        let text = err.to_string();
        assert!(text.contains("User.age"), "{text}");
        assert!(text.contains("\"a\"") && text.contains("\"b\""), "{text}");
    }

    #[test]
    fn invalid_sdl_is_reported_not_panicked() {
        let a = subgraph("a", "type Query { broken(: }");
        let err = compose(&[a]).expect_err("must not compose");
        assert_eq!(err.errors[0].code, "INVALID_GRAPHQL");
        assert!(
            err.errors[0].message.starts_with("[a]"),
            "{}",
            err.errors[0].message
        );
    }
}

//! Checking a submitted app version: manifest, SDL fetch, extension policy and composition with
//! the core and the published apps. Every problem comes back in one list, each with a stable code
//! and, where it applies, the JSON path, subgraph, type and field.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::compose::{CompositionErrors, SubgraphSdl};
use crate::composer::Composer;
use crate::manifest::{self, Manifest};
use crate::policy::{self, CoreSchema, Limits};
use crate::sdl_fetch::{FetchError, FetchPolicy, fetch};

/// Stored as JSON with each rejected app version, so it reads back as it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionError {
    pub code: String,
    pub message: String,
    /// JSON pointer into the manifest, for manifest problems.
    pub path: Option<String>,
    pub subgraph: Option<String>,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub field: Option<String>,
}

/// A candidate that passed every check: its manifest, SDL and the supergraph it composes into.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub manifest: Manifest,
    pub sdl: String,
    pub supergraph: String,
}

/// A candidate that failed; `manifest` is there when at least the manifest was valid.
#[derive(Clone, Debug)]
pub struct Rejected {
    pub manifest: Option<Manifest>,
    pub sdl: Option<String>,
    pub errors: Vec<SubmissionError>,
}

pub struct SubmissionContext<'a> {
    pub core: &'a [SubgraphSdl],
    /// Published apps' subgraphs; one with the candidate's namespace is replaced by it.
    pub published: &'a [SubgraphSdl],
    pub scope_catalog: &'a [&'a str],
    pub fetch: &'a FetchPolicy,
    pub limits: &'a Limits,
    pub composer: &'a Arc<Composer>,
}

pub async fn check(
    document: &serde_json::Value,
    context: &SubmissionContext<'_>,
) -> Result<Accepted, Rejected> {
    let manifest =
        manifest::validate(document, context.scope_catalog).map_err(manifest_rejected)?;
    let namespace = manifest.namespace.clone();
    let rejected = |sdl: Option<String>, errors: Vec<SubmissionError>| Rejected {
        manifest: Some(manifest.clone()),
        sdl,
        errors,
    };
    if let Some(error) = webhook_endpoint_error(&manifest, context.fetch) {
        return Err(rejected(None, vec![error]));
    }
    let sdl = fetch(&manifest.graphql.subgraph_url, context.fetch)
        .await
        .map_err(|e| rejected(None, vec![fetch_error(e, &namespace)]))?;
    let core = CoreSchema::from_subgraphs(context.core).map_err(|e| {
        rejected(
            Some(sdl.clone()),
            vec![internal(format!("the core SDL does not parse: {e}"))],
        )
    })?;
    let violations = policy::check(&namespace, &sdl, &core, context.limits);
    if !violations.is_empty() {
        return Err(rejected(Some(sdl), policy_errors(&namespace, violations)));
    }
    let apps = candidate_apps(context, &manifest, &sdl);
    let (composer, core) = (context.composer.clone(), context.core.to_vec());
    // Composition takes long enough to stall the requests sharing a runtime worker with it.
    let composed = tokio::task::spawn_blocking(move || composer.compose(&core, &apps))
        .await
        .map_err(|e| {
            rejected(
                Some(sdl.clone()),
                vec![internal(format!("composition stopped: {e}"))],
            )
        })?;
    match composed {
        Ok(supergraph) => {
            let errors = check_payload_queries(&manifest, &supergraph);
            if !errors.is_empty() {
                return Err(rejected(Some(sdl), errors));
            }
            Ok(Accepted {
                manifest,
                sdl,
                supergraph,
            })
        }
        Err(failure) => Err(rejected(Some(sdl), composition_errors(&namespace, failure))),
    }
}

/// The rejection of a manifest that does not validate: one error per problem, with its path.
fn manifest_rejected(problems: Vec<manifest::ManifestProblem>) -> Rejected {
    Rejected {
        manifest: None,
        sdl: None,
        errors: problems
            .into_iter()
            .map(|p| SubmissionError {
                code: format!("MANIFEST_{}", p.code),
                message: p.message,
                path: Some(p.path),
                subgraph: None,
                type_name: None,
                field: None,
            })
            .collect(),
    }
}

/// The error for a webhook endpoint this platform will not deliver to, if the manifest has one.
fn webhook_endpoint_error(manifest: &Manifest, fetch: &FetchPolicy) -> Option<SubmissionError> {
    // Deliveries carry organizations' data and signatures: in the open only in development (a
    // platform that calls private addresses, `nexus dev`).
    if let Some(webhooks) = &manifest.webhooks
        && !fetch.allow_private
        && !webhooks.endpoint.starts_with("https://")
    {
        return Some(SubmissionError {
            code: "MANIFEST_URL".into(),
            message: format!(
                "`{}`: a webhook endpoint must be an https URL on this platform",
                webhooks.endpoint
            ),
            path: Some("/webhooks/endpoint".into()),
            subgraph: None,
            type_name: None,
            field: None,
        });
    }
    None
}

/// A failed SDL fetch as a submission error, pointing at the manifest's subgraph URL.
fn fetch_error(e: FetchError, namespace: &str) -> SubmissionError {
    SubmissionError {
        code: e.code.to_owned(),
        message: e.message,
        path: Some("/graphql/subgraph_url".into()),
        subgraph: Some(namespace.to_owned()),
        type_name: None,
        field: None,
    }
}

/// Extension-policy violations as submission errors of the candidate's subgraph.
fn policy_errors(namespace: &str, violations: Vec<policy::Violation>) -> Vec<SubmissionError> {
    violations
        .into_iter()
        .map(|v| SubmissionError {
            code: v.code.to_owned(),
            message: v.message,
            path: None,
            subgraph: Some(namespace.to_owned()),
            type_name: v.type_name,
            field: v.field,
        })
        .collect()
}

/// The apps the candidate composes with the core: the published apps but its own earlier
/// version, and the candidate itself.
fn candidate_apps(
    context: &SubmissionContext<'_>,
    manifest: &Manifest,
    sdl: &str,
) -> Vec<SubgraphSdl> {
    let namespace = &manifest.namespace;
    let mut subgraphs: Vec<SubgraphSdl> = Vec::new();
    subgraphs.extend(
        context
            .published
            .iter()
            .filter(|s| &s.name != namespace)
            .cloned(),
    );
    subgraphs.push(SubgraphSdl {
        name: namespace.clone(),
        routing_url: manifest.graphql.subgraph_url.clone(),
        sdl: sdl.to_owned(),
    });
    subgraphs
}

/// Composition's errors as submission errors, each with the type and field its message quotes.
fn composition_errors(namespace: &str, failure: CompositionErrors) -> Vec<SubmissionError> {
    failure
        .errors
        .into_iter()
        .map(|e| {
            let (type_name, field) = quoted_coordinate(&e.message);
            SubmissionError {
                code: e.code,
                message: e.message,
                path: None,
                subgraph: Some(namespace.to_owned()),
                type_name,
                field,
            }
        })
        .collect()
}

/// Each webhook event's `query` (it shapes the event's `data`) must be one query operation valid
/// against the API of the supergraph this version composes into; an error names its line and
/// column in the query.
fn check_payload_queries(manifest: &Manifest, supergraph: &str) -> Vec<SubmissionError> {
    let Some(webhooks) = &manifest.webhooks else {
        return Vec::new();
    };
    let shaped: Vec<(usize, &str)> = webhooks
        .events
        .iter()
        .enumerate()
        .filter_map(|(j, s)| match s {
            crate::manifest::Subscription::Shaped { query, .. } => Some((j, query.as_str())),
            crate::manifest::Subscription::Event(_) => None,
        })
        .collect();
    if shaped.is_empty() {
        return Vec::new();
    }
    let api = match apollo_federation::Supergraph::new(supergraph)
        .and_then(|s| s.to_api_schema(Default::default()))
    {
        Ok(api) => api,
        Err(e) => {
            return vec![internal(format!(
                "the supergraph's API does not build: {e}"
            ))];
        }
    };
    let mut errors = Vec::new();
    for (j, query) in shaped {
        let path = format!("/webhooks/events/{j}/query");
        let problem = |message: String| SubmissionError {
            code: "MANIFEST_WEBHOOK_QUERY".into(),
            message,
            path: Some(path.clone()),
            subgraph: None,
            type_name: None,
            field: None,
        };
        match apollo_compiler::ExecutableDocument::parse_and_validate(
            api.schema(),
            query,
            "query.graphql",
        ) {
            Err(invalid) => {
                for diagnostic in invalid.errors.iter() {
                    let at = diagnostic
                        .line_column_range()
                        .map(|r| format!("line {}, column {}: ", r.start.line, r.start.column))
                        .unwrap_or_default();
                    errors.push(problem(format!("{at}{}", diagnostic.error)));
                }
            }
            Ok(document) => {
                let operations: Vec<_> = document.operations.iter().collect();
                if operations.len() != 1
                    || operations[0].operation_type != apollo_compiler::ast::OperationType::Query
                {
                    errors.push(problem(
                        "a payload query is exactly one `query` operation (no mutation)".into(),
                    ));
                }
            }
        }
    }
    errors
}

fn internal(message: String) -> SubmissionError {
    SubmissionError {
        code: "INTERNAL".into(),
        message,
        path: None,
        subgraph: None,
        type_name: None,
        field: None,
    }
}

/// The first `"Type.field"` (or `"Type"`) quoted in a composition message.
fn quoted_coordinate(message: &str) -> (Option<String>, Option<String>) {
    for quoted in message.split('"').skip(1).step_by(2) {
        let mut parts = quoted.splitn(2, '.');
        let ty = parts.next().unwrap_or_default();
        if ty.starts_with(|c: char| c.is_ascii_uppercase())
            && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let field = parts
                .next()
                .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .map(str::to_owned);
            return (Some(ty.to_owned()), field);
        }
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::quoted_coordinate;

    #[test]
    fn finds_the_coordinate_in_a_composition_message() {
        let message = r#"Type of field "User.id" is incompatible across subgraphs: it has type "ID!" in subgraph "identity""#;
        assert_eq!(
            quoted_coordinate(message),
            (Some("User".into()), Some("id".into()))
        );
        assert_eq!(quoted_coordinate("nothing quoted"), (None, None));
    }
}

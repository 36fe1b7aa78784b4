//! Composition whose cost follows the apps that changed, not all of them.
//!
//! apollo-federation composes in stages: each subgraph is parsed and expanded, the subgraphs are
//! merged into a supergraph, and the merged supergraph's satisfiability is checked (every query
//! the supergraph's API allows can be planned across the subgraphs). The satisfiability check of
//! the whole walks every path through every subgraph and grows much faster than the number of
//! apps, and so does the merger past a few hundred (see `bench/RESULTS.md`). Nexus's extension
//! policy makes it separable: an app adds only its own namespaced types and fields, reaches the
//! core only through its entities' `id` keys, and never references another app. So every path
//! through the whole supergraph is a path through the core and one app, and the whole is
//! satisfiable when each app is satisfiable with the core alone.
//!
//! `Composer` therefore composes each app with the core alone, once (by the hash of the core's
//! SDLs and the app's), and keeps what that adds to the core's supergraph (`app_plane::
//! Contribution`); a composition assembles the core's supergraph and the contributions into the
//! supergraph Nexus serves (one app plane: see `app_plane`). Tests compare it with the general
//! composition of the same subgraphs (`compose::compose`): same API schema, same errors.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use apollo_compiler::Schema;
use apollo_federation::composition::{
    self, CompositionOptions, merge_subgraphs, pre_merge_validations,
    upgrade_subgraphs_if_necessary, validate_satisfiability,
};
use apollo_federation::error::CompositionError;
use apollo_federation::subgraph::typestate::{Expanded, Subgraph, Validated};

use crate::app_plane::{self, Contribution};
use crate::compose::{CompositionErrorItem, CompositionErrors, SubgraphSdl};

#[derive(Default)]
struct Cache {
    /// The core these were prepared against.
    core_key: Option<u64>,
    /// The core expanded (what an app is upgraded beside) and validated (what an app is merged
    /// with), and the core's own supergraph.
    core_expanded: Vec<Subgraph<Expanded>>,
    core: Vec<Subgraph<Validated>>,
    core_supergraph: Option<Schema>,
    /// What each app that composes with the core adds to it, by `key_of` it.
    apps: HashMap<u64, Contribution>,
}

/// Remembers what composing the same core and apps again would only repeat.
#[derive(Default)]
pub struct Composer {
    cache: Mutex<Cache>,
}

/// Cached apps beyond those of the last composition (candidates under review, replaced versions).
const SPARE: usize = 64;

impl Composer {
    pub fn new() -> Self {
        Composer::default()
    }

    /// The supergraph Nexus serves for `core` and `apps`: the core and one app plane, meaning what
    /// `compose::compose` of them all means, each app composed with the core only, once.
    pub fn compose(
        &self,
        core: &[SubgraphSdl],
        apps: &[SubgraphSdl],
    ) -> Result<String, CompositionErrors> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let core_key = key_of(core);
        if cache.core_key != Some(core_key) {
            let (expanded, validated) = prepare_core(core)?;
            cache.core_supergraph = Some(merged(validated.clone())?);
            cache.core_expanded = expanded;
            cache.core = validated;
            cache.apps.clear();
            cache.core_key = Some(core_key);
        }
        let keys: Vec<u64> = apps
            .iter()
            .map(|a| key_of(std::slice::from_ref(a)))
            .collect();
        let new: Vec<(u64, &SubgraphSdl)> = keys
            .iter()
            .zip(apps)
            .filter(|(key, _)| !cache.apps.contains_key(key))
            .map(|(key, app)| (*key, app))
            .collect();
        let Some(core_supergraph) = cache.core_supergraph.clone() else {
            return Err(internal("the core's supergraph is missing"));
        };
        let prepared = prepare_all(&cache.core_expanded, &cache.core, &core_supergraph, &new)?;
        cache.apps.extend(prepared);
        let mut contributions: Vec<&Contribution> =
            keys.iter().filter_map(|key| cache.apps.get(key)).collect();
        contributions.sort_by(|a, b| a.app.cmp(&b.app));
        let served = app_plane::assemble(&core_supergraph, &contributions).map_err(internal)?;
        // Candidates under review and replaced versions are kept, up to a spare few.
        if cache.apps.len() > apps.len() + SPARE {
            let live: std::collections::HashSet<&u64> = keys.iter().collect();
            cache.apps.retain(|key, _| live.contains(key));
        }
        Ok(served)
    }
}

/// A hash of subgraphs' names, URLs and SDLs.
fn key_of(subgraphs: &[SubgraphSdl]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for s in subgraphs {
        (&s.name, &s.routing_url, &s.sdl).hash(&mut hasher);
    }
    hasher.finish()
}

/// Apps' contributions, by key.
type PreparedApps = Vec<(u64, Contribution)>;

/// `apps` prepared (see `prepare`) on every core the machine has: a cold start with many apps
/// checks them side by side. The first app that does not compose with the core is the error.
fn prepare_all(
    core_expanded: &[Subgraph<Expanded>],
    core: &[Subgraph<Validated>],
    core_supergraph: &Schema,
    apps: &[(u64, &SubgraphSdl)],
) -> Result<PreparedApps, CompositionErrors> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(apps.len().max(1));
    if workers <= 1 {
        return apps
            .iter()
            .map(|(key, app)| Ok((*key, prepare(core_expanded, core, core_supergraph, app)?)))
            .collect();
    }
    let chunk = apps.len().div_ceil(workers);
    let results: Vec<Result<PreparedApps, CompositionErrors>> = std::thread::scope(|scope| {
        let handles: Vec<_> = apps
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(key, app)| {
                            Ok((*key, prepare(core_expanded, core, core_supergraph, app)?))
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(internal("composition panicked")))
            })
            .collect()
    });
    let mut prepared = Vec::with_capacity(apps.len());
    for part in results {
        prepared.extend(part?);
    }
    Ok(prepared)
}

/// What `app` adds to the core's supergraph, after proving that the core and the app compose
/// (the app parsed, expanded and upgraded beside the core: a federation 1 app is upgraded
/// knowing the core, as composition does).
fn prepare(
    core_expanded: &[Subgraph<Expanded>],
    core: &[Subgraph<Validated>],
    core_supergraph: &Schema,
    app: &SubgraphSdl,
) -> Result<Contribution, CompositionErrors> {
    let parsed =
        Subgraph::parse(&app.name, &app.routing_url, &app.sdl).map_err(|e| CompositionErrors {
            errors: vec![CompositionErrorItem {
                code: "INVALID_GRAPHQL".into(),
                message: format!("[{}] {e}", app.name),
            }],
        })?;
    let expanded = composition::expand_subgraphs(vec![parsed]).map_err(failed)?;
    // Upgrading a federation 1 subgraph looks at the others; the core is all it may look at.
    let mut upgraded =
        upgrade_subgraphs_if_necessary(core_expanded.iter().cloned().chain(expanded).collect())
            .map_err(|errors| failed(composition::CompositionFailure::from_errors(errors)))?;
    let Some(subgraph) = upgraded.pop() else {
        return Err(internal("upgrading the app gave no subgraph"));
    };
    let mut with_core = core.to_vec();
    with_core.push(subgraph);
    pre_merge_validations(&with_core).map_err(failed)?;
    let supergraph = merge_subgraphs(with_core, &CompositionOptions::default()).map_err(failed)?;
    let with_app: Schema = supergraph.schema().schema().clone().into_inner();
    validate_satisfiability(supergraph, &CompositionOptions::default()).map_err(failed)?;
    Contribution::of(core_supergraph, &with_app, &app.name, &app.routing_url).map_err(internal)
}

/// The core's subgraphs expanded, and validated.
type PreparedCore = (Vec<Subgraph<Expanded>>, Vec<Subgraph<Validated>>);

fn prepare_core(core: &[SubgraphSdl]) -> Result<PreparedCore, CompositionErrors> {
    let mut parsed = Vec::with_capacity(core.len());
    for s in core {
        parsed.push(
            Subgraph::parse(&s.name, &s.routing_url, &s.sdl)
                .map_err(|e| internal(format!("[{}] {e}", s.name)))?,
        );
    }
    parsed.sort_by(|a, b| a.name.cmp(&b.name));
    let expanded = composition::expand_subgraphs(parsed).map_err(failed)?;
    let validated = upgrade_subgraphs_if_necessary(expanded.clone())
        .map_err(|errors| failed(composition::CompositionFailure::from_errors(errors)))?;
    Ok((expanded, validated))
}

/// The core's subgraphs merged into its supergraph, as composition merges them.
fn merged(subgraphs: Vec<Subgraph<Validated>>) -> Result<Schema, CompositionErrors> {
    pre_merge_validations(&subgraphs).map_err(failed)?;
    let supergraph = merge_subgraphs(subgraphs, &CompositionOptions::default()).map_err(failed)?;
    Ok(supergraph.schema().schema().clone().into_inner())
}

fn failed(failure: composition::CompositionFailure) -> CompositionErrors {
    CompositionErrors {
        errors: failure.errors.iter().map(item).collect(),
    }
}

fn item(e: &CompositionError) -> CompositionErrorItem {
    CompositionErrorItem {
        code: e.code().definition().code().to_owned(),
        message: e.to_string(),
    }
}

fn internal(message: impl Into<String>) -> CompositionErrors {
    CompositionErrors {
        errors: vec![CompositionErrorItem {
            code: "INTERNAL".into(),
            message: message.into(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::compose;
    use crate::sample_apps;
    use apollo_compiler::ExecutableDocument;
    use apollo_federation::Supergraph;
    use apollo_federation::query_plan::query_planner::{QueryPlanOptions, QueryPlanner};

    fn core() -> Vec<SubgraphSdl> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema");
        ["identity", "apps", "licensing"]
            .iter()
            .map(|name| SubgraphSdl {
                name: (*name).into(),
                routing_url: format!("http://127.0.0.1:9/{name}"),
                sdl: std::fs::read_to_string(format!("{root}/{name}.graphql")).expect("core SDL"),
            })
            .collect()
    }

    fn full(core: &[SubgraphSdl], apps: &[SubgraphSdl]) -> Result<String, CompositionErrors> {
        let mut all = core.to_vec();
        all.extend_from_slice(apps);
        compose(&all)
    }

    fn meaning(sdl: &str) -> String {
        app_plane::meaning(sdl).expect("a valid supergraph")
    }

    /// The fetches the router's planner makes for `query` over `sdl`, by subgraph.
    fn fetches(sdl: &str, query: &str) -> Vec<String> {
        let supergraph = Supergraph::new(sdl).expect("a valid supergraph");
        let planner = QueryPlanner::new(&supergraph, Default::default()).expect("a planner");
        let document = ExecutableDocument::parse_and_validate(
            planner.api_schema().schema(),
            query,
            "q.graphql",
        )
        .expect("a valid query");
        let plan = planner
            .build_query_plan(&document, None, QueryPlanOptions::default())
            .expect("a plan");
        let text = plan.to_string();
        let mut services: Vec<String> = text
            .match_indices("Fetch(service: \"")
            .map(|(at, m)| {
                let rest = &text[at + m.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_owned()
            })
            .collect();
        services.sort();
        services
    }

    #[test]
    fn randomized_sets_mean_what_the_full_composition_means() {
        let core = core();
        let composer = Composer::new();
        for seed in [1, 2, 3] {
            let apps = sample_apps::apps(12, seed, false);
            let expected = full(&core, &apps).expect("the generated apps compose");
            let served = composer.compose(&core, &apps).expect("composes");
            assert_eq!(meaning(&served), meaning(&expected), "seed {seed}");
            let routes = app_plane::routes(&Schema::parse(&served, "s").expect("parses"));
            assert_eq!(routes.len(), apps.len());
            let third = routes
                .iter()
                .find(|r| r.app == apps[3].name)
                .expect("app3 routed");
            assert_eq!(third.url, apps[3].routing_url);
            assert!(
                third.fields.iter().any(|f| f.starts_with("User.app3")),
                "{third:?}"
            );
            assert!(
                third.types.iter().all(|t| t.starts_with("App3")),
                "{third:?}"
            );
        }
    }

    #[test]
    fn the_router_plans_the_plane_as_one_service_and_the_core_as_before() {
        let core = core();
        let apps = sample_apps::apps(4, 7, true);
        let served = Composer::new().compose(&core, &apps).expect("composes");
        let general = full(&core, &apps).expect("composes");
        let query = "{ me { email app0Profile { visits } app2Items { title owner { email app1Profile { score } } } } }";
        assert_eq!(
            fetches(&general, query),
            ["app0", "app1", "app2", "identity", "identity"],
            "the general composition: one fetch per app"
        );
        // One fetch to the plane for all three apps' fields, app1's on the owner app2 names
        // included (the plane splits it and asks app1 for that owner), then the owner's email.
        assert_eq!(
            fetches(&served, query),
            ["identity", "identity", "nexus_apps"]
        );
        // The core alone is planned as it always was.
        assert_eq!(
            fetches(&served, "{ me { email emailVerified } }"),
            ["identity"]
        );
    }

    #[test]
    fn adding_changing_and_removing_apps_follows_the_full_composition() {
        let core = core();
        let composer = Composer::new();
        let mut apps = sample_apps::apps(6, 11, false);
        assert_eq!(
            meaning(&composer.compose(&core, &apps).expect("composes")),
            meaning(&full(&core, &apps).expect("composes"))
        );
        // A new app; another's new version; one gone (a suspension): no trace of the old.
        apps.push(sample_apps::app(6, 11, true));
        apps[2] = sample_apps::app(2, 99, false);
        let gone = apps.remove(4);
        let served = composer.compose(&core, &apps).expect("composes");
        assert_eq!(
            meaning(&served),
            meaning(&full(&core, &apps).expect("composes"))
        );
        assert!(
            !served.contains(&format!("\"{}\"", gone.name)),
            "{} left a trace",
            gone.name
        );
        assert!(!served.contains("App4"), "app4's types left a trace");
        assert!(!served.contains("app4"), "app4's fields left a trace");
        // No apps: the core alone, exactly as the general composition gives it.
        assert_eq!(composer.compose(&core, &[]).ok(), full(&core, &[]).ok());
    }

    #[test]
    fn an_app_on_a_newer_federation_brings_its_join_spec_to_the_plane() {
        let core = core();
        let mut apps = sample_apps::apps(2, 3, true);
        apps.push(SubgraphSdl {
            name: "newer".into(),
            routing_url: "http://127.0.0.1:9/newer".into(),
            sdl: r#"schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"]) { query: Query }
                    type Query { newerHello: String! }
                    type User @key(fields: "id") { id: ID! newerNote: String }"#
                .into(),
        });
        let served = Composer::new().compose(&core, &apps).expect("composes");
        assert_eq!(
            meaning(&served),
            meaning(&full(&core, &apps).expect("composes"))
        );
        assert!(!served.contains("join/v0.3"), "one join spec, the newest");
        assert_eq!(
            fetches(
                &served,
                "{ newerHello me { app0Profile { visits } newerNote } }"
            ),
            ["identity", "nexus_apps", "nexus_apps"]
        );
    }

    #[test]
    fn an_app_that_does_not_compose_with_the_core_is_refused_both_ways() {
        let core = core();
        let composer = Composer::new();
        let mut apps = sample_apps::apps(3, 5, true);
        // `User.id` as a String: the core's key is an ID.
        apps.push(SubgraphSdl {
            name: "broken".into(),
            routing_url: "http://127.0.0.1:9/broken".into(),
            sdl: r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
                    type User @key(fields: "id") { id: String! brokenScore: Int }"#
                .into(),
        });
        let incremental = composer.compose(&core, &apps).expect_err("refused");
        let reference = full(&core, &apps).expect_err("refused");
        let codes = |e: &CompositionErrors| {
            let mut codes: Vec<String> = e.errors.iter().map(|i| i.code.clone()).collect();
            codes.sort();
            codes
        };
        assert_eq!(codes(&incremental), codes(&reference));
        // Without it, the others still compose, from the cache.
        apps.pop();
        assert_eq!(
            composer.compose(&core, &apps).map(|s| meaning(&s)).ok(),
            full(&core, &apps).map(|s| meaning(&s)).ok()
        );
    }
}

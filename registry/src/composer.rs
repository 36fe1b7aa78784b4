//! Composition whose cost follows the apps that changed, not all of them.
//!
//! apollo-federation composes in stages: each subgraph is parsed and expanded, the subgraphs are
//! merged into a supergraph, and the merged supergraph's satisfiability is checked (every query
//! the supergraph's API allows can be planned across the subgraphs). Merging is the cheap stage;
//! the satisfiability check of the whole walks every path through every subgraph and grows much
//! faster than the number of apps (see `bench/RESULTS.md`). Nexus's extension policy makes it
//! separable: an app adds only its own namespaced types and fields, reaches the core only through
//! its entities' `id` keys, and never references another app. So every path through the whole
//! supergraph is a path through the core and one app, and the whole is satisfiable when each
//! app is satisfiable with the core alone.
//!
//! `Composer` therefore remembers, per core and per app (by their SDLs' hashes), the app's
//! expanded subgraph and that it composed with the core; a composition merges every subgraph
//! (the same merger, so the same supergraph as `compose::compose`, byte for byte) and checks only
//! the apps it has not seen. A test composes randomized sets both ways and compares.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use apollo_federation::composition::{
    self, CompositionOptions, merge_subgraphs, pre_merge_validations,
    upgrade_subgraphs_if_necessary, validate_satisfiability,
};
use apollo_federation::error::CompositionError;
use apollo_federation::subgraph::typestate::{Expanded, Subgraph, Validated};

use crate::compose::{CompositionErrorItem, CompositionErrors, SubgraphSdl};

#[derive(Default)]
struct Cache {
    /// The core these were prepared against.
    core_key: Option<u64>,
    /// The core expanded (what an app is upgraded beside) and validated (what is merged).
    core_expanded: Vec<Subgraph<Expanded>>,
    core: Vec<Subgraph<Validated>>,
    /// Each app that composes with the core, ready to merge, by `key_of` it.
    apps: HashMap<u64, Subgraph<Validated>>,
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

    /// The supergraph of `core` and `apps`: what `compose::compose` of them all gives, with the
    /// satisfiability of each app checked against the core only, once.
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
        let prepared = prepare_all(&cache.core_expanded, &cache.core, &new)?;
        cache.apps.extend(prepared);
        let mut subgraphs = cache.core.clone();
        subgraphs.extend(keys.iter().filter_map(|key| cache.apps.get(key).cloned()));
        // Candidates under review and replaced versions are kept, up to a spare few.
        if cache.apps.len() > apps.len() + SPARE {
            let live: std::collections::HashSet<&u64> = keys.iter().collect();
            cache.apps.retain(|key, _| live.contains(key));
        }
        drop(cache);
        merged(subgraphs)
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

/// Apps ready to merge, by key.
type PreparedApps = Vec<(u64, Subgraph<Validated>)>;

/// `apps` prepared (see `prepare`) on every core the machine has: a cold start with many apps
/// checks them side by side. The first app that does not compose with the core is the error.
fn prepare_all(
    core_expanded: &[Subgraph<Expanded>],
    core: &[Subgraph<Validated>],
    apps: &[(u64, &SubgraphSdl)],
) -> Result<PreparedApps, CompositionErrors> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(apps.len().max(1));
    if workers <= 1 {
        return apps
            .iter()
            .map(|(key, app)| Ok((*key, prepare(core_expanded, core, app)?)))
            .collect();
    }
    let chunk = apps.len().div_ceil(workers);
    let results: Vec<Result<PreparedApps, CompositionErrors>> = std::thread::scope(|scope| {
        let handles: Vec<_> = apps
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(key, app)| Ok((*key, prepare(core_expanded, core, app)?)))
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

/// `app` parsed, expanded and upgraded beside the core (a federation 1 app is upgraded knowing
/// the core, as composition does), after proving that the core and the app compose.
fn prepare(
    core_expanded: &[Subgraph<Expanded>],
    core: &[Subgraph<Validated>],
    app: &SubgraphSdl,
) -> Result<Subgraph<Validated>, CompositionErrors> {
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
    with_core.push(subgraph.clone());
    pre_merge_validations(&with_core).map_err(failed)?;
    let supergraph = merge_subgraphs(with_core, &CompositionOptions::default()).map_err(failed)?;
    validate_satisfiability(supergraph, &CompositionOptions::default()).map_err(failed)?;
    Ok(subgraph)
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

/// Every subgraph merged into one supergraph, as composition merges them (sorted by name).
fn merged(mut subgraphs: Vec<Subgraph<Validated>>) -> Result<String, CompositionErrors> {
    subgraphs.sort_by(|a, b| a.name.cmp(&b.name));
    pre_merge_validations(&subgraphs).map_err(failed)?;
    let supergraph = merge_subgraphs(subgraphs, &CompositionOptions::default()).map_err(failed)?;
    Ok(supergraph.schema().schema().to_string())
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

    #[test]
    fn randomized_sets_compose_to_the_same_supergraph_both_ways() {
        let core = core();
        let composer = Composer::new();
        for seed in [1, 2, 3] {
            let apps = sample_apps::apps(12, seed, false);
            let expected = full(&core, &apps).expect("the generated apps compose");
            assert_eq!(
                composer.compose(&core, &apps).expect("composes"),
                expected,
                "seed {seed}"
            );
        }
    }

    #[test]
    fn adding_changing_and_removing_apps_follows_the_full_composition() {
        let core = core();
        let composer = Composer::new();
        let mut apps = sample_apps::apps(6, 11, false);
        assert_eq!(composer.compose(&core, &apps).ok(), full(&core, &apps).ok());
        // A new app; another's new version; one gone (a suspension): no trace of the old.
        apps.push(sample_apps::app(6, 11, true));
        apps[2] = sample_apps::app(2, 99, false);
        let gone = apps.remove(4);
        let merged = composer.compose(&core, &apps).expect("composes");
        assert_eq!(merged, full(&core, &apps).expect("composes"));
        assert!(
            !merged.contains(&format!("\"{}\"", gone.name)),
            "{} left a trace",
            gone.name
        );
        assert!(!merged.contains("App4Thing"), "app4's types left a trace");
        // No apps: the core alone.
        assert_eq!(composer.compose(&core, &[]).ok(), full(&core, &[]).ok());
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
        assert_eq!(composer.compose(&core, &apps).ok(), full(&core, &apps).ok());
    }
}

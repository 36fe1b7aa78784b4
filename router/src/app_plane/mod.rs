//! The app plane: the router plans over the core and one subgraph holding every app
//! (`nexus_registry::app_plane`), and this answers that subgraph's fetches. Each fetch is split
//! by owner — an app is asked only for its own fields, through the installation gate as before
//! (context token, outbound client, its own time bound) — and the answers are put together. The
//! extension policy keeps the split simple: apps own their namespaced types and their fields on
//! the core's entities and never reach each other, so where one app's answer holds a core entity
//! carrying another app's fields, the plane asks that app for the entity by `id`.

pub mod answer;
pub mod map;
pub mod split;

use std::sync::Arc;
use std::time::Duration;

use apollo_compiler::ast::{
    Document, Field, InlineFragment, OperationDefinition, OperationType, Selection,
    VariableDefinition,
};
use apollo_compiler::{Name, Node};
use apollo_router::graphql::{self, JsonPathElement};
use apollo_router::services::subgraph;
use futures::future::{BoxFuture, join_all};
use serde_json_bytes::{ByteString, Map, Value};

use self::answer::{merge_objects, object_mut, objects_at, project, relocate, representation};
use self::map::PlaneMap;
use self::split::{Deferred, Splitter, entities_operation, operation, response_key};
use crate::plugins::installation_gate::Gate;
use crate::plugins::request_context::Caller;

pub use nexus_registry::app_plane::PLANE_SUBGRAPH;

/// One app call's bound inside a fetch to the plane (the plane's own fetch, which may wait for an
/// app and then for the apps its answer names, is bounded by the router's traffic shaping).
pub const APP_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What every app call of one fetch to the plane shares.
struct Fetch<'a> {
    gate: &'a Gate,
    caller: Option<Caller>,
    plane_request: &'a subgraph::Request,
    splitter: Splitter<'a>,
    name: Option<Name>,
    definitions: Vec<Node<VariableDefinition>>,
    variables: Map<ByteString, Value>,
}

/// Answers the router's fetch `request` to the plane.
pub async fn serve(
    gate: &Gate,
    map: &PlaneMap,
    caller: Option<Caller>,
    request: subgraph::Request,
) -> subgraph::Response {
    let (data, errors) = match fetch(gate, map, caller, &request) {
        Ok((fetch, operation)) => fetch.run(&operation).await,
        Err(message) => (
            None,
            vec![
                graphql::Error::builder()
                    .message(message)
                    .extension_code("INTERNAL_SERVER_ERROR")
                    .build(),
            ],
        ),
    };
    subgraph::Response::builder()
        .and_data(data)
        .errors(errors)
        .extensions(Map::new())
        .context(request.context.clone())
        .subgraph_name(PLANE_SUBGRAPH.to_owned())
        .build()
}

fn fetch<'a>(
    gate: &'a Gate,
    map: &'a PlaneMap,
    caller: Option<Caller>,
    request: &'a subgraph::Request,
) -> Result<(Fetch<'a>, Node<OperationDefinition>), String> {
    let body = request.subgraph_request.body();
    let text = body.query.as_deref().unwrap_or_default();
    let document = Document::parse(text, "plane.graphql")
        .map_err(|e| format!("the plane cannot read the router's fetch: {}", e.errors))?;
    let mut operations = document.definitions.iter().filter_map(|d| match d {
        apollo_compiler::ast::Definition::OperationDefinition(o) => Some(o.clone()),
        _ => None,
    });
    let operation = operations
        .next()
        .ok_or("the router's fetch has no operation")?;
    Ok((
        Fetch {
            gate,
            caller,
            plane_request: request,
            splitter: Splitter::new(map, &document),
            name: operation.name.clone(),
            definitions: operation.variables.clone(),
            variables: body.variables.clone(),
        },
        operation,
    ))
}

type Answer = (Option<Value>, Vec<graphql::Error>);
/// Parts of a fetch, by the app each is for, in the order first asked.
type ByApp<T> = Vec<(Arc<str>, Vec<T>)>;

impl Fetch<'_> {
    async fn run(&self, operation: &OperationDefinition) -> Answer {
        let selections = self.splitter.inline(&operation.selection_set);
        let entities = selections.iter().find_map(|s| match s {
            Selection::Field(f) if f.name == "_entities" => Some(f.clone()),
            _ => None,
        });
        match entities {
            Some(field) => self.entities(&field).await,
            None => self.root(operation.operation_type, &selections).await,
        }
    }

    /// Root fields: each app's asked together; mutations app by app in the order written.
    async fn root(&self, kind: OperationType, selections: &[Selection]) -> Answer {
        let root = Name::new_unchecked(match kind {
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => "Subscription",
            OperationType::Query => "Query",
        });
        let mut data = Map::new();
        let mut errors = Vec::new();
        let mut groups: ByApp<Selection> = Vec::new();
        for field in fields_of(selections) {
            if field.name == "__typename" {
                data.insert(response_key(&field), Value::String(root.as_str().into()));
                continue;
            }
            let Some(app) = self.splitter.map.owner(&root, &field.name).cloned() else {
                errors.push(refusal(format!("no app resolves `{root}.{}`", field.name)));
                continue;
            };
            let serial = kind == OperationType::Mutation;
            match groups.last_mut() {
                Some((last, group)) if *last == app => group.push(Selection::Field(field)),
                _ => match groups.iter_mut().find(|(a, _)| !serial && *a == app) {
                    Some((_, group)) => group.push(Selection::Field(field)),
                    None => groups.push((app, vec![Selection::Field(field)])),
                },
            }
        }
        let asks = groups
            .iter()
            .map(|(app, group)| self.root_part(kind, &root, app, group));
        let answers = if kind == OperationType::Mutation {
            let mut answers = Vec::new();
            for ask in asks {
                answers.push(ask.await);
            }
            answers
        } else {
            join_all(asks).await
        };
        for (part, part_errors) in answers {
            if let Some(Value::Object(part)) = part {
                merge_objects(&mut data, part);
            }
            errors.extend(part_errors);
        }
        (Some(Value::Object(data)), errors)
    }

    async fn root_part(
        &self,
        kind: OperationType,
        root: &Name,
        app: &Arc<str>,
        selections: &[Selection],
    ) -> Answer {
        let mut deferred = Vec::new();
        let own = self.splitter.own(app, root, selections, &[], &mut deferred);
        let (text, used) = operation(kind, self.name.clone(), &self.definitions, own.clone());
        let answer = self.call(app, text, self.variables_named(&used)).await;
        let mut errors = answer.errors;
        let Some(data) = answer.data else {
            return (None, errors);
        };
        let mut data = [project(data, &own)];
        errors.extend(self.resolve(deferred, &mut data, &[Vec::new()]).await);
        let [mut data] = data;
        answer::strip(&mut data);
        (Some(data), errors)
    }

    /// `_entities`: each app is asked for the representations of the types it has fields on;
    /// an entity's `id` and type the plane answers itself.
    async fn entities(&self, field: &Node<Field>) -> Answer {
        let variable = field
            .arguments
            .iter()
            .find(|a| a.name == "representations")
            .and_then(|a| a.value.as_variable().cloned());
        let representations: Vec<Value> = variable
            .and_then(|v| self.variables.get(v.as_str()))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let type_of = |r: &Value| {
            r.get("__typename")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let mut results: Vec<Map<ByteString, Value>> = vec![Map::new(); representations.len()];
        let mut asked: ByApp<(Name, Selection)> = Vec::new();
        for selection in &field.selection_set {
            let (ty, inner) = match selection {
                Selection::Field(f) if f.name == "__typename" => {
                    for (i, r) in representations.iter().enumerate() {
                        results[i].insert(response_key(f), Value::String(type_of(r).into()));
                    }
                    continue;
                }
                Selection::InlineFragment(fragment) => match &fragment.type_condition {
                    Some(ty) => (ty.clone(), fields_of(&fragment.selection_set)),
                    None => continue,
                },
                _ => continue,
            };
            for f in inner {
                match self.splitter.map.owner(&ty, &f.name) {
                    Some(app) => match asked.iter_mut().find(|(a, _)| a == app) {
                        Some((_, list)) => list.push((ty.clone(), Selection::Field(f))),
                        None => asked.push((app.clone(), vec![(ty.clone(), Selection::Field(f))])),
                    },
                    // The core's key (and type), known from the representation.
                    None => {
                        for (i, r) in representations.iter().enumerate() {
                            if type_of(r) != ty.as_str() {
                                continue;
                            }
                            let value = if f.name == "__typename" {
                                Value::String(ty.as_str().into())
                            } else {
                                r.get(f.name.as_str()).cloned().unwrap_or(Value::Null)
                            };
                            results[i].insert(response_key(&f), value);
                        }
                    }
                }
            }
        }
        let places: Vec<Vec<JsonPathElement>> = (0..representations.len())
            .map(|i| {
                vec![
                    JsonPathElement::Key("_entities".into(), None),
                    JsonPathElement::Index(i),
                ]
            })
            .collect();
        let asks = asked.iter().map(|(app, selections)| {
            let mut by_type: Vec<(Name, Vec<Selection>)> = Vec::new();
            for (ty, s) in selections {
                match by_type.iter_mut().find(|(t, _)| t == ty) {
                    Some((_, list)) => list.push(s.clone()),
                    None => by_type.push((ty.clone(), vec![s.clone()])),
                }
            }
            let targets: Vec<usize> = (0..representations.len())
                .filter(|i| {
                    by_type
                        .iter()
                        .any(|(t, _)| t.as_str() == type_of(&representations[*i]))
                })
                .collect();
            let reps = targets
                .iter()
                .map(|i| representations[*i].clone())
                .collect();
            let target_places = targets.iter().map(|i| places[*i].clone()).collect();
            async move {
                let answers = self.entities_of(app, by_type, reps, target_places).await;
                (targets, answers)
            }
        });
        let mut errors = Vec::new();
        for (targets, (entities, part_errors)) in join_all(asks).await {
            for (i, entity) in targets.into_iter().zip(entities) {
                if let Value::Object(entity) = entity {
                    merge_objects(&mut results[i], entity);
                }
            }
            errors.extend(part_errors);
        }
        let mut data = Map::new();
        data.insert(
            response_key(field),
            Value::Array(results.into_iter().map(Value::Object).collect()),
        );
        (Some(Value::Object(data)), errors)
    }

    /// Asks `app` for `representations` (at `places` in the response) with `selections` by type;
    /// the entities in order (`Null` where it gave none), with what they defer resolved.
    fn entities_of<'s>(
        &'s self,
        app: &'s Arc<str>,
        selections: Vec<(Name, Vec<Selection>)>,
        representations: Vec<Value>,
        places: Vec<Vec<JsonPathElement>>,
    ) -> BoxFuture<'s, (Vec<Value>, Vec<graphql::Error>)> {
        Box::pin(async move {
            let count = representations.len();
            let mut deferred = Vec::new();
            let own: Vec<Selection> = selections
                .iter()
                .filter_map(|(ty, list)| {
                    let inner = self.splitter.own(app, ty, list, &[], &mut deferred);
                    (!inner.is_empty()).then(|| {
                        Selection::InlineFragment(Node::new(InlineFragment {
                            type_condition: Some(ty.clone()),
                            directives: Default::default(),
                            selection_set: inner,
                        }))
                    })
                })
                .collect();
            let (text, used) =
                entities_operation(self.name.clone(), &self.definitions, own.clone());
            let mut variables = self.variables_named(&used);
            variables.insert("representations", Value::Array(representations));
            let answer = self.call(app, text, variables).await;
            let mut errors: Vec<graphql::Error> = answer
                .errors
                .into_iter()
                .map(|e| relocate(e, &places))
                .collect();
            let entities = answer
                .data
                .and_then(|d| d.get("_entities").and_then(Value::as_array).cloned());
            let Some(entities) = entities.filter(|list| list.len() == count) else {
                if errors.is_empty() {
                    errors.push(
                        graphql::Error::builder()
                            .message(format!("the app `{app}` did not answer the {count} entities it was asked for"))
                            .extension_code("SUBREQUEST_HTTP_ERROR")
                            .extension("service", app.to_string())
                            .build(),
                    );
                }
                return (vec![Value::Null; count], errors);
            };
            let mut out: Vec<Value> = entities.into_iter().map(|e| project(e, &own)).collect();
            errors.extend(self.resolve(deferred, &mut out, &places).await);
            out.iter_mut().for_each(answer::strip);
            (out, errors)
        })
    }

    /// Other apps' fields inside `values` (answers placed at `bases`), asked of those apps by
    /// `id` — all the entities of one app at once — and grafted in.
    fn resolve<'s>(
        &'s self,
        deferred: Vec<Deferred>,
        values: &'s mut [Value],
        bases: &'s [Vec<JsonPathElement>],
    ) -> BoxFuture<'s, Vec<graphql::Error>> {
        Box::pin(async move {
            let mut errors = Vec::new();
            for group in deferred {
                let mut targets: Vec<(usize, Vec<JsonPathElement>)> = Vec::new();
                let mut representations = Vec::new();
                let mut places = Vec::new();
                for (k, value) in values.iter_mut().enumerate() {
                    for place in objects_at(value, &group.path) {
                        let found =
                            object_mut(value, &place).and_then(|o| representation(o, &group.ty));
                        if let Some(r) = found {
                            places.push(bases[k].iter().chain(&place).cloned().collect());
                            targets.push((k, place));
                            representations.push(r);
                        }
                    }
                }
                if targets.is_empty() {
                    continue;
                }
                let (entities, part_errors) = self
                    .entities_of(
                        &group.app,
                        vec![(group.ty.clone(), group.selections)],
                        representations,
                        places,
                    )
                    .await;
                errors.extend(part_errors);
                for ((k, place), entity) in targets.iter().zip(entities) {
                    if let (Some(object), Value::Object(entity)) =
                        (object_mut(&mut values[*k], place), entity)
                    {
                        merge_objects(object, entity);
                    }
                }
            }
            errors
        })
    }

    /// The values of the plane request's variables named in `used`.
    fn variables_named(&self, used: &[String]) -> Map<ByteString, Value> {
        self.variables
            .iter()
            .filter(|(name, _)| used.iter().any(|u| u == name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// One call to `app` through the installation gate, bounded in time.
    async fn call(
        &self,
        app: &Arc<str>,
        query: String,
        variables: Map<ByteString, Value>,
    ) -> graphql::Response {
        let Some(url) = self.splitter.map.url(app) else {
            return failed(format!("the app `{app}` has no route"));
        };
        let mut http_request = http::Request::builder()
            .method(http::Method::POST)
            .uri(url)
            .body(
                graphql::Request::builder()
                    .query(query)
                    .and_operation_name(self.name.as_ref().map(|n| n.to_string()))
                    .variables(variables)
                    .build(),
            )
            .unwrap_or_default();
        *http_request.headers_mut() = self.plane_request.subgraph_request.headers().clone();
        let request = subgraph::Request::builder()
            .supergraph_request(self.plane_request.supergraph_request.clone())
            .subgraph_request(http_request)
            .operation_kind(self.plane_request.operation_kind)
            .context(self.plane_request.context.clone())
            .subgraph_name(app.to_string())
            .build();
        match tokio::time::timeout(
            APP_CALL_TIMEOUT,
            self.gate.call(app, self.caller.as_ref(), request),
        )
        .await
        {
            Ok(response) => response.response.into_body(),
            // As apollo-router's own per-subgraph timeout answers.
            Err(_) => graphql::Response::builder()
                .errors(vec![
                    graphql::Error::builder()
                        .message(format!(
                            "the app `{app}` did not answer within {} s",
                            APP_CALL_TIMEOUT.as_secs()
                        ))
                        .extension_code("GATEWAY_TIMEOUT")
                        .extension("service", app.to_string())
                        .build(),
                ])
                .build(),
        }
    }
}

/// The fields of `selections`, through fragments without a condition of their own.
fn fields_of(selections: &[Selection]) -> Vec<Node<Field>> {
    let mut out = Vec::new();
    for s in selections {
        match s {
            Selection::Field(f) => out.push(f.clone()),
            Selection::InlineFragment(f) => out.extend(fields_of(&f.selection_set)),
            Selection::FragmentSpread(_) => {}
        }
    }
    out
}

fn refusal(message: String) -> graphql::Error {
    graphql::Error::builder()
        .message(message)
        .extension_code("INTERNAL_SERVER_ERROR")
        .build()
}

fn failed(message: String) -> graphql::Response {
    graphql::Response::builder()
        .errors(vec![refusal(message)])
        .build()
}

#[cfg(test)]
mod tests;

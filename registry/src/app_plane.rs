//! The shape of the supergraph Nexus serves: the core's subgraphs and **one app plane**.
//!
//! Composed the general way, every app is a subgraph of its own, and every app that extends
//! `User` or `Organization` can reach every other through a key: the router's query planner
//! builds those n² edges and the follow-ups of each (n³), which at a thousand apps is minutes
//! and gigabytes before the first query. Nexus's extension policy makes that work pointless: apps
//! never reference each other, only the core's entities by `id`. So the supergraph the router
//! plans over has the core's subgraphs and a single subgraph, `nexus_apps`, holding every app's
//! types and fields; the router plans as if it were one service and Nexus's app plane
//! (`nexus_router::app_plane`) splits each of its fetches by owner, app by app. Which app serves
//! a namespace, and where, is the plane's routing table: `@routing__app(name:, url:)` on the
//! schema, under a spec link of Nexus's own, so the API schema never shows it.
//!
//! An app's contribution is what the supergraph of the core and that app alone adds to the
//! core's supergraph, its graph renamed to the plane's. Contributions never touch the same
//! element except a core entity's key and `id`, so the served supergraph is the core's plus each
//! contribution: linear in the number of apps. It means what the general composition of the same
//! subgraphs means (same API schema; tests compare).

use std::collections::BTreeSet;

use apollo_compiler::ast::{self, Argument, Directive, Value};
use apollo_compiler::schema::{self, Component, EnumValueDefinition, ExtendedType};
use apollo_compiler::{Name, Node, Schema};

/// The plane's subgraph name and its `join__Graph` value.
pub const PLANE_SUBGRAPH: &str = "nexus_apps";
pub const PLANE_GRAPH: &str = "NEXUS_APPS";
/// Never called: the router's plugin answers the plane's fetches itself.
pub const PLANE_URL: &str = "http://nexus-apps.invalid/graphql";
/// The routing table's spec, and the directive each app's route is.
pub const ROUTING_SPEC: &str = "https://specs.nexus.dev/routing/v0.1";
pub const ROUTE_DIRECTIVE: &str = "routing__app";

/// One app's share of a served supergraph, computed once when it is checked against the core.
#[derive(Clone, Debug)]
pub struct Contribution {
    pub app: String,
    pub url: String,
    /// Each type of the core-and-app supergraph that is new or differs from the core's, with the
    /// app's graph renamed to the plane's.
    types: Vec<ExtendedType>,
    /// What the app owns, for the plane to route by: its own types, and its fields on the core's
    /// types (`User.crmScore`, `Query.crmTop`).
    owned_types: Vec<String>,
    owned_fields: Vec<String>,
    /// Spec links and directive definitions the app brings (`@tag`, say) that the core has not.
    links: Vec<Component<Directive>>,
    directives: Vec<Node<ast::DirectiveDefinition>>,
    /// The join spec of the core-and-app supergraph when it is newer than the core's (an app on
    /// a newer federation version): the served supergraph speaks the newest any app needs.
    join: Option<Join>,
}

#[derive(Clone, Debug)]
struct Join {
    version: (u32, u32),
    link: Component<Directive>,
    directives: Vec<Node<ast::DirectiveDefinition>>,
    types: Vec<ExtendedType>,
}

const JOIN_SPEC: &str = "https://specs.apollo.dev/join/";

/// The schema's join link and its version.
fn join_link(schema: &Schema) -> Option<(&Component<Directive>, (u32, u32))> {
    schema.schema_definition.directives.iter().find_map(|d| {
        let url = d.specified_argument_by_name("url")?.as_str()?;
        let version = url.strip_prefix(JOIN_SPEC)?.strip_prefix('v')?;
        let (major, minor) = version.split_once('.')?;
        Some((d, (major.parse().ok()?, minor.parse().ok()?)))
    })
}

fn join_of(core: &Schema, with_app: &Schema) -> Option<Join> {
    let (link, version) = join_link(with_app)?;
    if join_link(core).is_some_and(|(_, core_version)| core_version >= version) {
        return None;
    }
    Some(Join {
        version,
        link: link.clone(),
        directives: with_app
            .directive_definitions
            .iter()
            .filter(|(name, _)| name.starts_with("join__"))
            .map(|(_, d)| d.clone())
            .collect(),
        types: with_app
            .types
            .iter()
            .filter(|(name, _)| name.starts_with("join__") && name.as_str() != "join__Graph")
            .map(|(_, t)| t.clone())
            .collect(),
    })
}

impl Contribution {
    /// What the supergraph of the core and `app` (`with_app`) adds to the core's (`core`).
    pub fn of(core: &Schema, with_app: &Schema, app: &str, url: &str) -> Result<Self, String> {
        let graph = graph_named(with_app, app)
            .ok_or_else(|| format!("the supergraph has no graph named `{app}`"))?;
        let mut types = Vec::new();
        let (mut owned_types, mut owned_fields) = (Vec::new(), Vec::new());
        for (name, ty) in &with_app.types {
            if is_join_machinery(name) || ty.is_built_in() {
                continue;
            }
            match core.types.get(name) {
                None => owned_types.push(name.to_string()),
                Some(core_type) => owned_fields.extend(
                    field_names(ty)
                        .filter(|f| !field_names(core_type).any(|c| c == *f))
                        .map(|f| format!("{name}.{f}")),
                ),
            }
            let mut ty = ty.clone();
            relabel_type(&mut ty, &graph);
            if core.types.get(name) != Some(&ty) {
                types.push(ty);
            }
        }
        let join = join_of(core, with_app);
        let is_join_link = |d: &Component<Directive>| {
            d.specified_argument_by_name("url")
                .and_then(|v| v.as_str())
                .is_some_and(|url| url.starts_with(JOIN_SPEC))
        };
        let in_core = |d: &Component<Directive>| {
            core.schema_definition
                .directives
                .iter()
                .any(|c| c.node == d.node)
        };
        let links = with_app
            .schema_definition
            .directives
            .iter()
            .filter(|d| !is_join_link(d) && !in_core(d))
            .cloned()
            .collect();
        let directives = with_app
            .directive_definitions
            .iter()
            .filter(|(name, _)| !name.starts_with("join__"))
            .filter(|(name, _)| !core.directive_definitions.contains_key(*name))
            .map(|(_, d)| d.clone())
            .collect();
        Ok(Contribution {
            app: app.to_owned(),
            url: url.to_owned(),
            types,
            owned_types,
            owned_fields,
            links,
            directives,
            join,
        })
    }
}

/// The served supergraph: the core's (`core`, composed alone) with every contribution, in order.
/// Without apps, the core's supergraph as it is.
pub fn assemble(core: &Schema, contributions: &[&Contribution]) -> Result<String, String> {
    if contributions.is_empty() {
        return Ok(core.to_string());
    }
    let mut schema = core.clone();
    let newest_join = contributions
        .iter()
        .filter_map(|c| c.join.as_ref())
        .max_by_key(|j| j.version);
    if let Some(join) = newest_join {
        use_join(&mut schema, join);
    }
    add_plane_graph(&mut schema)?;
    add_routing_table(&mut schema, contributions);
    for contribution in contributions {
        union_directives(
            &mut schema.schema_definition.make_mut().directives.0,
            &contribution.links,
        );
        for definition in &contribution.directives {
            schema
                .directive_definitions
                .entry(definition.name.clone())
                .or_insert_with(|| definition.clone());
        }
        for incoming in &contribution.types {
            let name = incoming.name().clone();
            match schema.types.get_mut(&name) {
                None => {
                    schema.types.insert(name, incoming.clone());
                }
                Some(existing) => merge_type(existing, incoming).map_err(|e| {
                    format!(
                        "{} cannot join the plane at `{name}`: {e}",
                        contribution.app
                    )
                })?,
            }
        }
    }
    Ok(schema.to_string())
}

/// What a supergraph means to its callers: its API schema, with types, fields and values in name
/// order (the plane and the general composition order them differently). The tests and the
/// benchmark compare the supergraph Nexus serves with the general composition by it.
pub fn meaning(sdl: &str) -> Result<String, String> {
    let supergraph = apollo_federation::Supergraph::new(sdl).map_err(|e| e.to_string())?;
    let api = supergraph
        .to_api_schema(Default::default())
        .map_err(|e| e.to_string())?;
    let mut schema = api.schema().clone().into_inner();
    schema.types.sort_keys();
    for ty in schema.types.values_mut() {
        match ty {
            ExtendedType::Object(t) => t.make_mut().fields.sort_keys(),
            ExtendedType::Interface(t) => t.make_mut().fields.sort_keys(),
            ExtendedType::InputObject(t) => t.make_mut().fields.sort_keys(),
            ExtendedType::Enum(t) => t.make_mut().values.sort_keys(),
            ExtendedType::Union(t) => t.make_mut().members.sort_by(|a, b| a.name.cmp(&b.name)),
            ExtendedType::Scalar(_) => {}
        }
    }
    Ok(schema.to_string())
}

/// One app's entry in a served supergraph's routing table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub app: String,
    pub url: String,
    /// Its own types, and its fields on the core's types as `Type.field`.
    pub types: Vec<String>,
    pub fields: Vec<String>,
}

/// `schema` speaking `join`'s version of the join spec (a newer one means what the older did).
fn use_join(schema: &mut Schema, join: &Join) {
    let definition = schema.schema_definition.make_mut();
    for directive in definition.directives.0.iter_mut() {
        let is_join = directive
            .specified_argument_by_name("url")
            .and_then(|v| v.as_str())
            .is_some_and(|url| url.starts_with(JOIN_SPEC));
        if is_join {
            *directive = join.link.clone();
        }
    }
    for d in &join.directives {
        schema
            .directive_definitions
            .insert(d.name.clone(), d.clone());
    }
    for t in &join.types {
        schema.types.insert(t.name().clone(), t.clone());
    }
}

/// The routing table of a served supergraph, in the order it was assembled (empty for a
/// supergraph without apps, or one composed the general way).
pub fn routes(schema: &Schema) -> Vec<Route> {
    schema
        .schema_definition
        .directives
        .iter()
        .filter(|d| d.name == ROUTE_DIRECTIVE)
        .filter_map(|d| {
            let text = |n: &str| {
                d.specified_argument_by_name(n)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let list = |n: &str| match d.specified_argument_by_name(n).map(|v| &**v) {
                Some(Value::List(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            Some(Route {
                app: text("name")?,
                url: text("url")?,
                types: list("types"),
                fields: list("fields"),
            })
        })
        .collect()
}

fn field_names(ty: &ExtendedType) -> Box<dyn Iterator<Item = &Name> + '_> {
    match ty {
        ExtendedType::Object(t) => Box::new(t.fields.keys()),
        ExtendedType::Interface(t) => Box::new(t.fields.keys()),
        ExtendedType::InputObject(t) => Box::new(t.fields.keys()),
        _ => Box::new(std::iter::empty()),
    }
}

fn is_join_machinery(name: &str) -> bool {
    name.starts_with("join__") || name.starts_with("link__")
}

/// The `join__Graph` value whose `@join__graph(name:)` is `subgraph`.
fn graph_named(schema: &Schema, subgraph: &str) -> Option<Name> {
    let Some(ExtendedType::Enum(graphs)) = schema.types.get("join__Graph") else {
        return None;
    };
    graphs.values.iter().find_map(|(value, def)| {
        def.directives
            .iter()
            .filter(|d| d.name == "join__graph")
            .any(|d| {
                d.specified_argument_by_name("name")
                    .and_then(|v| v.as_str())
                    == Some(subgraph)
            })
            .then(|| value.clone())
    })
}

fn add_plane_graph(schema: &mut Schema) -> Result<(), String> {
    let Some(ExtendedType::Enum(graphs)) = schema.types.get_mut("join__Graph") else {
        return Err("the core's supergraph has no join__Graph".into());
    };
    let directive = Directive {
        name: Name::new_unchecked("join__graph"),
        arguments: vec![
            argument("name", Value::String(PLANE_SUBGRAPH.into())),
            argument("url", Value::String(PLANE_URL.into())),
        ],
    };
    graphs.make_mut().values.insert(
        Name::new_unchecked(PLANE_GRAPH),
        Component::new(EnumValueDefinition {
            description: None,
            value: Name::new_unchecked(PLANE_GRAPH),
            directives: ast::DirectiveList(vec![Node::new(directive)]),
        }),
    );
    Ok(())
}

fn add_routing_table(schema: &mut Schema, contributions: &[&Contribution]) {
    let definition = schema.schema_definition.make_mut();
    definition.directives.0.push(Component::new(Directive {
        name: Name::new_unchecked("link"),
        arguments: vec![argument("url", Value::String(ROUTING_SPEC.into()))],
    }));
    let strings = |list: &[String]| {
        Value::List(
            list.iter()
                .map(|s| Node::new(Value::String(s.clone())))
                .collect(),
        )
    };
    for c in contributions {
        definition.directives.0.push(Component::new(Directive {
            name: Name::new_unchecked(ROUTE_DIRECTIVE),
            arguments: vec![
                argument("name", Value::String(c.app.clone())),
                argument("url", Value::String(c.url.clone())),
                argument("types", strings(&c.owned_types)),
                argument("fields", strings(&c.owned_fields)),
            ],
        }));
    }
    let string = || ast::Type::NonNullNamed(Name::new_unchecked("String"));
    let input = |name: &str, ty: ast::Type| {
        Node::new(ast::InputValueDefinition {
            description: None,
            name: Name::new_unchecked(name),
            ty: Node::new(ty),
            default_value: None,
            directives: ast::DirectiveList::default(),
        })
    };
    let list = || string().list().non_null();
    schema.directive_definitions.insert(
        Name::new_unchecked(ROUTE_DIRECTIVE),
        Node::new(ast::DirectiveDefinition {
            description: None,
            name: Name::new_unchecked(ROUTE_DIRECTIVE),
            arguments: vec![
                input("name", string()),
                input("url", string()),
                input("types", list()),
                input("fields", list()),
            ],
            repeatable: true,
            locations: vec![ast::DirectiveLocation::Schema],
        }),
    );
}

fn argument(name: &str, value: Value) -> Node<Argument> {
    Node::new(Argument {
        name: Name::new_unchecked(name),
        value: Node::new(value),
    })
}

// ---- renaming an app's graph to the plane's ----

fn relabel_type(ty: &mut ExtendedType, graph: &Name) {
    match ty {
        ExtendedType::Scalar(t) => relabel_all(
            t.make_mut().directives.0.iter_mut().map(|d| &mut d.node),
            graph,
        ),
        ExtendedType::Object(t) => {
            let t = t.make_mut();
            relabel_all(t.directives.0.iter_mut().map(|d| &mut d.node), graph);
            for field in t.fields.values_mut() {
                relabel_field(&mut field.node, graph);
            }
        }
        ExtendedType::Interface(t) => {
            let t = t.make_mut();
            relabel_all(t.directives.0.iter_mut().map(|d| &mut d.node), graph);
            for field in t.fields.values_mut() {
                relabel_field(&mut field.node, graph);
            }
        }
        ExtendedType::Union(t) => relabel_all(
            t.make_mut().directives.0.iter_mut().map(|d| &mut d.node),
            graph,
        ),
        ExtendedType::Enum(t) => {
            let t = t.make_mut();
            relabel_all(t.directives.0.iter_mut().map(|d| &mut d.node), graph);
            for value in t.values.values_mut() {
                relabel_all(value.make_mut().directives.0.iter_mut(), graph);
            }
        }
        ExtendedType::InputObject(t) => {
            let t = t.make_mut();
            relabel_all(t.directives.0.iter_mut().map(|d| &mut d.node), graph);
            for field in t.fields.values_mut() {
                relabel_all(field.make_mut().directives.0.iter_mut(), graph);
            }
        }
    }
}

fn relabel_field(field: &mut Node<ast::FieldDefinition>, graph: &Name) {
    let field = field.make_mut();
    relabel_all(field.directives.0.iter_mut(), graph);
    for argument in &mut field.arguments {
        relabel_all(argument.make_mut().directives.0.iter_mut(), graph);
    }
}

fn relabel_all<'a>(directives: impl Iterator<Item = &'a mut Node<Directive>>, graph: &Name) {
    for directive in directives {
        if !directive.name.starts_with("join__") {
            continue;
        }
        let touches = directive
            .arguments
            .iter()
            .any(|a| a.name == "graph" && matches!(&*a.value, Value::Enum(g) if g == graph));
        if touches {
            for argument in &mut directive.make_mut().arguments {
                if argument.name == "graph" {
                    argument.make_mut().value =
                        Node::new(Value::Enum(Name::new_unchecked(PLANE_GRAPH)));
                }
            }
        }
    }
}

// ---- merging a contribution's type into the served supergraph ----

/// The graphs a type is in (its `@join__type`s).
fn graphs_of(directives: &schema::DirectiveList) -> BTreeSet<Name> {
    directives
        .iter()
        .filter(|d| d.name == "join__type")
        .filter_map(|d| graph_argument(d))
        .collect()
}

fn graph_argument(directive: &Directive) -> Option<Name> {
    match directive.specified_argument_by_name("graph").map(|v| &**v) {
        Some(Value::Enum(g)) => Some(g.clone()),
        _ => None,
    }
}

fn merge_type(existing: &mut ExtendedType, incoming: &ExtendedType) -> Result<(), String> {
    match (existing, incoming) {
        (ExtendedType::Object(e), ExtendedType::Object(i)) => {
            let (before, theirs) = (graphs_of(&e.directives), graphs_of(&i.directives));
            let e = e.make_mut();
            union_directives(&mut e.directives.0, &i.directives.0);
            e.implements_interfaces
                .extend(i.implements_interfaces.iter().cloned());
            merge_elements(&mut e.fields, &i.fields, "join__field", &before, &theirs);
        }
        (ExtendedType::Interface(e), ExtendedType::Interface(i)) => {
            let (before, theirs) = (graphs_of(&e.directives), graphs_of(&i.directives));
            let e = e.make_mut();
            union_directives(&mut e.directives.0, &i.directives.0);
            e.implements_interfaces
                .extend(i.implements_interfaces.iter().cloned());
            merge_elements(&mut e.fields, &i.fields, "join__field", &before, &theirs);
        }
        (ExtendedType::InputObject(e), ExtendedType::InputObject(i)) => {
            let (before, theirs) = (graphs_of(&e.directives), graphs_of(&i.directives));
            let e = e.make_mut();
            union_directives(&mut e.directives.0, &i.directives.0);
            merge_elements(&mut e.fields, &i.fields, "join__field", &before, &theirs);
        }
        (ExtendedType::Enum(e), ExtendedType::Enum(i)) => {
            let (before, theirs) = (graphs_of(&e.directives), graphs_of(&i.directives));
            let e = e.make_mut();
            union_directives(&mut e.directives.0, &i.directives.0);
            merge_elements(
                &mut e.values,
                &i.values,
                "join__enumValue",
                &before,
                &theirs,
            );
        }
        (ExtendedType::Union(e), ExtendedType::Union(i)) => {
            let e = e.make_mut();
            union_directives(&mut e.directives.0, &i.directives.0);
            e.members.extend(i.members.iter().cloned());
        }
        (ExtendedType::Scalar(e), ExtendedType::Scalar(i)) => {
            union_directives(&mut e.make_mut().directives.0, &i.directives.0);
        }
        (e, i) => {
            return Err(format!(
                "it is {} in the core and {} in the app",
                kind(e),
                kind(i)
            ));
        }
    }
    Ok(())
}

fn kind(ty: &ExtendedType) -> &'static str {
    match ty {
        ExtendedType::Scalar(_) => "a scalar",
        ExtendedType::Object(_) => "an object type",
        ExtendedType::Interface(_) => "an interface",
        ExtendedType::Union(_) => "a union",
        ExtendedType::Enum(_) => "an enum",
        ExtendedType::InputObject(_) => "an input type",
    }
}

fn union_directives(mine: &mut Vec<Component<Directive>>, theirs: &[Component<Directive>]) {
    for directive in theirs {
        if !mine.iter().any(|d| d.node == directive.node) {
            mine.push(directive.clone());
        }
    }
}

/// An element of a type that carries `join` directives of its own: a field, an input field, an
/// enum value.
trait Element: Clone {
    fn directives(&self) -> &ast::DirectiveList;
    fn directives_mut(&mut self) -> &mut ast::DirectiveList;
}

macro_rules! element {
    ($t:ty) => {
        impl Element for $t {
            fn directives(&self) -> &ast::DirectiveList {
                &self.directives
            }
            fn directives_mut(&mut self) -> &mut ast::DirectiveList {
                &mut self.directives
            }
        }
    };
}
element!(ast::FieldDefinition);
element!(ast::InputValueDefinition);
element!(EnumValueDefinition);

/// `theirs` merged into `mine`: new elements added, the `join` directives (`join`) of elements
/// both have joined.
fn merge_elements<T: Element>(
    mine: &mut apollo_compiler::collections::IndexMap<Name, Component<T>>,
    theirs: &apollo_compiler::collections::IndexMap<Name, Component<T>>,
    join: &str,
    before: &BTreeSet<Name>,
    their_graphs: &BTreeSet<Name>,
) {
    for (name, element) in theirs {
        match mine.get_mut(name) {
            None => {
                mine.insert(name.clone(), element.clone());
            }
            Some(existing) => {
                let merged = join_elements(
                    &existing.directives().0,
                    &element.directives().0,
                    join,
                    before,
                    their_graphs,
                );
                existing.make_mut().directives_mut().0 = merged;
            }
        }
    }
}

/// The `join` directives of one element (a field, an enum value) present on both sides. An
/// element without any is in every graph of its type, so when the two sides' types span
/// different graphs and one side is explicit, the other side's graphs are spelled out.
fn join_elements(
    mine: &[Node<Directive>],
    theirs: &[Node<Directive>],
    join: &str,
    my_graphs: &BTreeSet<Name>,
    their_graphs: &BTreeSet<Name>,
) -> Vec<Node<Directive>> {
    let explicit = |list: &[Node<Directive>]| list.iter().any(|d| d.name == join);
    let (mine_explicit, theirs_explicit) = (explicit(mine), explicit(theirs));
    let spelled = |list: &[Node<Directive>], graphs: &BTreeSet<Name>, is_explicit: bool| {
        let mut out: Vec<Node<Directive>> = list.to_vec();
        if !is_explicit {
            out.extend(graphs.iter().map(|g| {
                Node::new(Directive {
                    name: Name::new_unchecked(join),
                    arguments: vec![argument("graph", Value::Enum(g.clone()))],
                })
            }));
        }
        out
    };
    let (mut merged, add) = if !mine_explicit && !theirs_explicit {
        (mine.to_vec(), theirs.to_vec())
    } else {
        (
            spelled(mine, my_graphs, mine_explicit),
            spelled(theirs, their_graphs, theirs_explicit),
        )
    };
    for directive in add {
        if !merged.contains(&directive) {
            merged.push(directive);
        }
    }
    merged
}

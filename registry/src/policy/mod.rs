//! The extension policy for app subgraphs (docs/extension-policy.md): an app adds to the graph
//! under its namespace, never touches what the core owns, and never makes the router call
//! anything but its own subgraph. Directives are judged by what they *are* (see `links`), never by
//! their spelling. Each violation names the rule, the type and the field.

pub mod links;
pub mod selection;
mod size;

use std::collections::{BTreeMap, BTreeSet};

use apollo_compiler::Node;
use apollo_compiler::ast::{
    Definition, DirectiveList, Document, FieldDefinition, InputValueDefinition, OperationType,
};
use serde::Serialize;

use crate::compose::SubgraphSdl;
use links::{DirectiveNames, Resolved};
use selection::Selected;

/// The federation directives an app may use (on its own types and fields; on a core entity's
/// stub only `@key` and `@extends`, on its `id` only `@external` and `@shareable`).
pub const ALLOWED_FEDERATION_DIRECTIVES: &[&str] = &[
    "key",
    "external",
    "requires",
    "provides",
    "shareable",
    "inaccessible",
    "tag",
    "extends",
    "link",
];

/// Refused under any spelling, linked or not: directives that take over or hide core fields,
/// need a license, or make the router call URLs itself (connectors).
pub const REFUSED_DIRECTIVES: &[&str] = &[
    "override",
    "interfaceObject",
    "composeDirective",
    "authenticated",
    "requiresScopes",
    "policy",
    "context",
    "fromContext",
    "cost",
    "listSize",
    "connect",
    "source",
];

/// Prefixes of other specs' directives, refused under any link.
const REFUSED_PREFIXES: &[&str] = &["join__", "connect__", "link__"];

/// Federation's types that an app's printed SDL may define.
const SPEC_TYPES: &[&str] = &[
    "_Any",
    "_Entity",
    "_Service",
    "_FieldSet",
    "FieldSet",
    "Import",
    "Purpose",
    "ContextFieldValue",
    "Scope",
    "Policy",
];

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_sdl_bytes: usize,
    pub max_types: usize,
    pub max_fields_per_type: usize,
    /// Fields, input fields and enum values of every type together.
    pub max_fields_in_all: usize,
    pub max_arguments_per_field: usize,
    /// Lists within lists (`[[Int]]` is 2).
    pub max_list_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sdl_bytes: 256 * 1024,
            max_types: 200,
            max_fields_per_type: 100,
            max_fields_in_all: 2_000,
            max_arguments_per_field: 20,
            max_list_depth: 3,
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
            let (names, _) = links::resolve(&document);
            for definition in &document.definitions {
                let Some(name) = definition.name() else {
                    continue;
                };
                let name = name.to_string();
                if is_spec_type(definition, &name) {
                    continue;
                }
                let is_scalar = matches!(definition, Definition::ScalarTypeDefinition(_));
                core.types.insert(name.clone(), is_scalar);
                if let Definition::ObjectTypeDefinition(object) = definition
                    && has_directive(&names, &object.directives, "key")
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

    fn is_core_type(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }
}

/// Where a directive or a name sits, for messages: `User.email`, `User`, the schema.
#[derive(Clone, Copy)]
struct At<'a> {
    ty: Option<&'a str>,
    field: Option<&'a str>,
}

impl At<'_> {
    fn describe(&self) -> String {
        match (self.ty, self.field) {
            (Some(t), Some(f)) => format!("`{t}.{f}`"),
            (Some(t), None) => format!("`{t}`"),
            _ => "the schema".to_owned(),
        }
    }
}

/// Collects violations for one SDL.
struct Checker<'a> {
    namespace: &'a str,
    type_prefix: String,
    core: &'a CoreSchema,
    names: DirectiveNames,
    /// The app's own field types: type → field → named type (for walking field sets).
    field_types: BTreeMap<String, BTreeMap<String, String>>,
    out: Vec<Violation>,
}

impl Checker<'_> {
    fn violation(&mut self, code: &'static str, message: String, at: At<'_>) {
        self.out.push(Violation {
            code,
            message,
            type_name: at.ty.map(str::to_owned),
            field: at.field.map(str::to_owned),
        });
    }

    /// Every directive in `directives` that an app may not use at `at`; `only` narrows the
    /// federation directives allowed there (a core entity's stub).
    fn directives(&mut self, directives: &DirectiveList, at: At<'_>, only: Option<&[&str]>) {
        for directive in directives.iter() {
            let spelled = directive.name.as_str();
            let resolved = self.names.resolve(spelled);
            let name = resolved.name().to_owned();
            let refused = REFUSED_DIRECTIVES.contains(&spelled)
                || REFUSED_DIRECTIVES.contains(&name.as_str())
                || REFUSED_PREFIXES.iter().any(|p| spelled.starts_with(p))
                || match resolved {
                    Resolved::Federation(n) => !ALLOWED_FEDERATION_DIRECTIVES.contains(&n),
                    Resolved::Other(_) => false,
                };
            let what = if spelled == name {
                format!("`@{spelled}`")
            } else {
                format!("`@{spelled}` (federation's `@{name}`)")
            };
            if refused {
                self.violation(
                    "RESTRICTED_DIRECTIVE",
                    format!(
                        "{what} on {} is not allowed in app subgraphs",
                        at.describe()
                    ),
                    at,
                );
            } else if let Some(only) = only
                && !only.contains(&name.as_str())
            {
                let allowed: Vec<String> = only.iter().map(|d| format!("`@{d}`")).collect();
                self.violation(
                    "RESTRICTED_DIRECTIVE",
                    format!(
                        "{what} on {} is not allowed: {} belongs to the core, and an app's stub of it carries only {}",
                        at.describe(),
                        at.describe(),
                        allowed.join(" and ")
                    ),
                    at,
                );
            }
        }
    }

    fn directives_named<'d>(
        &self,
        directives: &'d DirectiveList,
        federation_name: &'d str,
    ) -> impl Iterator<Item = &'d Node<apollo_compiler::ast::Directive>> + use<'d, '_> {
        // By name, linked or not: a look-alike custom directive is judged as the real one.
        directives
            .iter()
            .filter(move |d| self.names.resolve(d.name.as_str()).name() == federation_name)
    }

    /// Each `@key`, `@requires` or `@provides` (`federation_name`) field set under `directives`,
    /// walked from the type `parent`: it may reach a core type only through `id`.
    fn field_sets(
        &mut self,
        directives: &DirectiveList,
        federation_name: &str,
        parent: &str,
        at: At<'_>,
    ) {
        let code = match federation_name {
            "key" => "KEY_SELECTS_CORE_FIELD",
            "requires" => "REQUIRES_SELECTS_CORE_FIELD",
            _ => "PROVIDES_SELECTS_CORE_FIELD",
        };
        let field_sets: Vec<String> = self
            .directives_named(directives, federation_name)
            .filter_map(|d| d.specified_argument_by_name("fields"))
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        for fields in field_sets {
            let Some(selection) = selection::parse(&fields) else {
                self.violation(
                    "UNREADABLE_FIELD_SET",
                    format!(
                        "`@{federation_name}(fields: {fields:?})` on {}: write field sets as plain field names and braces",
                        at.describe()
                    ),
                    at,
                );
                continue;
            };
            if let Some(reached) = self.reaches_core(&selection, parent) {
                self.violation(
                    code,
                    format!(
                        "`@{federation_name}(fields: {fields:?})` on {} selects `{reached}`: between the core and an app only a core entity's `id` flows; read other core data through the graph with your installation token",
                        at.describe()
                    ),
                    at,
                );
            }
        }
    }

    /// The first core field (`Type.field`) other than `id` that `selection` reaches from `parent`.
    fn reaches_core(&self, selection: &[Selected], parent: &str) -> Option<String> {
        for selected in selection {
            let name = selected.name.as_str();
            let own = has_field_prefix(name, self.namespace);
            if self.core.is_core_type(parent) && name != "id" && !own {
                return Some(format!("{parent}.{name}"));
            }
            if !selected.children.is_empty() {
                let Some(child) = self.field_types.get(parent).and_then(|f| f.get(name)) else {
                    return Some(format!("{parent}.{name}"));
                };
                if let Some(reached) = self.reaches_core(&selected.children, child) {
                    return Some(reached);
                }
            }
        }
        None
    }

    fn not_namespaced_field(&mut self, ty: &str, field: &str) {
        self.violation(
            "FIELD_NOT_NAMESPACED",
            format!(
                "`{ty}.{field}` must start with `{}` followed by an uppercase letter (e.g. `{}{}`)",
                self.namespace,
                self.namespace,
                capitalize(field.trim_start_matches('_'))
            ),
            At {
                ty: Some(ty),
                field: Some(field),
            },
        );
    }

    fn definition(
        &mut self,
        definition: &Definition,
        limits: &Limits,
        app_types: &mut BTreeSet<String>,
    ) {
        let Some(name) = definition.name().map(|n| n.to_string()) else {
            return;
        };
        if is_spec_type(definition, &name) {
            return;
        }
        let (directives, fields) = parts(definition);
        let ty = At {
            ty: Some(&name),
            field: None,
        };
        if fields.len() > limits.max_fields_per_type {
            self.violation(
                "TOO_MANY_FIELDS",
                format!(
                    "`{name}` has {} fields; the limit is {}",
                    fields.len(),
                    limits.max_fields_per_type
                ),
                ty,
            );
        }
        self.nested_directives(definition, &name);

        if matches!(name.as_str(), "Query" | "Mutation" | "Subscription") {
            self.root_type(&name, directives, fields, ty);
        } else if let Some(core_fields) = self.core.entities.get(&name).cloned() {
            self.core_entity_stub(&name, directives, fields, &core_fields, ty);
        } else if let Some(&is_scalar) = self.core.types.get(&name) {
            self.core_type(definition, &name, is_scalar, directives, ty);
        } else {
            app_types.insert(name.clone());
            self.app_type(&name, directives, fields, ty);
        }
    }

    /// A root operation type: every field but federation's own must carry the namespace.
    fn root_type(
        &mut self,
        name: &str,
        directives: &DirectiveList,
        fields: &[Node<FieldDefinition>],
        ty: At<'_>,
    ) {
        self.directives(directives, ty, None);
        for field in fields {
            let federation_field =
                name == "Query" && matches!(field.name.as_str(), "_service" | "_entities");
            if !federation_field && !has_field_prefix(&field.name, self.namespace) {
                self.not_namespaced_field(name, &field.name);
            }
            self.field(field, name, None);
        }
    }

    /// An app's stub of a core entity: a `@key`, the `id`, and only namespaced fields of its own.
    fn core_entity_stub(
        &mut self,
        name: &str,
        directives: &DirectiveList,
        fields: &[Node<FieldDefinition>],
        core_fields: &BTreeSet<String>,
        ty: At<'_>,
    ) {
        self.directives(directives, ty, Some(&["key", "extends"]));
        if self.directives_named(directives, "key").next().is_none() {
            self.violation(
                "ENTITY_WITHOUT_KEY",
                format!(
                    "`{name}` is a core entity: reference it with a `@key(fields: \"id\")` stub"
                ),
                ty,
            );
        }
        self.field_sets(directives, "key", name, ty);
        for field in fields {
            if field.name == "id" && self.directives_named(directives, "key").next().is_some() {
                self.field(field, name, Some(&["external", "shareable"]));
            } else if core_fields.contains(field.name.as_str()) {
                self.field(field, name, None);
                self.violation(
                    "CORE_FIELD_REDEFINED",
                    format!(
                        "`{name}.{}` belongs to the core; an app may only add fields starting with `{}`",
                        field.name, self.namespace
                    ),
                    At {
                        ty: Some(name),
                        field: Some(&field.name),
                    },
                );
            } else {
                if !has_field_prefix(&field.name, self.namespace) {
                    self.not_namespaced_field(name, &field.name);
                }
                self.field(field, name, None);
            }
        }
    }

    /// A core type that is not an entity: the app may only share a core scalar.
    fn core_type(
        &mut self,
        definition: &Definition,
        name: &str,
        is_scalar: bool,
        directives: &DirectiveList,
        ty: At<'_>,
    ) {
        // Sharing a core scalar (`DateTime`) is harmless; any other core type is not the app's.
        if !(is_scalar && matches!(definition, Definition::ScalarTypeDefinition(_))) {
            self.violation(
                "CORE_TYPE_REDEFINED",
                format!(
                    "`{name}` is a core type; name the app's own types `{}…`",
                    self.type_prefix
                ),
                ty,
            );
        } else {
            self.directives(directives, ty, Some(&["specifiedBy"]));
        }
    }

    /// The app's own type: namespaced, and no field names reserved for GraphQL and federation.
    fn app_type(
        &mut self,
        name: &str,
        directives: &DirectiveList,
        fields: &[Node<FieldDefinition>],
        ty: At<'_>,
    ) {
        if !has_type_prefix(name, &self.type_prefix) {
            self.violation(
                "TYPE_NOT_NAMESPACED",
                format!(
                    "`{name}` must start with `{}` followed by an uppercase letter (e.g. `{}{}`)",
                    self.type_prefix,
                    self.type_prefix,
                    capitalize(name.trim_start_matches('_'))
                ),
                ty,
            );
        }
        self.directives(directives, ty, None);
        self.field_sets(directives, "key", name, ty);
        for field in fields {
            if field.name.starts_with('_') {
                self.violation(
                    "RESERVED_NAME",
                    format!(
                        "`{name}.{}`: names starting with `_` belong to GraphQL and federation",
                        field.name
                    ),
                    At {
                        ty: Some(name),
                        field: Some(&field.name),
                    },
                );
            }
            self.field(field, name, None);
        }
    }

    /// A field's own directives, its arguments' and its field sets.
    fn field(&mut self, field: &FieldDefinition, ty: &str, only: Option<&[&str]>) {
        let at = At {
            ty: Some(ty),
            field: Some(&field.name),
        };
        self.directives(&field.directives, at, only);
        self.arguments(&field.arguments, at);
        self.field_sets(&field.directives, "requires", ty, at);
        self.field_sets(
            &field.directives,
            "provides",
            field.ty.inner_named_type().as_str(),
            at,
        );
    }

    fn arguments(&mut self, arguments: &[Node<InputValueDefinition>], at: At<'_>) {
        for argument in arguments {
            self.directives(&argument.directives, at, None);
        }
    }

    /// Directives on enum values and input fields.
    fn nested_directives(&mut self, definition: &Definition, ty: &str) {
        let (values, inputs): (Vec<_>, &[Node<InputValueDefinition>]) = match definition {
            Definition::EnumTypeDefinition(d) => (d.values.iter().collect(), &[]),
            Definition::EnumTypeExtension(d) => (d.values.iter().collect(), &[]),
            Definition::InputObjectTypeDefinition(d) => (Vec::new(), &d.fields),
            Definition::InputObjectTypeExtension(d) => (Vec::new(), &d.fields),
            _ => (Vec::new(), &[]),
        };
        for value in values {
            let at = At {
                ty: Some(ty),
                field: Some(&value.value),
            };
            self.directives(&value.directives, at, None);
        }
        for input in inputs {
            let at = At {
                ty: Some(ty),
                field: Some(&input.name),
            };
            self.directives(&input.directives, at, None);
        }
    }
}

/// Every violation of the policy by the app `namespace`'s SDL (empty: it complies).
pub fn check(namespace: &str, sdl: &str, core: &CoreSchema, limits: &Limits) -> Vec<Violation> {
    let schema = At {
        ty: None,
        field: None,
    };
    let mut checker = Checker {
        namespace,
        type_prefix: capitalize(namespace),
        core,
        names: DirectiveNames::default(),
        field_types: BTreeMap::new(),
        out: Vec::new(),
    };
    if sdl.len() > limits.max_sdl_bytes {
        checker.violation(
            "SDL_TOO_LARGE",
            format!(
                "the SDL is {} bytes; the limit is {}",
                sdl.len(),
                limits.max_sdl_bytes
            ),
            schema,
        );
        return checker.out;
    }
    let document = match Document::parse(sdl, namespace) {
        Ok(document) => document,
        Err(with_errors) => {
            checker.violation(
                "INVALID_SDL",
                format!("the SDL does not parse: {}", with_errors.errors),
                schema,
            );
            return checker.out;
        }
    };
    let (names, refused_links) = links::resolve(&document);
    checker.names = names;
    for link in refused_links {
        checker.violation(
            "LINK_REFUSED",
            format!("`@link(url: {:?})` is refused: {}", link.url, link.reason),
            schema,
        );
    }
    checker.field_types = field_types(&document);

    let mut app_types = BTreeSet::new();
    for definition in &document.definitions {
        match definition {
            Definition::SchemaDefinition(d) => {
                checker.directives(&d.directives, schema, None);
                root_operations(&mut checker, &d.root_operations);
            }
            Definition::SchemaExtension(d) => {
                checker.directives(&d.directives, schema, None);
                root_operations(&mut checker, &d.root_operations);
            }
            Definition::DirectiveDefinition(_) => {}
            _ => checker.definition(definition, limits, &mut app_types),
        }
    }
    size::check(&mut checker, &document, limits);
    if app_types.len() > limits.max_types {
        checker.violation(
            "TOO_MANY_TYPES",
            format!(
                "the app defines {} types; the limit is {}",
                app_types.len(),
                limits.max_types
            ),
            schema,
        );
    }
    checker.out
}

/// Root types go by their default names: a renamed root would hide unprefixed root fields.
fn root_operations(
    checker: &mut Checker<'_>,
    roots: &[Node<(OperationType, apollo_compiler::ast::NamedType)>],
) {
    for root in roots {
        let (operation, ty) = &**root;
        let default = operation.default_type_name();
        if ty.as_str() != default.as_str() {
            checker.violation(
                "ROOT_TYPE_RENAMED",
                format!(
                    "`schema {{ {operation}: {ty} }}`: an app's root types are `Query`, `Mutation` and `Subscription`"
                ),
                At {
                    ty: Some(ty.as_str()),
                    field: None,
                },
            );
        }
    }
}

/// type → field → named type, over the object and interface types (and extensions) of `document`.
fn field_types(document: &Document) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for definition in &document.definitions {
        let Some(name) = definition.name() else {
            continue;
        };
        let (_, fields) = parts(definition);
        let entry = out.entry(name.to_string()).or_default();
        for field in fields {
            entry.insert(
                field.name.to_string(),
                field.ty.inner_named_type().to_string(),
            );
        }
    }
    out
}

fn has_directive(
    names: &DirectiveNames,
    directives: &DirectiveList,
    federation_name: &str,
) -> bool {
    directives
        .iter()
        .any(|d| names.resolve(d.name.as_str()) == Resolved::Federation(federation_name))
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

/// GraphQL's scalars and the federation and link specs' own scalars and enums, which every
/// subgraph may define. Anything else (an object called `join__Graph`) is judged like any type.
fn is_spec_type(definition: &Definition, name: &str) -> bool {
    let spec_kind = matches!(
        definition,
        Definition::ScalarTypeDefinition(_)
            | Definition::EnumTypeDefinition(_)
            | Definition::InputObjectTypeDefinition(_)
    );
    matches!(name, "String" | "Int" | "Float" | "Boolean" | "ID")
        || matches!(name, "_Service" | "_Entity")
        || (spec_kind
            && (SPEC_TYPES.contains(&name)
                || name.starts_with("link__")
                || name.starts_with("federation__")))
}

/// A type `name` belongs to the namespace whose PascalCase is `prefix` when an uppercase letter
/// follows it: `crm` owns `CrmContact`, never `Crm2Contact` nor `Crmx`.
fn has_type_prefix(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// A field `name` belongs to `namespace` when nothing or an uppercase letter follows it.
fn has_field_prefix(name: &str, namespace: &str) -> bool {
    name.strip_prefix(namespace)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase()))
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

    const LINK: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable", "@override", "@external", "@requires", "@provides", "@tag", "@inaccessible", "@authenticated"])"#;

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
            "`Profile` must start with `Analytics` followed by an uppercase letter (e.g. `AnalyticsProfile`)"
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
        let fields: String = (0..120).map(|i| format!("analyticsF{i}: Int ")).collect();
        let violations = check_app(&format!("type Query {{ {fields} }}"));
        assert_eq!(
            codes(&violations),
            [("TOO_MANY_FIELDS", Some("Query"), None)]
        );
    }

    #[test]
    fn what_one_app_may_cost_is_bounded() {
        let arguments: String = (0..21).map(|i| format!("a{i}: Int ")).collect();
        let violations = check_app(&format!(
            "type Query {{ analyticsWide({arguments}): Int analyticsDeep: [[[[Int]]]] }}
             input AnalyticsFilter {{ grid: [[[[String!]!]]] }}"
        ));
        assert_eq!(
            codes(&violations),
            [
                ("TOO_MANY_ARGUMENTS", Some("Query"), Some("analyticsWide")),
                ("TYPE_TOO_DEEP", Some("Query"), Some("analyticsDeep")),
                ("TYPE_TOO_DEEP", Some("AnalyticsFilter"), Some("grid")),
            ]
        );
        assert_eq!(
            violations[0].message,
            "`Query.analyticsWide` has 21 arguments; the limit is 20"
        );
        // Many types, each within its own limit, beyond the limit of fields in all.
        let types: String = (0..25)
            .map(|t| {
                let fields: String = (0..90).map(|f| format!("f{f}: Int ")).collect();
                format!(
                    "type AnalyticsT{t} {{ {fields} }}
"
                )
            })
            .collect();
        let violations = check_app(&types);
        assert_eq!(codes(&violations), [("TOO_MANY_FIELDS_IN_ALL", None, None)]);
        assert_eq!(
            violations[0].message,
            "the app defines 2250 fields, input fields and enum values in all; the limit is 2000"
        );
        // Three levels of lists are fine.
        assert!(check_app("type Query { analyticsGrid: [[[Int]]] }").is_empty());
    }

    #[test]
    fn generated_sample_apps_follow_the_policy() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema");
        let real: Vec<SubgraphSdl> = ["identity", "apps", "licensing"]
            .iter()
            .map(|name| SubgraphSdl {
                name: (*name).into(),
                routing_url: String::new(),
                sdl: std::fs::read_to_string(format!("{root}/{name}.graphql")).expect("core SDL"),
            })
            .collect();
        let core = CoreSchema::from_subgraphs(&real).expect("the core parses");
        for seed in [1, 2, 3] {
            for plain in [true, false] {
                for app in crate::sample_apps::apps(12, seed, plain) {
                    let violations = check(&app.name, &app.sdl, &core, &Limits::default());
                    assert!(
                        violations.is_empty(),
                        "{}: {violations:?}\n{}",
                        app.name,
                        app.sdl
                    );
                }
            }
        }
    }

    #[test]
    fn unparsable_sdl_is_one_violation() {
        let violations = check_app("type Query {");
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].code, "INVALID_SDL");
    }

    fn check_raw(namespace: &str, sdl: &str) -> Vec<Violation> {
        check(namespace, sdl, &core(), &Limits::default())
    }

    #[test]
    fn connectors_and_other_specs_are_refused_by_name() {
        let violations = check_raw(
            "analytics",
            r#"extend schema
                 @link(url: "https://specs.apollo.dev/federation/v2.10", import: ["@key"])
                 @link(url: "https://specs.apollo.dev/connect/v0.1", import: ["@connect", "@source"])
                 @source(name: "internal", http: { baseURL: "http://169.254.169.254" })
               type Query { analyticsSecrets: String @connect(source: "internal", http: { GET: "/latest" }, selection: "$") }"#,
        );
        assert_eq!(
            codes(&violations),
            [
                ("LINK_REFUSED", None, None),
                ("RESTRICTED_DIRECTIVE", None, None),
                (
                    "RESTRICTED_DIRECTIVE",
                    Some("Query"),
                    Some("analyticsSecrets")
                ),
            ]
        );
        assert!(
            violations[0].message.contains("the `connect` spec"),
            "{}",
            violations[0].message
        );
    }

    #[test]
    fn renamed_and_prefixed_directives_are_judged_by_what_they_are() {
        for (link, spelled) in [
            (
                r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", { name: "@override", as: "@takeover" }])"#,
                "takeover",
            ),
            (
                r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])"#,
                "federation__override",
            ),
            (
                r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", as: "fed", import: ["@key"])"#,
                "fed__override",
            ),
        ] {
            let violations = check_raw(
                "analytics",
                &format!(
                    "{link}\ntype User @key(fields: \"id\") {{ id: ID! analyticsEmail: String @{spelled}(from: \"identity\") }}"
                ),
            );
            assert_eq!(
                codes(&violations),
                [("RESTRICTED_DIRECTIVE", Some("User"), Some("analyticsEmail"))],
                "{spelled}"
            );
            assert_eq!(
                violations[0].message,
                format!(
                    "`@{spelled}` (federation's `@override`) on `User.analyticsEmail` is not allowed in app subgraphs"
                )
            );
        }
    }

    #[test]
    fn only_id_flows_between_the_core_and_an_app() {
        let violations = check_app(
            "type User @key(fields: \"id email\") { id: ID! email: String @external analyticsScore: Int @requires(fields: \"name\") }\n\
             type Query { analyticsTop: [User] @provides(fields: \"createdAt\") analyticsBoard: AnalyticsBoard }\n\
             type AnalyticsBoard @key(fields: \"analyticsId owner { email }\") { analyticsId: ID! owner: User }",
        );
        assert_eq!(
            codes(&violations),
            [
                ("KEY_SELECTS_CORE_FIELD", Some("User"), None),
                ("CORE_FIELD_REDEFINED", Some("User"), Some("email")),
                (
                    "REQUIRES_SELECTS_CORE_FIELD",
                    Some("User"),
                    Some("analyticsScore")
                ),
                (
                    "PROVIDES_SELECTS_CORE_FIELD",
                    Some("Query"),
                    Some("analyticsTop")
                ),
                ("KEY_SELECTS_CORE_FIELD", Some("AnalyticsBoard"), None),
            ]
        );
        assert!(
            violations[0].message.contains("selects `User.email`"),
            "{}",
            violations[0].message
        );
        assert!(
            violations[4].message.contains("selects `User.email`"),
            "{}",
            violations[4].message
        );
        // `id` and the app's own fields may be selected.
        let fine = check_app(
            "type User @key(fields: \"id\") { id: ID! analyticsA: Int analyticsB: Int @requires(fields: \"analyticsA\") }\n\
             type AnalyticsBoard @key(fields: \"analyticsId owner { id }\") { analyticsId: ID! owner: User }\n\
             type Query { analyticsBoard: AnalyticsBoard }",
        );
        assert_eq!(fine, [], "{fine:?}");
    }

    #[test]
    fn a_core_entity_stub_carries_only_its_key() {
        let violations = check_app(
            "type User @key(fields: \"id\") @tag(name: \"x\") { id: ID! @inaccessible analyticsScore: Int @inaccessible }",
        );
        assert_eq!(
            codes(&violations),
            [
                ("RESTRICTED_DIRECTIVE", Some("User"), None),
                ("RESTRICTED_DIRECTIVE", Some("User"), Some("id")),
            ]
        );
    }

    #[test]
    fn namespace_edges() {
        let violations = check_raw(
            "crm",
            &format!(
                "{LINK}\ntype Query {{ crm2Deals: Int crmx: Int crm: Int crmDeals: Crm2Deal _secret: Int }}\n\
                 type Crm2Deal {{ id: ID }}\ntype Crm {{ id: ID }}\ntype CrmDeal {{ _internal: Int amount: Int }}"
            ),
        );
        assert_eq!(
            codes(&violations),
            [
                ("FIELD_NOT_NAMESPACED", Some("Query"), Some("crm2Deals")),
                ("FIELD_NOT_NAMESPACED", Some("Query"), Some("crmx")),
                ("FIELD_NOT_NAMESPACED", Some("Query"), Some("_secret")),
                ("TYPE_NOT_NAMESPACED", Some("Crm2Deal"), None),
                ("TYPE_NOT_NAMESPACED", Some("Crm"), None),
                ("RESERVED_NAME", Some("CrmDeal"), Some("_internal")),
            ]
        );
    }

    #[test]
    fn root_types_keep_their_names() {
        let violations = check_raw(
            "analytics",
            &format!(
                "{LINK}\nschema {{ query: AnalyticsRoot }}\ntype AnalyticsRoot {{ users: Int }}"
            ),
        );
        assert_eq!(
            codes(&violations),
            [("ROOT_TYPE_RENAMED", Some("AnalyticsRoot"), None)]
        );
    }
}

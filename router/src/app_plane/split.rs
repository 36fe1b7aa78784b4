//! Splitting one of the router's fetches to the plane into each app's part: an app is asked
//! only for its own fields (and the core's keys), and where another app's fields sit on a core
//! entity inside its answer, that part is left for the other app, by the entity's `id`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use apollo_compiler::ast::{
    Argument, Definition, Document, Field, FragmentDefinition, InlineFragment, OperationDefinition,
    OperationType, Selection, Value, VariableDefinition,
};
use apollo_compiler::{Name, Node};

use super::map::PlaneMap;

/// Aliases the plane adds where another app's fields hang on an object: its `id` and type, to
/// ask that app for it. Removed before the router sees the answer.
pub const ID_KEY: &str = "__nexus_plane_id";
pub const TYPE_KEY: &str = "__nexus_plane_type";

/// Another app's fields on the objects at `path` (response keys from the part's root) of type
/// `ty`.
#[derive(Debug)]
pub struct Deferred {
    pub path: Vec<String>,
    pub ty: Name,
    pub app: Arc<str>,
    pub selections: Vec<Selection>,
}

pub struct Splitter<'a> {
    pub map: &'a PlaneMap,
    pub fragments: HashMap<Name, Node<FragmentDefinition>>,
}

impl<'a> Splitter<'a> {
    pub fn new(map: &'a PlaneMap, document: &Document) -> Self {
        let fragments = document
            .definitions
            .iter()
            .filter_map(|d| match d {
                Definition::FragmentDefinition(f) => Some((f.name.clone(), f.clone())),
                _ => None,
            })
            .collect();
        Splitter { map, fragments }
    }

    /// What `app` is asked of `selections` on an object of type `parent` at `path`; other apps'
    /// fields on it go to `deferred`.
    pub fn own(
        &self,
        app: &Arc<str>,
        parent: &Name,
        selections: &[Selection],
        path: &[String],
        deferred: &mut Vec<Deferred>,
    ) -> Vec<Selection> {
        let mut kept = Vec::new();
        let mut needs_key = false;
        for selection in selections {
            match selection {
                Selection::Field(field) => {
                    if field.name.starts_with("__") {
                        kept.push(selection.clone());
                        continue;
                    }
                    match self.map.owner(parent, &field.name) {
                        Some(owner) if owner != app => {
                            // Only an entity (with an `id`) can be handed to another app.
                            if self.map.field_type(parent, "id").is_some() {
                                needs_key = true;
                                defer(deferred, path, parent, owner, selection.clone());
                            }
                        }
                        _ => kept.push(Selection::Field(
                            self.own_field(app, parent, field, path, deferred),
                        )),
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let ty = fragment
                        .type_condition
                        .clone()
                        .unwrap_or_else(|| parent.clone());
                    let inner = self.own(app, &ty, &fragment.selection_set, path, deferred);
                    if !inner.is_empty() {
                        let mut fragment = fragment.clone();
                        fragment.make_mut().selection_set = inner;
                        kept.push(Selection::InlineFragment(fragment));
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let Some(definition) = self.fragments.get(&spread.fragment_name) else {
                        continue;
                    };
                    let ty = definition.type_condition.clone();
                    let inner = self.own(app, &ty, &definition.selection_set, path, deferred);
                    if !inner.is_empty() {
                        kept.push(Selection::InlineFragment(Node::new(InlineFragment {
                            type_condition: Some(ty),
                            directives: spread.directives.clone(),
                            selection_set: inner,
                        })));
                    }
                }
            }
        }
        if needs_key {
            kept.push(aliased(ID_KEY, "id"));
            kept.push(aliased(TYPE_KEY, "__typename"));
        }
        kept
    }

    fn own_field(
        &self,
        app: &Arc<str>,
        parent: &Name,
        field: &Node<Field>,
        path: &[String],
        deferred: &mut Vec<Deferred>,
    ) -> Node<Field> {
        if field.selection_set.is_empty() {
            return field.clone();
        }
        let child = self
            .map
            .field_type(parent, &field.name)
            .unwrap_or_else(|| parent.clone());
        let mut inner_path = path.to_vec();
        inner_path.push(response_key(field));
        let inner = self.own(app, &child, &field.selection_set, &inner_path, deferred);
        let mut field = field.clone();
        field.make_mut().selection_set = inner;
        field
    }

    /// Fragment spreads replaced by their fragments, at every level.
    pub fn inline(&self, selections: &[Selection]) -> Vec<Selection> {
        selections
            .iter()
            .filter_map(|s| match s {
                Selection::FragmentSpread(spread) => {
                    let definition = self.fragments.get(&spread.fragment_name)?;
                    Some(Selection::InlineFragment(Node::new(InlineFragment {
                        type_condition: Some(definition.type_condition.clone()),
                        directives: spread.directives.clone(),
                        selection_set: self.inline(&definition.selection_set),
                    })))
                }
                Selection::InlineFragment(fragment) => {
                    let mut fragment = fragment.clone();
                    let inner = self.inline(&fragment.selection_set);
                    fragment.make_mut().selection_set = inner;
                    Some(Selection::InlineFragment(fragment))
                }
                Selection::Field(field) => {
                    let mut field = field.clone();
                    let inner = self.inline(&field.selection_set);
                    field.make_mut().selection_set = inner;
                    Some(Selection::Field(field))
                }
            })
            .collect()
    }
}

fn defer(
    deferred: &mut Vec<Deferred>,
    path: &[String],
    ty: &Name,
    app: &Arc<str>,
    selection: Selection,
) {
    if let Some(group) = deferred
        .iter_mut()
        .find(|d| d.path == path && d.ty == *ty && d.app == *app)
    {
        group.selections.push(selection);
        return;
    }
    deferred.push(Deferred {
        path: path.to_vec(),
        ty: ty.clone(),
        app: app.clone(),
        selections: vec![selection],
    });
}

fn aliased(alias: &str, name: &str) -> Selection {
    Selection::Field(Node::new(Field {
        alias: Some(Name::new_unchecked(alias)),
        name: Name::new_unchecked(name),
        arguments: Vec::new(),
        directives: Default::default(),
        selection_set: Vec::new(),
    }))
}

pub fn response_key(field: &Field) -> String {
    field.alias.as_ref().unwrap_or(&field.name).to_string()
}

/// The text of an operation of `kind` named `name` with `selections`, declaring those of
/// `variables` it uses, and their names: an app is sent no other variable's value.
pub fn operation(
    kind: OperationType,
    name: Option<Name>,
    variables: &[Node<VariableDefinition>],
    selections: Vec<Selection>,
) -> (String, Vec<String>) {
    let mut used = BTreeSet::new();
    for s in &selections {
        variables_in_selection(s, &mut used);
    }
    let operation = OperationDefinition {
        operation_type: kind,
        name,
        variables: variables
            .iter()
            .filter(|v| used.contains(v.name.as_str()))
            .cloned()
            .collect(),
        directives: Default::default(),
        selection_set: selections,
    };
    let names = operation
        .variables
        .iter()
        .map(|v| v.name.to_string())
        .collect();
    let mut document = Document::new();
    document
        .definitions
        .push(Definition::OperationDefinition(Node::new(operation)));
    (document.to_string(), names)
}

/// `_entities(representations: $representations) { selections }` with `variables` it uses.
pub fn entities_operation(
    name: Option<Name>,
    variables: &[Node<VariableDefinition>],
    selections: Vec<Selection>,
) -> (String, Vec<String>) {
    let representations = Name::new_unchecked("representations");
    let field = Field {
        alias: None,
        name: Name::new_unchecked("_entities"),
        arguments: vec![Node::new(Argument {
            name: representations.clone(),
            value: Node::new(Value::Variable(representations.clone())),
        })],
        directives: Default::default(),
        selection_set: selections,
    };
    let mut declared: Vec<Node<VariableDefinition>> = variables
        .iter()
        .filter(|v| v.name != representations)
        .cloned()
        .collect();
    declared.push(Node::new(VariableDefinition {
        name: representations,
        ty: Node::new(
            apollo_compiler::ast::Type::NonNullNamed(Name::new_unchecked("_Any"))
                .list()
                .non_null(),
        ),
        default_value: None,
        directives: Default::default(),
    }));
    operation(
        OperationType::Query,
        name,
        &declared,
        vec![Selection::Field(Node::new(field))],
    )
}

fn variables_in_selection(selection: &Selection, used: &mut BTreeSet<String>) {
    match selection {
        Selection::Field(f) => {
            for a in &f.arguments {
                variables_in_value(&a.value, used);
            }
            for d in f.directives.iter() {
                for a in &d.arguments {
                    variables_in_value(&a.value, used);
                }
            }
            for s in &f.selection_set {
                variables_in_selection(s, used);
            }
        }
        Selection::InlineFragment(f) => {
            for d in f.directives.iter() {
                for a in &d.arguments {
                    variables_in_value(&a.value, used);
                }
            }
            for s in &f.selection_set {
                variables_in_selection(s, used);
            }
        }
        Selection::FragmentSpread(f) => {
            for d in f.directives.iter() {
                for a in &d.arguments {
                    variables_in_value(&a.value, used);
                }
            }
        }
    }
}

fn variables_in_value(value: &Value, used: &mut BTreeSet<String>) {
    match value {
        Value::Variable(name) => {
            used.insert(name.to_string());
        }
        Value::List(items) => items.iter().for_each(|v| variables_in_value(v, used)),
        Value::Object(fields) => fields.iter().for_each(|(_, v)| variables_in_value(v, used)),
        _ => {}
    }
}

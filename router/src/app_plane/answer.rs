//! Putting apps' answers together: each answer is cut to what its app was asked (an app never
//! writes another's fields), entities are placed back where the router asked for them, and the
//! plane's own keys are removed.

use apollo_compiler::ast::Selection;
use apollo_router::graphql::{self, JsonPath, JsonPathElement};
use serde_json_bytes::{ByteString, Map, Value};

use super::split::{ID_KEY, TYPE_KEY, response_key};

/// `value` with only what `selections` ask for, at every level.
pub fn project(value: Value, selections: &[Selection]) -> Value {
    match value {
        Value::Object(mut object) => {
            let mut out = Map::new();
            collect(&mut object, selections, &mut out);
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| project(item, selections))
                .collect(),
        ),
        other => other,
    }
}

fn collect(
    object: &mut Map<ByteString, Value>,
    selections: &[Selection],
    out: &mut Map<ByteString, Value>,
) {
    // A key may be asked in several fragments, each with part of what is below it.
    let mut asked: Vec<(String, Vec<Selection>)> = Vec::new();
    gather(selections, &mut asked);
    for (key, below) in asked {
        if let Some(value) = object.remove(key.as_str()) {
            let value = if below.is_empty() {
                value
            } else {
                project(value, &below)
            };
            out.insert(key, value);
        }
    }
}

fn gather(selections: &[Selection], asked: &mut Vec<(String, Vec<Selection>)>) {
    for selection in selections {
        match selection {
            Selection::Field(field) => {
                let key = response_key(field);
                match asked.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, below)) => below.extend(field.selection_set.iter().cloned()),
                    None => asked.push((key, field.selection_set.clone())),
                }
            }
            Selection::InlineFragment(fragment) => gather(&fragment.selection_set, asked),
            // Spreads are inlined before anything is asked.
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// Adds `value` at `key`, merging objects (the same key asked twice, or by two apps).
pub fn merge_into(out: &mut Map<ByteString, Value>, key: String, value: Value) {
    match (out.get_mut(key.as_str()), value) {
        (Some(Value::Object(mine)), Value::Object(theirs)) => merge_objects(mine, theirs),
        (Some(Value::Array(mine)), Value::Array(theirs)) if mine.len() == theirs.len() => {
            for (m, t) in mine.iter_mut().zip(theirs) {
                if let (Value::Object(m), Value::Object(t)) = (m, t) {
                    merge_objects(m, t);
                }
            }
        }
        (Some(_), _) => {}
        (None, value) => {
            out.insert(key, value);
        }
    }
}

pub fn merge_objects(mine: &mut Map<ByteString, Value>, theirs: Map<ByteString, Value>) {
    for (key, value) in theirs {
        merge_into(mine, key.as_str().to_owned(), value);
    }
}

/// The objects at `path` (response keys, through lists) below `value`, with their paths from it.
pub fn objects_at(value: &Value, path: &[String]) -> Vec<Vec<JsonPathElement>> {
    let mut found = Vec::new();
    walk(value, path, Vec::new(), &mut found);
    found
}

fn walk(
    value: &Value,
    path: &[String],
    at: Vec<JsonPathElement>,
    found: &mut Vec<Vec<JsonPathElement>>,
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let mut next = at.clone();
                next.push(JsonPathElement::Index(i));
                walk(item, path, next, found);
            }
        }
        Value::Object(object) => match path.split_first() {
            None => found.push(at),
            Some((key, rest)) => {
                if let Some(inner) = object.get(key.as_str()) {
                    let mut next = at;
                    next.push(JsonPathElement::Key(key.clone(), None));
                    walk(inner, rest, next, found);
                }
            }
        },
        _ => {}
    }
}

/// The object at `path` below `value` (`path` relative to `value`).
pub fn object_mut<'v>(
    value: &'v mut Value,
    path: &[JsonPathElement],
) -> Option<&'v mut Map<ByteString, Value>> {
    let mut here = value;
    for step in path {
        here = match (here, step) {
            (Value::Object(object), JsonPathElement::Key(key, _)) => {
                object.get_mut(key.as_str())?
            }
            (Value::Array(items), JsonPathElement::Index(i)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    here.as_object_mut()
}

/// The entity the plane may hand to another app: its `id` and type as the plane asked them.
pub fn representation(object: &Map<ByteString, Value>, ty: &str) -> Option<Value> {
    if object.get(TYPE_KEY).and_then(Value::as_str) != Some(ty) {
        return None;
    }
    let id = object.get(ID_KEY)?;
    if id.is_null() {
        return None;
    }
    let mut representation = Map::new();
    representation.insert("__typename", Value::String(ty.into()));
    representation.insert("id", id.clone());
    Some(Value::Object(representation))
}

/// Removes the plane's own keys everywhere in `value`.
pub fn strip(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.remove(ID_KEY);
            object.remove(TYPE_KEY);
            for (_, inner) in object.iter_mut() {
                strip(inner);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// `error` with a path of an answer to `_entities` made relative to where entity `j` really is:
/// `places[j]` (or left as it is when it is not about an entity).
pub fn relocate(mut error: graphql::Error, places: &[Vec<JsonPathElement>]) -> graphql::Error {
    let Some(JsonPath(path)) = &error.path else {
        return error;
    };
    let place = match path.as_slice() {
        [
            JsonPathElement::Key(first, _),
            JsonPathElement::Index(j),
            ..,
        ] if first == "_entities" => places.get(*j).cloned(),
        _ => None,
    };
    if let Some(mut place) = place {
        place.extend(path.iter().skip(2).cloned());
        error.path = Some(JsonPath(place));
    }
    error
}

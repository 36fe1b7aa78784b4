//! What one app may cost everyone: its SDL's size in fields in all, arguments per field and how
//! deeply its types nest lists. Composition, the router's query planner and every replica's
//! memory grow with these; without bounds one app could make each approval slow for all.
//! (The SDL's bytes, its types and the fields of one type are bounded in `check` and
//! `Checker::definition`.)

use apollo_compiler::Node;
use apollo_compiler::ast::{Definition, Document, FieldDefinition, InputValueDefinition, Type};

use super::{At, Checker, Limits};

/// Checks the document's fields in all, each field's arguments and every type's list nesting.
pub(super) fn check(checker: &mut Checker<'_>, document: &Document, limits: &Limits) {
    let mut in_all = 0;
    for definition in &document.definitions {
        let Some(name) = definition.name().map(|n| n.to_string()) else {
            continue;
        };
        let (fields, inputs, values) = members(definition);
        in_all += fields.len() + inputs.len() + values;
        for field in fields {
            let at = At {
                ty: Some(&name),
                field: Some(&field.name),
            };
            if field.arguments.len() > limits.max_arguments_per_field {
                checker.violation(
                    "TOO_MANY_ARGUMENTS",
                    format!(
                        "`{name}.{}` has {} arguments; the limit is {}",
                        field.name,
                        field.arguments.len(),
                        limits.max_arguments_per_field
                    ),
                    at,
                );
            }
            let deepest = std::iter::once(list_depth(&field.ty))
                .chain(field.arguments.iter().map(|a| list_depth(&a.ty)))
                .max()
                .unwrap_or(0);
            too_deep(checker, deepest, limits, &name, &field.name);
        }
        for input in inputs {
            too_deep(checker, list_depth(&input.ty), limits, &name, &input.name);
        }
    }
    if in_all > limits.max_fields_in_all {
        checker.violation(
            "TOO_MANY_FIELDS_IN_ALL",
            format!(
                "the app defines {in_all} fields, input fields and enum values in all; the limit is {}",
                limits.max_fields_in_all
            ),
            At {
                ty: None,
                field: None,
            },
        );
    }
}

fn too_deep(checker: &mut Checker<'_>, depth: usize, limits: &Limits, ty: &str, field: &str) {
    if depth > limits.max_list_depth {
        checker.violation(
            "TYPE_TOO_DEEP",
            format!(
                "`{ty}.{field}` nests lists {depth} deep; the limit is {}",
                limits.max_list_depth
            ),
            At {
                ty: Some(ty),
                field: Some(field),
            },
        );
    }
}

/// How many lists a type nests (`[[Int!]]` is 2).
fn list_depth(ty: &Type) -> usize {
    match ty {
        Type::Named(_) | Type::NonNullNamed(_) => 0,
        Type::List(inner) | Type::NonNullList(inner) => 1 + list_depth(inner),
    }
}

/// A definition's fields, input fields and number of enum values.
fn members(
    definition: &Definition,
) -> (
    &[Node<FieldDefinition>],
    &[Node<InputValueDefinition>],
    usize,
) {
    match definition {
        Definition::ObjectTypeDefinition(d) => (&d.fields, &[], 0),
        Definition::ObjectTypeExtension(d) => (&d.fields, &[], 0),
        Definition::InterfaceTypeDefinition(d) => (&d.fields, &[], 0),
        Definition::InterfaceTypeExtension(d) => (&d.fields, &[], 0),
        Definition::InputObjectTypeDefinition(d) => (&[], &d.fields, 0),
        Definition::InputObjectTypeExtension(d) => (&[], &d.fields, 0),
        Definition::EnumTypeDefinition(d) => (&[], &[], d.values.len()),
        Definition::EnumTypeExtension(d) => (&[], &[], d.values.len()),
        _ => (&[], &[], 0),
    }
}

//! What an operation asks of the platform, read from its text before anything runs: nesting depth,
//! fields selected, aliases, root fields, lexical tokens and an estimated cost. `nexus.limits`
//! refuses operations over its limits; `nexus.rate_limit` charges the cost to the caller's budget.
//!
//! Fragments are expanded in the counts (a fragment spread ten times counts ten times), but each
//! fragment is measured once per operation, so a hostile document cannot make the measuring
//! itself expensive.
//!
//! The cost estimates how many objects the operation can make the subgraphs load: every field of
//! an object type costs 1 (scalars 0), times how many of its parent there can be. A field with a
//! `first`/`last` argument multiplies what is below it by that value (from the operation, a
//! variable, the argument's default, or else `default_list_size`); so does any other list field
//! (by `default_list_size`), except the `edges`/`nodes` lists of a `…Connection` type, whose
//! paginating field has already counted them.

use std::collections::HashMap;

use apollo_compiler::executable::{Operation, Selection, SelectionSet};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Name, Schema, ast};
use serde::{Deserialize, Serialize};

/// The measured shape of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The longest chain of nested fields; `{ me { id } }` is 2.
    pub depth: u64,
    /// Fields selected, with fragments expanded.
    pub height: u64,
    pub aliases: u64,
    pub root_fields: u64,
    /// Lexical tokens as apollo-router's parser counts them (whitespace included).
    pub tokens: u64,
    /// Objects the operation may load (see the module's documentation).
    pub cost: u64,
}

/// Lists without a page size are assumed this long.
pub const DEFAULT_LIST_SIZE: u64 = 20;

/// A parsed operation document, ready to be measured for any operation and variables (parsing
/// is the expensive part: `nexus.limits` keeps these per query text).
pub struct Analyzed {
    document: ExecutableDocument,
    tokens: u64,
}

impl Analyzed {
    /// `Err` when the document cannot be read (the router has already refused such a document
    /// before this runs: a bug, or a race with a reload).
    pub fn parse(schema: &Valid<Schema>, query: &str) -> Result<Analyzed, String> {
        let mut parser = apollo_compiler::parser::Parser::new();
        let document = parser
            .parse_executable(schema, query, "operation.graphql")
            .map_err(|e| e.errors.to_string())?;
        Ok(Analyzed {
            document,
            tokens: parser.tokens_reached() as u64,
        })
    }

    /// Measures the operation `operation_name`, with `variables` for page sizes given as
    /// variables.
    pub fn measure(
        &self,
        operation_name: Option<&str>,
        variables: &Variables,
        default_list_size: u64,
    ) -> Result<Measurement, String> {
        let document = &self.document;
        let operation = document
            .operations
            .get(operation_name)
            .map_err(|e| e.message().to_string())?;
        let mut walker = Walker {
            document,
            operation,
            variables,
            default_list_size,
            fragments: HashMap::new(),
        };
        let root = walker.selection_set(&operation.selection_set, 0);
        Ok(Measurement {
            depth: root.depth,
            height: root.height,
            aliases: root.aliases,
            root_fields: root_fields(document, &operation.selection_set, 0),
            tokens: self.tokens,
            cost: root.cost,
        })
    }
}

/// A request's variables, as apollo-router holds them.
pub type Variables = serde_json_bytes::Map<serde_json_bytes::ByteString, serde_json_bytes::Value>;

/// A selection set's totals, for one instance of its parent.
#[derive(Clone, Copy, Default)]
struct Totals {
    depth: u64,
    height: u64,
    aliases: u64,
    cost: u64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.depth = self.depth.max(other.depth);
        self.height = self.height.saturating_add(other.height);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.cost = self.cost.saturating_add(other.cost);
    }
}

struct Walker<'a> {
    document: &'a ExecutableDocument,
    operation: &'a Operation,
    variables: &'a Variables,
    default_list_size: u64,
    /// Each named fragment measured once (validation has refused cycles).
    fragments: HashMap<Name, Totals>,
}

impl Walker<'_> {
    fn selection_set(&mut self, set: &SelectionSet, nesting: usize) -> Totals {
        let mut totals = Totals::default();
        // Validation refuses fragment cycles, but a document this walker sees is not always the
        // validated one (a reload between validation and here): stay bounded regardless.
        if nesting > 512 {
            return totals;
        }
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    let below = self.selection_set(&field.selection_set, nesting + 1);
                    let fanout = self.fanout(set.ty.as_str(), field);
                    let own_cost = u64::from(!field.selection_set.selections.is_empty());
                    // Introspection is answered by the router from the schema it holds: it loads
                    // nothing, however large its shape.
                    let (own_cost, below_cost) = if field.name.starts_with("__") {
                        (0, 0)
                    } else {
                        (own_cost, below.cost)
                    };
                    totals.add(Totals {
                        depth: below.depth + 1,
                        height: below.height.saturating_add(1),
                        aliases: below.aliases + u64::from(field.alias.is_some()),
                        cost: own_cost.saturating_add(below_cost).saturating_mul(fanout),
                    });
                }
                Selection::InlineFragment(inline) => {
                    totals.add(self.selection_set(&inline.selection_set, nesting + 1));
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.fragment_name;
                    let fragment_totals = match self.fragments.get(name) {
                        Some(totals) => *totals,
                        None => {
                            let Some(fragment) = self.document.fragments.get(name) else {
                                continue;
                            };
                            let measured = self.selection_set(&fragment.selection_set, nesting + 1);
                            self.fragments.insert(name.clone(), measured);
                            measured
                        }
                    };
                    totals.add(fragment_totals);
                }
            }
        }
        totals
    }

    /// How many instances of `field`'s value one instance of its parent can have.
    fn fanout(&self, parent_type: &str, field: &apollo_compiler::executable::Field) -> u64 {
        for name in ["first", "last"] {
            if let Some(size) = self.argument(field, name) {
                return size;
            }
        }
        let is_list = field.definition.ty.is_list();
        if is_list
            && parent_type.ends_with("Connection")
            && ["edges", "nodes"].contains(&field.name.as_str())
        {
            return 1;
        }
        if is_list { self.default_list_size } else { 1 }
    }

    /// An integer argument's value: given in the operation, through a variable, or defaulted in
    /// the schema.
    fn argument(&self, field: &apollo_compiler::executable::Field, name: &str) -> Option<u64> {
        let given = field.arguments.iter().find(|a| a.name == name);
        let declared = field.definition.arguments.iter().find(|a| a.name == name);
        let value = match given.map(|a| a.value.as_ref()) {
            Some(ast::Value::Variable(variable)) => self
                .variables
                .get(variable.as_str())
                .and_then(|v| v.as_u64())
                .or_else(|| {
                    self.operation
                        .variables
                        .iter()
                        .find(|v| v.name == *variable)
                        .and_then(|v| v.default_value.as_ref())
                        .and_then(|v| v.to_i32())
                        .and_then(|v| u64::try_from(v).ok())
                }),
            Some(value) => value.to_i32().and_then(|v| u64::try_from(v).ok()),
            None => None,
        };
        value
            .or_else(|| {
                declared
                    .and_then(|d| d.default_value.as_ref())
                    .and_then(|v| v.to_i32())
                    .and_then(|v| u64::try_from(v).ok())
            })
            .or_else(|| declared.map(|_| self.default_list_size))
    }
}

/// Fields at the top of the operation, through fragments.
fn root_fields(document: &ExecutableDocument, set: &SelectionSet, nesting: usize) -> u64 {
    if nesting > 64 {
        return 0;
    }
    set.selections
        .iter()
        .map(|selection| match selection {
            Selection::Field(_) => 1,
            Selection::InlineFragment(inline) => {
                root_fields(document, &inline.selection_set, nesting + 1)
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.fragment_name)
                .map_or(0, |f| root_fields(document, &f.selection_set, nesting + 1)),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"
        type Query { me: User, organization(id: ID!): Organization, users(first: Int = 10): [User!]!, tags: [String!]! }
        type User { id: ID!, email: String!, organizations(first: Int, after: String): OrganizationConnection! }
        type Organization { id: ID!, name: String!, members(first: Int, after: String): MembershipConnection! }
        type OrganizationConnection { edges: [OrganizationEdge!]!, nodes: [Organization!]! }
        type OrganizationEdge { node: Organization! }
        type MembershipConnection { edges: [MembershipEdge!]!, nodes: [Membership!]! }
        type MembershipEdge { node: Membership! }
        type Membership { role: String!, user: User!, organization: Organization! }
    "#;

    fn schema() -> Valid<Schema> {
        Schema::parse_and_validate(SCHEMA, "schema.graphql").expect("schema")
    }

    fn measured(query: &str, variables: serde_json::Value) -> Measurement {
        let variables = match serde_json_bytes::Value::from(variables) {
            serde_json_bytes::Value::Object(map) => map,
            _ => Default::default(),
        };
        Analyzed::parse(&schema(), query)
            .and_then(|a| a.measure(None, &variables, DEFAULT_LIST_SIZE))
            .expect("measured")
    }

    #[test]
    fn a_small_query() {
        let m = measured("{ me { id email } }", serde_json::json!({}));
        assert_eq!(
            m,
            // Tokens as apollo-router's parser counts them: whitespace and the end included.
            Measurement {
                depth: 2,
                height: 3,
                aliases: 0,
                root_fields: 1,
                tokens: 14,
                cost: 1
            }
        );
    }

    #[test]
    fn pages_multiply_what_is_below_them() {
        let query = "{ me { organizations(first: 5) { edges { node { members(first: 10) { nodes { user { id } } } } } } } }";
        let m = measured(query, serde_json::json!({}));
        // me 1; organizations 5 × (connection 1 + edges 1 + node 1 + members 10 × (1 + nodes 1 + user 1))
        assert_eq!(m.cost, 1 + 5 * (1 + 1 + 1 + 10 * 3));
        assert_eq!(m.depth, 8);
    }

    #[test]
    fn page_sizes_come_from_variables_and_schema_defaults() {
        let query = "query($n: Int) { me { organizations(first: $n) { nodes { id } } } }";
        assert_eq!(
            measured(query, serde_json::json!({ "n": 50 })).cost,
            1 + 50 * 2
        );
        // No value and no default: the assumed list size.
        assert_eq!(
            measured(query, serde_json::json!({})).cost,
            1 + DEFAULT_LIST_SIZE * 2
        );
        // The schema's default (`users(first: Int = 10)`).
        assert_eq!(measured("{ users { id } }", serde_json::json!({})).cost, 10);
        // Scalars cost nothing, even in lists.
        assert_eq!(measured("{ tags }", serde_json::json!({})).cost, 0);
    }

    #[test]
    fn fragments_and_aliases_count_where_they_are_spread() {
        let query = r#"
            query { a: me { ...U } b: me { ...U } c: me { ...U } }
            fragment U on User { x: id y: id organizations(first: 2) { nodes { id } } }
        "#;
        let m = measured(query, serde_json::json!({}));
        assert_eq!(m.aliases, 3 + 3 * 2);
        assert_eq!(m.root_fields, 3);
        assert_eq!(m.height, 3 * (1 + 5));
        assert_eq!(m.cost, 3 * (1 + 2 * 2));
    }

    #[test]
    fn fragments_ten_wide_six_deep_are_measured_at_their_true_size_without_expanding_them() {
        // Each level spreads the next ten times: 10^6 `id`s at the bottom if expanded.
        let mut query = String::from("{ me { ...L0 } }\n");
        for level in 0..6 {
            let next = if level == 5 {
                "id".to_owned()
            } else {
                (0..10).map(|i| format!("a{i}: organizations(first: 1) {{ nodes {{ members(first: 1) {{ nodes {{ user {{ ...L{} }} }} }} }} }}", level + 1)).collect::<Vec<_>>().join(" ")
            };
            query.push_str(&format!("fragment L{level} on User {{ {next} }}\n"));
        }
        let m = measured(&query, serde_json::json!({}));
        assert!(m.height > 500_000, "{m:?}");
        assert!(m.aliases > 100_000, "{m:?}");
    }
}

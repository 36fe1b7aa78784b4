//! The second line behind the router's `nexus.limits`: each core subgraph refuses, by itself,
//! operations nested or sized far beyond what the router lets through (the router's fetches
//! nest a level or two deeper than the client's operation). Reached only by a caller that goes
//! around the router, or by a router configured with looser limits.

use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};

/// Nested fields a subgraph accepts (the router's default limit is 20).
pub const MAX_DEPTH: usize = 32;
/// async-graphql's complexity (one per field selected); the router's default limit is 1,000
/// fields.
pub const MAX_COMPLEXITY: usize = 5_000;

pub fn bounded<Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

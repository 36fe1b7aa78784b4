//! Ids are UUIDv7: unique without coordination and ordered by creation, which keyset pagination uses.

use async_graphql::ID;
use uuid::Uuid;

use crate::error::{Result, bad_input};

pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses a GraphQL `ID` argument; `what` names the entity in the error ("organization").
pub fn parse_id(id: &ID, what: &str) -> Result<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| {
        bad_input(format!(
            "`{}` is not a valid {what} id: ids are UUIDs",
            id.as_str()
        ))
    })
}

pub fn to_id(id: Uuid) -> ID {
    ID(id.to_string())
}

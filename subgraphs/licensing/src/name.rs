//! This service's name: the subgraph it serves, the source of the events it records.

pub const NAME: &str = "licensing";

//! This service's name: the subgraph it serves, the source of the events it records, and the
//! actor of what it does on its own (`service_actor`).

pub const NAME: &str = "apps";

/// The apps service itself, as the actor of what it does on its own (no request asked for it).
pub(crate) fn service_actor() -> nexus_kit::audit::Actor {
    nexus_kit::audit::Actor {
        kind: "service",
        id: Some(NAME.to_owned()),
    }
}

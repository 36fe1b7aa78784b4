//! The apps service's side of the contracts between the services (`nexus_protocol::internal`):
//! the router's installation lookup. Not reachable from the public port.

pub mod installation;

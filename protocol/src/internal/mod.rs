//! The contracts between Nexus's own services over HTTP: each module holds one call's path, its
//! request and its answer, so that the service that answers and every caller compile against the
//! same definitions. Each call carries a service token (`KeyStore::service_token`) and is refused
//! without one; none of these paths is served on the public port.
//!
//! | module | served by | asked by |
//! | --- | --- | --- |
//! | `membership` | identity | the router, apps, licensing |
//! | `account` | identity | apps (the OAuth pages, id_tokens, userinfo) |
//! | `api_key` | identity | the router (`X-Api-Key`) |
//! | `installation` | apps | the router (`nexus.auth`, `nexus.installation_gate`) |
//! | `supergraph` | apps (the registry's feed) | routers in other processes |

pub mod account;
pub mod api_key;
pub mod installation;
pub mod membership;
pub mod supergraph;

//! sea-orm entities of the tables apps owns.

pub mod app;
pub mod app_credential;
pub mod app_version;
pub mod installation;
pub mod supergraph_version;

//! sea-orm entities of the tables apps owns.

pub mod app;
pub mod installation;

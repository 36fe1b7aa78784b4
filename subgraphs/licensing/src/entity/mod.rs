//! sea-orm entities of the tables licensing owns.

pub mod activation;
pub mod license;

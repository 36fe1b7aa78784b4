//! sea-orm entities of the tables identity owns.

pub mod membership;
pub mod organization;
pub mod user;

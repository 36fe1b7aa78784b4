//! Test support, by concern: `db` (a throwaway database), `stack` (the whole stack on random
//! ports and a GraphQL client), `session` (signed-in users and organizations), `apps` (fake app
//! subgraphs, publishing and installing), `mail` (letters Nexus wrote, and what they ask for),
//! `audit` (the audit log as the database holds it), `browser` (a cookie-keeping client for the
//! OAuth pages).
#![allow(dead_code)]

mod apps;
mod audit;
mod browser;
mod db;
mod mail;
mod process;
mod receiver;
mod session;
mod stack;

pub use apps::*;
pub use audit::*;
pub use browser::*;
pub use db::*;
pub use mail::*;
pub use process::*;
pub use receiver::*;
pub use session::*;
pub use stack::*;

//! The app developer's kit: `nexus app new` writes a ready app project from the templates
//! embedded in this binary (Rust, Node.js, Python), each with a copy of the Nexus SDK;
//! `nexus app dev` runs the whole platform around it on loopback (or attaches to a running
//! `nexus dev`); `nexus app webhook trigger` sends it any event.

pub mod dev;
pub mod new;
pub mod webhook;

//! The app developer's kit: `nexus app new` writes a ready app project from the templates
//! embedded in this binary (Rust, Node.js, Python), each with a copy of the Nexus SDK.

pub mod new;

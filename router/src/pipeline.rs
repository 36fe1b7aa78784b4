//! The router pipeline, callable in process. apollo-router builds a new pipeline on every
//! supergraph reload and restarts its HTTP server with it, closing the connections it had. The
//! public port instead keeps its own connections and hands each GraphQL request straight to the
//! newest pipeline: `nexus.pipeline` (the outermost of Nexus's plugins) puts each pipeline it
//! wraps into this router's `Slot`, and a request keeps the pipeline it started on until it is
//! answered, so a reload neither drops nor repeats anything.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use apollo_router::services::router;

/// The newest pipeline of one router.
#[derive(Default)]
pub struct Slot {
    current: Mutex<Option<router::BoxCloneService>>,
}

impl Slot {
    /// A handle on the newest pipeline, if one was built.
    pub fn current(&self) -> Option<router::BoxCloneService> {
        self.current.lock().ok().and_then(|current| current.clone())
    }

    pub(crate) fn replace(&self, pipeline: router::BoxCloneService) {
        if let Ok(mut current) = self.current.lock() {
            *current = Some(pipeline);
        }
    }
}

/// The slots of this process's routers by name (each router's `nexus.pipeline` finds its own).
static SLOTS: LazyLock<Mutex<HashMap<String, Arc<Slot>>>> = LazyLock::new(Default::default);

/// A new, empty slot for the router named `name`.
pub fn register(name: &str) -> Arc<Slot> {
    let slot = Arc::new(Slot::default());
    if let Ok(mut slots) = SLOTS.lock() {
        slots.insert(name.to_owned(), slot.clone());
    }
    slot
}

/// The slot of the router named `name`.
pub(crate) fn find(name: &str) -> Option<Arc<Slot>> {
    SLOTS.lock().ok().and_then(|slots| slots.get(name).cloned())
}

/// Forgets the slot (its router stopped); requests in flight keep their pipeline.
pub fn unregister(name: &str) {
    if let Ok(mut slots) = SLOTS.lock() {
        slots.remove(name);
    }
}

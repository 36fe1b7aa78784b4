//! What the apps subgraph needs to accept app versions and publish supergraphs: the core
//! subgraphs, the fetch and size policies, the scope catalog, and the channel the router follows.

use tokio::sync::watch;

use std::sync::Arc;

use crate::compose::{CompositionErrors, SubgraphSdl};
use crate::composer::Composer;
use crate::policy::Limits;
use crate::sdl_fetch::FetchPolicy;
use crate::submission::SubmissionContext;

/// The last health check of a live app.
#[derive(Clone, Debug)]
pub struct AppHealth {
    pub up: bool,
    pub checked_at: chrono::DateTime<chrono::Utc>,
    pub latency_ms: u64,
    /// Why it is down.
    pub detail: Option<String>,
}

pub struct Registry {
    /// The core subgraphs with the URLs the router calls them at.
    pub core: Vec<SubgraphSdl>,
    pub fetch: FetchPolicy,
    pub limits: Limits,
    pub scope_catalog: Vec<&'static str>,
    /// Composes the core with apps, remembering what each app's composition proved.
    pub composer: Arc<Composer>,
    head: watch::Sender<Option<String>>,
    /// Set when the process shuts down: long-polling routers are answered at once.
    closing: watch::Sender<bool>,
    /// App namespace → its last health check.
    pub health: std::sync::RwLock<std::collections::HashMap<String, AppHealth>>,
    /// Held by whoever is publishing a new head in this process (the apps service also takes a
    /// database lock, for other processes).
    pub publishing: tokio::sync::Mutex<()>,
}

impl Registry {
    pub fn new(
        core: Vec<SubgraphSdl>,
        fetch: FetchPolicy,
        scope_catalog: Vec<&'static str>,
    ) -> Self {
        Registry {
            core,
            fetch,
            limits: Limits::default(),
            scope_catalog,
            composer: Arc::new(Composer::new()),
            head: watch::channel(None).0,
            closing: watch::channel(false).0,
            health: Default::default(),
            publishing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn context<'a>(&'a self, published: &'a [SubgraphSdl]) -> SubmissionContext<'a> {
        SubmissionContext {
            core: &self.core,
            published,
            scope_catalog: &self.scope_catalog,
            fetch: &self.fetch,
            limits: &self.limits,
            composer: &self.composer,
        }
    }

    /// The supergraph of the core and `apps` (see `Composer`).
    pub fn compose(&self, apps: &[SubgraphSdl]) -> Result<String, CompositionErrors> {
        self.composer.compose(&self.core, apps)
    }

    /// Makes `supergraph` the head: the router follows it.
    pub fn publish(&self, supergraph: String) {
        self.head.send_replace(Some(supergraph));
    }

    /// The process is shutting down: whoever waits on `closing` stops waiting.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The head as it changes (`None` until the first publish).
    pub fn subscribe(&self) -> watch::Receiver<Option<String>> {
        self.head.subscribe()
    }
}

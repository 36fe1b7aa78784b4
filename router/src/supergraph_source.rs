//! Where the router's supergraph comes from — one type for every way Nexus runs it: a fixed SDL
//! (`nexus serve router --supergraph FILE`), the registry in this process (`nexus dev`, the tests),
//! or the registry of another process over HTTP (`nexus serve router`). The router takes the first
//! supergraph from it at start and follows it until it stops; every supergraph passes the
//! `supergraph_guard` on the way in.

use std::time::Duration;

use anyhow::anyhow;
use futures::channel::mpsc;
use tokio::sync::watch;

use crate::registry_follower::RegistryFeed;

pub enum SupergraphSource {
    /// Never changes.
    Fixed(String),
    /// The head of the registry in this process (`None` until it has one).
    InProcess(watch::Receiver<Option<String>>),
    /// The head of a registry in another process, waited for at most `patience` at start.
    Registry {
        feed: RegistryFeed,
        patience: Duration,
    },
}

/// What the source gives at start: the first supergraph, and how to follow it.
pub(crate) struct Started {
    pub sdl: String,
    follow: Following,
}

enum Following {
    Nothing,
    InProcess(watch::Receiver<Option<String>>),
    Registry(RegistryFeed, crate::registry_follower::Head),
}

impl SupergraphSource {
    pub(crate) async fn first(self) -> anyhow::Result<Started> {
        match self {
            SupergraphSource::Fixed(sdl) => Ok(Started {
                sdl,
                follow: Following::Nothing,
            }),
            SupergraphSource::InProcess(mut head) => {
                let sdl = loop {
                    if let Some(sdl) = head.borrow_and_update().clone() {
                        break sdl;
                    }
                    head.changed()
                        .await
                        .map_err(|_| anyhow!("the registry stopped before its first supergraph"))?;
                };
                Ok(Started {
                    sdl,
                    follow: Following::InProcess(head),
                })
            }
            SupergraphSource::Registry { feed, patience } => {
                let head = feed.current(patience).await?;
                Ok(Started {
                    sdl: head.sdl.clone(),
                    follow: Following::Registry(feed, head),
                })
            }
        }
    }
}

impl Started {
    /// Hands every later supergraph to `publisher` until the router stops.
    pub(crate) fn follow(self, publisher: mpsc::UnboundedSender<String>) {
        match self.follow {
            Following::Nothing => {}
            Following::InProcess(mut head) => {
                tokio::spawn(async move {
                    while head.changed().await.is_ok() {
                        let next = head.borrow_and_update().clone();
                        if let Some(sdl) = next
                            && publisher.unbounded_send(sdl).is_err()
                        {
                            break;
                        }
                    }
                });
            }
            Following::Registry(feed, from) => {
                feed.follow(from, publisher);
            }
        }
    }
}

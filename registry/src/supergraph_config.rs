//! `supergraph.yaml`, in the shape of Apollo's rover config, so the same file works with rover.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::compose::SubgraphSdl;
use crate::sdl_fetch::{FetchPolicy, fetch_sdl};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupergraphConfig {
    pub federation_version: Option<String>,
    pub subgraphs: BTreeMap<String, SubgraphConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubgraphConfig {
    pub routing_url: String,
    pub schema: SchemaSource,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SchemaSource {
    File { file: PathBuf },
    Introspect { subgraph_url: String },
}

impl SupergraphConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config: SupergraphConfig = serde_yaml::from_str(&text)
            .with_context(|| format!("{} is not a valid supergraph config", path.display()))?;
        if let Some(version) = &config.federation_version
            && !version.trim_start_matches('=').starts_with('2')
        {
            bail!(
                "{}: federation_version {version} is not supported: Nexus composes federation 2",
                path.display()
            );
        }
        Ok(config)
    }

    /// Reads every subgraph's SDL: files relative to `base_dir`, URLs by `_service { sdl }`.
    pub async fn resolve(&self, base_dir: &Path) -> anyhow::Result<Vec<SubgraphSdl>> {
        let mut out = Vec::with_capacity(self.subgraphs.len());
        for (name, subgraph) in &self.subgraphs {
            let sdl = match &subgraph.schema {
                SchemaSource::File { file } => {
                    let path = base_dir.join(file);
                    std::fs::read_to_string(&path).with_context(|| {
                        format!("subgraph `{name}`: cannot read {}", path.display())
                    })?
                }
                SchemaSource::Introspect { subgraph_url } => {
                    fetch_sdl(subgraph_url, &FetchPolicy::allow_loopback())
                        .await
                        .with_context(|| format!("subgraph `{name}`"))?
                }
            };
            out.push(SubgraphSdl {
                name: name.clone(),
                routing_url: subgraph.routing_url.clone(),
                sdl,
            });
        }
        Ok(out)
    }
}

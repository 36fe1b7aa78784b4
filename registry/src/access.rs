//! What an app version can actually touch, computed from its manifest and its subgraph's SDL
//! (as the extension policy let it through) rather than declared by its vendor: the core types
//! it adds fields to, the scopes it asks for, the events it hears, whether it signs users in and
//! where sign-ins may send a browser. And what changed from one version to the next.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Core type → the fields the app adds to it (`User` → `crmScore`; `Query` → `crmDeals`).
    pub extends: BTreeMap<String, BTreeSet<String>>,
    pub required_scopes: BTreeSet<String>,
    pub optional_scopes: BTreeSet<String>,
    pub webhook_events: BTreeSet<String>,
    /// It is an OAuth client: "Sign in with Nexus" (OpenID Connect).
    pub signs_users_in: bool,
    /// The hosts its sign-ins may send a browser back to.
    pub redirect_hosts: BTreeSet<String>,
}

impl Access {
    /// The access of the version with `manifest` whose subgraph serves `sdl`.
    pub fn of(manifest: &Manifest, sdl: &str) -> Access {
        let prefix = pascal(&manifest.namespace);
        Access {
            extends: core_fields(sdl, &prefix),
            required_scopes: manifest.scopes.required.iter().cloned().collect(),
            optional_scopes: manifest.scopes.optional.iter().cloned().collect(),
            webhook_events: manifest
                .webhooks
                .iter()
                .flat_map(|w| w.events.iter().map(|e| e.event().to_owned()))
                .collect(),
            signs_users_in: manifest.oauth.is_some(),
            redirect_hosts: manifest
                .oauth
                .iter()
                .flat_map(|o| &o.redirect_uris)
                .filter_map(|uri| url::Url::parse(uri).ok()?.host_str().map(str::to_owned))
                .collect(),
        }
    }

    /// Every `Type.field` it adds to core types.
    pub fn fields(&self) -> BTreeSet<String> {
        self.extends
            .iter()
            .flat_map(|(t, fields)| fields.iter().map(move |f| format!("{t}.{f}")))
            .collect()
    }

    /// Every scope it asks for, required or optional.
    pub fn scopes(&self) -> BTreeSet<String> {
        self.required_scopes
            .union(&self.optional_scopes)
            .cloned()
            .collect()
    }

    /// What `self` has that `before` had not, and the reverse.
    pub fn changes_since(&self, before: &Access) -> AccessChanges {
        let diff = |now: BTreeSet<String>, then: BTreeSet<String>| {
            (
                now.difference(&then).cloned().collect(),
                then.difference(&now).cloned().collect(),
            )
        };
        let (added_fields, removed_fields) = diff(self.fields(), before.fields());
        let (added_scopes, removed_scopes) = diff(self.scopes(), before.scopes());
        let (newly_required_scopes, _) =
            diff(self.required_scopes.clone(), before.required_scopes.clone());
        let (added_webhook_events, removed_webhook_events) =
            diff(self.webhook_events.clone(), before.webhook_events.clone());
        let (added_redirect_hosts, removed_redirect_hosts) =
            diff(self.redirect_hosts.clone(), before.redirect_hosts.clone());
        AccessChanges {
            first_version: false,
            added_fields,
            removed_fields,
            added_scopes,
            removed_scopes,
            newly_required_scopes,
            added_webhook_events,
            removed_webhook_events,
            starts_signing_users_in: self.signs_users_in && !before.signs_users_in,
            stops_signing_users_in: !self.signs_users_in && before.signs_users_in,
            added_redirect_hosts,
            removed_redirect_hosts,
        }
    }
}

/// What one version can touch that the one before could not, and what it no longer touches
/// (`Type.field` for fields).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "entity",
    derive(async_graphql::SimpleObject),
    graphql(name = "AppAccessChanges")
)]
pub struct AccessChanges {
    /// No approved version came before: everything it touches is new.
    pub first_version: bool,
    pub added_fields: Vec<String>,
    pub removed_fields: Vec<String>,
    pub added_scopes: Vec<String>,
    pub removed_scopes: Vec<String>,
    /// Scopes it asked for as optional before (or not at all) and requires now.
    pub newly_required_scopes: Vec<String>,
    pub added_webhook_events: Vec<String>,
    pub removed_webhook_events: Vec<String>,
    pub starts_signing_users_in: bool,
    pub stops_signing_users_in: bool,
    pub added_redirect_hosts: Vec<String>,
    pub removed_redirect_hosts: Vec<String>,
}

/// The fields the SDL adds to types that are not the app's own (its own types start with its
/// PascalCase namespace): the core's entities and root types. Keys (`id`) and federation's own
/// fields are not the app's.
fn core_fields(sdl: &str, own_prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    use apollo_compiler::ast::Definition;
    let mut extends: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let Ok(document) = apollo_compiler::ast::Document::parse(sdl, "app.graphql") else {
        return extends;
    };
    for definition in &document.definitions {
        let (name, fields) = match definition {
            Definition::ObjectTypeDefinition(t) => (&t.name, &t.fields),
            Definition::ObjectTypeExtension(t) => (&t.name, &t.fields),
            _ => continue,
        };
        if name.starts_with(own_prefix) || name.starts_with('_') {
            continue;
        }
        let added = fields
            .iter()
            .map(|f| f.name.as_str())
            .filter(|f| *f != "id" && !f.starts_with('_'));
        let entry = extends.entry(name.to_string()).or_default();
        entry.extend(added.map(str::to_owned));
        if entry.is_empty() {
            extends.remove(name.as_str());
        }
    }
    extends
}

fn pascal(namespace: &str) -> String {
    let mut chars = namespace.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(scopes: &[&str], events: &[&str], oauth: bool) -> Manifest {
        let mut m = serde_json::json!({
            "namespace": "crm", "name": "CRM", "version": "1.0.0", "category": "sales",
            "author": { "name": "A", "email": "a@crm.example" },
            "pricing": { "model": "free" },
            "graphql": { "subgraph_url": "https://crm.example/graphql" },
            "scopes": { "required": scopes, "optional": [] },
        });
        if !events.is_empty() {
            m["webhooks"] =
                serde_json::json!({ "endpoint": "https://crm.example/hooks", "events": events });
        }
        if oauth {
            m["oauth"] =
                serde_json::json!({ "redirect_uris": ["https://app.crm.example/callback"] });
        }
        serde_json::from_value(m).expect("a manifest")
    }

    const V1: &str = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
        type Query { crmDeals: [CrmDeal!]! _service: _Service! }
        type CrmDeal { id: ID! owner: User }
        type User @key(fields: "id") { id: ID! crmScore: Int }
    "#;

    #[test]
    fn reads_what_a_version_touches_and_what_changed() {
        let v1 = Access::of(&manifest(&["users:read"], &["app.installed"], false), V1);
        assert_eq!(
            v1.fields().into_iter().collect::<Vec<_>>(),
            ["Query.crmDeals", "User.crmScore"]
        );
        assert!(!v1.signs_users_in);
        let v2_sdl =
            format!("{V1}\ntype Organization @key(fields: \"id\") {{ id: ID! crmPipeline: Int }}");
        let v2 = Access::of(
            &manifest(
                &["users:read", "organizations:read"],
                &["app.installed", "member.added"],
                true,
            ),
            &v2_sdl,
        );
        let changes = v2.changes_since(&v1);
        assert_eq!(changes.added_fields, ["Organization.crmPipeline"]);
        assert_eq!(changes.added_scopes, ["organizations:read"]);
        assert_eq!(changes.newly_required_scopes, ["organizations:read"]);
        assert_eq!(changes.added_webhook_events, ["member.added"]);
        assert!(changes.starts_signing_users_in);
        assert_eq!(changes.added_redirect_hosts, ["app.crm.example"]);
        assert!(changes.removed_fields.is_empty());
        assert_eq!(
            v1.changes_since(&v2).removed_fields,
            ["Organization.crmPipeline"]
        );
        assert_eq!(v1.changes_since(&v1), AccessChanges::default());
    }
}

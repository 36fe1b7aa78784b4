//! The plane's map, read once per pipeline from the supergraph it serves: where each app
//! listens, which types and core-type fields it owns (`@routing__app`), and every field's type.

use std::collections::HashMap;
use std::sync::Arc;

use apollo_compiler::{Name, Schema};
use nexus_registry::app_plane;

pub struct PlaneMap {
    urls: HashMap<Arc<str>, String>,
    type_owner: HashMap<String, Arc<str>>,
    field_owner: HashMap<(String, String), Arc<str>>,
    schema: Schema,
}

impl PlaneMap {
    /// The map of `supergraph_sdl`; `None` when it has no app plane.
    pub fn read(supergraph_sdl: &str) -> Result<Option<PlaneMap>, String> {
        let schema = Schema::parse(supergraph_sdl, "supergraph.graphql")
            .map_err(|e| format!("the supergraph does not parse: {}", e.errors))?;
        let routes = app_plane::routes(&schema);
        if routes.is_empty() {
            return Ok(None);
        }
        let mut map = PlaneMap {
            urls: HashMap::new(),
            type_owner: HashMap::new(),
            field_owner: HashMap::new(),
            schema,
        };
        for route in routes {
            let app: Arc<str> = Arc::from(route.app.as_str());
            for ty in route.types {
                map.type_owner.insert(ty, app.clone());
            }
            for field in route.fields {
                if let Some((ty, name)) = field.split_once('.') {
                    map.field_owner
                        .insert((ty.to_owned(), name.to_owned()), app.clone());
                }
            }
            map.urls.insert(app, route.url);
        }
        Ok(Some(map))
    }

    pub fn url(&self, app: &str) -> Option<&str> {
        self.urls.get(app).map(String::as_str)
    }

    /// The app that resolves `parent.field`: the owner of an app's type, or of an app's field on
    /// a core type; `None` for the core's own fields (an entity's `id`).
    pub fn owner(&self, parent: &str, field: &str) -> Option<&Arc<str>> {
        self.type_owner
            .get(parent)
            .or_else(|| self.field_owner.get(&(parent.to_owned(), field.to_owned())))
    }

    /// The named type `parent.field` returns.
    pub fn field_type(&self, parent: &str, field: &str) -> Option<Name> {
        let ty = self.schema.types.get(parent)?;
        let definition = match ty {
            apollo_compiler::schema::ExtendedType::Object(t) => t.fields.get(field)?,
            apollo_compiler::schema::ExtendedType::Interface(t) => t.fields.get(field)?,
            _ => return None,
        };
        Some(definition.ty.inner_named_type().clone())
    }
}

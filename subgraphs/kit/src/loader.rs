//! Generic DataLoaders: entities by id and pages of children by parent id. Built per request, so
//! nothing is cached across requests; each batch is one SQL statement.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::{Error, Result, internal};
use crate::idle::IdleGate;
use crate::page::{Page, PageArgs, fetch_child_pages};

/// An entity keyed by a UUID id column.
pub trait Keyed: EntityTrait<Model: Clone + Send + Sync> {
    fn id_column() -> Self::Column;
    fn id_of(model: &Self::Model) -> Uuid;
}

/// `Keyed` for an entity module whose primary key is a UUID column named `id`; call it in the
/// entity's module, next to `Entity`, `Model` and `Column`.
#[macro_export]
macro_rules! keyed_by_id {
    () => {
        impl $crate::loader::Keyed for Entity {
            fn id_column() -> Column {
                Column::Id
            }
            fn id_of(model: &Model) -> Uuid {
                model.id
            }
        }
    };
}

pub struct ById<E> {
    db: DatabaseConnection,
    entity: PhantomData<fn() -> E>,
}

impl<E: Keyed> Loader<Uuid> for ById<E> {
    type Value = E::Model;
    type Error = Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, E::Model>> {
        let rows = E::find()
            .filter(E::id_column().is_in(keys.iter().copied()))
            .all(&self.db)
            .await
            .map_err(internal)?;
        Ok(rows.into_iter().map(|m| (E::id_of(&m), m)).collect())
    }
}

/// A one-to-many relation: children of `Entity` whose `parent_column` holds the parent's id.
pub trait ChildRelation: Send + Sync + 'static {
    type Entity: Keyed;
    fn parent_column() -> <Self::Entity as EntityTrait>::Column;
    fn parent_of(model: &<Self::Entity as EntityTrait>::Model) -> Uuid;
    /// Rows of the relation beyond the parent match (e.g. leave out uninstalled).
    fn filter() -> Condition {
        Condition::all()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildPageKey {
    pub parent: Uuid,
    pub page: PageArgs,
}

pub struct ChildPages<R> {
    db: DatabaseConnection,
    relation: PhantomData<fn() -> R>,
}

impl<R: ChildRelation> Loader<ChildPageKey> for ChildPages<R> {
    type Value = Page<<R::Entity as EntityTrait>::Model>;
    type Error = Error;

    async fn load(&self, keys: &[ChildPageKey]) -> Result<HashMap<ChildPageKey, Self::Value>> {
        // Parents asking for the same page shape share one statement.
        let mut by_args: HashMap<PageArgs, Vec<Uuid>> = HashMap::new();
        for key in keys {
            by_args.entry(key.page).or_default().push(key.parent);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (args, parents) in by_args {
            let pages = fetch_child_pages::<R::Entity>(
                &self.db,
                R::parent_column(),
                <R::Entity as Keyed>::id_column(),
                &parents,
                R::filter(),
                &args,
                R::parent_of,
            )
            .await
            .map_err(internal)?;
            out.extend(
                pages
                    .into_iter()
                    .map(|(parent, page)| (ChildPageKey { parent, page: args }, page)),
            );
        }
        Ok(out)
    }
}

/// A request-scoped DataLoader whose batches close when the request goes idle (see `idle`).
pub fn batched<L: Send + Sync + 'static>(loader: L, gate: &Arc<IdleGate>) -> DataLoader<L> {
    let gate = gate.clone();
    DataLoader::new(loader, move |load| {
        let gate = gate.clone();
        tokio::spawn(async move {
            gate.wait_idle().await;
            load.await
        })
    })
    // The gate is the batch window; no extra delay on top of it.
    .delay(Duration::ZERO)
}

pub fn by_id<E: Keyed>(db: &DatabaseConnection, gate: &Arc<IdleGate>) -> DataLoader<ById<E>> {
    batched(
        ById {
            db: db.clone(),
            entity: PhantomData,
        },
        gate,
    )
}

pub fn child_pages<R: ChildRelation>(
    db: &DatabaseConnection,
    gate: &Arc<IdleGate>,
) -> DataLoader<ChildPages<R>> {
    batched(
        ChildPages {
            db: db.clone(),
            relation: PhantomData,
        },
        gate,
    )
}

/// Loads one entity by id through the request's batching loader.
pub async fn load<E: Keyed>(ctx: &Context<'_>, id: Uuid) -> Result<Option<E::Model>> {
    ctx.data_unchecked::<DataLoader<ById<E>>>()
        .load_one(id)
        .await
}

/// Loads one page of `R`'s children of `parent` through the request's batching loader.
pub async fn load_children<R: ChildRelation>(
    ctx: &Context<'_>,
    parent: Uuid,
    page: PageArgs,
) -> Result<Page<<R::Entity as EntityTrait>::Model>> {
    let loaded = ctx
        .data_unchecked::<DataLoader<ChildPages<R>>>()
        .load_one(ChildPageKey { parent, page })
        .await?;
    Ok(loaded.unwrap_or_else(|| Page::empty(&page)))
}

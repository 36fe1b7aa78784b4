//! Relay connections with keyset pagination on the UUIDv7 id (creation order), `first` ≤ 100.

use std::collections::HashMap;

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};
use sea_orm::sea_query::{Alias, Asterisk, Expr, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Iden,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::{Result, bad_input};

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Validated `first`/`after` arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageArgs {
    pub first: u64,
    pub after: Option<Uuid>,
}

impl PageArgs {
    pub fn parse(first: Option<i32>, after: Option<String>) -> Result<Self> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (0..=MAX_PAGE_SIZE as i32).contains(&n) => n as u64,
            Some(n) => {
                return Err(bad_input(format!(
                    "`first` must be between 0 and {MAX_PAGE_SIZE}, got {n}"
                )));
            }
        };
        let after = after
            .map(|cursor| {
                Uuid::parse_str(&cursor).map_err(|_| {
                    bad_input(format!(
                        "`after` must be a cursor returned by this API, got `{cursor}`"
                    ))
                })
            })
            .transpose()?;
        Ok(PageArgs { first, after })
    }
}

/// One page of rows, as fetched with one row more than asked for (that row tells `hasNextPage`).
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<T> Page<T> {
    pub fn from_overfetch(mut rows: Vec<T>, args: &PageArgs) -> Self {
        let has_next = rows.len() as u64 > args.first;
        rows.truncate(args.first as usize);
        Page {
            items: rows,
            has_next,
            has_previous: args.after.is_some(),
        }
    }

    pub fn empty(args: &PageArgs) -> Self {
        Self::from_overfetch(Vec::new(), args)
    }

    pub fn into_connection<N: OutputType>(
        self,
        id_of: impl Fn(&T) -> Uuid,
        node: impl Fn(T) -> N,
    ) -> Connection<String, N> {
        let mut connection = Connection::new(self.has_previous, self.has_next);
        connection.edges.extend(
            self.items
                .into_iter()
                .map(|item| Edge::new(id_of(&item).to_string(), node(item))),
        );
        connection
    }
}

/// A top-level list: `select` (already filtered) ordered by id, after the cursor.
pub async fn fetch_page<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id_column: E::Column,
    args: &PageArgs,
) -> Result<Page<E::Model>, DbErr> {
    let mut select = select.order_by_asc(id_column);
    if let Some(after) = args.after {
        select = select.filter(id_column.gt(after));
    }
    let rows = select.limit(args.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, args))
}

/// [`fetch_page`] newest first: a log read from its end (ids are UUIDv7, so by creation time).
pub async fn fetch_page_newest_first<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id_column: E::Column,
    args: &PageArgs,
) -> Result<Page<E::Model>, DbErr> {
    let mut select = select.order_by_desc(id_column);
    if let Some(after) = args.after {
        select = select.filter(id_column.lt(after));
    }
    let rows = select.limit(args.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, args))
}

/// The same page of children for many parents in ONE statement (a window function per parent),
/// so a nested list costs one query per level however many parents there are.
pub async fn fetch_child_pages<E: EntityTrait>(
    db: &impl ConnectionTrait,
    parent_column: E::Column,
    id_column: E::Column,
    parents: &[Uuid],
    filter: Condition,
    args: &PageArgs,
    parent_of: impl Fn(&E::Model) -> Uuid,
) -> Result<HashMap<Uuid, Page<E::Model>>, DbErr> {
    let parent_name = parent_column.to_string();
    let id_name = id_column.to_string();
    let mut condition = Condition::all()
        .add(parent_column.is_in(parents.iter().copied()))
        .add(filter);
    if let Some(after) = args.after {
        condition = condition.add(id_column.gt(after));
    }
    let mut inner = Query::select();
    inner
        .column(Asterisk)
        .expr_as(
            Expr::cust(format!(
                r#"ROW_NUMBER() OVER (PARTITION BY "{parent_name}" ORDER BY "{id_name}")"#
            )),
            Alias::new("nexus_row"),
        )
        .from(E::default())
        .cond_where(condition);
    let mut outer = Query::select();
    outer
        .column(Asterisk)
        .from_subquery(inner, Alias::new("nexus_page"))
        .and_where(Expr::col(Alias::new("nexus_row")).lte(args.first + 1))
        .order_by(Alias::new(parent_name.as_str()), Order::Asc)
        .order_by(Alias::new(id_name.as_str()), Order::Asc);
    let statement = db.get_database_backend().build(&outer);
    let mut grouped: HashMap<Uuid, Vec<E::Model>> = HashMap::new();
    for row in db.query_all(statement).await? {
        let model = E::Model::from_query_result(&row, "")?;
        grouped.entry(parent_of(&model)).or_default().push(model);
    }
    Ok(parents
        .iter()
        .map(|parent| {
            let rows = grouped.remove(parent).unwrap_or_default();
            (*parent, Page::from_overfetch(rows, args))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_bounded() {
        assert_eq!(PageArgs::parse(None, None).map(|a| a.first).ok(), Some(20));
        assert_eq!(
            PageArgs::parse(Some(100), None).map(|a| a.first).ok(),
            Some(100)
        );
        let err = PageArgs::parse(Some(101), None).err().map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some("`first` must be between 0 and 100, got 101")
        );
        assert!(PageArgs::parse(Some(-1), None).is_err());
    }

    #[test]
    fn bad_cursor_is_bad_input() {
        let err = PageArgs::parse(None, Some("nope".into()))
            .err()
            .map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some("`after` must be a cursor returned by this API, got `nope`")
        );
    }

    #[test]
    fn overfetch_sets_has_next() {
        let args = PageArgs {
            first: 2,
            after: None,
        };
        let page = Page::from_overfetch(vec![1, 2, 3], &args);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_next);
        assert!(!Page::from_overfetch(vec![1, 2], &args).has_next);
    }
}

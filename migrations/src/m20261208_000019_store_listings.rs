//! Owner: apps. The store's listings: what an approved manifest says of how the app is shown
//! (`apps.listing`: tagline, icon, screenshots, tags, URLs, pricing summary), the categories it
//! is filed under (`app_categories`, filtered and counted by the store) and the platform's list of
//! categories (`store_categories`, kept by platform admins; seeded with a first list); what its
//! live version can touch (`apps.access`, and `app_access` — one row per core type it extends and
//! per scope it asks for — for the store's filters); the apps platform admins feature
//! (`featured_apps`, in order).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    Category,
    Listing,
    Access,
}

#[derive(DeriveIden)]
enum AppAccess {
    Table,
    AppId,
    Kind,
    Value,
}

#[derive(DeriveIden)]
enum AppCategories {
    Table,
    AppId,
    Category,
    Position,
}

#[derive(DeriveIden)]
enum FeaturedApps {
    Table,
    AppId,
    Position,
    FeaturedBy,
    FeaturedAt,
}

#[derive(DeriveIden)]
enum StoreCategories {
    Table,
    Slug,
    Name,
    CreatedAt,
}

/// The first list: every category the examples and the seed use, and the usual ones.
const CATEGORIES: &[(&str, &str)] = &[
    ("analytics", "Analytics"),
    ("communication", "Communication"),
    ("customer-support", "Customer support"),
    ("developer-tools", "Developer tools"),
    ("engagement", "Engagement"),
    ("finance", "Finance"),
    ("hr", "HR"),
    ("insights", "Insights"),
    ("marketing", "Marketing"),
    ("operations", "Operations"),
    ("productivity", "Productivity"),
    ("sales", "Sales"),
    ("security", "Security"),
    ("tools", "Tools"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Apps::Table)
                    .add_column(json_null(Apps::Listing))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Apps::Table)
                    .add_column(json_null(Apps::Access))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AppAccess::Table)
                    .col(uuid(AppAccess::AppId))
                    .col(string_len(AppAccess::Kind, 16))
                    .col(string_len(AppAccess::Value, 128))
                    .primary_key(
                        Index::create()
                            .col(AppAccess::AppId)
                            .col(AppAccess::Kind)
                            .col(AppAccess::Value),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AppAccess::Table, AppAccess::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("app_access_by_fact")
                    .table(AppAccess::Table)
                    .col(AppAccess::Kind)
                    .col(AppAccess::Value)
                    .col(AppAccess::AppId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StoreCategories::Table)
                    .col(string_len(StoreCategories::Slug, 64).primary_key())
                    .col(string_len(StoreCategories::Name, 64))
                    .col(timestamp_with_time_zone(StoreCategories::CreatedAt))
                    .to_owned(),
            )
            .await?;
        let mut seed = Query::insert();
        seed.into_table(StoreCategories::Table).columns([
            StoreCategories::Slug,
            StoreCategories::Name,
            StoreCategories::CreatedAt,
        ]);
        for (slug, name) in CATEGORIES {
            seed.values_panic([
                (*slug).into(),
                (*name).into(),
                Expr::current_timestamp().into(),
            ]);
        }
        manager.exec_stmt(seed).await?;
        manager
            .create_table(
                Table::create()
                    .table(AppCategories::Table)
                    .col(uuid(AppCategories::AppId))
                    .col(string_len(AppCategories::Category, 64))
                    .col(integer(AppCategories::Position))
                    .primary_key(
                        Index::create()
                            .col(AppCategories::AppId)
                            .col(AppCategories::Category),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AppCategories::Table, AppCategories::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("app_categories_by_category")
                    .table(AppCategories::Table)
                    .col(AppCategories::Category)
                    .col(AppCategories::AppId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FeaturedApps::Table)
                    .col(uuid(FeaturedApps::AppId).primary_key())
                    .col(integer(FeaturedApps::Position))
                    .col(uuid(FeaturedApps::FeaturedBy))
                    .col(timestamp_with_time_zone(FeaturedApps::FeaturedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FeaturedApps::Table, FeaturedApps::AppId)
                            .to(Apps::Table, Apps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Every app is filed under the category it has.
        let backfill = Query::insert()
            .into_table(AppCategories::Table)
            .columns([
                AppCategories::AppId,
                AppCategories::Category,
                AppCategories::Position,
            ])
            .select_from(
                Query::select()
                    .column(Apps::Id)
                    .column(Apps::Category)
                    .expr(Expr::val(0))
                    .from(Apps::Table)
                    .to_owned(),
            )
            .map_err(|e| DbErr::Migration(e.to_string()))?
            .to_owned();
        manager.exec_stmt(backfill).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FeaturedApps::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AppAccess::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Apps::Table)
                    .drop_column(Apps::Access)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AppCategories::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StoreCategories::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Apps::Table)
                    .drop_column(Apps::Listing)
                    .to_owned(),
            )
            .await
    }
}

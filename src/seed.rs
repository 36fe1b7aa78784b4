//! `nexus dev --seed`: a small demo data set, through the same service functions the API uses.

use anyhow::anyhow;
use chrono::{Duration, Utc};
use nexus_apps::entity::app::{AppStatus, PricingModel};
use nexus_apps::listing::{NewApp, Pricing};
use nexus_identity::entity::membership::Role;
use nexus_licensing::entity::license::LicenseKind;
use nexus_licensing::service::NewLicense;
use sea_orm::DatabaseConnection;

/// The password of every demo user (`ada@acme.test`, `grace@acme.test`, `linus@globex.test`,
/// `dev@apps.test`, and the platform admin `admin@nexus.test`).
pub const DEMO_PASSWORD: &str = "nexus-demo-2026";

/// Loads the demo data unless organization `acme` already exists.
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<()> {
    if nexus_identity::organizations::find_organization_by_slug(db, "acme")
        .await
        .map_err(seeding_error)?
        .is_some()
    {
        tracing::info!("demo data already present");
        return Ok(());
    }
    let users = create_users(db).await?;
    let (acme, globex) = create_organizations(db, &users).await?;
    let (analytics, crm) = create_apps(db, users.dev).await?;
    install_apps(db, &users, acme, globex, analytics.id, crm.id).await?;
    issue_licenses(db, acme, globex, &analytics, &crm).await?;
    tracing::info!("demo data loaded: organizations acme and globex, apps analytics and crm");
    Ok(())
}

/// A seeding step's error, as `load` reports it.
fn seeding_error(err: async_graphql::Error) -> anyhow::Error {
    anyhow!("seeding demo data: {}", err.message)
}

/// The ids of the demo users who belong somewhere (the platform admin belongs nowhere).
struct DemoUsers {
    ada: uuid::Uuid,
    grace: uuid::Uuid,
    linus: uuid::Uuid,
    dev: uuid::Uuid,
}

/// Creates the demo users, all with `DEMO_PASSWORD`, and makes `admin@nexus.test` platform admin.
async fn create_users(db: &DatabaseConnection) -> anyhow::Result<DemoUsers> {
    use nexus_identity::users::create_user;
    // One hash for every demo user: hashing is deliberately slow.
    let hash = nexus_identity::accounts::password::hash(DEMO_PASSWORD.to_owned())
        .await
        .map_err(seeding_error)?;
    // Demo users have proven their addresses (anyone else verifies by mail).
    let user = |email: &'static str, name: &'static str| {
        let hash = hash.clone();
        async move {
            let created = create_user(db, email, name, None, Some(hash)).await?;
            nexus_identity::users::mark_email_verified(db, created.id).await?;
            Ok::<_, nexus_kit::Error>(created)
        }
    };
    let ada = user("ada@acme.test", "Ada Lovelace")
        .await
        .map_err(seeding_error)?;
    let grace = user("grace@acme.test", "Grace Hopper")
        .await
        .map_err(seeding_error)?;
    let linus = user("linus@globex.test", "Linus Torvalds")
        .await
        .map_err(seeding_error)?;
    let dev = user("dev@apps.test", "Margaret Hamilton")
        .await
        .map_err(seeding_error)?;
    user("admin@nexus.test", "Platform Admin")
        .await
        .map_err(seeding_error)?;
    nexus_identity::users::set_platform_admin(db, "admin@nexus.test", true, false)
        .await
        .map_err(seeding_error)?;
    Ok(DemoUsers {
        ada: ada.id,
        grace: grace.id,
        linus: linus.id,
        dev: dev.id,
    })
}

/// Creates organizations acme and globex with their members; returns their ids.
async fn create_organizations(
    db: &DatabaseConnection,
    users: &DemoUsers,
) -> anyhow::Result<(uuid::Uuid, uuid::Uuid)> {
    use nexus_identity::memberships::add_membership;
    use nexus_identity::organizations::create_organization;
    let acme = create_organization(db, "Acme Corp", "acme")
        .await
        .map_err(seeding_error)?;
    let globex = create_organization(db, "Globex", "globex")
        .await
        .map_err(seeding_error)?;
    add_membership(db, acme.id, users.ada, Role::Owner)
        .await
        .map_err(seeding_error)?;
    add_membership(db, acme.id, users.grace, Role::Admin)
        .await
        .map_err(seeding_error)?;
    add_membership(db, globex.id, users.linus, Role::Owner)
        .await
        .map_err(seeding_error)?;
    add_membership(db, globex.id, users.grace, Role::Member)
        .await
        .map_err(seeding_error)?;
    Ok((acme.id, globex.id))
}

/// Creates the published apps analytics (free) and crm (a subscription), by `developer`.
async fn create_apps(
    db: &DatabaseConnection,
    developer: uuid::Uuid,
) -> anyhow::Result<(
    nexus_apps::entity::app::Model,
    nexus_apps::entity::app::Model,
)> {
    use nexus_apps::listing::create_app;
    let analytics = create_app(
        db,
        NewApp {
            namespace: "analytics".into(),
            name: "Analytics".into(),
            description: "Usage analytics for every member of your organization".into(),
            category: "insights".into(),
            developer_id: developer,
            status: AppStatus::Published,
            pricing: Pricing::free(),
        },
    )
    .await
    .map_err(seeding_error)?;
    let crm = create_app(
        db,
        NewApp {
            namespace: "crm".into(),
            name: "CRM".into(),
            description: "Customers, deals and pipelines".into(),
            category: "sales".into(),
            developer_id: developer,
            status: AppStatus::Published,
            pricing: Pricing {
                model: PricingModel::Subscription,
                price_cents: Some(1200),
                currency: Some("USD".into()),
                trial_days: None,
                summary: None,
            },
        },
    )
    .await
    .map_err(seeding_error)?;
    Ok((analytics, crm))
}

/// Installs analytics in both organizations and crm in acme, each by one of its members.
async fn install_apps(
    db: &DatabaseConnection,
    users: &DemoUsers,
    acme: uuid::Uuid,
    globex: uuid::Uuid,
    analytics: uuid::Uuid,
    crm: uuid::Uuid,
) -> anyhow::Result<()> {
    use nexus_apps::installations::create_installation;
    let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    create_installation(db, analytics, acme, users.ada, scopes(&["users:read"]))
        .await
        .map_err(seeding_error)?;
    create_installation(
        db,
        crm,
        acme,
        users.grace,
        scopes(&["users:read", "organizations:read"]),
    )
    .await
    .map_err(seeding_error)?;
    create_installation(db, analytics, globex, users.linus, scopes(&["users:read"]))
        .await
        .map_err(seeding_error)?;
    Ok(())
}

/// Licenses each installation: analytics free, crm a subscription for a year.
async fn issue_licenses(
    db: &DatabaseConnection,
    acme: uuid::Uuid,
    globex: uuid::Uuid,
    analytics: &nexus_apps::entity::app::Model,
    crm: &nexus_apps::entity::app::Model,
) -> anyhow::Result<()> {
    use nexus_licensing::service::create_license;
    for (app, organization, kind, expires_at) in [
        (analytics, acme, LicenseKind::Free, None),
        (
            crm,
            acme,
            LicenseKind::Subscription,
            Some(Utc::now() + Duration::days(365)),
        ),
        (analytics, globex, LicenseKind::Free, None),
    ] {
        create_license(
            db,
            NewLicense {
                app_id: app.id,
                app_namespace: Some(app.namespace.clone()),
                developer_id: Some(app.developer_id),
                organization_id: organization,
                kind,
                max_activations: 5,
                expires_at,
                entitlements: Vec::new(),
                issued_by: None,
            },
        )
        .await
        .map_err(seeding_error)?;
    }
    Ok(())
}

/// Bulk data for tests and benchmarks: `organizations` organizations (slugs `org-{from}`…), each
/// with an owner, an admin and a member, and every app in `apps` installed and licensed (free).
pub async fn populate(
    db: &DatabaseConnection,
    from: usize,
    organizations: usize,
    apps: &[uuid::Uuid],
) -> anyhow::Result<()> {
    let e = |err: async_graphql::Error| anyhow!("populating: {}", err.message);
    use nexus_identity::memberships::add_membership;
    use nexus_identity::organizations::create_organization;
    use nexus_identity::users::create_user;
    for i in from..from + organizations {
        let org = create_organization(db, "Org", &format!("org-{i}"))
            .await
            .map_err(e)?;
        for (j, role) in [Role::Owner, Role::Admin, Role::Member]
            .into_iter()
            .enumerate()
        {
            let user = create_user(db, &format!("user{j}@org{i}.test"), "User", None, None)
                .await
                .map_err(e)?;
            add_membership(db, org.id, user.id, role).await.map_err(e)?;
        }
        for app in apps {
            nexus_apps::installations::create_installation(db, *app, org.id, org.id, vec![])
                .await
                .map_err(e)?;
            nexus_licensing::service::create_license(
                db,
                NewLicense {
                    app_id: *app,
                    app_namespace: None,
                    developer_id: None,
                    organization_id: org.id,
                    kind: LicenseKind::Free,
                    max_activations: 1,
                    expires_at: None,
                    entitlements: Vec::new(),
                    issued_by: None,
                },
            )
            .await
            .map_err(e)?;
        }
    }
    Ok(())
}

/// Published free apps with these namespaces, by one developer; returns their ids.
pub async fn published_apps(
    db: &DatabaseConnection,
    namespaces: &[&str],
) -> anyhow::Result<Vec<uuid::Uuid>> {
    let e = |err: async_graphql::Error| anyhow!("creating apps: {}", err.message);
    let developer = nexus_identity::users::create_user(db, "dev@apps.test", "Dev", None, None)
        .await
        .map_err(e)?;
    let mut ids = Vec::new();
    for namespace in namespaces {
        let app = nexus_apps::listing::create_app(
            db,
            NewApp {
                namespace: (*namespace).into(),
                name: (*namespace).into(),
                description: String::new(),
                category: "tools".into(),
                developer_id: developer.id,
                status: AppStatus::Published,
                pricing: Pricing::free(),
            },
        )
        .await
        .map_err(e)?;
        ids.push(app.id);
    }
    Ok(ids)
}

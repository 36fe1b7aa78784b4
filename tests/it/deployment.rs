//! A deployment: every service its own `nexus serve` process on non-default ports, all from one
//! configuration file, reached through the router; and `nexus config print`.

use serde_json::json;

use crate::common::{PASSWORD, TestDb, free_port, nexus, post_graphql, serve};

#[tokio::test]
async fn every_service_in_its_own_process_from_one_config_file() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys.json");
    let [router, identity, apps, licensing] = [free_port(), free_port(), free_port(), free_port()];
    // `localhost` for the URLs, 127.0.0.1 for the listeners: every URL comes from this file.
    let config = dir.path().join("nexus.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = {url:?}\nkeys_file = {keys:?}\nissuer = \"http://localhost:{router}\"\n\n\
             [router]\nlisten = \"127.0.0.1:{router}\"\n\n\
             [identity]\nlisten = \"127.0.0.1:{identity}\"\nurl = \"http://localhost:{identity}\"\n\n\
             [apps]\nlisten = \"127.0.0.1:{apps}\"\nurl = \"http://localhost:{apps}\"\n\n\
             [licensing]\nlisten = \"127.0.0.1:{licensing}\"\nurl = \"http://localhost:{licensing}\"\n",
            url = db.url(),
            keys = keys.display().to_string(),
        ),
    )
    .expect("write the configuration");
    let status = nexus(&config)
        .args(["keys", "rotate"])
        .status()
        .await
        .expect("keys");
    assert!(status.success());
    let status = nexus(&config)
        .arg("migrate")
        .status()
        .await
        .expect("migrate");
    assert!(status.success());

    let (_identity, _) = serve(&config, "identity", "identity subgraph listening: ").await;
    let (_licensing, _) = serve(&config, "licensing", "licensing subgraph listening: ").await;
    let (_apps, at) = serve(&config, "apps", "apps subgraph listening: ").await;
    assert_eq!(at, format!("http://127.0.0.1:{apps}/graphql"));
    let (_router, url) = serve(&config, "router", "router listening: ").await;
    assert_eq!(url, format!("http://127.0.0.1:{router}/graphql"));

    // One cross-subgraph query through the router: identity's organization and members, the
    // apps service's installations, licensing's licenses.
    let client = reqwest::Client::new();
    let (status, body) = post_graphql(
        &client,
        &url,
        None,
        "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }",
        json!({ "i": { "email": "ada@acme.test", "password": PASSWORD, "name": "Ada" } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["signUp"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, body) = post_graphql(
        &client,
        &url,
        Some(&token),
        "mutation { createOrganization(input: {name: \"Acme\", slug: \"acme\"}) { id } }",
        json!({}),
    )
    .await;
    let organization = body["data"]["createOrganization"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no organization: {body}"))
        .to_owned();
    let (_, body) = post_graphql(
        &client,
        &url,
        Some(&token),
        "mutation($id: ID!) { switchOrganization(id: $id) { accessToken } }",
        json!({ "id": organization }),
    )
    .await;
    let token = body["data"]["switchOrganization"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_owned();
    let (status, body) = post_graphql(
        &client,
        &url,
        Some(&token),
        "{ organization(slug: \"acme\") { name members { edges { node { role user { email } } } } \
           installations { edges { node { id } } } licenses { edges { node { id } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["organization"],
        json!({ "name": "Acme",
                "members": { "edges": [{ "node": { "role": "OWNER", "user": { "email": "ada@acme.test" } } }] },
                "installations": { "edges": [] }, "licenses": { "edges": [] } })
    );
    // The non-default ports above prove it: the core is routed where the file says.
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--config")
        .arg(&config)
        .args(["config", "print"])
        .output()
        .expect("config print");
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains(&format!("url = \"http://localhost:{identity}\"")),
        "{printed}"
    );
}

#[test]
fn config_print_shows_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("nexus.toml");
    std::fs::write(
        &config,
        "database_url = \"postgres://nexus:hunter2@db.internal/nexus\"\n[apps]\nurl = \"http://apps.internal:4002\"\n",
    )
    .expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--config")
        .arg(&config)
        .args(["config", "print"])
        .env("NEXUS_LICENSING__URL", "http://licensing.internal:4003")
        .env("NEXUS_TOKEN", "not configuration")
        .env_remove("DATABASE_URL")
        .output()
        .expect("nexus runs");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(
        printed.contains("postgres://nexus:***@db.internal/nexus"),
        "{printed}"
    );
    // The file, the environment, and the defaults.
    assert!(
        printed.contains("url = \"http://apps.internal:4002\""),
        "{printed}"
    );
    assert!(
        printed.contains("url = \"http://licensing.internal:4003\""),
        "{printed}"
    );
    assert!(printed.contains("listen = \"127.0.0.1:4000\""), "{printed}");

    // A typo is an error naming it, not a silent default.
    std::fs::write(&config, "[apps]\nulr = \"http://apps.internal\"\n").expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("--config")
        .arg(&config)
        .args(["config", "print"])
        .output()
        .expect("nexus runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ulr"), "{stderr}");
}

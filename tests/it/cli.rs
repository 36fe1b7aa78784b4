//! The `nexus` binary as a user runs it: help, `dev --seed` answering the README's query, Ctrl-C,
//! and startup errors that are one clear line.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn nexus() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus"));
    command.env_remove("DATABASE_URL").env(
        "RUST_LOG",
        "warn,apollo_router::axum_factory::axum_http_server_factory=error",
    );
    command
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("nexus runs")
}

/// The error line: the last line of stderr, which must be the only `error:` line.
fn error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "nexus panicked: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line expected: {stderr}");
    errors[0].to_owned()
}

const README_QUERY: &str = r#"query {
  organization(slug: "acme") {
    name
    members(first: 10) { edges { node { role user { email name } } } }
    installations(first: 10) { edges { node { status app { name namespace } license { status expiresAt } } } }
  }
}"#;

const LOG_IN: &str = r#"mutation($password: String!) {
  logIn(input: {email: "ada@acme.test", password: $password}) { accessToken }
}"#;

/// Starts `nexus dev` and returns it with the GraphQL URL it printed.
fn start_dev(data_dir: &std::path::Path, seed: bool) -> (Child, String) {
    let mut command = nexus();
    command
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if seed {
        command.arg("--seed");
    }
    let mut child = command.spawn().expect("nexus dev starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let url = loop {
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        if let Some(url) = line.strip_prefix("Nexus is running: ") {
            break url.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "nexus dev did not say it was running"
        );
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "nexus dev did not stop on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn dev_with_seed_answers_the_readme_query_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("temp dir");
    for run in 0..2 {
        // The second run finds the seed already there and must neither fail nor duplicate it.
        let (mut child, url) = start_dev(dir.path(), true);
        let client = reqwest::Client::new();
        let login: Value = client
            .post(&url)
            .json(&json!({ "query": LOG_IN, "variables": { "password": nexus::seed::DEMO_PASSWORD } }))
            .send()
            .await
            .expect("router answers")
            .json()
            .await
            .expect("JSON");
        let token = login["data"]["logIn"]["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!token.is_empty(), "the demo user logs in: {login}");
        let body: Value = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": README_QUERY }))
            .send()
            .await
            .expect("router answers")
            .json()
            .await
            .expect("JSON");
        let org = &body["data"]["organization"];
        assert_eq!(org["name"], "Acme Corp", "run {run}: {body}");
        assert_eq!(
            org["members"]["edges"].as_array().map(Vec::len),
            Some(2),
            "{body}"
        );
        assert_eq!(
            org["members"]["edges"][0]["node"]["user"]["email"],
            "ada@acme.test"
        );
        let installations = org["installations"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(installations.len(), 2, "{body}");
        assert_eq!(installations[1]["node"]["app"]["namespace"], "crm");
        assert_eq!(installations[1]["node"]["license"]["status"], "ACTIVE");
        assert!(installations[1]["node"]["license"]["expiresAt"].is_string());
        assert!(body.get("errors").is_none(), "{body}");
        let status = interrupt(&mut child);
        assert!(status.success(), "Ctrl-C is a clean exit, got {status}");
    }
    assert!(
        dir.path().join("nexus.db").exists(),
        "SQLite file in the data directory"
    );
}

#[test]
fn help_lists_every_command() {
    let output = run(nexus().arg("--help"));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["dev", "serve", "migrate", "compose", "export-schema"] {
        assert!(
            help.contains(command),
            "--help does not mention {command}: {help}"
        );
    }
    let output = run(nexus().args(["serve", "--help"]));
    let help = String::from_utf8_lossy(&output.stdout);
    for service in ["router", "identity", "apps", "licensing"] {
        assert!(
            help.contains(service),
            "serve --help does not mention {service}: {help}"
        );
    }
}

#[test]
fn a_taken_port_is_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    // `serve` needs signing keys to exist; `keys rotate` creates them the first time.
    let output = run(nexus()
        .args(["keys", "rotate", "--data-dir"])
        .arg(dir.path()));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("signing-keys.json").exists());
    let output = run(nexus()
        .args([
            "serve",
            "identity",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path()));
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{line}"
    );

    let output = run(nexus()
        .args([
            "serve",
            "router",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{line}"
    );
}

#[test]
fn a_bad_database_url_is_one_line() {
    let output = run(nexus().args(["dev", "--listen", "127.0.0.1:0"]).env(
        "DATABASE_URL",
        "postgres://nexus:secret@127.0.0.1:1/nowhere",
    ));
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.starts_with("error: cannot open database postgres://nexus:***@127.0.0.1:1/nowhere: "),
        "{line}"
    );
    assert!(
        !line.contains("secret"),
        "the password is not printed: {line}"
    );

    let output = run(nexus().arg("migrate").env("DATABASE_URL", "mysql-ish://x"));
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.starts_with("error: cannot open database mysql-ish://x"),
        "{line}"
    );
}

#[test]
fn compose_prints_every_error_and_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable"])"#;
    std::fs::write(
        dir.path().join("a.graphql"),
        format!("{link}\ntype Query {{ a: Thing }}\ntype Thing @key(fields: \"id\") {{ id: ID! size: Int @shareable weight: Int @shareable }}"),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("b.graphql"),
        format!("{link}\ntype Thing @key(fields: \"id\") {{ id: ID! size: String @shareable weight: String @shareable }}"),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("supergraph.yaml"),
        "federation_version: =2.9.0\nsubgraphs:\n  a:\n    routing_url: http://127.0.0.1:1/a\n    schema:\n      file: a.graphql\n  b:\n    routing_url: http://127.0.0.1:1/b\n    schema:\n      file: b.graphql\n",
    )
    .expect("write");
    let output = run(nexus()
        .args(["compose", "--supergraph-config"])
        .arg(dir.path().join("supergraph.yaml"))
        .args(["--output", "-"]));
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no supergraph on failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"Thing.size\""), "{stderr}");
    assert!(
        stderr.contains("\"Thing.weight\""),
        "every error is printed: {stderr}"
    );

    let output = run(nexus()
        .args(["compose", "--supergraph-config"])
        .arg(dir.path().join("missing.yaml")));
    let line = error_line(&output);
    assert!(
        line.contains("cannot read") && line.contains("missing.yaml"),
        "{line}"
    );
}

#[test]
fn admin_grant_makes_a_platform_administrator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run(nexus()
        .args(["admin", "grant", "nobody@example.com", "--data-dir"])
        .arg(dir.path()));
    assert!(!output.status.success());
    assert_eq!(
        error_line(&output),
        "error: no user with email `nobody@example.com`"
    );
    let output = run(nexus().args(["migrate", "--data-dir"]).arg(dir.path()));
    assert!(output.status.success());
    // The demo seed has ada; `dev --seed` is covered above, so insert her the quick way.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("nexus.db").display());
        let (db, _) = nexus::stack::connect(&url).await.expect("db");
        nexus_identity::users::create_user(&db, "ada@acme.test", "Ada", None, None)
            .await
            .expect("user");
        db.close().await.expect("close");
    });
    // Nobody proved the address: whoever signed up with it first may not be Ada.
    let output = run(nexus()
        .args(["admin", "grant", "ADA@acme.test", "--data-dir"])
        .arg(dir.path()));
    assert!(!output.status.success());
    assert!(
        error_line(&output).contains("has not verified its address"),
        "{}",
        error_line(&output)
    );
    let output = run(nexus()
        .args(["admin", "grant", "ADA@acme.test", "--force", "--data-dir"])
        .arg(dir.path()));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "ada@acme.test is now a platform administrator (from their next login)"
    );

    // The grant is in the audit log, whose chain `nexus audit verify` checks (and signs: with
    // the platform's key, which `keys rotate` makes the first time)…
    let output = run(nexus()
        .args(["keys", "rotate", "--data-dir"])
        .arg(dir.path()));
    assert!(output.status.success());
    let output = run(nexus()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path()));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("the audit log is intact: 1 entry, newest hash "),
        "{stdout}"
    );
    // …and a row changed behind Nexus's back is reported, by position.
    runtime.block_on(async {
        use sea_orm::ConnectionTrait;
        let url = format!("sqlite://{}", dir.path().join("nexus.db").display());
        let (db, _) = nexus::stack::connect(&url).await.expect("db");
        db.execute_unprepared("UPDATE audit_log SET details = '{\"email\":\"eve@acme.test\",\"forced\":true}' WHERE seq = 1")
            .await
            .expect("tamper");
        db.close().await.expect("close");
    });
    let output = run(nexus()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path()));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "the audit log is broken at entry 1: its content does not match its hash (the entry was changed)"
    );
}

/// `nexus dev` on a fresh data directory with the default log filter, `env` set; returns stderr
/// from start to Ctrl-C.
fn dev_logs(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = nexus();
    command
        .env_remove("RUST_LOG")
        .env_remove("NEXUS_LOG_FORMAT")
        .envs(env.iter().copied())
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("nexus dev starts");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !lines
        .next()
        .and_then(Result::ok)
        .unwrap_or_default()
        .starts_with("Nexus is running: ")
    {
        assert!(Instant::now() < deadline, "nexus dev did not start");
    }
    std::thread::spawn(move || for _ in lines {});
    assert!(interrupt(&mut child).success());
    logs.join().expect("stderr read")
}

#[test]
fn a_clean_start_logs_readable_lines_without_colour_or_warnings() {
    let logs = dev_logs(&[]);
    assert!(!logs.contains('\u{1b}'), "colour codes on a pipe: {logs}");
    assert!(logs.contains(" INFO "), "{logs}");
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert_eq!(warnings, Vec::<&str>::new(), "{logs}");
}

#[test]
fn nexus_log_format_json_logs_one_json_object_a_line() {
    let logs = dev_logs(&[("NEXUS_LOG_FORMAT", "json")]);
    let mut lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string(), "{line}");
        assert!(entry["timestamp"].is_string(), "{line}");
        assert!(entry["fields"].is_object(), "{line}");
        lines += 1;
    }
    assert!(lines > 0, "no logs: {logs}");
}

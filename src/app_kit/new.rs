//! `nexus app new NAME --lang rust|node|python`: a ready app project — a federation subgraph on
//! the language's usual library extending `User` and `Organization` by `id`, a manifest that
//! passes review's checks, a webhook handler, "Sign in with Nexus", its own tests, a README, and
//! the Nexus SDK for its language copied in (the SDKs are not published).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nexus_registry::manifest::check_namespace;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Node,
    Python,
}

/// A file of a template: its path in the project and its text, placeholders not yet filled.
type File = (&'static str, &'static str);

const COMMON: &[File] = &[(
    "manifest.json",
    include_str!("templates/manifest.json.tmpl"),
)];

const RUST: &[File] = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml.tmpl")),
    ("src/main.rs", include_str!("templates/rust/src/main.rs")),
    ("src/lib.rs", include_str!("templates/rust/src/lib.rs")),
    (
        "src/webhooks.rs",
        include_str!("templates/rust/src/webhooks.rs"),
    ),
    (
        "src/sign_in.rs",
        include_str!("templates/rust/src/sign_in.rs"),
    ),
    ("tests/app.rs", include_str!("templates/rust/tests/app.rs")),
    (
        "nexus.dev.toml",
        include_str!("templates/rust/nexus.dev.toml"),
    ),
    ("README.md", include_str!("templates/rust/README.md.tmpl")),
    (".gitignore", include_str!("templates/rust/gitignore")),
    // The versions this binary was built and tested with.
    ("Cargo.lock", include_str!("../../Cargo.lock")),
    (
        "nexus-app/Cargo.toml",
        include_str!("templates/rust/sdk.Cargo.toml"),
    ),
    (
        "nexus-app/src/lib.rs",
        include_str!("../../sdk/rust/src/lib.rs"),
    ),
    (
        "nexus-app/src/context.rs",
        include_str!("../../sdk/rust/src/context.rs"),
    ),
    (
        "nexus-app/src/jwks.rs",
        include_str!("../../sdk/rust/src/jwks.rs"),
    ),
    (
        "nexus-app/src/webhook.rs",
        include_str!("../../sdk/rust/src/webhook.rs"),
    ),
    (
        "nexus-app/src/installation.rs",
        include_str!("../../sdk/rust/src/installation.rs"),
    ),
];

const PYTHON: &[File] = &[
    ("app.py", include_str!("templates/python/app.py")),
    (
        "tests/test_app.py",
        include_str!("templates/python/tests/test_app.py"),
    ),
    (
        "requirements.txt",
        include_str!("templates/python/requirements.txt"),
    ),
    (
        "nexus.dev.toml",
        include_str!("templates/python/nexus.dev.toml"),
    ),
    ("README.md", include_str!("templates/python/README.md.tmpl")),
    (".gitignore", include_str!("templates/python/gitignore")),
    (
        "nexus_app/__init__.py",
        include_str!("../../sdk/python/nexus_app/__init__.py"),
    ),
    (
        "nexus_app/context.py",
        include_str!("../../sdk/python/nexus_app/context.py"),
    ),
    (
        "nexus_app/webhook.py",
        include_str!("../../sdk/python/nexus_app/webhook.py"),
    ),
    (
        "nexus_app/installation.py",
        include_str!("../../sdk/python/nexus_app/installation.py"),
    ),
];

const NODE: &[File] = &[
    ("app.js", include_str!("templates/node/app.js")),
    ("server.js", include_str!("templates/node/server.js")),
    (
        "test/app.test.js",
        include_str!("templates/node/test/app.test.js"),
    ),
    (
        "package.json",
        include_str!("templates/node/package.json.tmpl"),
    ),
    (
        "nexus.dev.toml",
        include_str!("templates/node/nexus.dev.toml"),
    ),
    ("README.md", include_str!("templates/node/README.md.tmpl")),
    (".gitignore", include_str!("templates/node/gitignore")),
    (
        "nexus-app/package.json",
        include_str!("../../sdk/node/package.json"),
    ),
    (
        "nexus-app/index.js",
        include_str!("../../sdk/node/index.js"),
    ),
    (
        "nexus-app/index.d.ts",
        include_str!("../../sdk/node/index.d.ts"),
    ),
];

/// The project `name` in a new directory of that name under `parent`; its path.
pub fn create(name: &str, lang: Lang, parent: &Path) -> anyhow::Result<PathBuf> {
    let namespace = namespace_of(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} already exists: choose another name or remove it",
            dir.display()
        );
    }
    let files: Vec<&File> = COMMON
        .iter()
        .chain(match lang {
            Lang::Rust => RUST,
            Lang::Python => PYTHON,
            Lang::Node => NODE,
        })
        .collect();
    let fill = Placeholders::new(name, &namespace);
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, fill.apply(text))
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(dir)
}

/// The namespace of the app `name`: its letters and digits, hyphens and underscores dropped
/// (`my-crm` is `mycrm`); a name that gives no valid namespace is refused, saying why.
pub fn namespace_of(name: &str) -> anyhow::Result<String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        bail!(
            "`{name}` cannot name an app: use lowercase letters, digits and hyphens (e.g. my-crm)"
        );
    }
    let namespace: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    check_namespace(&namespace).map_err(|e| anyhow::anyhow!("`{name}` cannot name an app: {e}"))?;
    Ok(namespace)
}

struct Placeholders {
    pairs: Vec<(&'static str, String)>,
}

impl Placeholders {
    fn new(name: &str, namespace: &str) -> Self {
        let title: String = name
            .split(['-', '_'])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut chars = w.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let prefix = {
            let mut chars = namespace.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        // A port of its own per app name, so two apps in development rarely collide.
        let port = 5100
            + name
                .bytes()
                .fold(0u32, |h, b| (h * 31 + u32::from(b)) % 800);
        Placeholders {
            pairs: vec![
                ("__CRATE__", name.replace('-', "_")),
                ("__DIR__", name.to_owned()),
                ("__PREFIX__", prefix),
                ("__NAME__", title),
                ("__PORT__", port.to_string()),
                ("__NS__", namespace.to_owned()),
            ],
        }
    }

    fn apply(&self, text: &str) -> String {
        self.pairs
            .iter()
            .fold(text.to_owned(), |text, (placeholder, value)| {
                text.replace(placeholder, value)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_namespaces_or_are_refused_saying_why() {
        assert_eq!(namespace_of("my-crm").ok().as_deref(), Some("mycrm"));
        assert_eq!(namespace_of("crm2").ok().as_deref(), Some("crm2"));
        for (bad, why) in [
            ("My-CRM", "lowercase letters"),
            ("2crm", "starting with a letter"),
            ("user", "reserved"),
            ("x", "2 to 32"),
            ("crm app", "lowercase letters"),
        ] {
            let err = namespace_of(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}

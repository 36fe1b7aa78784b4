//! What a directive in an app's SDL *is*, whatever it is spelled: `@link` imports with `as`, a
//! federation spec linked under another prefix (`as:`), `federation__` names. Every link is found
//! by what it says (a schema directive with a `url`), not by the spelling `@link`, and only the
//! federation spec (and the link spec itself, unrenamed) may be linked.

use std::collections::BTreeMap;

use apollo_compiler::ast::{Definition, Directive, Document};

/// Apollo's spec host: `https://specs.apollo.dev/<name>/v<version>`.
const SPECS_HOST: &str = "specs.apollo.dev";

/// A link the policy refuses, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedLink {
    pub url: String,
    pub reason: String,
}

/// Spelling → identity of the directives an app's SDL uses.
#[derive(Clone, Debug, Default)]
pub struct DirectiveNames {
    /// `@link(import: [{ name: "@override", as: "@takeover" }])`: takeover → override.
    imported: BTreeMap<String, String>,
    /// The federation spec's prefix (`federation`, or its `as:`); `None` for a federation 1 SDL.
    federation_prefix: Option<String>,
}

/// A resolved directive: federation's own (by its spec name) or anything else (by its spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved<'a> {
    Federation(&'a str),
    Other(&'a str),
}

impl Resolved<'_> {
    /// The name the directive goes by in its spec (federation's) or its spelling (others').
    pub fn name(&self) -> &str {
        match self {
            Resolved::Federation(name) | Resolved::Other(name) => name,
        }
    }
}

impl DirectiveNames {
    pub fn resolve<'a>(&'a self, spelled: &'a str) -> Resolved<'a> {
        if let Some(canonical) = self.imported.get(spelled) {
            return Resolved::Federation(canonical);
        }
        if let Some(prefix) = &self.federation_prefix
            && let Some(rest) = spelled
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_prefix("__"))
        {
            return Resolved::Federation(rest);
        }
        if self.federation_prefix.is_none() {
            // Federation 1 has no links: its directives go by their own names.
            return Resolved::Federation(spelled);
        }
        Resolved::Other(spelled)
    }
}

/// The directive names of `document`, and every link it may not make.
pub fn resolve(document: &Document) -> (DirectiveNames, Vec<RefusedLink>) {
    let mut names = DirectiveNames::default();
    let mut refused = Vec::new();
    let schema_directives = document.definitions.iter().flat_map(|d| match d {
        Definition::SchemaDefinition(s) => s.directives.iter().collect::<Vec<_>>(),
        Definition::SchemaExtension(s) => s.directives.iter().collect(),
        _ => Vec::new(),
    });
    for directive in schema_directives {
        // Whatever it is called, a schema directive with a `url` is a link.
        let Some(url) = directive
            .specified_argument_by_name("url")
            .and_then(|v| v.as_str())
        else {
            continue;
        };
        let alias = argument_str(directive, "as");
        match spec_name(url) {
            Some("federation") => {
                if names.federation_prefix.is_some() {
                    refused.push(RefusedLink {
                        url: url.to_owned(),
                        reason: "the federation spec is linked more than once".into(),
                    });
                    continue;
                }
                names.federation_prefix = Some(alias.unwrap_or("federation").to_owned());
                for (spelled, canonical) in directive_imports(directive) {
                    names.imported.insert(spelled, canonical);
                }
            }
            Some("link") if alias.is_none() && directive.name == "link" => {}
            Some("link") => refused.push(RefusedLink {
                url: url.to_owned(),
                reason: "the link spec must be linked as `@link`, without `as`".into(),
            }),
            Some(other) => refused.push(RefusedLink {
                url: url.to_owned(),
                reason: format!(
                    "it links the `{other}` spec; an app subgraph may link only the federation spec"
                ),
            }),
            None => refused.push(RefusedLink {
                url: url.to_owned(),
                reason: "it links a spec outside Apollo's federation spec; an app subgraph may link only the federation spec".into(),
            }),
        }
    }
    (names, refused)
}

/// `federation` for `https://specs.apollo.dev/federation/v2.5`; `None` for other hosts.
fn spec_name(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let mut parts = rest.split('/');
    if parts.next()? != SPECS_HOST {
        return None;
    }
    let name = parts.next().filter(|n| !n.is_empty())?;
    let version = parts.next()?;
    (version.starts_with('v') && parts.next().is_none_or(str::is_empty)).then_some(name)
}

fn argument_str<'a>(directive: &'a Directive, name: &str) -> Option<&'a str> {
    directive
        .specified_argument_by_name(name)
        .and_then(|v| v.as_str())
}

/// The directives a federation link imports: (spelling, spec name), both without `@`.
fn directive_imports(directive: &Directive) -> Vec<(String, String)> {
    let Some(list) = directive
        .specified_argument_by_name("import")
        .and_then(|v| v.as_list())
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|item| {
            if let Some(name) = item.as_str() {
                return Some((name.to_owned(), name.to_owned()));
            }
            let fields = item.as_object()?;
            let field = |key: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == key)
                    .and_then(|(_, v)| v.as_str())
            };
            let name = field("name")?;
            Some((field("as").unwrap_or(name).to_owned(), name.to_owned()))
        })
        .filter_map(|(spelled, canonical)| {
            // Types (`FieldSet`) are imported too; only directives matter here.
            Some((
                spelled.strip_prefix('@')?.to_owned(),
                canonical.strip_prefix('@')?.to_owned(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sdl: &str) -> (DirectiveNames, Vec<RefusedLink>) {
        resolve(&Document::parse(sdl, "t.graphql").expect("parses"))
    }

    #[test]
    fn imports_prefixes_and_renames_resolve_to_the_spec_name() {
        let (names, refused) = names(
            r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", as: "fed",
                import: ["@key", { name: "@override", as: "@takeover" }, "FieldSet"])"#,
        );
        assert_eq!(refused, []);
        assert_eq!(names.resolve("key"), Resolved::Federation("key"));
        assert_eq!(names.resolve("takeover"), Resolved::Federation("override"));
        assert_eq!(
            names.resolve("fed__override"),
            Resolved::Federation("override")
        );
        assert_eq!(
            names.resolve("federation__override"),
            Resolved::Other("federation__override")
        );
        assert_eq!(names.resolve("mine"), Resolved::Other("mine"));
    }

    #[test]
    fn without_links_names_are_federation_1s() {
        let (names, refused) = names("type Query { a: Int }");
        assert_eq!(refused, []);
        assert_eq!(names.resolve("key"), Resolved::Federation("key"));
    }

    #[test]
    fn only_the_federation_spec_may_be_linked() {
        let (_, refused) = names(
            r#"extend schema
                @link(url: "https://specs.apollo.dev/federation/v2.10", import: ["@key"])
                @link(url: "https://specs.apollo.dev/connect/v0.1", import: ["@connect", "@source"])
                @link(url: "https://example.com/mine/v1.0")
                @lnk(url: "https://specs.apollo.dev/link/v1.0")"#,
        );
        let urls: Vec<&str> = refused.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://specs.apollo.dev/connect/v0.1",
                "https://example.com/mine/v1.0",
                "https://specs.apollo.dev/link/v1.0"
            ]
        );
        assert!(refused[0].reason.contains("`connect`"), "{:?}", refused[0]);
    }
}

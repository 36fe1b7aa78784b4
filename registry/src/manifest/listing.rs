//! How an app is shown in the store (`listing` in the manifest, with the top-level `description`,
//! `category`, `urls` and `pricing.summary`): the rules a listing follows. Which categories exist
//! is the platform's (its admins keep the list); the apps service checks membership.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Manifest;

pub const MAX_TAGLINE_CHARS: usize = 80;
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
pub const MAX_SCREENSHOTS: usize = 8;
pub const MAX_TAGS: usize = 10;
/// `category` and `listing.categories` together.
pub const MAX_CATEGORIES: usize = 3;
pub const MAX_PRICING_SUMMARY_CHARS: usize = 140;
const MAX_URL_CHARS: usize = 2048;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// One line under the app's name in the store: at most 80 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tagline: Option<String>,
    /// The app's icon: an https URL of a square image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Up to 8 https URLs of images of the app at work, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screenshots: Vec<String>,
    /// Up to 10 words people search by: lowercase letters, digits and hyphens, 2 to 32 each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// More categories from the platform's list, beside `category`: 3 at most in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

impl Listing {
    pub fn is_empty(&self) -> bool {
        *self == Listing::default()
    }
}

/// Every problem with the manifest's listing, each at its JSON path.
pub fn check(manifest: &Manifest, problem: &mut impl FnMut(&str, &'static str, String)) {
    if manifest.description.chars().count() > MAX_DESCRIPTION_CHARS {
        problem(
            "/description",
            "DESCRIPTION",
            format!("the description has at most {MAX_DESCRIPTION_CHARS} characters (Markdown)"),
        );
    }
    if let Some(summary) = &manifest.pricing.summary
        && (summary.chars().count() > MAX_PRICING_SUMMARY_CHARS || summary.contains('\n'))
    {
        problem(
            "/pricing/summary",
            "PRICING",
            format!(
                "the pricing summary is one line of at most {MAX_PRICING_SUMMARY_CHARS} characters"
            ),
        );
    }
    let listing = &manifest.listing;
    if let Some(tagline) = &listing.tagline
        && (tagline.trim().is_empty()
            || tagline.chars().count() > MAX_TAGLINE_CHARS
            || tagline.contains('\n'))
    {
        problem(
            "/listing/tagline",
            "TAGLINE",
            format!("the tagline is one line of 1 to {MAX_TAGLINE_CHARS} characters"),
        );
    }
    if let Some(icon) = &listing.icon
        && let Err(message) = https_url(icon)
    {
        problem("/listing/icon", "URL", message);
    }
    if listing.screenshots.len() > MAX_SCREENSHOTS {
        problem(
            "/listing/screenshots",
            "SCREENSHOTS",
            format!("at most {MAX_SCREENSHOTS} screenshots"),
        );
    }
    for (i, screenshot) in listing.screenshots.iter().enumerate() {
        if let Err(message) = https_url(screenshot) {
            problem(&format!("/listing/screenshots/{i}"), "URL", message);
        }
    }
    if listing.tags.len() > MAX_TAGS {
        problem("/listing/tags", "TAGS", format!("at most {MAX_TAGS} tags"));
    }
    let mut tags = BTreeSet::new();
    for (i, tag) in listing.tags.iter().enumerate() {
        let path = format!("/listing/tags/{i}");
        if !is_slug(tag, 32) {
            problem(
                &path,
                "TAGS",
                format!(
                    "`{tag}` is not a tag: 2 to 32 lowercase letters, digits and inner hyphens"
                ),
            );
        } else if !tags.insert(tag) {
            problem(&path, "TAGS", format!("the tag `{tag}` is listed twice"));
        }
    }
    let mut categories = BTreeSet::from([manifest.category.trim().to_lowercase()]);
    for (i, category) in listing.categories.iter().enumerate() {
        let path = format!("/listing/categories/{i}");
        if let Err(message) = super::check_category(category) {
            problem(&path, "CATEGORY", message);
        } else if !categories.insert(category.trim().to_lowercase()) {
            problem(
                &path,
                "CATEGORY",
                format!("the category `{category}` is listed twice (`category` counts too)"),
            );
        }
    }
    if categories.len() > MAX_CATEGORIES {
        problem(
            "/listing/categories",
            "CATEGORY",
            format!("at most {MAX_CATEGORIES} categories in all, `category` included"),
        );
    }
}

/// The app's categories: `category` first, then the listing's, each once, lowercase.
pub fn categories(manifest: &Manifest) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for category in std::iter::once(&manifest.category).chain(&manifest.listing.categories) {
        let category = category.trim().to_lowercase();
        if !all.contains(&category) {
            all.push(category);
        }
    }
    all
}

/// 2 to `max` lowercase letters, digits and inner hyphens: a tag, a category's slug.
pub fn is_slug(text: &str, max: usize) -> bool {
    (2..=max).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

fn https_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_CHARS {
        return Err(format!("a URL has at most {MAX_URL_CHARS} characters"));
    }
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Ok(()),
        Ok(_) => Err(format!("`{url}` must be an https URL")),
        Err(e) => Err(format!("`{url}` is not a URL: {e}")),
    }
}

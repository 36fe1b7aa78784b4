//! The field sets of `@key`, `@requires` and `@provides` (`"id organization { id }"`) as a tree
//! of field names: enough to see which fields a selection reaches.

/// One selected field and what is selected under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub name: String,
    pub children: Vec<Selected>,
}

/// The selection's fields, or `None` for anything but plain field names and braces (arguments,
/// aliases, fragments, directives): the policy refuses what it cannot read.
pub fn parse(fields: &str) -> Option<Vec<Selected>> {
    let spaced = fields
        .replace('{', " { ")
        .replace('}', " } ")
        .replace(',', " ");
    let mut tokens = spaced.split_whitespace().peekable();
    let selection = parse_level(&mut tokens, 0)?;
    if tokens.next().is_some() || selection.is_empty() {
        return None;
    }
    Some(selection)
}

/// Deeper than any real key: a bound on recursion for hostile input.
const MAX_DEPTH: usize = 16;

fn parse_level<'a>(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    depth: usize,
) -> Option<Vec<Selected>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out: Vec<Selected> = Vec::new();
    while let Some(&token) = tokens.peek() {
        match token {
            "}" => break,
            "{" => {
                tokens.next();
                let parent = out.last_mut()?;
                if !parent.children.is_empty() {
                    return None;
                }
                parent.children = parse_level(tokens, depth + 1)?;
                if tokens.next() != Some("}") || parent.children.is_empty() {
                    return None;
                }
            }
            name if is_name(name) => {
                tokens.next();
                out.push(Selected {
                    name: name.to_owned(),
                    children: Vec::new(),
                });
            }
            _ => return None,
        }
    }
    Some(out)
}

fn is_name(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &str) -> Selected {
        Selected {
            name: name.into(),
            children: vec![],
        }
    }

    #[test]
    fn nested_selections_parse_into_a_tree() {
        assert_eq!(parse("id"), Some(vec![leaf("id")]));
        assert_eq!(
            parse("id organization{id name}"),
            Some(vec![
                leaf("id"),
                Selected {
                    name: "organization".into(),
                    children: vec![leaf("id"), leaf("name")]
                }
            ])
        );
    }

    #[test]
    fn what_cannot_be_read_is_none() {
        for bad in [
            "",
            "{ id }",
            "id {",
            "id }",
            "a: id",
            "... on User { id }",
            "id(x: 1)",
            "id @skip",
            "a { }",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let deep = format!("{}x{}", "a { ".repeat(40), " }".repeat(40));
        assert_eq!(parse(&deep), None);
    }
}

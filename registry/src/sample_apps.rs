//! Generated app subgraphs, for the tests that compare incremental and full composition and for
//! the composition benchmark: each follows the extension policy (its own namespace, the core's
//! `User` and `Organization` extended by `id` only) and varies, from a seed, in what apps really
//! use — federation 1 or 2 links, own object types, enums, interfaces, inputs, root fields,
//! lists, `@shareable`, `@inaccessible`, `@tag` and the core's `DateTime`.

use crate::compose::SubgraphSdl;

/// A small deterministic generator (SplitMix64): the same seed gives the same apps everywhere.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// One of `0..n`.
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The app `app{index}`, varied by `seed`; `plain` gives every app the same simple shape (three
/// types of its own, `User` and `Organization` extended), as the benchmark's baseline.
pub fn app(index: usize, seed: u64, plain: bool) -> SubgraphSdl {
    let namespace = format!("app{index}");
    let prefix = format!("App{index}");
    let sdl = if plain {
        plain_sdl(&namespace, &prefix)
    } else {
        varied_sdl(
            &namespace,
            &prefix,
            &mut Dice(seed ^ (index as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)),
        )
    };
    SubgraphSdl {
        name: namespace.clone(),
        routing_url: format!("http://127.0.0.1:9/{namespace}/graphql"),
        sdl,
    }
}

/// `count` apps from `seed`.
pub fn apps(count: usize, seed: u64, plain: bool) -> Vec<SubgraphSdl> {
    (0..count).map(|i| app(i, seed, plain)).collect()
}

fn plain_sdl(ns: &str, prefix: &str) -> String {
    format!(
        r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type User @key(fields: "id") {{ id: ID! {ns}Profile: {prefix}Profile {ns}Items(first: Int): [{prefix}Item!]! }}
type Organization @key(fields: "id") {{ id: ID! {ns}Settings: {prefix}Settings }}
type {prefix}Profile {{ visits: Int! score: Float label: String }}
type {prefix}Item {{ id: ID! title: String! tags: [String!]! owner: User }}
type {prefix}Settings {{ enabled: Boolean! plan: String }}
"#
    )
}

const SCALARS: [&str; 5] = ["Int", "String", "Boolean", "Float", "ID"];

fn varied_sdl(ns: &str, prefix: &str, dice: &mut Dice) -> String {
    let federation_1 = dice.chance(15);
    let shareable = !federation_1 && dice.chance(30);
    let inaccessible = !federation_1 && dice.chance(20);
    let tag = !federation_1 && dice.chance(20);
    let date_time = dice.chance(25);
    let mut out = String::new();
    if !federation_1 {
        let mut imports = vec!["\"@key\""];
        if shareable {
            imports.push("\"@shareable\"");
        }
        if inaccessible {
            imports.push("\"@inaccessible\"");
        }
        if tag {
            imports.push("\"@tag\"");
        }
        let version = ["2.0", "2.3", "2.5"][dice.pick(3)];
        out.push_str(&format!(
            "extend schema @link(url: \"https://specs.apollo.dev/federation/v{version}\", import: [{}])\n",
            imports.join(", ")
        ));
    }
    if date_time {
        out.push_str("scalar DateTime\n");
    }
    let types = 1 + dice.pick(4);
    let type_names: Vec<String> = (0..types).map(|t| format!("{prefix}Thing{t}")).collect();
    let field_type = |dice: &mut Dice| -> String {
        let base = match dice.pick(10) {
            0..=5 => SCALARS[dice.pick(SCALARS.len())].to_owned(),
            6 | 7 => type_names[dice.pick(type_names.len())].clone(),
            8 if date_time => "DateTime".to_owned(),
            _ => "User".to_owned(),
        };
        match dice.pick(4) {
            0 => format!("{base}!"),
            1 => format!("[{base}!]"),
            _ => base,
        }
    };
    let enum_name = format!("{prefix}Kind");
    let with_enum = dice.chance(40);
    if with_enum {
        out.push_str(&format!("enum {enum_name} {{ SMALL LARGE OTHER }}\n"));
    }
    let interface = dice.chance(25).then(|| format!("{prefix}Node"));
    if let Some(interface) = &interface {
        out.push_str(&format!("interface {interface} {{ ref: ID! }}\n"));
    }
    for (t, name) in type_names.iter().enumerate() {
        let implements = match (&interface, t) {
            (Some(interface), 0) => format!(" implements {interface}"),
            _ => String::new(),
        };
        // Every type has `ref`, so the first can implement the interface.
        let mut fields = vec!["ref: ID!".to_owned()];
        for f in 0..1 + dice.pick(5) {
            let directive = match dice.pick(10) {
                0 if shareable => " @shareable",
                1 if inaccessible => " @inaccessible",
                2 if tag => " @tag(name: \"beta\")",
                _ => "",
            };
            fields.push(format!("field{f}: {}{directive}", field_type(dice)));
        }
        if with_enum && dice.chance(50) {
            fields.push(format!("kind: {enum_name}"));
        }
        out.push_str(&format!(
            "type {name}{implements} {{ {} }}\n",
            fields.join(" ")
        ));
    }
    let key = if federation_1 {
        "extend type User @key(fields: \"id\") { id: ID! @external"
    } else {
        "type User @key(fields: \"id\") { id: ID!"
    };
    out.push_str(&format!(
        "{key} {ns}Thing: {} {ns}Count: Int }}\n",
        type_names[0]
    ));
    if dice.chance(60) {
        let key = if federation_1 {
            "extend type Organization @key(fields: \"id\") { id: ID! @external"
        } else {
            "type Organization @key(fields: \"id\") { id: ID!"
        };
        out.push_str(&format!(
            "{key} {ns}Things(first: Int = 10): [{}!]! }}\n",
            type_names[type_names.len() - 1]
        ));
    }
    if dice.chance(50) {
        let input = dice.chance(50).then(|| format!("{prefix}Filter"));
        let argument = match &input {
            Some(input) => {
                out.push_str(&format!(
                    "input {input} {{ text: String limit: Int = 5 }}\n"
                ));
                format!("(filter: {input})")
            }
            None => String::new(),
        };
        let root = if federation_1 {
            "extend type Query"
        } else {
            "type Query"
        };
        out.push_str(&format!(
            "{root} {{ {ns}Search{argument}: [{}!]! }}\n",
            type_names[0]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_apps() {
        assert_eq!(apps(5, 7, false)[3].sdl, apps(5, 7, false)[3].sdl);
        assert_ne!(apps(5, 7, false)[3].sdl, apps(5, 8, false)[3].sdl);
    }
}

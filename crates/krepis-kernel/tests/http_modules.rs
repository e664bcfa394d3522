//! Issue 9 item 19: the modules of `src/http` depend on each other in one direction
//! (server → service → bridge → {record, body}, no cycle). Read from the source, so a
//! `use` that closes a cycle fails here with the cycle named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → the sibling modules its code (outside tests and comments) names (`super::x`,
/// `crate::http::x`, or inside a `super::{...}` group).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let (name, file) = if path.is_dir() {
            (path.file_name().unwrap().to_owned(), path.join("mod.rs"))
        } else {
            (path.file_stem().unwrap().to_owned(), path.clone())
        };
        let name = name.to_string_lossy().into_owned();
        if name == "mod" || !file.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests name their own file's items through `super::`, and doc links are no
        // dependency; leave both out.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .flat_map(|line| [line, "\n"])
            .collect();
        sources.insert(name, code);
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources
        .iter()
        .map(|(name, code)| {
            let mut uses = BTreeSet::new();
            for prefix in ["super::", "crate::http::"] {
                for (at, _) in code.match_indices(prefix) {
                    for used in names_after(&code[at + prefix.len()..]) {
                        if modules.contains(&used) && used != *name {
                            uses.insert(used);
                        }
                    }
                }
            }
            (name.clone(), uses)
        })
        .collect()
}

/// The first path segment after `super::`, or every top-level one of a `{...}` group.
fn names_after(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let (mut depth, mut names, mut start) = (0, Vec::new(), Some(0));
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = Some(i + 1),
            _ => {}
        }
        if let Some(s) = start.take() {
            names.push(ident(group[s..].trim_start()));
        }
    }
    names
}

/// A cycle in `graph`, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in &graph[node] {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn http_modules_depend_in_one_direction() {
    let graph = graph();
    // The reader sees the real thing: the main edges are there.
    for (from, to) in [
        ("server", "service"),
        ("service", "bridge"),
        ("bridge", "record"),
        ("bridge", "body"),
    ] {
        assert!(
            graph[from].contains(to),
            "{from} should use {to}: {graph:?}"
        );
    }
    if let Some(found) = cycle(&graph) {
        panic!("module cycle: {}", found.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut graph = graph();
    graph.get_mut("record").unwrap().insert("service".into());
    let found = cycle(&graph).expect("record -> service closes a cycle");
    assert_eq!(found.first(), found.last());
    assert!(found.contains(&"service".to_owned()) && found.contains(&"record".to_owned()));
    assert_eq!(
        names_after("{body::{self, X}, validate, websocket};"),
        ["body", "validate", "websocket"]
    );
}

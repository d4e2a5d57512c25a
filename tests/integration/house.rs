//! The house rules a reviewer would otherwise count by hand: no source file
//! over 600 lines and no function over 80, outside tests (issue #22). Long
//! files hide more than one job; long functions hide the pure piece that could
//! be tested as a table.
//!
//! Scanned: `src/` and `crates/*/src/`, without `tests.rs` files, `tests/`
//! folders and inline `#[cfg(test)]` modules. A function is `fn name` up to
//! its matching brace, counted after comments and string literals are blanked
//! out (a `{` in a string or a doc example does not count).
//!
//! What is over the limit today is listed in [`ALLOWED`] with its reason. The
//! list must stay true both ways: a new offender fails, and so does an entry
//! that is no longer over (take it off the list).
//!
//! And no import circle between files: within a folder, if `a.rs` (or
//! anything under `a/`) uses `b`, nothing under `b` uses `a`, so every
//! folder reads from the files that use nothing of it up. A child using its
//! parent (`super::`) is the module tree, not a circle.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Over the limit on purpose or for now: `(file, function or "" for the
/// whole file, why)`.
#[rustfmt::skip] // one entry a line, so the list reads as a table
const ALLOWED: &[(&str, &str, &str)] = &[
    ("crates/batch-simulator/src/autoscale/lexer.rs", "tokenize",
     "one loop and one match, an arm per token, sharing the position bookkeeping (see its doc)"),
];

#[test]
fn no_file_or_function_over_the_limit_unless_listed_with_a_reason() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let found = offenders(&root);
    let allowed: BTreeSet<(String, String)> = ALLOWED
        .iter()
        .map(|(file, function, _)| ((*file).to_owned(), (*function).to_owned()))
        .collect();
    let new: Vec<String> = found
        .iter()
        .filter(|(key, _)| !allowed.contains(key))
        .map(|((file, function), lines)| format!("{file} {function}: {lines} lines"))
        .collect();
    let gone: Vec<String> = allowed
        .iter()
        .filter(|key| !found.iter().any(|(found, _)| found == *key))
        .map(|(file, function)| format!("{file} {function}"))
        .collect();
    assert!(
        new.is_empty(),
        "over the limit ({MAX_FILE_LINES} lines a file, {MAX_FN_LINES} a function): split it, \
         or list it in ALLOWED with why:\n{}",
        new.join("\n")
    );
    assert!(
        gone.is_empty(),
        "listed in ALLOWED but no longer over the limit: take it off the list:\n{}",
        gone.join("\n")
    );
}

#[test]
fn no_import_circle_between_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut crate_roots = vec![root.join("src")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        crate_roots.push(entry.unwrap().path().join("src"));
    }
    for crate_root in crate_roots {
        let graph = import_graph(&crate_root);
        if let Some(circle) = find_circle(&graph) {
            panic!(
                "{}: an import circle: {} (move what both need to one side, or \
                 to a file of its own)",
                crate_root.strip_prefix(&root).unwrap().display(),
                circle.join(" -> ")
            );
        }
    }
}

/// Module path (`resizer/converge`; `""` for the crate root) to the modules
/// it depends on at the level where the two part: `resizer/decide/up`
/// using `crate::resizer::lease` is `resizer/decide -> resizer/lease`.
fn import_graph(crate_root: &Path) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut modules = std::collections::BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for file in files_under(crate_root) {
        let relative = file
            .strip_prefix(crate_root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let module = module_path(&relative);
        let code = without_test_modules(&blank_comments_and_strings(
            &std::fs::read_to_string(&file).unwrap(),
        ));
        for child in test_only_children(&code) {
            test_only.insert(if module.is_empty() {
                child
            } else {
                format!("{module}/{child}")
            });
        }
        modules.insert(module, code);
    }
    modules.retain(|module, _| {
        !test_only
            .iter()
            .any(|t| module == t || module.starts_with(&format!("{t}/")))
    });
    let mut graph: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for (module, code) in &modules {
        for used in used_paths(code) {
            let Some(target) = resolve(&used, module, &modules) else {
                continue;
            };
            let (from, to) = (
                module.split('/').collect::<Vec<_>>(),
                target.split('/').collect::<Vec<_>>(),
            );
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < from.len() && common < to.len() {
                graph
                    .entry(from[..=common].join("/"))
                    .or_default()
                    .insert(to[..=common].join("/"));
            }
        }
    }
    graph
}

/// `resizer/converge.rs` is `resizer/converge`, `world/mod.rs` is `world`,
/// `lib.rs` and `main.rs` are the root.
fn module_path(relative: &str) -> String {
    let stem = relative.trim_end_matches(".rs");
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    if stem == "lib" || stem == "main" {
        String::new()
    } else {
        stem.to_owned()
    }
}

/// The `mod name;` declared under `#[cfg(test)]`: test helpers (fixtures),
/// which may use anything.
fn test_only_children(code: &str) -> Vec<String> {
    let mut children = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        rest = &rest[at + "#[cfg(test)]".len()..];
        let mut item = rest.trim_start();
        while item.starts_with("#[") {
            item = item[item.find(']').map_or(item.len(), |k| k + 1)..].trim_start();
        }
        let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
        if let Some(declared) = item.strip_prefix("mod ") {
            let name: String = declared
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if declared[name.len()..].trim_start().starts_with(';') {
                children.push(name);
            }
        }
    }
    children
}

/// Every `crate::a::b` and `super::a` path in the code, groups
/// (`crate::a::{b, c::d}`) spelled out, `#[cfg(test)]` and `#[cfg(doc)]`
/// imports left out.
fn used_paths(code: &str) -> Vec<String> {
    let mut code = code.to_owned();
    for gate in ["#[cfg(test)]", "#[cfg(doc)]"] {
        while let Some(at) = code.find(gate) {
            let rest = code[at + gate.len()..].trim_start();
            let gated_use = rest.starts_with("use ")
                || rest.starts_with("pub(crate) use ")
                || rest.starts_with("pub(super) use ");
            let end = if gated_use {
                at + gate.len() + code[at + gate.len()..].find(';').map_or(0, |k| k + 1)
            } else {
                at + gate.len()
            };
            code.replace_range(at..end, "");
        }
    }
    let mut paths = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(k) = code[from..].find(start) {
            let at = from + k;
            from = at + start.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            paths.extend(spelled_out(&code[at..]));
        }
    }
    paths
}

/// The path at the start of `text`, or each path of its `{...}` group.
fn spelled_out(text: &str) -> Vec<String> {
    let path: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let rest = &text[path.len()..];
    if !(path.ends_with("::") && rest.starts_with('{')) {
        return vec![path.trim_end_matches(':').to_owned()];
    }
    let close = matching_brace(rest, 0);
    let mut depth = 0;
    let mut items = Vec::new();
    let mut item = String::new();
    for c in rest[1..close].chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    items
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty() && *item != "self")
        .flat_map(|item| spelled_out(&format!("{path}{item}")))
        .collect()
}

/// The longest module a path names, from `module`'s place in the tree.
fn resolve(
    path: &str,
    module: &str,
    modules: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let mut segments = path.split("::").peekable();
    let mut at: Vec<&str> = match segments.peek() {
        Some(&"crate") => Vec::new(),
        _ => module.split('/').filter(|s| !s.is_empty()).collect(),
    };
    for segment in segments.by_ref() {
        match segment {
            "crate" => {}
            "super" => {
                at.pop()?;
            }
            name => {
                at.push(name);
                if !modules.contains_key(&at.join("/")) {
                    at.pop();
                    break;
                }
            }
        }
    }
    Some(at.join("/"))
}

/// A circle in the graph, as the modules around it, if there is one.
fn find_circle(
    graph: &std::collections::BTreeMap<String, BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
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

/// Every `((file, function or ""), lines)` over its limit.
fn offenders(root: &Path) -> Vec<((String, String), usize)> {
    let mut found = Vec::new();
    for file in source_files(root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let code = without_test_modules(&blank_comments_and_strings(&text));
        let lines = code.lines().count();
        if lines > MAX_FILE_LINES {
            found.push(((name.clone(), String::new()), lines));
        }
        for (function, lines) in functions(&code) {
            if lines > MAX_FN_LINES {
                found.push(((name.clone(), function), lines));
            }
        }
    }
    found
}

fn source_files(root: &Path) -> Vec<PathBuf> {
    let mut files = files_under(&root.join("src"));
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        files.extend(files_under(&entry.unwrap().path().join("src")));
    }
    files.sort();
    files
}

/// The `.rs` files under `dir`, without `tests.rs` files and `tests/` folders.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut roots = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = roots.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "tests" {
                    roots.push(path);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The text with comments and the insides of string and char literals
/// replaced by spaces, newlines kept, so braces are code and lines still count.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let at = |p: usize| chars.get(p).copied().unwrap_or('\0');
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if at(i) == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if at(i) == 'r' && (at(i + 1) == '"' || at(i + 1) == '#') && !after_ident {
            let hashes = (1..).take_while(|&k| at(i + k) == '#').count();
            if at(i + 1 + hashes) != '"' {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let closes_here =
                |k: usize| chars[k] == '"' && (1..=hashes).all(|h| chars.get(k + h) == Some(&'#'));
            out.push('"');
            i += 2 + hashes;
            while i < chars.len() && !closes_here(i) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push('"');
            i += 1 + hashes;
        } else if at(i) == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for k in 0..step {
                    out.push(blank(at(i + k)));
                }
                i += step;
            }
            out.push('"');
            i += 1;
        } else if at(i) == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal ('{', '\'', '\u{7b}'); a lifetime ('a) has no closing quote.
            out.push('\'');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                out.push_str(&" ".repeat(step));
                i += step;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The code without its `#[cfg(test)] mod name { ... }` blocks.
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(start) = out.find("#[cfg(test)]") {
        let rest = &out[start + "#[cfg(test)]".len()..];
        let mut trimmed = rest.trim_start();
        while trimmed.starts_with("#[") {
            trimmed = trimmed[trimmed.find(']').map_or(trimmed.len(), |k| k + 1)..].trim_start();
        }
        let is_inline_module = trimmed.starts_with("mod ")
            && trimmed
                .find(['{', ';'])
                .is_some_and(|k| trimmed.as_bytes()[k] == b'{');
        if !is_inline_module {
            // `#[cfg(test)] mod tests;` or a test-only item: leave it, look further on.
            out.replace_range(start..start + "#[cfg(test)]".len(), "#[cfg(tset)]");
            continue;
        }
        let open = start
            + "#[cfg(test)]".len()
            + (rest.len() - trimmed.len())
            + trimmed.find('{').unwrap();
        let close = matching_brace(&out, open);
        out.replace_range(start..=close, "");
    }
    out.replace("#[cfg(tset)]", "#[cfg(test)]")
}

/// The index of the `}` closing the `{` at `open`.
fn matching_brace(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (k, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + k;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces after byte {open}")
}

/// Every function with a body: its name and its lines, `fn` line to `}` line.
fn functions(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(k) = code[from..].find("fn ") {
        let at = from + k;
        from = at + 3;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let name: String = code[at + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        let Some(end) = body_start(code, at) else {
            continue;
        };
        let close = matching_brace(code, end);
        let lines = code[at..=close].lines().count();
        found.push((name, lines));
    }
    found
}

/// Where the body of the `fn` at `at` opens: the first `{` outside `()` and
/// `[]` (a return type `[u8; 4]` has a `;`); `None` for a declaration.
fn body_start(code: &str, at: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, c) in code[at..].char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '{' if depth == 0 => return Some(at + k),
            ';' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

#[test]
fn the_scan_sees_code_not_comments_or_strings() {
    let code = blank_comments_and_strings(
        "fn a() {\n    let s = \"}\"; // }\n    let c = '{';\n    let r = r#\"}\"#;\n    \
         /* } */ let l: &'static str = s;\n}\nfn b<'x>(v: &'x u8) -> [u8; 1] { [*v] }\n",
    );
    assert_eq!(
        functions(&code),
        vec![("a".to_owned(), 6), ("b".to_owned(), 1)]
    );
    let tests = without_test_modules("fn a() {}\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n");
    assert_eq!(functions(&tests), vec![("a".to_owned(), 1)]);
}

//! ARCHITECTURE.md's invariants, read from the sources (a tidy check, as rust-analyzer's):
//!
//! - no import cycle between the files of `server/src` or of `client/src`, beyond the known
//!   knots listed in [`KNOWN_CYCLES`] (each must still exist: the list only shrinks);
//! - the import rules between folders ("imports point inward");
//! - SQLite is opened only by `worker/` (the allow-list [`OPENS_SQLITE`]);
//! - a `tonic::Status` is built only where errors become answers ([`BUILDS_STATUS`]).
//!
//! A file's imports are every `crate::`, `super::` and `self::` path it names outside
//! comments and its `#[cfg(test)] mod tests`, `use` trees expanded, each resolved to the
//! longest module path that is a file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Import cycles that are known and not untied yet (issue 31, item 4). Each is the set of
/// files of one strongly connected component.
const KNOWN_CYCLES: &[&[&str]] = &[
    &[
        "replication::generation",
        "replication::preflight",
        "replication::restore",
    ],
    &["service::database", "service::session"],
    &["service::session::driver", "service::session::request"],
    &[
        "worker::connection",
        "worker::safety",
        "worker::schema_probe",
    ],
    &[
        "worker::budget",
        "worker::connections",
        "worker::executor",
        "worker::group_commit",
        "worker::integrity",
        "worker::job",
        "worker::kv::read",
        "worker::manager",
        "worker::process",
        "worker::readers",
        "worker::reply",
        "worker::supervision",
        "worker::thread",
        "worker::transaction",
    ],
];

/// The only files of `server/src` that open a SQLite connection.
const OPENS_SQLITE: &[&str] = &["worker::"];

/// The only files of `server/src` that build a `tonic::Status` themselves: errors become
/// statuses in `error.rs`; the gateway's not-found and streams, and the Session RPC when
/// sessions are off, are the exceptions.
const BUILDS_STATUS: &[&str] = &["error", "http::routes", "http::stream", "service::database"];

/// Folder rules: files under the first may not import anything under the others.
const NEVER_IMPORTS: &[(&str, &[&str])] = &[
    (
        "worker",
        &["engine", "service", "http", "server", "connections"],
    ),
    ("engine", &["service", "http", "server", "connections"]),
    ("sql", &["engine", "service", "http", "worker", "server"]),
    (
        "memory",
        &["engine", "service", "http", "worker", "server", "sql"],
    ),
    (
        "metrics::names",
        &["engine", "service", "http", "worker", "server"],
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of a crate's `src`, by module path (`""` is the crate root), with their text
/// outside comments and unit tests.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
                parts.clear();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(parts.join("::"), code_of(&text));
        }
    }
    out
}

/// `text` without `//` comments and without its `#[cfg(test)] mod …` of unit tests (the last
/// item of a file, by the project's style).
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            // Not inside a string: good enough for this code base's `use` lines and paths.
            Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
            _ => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    for marker in ["#[cfg(test)]\nmod ", "#[cfg(test)]\npub mod "] {
        if let Some(at) = code.find(marker) {
            code.truncate(at);
        }
    }
    code
}

/// Every path that starts `crate::`, `super::` or `self::` in `code`, `use` trees expanded.
fn paths_in(code: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let bytes = code.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|p| bytes[i..].starts_with(p.as_bytes()) && (i == 0 || !is_word(bytes[i - 1])));
        let Some(_) = starts else {
            i += 1;
            continue;
        };
        // The path, with a `use` tree: up to the end of the braces it opens.
        let mut end = i;
        let mut depth = 0usize;
        while end < bytes.len() {
            let b = bytes[end];
            if b == b'{' {
                depth += 1;
            } else if b == b'}' {
                if depth == 0 {
                    break;
                }
                depth -= 1;
                if depth == 0 {
                    end += 1;
                    break;
                }
            } else if depth == 0 && !(is_word(b) || b == b':') {
                break;
            }
            end += 1;
        }
        let words: Vec<&str> = code[i..end].split_whitespace().collect();
        let mut tree = words.join(" ");
        for glue in ["{", "}", ",", "::"] {
            tree = tree
                .replace(&format!(" {glue}"), glue)
                .replace(&format!("{glue} "), glue);
        }
        paths.extend(expand(&tree));
        i = end.max(i + 1);
    }
    paths
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        return vec![path.trim_end_matches(':').to_string()];
    };
    let prefix = &tree[..open];
    let body = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (at, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&body[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            if p == "self" {
                vec![prefix.trim_end_matches(':').to_string()]
            } else {
                expand(&format!("{prefix}{p}"))
            }
        })
        .collect()
}

/// The file `path`, named in module `from`, refers to: the longest prefix that is a file.
fn resolve(files: &BTreeMap<String, String>, from: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    match parts.first() {
        Some(&"crate") => {
            base.clear();
            parts.remove(0);
        }
        Some(&"super") | Some(&"self") => {
            while let Some(&first) = parts.first() {
                match first {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                parts.remove(0);
            }
        }
        _ => return None,
    }
    base.extend(parts);
    (1..=base.len())
        .rev()
        .map(|n| base[..n].join("::"))
        .find(|m| files.contains_key(m))
}

/// Each file's imports (files of the same crate, itself and the crate root left out).
fn imports(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    files
        .iter()
        .map(|(module, code)| {
            let targets = paths_in(code)
                .iter()
                .filter_map(|p| resolve(files, module, p))
                .filter(|t| t != module && !t.is_empty())
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

/// The import cycles: strongly connected components of more than one file (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: BTreeSet<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.insert(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: BTreeSet::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

/// Whether `code` names `word` with no letter, digit or `_` right before it.
fn names_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn under(module: &str, folder: &str) -> bool {
    module == folder || module.starts_with(&format!("{folder}::"))
}

#[test]
fn no_import_cycle_beyond_the_known_ones() {
    let known: BTreeSet<Vec<String>> = KNOWN_CYCLES
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    let server = cycles(&imports(&modules(&root().join("server/src"))));
    let new: Vec<_> = server.difference(&known).collect();
    assert!(
        new.is_empty(),
        "import cycles between files of server/src (untie them: move the shared type to a \
         leaf, or pass a trait): {new:?}"
    );
    let untied: Vec<_> = known.difference(&server).collect();
    assert!(
        untied.is_empty(),
        "these known cycles are gone or changed: update KNOWN_CYCLES and ARCHITECTURE.md: \
         {untied:?}"
    );
    let client = cycles(&imports(&modules(&root().join("client/src"))));
    assert!(client.is_empty(), "import cycles in client/src: {client:?}");
}

#[test]
fn imports_point_inward() {
    let graph = imports(&modules(&root().join("server/src")));
    let mut broken = Vec::new();
    for (module, targets) in &graph {
        for (folder, forbidden) in NEVER_IMPORTS {
            if !under(module, folder) {
                continue;
            }
            for target in targets {
                if forbidden.iter().any(|f| under(target, f)) {
                    broken.push(format!("{module} imports {target}"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "ARCHITECTURE.md's import rules: {broken:#?}"
    );
}

#[test]
fn only_workers_open_sqlite_and_only_the_answer_paths_build_statuses() {
    let files = modules(&root().join("server/src"));
    let opens: Vec<_> = files
        .iter()
        .filter(|(_, code)| {
            ["Connection::open", "open_with_flags", "open_in_memory"]
                .iter()
                .any(|call| names_word(code, call))
        })
        .map(|(m, _)| m.as_str())
        .filter(|m| !OPENS_SQLITE.iter().any(|allowed| m.starts_with(allowed)))
        .collect();
    assert!(opens.is_empty(), "SQLite opened outside worker/: {opens:?}");
    let builds: Vec<_> = files
        .iter()
        .filter(|(_, code)| names_word(code, "Status::"))
        .map(|(m, _)| m.as_str())
        .filter(|m| !BUILDS_STATUS.contains(m))
        .collect();
    assert!(
        builds.is_empty(),
        "tonic::Status built outside the answer paths (return an Error instead): {builds:?}"
    );
}

#[test]
fn the_reader_of_imports_sees_what_it_must() {
    // The checks above are only as good as the parsing: a few known shapes.
    let code = code_of(
        "use super::{a::B, c::{d, e as f}};\n// use crate::gone;\nlet x = crate::g::h();\n",
    );
    let paths = paths_in(&code);
    for want in ["super::a::B", "super::c::d", "super::c::e", "crate::g::h"] {
        assert!(
            paths.iter().any(|p| p.starts_with(want)),
            "{want} not in {paths:?}"
        );
    }
    assert!(!paths.iter().any(|p| p.contains("gone")), "{paths:?}");
}

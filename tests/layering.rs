//! The layers of `src/` import downward only (docs/architecture.md): each top-level module may
//! name (`crate::…`) only the modules below it in [`LAYERS`]. Read from the code's own text, as
//! `farm-studio look` and `rs-cycles` read it: every `crate::` path outside comments and outside
//! test code (what follows a file's first `#[cfg(test)]`, and files declared under one). A
//! trait inverted on purpose would be listed in [`INVERTED`], with why; none is today.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules, from the ground up; `main.rs` and `lib.rs` stand above them all.
const LAYERS: &[&str] = &[
    "printable",
    "numbers",
    "system",
    "transport",
    "report",
    "values",
    "peer",
    "export",
    "compare",
    "cli",
    "benchmark",
    "output",
];

/// (importing file, imported module) pairs allowed to point up: none.
const INVERTED: &[(&str, &str)] = &[];

/// One `crate::` path in a file: the file (under `src/`), its layer, the layer it names.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    file: String,
    from: String,
    to: String,
}

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files whose module is declared under `#[cfg(test)]` in its parent (`mod name;`).
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut test_only = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(file).unwrap();
        let dir = file.parent().unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let declared = pair[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(';'));
            if let (true, Some(name)) = (pair[0] == "#[cfg(test)]", declared) {
                test_only.insert(dir.join(format!("{name}.rs")));
                test_only.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    test_only
}

/// Every `crate::<module>` named in `text` outside comments and test code.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut named = BTreeSet::new();
    for line in code.lines().map(str::trim) {
        if line.starts_with("//") {
            continue;
        }
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            named.insert(name);
        }
    }
    named
}

fn imports() -> Vec<Import> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let test_only = test_only_files(&files);
    let mut imports = Vec::new();
    for file in files.iter().filter(|f| !test_only.contains(*f)) {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let from = relative.split(['/', '.']).next().unwrap().to_string();
        for to in named_modules(&fs::read_to_string(file).unwrap()) {
            if to != from {
                imports.push(Import {
                    file: relative.clone(),
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    imports.sort();
    imports
}

#[test]
fn every_layer_imports_only_the_layers_below_it() {
    let imports = imports();
    // The reading itself works: a known arrow down is found.
    assert!(
        imports
            .iter()
            .any(|i| i.file == "benchmark/scheduler.rs" && i.to == "transport"),
        "the scan found no crate:: path in benchmark/scheduler.rs: {imports:?}"
    );
    let upward: Vec<&Import> = imports
        .iter()
        .filter(|i| match (rank(&i.from), rank(&i.to)) {
            (Some(from), Some(to)) => to > from,
            // main.rs and lib.rs are the top; anything else must be in LAYERS.
            (None, _) => !matches!(i.from.as_str(), "main" | "lib"),
            (Some(_), None) => true,
        })
        .filter(|i| !INVERTED.contains(&(i.file.as_str(), i.to.as_str())))
        .collect();
    assert!(
        upward.is_empty(),
        "imports that run back up (or name a module missing from LAYERS): {upward:#?}"
    );
}

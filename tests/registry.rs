//! The registry is the one list of transports: every transport in it has a name of its own and a
//! line for `--help`, and the documentation cannot forget one. The README's transport table has
//! a row `` | `name` | shown as | ... `` for each, and docs/transports.md a section
//! `` ## shown as (`name`) ``; a transport added with its registry line alone fails here until
//! both say what it is.

use std::collections::HashSet;
use std::path::Path;

use transport_bench::transport::TransportKind;

fn read_doc(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of a Markdown table row, trimmed: `| a | b |` is `["a", "b"]`.
fn table_cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(str::trim).collect())
}

#[test]
fn every_transport_has_a_name_and_a_summary_of_its_own() {
    let mut names = HashSet::new();
    let mut display_names = HashSet::new();
    for kind in TransportKind::all() {
        assert!(!kind.name().is_empty(), "a transport without a name");
        assert!(
            !kind.display_name().is_empty(),
            "{kind:?} has no display name"
        );
        assert!(!kind.summary().is_empty(), "{kind:?} has no summary");
        assert!(names.insert(kind.name()), "{kind:?} is listed twice");
        assert!(
            display_names.insert(kind.display_name()),
            "{kind:?} shows as another"
        );
        assert_eq!(TransportKind::from_name(kind.name()), Some(*kind));
    }
    assert!(names.contains("shm-posix"), "{names:?}");
}

#[test]
fn the_readme_table_has_a_row_for_every_transport() {
    let readme = read_doc("README.md");
    let rows: Vec<Vec<&str>> = readme.lines().filter_map(table_cells).collect();
    let missing: Vec<&str> = (TransportKind::all().iter())
        .filter(|kind| {
            let name = format!("`{}`", kind.name());
            !rows
                .iter()
                .any(|row| row.len() >= 3 && row[0] == name && row[1] == kind.display_name())
        })
        .map(|kind| kind.name())
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's transport table has no row `| `name` | shown as | ... |` for {missing:?}"
    );
}

#[test]
fn docs_transports_has_a_section_for_every_transport() {
    let transports = read_doc("docs/transports.md");
    let missing: Vec<&str> = (TransportKind::all().iter())
        .filter(|kind| {
            let heading = format!("## {} (`{}`)", kind.display_name(), kind.name());
            !transports.lines().any(|line| line.trim_end() == heading)
        })
        .map(|kind| kind.name())
        .collect();
    assert!(
        missing.is_empty(),
        "docs/transports.md has no section `## shown as (`name`)` for {missing:?}"
    );
}

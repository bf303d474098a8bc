#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The README's provider table is a promise: every capability it claims names the test that
//! proves it, and that test must exist. This keeps the table true as tests are renamed or removed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Rows of the markdown table between `<!-- {marker}:start -->` and `<!-- {marker}:end -->`,
/// keyed by the first column, with the header's column names.
fn table(readme: &str, marker: &str) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let start = format!("<!-- {marker}:start -->");
    let end = format!("<!-- {marker}:end -->");
    let body = readme
        .split_once(&start)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(t, _)| t)
        .unwrap_or_else(|| panic!("README has no {start} ... {end} block"));
    let mut lines = body.lines().map(str::trim).filter(|l| l.starts_with('|'));
    let cells = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = cells(lines.next().expect("header row"));
    let mut rows = BTreeMap::new();
    for line in lines.skip(1) {
        let mut row = cells(line);
        assert_eq!(row.len(), header.len(), "{marker}: ragged row {line}");
        let name = row.remove(0);
        assert!(
            rows.insert(name.clone(), row).is_none(),
            "{marker}: {name} twice"
        );
    }
    (header[1..].to_vec(), rows)
}

/// Source files a test reference can point into.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".venv" | "node_modules" | ".git") {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") || name.ends_with(".py") {
            out.push(path);
        }
    }
}

/// Whether `file::name` names a test function that exists.
fn test_exists(files: &[PathBuf], reference: &str) -> bool {
    let Some((suffix, name)) = reference.rsplit_once("::") else {
        return false;
    };
    files
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(&format!("/{suffix}")))
        .any(|p| {
            let text = fs::read_to_string(p).unwrap_or_default();
            text.contains(&format!("fn {name}(")) || text.contains(&format!("def {name}("))
        })
}

fn references(cell: &str) -> Vec<&str> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, r)| r)
        .collect()
}

#[test]
fn every_claimed_capability_names_a_test_that_exists() {
    let root = repo_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let (claims_header, claims) = table(&readme, "provider-table");
    let (tests_header, tests) = table(&readme, "provider-tests");
    let mut files = Vec::new();
    sources(&root.join("crates"), &mut files);
    sources(&root.join("tests"), &mut files);

    assert_eq!(
        claims.keys().collect::<Vec<_>>(),
        tests.keys().collect::<Vec<_>>(),
        "both tables list the same providers"
    );
    let mut problems = Vec::new();
    for (provider, claimed) in &claims {
        let backed = &tests[provider];
        for (column, cell) in tests_header.iter().zip(backed) {
            let at = claims_header
                .iter()
                .position(|c| c == column)
                .unwrap_or_else(|| panic!("tests column {column} is not in the provider table"));
            let claim = claimed[at].as_str();
            let refs = references(cell);
            let needs_test = matches!(claim, "yes" | "fwd") || column == "auth settings";
            if needs_test && refs.is_empty() {
                problems.push(format!(
                    "{provider} / {column}: claims {claim:?} with no test"
                ));
            }
            for r in refs {
                if !test_exists(&files, r) {
                    problems.push(format!("{provider} / {column}: no test {r}"));
                }
            }
        }
        for (column, claim) in claims_header.iter().zip(claimed) {
            if matches!(claim.as_str(), "yes" | "fwd") && !tests_header.contains(column) {
                problems.push(format!("{provider} / {column}: no tests column"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "README provider table:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_notices_a_missing_test() {
    let root = repo_root();
    let mut files = Vec::new();
    sources(&root.join("crates"), &mut files);
    assert!(test_exists(
        &files,
        "readme_provider_table.rs::the_checker_notices_a_missing_test"
    ));
    assert!(!test_exists(
        &files,
        "readme_provider_table.rs::a_test_nobody_wrote"
    ));
    assert!(!test_exists(
        &files,
        "no_such_file.rs::the_checker_notices_a_missing_test"
    ));
}

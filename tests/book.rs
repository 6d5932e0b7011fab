//! The book and the crate must not drift apart. mdBook renders an empty block
//! for a missing anchor and only logs a missing file, so this test is what
//! fails `cargo test` when:
//!
//! - an `{{#include}}` does not resolve to exactly one closed, non-empty anchor
//!   (or names a line range, or no anchor at all);
//! - a chapter's Rust block holds hand-typed code instead of an include;
//! - an equation `\tag{X}` has no code-map row, or a row names a label,
//!   function or test that does not exist;
//! - an `Eq. (X)` cited in `src/` or the chapters is not a tag of any chapter;
//! - a module uses a later chapter's module (dependencies point forward in
//!   history; `support` uses no chapter).
//!
//! The checks run on an in-memory tree, so the unit tests below show on small
//! fixtures that each kind of drift is caught.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Files by path relative to the repository root.
type Tree = BTreeMap<PathBuf, String>;

/// The chapter modules in the order of the lineage.
const LINEAGE: [&str; 11] = [
    "attention",
    "rnn",
    "lssl",
    "hippo",
    "s4",
    "s4d",
    "scan",
    "mamba",
    "ssd",
    "train",
    "hub",
];
/// Modules every chapter may use; they use no chapter.
const FOUNDATION: [&str; 3] = ["support", "error", "traits"];

fn load(root: &Path) -> Tree {
    let mut tree = Tree::new();
    for top in ["src", "chapters", "tests", "examples"] {
        walk(root, &root.join(top), &mut tree);
    }
    tree
}

fn walk(root: &Path, dir: &Path, tree: &mut Tree) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, tree);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("rs" | "md")
        ) {
            let text = std::fs::read_to_string(&path).expect("readable text file");
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            tree.insert(rel, text);
        }
    }
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn chapters(tree: &Tree) -> impl Iterator<Item = (&PathBuf, &String)> {
    tree.iter().filter(|(p, _)| {
        p.starts_with("chapters") && p.extension().is_some_and(|e| e == "md")
    })
}

/// Every `{{#include target}}` of a text.
fn includes(text: &str) -> Vec<&str> {
    text.match_indices("{{#include ")
        .filter_map(|(i, _)| {
            let rest = &text[i + "{{#include ".len()..];
            rest.find("}}").map(|end| rest[..end].trim())
        })
        .collect()
}

fn check_includes(tree: &Tree) -> Vec<String> {
    let mut errors = Vec::new();
    for (chapter, text) in chapters(tree) {
        let dir = chapter.parent().unwrap_or(Path::new(""));
        for target in includes(text) {
            let (file, anchor) = match target.split_once(':') {
                Some((f, a)) => (f, a),
                None => (target, ""),
            };
            let at = format!("{}: {{{{#include {target}}}}}", chapter.display());
            if anchor.is_empty()
                || anchor.chars().next().is_some_and(|c| c.is_ascii_digit())
            {
                errors.push(format!(
                    "{at}: include by a named anchor, not a whole file or line range"
                ));
                continue;
            }
            let path = normalize(&dir.join(file));
            let Some(source) = tree.get(&path) else {
                errors.push(format!("{at}: no file {}", path.display()));
                continue;
            };
            if let Err(e) = anchor_body(source, anchor) {
                errors.push(format!("{at}: {e}"));
            }
        }
    }
    errors
}

/// The lines between `ANCHOR: name` and `ANCHOR_END: name` (in `//` or
/// `<!-- -->` comments), if there is exactly one such pair and it holds
/// code.
fn anchor_body(source: &str, name: &str) -> Result<String, String> {
    // A Rust comment, or an HTML one in a generated Markdown table.
    let is = |line: &str, tag: &str| {
        let line = line.trim();
        line.strip_prefix("//")
            .or_else(|| {
                line.strip_prefix("<!--")
                    .and_then(|l| l.strip_suffix("-->"))
            })
            .map(str::trim)
            .and_then(|l| l.strip_prefix(tag))
            .is_some_and(|rest| rest.trim() == name)
    };
    let lines: Vec<&str> = source.lines().collect();
    let opens: Vec<usize> = (0..lines.len())
        .filter(|&i| is(lines[i], "ANCHOR:"))
        .collect();
    let closes: Vec<usize> = (0..lines.len())
        .filter(|&i| is(lines[i], "ANCHOR_END:"))
        .collect();
    match (opens.as_slice(), closes.as_slice()) {
        ([], _) => Err(format!("anchor `{name}` not found")),
        ([open], [close]) if open < close => {
            let body = lines[open + 1..*close].join("\n");
            if body.trim().is_empty() {
                Err(format!("anchor `{name}` is empty"))
            } else {
                Ok(body)
            }
        }
        ([_], []) => Err(format!("anchor `{name}` is never closed")),
        ([_], [_]) => Err(format!("anchor `{name}` closes before it opens")),
        _ => Err(format!("anchor `{name}` appears more than once")),
    }
}

fn check_rust_blocks(tree: &Tree) -> Vec<String> {
    let mut errors = Vec::new();
    for (chapter, text) in chapters(tree) {
        let mut in_rust = false;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.starts_with("```") {
                in_rust =
                    !in_rust && trimmed.trim_start_matches('`').starts_with("rust");
                continue;
            }
            if in_rust && !trimmed.is_empty() && !trimmed.starts_with("{{#include ")
            {
                errors.push(format!(
                    "{}:{}: hand-typed code in a Rust block; include it by anchor",
                    chapter.display(),
                    i + 1
                ));
            }
        }
    }
    errors
}

/// Labels of `\tag{X}` in a text.
fn tags(text: &str) -> Vec<String> {
    text.match_indices("\\tag{")
        .filter_map(|(i, _)| {
            let rest = &text[i + 5..];
            rest.find('}').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// Labels cited as `Eq. (X)` or `Eqs. (X)–(Y), (Z)`.
fn citations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("Eq") {
        let mut rest = &text[i + 2..];
        rest = rest.strip_prefix('s').unwrap_or(rest);
        let Some(mut rest) = rest.strip_prefix(". ") else {
            continue;
        };
        while let Some(inner) = rest.strip_prefix('(') {
            let Some(end) = inner.find(')') else { break };
            let label = &inner[..end];
            let valid = label.len() >= 2
                && label.starts_with(|c: char| c.is_ascii_uppercase())
                && label[1..].chars().all(|c| c.is_ascii_digit());
            if !valid {
                break;
            }
            out.push(label.to_string());
            rest = inner[end + 1..].trim_start_matches([' ', '–', '-', ',']);
            rest = rest.strip_prefix("and ").unwrap_or(rest);
        }
    }
    out
}

/// Rows `(label, function, file, test)` of a chapter's `## Code map` table.
fn code_map(text: &str) -> Vec<[String; 4]> {
    let Some(start) = text.find("## Code map") else {
        return Vec::new();
    };
    text[start..]
        .lines()
        .skip(1)
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .skip(2) // header and separator
        .filter_map(|line| {
            let cells: Vec<String> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| {
                    c.trim()
                        .trim_matches('`')
                        .trim_matches(['(', ')'])
                        .to_string()
                })
                .collect();
            <[String; 4]>::try_from(cells).ok()
        })
        .collect()
}

fn defines_fn(source: &str, name: &str) -> bool {
    source.contains(&format!("fn {name}("))
        || source.contains(&format!("fn {name}<"))
}

fn check_code_maps(tree: &Tree) -> Vec<String> {
    let mut errors = Vec::new();
    for (chapter, text) in chapters(tree) {
        let tags = tags(text);
        let rows = code_map(text);
        let at = chapter.display();
        for tag in &tags {
            if !rows.iter().any(|r| &r[0] == tag) {
                errors.push(format!("{at}: equation ({tag}) has no code-map row"));
            }
        }
        for [label, function, file, test] in &rows {
            if !tags.contains(label) {
                errors.push(format!(
                    "{at}: code-map row ({label}) is not a \\tag of the chapter"
                ));
            }
            let name = function.rsplit("::").next().unwrap_or(function);
            match tree.get(Path::new(file)) {
                Some(src) if defines_fn(src, name) => {}
                Some(_) => {
                    errors.push(format!("{at}: ({label}): no fn {name} in {file}"))
                }
                None => errors.push(format!("{at}: ({label}): no file {file}")),
            }
            let found = test.rsplit_once("::").and_then(|(file, name)| {
                tree.get(Path::new(file)).map(|src| defines_fn(src, name))
            });
            if found != Some(true) {
                errors.push(format!("{at}: ({label}): no test {test}"));
            }
        }
    }
    errors
}

fn check_citations(tree: &Tree) -> Vec<String> {
    let all: Vec<String> = chapters(tree).flat_map(|(_, t)| tags(t)).collect();
    let mut errors = Vec::new();
    for (path, text) in tree {
        if !(path.starts_with("src") || path.starts_with("chapters")) {
            continue;
        }
        for label in citations(text) {
            if !all.contains(&label) {
                errors.push(format!(
                    "{}: cites Eq. ({label}), which no chapter tags",
                    path.display()
                ));
            }
        }
    }
    errors
}

/// The top-level module a `src/` file belongs to.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix("src").ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

fn check_dependencies(tree: &Tree) -> Vec<String> {
    let rank = |m: &str| LINEAGE.iter().position(|&c| c == m);
    let mut errors = Vec::new();
    for (path, text) in tree {
        let Some(module) = module_of(path) else {
            continue;
        };
        for (i, _) in text.match_indices("crate::") {
            let used: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let forward = match (rank(&module), rank(&used)) {
                (Some(own), Some(other)) => other > own,
                // A foundation module may use another foundation module, no chapter.
                (None, Some(_)) => FOUNDATION.contains(&module.as_str()),
                _ => false,
            };
            if forward {
                errors.push(format!(
                    "{}: `{module}` uses the later module `{used}`",
                    path.display()
                ));
            }
        }
    }
    errors
}

/// The speed imports a story module may make, each stated in `src/lib.rs`:
/// (the file, the speed module it names).
const SPEED_EXCEPTIONS: [(&str, &str); 1] = [("src/s4/layer.rs", "fast_kernel")];

/// Whether a path component names a speed module (`fast/`, `fast_kernel.rs`).
fn is_speed_name(name: &str) -> bool {
    name.starts_with("fast")
}

/// The module names a line of code uses in a path (`fast_kernel` in
/// `super::fast_kernel::x`, `fast` in `crate::mamba::fast::y`).
fn path_segments(code: &str) -> Vec<&str> {
    code.match_indices("::")
        .filter_map(|(i, _)| {
            let before = &code[..i];
            let start = before
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |j| j + 1);
            (start < i).then(|| &before[start..])
        })
        .collect()
}

/// The story never depends on the speed: no source file outside a speed
/// module (a `fast…` folder or file) names one in a path, whatever its name,
/// so every readable module builds and reads without the fast paths; the
/// only exceptions are [`SPEED_EXCEPTIONS`].
fn check_story_is_not_fast(tree: &Tree) -> Vec<String> {
    tree.iter()
        .filter(|(p, _)| {
            p.starts_with("src")
                && !p
                    .components()
                    .any(|c| is_speed_name(&c.as_os_str().to_string_lossy()))
        })
        .flat_map(|(path, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, line)| {
                    let code = line.split("//").next().unwrap_or("");
                    path_segments(code).iter().any(|m| {
                        is_speed_name(m)
                            && !SPEED_EXCEPTIONS
                                .contains(&(path.to_str().unwrap_or(""), *m))
                    })
                })
                .map(move |(i, _)| {
                    format!(
                        "{}:{}: a story module uses a fast one",
                        path.display(),
                        i + 1
                    )
                })
        })
        .collect()
}

fn all_checks(tree: &Tree) -> Vec<String> {
    [
        check_includes,
        check_rust_blocks,
        check_code_maps,
        check_citations,
        check_dependencies,
        check_story_is_not_fast,
    ]
    .iter()
    .flat_map(|check| check(tree))
    .collect()
}

#[test]
fn the_book_and_the_crate_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = load(root);
    assert!(
        chapters(&tree).count() >= 10,
        "chapters not found under {}",
        root.display()
    );
    let errors = all_checks(&tree);
    assert!(
        errors.is_empty(),
        "the book has drifted from the crate:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_written_chapter_has_equations_and_a_code_map() {
    let tree = load(Path::new(env!("CARGO_MANIFEST_DIR")));
    for (path, text) in chapters(&tree) {
        let written =
            path.ends_with("index.md") && !text.contains("**Not written yet.**");
        if written {
            assert!(
                !tags(text).is_empty(),
                "{}: no tagged equation",
                path.display()
            );
            assert!(
                !code_map(text).is_empty(),
                "{}: no code map",
                path.display()
            );
        }
    }
}

/// Fixtures: a tiny tree that passes, and one drift at a time.
mod fixtures {
    use super::*;

    const SOURCE: &str =
        "/// Doc.\n// ANCHOR: step\npub fn step() {}\n// ANCHOR_END: step\n";
    const TEST: &str = "#[test]\nfn step_works() {}\n";

    fn chapter(body: &str) -> String {
        format!(
            "# Ch\n\n$$x\\tag{{R1}}$$\n\n```rust\n{{{{#include ../../src/rnn/a.rs:step}}}}\n```\n\n\
             {body}\n## Code map\n\n| Eq. | function | file | checked by |\n|---|---|---|---|\n\
             | (R1) | `step` | `src/rnn/a.rs` | `tests/lineage/t.rs::step_works` |\n"
        )
    }

    fn tree(chapter_text: &str, source: &str) -> Tree {
        Tree::from([
            ("chapters/01-rnn/index.md".into(), chapter_text.to_string()),
            ("src/rnn/a.rs".into(), source.to_string()),
            ("tests/lineage/t.rs".into(), TEST.to_string()),
        ])
    }

    fn errors(chapter_text: &str, source: &str) -> Vec<String> {
        all_checks(&tree(chapter_text, source))
    }

    #[test]
    fn a_consistent_tree_passes() {
        assert_eq!(errors(&chapter(""), SOURCE), Vec::<String>::new());
    }

    #[test]
    fn html_anchors_in_generated_markdown_are_found() {
        let table =
            "<!-- ANCHOR: results -->\n| a |\n|---|\n<!-- ANCHOR_END: results -->\n";
        assert_eq!(anchor_body(table, "results").as_deref(), Ok("| a |\n|---|"));
        assert!(anchor_body("<!-- ANCHOR: results -->\n", "results").is_err());
    }

    #[test]
    fn a_missing_anchor_is_caught() {
        let e = errors(&chapter(""), "pub fn step() {}\n");
        assert!(
            e.iter().any(|e| e.contains("anchor `step` not found")),
            "{e:?}"
        );
    }

    #[test]
    fn an_unclosed_or_empty_or_repeated_anchor_is_caught() {
        let unclosed = "// ANCHOR: step\npub fn step() {}\n";
        assert!(
            errors(&chapter(""), unclosed)
                .iter()
                .any(|e| e.contains("never closed"))
        );
        let empty = "// ANCHOR: step\n\n// ANCHOR_END: step\nfn step() {}";
        assert!(
            errors(&chapter(""), empty)
                .iter()
                .any(|e| e.contains("is empty"))
        );
        let twice = format!("{SOURCE}{SOURCE}");
        assert!(
            errors(&chapter(""), &twice)
                .iter()
                .any(|e| e.contains("more than once"))
        );
    }

    #[test]
    fn a_missing_file_or_a_line_range_is_caught() {
        let text = chapter(
            "{{#include ../../src/rnn/gone.rs:step}}\n{{#include ../../src/rnn/a.rs:2:3}}",
        );
        let e = errors(&text, SOURCE);
        assert!(
            e.iter().any(|e| e.contains("no file src/rnn/gone.rs")),
            "{e:?}"
        );
        assert!(e.iter().any(|e| e.contains("named anchor")), "{e:?}");
    }

    #[test]
    fn hand_typed_code_is_caught() {
        let e = errors(&chapter("```rust\nfn copied() {}\n```\n"), SOURCE);
        assert!(e.iter().any(|e| e.contains("hand-typed code")), "{e:?}");
    }

    #[test]
    fn a_tag_without_a_row_is_caught() {
        let e = errors(&chapter("$$y\\tag{R2}$$"), SOURCE);
        assert!(
            e.iter().any(|e| e.contains("(R2) has no code-map row")),
            "{e:?}"
        );
    }

    #[test]
    fn a_row_naming_a_missing_function_or_test_is_caught() {
        let renamed = SOURCE.replace("fn step()", "fn stride()");
        let e = errors(&chapter(""), &renamed);
        assert!(e.iter().any(|e| e.contains("no fn step")), "{e:?}");
        let text = chapter("").replace("step_works", "step_fails");
        let e = errors(&text, SOURCE);
        assert!(e.iter().any(|e| e.contains("no test")), "{e:?}");
    }

    #[test]
    fn a_citation_of_an_unknown_equation_is_caught() {
        let source = format!("/// Implements Eqs. (R1)–(R9).\n{SOURCE}");
        let e = errors(&chapter(""), &source);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("cites Eq. (R9)"), "{e:?}");
    }

    #[test]
    fn a_backward_dependency_is_caught() {
        let mut t = tree(&chapter(""), SOURCE);
        t.insert(
            "src/rnn/b.rs".into(),
            "use crate::mamba::Block;\nuse crate::attention::x;".into(),
        );
        t.insert(
            "src/support/c.rs".into(),
            "use crate::rnn::x;\nuse crate::error::Error;".into(),
        );
        let e = all_checks(&t);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].contains("`rnn` uses the later module `mamba`"),
            "{e:?}"
        );
        assert!(
            e[1].contains("`support` uses the later module `rnn`"),
            "{e:?}"
        );
    }

    #[test]
    fn a_story_module_using_a_fast_one_is_caught() {
        let mut t = tree(&chapter(""), SOURCE);
        t.insert(
            PathBuf::from("src/mamba/block.rs"),
            "use super::fast::selective_scan_fast;\n".into(),
        );
        t.insert(
            PathBuf::from("src/mamba/fast/model.rs"),
            "use crate::mamba::fast::scan::x;\n".into(),
        );
        // A speed module named otherwise is caught too; the stated
        // exception is not.
        t.insert(
            PathBuf::from("src/s4d/layer.rs"),
            "use crate::s4::fast_kernel::Nodes;\n".into(),
        );
        t.insert(
            PathBuf::from("src/s4/layer.rs"),
            "use super::fast_kernel::{Nodes, kernel_dplr_fast};\n".into(),
        );
        let e = all_checks(&t);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("src/mamba/block.rs:1"), "{e:?}");
        assert!(e[1].contains("src/s4d/layer.rs:1"), "{e:?}");
    }

    #[test]
    fn citations_parse_ranges_and_lists() {
        let c = citations("Eq. (R1), Eqs. (R3)–(R5) and (R10); Eq. (not) (S4)");
        assert_eq!(c, ["R1", "R3", "R5", "R10"]);
    }
}

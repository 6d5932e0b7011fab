//! `cargo xtask`: the book pipeline and the full check of ssm-lineage.
//!
//! - `book`: render every chapter's figures, install the pinned mdBook tools if
//!   missing, build the book into `target/book`;
//! - `serve`: the same book, served live;
//! - `figures`: only the figures;
//! - `browser`: load the built book in headless Chromium and check it;
//! - `doc`: the API docs, with the math rendered by KaTeX (offline);
//! - `ci`: fmt, clippy, tests, docs, book, figures up to date, browser check.
//!
//! Every failure ends in one line saying why, and a non-zero exit.

mod browser;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tools::{Fail, cargo, ensure_book_tools, run, step};

#[derive(Parser)]
#[command(about = "The book pipeline and the full check of ssm-lineage")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render the figures and build the book into target/book.
    Book,
    /// Build the book and serve it at http://localhost:3000, rebuilding on change.
    Serve,
    /// Run every chapter example to refresh chapters/figures/.
    Figures,
    /// Check the built book in headless Chromium.
    Browser,
    /// Build the API docs with rendered math into target/doc.
    Doc,
    /// The full check: fmt, clippy, test, doc, book, figures, browser.
    Ci,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Book => {
            book().map(|index| println!("book: open {}", index.display()))
        }
        Command::Serve => serve(),
        Command::Figures => figures(),
        Command::Browser => browser::self_test()
            .and_then(|()| browser::check(&root().join("target/book"))),
        Command::Doc => tools::doc(&root()),
        Command::Ci => ci(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(reason)) => {
            eprintln!("xtask: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate).
fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The chapter examples that draw figures: `chNN_*.rs`, except `*_speed`.
fn figure_examples() -> Result<Vec<String>, Fail> {
    let dir = root().join("examples");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Fail(format!("cannot list {}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .filter(|n| n.starts_with("ch") && !n.ends_with("_speed"))
        .collect();
    names.sort();
    Ok(names)
}

fn figures() -> Result<(), Fail> {
    let names = figure_examples()?;
    step("building the chapter examples (release)");
    cargo(&["build", "--release", "--quiet", "--examples"])?;
    for name in &names {
        let started = std::time::Instant::now();
        let binary = root().join("target/release/examples").join(name);
        run(&binary, &[], &root(), &format!("example {name}"), true)?;
        step(&format!(
            "{name}: figures written in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

fn book() -> Result<PathBuf, Fail> {
    figures()?;
    let mdbook = ensure_book_tools()?;
    step("building the book");
    run(&mdbook, &["build", "book"], &root(), "mdbook build", false)?;
    let index = root().join("target/book/index.html");
    if !index.is_file() {
        return Err(Fail(format!(
            "mdbook finished but {} is missing",
            index.display()
        )));
    }
    Ok(index)
}

fn serve() -> Result<(), Fail> {
    figures()?;
    let mdbook = ensure_book_tools()?;
    step("serving the book at http://localhost:3000 (Ctrl-C to stop)");
    run(&mdbook, &["serve", "book"], &root(), "mdbook serve", false)
}

/// Fails if a deterministic figure differs from the committed one (figures
/// whose name starts with `measured-` are timings and may differ).
fn figures_are_current() -> Result<(), Fail> {
    let output = std::process::Command::new("git")
        .args(["status", "--porcelain", "--", "chapters/figures"])
        .current_dir(root())
        .output();
    let Ok(output) = output
        .map_err(|_| ())
        .and_then(|o| o.status.success().then_some(o).ok_or(()))
    else {
        step("not a git checkout: skipping the figures-are-current check");
        return Ok(());
    };
    let stale: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l[3.min(l.len())..].to_string())
        .filter(|p| !p.rsplit('/').next().unwrap_or("").starts_with("measured-"))
        .collect();
    if stale.is_empty() {
        Ok(())
    } else {
        Err(Fail(format!(
            "figures differ from the committed ones (run cargo xtask figures and commit): {}",
            stale.join(", ")
        )))
    }
}

fn ci() -> Result<(), Fail> {
    let started = std::time::Instant::now();
    step("cargo fmt --check");
    cargo(&["fmt", "--all", "--", "--check"])?;
    step("cargo clippy --all-targets -- -D warnings");
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ])?;
    step("cargo test");
    cargo(&["test", "--workspace", "--quiet"])?;
    step("cargo doc (KaTeX header, warnings denied)");
    tools::doc(&root())?;
    book()?;
    figures_are_current()?;
    browser::self_test()?;
    browser::check(&root().join("target/book"))?;
    step(&format!(
        "ci: all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

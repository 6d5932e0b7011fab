//! `cargo xtask`: the book pipeline and the full check of ssm-lineage.
//!
//! - `book`: render the figures that are missing or older than their example
//!   (the figures are committed, so a fresh clone renders none), install the
//!   pinned mdBook tools if missing, build the widgets for WebAssembly
//!   (adding the wasm32 target and the pinned wasm-bindgen-cli if missing),
//!   build the book into `target/book`;
//! - `serve`: the same book, served live;
//! - `figures`: re-render every figure;
//! - `browser`: load the built book in headless Chromium and check it, and
//!   drive every widget (`page.html#widget-test`) against the native crate;
//! - `doc`: the API docs, with the math rendered by KaTeX (offline);
//! - `ci`: fmt, clippy (all features), tests (and the tokenizer's, behind its
//!   feature), docs, book, figures up to date, browser check.
//!
//! Every failure ends in one line saying why, and a non-zero exit.

mod browser;
mod tools;
mod widget_check;
mod widgets;

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
    /// Render missing or stale figures and build the book into target/book.
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

/// The chapter examples that draw figures: `chNN_*.rs`, except the
/// measurements, whose figures are timings or trained models (`*_speed`, and
/// chapter 9's `ch09_*`, which train for minutes): those are run by hand,
/// and their figures are named `measured-*`.
fn figure_examples() -> Result<Vec<String>, Fail> {
    let dir = root().join("examples");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| Fail(format!("cannot list {}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .filter(|n| n.starts_with("ch") && !is_measurement(n))
        .collect();
    names.sort();
    Ok(names)
}

/// Chapter 9's examples that train nothing and finish in a second: the worked
/// backward pass, the task pictures and the book model's sample. They are
/// figure examples like the other chapters'.
const CH09_DRAWINGS: [&str; 3] = ["ch09_backward", "ch09_tasks", "ch09_sample"];

/// Whether an example is a measurement (see [`figure_examples`]).
fn is_measurement(name: &str) -> bool {
    name.ends_with("_speed")
        || (name.starts_with("ch09_") && !CH09_DRAWINGS.contains(&name))
}

/// Every figure an example writes: the `"….svg"` and `"….md"` (tables)
/// literals of its source, in
/// its chapter's folder (`chNN_…` writes `chapters/figures/chNN/`).
fn figures_of(name: &str) -> Result<Vec<PathBuf>, Fail> {
    let path = root().join("examples").join(format!("{name}.rs"));
    let source = std::fs::read_to_string(&path)
        .map_err(|e| Fail(format!("cannot read {}: {e}", path.display())))?;
    let folder = root()
        .join("chapters/figures")
        .join(&name[..4.min(name.len())]);
    Ok(source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            (s.ends_with(".svg") || s.ends_with(".md"))
                && !s.contains(['/', '{', ' '])
        })
        .map(|s| folder.join(s))
        .collect())
}

/// The examples with a figure that is missing or older than the example's
/// source (by more than a few seconds: a fresh checkout writes the figures
/// and the examples a moment apart, and renders nothing).
fn stale_examples() -> Result<Vec<String>, Fail> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let slack = std::time::Duration::from_secs(5);
    let mut stale = Vec::new();
    for name in figure_examples()? {
        let source = root().join("examples").join(format!("{name}.rs"));
        let Some(written) = modified(&source) else {
            continue;
        };
        let old = figures_of(&name)?
            .iter()
            .any(|f| modified(f).is_none_or(|figure| figure + slack < written));
        if old {
            stale.push(name);
        }
    }
    Ok(stale)
}

/// Builds the examples `names` (release) and runs each, writing its figures.
fn render(names: &[String]) -> Result<(), Fail> {
    if names.is_empty() {
        step("every figure is current (cargo xtask figures re-renders them all)");
        return Ok(());
    }
    step(&format!(
        "building {} chapter example(s) (release)",
        names.len()
    ));
    let mut args = vec!["build", "--release", "--quiet"];
    for name in names {
        args.extend(["--example", name.as_str()]);
    }
    cargo(&args)?;
    let examples = tools::target_dir(&root())?.join("release/examples");
    for name in names {
        let started = std::time::Instant::now();
        run(
            &examples.join(name),
            &[],
            &root(),
            &format!("example {name}"),
            true,
        )?;
        step(&format!(
            "{name}: figures written in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

fn figures() -> Result<(), Fail> {
    render(&figure_examples()?)
}

/// Builds the widgets' script (see [`widgets`]) and says how large it is.
fn build_widgets() -> Result<(), Fail> {
    let (script, wasm) = widgets::build(&root())?;
    step(&format!(
        "widgets: {} ({:.1} MB; the module itself {:.1} MB)",
        widgets::SCRIPT,
        script as f64 / 1e6,
        wasm as f64 / 1e6
    ));
    Ok(())
}

fn book() -> Result<PathBuf, Fail> {
    render(&stale_examples()?)?;
    let mdbook = ensure_book_tools()?;
    build_widgets()?;
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
    render(&stale_examples()?)?;
    let mdbook = ensure_book_tools()?;
    build_widgets()?;
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
    step("cargo clippy --all-targets --all-features -- -D warnings");
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ])?;
    step("cargo test");
    cargo(&["test", "--workspace", "--quiet"])?;
    step("cargo test --features tokenizer (the tokenizer fixture)");
    cargo(&[
        "test",
        "--features",
        "tokenizer",
        "--test",
        "lineage",
        "--quiet",
        "the_tokenizer",
    ])?;
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

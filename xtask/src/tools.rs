//! Running commands, and the pinned book tools.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A failure, already phrased as the one line the user will read.
pub struct Fail(pub String);

/// The mdBook version the book is built with.
const MDBOOK: &str = "0.5.4";
/// The mdbook-katex version (it bundles KaTeX 0.16.4, whose stylesheet and
/// fonts are committed in chapters/katex/).
const MDBOOK_KATEX: &str = "0.10.0";

/// Prints what is happening now.
pub fn step(what: &str) {
    println!("==> {what}");
}

/// Runs `program` in `dir`; with `quiet`, its output is shown only on failure.
pub fn run(
    program: &Path,
    args: &[&str],
    dir: &Path,
    what: &str,
    quiet: bool,
) -> Result<(), Fail> {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    let status = if quiet {
        let output = command.output().map_err(|e| spawn_fail(program, e))?;
        print!("{}", String::from_utf8_lossy(&output.stdout));
        if !output.status.success() {
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
        }
        output.status
    } else {
        command.status().map_err(|e| spawn_fail(program, e))?
    };
    if status.success() {
        Ok(())
    } else {
        Err(Fail(format!("{what} failed ({status})")))
    }
}

fn spawn_fail(program: &Path, e: std::io::Error) -> Fail {
    Fail(format!("cannot run {}: {e}", program.display()))
}

/// Runs cargo (the one running this xtask) in the workspace root.
pub fn cargo(args: &[&str]) -> Result<(), Fail> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let what = format!("cargo {}", args.first().copied().unwrap_or(""));
    run(Path::new(&cargo), args, &crate::root(), &what, false)
}

/// The version a tool reports with `--version`, if it runs.
fn version_of(tool: &str) -> Option<String> {
    let output = Command::new(tool).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    output.status.success().then(|| {
        text.trim()
            .rsplit(' ')
            .next()
            .unwrap_or("")
            .trim_start_matches('v')
            .to_string()
    })
}

fn ensure(tool: &str, version: &str, minutes: &str) -> Result<(), Fail> {
    ensure_cargo_tool(tool, tool, version, minutes).map(|_| ())
}

/// Makes sure `tool` (installed by the crate `package`) reports `version`,
/// installing it with `cargo install --locked` if not; returns the tool.
pub fn ensure_cargo_tool(
    tool: &str,
    package: &str,
    version: &str,
    minutes: &str,
) -> Result<PathBuf, Fail> {
    match version_of(tool) {
        Some(v) if v == version => return Ok(PathBuf::from(tool)),
        Some(v) => step(&format!(
            "{tool} {v} found, but the book is pinned to {version}"
        )),
        None => step(&format!("{tool} not found")),
    }
    step(&format!(
        "installing {package} {version} with cargo install --locked (about {minutes} minutes)"
    ));
    cargo(&[
        "install",
        package,
        "--version",
        version,
        "--locked",
        "--quiet",
    ])
    .map_err(|_| {
        Fail(format!(
            "could not install {package} {version}: cargo install failed (see above)"
        ))
    })?;
    match version_of(tool) {
        Some(v) if v == version => Ok(PathBuf::from(tool)),
        _ => Err(Fail(format!(
            "{tool} {version} was installed but is not on PATH: add ~/.cargo/bin to PATH"
        ))),
    }
}

/// Makes sure the pinned mdbook and mdbook-katex are installed; returns mdbook.
pub fn ensure_book_tools() -> Result<PathBuf, Fail> {
    ensure("mdbook", MDBOOK, "3")?;
    ensure("mdbook-katex", MDBOOK_KATEX, "2")?;
    Ok(PathBuf::from("mdbook"))
}

/// `cargo doc` of the library with warnings denied and the KaTeX header, and
/// the KaTeX files copied beside the docs so the math renders offline.
pub fn doc(root: &Path) -> Result<(), Fail> {
    let header = root.join("book/rustdoc/katex-header.html");
    let flags = format!("--html-in-header {} -D warnings", header.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["doc", "--no-deps", "--package", "ssm-lineage", "--quiet"])
        .env("RUSTDOCFLAGS", flags)
        .current_dir(root)
        .status()
        .map_err(|e| Fail(format!("cannot run cargo doc: {e}")))?;
    if !status.success() {
        return Err(Fail(format!("cargo doc failed ({status})")));
    }
    let docs = target_dir(root)?.join("doc");
    let target = docs.join("katex");
    copy_dir(&root.join("chapters/katex"), &target)?;
    for file in ["katex.min.js", "auto-render.min.js"] {
        copy(&root.join("book/rustdoc").join(file), &target.join(file))?;
    }
    step(&format!(
        "docs: {}",
        docs.join("ssm_lineage/index.html").display()
    ));
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), Fail> {
    std::fs::copy(from, to).map(|_| ()).map_err(|e| {
        Fail(format!(
            "cannot copy {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Fail> {
    std::fs::create_dir_all(to)
        .map_err(|e| Fail(format!("cannot create {}: {e}", to.display())))?;
    let entries = std::fs::read_dir(from)
        .map_err(|e| Fail(format!("cannot list {}: {e}", from.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_dir(&path, &dest)?
        } else {
            copy(&path, &dest)?
        }
    }
    Ok(())
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or the build configuration's,
/// else `target/` under `root`), as `cargo metadata` reports it.
pub fn target_dir(root: &Path) -> Result<PathBuf, Fail> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .map_err(|e| Fail(format!("cannot run cargo metadata: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let key = "\"target_directory\":\"";
    let start = text
        .find(key)
        .map(|i| i + key.len())
        .ok_or_else(|| Fail("cargo metadata reported no target directory".into()))?;
    let end = text[start..].find('"').ok_or_else(|| {
        Fail("cargo metadata's target directory is not closed".into())
    })?;
    Ok(PathBuf::from(
        text[start..start + end].replace("\\\\", "\\"),
    ))
}

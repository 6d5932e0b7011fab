//! The built book, loaded in headless Chromium and checked as a reader sees it.
//!
//! For every page, Chromium renders the page (running mdBook's scripts) and
//! dumps the resulting DOM, while writing a log of every network request. The
//! check fails if
//!
//! - text outside KaTeX's markup, code and scripts still looks like TeX
//!   (a `$` glued to a formula, or a `\command`): math that did not render;
//! - KaTeX marked a formula as an error (`class="katex-error"`, what it
//!   renders instead of throwing, with the raw TeX inside);
//! - a rendered formula holds a TAB or another control character (a `\t`,
//!   `\f`, `\b`, `\v` or `\r` that an editor or a string escape turned into
//!   one, as in `\tfrac` or `\to`: KaTeX reads it as a space and renders the
//!   rest of the command as letters; its TeX source, kept in the formula's
//!   `<annotation>`, still shows it); and, since KaTeX's HTML alone keeps
//!   no trace of it, a Markdown source of the book that holds one;
//! - the page made any http(s) request, or names a stylesheet, script, image
//!   or font by an absolute URL: the book must read with no network;
//! - an `<img>` does not resolve to a non-empty file of the book;
//! - an internal link does not resolve to a file, or its `#fragment` to an id;
//! - text is struck through (markdown pairing two `~`, e.g. KaTeX's `\tilde` glyphs);
//! - a table, code block, display equation or image is wider than the
//!   content column at a desktop width (measured by a script added to the
//!   page while it renders);
//! - a figure's smallest text renders under [`MIN_TEXT_PX`] pixels: the
//!   script measures the width each SVG figure is shown at, and the check
//!   scales the smallest `font-size` in the file by it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{Fail, step};

/// Checks every page of the book built in `book`.
pub fn check(book: &Path) -> Result<(), Fail> {
    let chromium = find_chromium()?;
    let mut pages = Vec::new();
    collect_pages(book, &mut pages);
    pages.sort();
    if pages.is_empty() {
        return Err(Fail(format!(
            "no pages in {}: run cargo xtask book first",
            book.display()
        )));
    }
    step(&format!(
        "browser check: {} pages in headless {}",
        pages.len(),
        chromium.display()
    ));
    let (mut problems, [math, images, links]) =
        check_pages(&chromium, book, &pages)?;
    problems.extend(control_in_sources(&crate::root().join("chapters")));
    problems.extend(crate::widget_check::check_all(&pages, |page| {
        let clock = Clock::Real(WIDGET_BUDGET_MS);
        render_with(&chromium, page, "#widget-test", clock).map(|(dom, _)| dom)
    })?);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("  {p}");
        }
        return Err(Fail(format!(
            "browser check: {} problems in the built book (listed above)",
            problems.len()
        )));
    }
    step(&format!(
        "browser check passed: {} pages, {math} rendered formulas, {images} images, {links} internal links, no network request",
        pages.len()
    ));
    Ok(())
}

/// The most real time a page's widgets under test may take (the dump comes
/// as soon as widgets.js lets the page finish loading: every test over).
const WIDGET_BUDGET_MS: u32 = 30_000;

/// How long Chromium lets a page's scripts run before it dumps the DOM.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// A budget of virtual time: the page runs until it is idle or the
    /// budget is spent, deterministically, but `performance.now()` is
    /// virtual too (a synchronous render takes "0 ms").
    Virtual(u32),
    /// At most this many real milliseconds; the dump comes when the page
    /// has loaded. The clock of the widgets' tests and their timings.
    Real(u32),
}

/// Shows that the check can fail: a page with raw TeX, a KaTeX error, a TAB
/// inside a rendered formula and one in a Markdown source, a stylesheet and
/// an image from the network, a missing image, two broken links,
/// struck-through text and a console error must give exactly those problems.
pub fn self_test() -> Result<(), Fail> {
    let chromium = find_chromium()?;
    let dir = std::env::temp_dir().join(format!(
        "ssm-lineage-browser-self-test-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Fail(format!("cannot create {}: {e}", dir.display())))?;
    let page = dir.join("page.html");
    let html = concat!(
        "<html><head><link rel=\"stylesheet\" href=\"https://cdn.example.com/katex.css\"></head><body>",
        "<p id=\"here\">Rendered <span class=\"katex\"><span>x^2</span></span>, raw $x_t$ here.</p>",
        "<p>Broken <span class=\"katex-error\" title=\"ParseError: KaTeX parse error\">\\frac{1}{</span>.</p>",
        "<p>Tends <span class=\"katex\"><span class=\"katex-mathml\"><math><semantics><mrow><mi>o</mi></mrow>",
        "<annotation encoding=\"application/x-tex\">x \to 0</annotation></semantics></math></span>",
        "<span class=\"katex-html\"><span>x o 0</span></span></span> here.</p>",
        "<img src=\"missing.svg\"><img src=\"http://example.com/a.png\">",
        "<a href=\"#here\">ok</a><a href=\"gone.html\">gone</a><a href=\"#nowhere\">bad</a>",
        "<p><del>struck</del></p><script>console.error('planted')</script>",
        "<main style=\"width:300px\"><table style=\"width:900px\"><tr><td>wide</td></tr></table>",
        "<img src=\"tiny.svg\" style=\"width:200px\"></main>",
        "</body></html>"
    );
    std::fs::write(&page, html)
        .map_err(|e| Fail(format!("cannot write {}: {e}", page.display())))?;
    // A figure 800 px wide with 12 px text, shown 200 px wide: 3 px text.
    let tiny = "<svg width=\"800\" height=\"100\" xmlns=\"http://www.w3.org/2000/svg\"><text x=\"0\" y=\"50\" font-size=\"12\">small</text></svg>";
    std::fs::write(dir.join("tiny.svg"), tiny)
        .map_err(|e| Fail(format!("cannot write tiny.svg: {e}")))?;
    std::fs::write(dir.join("page.md"), "and $x \to 0$ as\n")
        .map_err(|e| Fail(format!("cannot write page.md: {e}")))?;
    let (mut problems, _) = check_pages(&chromium, &dir, &[page])?;
    problems.extend(control_in_sources(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    let expected = [
        "raw TeX outside KaTeX",
        "KaTeX error in a formula: \\frac{1}{",
        "control character U+0009 (TAB) inside a formula: ox \\to 0",
        "page.md:1: control character U+0009 (TAB): and $x \\to 0$",
        "fetched from the network: https://cdn.example.com/katex.css",
        "fetched from the network: http://example.com/a.png",
        "<link href=\"https://cdn.example.com/katex.css\"> is outside the book",
        "image missing.svg does not load",
        "link gone.html leads to no file",
        "no element with id nowhere",
        "struck-through text",
        "wider than the column: table 900 px wide in 300",
        "text of 3.0 px in figure tiny.svg",
        "console error or uncaught exception: [\"planted\"]",
    ];
    let missed: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !problems.iter().any(|p| p.contains(e)))
        .collect();
    if missed.is_empty() {
        step(&format!(
            "browser check self-test: all {} planted problems caught",
            expected.len()
        ));
        Ok(())
    } else {
        Err(Fail(format!(
            "browser check self-test missed: {}; it found: {problems:?}",
            missed.join("; ")
        )))
    }
}

type Counts = [usize; 3];

fn check_pages(
    chromium: &Path,
    book: &Path,
    pages: &[PathBuf],
) -> Result<(Vec<String>, Counts), Fail> {
    let mut problems = Vec::new();
    let (mut math, mut images, mut links) = (0, 0, 0);
    for page in pages {
        let (dom, requests) = render(chromium, page)?;
        let name = page
            .strip_prefix(book)
            .unwrap_or(page)
            .display()
            .to_string();
        let mut found = |what: String| problems.push(format!("{name}: {what}"));
        math += dom.matches("class=\"katex\"").count();
        if let Some(errors) = crate::widget_check::html_attr(&dom, "data-errors") {
            found(format!("console error or uncaught exception: {errors}"));
        }
        match too_wide(&dom) {
            Ok(wide) => wide
                .into_iter()
                .for_each(|w| found(format!("wider than the column: {w}"))),
            Err(e) => found(e),
        }
        match figures_shown(&dom) {
            Ok(shown) => {
                for (src, width) in shown {
                    let svg = resolve(page, &src)
                        .and_then(|f| std::fs::read_to_string(f).ok())
                        .unwrap_or_default();
                    if let Some(px) = smallest_text(&svg, width)
                        && px < MIN_TEXT_PX
                    {
                        found(format!(
                            "text of {px:.1} px in figure {src} (shown {:.0} px wide): at least {MIN_TEXT_PX} px",
                            width.abs()
                        ));
                    }
                }
            }
            Err(e) => found(e),
        }
        raw_tex(&dom)
            .into_iter()
            .for_each(|t| found(format!("raw TeX outside KaTeX: {t}")));
        katex_errors(&dom)
            .into_iter()
            .for_each(|t| found(format!("KaTeX error in a formula: {t}")));
        control_in_math(&dom)
            .into_iter()
            .for_each(|t| found(format!("control character {t}")));
        // The book never strikes text through on purpose; markdown does when it
        // pairs two `~`, e.g. the glyphs KaTeX renders for \tilde.
        if dom.contains("<del>") || dom.contains("<s>") {
            found(
                "struck-through text: markdown paired two `~` (use \\widetilde)"
                    .into(),
            );
        }
        requests
            .into_iter()
            .for_each(|u| found(format!("fetched from the network: {u}")));
        for (tag, attr) in [("link", "href"), ("script", "src"), ("img", "src")] {
            for url in attributes(&dom, tag, attr)
                .iter()
                .filter(|u| is_external(u))
            {
                found(format!("<{tag} {attr}=\"{url}\"> is outside the book"));
            }
        }
        for src in attributes(&dom, "img", "src") {
            images += 1;
            let file = resolve(page, &src);
            if !file.as_ref().is_some_and(|f| {
                f.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
            }) {
                found(format!("image {src} does not load"));
            }
        }
        for href in attributes(&dom, "a", "href") {
            if is_external(&href)
                || href.starts_with("mailto:")
                || href.starts_with("javascript:")
            {
                continue;
            }
            links += 1;
            if let Err(e) = link_resolves(page, &dom, &href) {
                found(e);
            }
        }
    }
    problems.extend(stylesheet_urls(book));
    Ok((problems, [math, images, links]))
}

fn find_chromium() -> Result<PathBuf, Fail> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new(name).arg("--version").output();
        if found.is_ok_and(|o| o.status.success()) {
            return Ok(PathBuf::from(name));
        }
    }
    Err(Fail(
        "chromium not found: install it (Debian: apt-get install -y chromium)"
            .into(),
    ))
}

fn collect_pages(dir: &Path, pages: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            collect_pages(&path, pages);
        } else if path.extension().is_some_and(|e| e == "html")
            && path.file_name().is_some_and(|n| n != "404.html")
        {
            pages.push(path);
        }
    }
}

/// The rendered DOM of a page and the http(s) URLs it requested.
/// Injected into each page before it is rendered: once the page has loaded,
/// it writes into `<body data-overflow="…">` every table, code block,
/// display equation or image wider than the content column (`<main>`).
const MEASURE: &str = r#"<script>window.addEventListener('load', () => {
  const main = document.querySelector('main') || document.body;
  const width = main.getBoundingClientRect().width;
  const wide = [];
  main.querySelectorAll('table, pre, .katex-display, img').forEach(e => {
    const w = Math.max(e.scrollWidth, e.getBoundingClientRect().width);
    if (w > width + 1) {
      const what = (e.textContent || e.getAttribute('src') || '').replace(/\s+/g, ' ').slice(0, 50);
      wide.push(e.tagName.toLowerCase() + ' ' + Math.round(w) + ' px wide in ' + Math.round(width) + ': ' + what);
    }
  });
  document.body.setAttribute('data-overflow', wide.join(' || ') || 'none');
  const shown = [];
  main.querySelectorAll('img').forEach(e => {
    const src = e.getAttribute('src') || '';
    // An image not yet laid out when the page has loaded reports 0: it will
    // be shown at its own width, at most the column's (max-width: 100%).
    const w = e.getBoundingClientRect().width || -width;
    if (src.endsWith('.svg')) shown.push(src + ' ' + w);
  });
  document.body.setAttribute('data-figures', shown.join(' || ') || 'none');
});</script>"#;

/// The smallest text a figure may show, in CSS pixels as rendered.
pub const MIN_TEXT_PX: f64 = 10.0;

/// Every SVG figure the measuring script found, with the width it is shown
/// at, or an error if it did not run.
fn figures_shown(dom: &str) -> Result<Vec<(String, f64)>, String> {
    let key = "data-figures=\"";
    let start =
        dom.find(key).ok_or("the figure measurement did not run")? + key.len();
    let end = dom[start..]
        .find('"')
        .ok_or("the figure measurement is not closed")?;
    let found = &dom[start..start + end];
    if found == "none" {
        return Ok(Vec::new());
    }
    found
        .split(" || ")
        .map(|entry| {
            let (src, width) = entry
                .rsplit_once(' ')
                .ok_or_else(|| format!("bad figure measurement {entry}"))?;
            let width = width
                .parse()
                .map_err(|_| format!("bad figure width in {entry}"))?;
            Ok((src.to_string(), width))
        })
        .collect()
}

/// The smallest text of an SVG file as shown `shown` pixels wide: its
/// smallest `font-size` times the scale from its own `width`. A negative
/// `shown` is minus the column's width for an image not yet laid out, shown
/// at its own width up to the column's. `None` if the file has no text or no
/// width.
fn smallest_text(svg: &str, shown: f64) -> Option<f64> {
    let number = |key: &str, from: &str| -> Option<f64> {
        let i = from.find(key)? + key.len();
        from[i..].split('"').next()?.parse().ok()
    };
    let width = number("width=\"", svg)?;
    let shown = if shown < 0.0 {
        width.min(-shown)
    } else {
        shown
    };
    let smallest = svg
        .match_indices("font-size=\"")
        .filter_map(|(i, _)| number("font-size=\"", &svg[i..]))
        .fold(f64::INFINITY, f64::min);
    (smallest.is_finite() && width > 0.0).then(|| smallest * shown / width)
}

/// The elements the measuring script found wider than the column, or an
/// error if it did not run.
fn too_wide(dom: &str) -> Result<Vec<String>, String> {
    let key = "data-overflow=\"";
    let start =
        dom.find(key).ok_or("the width measurement did not run")? + key.len();
    let end = dom[start..]
        .find('"')
        .ok_or("the width measurement is not closed")?;
    let found = &dom[start..start + end];
    Ok(if found == "none" {
        Vec::new()
    } else {
        found.split(" || ").map(str::to_string).collect()
    })
}

fn render(chromium: &Path, page: &Path) -> Result<(String, Vec<String>), Fail> {
    render_with(chromium, page, "", Clock::Virtual(3000))
}

/// Renders `page` with the measuring script, opened at `fragment` (`""` or
/// `"#widget-test"`), with `clock`'s time for its scripts.
fn render_with(
    chromium: &Path,
    page: &Path,
    fragment: &str,
    budget: Clock,
) -> Result<(String, Vec<String>), Fail> {
    // The page itself, with the measuring script, while it renders (its own
    // name and place, which mdBook's scripts use); then restored.
    let html = std::fs::read_to_string(page)
        .map_err(|e| Fail(format!("cannot read {}: {e}", page.display())))?;
    let with_script = match html.rfind("</body>") {
        Some(i) => format!("{}{MEASURE}{}", &html[..i], &html[i..]),
        None => format!("{html}{MEASURE}"),
    };
    // The error recorder runs before any of the page's own scripts.
    let with_script = match with_script.find("<head>") {
        Some(i) => format!(
            "{}{}{}",
            &with_script[..i + 6],
            crate::widget_check::ERRORS,
            &with_script[i + 6..]
        ),
        None => with_script,
    };
    let write = |text: &str| {
        std::fs::write(page, text)
            .map_err(|e| Fail(format!("cannot write {}: {e}", page.display())))
    };
    write(&with_script)?;
    let result = render_file(chromium, page, fragment, budget);
    write(&html)?;
    result
}

fn render_file(
    chromium: &Path,
    page: &Path,
    fragment: &str,
    budget: Clock,
) -> Result<(String, Vec<String>), Fail> {
    let profile = std::env::temp_dir()
        .join(format!("ssm-lineage-chromium-{}", std::process::id()));
    let netlog = profile.join("netlog.json");
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile)
        .map_err(|e| Fail(format!("cannot create {}: {e}", profile.display())))?;
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Requests are logged when they start; resolving no host name means
            // none of them leaves the machine.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            // The book's column at a desktop width; time for the scripts.
            "--window-size=1280,900",
        ])
        .arg(match budget {
            Clock::Virtual(ms) => format!("--virtual-time-budget={ms}"),
            Clock::Real(ms) => format!("--timeout={ms}"),
        })
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .map_err(|e| Fail(format!("cannot run {}: {e}", chromium.display())))?;
    if !output.status.success() {
        return Err(Fail(format!(
            "chromium failed on {} ({})",
            page.display(),
            output.status
        )));
    }
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    // Requests the page made carry the page's initiator ("null" for a file://
    // page); Chromium's own service traffic says "not an origin" and is not
    // the book's doing.
    let mut requests: Vec<String> = log
        .match_indices("\"initiator\":\"")
        .filter_map(|(i, m)| {
            let rest = &log[i + m.len()..];
            let initiator = rest.split('"').next()?;
            // The event's parameters end where its "phase" begins (a `}` may
            // occur inside their strings).
            let object = &rest[..rest.find("\"phase\"")?];
            let (_, url) = object.split_once("\"url\":\"")?;
            let url = url.split('"').next()?;
            (initiator != "not an origin" && is_external(url))
                .then(|| url.to_string())
        })
        .collect();
    requests.sort();
    requests.dedup();
    Ok((
        String::from_utf8_lossy(&output.stdout).into_owned(),
        requests,
    ))
}

fn is_external(url: &str) -> bool {
    url.starts_with("http://")
        || url.starts_with("https://")
        || url.starts_with("//")
}

/// The values of `attr` on every `<tag …>` of the page.
fn attributes(html: &str, tag: &str, attr: &str) -> Vec<String> {
    let open = format!("<{tag} ");
    let key = format!(" {attr}=\"");
    html.match_indices(&open)
        .filter_map(|(i, _)| {
            let element = &html[i..i + html[i..].find('>')?];
            let start = element.find(&key)? + key.len();
            let value = &element[start..start + element[start..].find('"')?];
            Some(value.replace("&amp;", "&"))
        })
        .collect()
}

/// The byte ranges of every element opened by `start` (e.g. `<span
/// class="katex`), each with its nested elements of the same tag, in order.
fn element_ranges(html: &str, start: &str, tag: &str) -> Vec<(usize, usize)> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(i) = html[from..].find(start).map(|k| k + from) {
        let mut depth = 0usize;
        let mut j = i;
        loop {
            let next_open = html[j..].find(&open).map(|k| k + j);
            let Some(next_close) = html[j..].find(&close).map(|k| k + j) else {
                j = html.len();
                break;
            };
            match next_open {
                Some(o) if o < next_close => {
                    depth += 1;
                    j = o + open.len();
                }
                _ => {
                    depth = depth.saturating_sub(1);
                    j = next_close + close.len();
                    if depth == 0 {
                        break;
                    }
                }
            }
        }
        ranges.push((i, j));
        from = j;
    }
    ranges
}

/// Removes every element opened by `start` (e.g. `<span class="katex`), with
/// its nested elements of the same tag.
fn without_elements(html: &str, start: &str, tag: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut kept = 0;
    for (i, j) in element_ranges(html, start, tag) {
        out.push_str(&html[kept..i]);
        kept = j;
    }
    out.push_str(&html[kept..]);
    out
}

/// The text of every element KaTeX marked as an error: with
/// `throw-on-error = false` it renders `<span class="katex-error">` around
/// the raw TeX instead of failing.
fn katex_errors(dom: &str) -> Vec<String> {
    let mut found: Vec<String> =
        element_ranges(dom, "<span class=\"katex-error", "span")
            .into_iter()
            .map(|(i, j)| {
                let element = &dom[i..j];
                let text = element
                    .find('>')
                    .map_or(element, |k| &element[k + 1..])
                    .trim_end_matches("</span>");
                text.chars().take(40).collect()
            })
            .collect();
    found.truncate(5);
    found
}

/// Every control character (other than a line break) inside a rendered
/// formula, with a snippet around it in which it is written as an escape:
/// KaTeX takes a TAB for a space, so `\tfrac` with its `\t` turned into a TAB
/// renders as the letters "frac"; the formula's TeX source, which KaTeX keeps
/// in an `<annotation>`, still holds the character.
fn control_in_math(dom: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, j) in element_ranges(dom, "<span class=\"katex\"", "span") {
        let text: Vec<char> = visible_text(&dom[i..j]).chars().collect();
        for (k, &c) in text.iter().enumerate() {
            if c.is_control() && c != '\n' {
                let name = if c == '\t' { " (TAB)" } else { "" };
                let around: String = text
                    [k.saturating_sub(12)..(k + 12).min(text.len())]
                    .iter()
                    .collect();
                found.push(format!(
                    "U+{:04X}{name} inside a formula: {}",
                    c as u32,
                    around.trim().escape_default()
                ));
            }
        }
    }
    found.truncate(5);
    found
}

/// Every control character (other than a line break) in the Markdown files
/// under `dir`, as `file:line: …` with the line written with escapes.
fn control_in_sources(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    collect_markdown(dir, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let name = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (number, line) in text.lines().enumerate() {
            if let Some(c) = line.chars().find(|c| c.is_control()) {
                let what = if c == '\t' { " (TAB)" } else { "" };
                found.push(format!(
                    "{name}:{}: control character U+{:04X}{what}: {}",
                    number + 1,
                    c as u32,
                    line.trim().escape_default()
                ));
            }
        }
    }
    found
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            collect_markdown(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The text of `html` without its tags.
fn visible_text(html: &str) -> String {
    let mut visible = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => visible.push(c),
            _ => {}
        }
    }
    visible
}

/// Snippets of visible text that look like unrendered TeX.
fn raw_tex(dom: &str) -> Vec<String> {
    let mut text = without_elements(dom, "<span class=\"katex", "span");
    for tag in ["script", "style", "code", "pre", "head", "title"] {
        text = without_elements(&text, &format!("<{tag}"), tag);
    }
    let chars: Vec<char> = visible_text(&text).chars().collect();
    let mut found = Vec::new();
    for (i, pair) in chars.windows(2).enumerate() {
        let tex = (pair[0] == '$' && !pair[1].is_whitespace())
            || (pair[0] == '\\' && pair[1].is_ascii_alphabetic());
        if tex {
            let snippet: String = chars
                [i.saturating_sub(10)..(i + 30).min(chars.len())]
                .iter()
                .collect();
            found.push(format!("…{}…", snippet.replace('\n', " ")));
        }
    }
    found.truncate(5);
    found
}

fn resolve(page: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['#', '?']).next()?;
    let dir = page.parent()?;
    let target = if path.is_empty() {
        page.to_path_buf()
    } else {
        dir.join(path)
    };
    Some(if target.is_dir() {
        target.join("index.html")
    } else {
        target
    })
}

fn link_resolves(page: &Path, dom: &str, href: &str) -> Result<(), String> {
    let target =
        resolve(page, href).ok_or_else(|| format!("link {href} is malformed"))?;
    if !target.is_file() {
        return Err(format!("link {href} leads to no file"));
    }
    let Some((_, fragment)) = href.split_once('#') else {
        return Ok(());
    };
    if fragment.is_empty() {
        return Ok(());
    }
    let html = if target == page {
        dom.to_string()
    } else {
        std::fs::read_to_string(&target).unwrap_or_default()
    };
    let has_id = html.contains(&format!("id=\"{fragment}\""))
        || html.contains(&format!("name=\"{fragment}\""));
    if has_id {
        Ok(())
    } else {
        Err(format!("link {href}: no element with id {fragment}"))
    }
}

/// Every `url(…)` of the book's stylesheets (the KaTeX fonts among them) is
/// relative and names a file that exists.
fn stylesheet_urls(book: &Path) -> Vec<String> {
    let mut sheets = Vec::new();
    collect_css(book, &mut sheets);
    let mut problems = Vec::new();
    for sheet in sheets {
        let css = std::fs::read_to_string(&sheet).unwrap_or_default();
        for (i, _) in css.match_indices("url(") {
            let raw = css[i + 4..]
                .split(')')
                .next()
                .unwrap_or("")
                .trim_matches(['"', '\'', ' ']);
            if raw.starts_with("data:") || raw.starts_with('#') {
                continue;
            }
            let name = sheet
                .strip_prefix(book)
                .unwrap_or(&sheet)
                .display()
                .to_string();
            if is_external(raw) {
                problems.push(format!("{name}: url({raw}) is outside the book"));
            } else if !resolve(&sheet, raw).is_some_and(|f| f.is_file()) {
                problems.push(format!("{name}: url({raw}) names no file"));
            }
        }
    }
    problems
}

fn collect_css(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            collect_css(&path, out);
        } else if path.extension().is_some_and(|e| e == "css") {
            out.push(path);
        }
    }
}

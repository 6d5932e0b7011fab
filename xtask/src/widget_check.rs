//! The browser check of the widgets: every page with a widget is loaded a
//! second time as `page.html#widget-test`, where `chapters/widgets/widgets.js`
//! renders each widget, sets every control that carries a `data-test-value`,
//! dispatches its `input` event, and records on the widget's `<div>` what
//! happened (`data-rendered`, `data-changed`, `data-first-ms`,
//! `data-update-ms`, `data-test-numbers`). The check fails on a console error
//! or an uncaught exception, a widget that did not render, did not change,
//! or shows a number other than the native crate's
//! ([`ssm_widgets::browser_cases`]).

use std::collections::BTreeMap;

use ssm_widgets::BrowserCase;

/// Injected first into the `<head>` of a page under test: it records every
/// uncaught error, rejected promise and `console.error` on the `<html>`
/// element, where the dumped DOM keeps them.
pub const ERRORS: &str = r#"<script>(() => {
  const seen = [];
  const note = m => {
    seen.push(String(m).slice(0, 300));
    document.documentElement.setAttribute('data-errors', JSON.stringify(seen));
  };
  window.addEventListener('error', e => note(e.message || e));
  window.addEventListener('unhandledrejection', e => note(e.reason));
  const error = console.error.bind(console);
  console.error = (...a) => { note(a.join(' ')); error(...a); };
})();</script>"#;

/// The widgets of one page, as the dumped DOM shows them after the test.
#[derive(Debug, Default)]
pub struct PageWidgets {
    /// Problems found, one line each.
    pub problems: Vec<String>,
    /// `(widget, first render ms, update ms)` for each widget.
    pub timings: Vec<(String, f64, f64)>,
    /// The number of cases checked.
    pub cases: usize,
}

/// Whether a built page holds a widget.
pub fn has_widgets(html: &str) -> bool {
    html.contains("data-widget=\"")
}

/// Un-escapes an attribute value of the dumped DOM.
fn unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The start tag of the element with `id`, if any.
fn start_tag<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let i = dom.find(&format!(" id=\"{id}\""))?;
    let open = dom[..i].rfind('<')?;
    let close = open + dom[open..].find('>')?;
    Some(&dom[open..close])
}

/// The value of `attr` in a start tag.
fn attr(tag: &str, attr: &str) -> Option<String> {
    let key = format!(" {attr}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// The ids of every widget container on the page (`data-widget="…"`).
fn widget_ids(dom: &str) -> Vec<String> {
    dom.match_indices("data-widget=\"")
        .filter_map(|(i, _)| {
            let open = dom[..i].rfind('<')?;
            let close = i + dom[i..].find('>')?;
            attr(&dom[open..close], "id")
        })
        .collect()
}

/// Checks the widgets of one page's dumped DOM (loaded with `#widget-test`)
/// against `cases`.
pub fn check(dom: &str, cases: &[BrowserCase]) -> PageWidgets {
    let mut out = PageWidgets::default();
    if let Some(errors) = html_attr(dom, "data-errors") {
        let list: Vec<String> =
            serde_json::from_str(&errors).unwrap_or(vec![errors]);
        for e in list {
            out.problems.push(format!("console error: {e}"));
        }
    }
    for id in widget_ids(dom) {
        let Some(tag) = start_tag(dom, &id) else {
            continue;
        };
        let mut found =
            |what: String| out.problems.push(format!("widget {id}: {what}"));
        if let Some(e) = attr(tag, "data-error") {
            found(format!("failed: {e}"));
            continue;
        }
        if attr(tag, "data-test-done").as_deref() != Some("1") {
            found("the test did not finish (no data-test-done)".into());
            continue;
        }
        if attr(tag, "data-rendered").as_deref() != Some("1") {
            found("did not render".into());
        }
        if attr(tag, "data-changed").as_deref() != Some("1") {
            found("its drawing did not change when its controls were set".into());
        }
        let ms = |key| {
            attr(tag, key)
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        out.timings
            .push((id.clone(), ms("data-first-ms"), ms("data-update-ms")));
        let numbers: BTreeMap<String, Option<f64>> = attr(tag, "data-test-numbers")
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default();
        let mine: Vec<&BrowserCase> =
            cases.iter().filter(|c| c.widget == id).collect();
        if mine.is_empty() {
            found("no browser case in ssm_widgets::browser_cases()".into());
        }
        for case in mine {
            out.cases += 1;
            let control = start_tag(dom, case.control);
            let test_value = control.and_then(|t| attr(t, "data-test-value"));
            if test_value.as_deref() != Some(case.value.as_str()) {
                found(format!(
                    "control {} has data-test-value {:?}, its case sets {:?}",
                    case.control, test_value, case.value
                ));
            }
            match numbers.get(case.number) {
                Some(Some(shown))
                    if (shown - case.expected).abs() <= case.tolerance => {}
                shown => found(format!(
                    "{} = {:?} shown, the crate computes {} (± {})",
                    case.number,
                    shown.and_then(|v| *v),
                    case.expected,
                    case.tolerance
                )),
            }
        }
    }
    out
}

/// An attribute of the `<html>` element.
pub fn html_attr(dom: &str, key: &str) -> Option<String> {
    let open = dom.find("<html")?;
    let close = open + dom[open..].find('>')?;
    attr(&dom[open..close], key)
}

/// Loads every page of `pages` that holds a widget as `page#widget-test` and
/// checks its widgets; prints each widget's timings. Returns the problems.
pub fn check_all(
    pages: &[std::path::PathBuf],
    mut render: impl FnMut(&std::path::Path) -> Result<String, crate::tools::Fail>,
) -> Result<Vec<String>, crate::tools::Fail> {
    let cases = ssm_widgets::browser_cases();
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    let (mut widgets, mut checked) = (0, 0);
    for page in pages {
        let html = std::fs::read_to_string(page).unwrap_or_default();
        // The print page holds every chapter, with the pages' relative
        // script paths: its widgets stay hidden, the static figures show.
        if !has_widgets(&html) || page.file_name().is_some_and(|n| n == "print.html")
        {
            continue;
        }
        let name = page.file_name().map_or(String::new(), |n| {
            let dir = page.parent().and_then(|d| d.file_name());
            format!(
                "{}/{}",
                dir.map_or("".into(), |d| d.to_string_lossy()),
                n.to_string_lossy()
            )
        });
        // In real time (virtual time would stop `performance.now()` during a
        // synchronous render); widgets.js holds the page's load, which the
        // dump waits for, until every widget's test is over.
        let found = check(&render(page)?, &cases);
        for (id, first, update) in &found.timings {
            crate::tools::step(&format!(
                "widget {id}: first render {first:.0} ms, update {update:.0} ms"
            ));
            seen.push(id.clone());
        }
        widgets += found.timings.len();
        checked += found.cases;
        problems.extend(
            found
                .problems
                .into_iter()
                .map(|p| format!("{name}#widget-test: {p}")),
        );
    }
    for case in &cases {
        if !seen.iter().any(|s| s == case.widget) {
            problems.push(format!(
                "browser case for widget {} ({}): no page shows that widget",
                case.widget, case.control
            ));
        }
    }
    if problems.is_empty() {
        crate::tools::step(&format!(
            "widgets: {widgets} rendered, changed by their controls, {checked} numbers equal to the crate's"
        ));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(expected: f64) -> BrowserCase {
        BrowserCase {
            widget: "w",
            control: "w-x",
            value: "2".into(),
            number: "k",
            expected,
            tolerance: 1e-9,
        }
    }

    fn dom(errors: &str, div: &str, test_value: &str) -> String {
        format!(
            "<html{errors}><body><div class=\"widget\" id=\"w\" data-widget=\"w\"{div}>\
             <input id=\"w-x\" data-test-value=\"{test_value}\"></div></body></html>"
        )
    }

    const DONE: &str = " data-rendered=\"1\" data-changed=\"1\" data-first-ms=\"5.0\" \
        data-update-ms=\"2.0\" data-test-numbers=\"{&quot;k&quot;:1.5}\" data-test-done=\"1\"";

    #[test]
    fn a_widget_that_rendered_changed_and_shows_the_crates_number_passes() {
        let found = check(&dom("", DONE, "2"), &[case(1.5)]);
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        assert_eq!(found.timings, vec![("w".into(), 5.0, 2.0)]);
        assert_eq!(found.cases, 1);
    }

    /// Each planted problem is found, and says what it is.
    #[test]
    fn every_planted_problem_is_caught() {
        let planted = [
            (dom("", DONE, "2"), case(1.6), "the crate computes 1.6"),
            (dom("", DONE, "3"), case(1.5), "its case sets \"2\""),
            (
                dom(" data-errors=\"[&quot;boom&quot;]\"", DONE, "2"),
                case(1.5),
                "console error: boom",
            ),
            (
                dom("", &DONE.replace("changed=\"1\"", "changed=\"0\""), "2"),
                case(1.5),
                "did not change",
            ),
            (
                dom("", &DONE.replace("rendered=\"1\"", "rendered=\"0\""), "2"),
                case(1.5),
                "did not render",
            ),
            (dom("", "", "2"), case(1.5), "did not finish"),
            (
                dom("", " data-error=\"no module\"", "2"),
                case(1.5),
                "failed: no module",
            ),
        ];
        for (page, case, problem) in planted {
            let found = check(&page, &[case]);
            assert!(
                found.problems.iter().any(|p| p.contains(problem)),
                "{problem}: {:?}",
                found.problems
            );
        }
        let found = check(&dom("", DONE, "2"), &[]);
        assert!(found.problems[0].contains("no browser case"));
    }
}

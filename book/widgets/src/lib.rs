//! The book's interactive figures: `ssm-lineage` compiled to WebAssembly.
//!
//! A widget is a pure function from its parameters to a [`Widget`] (an SVG
//! drawn in the static figures' style and the numbers it shows), so the same
//! call runs natively in the tests and in the browser. Each one has a thin
//! `#[wasm_bindgen]` wrapper, `chNN_name(params…) -> String`, that returns
//! [`Widget::to_json`]; `chapters/widgets/widgets.js` loads the module and
//! wires a page's controls to it.
//!
//! [`browser_cases`] lists, for every widget, a control value the browser
//! check sets and a number it must then show, computed here natively.
//!
//! Built by `cargo xtask book` for `wasm32-unknown-unknown` (release,
//! optimised for size) and bound with the pinned `wasm-bindgen-cli`
//! (`--target no-modules`); the module's bytes travel in base64 inside
//! `chapters/widgets/ssm_widgets_wasm.js`, since a page opened from
//! `file://` cannot fetch a `.wasm` file. The library compiles there as it
//! is: rand's randomness comes from `getrandom`'s `wasm_js` backend, sizes
//! are limited to [`ssm_lineage::error::MAX_VALUES`] ($2^{28}$ values on a
//! 32-bit target), and rayon's parallel iterators run on the calling thread
//! (rayon-core falls back to a one-thread pool when threads are unsupported;
//! chapter 8's widget runs `ssd_chunked`'s per-head `into_par_iter` in every
//! browser check).

pub mod ch01;
pub mod ch02;
pub mod ch03;
pub mod ch05;
pub mod ch06;
pub mod ch07;
pub mod ch08;
pub mod ch09;

/// What a widget shows: an SVG and named numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Widget {
    /// The drawing, a complete `<svg>` element.
    pub svg: String,
    /// The numbers shown beside it, by key (`data-number="<key>"` on the page).
    pub numbers: Vec<(String, f64)>,
}

impl Widget {
    /// `{"svg": "...", "numbers": {"key": value, ...}}`; a non-finite number
    /// is written as `null`.
    pub fn to_json(&self) -> String {
        let numbers: serde_json::Map<String, serde_json::Value> = self
            .numbers
            .iter()
            .map(|(k, v)| {
                let value = serde_json::Number::from_f64(*v)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number);
                (k.clone(), value)
            })
            .collect();
        serde_json::json!({ "svg": self.svg, "numbers": numbers }).to_string()
    }

    /// The number named `key`, if the widget shows one.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.numbers.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// A widget that shows only a message (when the parameters are invalid).
    pub fn message(text: &str) -> Self {
        let text = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        Widget {
            svg: format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" \
                 height=\"60\"><text x=\"10\" y=\"35\" font-family=\"sans-serif\" \
                 font-size=\"16\">{text}</text></svg>"
            ),
            numbers: Vec::new(),
        }
    }
}

/// One check the browser runs on a widget: set `control` to `value`, dispatch
/// its `input` event, and read the number `number` the page then shows.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserCase {
    /// The widget's container id (`ch02-zoh`).
    pub widget: &'static str,
    /// The id of the control the browser sets; it carries
    /// `data-test-value="<value>"` on the page.
    pub control: &'static str,
    /// What the browser sets the control to.
    pub value: String,
    /// The key of the number checked.
    pub number: &'static str,
    /// The number, computed natively by calling the same widget function with
    /// the changed parameters.
    pub expected: f64,
    /// How far the shown number may be from `expected` (the page shows
    /// numbers rounded; say why in the case).
    pub tolerance: f64,
}

/// Every widget's browser-check cases, chapter by chapter.
pub fn browser_cases() -> Vec<BrowserCase> {
    [
        ch01::cases(),
        ch02::cases(),
        ch03::cases(),
        ch05::cases(),
        ch06::cases(),
        ch07::cases(),
        ch08::cases(),
        ch09::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_json_writes_the_svg_and_the_numbers_by_key() {
        let w = Widget {
            svg: "<svg>\"q\"</svg>".into(),
            numbers: vec![("a".into(), 1.5), ("b".into(), f64::NAN)],
        };
        let v: serde_json::Value =
            serde_json::from_str(&w.to_json()).expect("valid JSON");
        assert_eq!(v["svg"], "<svg>\"q\"</svg>");
        assert_eq!(v["numbers"]["a"], 1.5);
        assert!(v["numbers"]["b"].is_null());
        assert_eq!(w.number("a"), Some(1.5));
        assert_eq!(w.number("c"), None);
    }
}

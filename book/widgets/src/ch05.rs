//! Chapter 5's widgets.

/// This chapter's browser-check cases.
pub fn cases() -> Vec<crate::BrowserCase> {
    Vec::new()
}

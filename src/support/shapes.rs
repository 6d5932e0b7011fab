//! One-line shape checks: a wrong shape is a caller bug, and the panic names
//! the function and both shapes (never nalgebra's internal message).

/// Panics unless the two named shapes are equal.
///
/// # Panics
/// `"{function}: {a} {shape} vs {b} {shape}"` when they differ.
#[track_caller]
pub fn same_shape(
    function: &str,
    a: (&str, (usize, usize)),
    b: (&str, (usize, usize)),
) {
    assert!(
        a.1 == b.1,
        "{function}: {} {:?} vs {} {:?}",
        a.0,
        a.1,
        b.0,
        b.1
    );
}

/// Panics unless the two named shapes have the same number of rows (the same
/// sequence length).
///
/// # Panics
/// `"{function}: {a} {shape} vs {b} {shape}"` when the rows differ.
#[track_caller]
pub fn same_rows(
    function: &str,
    a: (&str, (usize, usize)),
    b: (&str, (usize, usize)),
) {
    assert!(
        a.1.0 == b.1.0,
        "{function}: {} {:?} vs {} {:?}",
        a.0,
        a.1,
        b.0,
        b.1
    );
}

/// Panics unless a `(len, width)` output fits in one tensor
/// ([`crate::error::MAX_VALUES`] values), before anything is allocated: an
/// allocation that large would abort the process, which no caller could
/// catch. Views that return a value (a kernel of `len` taps) check their
/// length with this; constructors return an error instead.
///
/// # Panics
/// `"{function}: len {len} × width {width} is more than 2^32 values"`.
#[track_caller]
pub fn fits(function: &str, len: usize, width: usize) {
    assert!(
        len.checked_mul(width)
            .is_some_and(|v| v <= crate::error::MAX_VALUES),
        "{function}: len {len} × width {width} is more than 2^32 values (a tensor this large cannot be allocated)"
    );
}

/// Panics unless the named shape `(rows, columns)` has `columns` columns:
/// a sequence of rows of the width a model expects.
///
/// # Panics
/// `"{function}: {a} {shape} vs {columns} columns"` when they differ.
#[track_caller]
pub fn has_columns(function: &str, a: (&str, (usize, usize)), columns: usize) {
    assert!(
        a.1.1 == columns,
        "{function}: {} {:?} vs {columns} columns",
        a.0,
        a.1
    );
}

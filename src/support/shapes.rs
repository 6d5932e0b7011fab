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

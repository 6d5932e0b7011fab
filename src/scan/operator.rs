//! The linear recurrence as an associative operator on pairs.

use nalgebra::ComplexField;

/// An associative operator with an identity (a monoid): what a parallel scan
/// needs. `earlier.combine(later)` is "apply `earlier`, then `later`"; it must
/// be associative but need not be commutative.
pub trait Associative: Copy + Send + Sync {
    /// The element that changes nothing: `identity().combine(x) == x`.
    fn identity() -> Self;
    /// The composition of `self` (earlier) with `later`.
    fn combine(self, later: Self) -> Self;
}

/// One step $x \mapsto a x + b$ of a linear recurrence, or the composition of
/// several consecutive steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine<T> {
    /// The multiplier $a$ (the product of the multipliers of a run of steps).
    pub a: T,
    /// The offset $b$ (the state the run produces from a zero state).
    pub b: T,
}

impl<T: ComplexField + Copy> Affine<T> {
    /// The step $x \mapsto a x + b$.
    pub fn new(a: T, b: T) -> Self {
        Affine { a, b }
    }

    /// Applies the step (or run of steps) to a state.
    pub fn apply(&self, x: T) -> T {
        self.a * x + self.b
    }
}

impl<T: ComplexField + Copy> Associative for Affine<T> {
    fn identity() -> Self {
        Affine {
            a: T::one(),
            b: T::zero(),
        }
    }

    /// Implements Eq. (P1): $(a_i, b_i) \bullet (a_j, b_j) = (a_j a_i,\ a_j b_i + b_j)$
    /// ($i$ earlier): applying $x \mapsto a_i x + b_i$ then $x \mapsto a_j x + b_j$
    /// gives $a_j a_i x + (a_j b_i + b_j)$.
    ///
    /// # References
    /// S5 App. H and `s5/ssm.py::binary_operator`; Blelloch (1990) §1.4;
    /// Mamba §3.3.2.
    // ANCHOR: combine
    fn combine(self, later: Self) -> Self {
        Affine {
            a: later.a * self.a,
            b: later.a * self.b + later.b,
        }
    }
    // ANCHOR_END: combine
}

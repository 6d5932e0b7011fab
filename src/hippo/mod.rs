//! Chapter 3: HiPPO, memory as online projection onto orthogonal polynomials.
//!
//! **Sign convention.** The HiPPO paper writes $\dot c = -A c + B f$ with a
//! positive $A$. Every function here returns the already negated matrix, so
//! that $\dot c = A c + B f$ as in the rest of the book (and in all reference
//! code); the conversion happens once, in [`transitions`].
//!
//! - [`transitions`]: the $(A, B)$ pairs of LegT (two normalisations), LagT
//!   (Theorem 1's and the reference code's), LegS and FouT;
//! - [`basis`]: Legendre and Laguerre polynomials by their recurrences;
//! - [`projection`]: the projectors that consume a signal sample by sample
//!   (LegS with its Δ-free time-varying recurrence, the others as LTI
//!   systems discretized at a step Δ), and the quadrature oracle;
//! - [`reconstruct`]: the history evaluated back from the coefficients.

pub mod basis;
pub mod projection;
pub mod reconstruct;
pub mod transitions;

pub use projection::{LegsProjector, LegsRule, LtiProjector};
pub use transitions::Transition;

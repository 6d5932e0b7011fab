//! Chapter 6: parallel scans for linear recurrences.
//!
//! The recurrence $x_t = a_t x_{t-1} + b_t$ looks inherently sequential, but
//! its steps compose: applying $(a_i, b_i)$ then $(a_j, b_j)$ is the single
//! step $(a_j a_i,\ a_j b_i + b_j)$, and that composition is associative
//! ([`operator`]). Any associative operator can be scanned in parallel
//! ([`prefix`]: Hillis–Steele, Blelloch, and the chunked scan that CPUs and
//! GPUs actually run); long products are kept finite in log space
//! ([`log_space`]); and S5 runs a diagonal multi-input multi-output SSM
//! through the scan ([`s5`]). Chapter 7's selective scan is the same
//! recurrence with $a_t$ depending on the input.

pub mod log_space;
pub mod operator;
pub mod prefix;
pub mod s5;

pub use operator::{Affine, Associative};
pub use s5::S5Layer;

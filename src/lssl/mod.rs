//! Chapter 2: linear state space layers (LSSL).
//!
//! A continuous system $\dot x = Ax + Bu$, $y = Cx + Du$ ([`Ssm`]) becomes a
//! discrete one ([`DiscreteSsm`]) by a discretization rule ([`discretize()`]),
//! and the discrete system has two views that compute the same outputs: the
//! recurrence ([`crate::traits::Recurrent`]) and the convolution with the
//! kernel $\bar K$ ([`crate::traits::Convolutional`]). A third view, the exact
//! continuous response ([`views::continuous_response`]), is what both
//! approximate. [`LsslLayer`] runs $H$ independent channels, each with its
//! own step Δ; [`gating`] shows that a sigmoid gate is a discretization.

pub mod discretize;
pub mod fit;
pub mod gating;
pub mod layer;
pub mod system;
pub mod views;

pub use discretize::{Rule, discretize};
pub use layer::LsslLayer;
pub use system::{DiscreteSsm, Ssm};

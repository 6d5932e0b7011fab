//! Chapter 4: S4, structured state spaces.
//!
//! The HiPPO-LegS matrix cannot be diagonalised stably (its eigenvector
//! matrix has entries growing like $2^{4N/3}$), but it is **normal plus low
//! rank**: $A = V(\Lambda - \tilde P \tilde P^*)V^*$ with $V$ unitary ([`nplr`]).
//! In that basis the kernel's generating function at the roots of unity is
//! four Cauchy sums and a rank-one Woodbury correction ([`kernel`]); the
//! [`layer`] runs it as a convolution or, step by step, as a recurrence.

pub mod fast_kernel;
pub mod kernel;
pub mod layer;
pub mod nplr;

pub use layer::S4Layer;
pub use nplr::Dplr;

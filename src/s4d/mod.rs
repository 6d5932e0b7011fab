//! Chapter 5: diagonal state space models (S4D).
//!
//! With a diagonal $A = \operatorname{diag}(\lambda)$ the kernel is a sum of
//! geometric sequences, $\bar K_s = \sum_n C_n \bar B_n \bar\lambda_n^s$
//! (a Vandermonde product), and a real system with complex modes in
//! conjugate pairs needs only half of them: $\bar K_s = 2\,\mathrm{Re}
//! \sum_{n < N/2} \dots$. [`init`] holds the initialisations of the S4D paper,
//! [`kernel`] the kernel (readable and fast), [`layer`] the layer with its
//! recurrent and convolutional modes.

pub mod init;
pub mod kernel;
pub mod layer;
pub mod learn;

pub use init::S4dInit;
pub use layer::{S4dConfig, S4dLayer};

//! Chapter 1: the vanilla (Elman) RNN, its gradients through time, and the
//! linear RNN that unrolls into a convolution.
//!
//! - [`elman`]: the model, Eqs. (R1)–(R2);
//! - [`bptt`]: backpropagation through time and the Jacobian product whose
//!   norm vanishes or explodes, Eqs. (R3)–(R5) and (R6);
//! - [`linear`]: drop the `tanh` and the recurrence becomes a convolution,
//!   Eqs. (R8)–(R9), the bridge to chapter 2;
//! - [`memory`]: how much of the past a linear readout recovers from the
//!   state, Eq. (R7).

pub mod bptt;
pub mod elman;
pub mod linear;
pub mod memory;

pub use elman::{ElmanRnn, RnnConfig};
pub use linear::LinearRnn;

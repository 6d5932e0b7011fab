//! Chapter 7: Mamba, selective state spaces.
//!
//! S4D's SSM with its step Δ and its matrices B and C computed from the input
//! at every step ([`selective`]): the dynamics now depend on the content, so
//! there is no convolution kernel any more, only the recurrence and its
//! parallel scan ([`views`]). [`block`] and [`model`] build the Mamba block
//! and language model on it, in readable `f64`; [`fast`] holds the `f32`
//! speed work (the book's appendix), built from them and never used by them.

pub mod block;
pub mod block_backward;
pub mod complex;
pub mod config;
pub mod diagram;
pub mod fast;
pub mod model;
pub mod model_backward;
pub mod reverse_scan;
pub mod selective;
pub mod selective_backward;
pub mod views;

pub use block::{BlockCache, MambaBlock};
pub use block_backward::{BlockTape, causal_conv_backward};
pub use complex::{ComplexInput, selective_scan_complex};
pub use config::{Linear, MambaConfig};
pub use model::{MambaModel, RmsNorm};
pub use model_backward::ModelTape;
pub use selective::{BRule, ScanOutput, SelectiveScan, selective_scan};
pub use selective_backward::{
    ScanGrads, ScanTape, selective_scan_backward, selective_scan_taped,
};
pub use views::{selective_scan_chunked, transfer_matrix};

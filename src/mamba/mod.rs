//! Chapter 7: Mamba, selective state spaces.
//!
//! S4D's SSM with its step Δ and its matrices B and C computed from the input
//! at every step ([`selective`]): the dynamics now depend on the content, so
//! there is no convolution kernel any more, only the recurrence, run by the
//! readable scan or the fast one ([`fast`]).

pub mod fast;
pub mod selective;

pub use selective::{BRule, ScanOutput, SelectiveScan, selective_scan};
pub mod block;
pub mod model;

pub use block::{MambaBlock, MambaConfig};
pub use model::{Bf16Decoder, MambaModel};

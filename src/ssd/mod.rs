//! Chapter 8: Mamba-2's state space duality (SSD).
//!
//! With a scalar-times-identity $A_t = a_t I$ per head, the selective SSM's
//! matrix of chapter 7 factors as $M = \mathcal L \circ (C B^\top)$: a causal mask of
//! decays $\mathcal L$ times an attention-like matrix. The same computation can then be
//! run as a recurrence, as masked attention (quadratic in $T$), or in chunks
//! that are mostly matrix products ([`forms`]); the decays come from a
//! numerically stable segment sum ([`segsum`]). [`block`] is the Mamba-2
//! block, [`model`] the language model around it.

pub mod block;
pub mod diagram;
pub mod forms;
pub mod model;
pub mod segsum;

pub use block::{Mamba2Block, Mamba2Cache, Mamba2Config};
pub use forms::{
    SsdInputs, SsdOutput, chunk_diagonal, chunk_state, ssd_chunked, ssd_quadratic,
    ssd_recurrent, state_passing, state_to_output,
};
pub use model::Mamba2Model;

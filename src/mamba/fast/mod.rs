//! Making it fast (the book's appendix): the `f32` selective scan with its
//! portable and AVX-512 kernels ([`scan`]), the weights and products of
//! decoding, in `f32` or bfloat16 ([`weights`]), and the fast model built
//! from the readable one ([`model`]).
//!
//! Everything here depends on the story (`selective`, `block`, `model`) and
//! nothing in the story depends on it: each fast type is converted *from* a
//! readable one (`FastModel::from(&model)`), and the tests show the two
//! agree within `f32`'s rounding.

pub mod model;
pub mod scan;
pub mod weights;

pub use model::{Bf16Decoder, FastBlock, FastCache, FastModel};
pub use scan::{
    FastScan, FastScanOutput, ScanKernel, exp_f32, exp2_f32, exp2_lanes,
    selective_scan_fast, selective_scan_fast_chunked, silu_gate, softplus_f32,
    softplus_lanes, to_f32, to_f32_vector,
};

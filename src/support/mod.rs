//! Plumbing that is not part of the story: FFT convolution, the figure style,
//! and seeded randomness. Every chapter uses it; it uses no chapter.

pub mod fft;
pub mod figure;
pub mod rng;

//! Plumbing that is not part of the story: FFT convolution, the figure style,
//! seeded randomness, and the timing helpers of the speed tables. Every chapter
//! uses it; it uses no chapter.

pub mod diagram;
pub mod fft;
pub mod figure;
pub mod pictures;
pub mod rng;
pub mod shapes;
pub mod timing;
pub mod unrolled;

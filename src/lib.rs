//! # ssm-lineage
//!
//! A reading implementation of the line of sequence models that runs from the
//! vanilla RNN to Mamba-2. Each module is one chapter of the book (built from
//! `chapters/` by `cargo xtask book`), and the book includes this crate's code
//! by anchor, so what you read there is what runs here.
//!
//! ## The lineage
//!
//! | module | chapter | paper | the step it teaches |
//! |---|---|---|---|
//! | [`attention`] | 0 Introduction | Vaswani et al. 2017 | attention costs $O(L^2)$ |
//! | [`rnn`] | 1 The vanilla RNN | Elman 1990 | $O(L)$, but gradients vanish and the past is compressed badly |
//! | [`lssl`] | 2 Linear state spaces | LSSL, Gu et al. 2021 | recurrent and convolutional views of one linear system |
//! | [`hippo`] | 3 HiPPO | Gu et al. 2020 | which linear dynamics remember best |
//! | [`s4`] | 4 S4 | Gu et al. 2022 | a structured kernel that is cheap and stable |
//! | [`s4d`] | 5 S4D | Gu et al. 2022 | diagonal state spaces are enough |
//! | [`scan`] | 6 Parallel scans | Blelloch 1990; S5 | linear recurrences in parallel |
//! | [`mamba`] | 7 Mamba | Gu & Dao 2023 | input-dependent (selective) dynamics |
//! | [`ssd`] | 8 Mamba-2 | Dao & Gu 2024 | the scan is a masked attention matrix |
//! | [`train`] | 9 Learning | Loshchilov & Hutter 2019 (AdamW) | the parallel mode, run backwards: gradients, AdamW, checkpoints |
//!
//! [`support`] holds the plumbing (FFT convolution, figure style, seeded
//! randomness); [`traits`] holds the two views every model is compared in.
//!
//! ## Conventions
//!
//! - Sequences are `DMatrix<f64>` of shape `(len, channels)`: nalgebra is
//!   column-major, so each channel's time series is contiguous.
//! - Names mirror the papers' symbols: `a`, `b`, `c`, `d`, `a_bar`, `b_bar`,
//!   `dt` (Δ), `u` (input), `x` (state; chapter 1 says `h` as the RNN papers
//!   do), `y` (output), `n` (state size), `len` (sequence length $L$).
//! - Every numerical function's documentation names the equation it implements
//!   by its stable book label, e.g. `Eq. (R4)`; the labels are listed in the
//!   [`notation`] page and in each chapter's code map.
//! - Each fast path sits beside its readable definition (the oracle), and a
//!   test checks that they agree: [`support::fft::causal_conv_fft`] against
//!   [`support::fft::causal_conv_direct`], for instance.
//! - The story never imports the speed: no module outside a `fast…` module
//!   (a `fast/` folder or a `fast_*.rs` file) names one, and `tests/book.rs`
//!   enforces it. One exception remains until the fast code is gathered in one
//!   engine: [`s4::layer`] computes its kernels with
//!   [`s4::fast_kernel::kernel_dplr_fast`] (the readable
//!   [`s4::kernel::kernel_dplr`] with its Cauchy sums blocked), which a
//!   property test holds to the readable kernel.
//!
//! ## Errors
//!
//! - A wrong shape is a caller bug: the function panics with a message that
//!   names the function and both shapes (documented under `# Panics`).
//! - An invalid hyperparameter (a state size of 0, a non-positive step, a
//!   non-finite weight) is rejected once, by a fallible constructor or a
//!   `validate` method, with an [`Error`] that says what is allowed.
//! - A size too large to allocate (a tensor of more than $2^{32}$ values, or
//!   one whose size overflows) is an invalid hyperparameter too, rejected
//!   before anything is allocated ([`error::check_values`]); a view that
//!   returns a value rather than a `Result` (a kernel of `len` taps) panics
//!   naming the function and the limit instead
//!   ([`support::shapes::fits`]). An allocation that fails would abort the
//!   process, which no caller can catch.
//! - Non-finite input propagates through the arithmetic views (a
//!   recurrence, a convolution, a scan): outputs before the step it enters
//!   are untouched, outputs from it on are NaN (or ±∞ where the arithmetic
//!   says so), in every view alike, including the FFT convolution, which
//!   would otherwise spread it over the whole sequence. Where an algorithm
//!   would loop on it instead (an SVD, an eigensolver, a plot's axis range),
//!   the result is NaN or an [`Error`], never a hang.
//! - A value that overflows `f64` in the true result (a score of $10^{400}$)
//!   is documented where it can happen; one that overflows only in our
//!   algorithm is avoided (softmax subtracts its largest score, the FFT
//!   convolution scales by powers of two).
//! - Data a user loads (a checkpoint, a cache) that does not fit is an
//!   [`Error`] naming the file or tensor, not a panic.
//! - Nothing in `src/` unwraps outside tests.

pub mod attention;
pub mod error;
pub mod hippo;
pub mod hub;
pub mod lssl;
pub mod mamba;
pub mod rnn;
pub mod s4;
pub mod s4d;
pub mod scan;
pub mod ssd;
pub mod support;
pub mod train;
pub mod traits;

pub use error::{Error, Result};

#[doc = include_str!("../chapters/notation.md")]
pub mod notation {}

//! Causal convolution, directly and by FFT, on top of `rustfft` and `realfft`.
//!
//! The FFT route is the fast path of every convolutional model in the book; the
//! direct sum [`causal_conv_direct`] is its oracle, and the naive DFT
//! [`dft_naive`] is the oracle of the FFT itself. The convolution uses real-input
//! FFTs (`realfft`, half the work of complex ones); neither crate normalises its
//! inverse transform, so the code divides by the length.

use nalgebra::{Complex, DMatrix};
use rayon::prelude::*;
use realfft::RealFftPlanner;
use rustfft::FftPlanner;

/// The causal convolution by its definition, in O(len²).
///
/// Implements Eq. (R10): $y_t = \sum_{s=0}^{t} k_s  u_{t-s}$.
///
/// Taps of `k` beyond `u.len()` cannot reach any output and are ignored; a
/// shorter `k` is treated as zero-padded.
///
/// # Shapes
/// `k`: any length, `u`: `(len,)` → `(len,)`.
///
/// # References
/// The definition the FFT route is checked against (Annotated S4, `causal_convolution`).
///
/// # Example
/// ```
/// use ssm_lineage::support::fft::causal_conv_direct;
/// // A kernel (1, 1) adds each input to the one before it.
/// assert_eq!(causal_conv_direct(&[1.0, 1.0], &[1.0, 2.0, 3.0]), vec![1.0, 3.0, 5.0]);
/// ```
// ANCHOR: causal_conv_direct
pub fn causal_conv_direct(k: &[f64], u: &[f64]) -> Vec<f64> {
    (0..u.len())
        .map(|t| {
            let taps = k.len().min(t + 1);
            (0..taps).map(|s| k[s] * u[t - s]).sum()
        })
        .collect()
}
// ANCHOR_END: causal_conv_direct

/// The causal convolution by the convolution theorem, as the textbook
/// states it: pad both signals with zeros to a length of at least $2L$ (so
/// that the circular convolution the DFT computes cannot wrap around),
/// transform, multiply, transform back, keep the first $L$ values.
///
/// Implements Eq. (R11). The crate's layers use [`causal_conv_fft`], the
/// same algorithm with real transforms, channels in parallel and two guards
/// (power-of-two scaling so that spectra overflow only where the direct sum
/// does, and NaN only from the step a non-finite value enters); a test holds
/// the two equal on finite input.
///
/// # Shapes
/// `k`: any length, `u`: `(len,)` → `(len,)`.
// ANCHOR: causal_conv_fft_plain
pub fn causal_conv_fft_plain(k: &[f64], u: &[f64]) -> Vec<f64> {
    let len = u.len();
    let size = (2 * len).next_power_of_two(); // zero padding: no wrap-around
    let padded = |x: &[f64]| -> Vec<Complex<f64>> {
        (0..size)
            .map(|t| {
                Complex::new(if t < len.min(x.len()) { x[t] } else { 0.0 }, 0.0)
            })
            .collect()
    };
    let (k_hat, u_hat) = (fft(&padded(k)), fft(&padded(u)));
    let product: Vec<Complex<f64>> =
        k_hat.iter().zip(&u_hat).map(|(a, b)| a * b).collect();
    ifft(&product).iter().take(len).map(|z| z.re).collect()
}
// ANCHOR_END: causal_conv_fft_plain

/// The same causal convolution in O(len log len) by the convolution theorem.
///
/// Implements Eq. (R11): $y = \mathcal{F}^{-1}\big(\mathcal{F}(k)\cdot
/// \mathcal{F}(u)\big)_{0..L}$, both zero-padded to $2L$ so the circular
/// convolution does not wrap around.
///
/// # Shapes
/// `k`: any length, `u`: `(len,)` → `(len,)`.
///
/// # References
/// Annotated S4, `causal_convolution` (pads to 2L and uses `rfft`).
// ANCHOR: causal_conv_fft
pub fn causal_conv_fft(k: &[f64], u: &[f64]) -> Vec<f64> {
    let k = DMatrix::from_column_slice(k.len(), 1, k);
    let u = DMatrix::from_column_slice(u.len(), 1, u);
    causal_conv_fft_columns(&k, &u)
        .column(0)
        .iter()
        .copied()
        .collect()
}
// ANCHOR_END: causal_conv_fft

/// [`causal_conv_fft`] for every column: column `h` of `k` convolves column `h`
/// of `u`. One FFT plan serves all the channels.
///
/// # Shapes
/// `k`: `(klen, channels)`, `u`: `(len, channels)` → `(len, channels)`.
///
/// A NaN or infinite tap or input makes the outputs NaN from its step on,
/// and leaves the earlier ones exact, as the direct sum would (the transform
/// itself would spread it over the whole column).
///
/// # Panics
/// If `k` and `u` have different numbers of columns.
pub fn causal_conv_fft_columns(k: &DMatrix<f64>, u: &DMatrix<f64>) -> DMatrix<f64> {
    assert_eq!(
        k.ncols(),
        u.ncols(),
        "causal_conv_fft_columns: kernel has shape {:?} but input has shape {:?}",
        k.shape(),
        u.shape()
    );
    let taps = k.nrows().min(u.nrows());
    causal_conv_fft_columns_with(u, |h, signal| {
        for (slot, v) in signal.iter_mut().zip(k.column(h).iter().take(taps)) {
            *slot = *v;
        }
    })
}

/// [`causal_conv_fft_columns`] with each channel's kernel written on demand
/// by `kernel(h, signal)` into a zeroed buffer (at most `len` taps are used),
/// so that no `(len, channels)` kernel matrix is ever stored: the fused path
/// of a layer's `convolve`, which saves a pass over memory.
///
/// # Shapes
/// `u`: `(len, channels)` → `(len, channels)`.
pub fn causal_conv_fft_columns_with(
    u: &DMatrix<f64>,
    kernel: impl Fn(usize, &mut [f64]) + Sync,
) -> DMatrix<f64> {
    let len = u.nrows();
    let mut y = DMatrix::zeros(len, u.ncols());
    if len == 0 || u.ncols() == 0 {
        return y;
    }
    let size = (2 * len).next_power_of_two();
    // Real signals have conjugate-symmetric spectra: real-input FFTs compute
    // only the size/2 + 1 independent bins, half the work of complex ones.
    let mut planner = RealFftPlanner::<f64>::new();
    let forward = planner.plan_fft_forward(size);
    let inverse = planner.plan_fft_inverse(size);
    let scale = 1.0 / size as f64;
    // Channels are independent: one plan shared, channels in parallel, each
    // worker reusing its buffers, each writing its own output column.
    y.as_mut_slice()
        .par_chunks_mut(len)
        .enumerate()
        .for_each_init(
            || Buffers {
                signal: forward.make_input_vec(),
                kf: forward.make_output_vec(),
                uf: forward.make_output_vec(),
                scratch: forward.make_scratch_vec(),
                inverse_scratch: inverse.make_scratch_vec(),
                y: inverse.make_output_vec(),
            },
            |buf, (h, out)| {
                buf.signal.fill(0.0);
                kernel(h, &mut buf.signal[..len]);
                // Output t reads kernel taps and inputs up to t only, so the
                // first non-finite tap or input poisons outputs from there on
                // and no earlier (as in the direct sum); the transform,
                // which mixes every step, sees only the finite prefix.
                let cut = first_non_finite(&buf.signal[..len])
                    .min(first_non_finite(u.column(h).as_slice()));
                buf.signal[cut..len].fill(0.0);
                // Both signals are scaled by powers of two to a largest entry
                // near one, and the result scaled back: exact (rounding does
                // not depend on a power-of-two scale), and the spectra cannot
                // overflow where the direct sum does not.
                let ek = binary_exponent(&buf.signal[..len]);
                buf.signal[..len]
                    .iter_mut()
                    .for_each(|v| *v *= 2f64.powi(-ek));
                // Lengths match the plans, so processing cannot fail.
                let _ = forward.process_with_scratch(
                    &mut buf.signal,
                    &mut buf.kf,
                    &mut buf.scratch,
                );
                buf.signal.fill(0.0);
                let eu = binary_exponent(&u.column(h).as_slice()[..cut]);
                for (slot, v) in buf.signal[..cut].iter_mut().zip(u.column(h).iter())
                {
                    *slot = v * 2f64.powi(-eu);
                }
                let _ = forward.process_with_scratch(
                    &mut buf.signal,
                    &mut buf.uf,
                    &mut buf.scratch,
                );
                for (a, b) in buf.uf.iter_mut().zip(&buf.kf) {
                    *a *= b;
                }
                // The DC and Nyquist bins of a real signal are real: drop rounding.
                let last = buf.uf.len() - 1;
                buf.uf[0].im = 0.0;
                buf.uf[last].im = 0.0;
                let _ = inverse.process_with_scratch(
                    &mut buf.uf,
                    &mut buf.y,
                    &mut buf.inverse_scratch,
                );
                // 2^(ek + eu) in two halves, each finite.
                let (e1, e2) = ((ek + eu) / 2, ek + eu - (ek + eu) / 2);
                for (o, v) in out.iter_mut().zip(&buf.y[..cut]) {
                    *o = v * scale * 2f64.powi(e1) * 2f64.powi(e2);
                }
                out[cut..].fill(f64::NAN);
            },
        );
    y
}

/// The exponent $e$ with the largest magnitude in `values` in $[2^e, 2^{e+1})$,
/// kept within ±1000 so that $2^{\pm e}$ is finite; 0 if every entry is zero.
/// The values are finite (the caller cuts at the first that is not).
fn binary_exponent(values: &[f64]) -> i32 {
    let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return 0;
    }
    (max.log2().floor() as i32).clamp(-1000, 1000)
}

/// The index of the first NaN or infinite entry, or `values.len()`.
fn first_non_finite(values: &[f64]) -> usize {
    values
        .iter()
        .position(|v| !v.is_finite())
        .unwrap_or(values.len())
}

/// One worker's buffers for [`causal_conv_fft_columns`].
struct Buffers {
    signal: Vec<f64>,
    kf: Vec<Complex<f64>>,
    uf: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    inverse_scratch: Vec<Complex<f64>>,
    y: Vec<f64>,
}

/// The forward discrete Fourier transform, by `rustfft`.
///
/// Implements $X_j = \sum_{t} x_t  e^{-2\pi i jt/n}$ (unnormalised).
///
/// # Shapes
/// `(n,)` → `(n,)`; any `n`, including 0 and primes.
pub fn fft(x: &[Complex<f64>]) -> Vec<Complex<f64>> {
    let mut buffer = x.to_vec();
    if !buffer.is_empty() {
        FftPlanner::new()
            .plan_fft_forward(buffer.len())
            .process(&mut buffer);
    }
    buffer
}

/// The inverse discrete Fourier transform, by `rustfft`, normalised by `1/n`.
///
/// Implements $x_t = \frac{1}{n}\sum_{j} X_j  e^{+2\pi i jt/n}$.
///
/// # Shapes
/// `(n,)` → `(n,)`.
pub fn ifft(x: &[Complex<f64>]) -> Vec<Complex<f64>> {
    let mut buffer = x.to_vec();
    if !buffer.is_empty() {
        FftPlanner::new()
            .plan_fft_inverse(buffer.len())
            .process(&mut buffer);
    }
    let scale = 1.0 / buffer.len().max(1) as f64;
    buffer.iter().map(|v| v * scale).collect()
}

/// The real signal of length `len` whose spectrum has the first
/// $\lfloor len/2 \rfloor + 1$ bins `half` (the rest are their mirror
/// images), by `realfft`'s complex-to-real transform, normalised by `1/len`:
/// what [`ifft`] of the mirrored spectrum gives, real part, in half the work.
/// The imaginary parts of the DC bin and (even `len`) the Nyquist bin are
/// dropped, as taking the real part drops them. Plans are cached per thread.
///
/// # Panics
/// If `half` does not have `len / 2 + 1` entries (none for `len = 0`).
///
/// A `len` too large to allocate (over $2^{32}$ values) panics, naming the limit.
pub fn irfft(half: &[Complex<f64>], len: usize) -> Vec<f64> {
    crate::support::shapes::fits("irfft", len, 1);
    assert_eq!(
        half.len(),
        (len / 2 + 1).min(len),
        "irfft: {} bins for a signal of length {len}",
        half.len()
    );
    if len == 0 {
        return Vec::new();
    }
    thread_local! {
        static PLANNER: std::cell::RefCell<RealFftPlanner<f64>> =
            std::cell::RefCell::new(RealFftPlanner::new());
    }
    let inverse = PLANNER.with(|p| p.borrow_mut().plan_fft_inverse(len));
    let mut spectrum = half.to_vec();
    spectrum[0].im = 0.0;
    if len.is_multiple_of(2) {
        spectrum[len / 2].im = 0.0;
    }
    let mut out = inverse.make_output_vec();
    // The lengths match the plan and the real bins are real: it cannot fail.
    let _ = inverse.process(&mut spectrum, &mut out);
    let scale = 1.0 / len as f64;
    out.iter().map(|v| v * scale).collect()
}

/// The DFT by its definition, in O(n²): the test oracle of [`fft`] and [`ifft`].
///
/// Implements $X_j = \sum_t x_t  e^{\mp 2\pi i jt/n}$ (`−` forward, `+` with
/// `inverse`, which also divides by `n`).
///
/// # Shapes
/// `(n,)` → `(n,)`.
pub fn dft_naive(x: &[Complex<f64>], inverse: bool) -> Vec<Complex<f64>> {
    let n = x.len();
    let sign = if inverse { 1.0 } else { -1.0 };
    let scale = if inverse { 1.0 / n.max(1) as f64 } else { 1.0 };
    (0..n)
        .map(|j| {
            let sum: Complex<f64> = x
                .iter()
                .enumerate()
                .map(|(t, v)| {
                    // Reduce j·t mod n first so the angle stays small and exact.
                    let phase = ((j * t) % n) as f64 / n as f64;
                    v * Complex::from_polar(
                        1.0,
                        sign * 2.0 * std::f64::consts::PI * phase,
                    )
                })
                .sum();
            sum * scale
        })
        .collect()
}

/// Floating-point operations of one FFT causal convolution of length `len`,
/// counted with the standard estimate of $5n\log_2 n$ per complex FFT of size
/// $n = $ `next_power_of_two(2·len)`: three FFTs and one pointwise product.
pub fn causal_conv_fft_flops(len: usize) -> f64 {
    if len == 0 {
        return 0.0;
    }
    let n = (2 * len).next_power_of_two() as f64;
    3.0 * 5.0 * n * n.log2() + 6.0 * n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_kernel_is_the_identity() {
        let u = [1.0, -2.0, 3.5, 0.25, 7.0];
        let y = causal_conv_fft(&[1.0], &u);
        for (a, b) in y.iter().zip(&u) {
            assert!((a - b).abs() < 1e-12);
        }
        assert_eq!(causal_conv_direct(&[1.0], &u), u.to_vec());
    }

    #[test]
    fn a_shifted_delta_delays_the_input() {
        let u = [1.0, 2.0, 3.0];
        assert_eq!(causal_conv_direct(&[0.0, 1.0], &u), vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn empty_inputs_give_empty_outputs() {
        assert!(causal_conv_fft(&[1.0, 2.0], &[]).is_empty());
        assert!(fft(&[]).is_empty());
        assert_eq!(causal_conv_fft_flops(0), 0.0);
    }
}

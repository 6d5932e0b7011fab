//! The crate's error type: invalid hyperparameters and failed outputs.
//!
//! Shape mismatches are caller bugs and panic (see the crate docs); this enum is
//! for values a user chooses (a state size, a step Δ, a spectral radius) and for
//! files the crate writes.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, and what is allowed instead.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A hyperparameter outside the range the model allows.
    InvalidParameter {
        /// The parameter's name as in the constructor (`n`, `dt`, ...).
        name: &'static str,
        /// The value that was given, printed.
        value: String,
        /// What is allowed, in words (`a whole number ≥ 1`).
        allowed: &'static str,
    },
    /// A matrix or vector that should be finite holds a NaN or an infinity.
    NonFinite {
        /// Which argument holds the non-finite entry.
        what: &'static str,
    },
    /// A given tensor (a parameter passed to a constructor, or read from a
    /// file) is missing or does not have the shape the model needs.
    Tensor {
        /// The tensor's name (`in_proj.weight`, ...).
        name: String,
        /// What is wrong, with the shapes (`expected (64, 256), found (64, 128)`).
        reason: String,
    },
    /// Reading a file failed, or it is not what it should be (a truncated or
    /// corrupted checkpoint, a config that does not parse).
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Training stopped: the loss or a gradient is no longer finite.
    Training {
        /// The step (counted from 0) whose loss was not finite.
        step: u64,
        /// What happened, and where the last good checkpoint is.
        reason: String,
    },
    /// Writing a figure or another output file failed.
    Output {
        /// The file that could not be written.
        path: PathBuf,
        /// Why, as the backend said it.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidParameter {
                name,
                value,
                allowed,
            } => {
                write!(f, "invalid {name} = {value}: {name} must be {allowed}")
            }
            Error::NonFinite { what } => {
                write!(
                    f,
                    "{what} has a NaN or infinite entry: all entries must be finite"
                )
            }
            Error::Tensor { name, reason } => write!(f, "tensor {name}: {reason}"),
            Error::Input { path, reason } => {
                write!(f, "cannot read {}: {reason}", path.display())
            }
            Error::Training { step, reason } => {
                write!(f, "training stopped at step {step}: {reason}")
            }
            Error::Output { path, reason } => {
                write!(f, "cannot write {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// An [`Error::InvalidParameter`] for `name = value`.
    pub fn invalid(
        name: &'static str,
        value: impl fmt::Display,
        allowed: &'static str,
    ) -> Self {
        Error::InvalidParameter {
            name,
            value: value.to_string(),
            allowed,
        }
    }
}

/// Checks that the tensor `name` has the shape `expected`.
///
/// # Errors
/// [`Error::Tensor`] naming the tensor and both shapes.
pub fn check_shape(
    name: &str,
    expected: (usize, usize),
    found: (usize, usize),
) -> Result<()> {
    if expected != found {
        return Err(Error::Tensor {
            name: name.to_string(),
            reason: format!("expected shape {expected:?}, found {found:?}"),
        });
    }
    Ok(())
}

/// Rejects a size of zero: `Ok(size)` when `size ≥ 1`.
///
/// # Errors
/// [`Error::InvalidParameter`] when `size == 0`.
pub fn check_size(name: &'static str, size: usize) -> Result<usize> {
    if size == 0 {
        return Err(Error::invalid(name, size, "a whole number ≥ 1"));
    }
    Ok(size)
}

/// The most values one tensor may hold: $2^{32}$ (32 GiB of `f64`). The
/// largest tensor of a released Mamba checkpoint (mamba-2.8b's embedding)
/// holds $1.3 \times 10^{8}$; a size beyond this is a mistake, and is
/// rejected before anything is allocated (an allocation that fails aborts the
/// process instead of returning an error).
#[cfg(target_pointer_width = "64")]
pub const MAX_VALUES: usize = 1 << 32;

/// The most values one tensor may hold on a 32-bit target (WebAssembly, where
/// the book's widgets run): $2^{28}$, 2 GiB of `f64`, half of the 4 GiB
/// address space ($2^{32}$ itself does not fit a 32-bit `usize`).
#[cfg(not(target_pointer_width = "64"))]
pub const MAX_VALUES: usize = 1 << 28;

/// [`MAX_VALUES`] in words, for the error that rejects a larger tensor.
#[cfg(target_pointer_width = "64")]
const MAX_VALUES_ALLOWED: &str =
    "a tensor of at most 2^32 values (sizes this large cannot be allocated)";

/// [`MAX_VALUES`] in words, for the error that rejects a larger tensor.
#[cfg(not(target_pointer_width = "64"))]
const MAX_VALUES_ALLOWED: &str =
    "a tensor of at most 2^28 values on a 32-bit target (2 GiB of f64)";

/// Rejects a tensor of the given dimensions if their product overflows or
/// exceeds [`MAX_VALUES`]: `Ok(product)` otherwise.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the tensor, its size and the limit.
pub fn check_values(name: &'static str, dims: &[usize]) -> Result<usize> {
    let product = dims.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    match product {
        Some(p) if p <= MAX_VALUES => Ok(p),
        _ => Err(Error::invalid(
            name,
            format!("{dims:?}"),
            MAX_VALUES_ALLOWED,
        )),
    }
}

/// Rejects a state size `n` of zero or one whose `n × n` state matrix
/// [`check_values`] rejects: `Ok(n)` otherwise.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `n` and what is allowed.
pub fn check_state_size(n: usize) -> Result<usize> {
    check_size("n", n)?;
    check_values("the n × n state matrix", &[n, n])?;
    Ok(n)
}

/// Rejects a range `lo..=hi` unless both ends are finite and
/// `0 < lo ≤ hi` (the initial-step ranges of Mamba and Mamba-2).
///
/// # Errors
/// [`Error::InvalidParameter`] naming the range and what is allowed.
pub fn check_positive_range(name: &'static str, lo: f64, hi: f64) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi) {
        return Err(Error::invalid(
            name,
            format!("{lo}..{hi}"),
            "finite with 0 < min ≤ max",
        ));
    }
    Ok(())
}

/// The largest initial step Δ a model accepts. A larger one already makes
/// $e^{\Delta A} = 0$ for every mode, and its bias (about Δ itself) must
/// stay finite in `f32`, where the fast paths keep it.
pub const MAX_DT: f64 = 1e4;

/// Rejects an initial step range `dt_min..dt_max` outside $(0, $ [`MAX_DT`] $]$.
///
/// # Errors
/// [`Error::InvalidParameter`] naming the range and what is allowed.
pub fn check_dt_range(lo: f64, hi: f64) -> Result<()> {
    check_positive_range("dt_min..dt_max", lo, hi)?;
    if hi > MAX_DT {
        return Err(Error::invalid(
            "dt_max",
            hi,
            "at most 1e4 (a larger step already decays every mode to 0, and its bias overflows f32)",
        ));
    }
    Ok(())
}

/// Rejects a value that is not finite and strictly positive.
///
/// # Errors
/// [`Error::InvalidParameter`] when `value ≤ 0`, NaN or infinite.
pub fn check_positive(name: &'static str, value: f64) -> Result<f64> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::invalid(name, value, "finite and > 0"));
    }
    Ok(value)
}

/// Rejects a slice of values with a NaN or infinite entry.
///
/// # Errors
/// [`Error::NonFinite`] naming `what`.
pub fn check_finite<'a>(
    what: &'static str,
    values: impl IntoIterator<Item = &'a f64>,
) -> Result<()> {
    if values.into_iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite { what })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_is_allowed() {
        let e = check_positive("dt", -1.0).unwrap_err();
        assert_eq!(e.to_string(), "invalid dt = -1: dt must be finite and > 0");
        let e = check_size("n", 0).unwrap_err();
        assert!(e.to_string().contains("a whole number ≥ 1"));
        assert!(check_positive("dt", f64::NAN).is_err());
        assert!(check_finite("A", &[1.0, f64::INFINITY]).is_err());
        assert!(check_finite("A", &[1.0, 2.0]).is_ok());
    }
}

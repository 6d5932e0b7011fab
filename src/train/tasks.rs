//! The papers' synthetic tasks, as seeded generators: selective copying
//! (Mamba Table 1), induction heads (Mamba Table 2) and a delay (S4's
//! initialisation ablation). Each draws one example from a random number
//! generator; a batch is drawn from a seed, so a resumed run sees the same
//! batches.

use nalgebra::{Complex, DMatrix};
use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;

use super::lm::Example;
use super::rnn::SignalExample;
use crate::error::{Error, Result, check_values};
use crate::support::fft::irfft;
use crate::support::rng::seeded;

/// Selective copying in the layout of the MAD benchmark's
/// `generate_copying_instance(selective=True)`, made autoregressive: `copies`
/// data tokens scattered among blanks in the first `len` positions, then the
/// copy marker, then the data tokens again in order, each position after
/// the marker predicting the next. Vocabulary 16: 14 data symbols
/// (`0 … 13`, chance 1/14), the blank (14) and the marker (15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectiveCopying {
    /// The positions the data tokens are scattered over, $L$.
    pub len: usize,
    /// The number of data tokens to copy, $K$.
    pub copies: usize,
}

/// The selective-copying vocabulary: 14 data symbols, the blank, the marker.
pub const COPY_VOCAB: usize = 16;
/// The blank token of selective copying.
pub const BLANK: usize = 14;
/// The copy marker of selective copying.
pub const MARKER: usize = 15;

impl SelectiveCopying {
    /// The task with `copies` tokens among `len` positions.
    ///
    /// # Errors
    /// `copies` of 0 or more than `len`.
    pub fn new(len: usize, copies: usize) -> Result<Self> {
        check_values(
            "len + copies (tokens per example)",
            &[len.saturating_add(copies)],
        )?;
        if copies == 0 || copies > len {
            return Err(Error::invalid("copies", copies, "between 1 and len"));
        }
        Ok(SelectiveCopying { len, copies })
    }

    /// One example: `len + copies` input tokens, the last `copies` targets
    /// scored.
    pub fn example(&self, rng: &mut StdRng) -> Example {
        let (len, k) = (self.len, self.copies);
        let mut positions: Vec<usize> = (0..len).collect();
        positions.shuffle(rng);
        let mut chosen = positions[..k].to_vec();
        chosen.sort_unstable();
        let data: Vec<usize> = (0..k).map(|_| rng.random_range(0..BLANK)).collect();
        let mut tokens = vec![BLANK; len];
        for (&p, &d) in chosen.iter().zip(&data) {
            tokens[p] = d;
        }
        tokens.push(MARKER);
        tokens.extend_from_slice(&data[..k - 1]);
        let mut targets = vec![None; len];
        targets.extend(data.iter().map(|&d| Some(d)));
        Example { tokens, targets }
    }

    /// `size` examples from `seed`.
    pub fn batch(&self, seed: u64, size: usize) -> Vec<Example> {
        let mut rng = seeded(seed);
        (0..size).map(|_| self.example(&mut rng)).collect()
    }
}

/// Induction heads: `len` tokens over `vocab − 1` symbols, the special token
/// (`vocab − 1`) at a uniform position $p \in [0, L - 3)$ and again at the
/// last position, which must predict the token that followed it at $p + 1$.
/// Only the last position is scored (a loss on every token makes the task
/// fail: state-spaces/mamba issue 298).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InductionHeads {
    /// The sequence length $L$ (≥ 4).
    pub len: usize,
    /// The vocabulary, the special token included (≥ 3).
    pub vocab: usize,
}

impl InductionHeads {
    /// The task at length `len` over `vocab` tokens.
    ///
    /// # Errors
    /// A length below 4 or a vocabulary below 3.
    pub fn new(len: usize, vocab: usize) -> Result<Self> {
        check_values("len (tokens per example)", &[len])?;
        if len < 4 {
            return Err(Error::invalid("len", len, "at least 4"));
        }
        if vocab < 3 {
            return Err(Error::invalid("vocab", vocab, "at least 3"));
        }
        Ok(InductionHeads { len, vocab })
    }

    /// One example: the tokens, the last position scored.
    pub fn example(&self, rng: &mut StdRng) -> Example {
        let special = self.vocab - 1;
        let mut tokens: Vec<usize> = (0..self.len)
            .map(|_| rng.random_range(0..special))
            .collect();
        let p = rng.random_range(0..self.len - 3);
        tokens[p] = special;
        tokens[self.len - 1] = special;
        let mut targets = vec![None; self.len];
        targets[self.len - 1] = Some(tokens[p + 1]);
        Example { tokens, targets }
    }

    /// `size` examples from `seed`.
    pub fn batch(&self, seed: u64, size: usize) -> Vec<Example> {
        let mut rng = seeded(seed);
        (0..size).map(|_| self.example(&mut rng)).collect()
    }
}

/// A delay: band-limited noise (the lowest `bins` frequencies of a length
/// `len` signal, Gaussian coefficients, scaled to unit variance) and the
/// same signal `delay` steps later; scored from `delay` on, so predicting
/// zero has a normalised error of about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    /// The sequence length $L$.
    pub len: usize,
    /// The delay.
    pub delay: usize,
    /// The number of nonzero frequency bins.
    pub bins: usize,
}

impl Delay {
    /// The task: `len` steps, `delay` steps late, `bins` frequencies.
    ///
    /// # Errors
    /// A delay not below `len`, or `bins` of 0 or more than `len / 2`.
    pub fn new(len: usize, delay: usize, bins: usize) -> Result<Self> {
        check_values("len (steps per example)", &[len])?;
        if delay >= len {
            return Err(Error::invalid("delay", delay, "below len"));
        }
        if bins == 0 || bins > len / 2 {
            return Err(Error::invalid("bins", bins, "between 1 and len / 2"));
        }
        Ok(Delay { len, delay, bins })
    }

    /// One example, `(len, 1)` input and target.
    pub fn example(&self, rng: &mut StdRng) -> SignalExample {
        let half: Vec<Complex<f64>> = (0..self.len / 2 + 1)
            .map(|f| {
                if (1..=self.bins).contains(&f) {
                    Complex::new(
                        rng.sample(StandardNormal),
                        rng.sample(StandardNormal),
                    )
                } else {
                    Complex::new(0.0, 0.0)
                }
            })
            .collect();
        let signal = irfft(&half, self.len);
        let rms =
            (signal.iter().map(|v| v * v).sum::<f64>() / self.len as f64).sqrt();
        let input = DMatrix::from_fn(self.len, 1, |t, _| signal[t] / rms);
        let target = DMatrix::from_fn(self.len, 1, |t, _| {
            t.checked_sub(self.delay).map_or(0.0, |s| input[(s, 0)])
        });
        SignalExample {
            input,
            target,
            from: self.delay,
        }
    }

    /// `size` examples from `seed`.
    pub fn batch(&self, seed: u64, size: usize) -> Vec<SignalExample> {
        let mut rng = seeded(seed);
        (0..size).map(|_| self.example(&mut rng)).collect()
    }
}

/// Recall: white noise $u_t \sim \mathcal N(0, 1)$ and the target
/// $u_{t-k}$, scored from $t = k$ on: chapter 1's memory question (Eq. R9's
/// recall of the input $k$ steps back) as a learning problem. Predicting zero
/// has a mean squared error of about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recall {
    /// The sequence length $L$.
    pub len: usize,
    /// The lag $k$.
    pub lag: usize,
}

impl Recall {
    /// The task: `len` steps, recall `lag` steps back.
    ///
    /// # Errors
    /// A lag not below `len`.
    pub fn new(len: usize, lag: usize) -> Result<Self> {
        check_values("len (steps per example)", &[len])?;
        if lag >= len {
            return Err(Error::invalid("lag", lag, "below len"));
        }
        Ok(Recall { len, lag })
    }

    /// One example, `(len, 1)` input and target.
    pub fn example(&self, rng: &mut StdRng) -> SignalExample {
        let input = DMatrix::from_fn(self.len, 1, |_, _| rng.sample(StandardNormal));
        let target = DMatrix::from_fn(self.len, 1, |t, _| {
            t.checked_sub(self.lag).map_or(0.0, |s| input[(s, 0)])
        });
        SignalExample {
            input,
            target,
            from: self.lag,
        }
    }

    /// `size` examples from `seed`.
    pub fn batch(&self, seed: u64, size: usize) -> Vec<SignalExample> {
        let mut rng = seeded(seed);
        (0..size).map(|_| self.example(&mut rng)).collect()
    }
}

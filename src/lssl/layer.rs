//! An LSSL layer: H independent single-input single-output systems, one per
//! channel, each with its own step Δ.

use nalgebra::{DMatrix, DVector};

use super::discretize::{Rule, discretize};
use super::system::{DiscreteSsm, Ssm};
use super::views::kernel_naive;
use crate::error::{Result, check_size};
use crate::support::rng::{log_uniform, seeded};
use crate::traits::{Convolutional, Recurrent};

/// The smallest step of the papers' initialisation (LSSL, S4, S5).
pub const DT_MIN: f64 = 1e-3;
/// The largest step of the papers' initialisation.
pub const DT_MAX: f64 = 1e-1;

/// $H$ independent discretized systems applied channel by channel.
#[derive(Debug, Clone, PartialEq)]
pub struct LsslLayer {
    /// One discretized system per channel.
    pub channels: Vec<DiscreteSsm>,
}

impl LsslLayer {
    /// Discretizes `ssms[h]` with step `dts[h]` by `rule`, for every channel.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] for zero channels or a step or rule that
    /// [`discretize`] rejects.
    ///
    /// # Panics
    /// If `ssms` and `dts` differ in length.
    pub fn new(ssms: &[Ssm], dts: &[f64], rule: Rule) -> Result<Self> {
        assert_eq!(
            ssms.len(),
            dts.len(),
            "LsslLayer::new: {} systems vs {} steps",
            ssms.len(),
            dts.len()
        );
        check_size("channels", ssms.len())?;
        let channels = ssms.iter().zip(dts).map(|(s, &dt)| discretize(s, dt, rule));
        Ok(LsslLayer {
            channels: channels.collect::<Result<_>>()?,
        })
    }

    /// A random layer as LSSL initialises it: a stable random system per
    /// channel and $\log \Delta \sim U[\log 10^{-3}, \log 10^{-1}]$.
    ///
    /// # Errors
    /// [`crate::Error::InvalidParameter`] if `channels` or `n` is 0.
    pub fn random(channels: usize, n: usize, rule: Rule, seed: u64) -> Result<Self> {
        check_size("channels", channels)?;
        let mut rng = seeded(seed);
        let ssms = (0..channels)
            .map(|h| Ssm::random_stable(n, seed.wrapping_add(h as u64 + 1)))
            .collect::<Result<Vec<_>>>()?;
        let dts: Vec<f64> = (0..channels)
            .map(|_| log_uniform(&mut rng, DT_MIN, DT_MAX))
            .collect();
        LsslLayer::new(&ssms, &dts, rule)
    }

    /// The number of channels $H$.
    pub fn width(&self) -> usize {
        self.channels.len()
    }

    fn check_width(&self, what: &str, got: usize) {
        assert_eq!(
            got,
            self.width(),
            "LsslLayer::{what}: input has {got} channels vs layer width {}",
            self.width()
        );
    }
}

impl Recurrent for LsslLayer {
    type State = Vec<DVector<f64>>;

    fn init_state(&self) -> Self::State {
        self.channels.iter().map(Recurrent::init_state).collect()
    }

    fn step(&self, state: &mut Self::State, u_t: &DVector<f64>) -> DVector<f64> {
        self.check_width("step", u_t.len());
        DVector::from_iterator(
            self.width(),
            self.channels.iter().zip(state.iter_mut()).enumerate().map(
                |(h, (ssm, x))| ssm.step(x, &DVector::from_element(1, u_t[h]))[0],
            ),
        )
    }
}

impl Convolutional for LsslLayer {
    fn kernel(&self, len: usize) -> DMatrix<f64> {
        crate::support::shapes::fits("LsslLayer::kernel", len, self.width());
        let mut k = DMatrix::zeros(len, self.width()); // (len, H)
        for (h, ssm) in self.channels.iter().enumerate() {
            k.set_column(h, &DVector::from_vec(kernel_naive(ssm, len)));
        }
        k
    }

    fn skip(&self) -> DVector<f64> {
        DVector::from_iterator(self.width(), self.channels.iter().map(|c| c.d))
    }
}

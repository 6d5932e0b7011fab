//! Chapter 9: learning. The parallel mode of every model, run backwards.
//!
//! Each layer's backward pass lives beside its forward pass in its chapter's
//! module (the selective scan's in [`crate::mamba::selective_backward`], the
//! block's and the model's beside them); this module holds what training
//! adds on top: the losses ([`loss`]), gradient checking ([`gradcheck`]),
//! AdamW and its schedule ([`optim`]), the training loop ([`trainer`]) and
//! checkpoints in safetensors ([`checkpoint`]), and chapter 1's RNN in the
//! same loop ([`rnn`]) and one S4D layer as a signal model ([`s4d_mix`]); the
//! papers' synthetic tasks ([`tasks`]) and what their experiments share
//! with the tests ([`experiment`]).

pub mod checkpoint;
pub mod experiment;
pub mod fast;
pub mod gradcheck;
pub mod lm;
pub mod loss;
pub mod optim;
pub mod rnn;
pub mod s4d_mix;
pub mod tasks;
pub mod trainer;

pub use lm::{Example, Metrics, Trainable};
pub use loss::{LossGrad, cross_entropy, mean_squared_error};
pub use optim::{AdamW, AdamWConfig, Schedule, clip_global_norm};
pub use rnn::SignalExample;
pub use trainer::{LogRow, TrainConfig, Trainer};

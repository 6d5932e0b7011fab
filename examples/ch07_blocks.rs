//! Chapter 7: the Mamba block and the language model as diagrams, with the
//! shape of every tensor on the arrows, computed from the configuration of
//! mamba-130m (`MambaConfig::new(768, 24, 50_280)`: d_model = 768,
//! d_inner = 1536, N = 16, dt_rank = 48, 24 layers). Writes
//! `chapters/figures/ch07/{block,stack}.svg`.
//!
//! Run: `cargo run --release --example ch07_blocks`

use std::process::ExitCode;

use ssm_lineage::mamba::MambaConfig;
use ssm_lineage::mamba::diagram::{block_diagram, stack_diagram};
use ssm_lineage::support::figure::{exit_code, figure_path};

fn main() -> ExitCode {
    exit_code("ch07_blocks", run())
}

fn run() -> ssm_lineage::Result<()> {
    let config = MambaConfig::new(768, 24, 50_280);
    config.validate()?;
    block_diagram(&config).save(&figure_path("ch07", "block.svg"))?;
    stack_diagram(&config, "Mamba block (M6)")
        .save(&figure_path("ch07", "stack.svg"))?;
    println!(
        "mamba-130m shapes: d_model = {}, d_inner = {}, N = {}, dt_rank = {}, \
         {} layers, vocabulary {}",
        config.d_model,
        config.d_inner(),
        config.d_state,
        config.dt_rank,
        config.n_layer,
        config.vocab_size
    );
    Ok(())
}

//! Chapter 7's drawings: the Mamba block with the shape of every tensor on
//! its arrows, and the residual stack of the language model, both computed
//! from a [`MambaConfig`] so that the figure cannot disagree with the code.

use super::config::MambaConfig;
use crate::support::diagram::{Diagram, Role, Side};

/// The Mamba block of Eqs. (M1) and (M6) as a box-and-arrow diagram:
/// `in_proj` → $u$ (causal convolution, SiLU) and $z$; `x_proj` → $\xi$,
/// $B$, $C$; `dt_proj` → $\delta$, its bias and softplus → $\Delta$; the selective scan; $+ D u$;
/// the gate $\mathrm{SiLU}(z)$; `out_proj`. Every arrow names its tensor
/// and its shape `(L, width)` with the width from `config`.
///
/// # References
/// Mamba §3.4, Fig. 3; `mamba_simple.py::Mamba.forward`.
pub fn block_diagram(config: &MambaConfig) -> Diagram {
    let (dm, di, n, r) = (
        config.d_model,
        config.d_inner(),
        config.d_state,
        config.dt_rank,
    );
    let mut d = Diagram::new(
        &format!(
            "The Mamba block (d_model = {dm}, d_inner = {di}, N = {n}, \
             dt_rank = {r})"
        ),
        (760, 880),
    );
    let (main, sel, dt, gate) = (190, 420, 575, 700);
    let v = d.node("block input v", (main, 60), Role::Data);
    let in_proj = d.node(
        &format!("in_proj: 2·d_inner = {} columns", 2 * di),
        (main, 125),
        Role::Linear,
    );
    let conv = d.node(
        &format!("causal conv1d ({} taps)", config.d_conv),
        (main, 215),
        Role::Convolution,
    );
    let silu_u = d.node("SiLU", (main, 295), Role::Activation);
    let x_proj = d.node("x_proj", (sel, 375), Role::Linear);
    let dt_proj = d.node("dt_proj", (dt, 445), Role::Linear);
    let softplus = d.node("+ bias, softplus", (dt, 515), Role::Activation);
    let scan = d.node(
        &format!("selective scan (S6): state h ({di} × {n}), A ({di} × {n})"),
        (330, 595),
        Role::Ssm,
    );
    let skip = d.node("+", (main, 660), Role::Operation);
    let silu_z = d.node("SiLU", (gate, 660), Role::Activation);
    let times = d.node("×", (main, 725), Role::Operation);
    let out_proj = d.node("out_proj", (main, 790), Role::Linear);
    let out = d.node("block output", (sel + 60, 790), Role::Data);
    d.arrow(v, in_proj, &format!("(L, d_model = {dm})"));
    d.arrow(in_proj, conv, &format!("u: (L, d_inner = {di})"));
    d.arrow_via(
        in_proj,
        silu_z,
        &[(gate, 125)],
        &format!("z: (L, {di})"),
        Some(Side::Left),
    );
    d.arrow(conv, silu_u, &format!("(L, {di})"));
    d.arrow_via(silu_u, x_proj, &[(sel, 295)], "u", None);
    d.arrow_via(silu_u, scan, &[], &format!("u: (L, {di})"), None);
    d.arrow_via(
        x_proj,
        dt_proj,
        &[(dt, 375)],
        &format!("ξ: (L, dt_rank = {r})"),
        Some(Side::Above),
    );
    d.arrow_via(
        x_proj,
        scan,
        &[],
        &format!("B, C: (L, N = {n}) each"),
        Some(Side::Left),
    );
    d.arrow(dt_proj, softplus, &format!("δ: (L, {di})"));
    d.arrow(softplus, scan, &format!("Δ: (L, {di})"));
    d.arrow(scan, skip, &format!("(L, {di})"));
    d.arrow_via(
        silu_u,
        skip,
        &[(70, 295), (70, 660)],
        &format!("D·u, D: ({di},)"),
        Some(Side::Right),
    );
    d.arrow(skip, times, &format!("y: (L, {di})"));
    d.arrow_via(
        silu_z,
        times,
        &[(gate, 725)],
        &format!("SiLU(z): (L, {di})"),
        Some(Side::Above),
    );
    d.arrow(times, out_proj, &format!("(L, {di})"));
    d.arrow(out_proj, out, &format!("(L, {dm})"));
    d
}

/// The language model of Eq. (M8): embedding, `n_layer` pre-norm residual
/// blocks (RMSNorm, the mixer, +), the final RMSNorm and the head tied to
/// the embedding, with the shapes from `config`. `mixer` names the block
/// ("Mamba block", "Mamba-2 block").
///
/// # References
/// `mamba_ssm/models/mixer_seq_simple.py::MixerModel`; Hugging Face
/// `MambaForCausalLM`.
pub fn stack_diagram(config: &MambaConfig, mixer: &str) -> Diagram {
    let (dm, layers, vocab) = (config.d_model, config.n_layer, config.vocab_size);
    let mut d = Diagram::new(
        &format!(
            "The language model: {layers} residual blocks over a \
             stream of width {dm}"
        ),
        (760, 740),
    );
    let x = 380;
    let tokens = d.node("tokens wₜ, t = 0 … L − 1", (x, 60), Role::Data);
    let embed = d.node("embedding: the column of token wₜ", (x, 130), Role::Linear);
    let r = d.node("residual stream r", (x, 205), Role::Data);
    let norm = d.node("RMSNorm (M7)", (x, 275), Role::Norm);
    let block = d.node(mixer, (x, 360), Role::Ssm);
    let plus = d.node("+", (x, 440), Role::Operation);
    let norm_f = d.node("final RMSNorm", (x, 530), Role::Norm);
    let head = d.node("head, tied to the embedding", (x, 600), Role::Linear);
    let logits = d.node("logits", (x, 670), Role::Data);
    d.frame(((150, 180), (620, 470)), &format!("× n_layer = {layers}"));
    d.arrow(tokens, embed, "(L,) integers");
    d.arrow(embed, r, &format!("(L, d_model = {dm})"));
    d.arrow(r, norm, "");
    d.arrow(norm, block, &format!("v: (L, {dm})"));
    d.arrow(block, plus, &format!("(L, {dm})"));
    d.arrow_via(r, plus, &[(205, 205), (205, 440)], "r", Some(Side::Right));
    d.arrow(plus, norm_f, &format!("r: (L, {dm})"));
    d.arrow(norm_f, head, "");
    d.arrow(head, logits, &format!("(L, vocab = {vocab})"));
    d
}

//! Chapter 8's drawings: the Mamba-2 block with the shape of every tensor
//! on its arrows (computed from a [`Mamba2Config`]), and the matrix $M$
//! coloured by the step of the chunked algorithm that computes each block.

use super::block::Mamba2Config;
use crate::support::diagram::{Diagram, Role, Side};

/// The Mamba-2 block of Eq. (X6) as a box-and-arrow diagram: one `in_proj`
/// for $z$, $u$, $B$, $C$ and $\delta$; the causal convolution and SiLU over
/// $u$, $B$, $C$ together; $\Delta$ per head; SSD in chunks; $+ D u$; the
/// gated RMSNorm; `out_proj`. Every arrow names its tensor and its shape.
///
/// # References
/// Mamba-2 §7, Fig. 6; `mamba2_simple.py::Mamba2Simple.forward`.
pub fn mamba2_block_diagram(config: &Mamba2Config) -> Diagram {
    let c = config;
    let (dm, di, n, g) = (c.d_model, c.d_inner(), c.d_state, c.ngroups);
    let (heads, dh) = (c.nheads(), c.headdim);
    let mut d = Diagram::new(
        &format!(
            "The Mamba-2 block (d_model = {dm}, d_inner = {di}, N = {n}, \
             d_h = {dh}, G = {g})"
        ),
        (760, 740),
    );
    let v = d.node("block input v", (380, 55), Role::Data);
    let width = 2 * di + 2 * g * n + heads;
    let in_proj = d.node(
        &format!("in_proj: z, u, B, C, δ = 2·d_inner + 2GN + H = {width} columns"),
        (380, 120),
        Role::Linear,
    );
    let conv = d.node(
        &format!("causal conv1d over u, B, C ({} taps)", c.d_conv),
        (230, 215),
        Role::Convolution,
    );
    let split = d.node(
        "SiLU, then split into u, B, C",
        (230, 290),
        Role::Activation,
    );
    let softplus = d.node("+ bias, softplus", (560, 215), Role::Activation);
    let ssd = d.node(
        &format!(
            "SSD in chunks of Q = {}: {heads} heads, {dh} × {n} state each",
            c.chunk
        ),
        (330, 400),
        Role::Ssm,
    );
    let plus = d.node("+", (330, 475), Role::Operation);
    let norm = d.node(
        "gated RMSNorm: RMSNorm(y ⊙ SiLU(z))",
        (330, 560),
        Role::Norm,
    );
    let out_proj = d.node("out_proj", (330, 640), Role::Linear);
    let out = d.node("block output", (580, 640), Role::Data);
    d.arrow(v, in_proj, &format!("(L, d_model = {dm})"));
    d.arrow_via(
        in_proj,
        conv,
        &[(230, 160)],
        &format!("uBC: (L, d_inner + 2GN = {})", c.conv_dim()),
        None,
    );
    d.arrow_via(
        in_proj,
        softplus,
        &[(560, 160)],
        &format!("δ: (L, H = {heads})"),
        None,
    );
    d.arrow_via(
        in_proj,
        norm,
        &[(710, 120), (710, 560)],
        &format!("z: (L, {di})"),
        Some(Side::Left),
    );
    d.arrow(conv, split, &format!("(L, {})", c.conv_dim()));
    d.arrow_via(split, ssd, &[(150, 330)], &format!("u: (L, {di})"), None);
    d.arrow_via(
        split,
        ssd,
        &[(300, 330)],
        &format!("B, C: (L, G·N = {}) each", g * n),
        None,
    );
    d.arrow(softplus, ssd, &format!("Δ: (L, {heads})"));
    d.arrow(ssd, plus, &format!("(L, {di})"));
    d.arrow_via(
        split,
        plus,
        &[(60, 290), (60, 475)],
        &format!("D·u, D: ({heads},)"),
        Some(Side::Above),
    );
    d.arrow(plus, norm, &format!("y: (L, {di})"));
    d.arrow(norm, out_proj, &format!("(L, {di})"));
    d.arrow(out_proj, out, &format!("(L, {dm})"));
    d
}

/// Which part of the chunked algorithm computes the entry $M_{ts}$ (output
/// step `t`, input step `s`) for chunks of length `q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkPart {
    /// Above the diagonal: $M_{ts} = 0$, nothing computes it.
    Zero,
    /// A diagonal block (output and input in one chunk): step 1,
    /// [`chunk_diagonal`](super::forms::chunk_diagonal).
    Diagonal,
    /// A block below the diagonal: step 2 (the input chunk's own state),
    /// step 3 applied across `between` whole chunks (0 for neighbours), and
    /// step 4 (read out in the output chunk).
    OffDiagonal {
        /// The whole chunks between the input's chunk and the output's.
        between: usize,
    },
}

/// The part of the chunked algorithm that computes $M_{ts}$.
///
/// # Panics
/// If `q` is 0.
pub fn chunk_part(t: usize, s: usize, q: usize) -> ChunkPart {
    assert!(q > 0, "chunk_part: the chunk length must be ≥ 1, got 0");
    let (i, j) = (t / q, s / q);
    if s > t {
        ChunkPart::Zero
    } else if i == j {
        ChunkPart::Diagonal
    } else {
        ChunkPart::OffDiagonal { between: i - j - 1 }
    }
}

/// The colours of the four steps (indices into the figure palette):
/// step 1 vermillion, step 2 green, step 3 orange, step 4 blue.
const STEP_COLOURS: [usize; 4] = [1, 2, 3, 0];

/// $M$ in `chunks` × `chunks` blocks of `q` steps, each block coloured by
/// the step of [`ssd_chunked`](super::forms::ssd_chunked) that computes it
/// (left), and one block below the diagonal drawn as the product of its
/// three factors, $Q \times N$ (step 4) · a scalar decay (step 3) ·
/// $N \times Q$ (step 2), for state size `n` (right).
///
/// # Panics
/// If `chunks`, `q` or `n` is 0.
pub fn chunked_steps_diagram(chunks: usize, q: usize, n: usize) -> Diagram {
    assert!(
        chunks > 0 && q > 0 && n > 0,
        "chunked_steps_diagram: chunks {chunks}, q {q} and n {n} must be ≥ 1"
    );
    let mut d = Diagram::new(
        &format!(
            "Which step of ssd_chunked computes each block of M \
             (T = {}, chunks of Q = {q}, N = {n})",
            chunks * q
        ),
        (760, 600),
    );
    let (x0, y0, side) = (60, 80, 360 / chunks as i32);
    for i in 0..chunks {
        for j in 0..chunks {
            let (x, y) = (x0 + side * j as i32, y0 + side * i as i32);
            let (far, low) = (x + side, y + side);
            match chunk_part(i * q + q - 1, j * q, q) {
                ChunkPart::Zero => d.rect(((x, y), (far, low)), None, ""),
                ChunkPart::Diagonal => {
                    d.patch(&[(x, y), (far, y), (far, low)], None, "", (x, y));
                    let centre = (x + side / 3, y + 2 * side / 3);
                    let colour = Some(STEP_COLOURS[0]);
                    d.patch(&[(x, y), (far, low), (x, low)], colour, "1", centre);
                }
                ChunkPart::OffDiagonal { between } => {
                    let label = format!("4·3·2\nm = {between}");
                    d.rect(((x, y), (far, low)), Some(STEP_COLOURS[2]), &label);
                    let bar = side / 8;
                    d.rect(((x, y), (x + bar, low)), Some(STEP_COLOURS[3]), "");
                    d.rect(((x, y), (far, y + bar)), Some(STEP_COLOURS[1]), "");
                }
            }
        }
    }
    for k in 0..chunks {
        let middle = x0 + side * k as i32 + side / 2;
        d.node(&format!("j = {k}"), (middle, y0 - 14), Role::Data);
        let middle = y0 + side * k as i32 + side / 2;
        d.node(&format!("i = {k}"), (x0 - 28, middle), Role::Data);
    }
    let label = "output chunk i (rows) × input chunk j (columns)";
    d.node(label, (x0 + 180, y0 + 360 + 20), Role::Data);
    factor_panel(&mut d, q, n);
    d.key(
        Some(STEP_COLOURS[0]),
        "step 1, chunk_diagonal: the diagonal blocks, each chunk on its own",
    );
    d.key(
        Some(STEP_COLOURS[1]),
        "step 2, chunk_state: the state of the input chunk at its end (right factor, N × Q)",
    );
    d.key(
        Some(STEP_COLOURS[2]),
        "step 3, state_passing: that state carried, decaying, across the m chunks between",
    );
    d.key(
        Some(STEP_COLOURS[3]),
        "step 4, state_to_output: the state read out in the output chunk (left factor, Q × N)",
    );
    d.key(None, "zero (above the diagonal)");
    d
}

/// The right panel: one block below the diagonal as its three factors,
/// drawn to scale (`q` and `n` steps).
fn factor_panel(d: &mut Diagram, q: usize, n: usize) {
    let unit = (96 / q.max(n) as i32).max(2);
    let (tall, thin) = (unit * q as i32, (unit * n as i32).max(6));
    let (x, y) = (470, 150);
    d.node(
        "a block below the diagonal =",
        (x + 130, y - 40),
        Role::Data,
    );
    let c_factor = ((x, y), (x + thin, y + tall));
    d.rect(c_factor, Some(STEP_COLOURS[3]), "");
    let note = |label: &str, at| (label.to_string(), at);
    let mut texts = vec![note("4: Q × N", (x + thin / 2 + 10, y + tall + 18))];
    let sx = x + thin + 44;
    d.rect(((sx, y), (sx + thin, y + thin)), Some(STEP_COLOURS[2]), "");
    texts.push(note("3: a number", (sx + thin / 2, y + thin + 40)));
    let bx = sx + thin + 44;
    d.rect(((bx, y), (bx + tall, y + thin)), Some(STEP_COLOURS[1]), "");
    texts.push(note("2: N × Q", (bx + tall / 2, y + thin + 18)));
    for (label, at) in texts {
        d.node(&label, at, Role::Data);
    }
    d.node("·", (x + thin + 22, y + thin / 2), Role::Data);
    d.node("·", (sx + thin + 22, y + thin / 2), Role::Data);
    d.node(
        &format!("rank ≤ N = {n}: never formed;"),
        (x + 130, y + tall + 70),
        Role::Data,
    );
    d.node(
        "the N-wide state is passed instead",
        (x + 130, y + tall + 95),
        Role::Data,
    );
}

//! Chapter 9's worked backward pass: the selective scan at L = 3, one
//! channel, one state, no gate and no skip, every step of the forward and
//! the backward pass written out as the chapter's equations (M4, G4, G13,
//! G14) in scalars, and the two Markdown tables the chapter includes.
//! Used by `examples/ch09_backward.rs` and by `tests/lineage/ch09_backward.rs`,
//! which checks every number against the crate's backward pass.

#![allow(dead_code)] // the example and the test each use a part

/// The worked problem: Δ is used as given (no bias, no softplus), B̄ = ΔB
/// (the reference code's rule), and the loss is ℓ = Σ_t ∂y_t y_t, so the
/// gradient reaching the output is ∂y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Problem {
    /// The inputs u₁, u₂, u₃.
    pub u: [f64; 3],
    /// The steps Δ₁, Δ₂, Δ₃.
    pub dt: [f64; 3],
    /// The state matrix (one channel, one state).
    pub a: f64,
    /// B₁, B₂, B₃.
    pub b: [f64; 3],
    /// C₁, C₂, C₃.
    pub c: [f64; 3],
    /// ∂y₁, ∂y₂, ∂y₃.
    pub dy: [f64; 3],
}

/// The problem the chapter works through.
pub const PROBLEM: Problem = Problem {
    u: [1.0, 2.0, -1.0],
    dt: [0.5, 0.25, 1.0],
    a: -1.0,
    b: [1.0, -0.5, 0.5],
    c: [1.0, 0.5, -1.0],
    dy: [1.0, -1.0, 0.5],
};

/// Every quantity of the worked example. Index 0 of a time series is t = 1,
/// except `h`, whose index is t (h[0] = h₀ = 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Unrolled {
    /// Ā_t = e^{Δ_t A}.
    pub a_bar: [f64; 3],
    /// B̄_t = Δ_t B_t.
    pub b_bar: [f64; 3],
    /// h₀, h₁, h₂, h₃.
    pub h: [f64; 4],
    /// y_t = C_t h_t.
    pub y: [f64; 3],
    /// The adjoints ∂h₁, ∂h₂, ∂h₃.
    pub dh: [f64; 3],
    /// ∂C_t = ∂y_t h_t.
    pub dc: [f64; 3],
    /// ∂B_t = ∂h_t Δ_t u_t.
    pub db: [f64; 3],
    /// ∂u_t = ∂h_t B̄_t.
    pub du: [f64; 3],
    /// ∂Δ_t's term through Ā_t: ∂h_t A Ā_t h_{t−1}.
    pub ddt_via_a_bar: [f64; 3],
    /// ∂Δ_t's term through B̄_t: ∂h_t B_t u_t.
    pub ddt_via_b_bar: [f64; 3],
    /// ∂Δ_t, the sum of the two.
    pub ddt: [f64; 3],
    /// Step t's share of ∂A: ∂h_t Δ_t Ā_t h_{t−1}.
    pub da_share: [f64; 3],
    /// ∂A, the sum of the shares.
    pub da: f64,
}

/// The forward pass (Eq. M4) and the backward pass (Eqs. G4, G13, G14) of
/// [`PROBLEM`]'s kind, one scalar equation at a time.
pub fn unrolled(p: &Problem) -> Unrolled {
    let a_bar = p.dt.map(|dt| (dt * p.a).exp());
    let b_bar = [0, 1, 2].map(|i| p.dt[i] * p.b[i]);
    // Forward, left to right: h_t = Ā_t h_{t−1} + B̄_t u_t from h₀ = 0.
    let mut h = [0.0; 4];
    for t in 1..=3 {
        h[t] = a_bar[t - 1] * h[t - 1] + b_bar[t - 1] * p.u[t - 1];
    }
    let y = [1, 2, 3].map(|t| p.c[t - 1] * h[t]);
    // Backward, right to left: ∂h_t = ∂y_t C_t + Ā_{t+1} ∂h_{t+1}, ∂h₄ = 0.
    let mut dh = [0.0; 3];
    for t in (1..=3).rev() {
        let later = if t < 3 { a_bar[t] * dh[t] } else { 0.0 };
        dh[t - 1] = p.dy[t - 1] * p.c[t - 1] + later;
    }
    // Read-off: step t needs ∂h_t, h_{t−1} and h_t.
    let i = [0, 1, 2];
    let dc = i.map(|i| p.dy[i] * h[i + 1]);
    let db = i.map(|i| dh[i] * p.dt[i] * p.u[i]);
    let du = i.map(|i| dh[i] * b_bar[i]);
    let ddt_via_a_bar = i.map(|i| dh[i] * p.a * a_bar[i] * h[i]);
    let ddt_via_b_bar = i.map(|i| dh[i] * p.b[i] * p.u[i]);
    let ddt = i.map(|i| ddt_via_a_bar[i] + ddt_via_b_bar[i]);
    let da_share = i.map(|i| dh[i] * p.dt[i] * a_bar[i] * h[i]);
    let da = da_share.iter().sum();
    Unrolled {
        a_bar,
        b_bar,
        h,
        y,
        dh,
        dc,
        db,
        du,
        ddt_via_a_bar,
        ddt_via_b_bar,
        ddt,
        da_share,
        da,
    }
}

/// A number as the tables print it: four decimals, a true minus sign.
pub fn num(v: f64) -> String {
    let text = format!("{v:.4}");
    let text = if text == "-0.0000" {
        "0.0000".into()
    } else {
        text
    };
    text.replace('-', "−")
}

/// The two Markdown tables the chapter includes, between the anchors
/// `worked`: the forward pass (a row per quantity, time left to right) and
/// the backward pass (time right to left, as it runs).
pub fn tables(p: &Problem, r: &Unrolled) -> String {
    let row = |name: &str, cells: &[String]| {
        format!("| {name} | {} |\n", cells.join(" | "))
    };
    let nums = |v: &[f64]| -> Vec<String> { v.iter().map(|&x| num(x)).collect() };
    let forward = |v: [f64; 3]| {
        let mut cells = vec![String::new()];
        cells.extend(nums(&v));
        cells
    };
    let backward = |v: [f64; 3]| nums(&[v[2], v[1], v[0]]);
    let mut out = String::from("<!-- ANCHOR: worked -->\n");
    out += "| forward | $t = 0$ | $t = 1$ | $t = 2$ | $t = 3$ |\n|---|---|---|---|---|\n";
    out += &row("$u_t$", &forward(p.u));
    out += &row("$\\Delta_t$", &forward(p.dt));
    out += &row("$B_t$", &forward(p.b));
    out += &row("$C_t$", &forward(p.c));
    out += &row("$\\bar A_t = e^{\\Delta_t A}$", &forward(r.a_bar));
    out += &row("$\\bar B_t = \\Delta_t B_t$", &forward(r.b_bar));
    out += &row("$h_t$", &nums(&r.h));
    out += &row("$y_t = C_t h_t$", &forward(r.y));
    out += "\n| backward | $t = 3$ | $t = 2$ | $t = 1$ |\n|---|---|---|---|\n";
    out += &row("$\\partial y_t$", &backward(p.dy));
    out += &row("$\\partial h_t$", &backward(r.dh));
    out += &row("$\\partial C_t$", &backward(r.dc));
    out += &row("$\\partial B_t$", &backward(r.db));
    out += &row("$\\partial u_t$", &backward(r.du));
    out += &row(
        "$\\partial\\Delta_t$ through $\\bar A_t$",
        &backward(r.ddt_via_a_bar),
    );
    out += &row(
        "$\\partial\\Delta_t$ through $\\bar B_t$",
        &backward(r.ddt_via_b_bar),
    );
    out += &row("$\\partial\\Delta_t$", &backward(r.ddt));
    out += &row("step $t$'s share of $\\partial A$", &backward(r.da_share));
    out += &format!(
        "\n$\\partial A$ = {} (the sum of the shares), with $A$ = {}.\n",
        num(r.da),
        num(p.a)
    );
    out += "<!-- ANCHOR_END: worked -->\n";
    out
}

//! Chapter 4: S4's kernel worked in numbers at N = 2. HiPPO-LegS with two
//! states (one conjugate pair), the output row C = (1, 1/2), Δ = 0.5 and
//! L = 8: every intermediate of Algorithm 1 as the crate computes it (the
//! DPLR parameters, the nodes ω_k and g_k, the four Cauchy sums at each node,
//! the Woodbury correction, the generating function, its mirror image and
//! the inverse FFT), beside the naive kernel C Āˢ B̄. Writes the tables to
//! `chapters/figures/ch04/worked-n2.md`, one anchor per step, which the
//! chapter includes.
//!
//! Run: `cargo run --release --example ch04_worked`

use std::process::ExitCode;

use nalgebra::{Complex, DVector};
use ssm_lineage::Error;
use ssm_lineage::hippo::transitions::legs;
use ssm_lineage::lssl::Ssm;
use ssm_lineage::lssl::discretize::discretize_bilinear;
use ssm_lineage::lssl::views::kernel_naive;
use ssm_lineage::s4::kernel::{
    ResolventSums, bilinear_nodes, c_tilde_from, kernel_dplr,
    kernel_from_half_spectrum, limit_at_minus_one,
};
use ssm_lineage::s4::nplr::nplr_legs;
use ssm_lineage::support::figure::{exit_code, figure_path};

/// Two states: one conjugate pair, one rank-one correction.
const N: usize = 2;
/// The step: LegS's eigenvalues −1, −2 become Ā's 0.6 and 1/3, so the
/// kernel has decayed to a few percent by its last tap.
const DT: f64 = 0.5;
/// Eight taps: five nodes on the `rfft` half, one of them ω = −1.
const LEN: usize = 8;

fn main() -> ExitCode {
    exit_code("ch04_worked", run())
}

/// $C_n = 1/(1 + n)$, the output row of the chapter's kernel figure.
fn output_row() -> DVector<f64> {
    DVector::from_fn(N, |n, _| 1.0 / (1.0 + n as f64))
}

/// A real number to four decimals, with a true minus sign.
fn real(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = if s == "-0.0000" { "0.0000".into() } else { s };
    s.replace('-', "−")
}

/// A complex number to four decimals, without a part that is zero to that
/// precision.
fn cx(z: Complex<f64>) -> String {
    let im = real(z.im.abs());
    if im == "0.0000" {
        return real(z.re);
    }
    let re = real(z.re);
    if re == "0.0000" {
        return format!("{}i", real(z.im));
    }
    let sign = if z.im < 0.0 { "−" } else { "+" };
    format!("{re} {sign} {im}i")
}

/// A table between the anchors the chapter includes it by.
fn anchored(name: &str, table: &str) -> String {
    format!("<!-- ANCHOR: {name} -->\n{table}<!-- ANCHOR_END: {name} -->\n\n")
}

fn run() -> ssm_lineage::Result<()> {
    let t = legs(N)?;
    let dplr = nplr_legs(N)?;
    let c = output_row();
    let ssm = Ssm::new(t.a.clone(), t.b.clone(), c.clone(), 0.0)?;
    let dense = discretize_bilinear(&ssm, DT)?;
    let c_tilde = c_tilde_from(&dplr, &dense.a_bar, &c, LEN);

    let (omega, g) = bilinear_nodes(DT, LEN); // 1. the nodes
    let sums = ResolventSums::new(&dplr, &c_tilde, &g); // 2. the Cauchy sums
    let at_minus_one = |k: usize| LEN.is_multiple_of(2) && k == LEN / 2;
    let one = Complex::new(1.0, 0.0);
    let half: Vec<Complex<f64>> = (0..omega.len()) // 3. Woodbury, times 2/(1+ω)
        .map(|k| {
            if at_minus_one(k) {
                limit_at_minus_one(&dplr.b, &c_tilde, DT)
            } else {
                sums.woodbury(k) * (2.0 / (one + omega[k]))
            }
        })
        .collect();
    let taps = kernel_from_half_spectrum(&half, LEN); // 4. the inverse FFT
    let s4 = kernel_dplr(&dplr, &c_tilde, DT, LEN)?;
    let naive = kernel_naive(&dense, LEN);

    let mut md = String::from(
        "<!-- Written by `cargo run --release --example ch04_worked`: \
         do not edit. -->\n\n",
    );
    md += &anchored("system", &system(&dplr, &c, &c_tilde));
    md += &anchored("nodes", &nodes(&omega, &g, at_minus_one));
    md += &anchored("sums", &cauchy_sums(&sums, omega.len(), at_minus_one));
    md += &anchored("woodbury", &woodbury(&sums, &omega, &half, at_minus_one));
    md += &anchored("spectrum", &spectrum(&half));
    md += &anchored("taps", &kernel_taps(&taps, &naive));
    print!("{md}");
    let gap = taps
        .iter()
        .zip(&s4)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("largest difference from kernel_dplr's taps: {gap:.1e}");

    let path = figure_path("ch04", "worked-n2.md");
    let fail = |e: std::io::Error| Error::Output {
        path: path.clone(),
        reason: e.to_string(),
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(fail)?;
    }
    std::fs::write(&path, md).map_err(fail)
}

/// The DPLR parameters of the kept mode and the numerators of the sums.
fn system(
    dplr: &ssm_lineage::s4::Dplr,
    c: &DVector<f64>,
    c_tilde: &[Complex<f64>],
) -> String {
    let (lambda, p, b, ct) = (dplr.lambda[0], dplr.p[(0, 0)], dplr.b[0], c_tilde[0]);
    let rows = [
        ("$\\lambda$ (its conjugate is the other mode)", cx(lambda)),
        ("$\\widetilde P = V^*P$", cx(p)),
        ("$\\widetilde B = V^*B$", cx(b)),
        ("$\\widetilde C = C(I - \\bar A^L)V$", cx(ct)),
        ("$\\widetilde C B$ (numerator of $k_{00}$)", cx(ct * b)),
        ("$\\widetilde C P$ (numerator of $k_{01}$)", cx(ct * p)),
        ("$P^* B$ (numerator of $k_{10}$)", cx(p.conj() * b)),
        ("$P^* P$ (numerator of $k_{11}$)", cx(p.conj() * p)),
    ];
    let mut s = format!(
        "| HiPPO-LegS, $N = 2$, $C = ({}, {})$, $\\Delta = {DT}$, $L = {LEN}$ \
         | kept mode |\n|---|---|\n",
        c[0], c[1]
    );
    for (name, value) in rows {
        s += &format!("| {name} | {value} |\n");
    }
    s
}

fn nodes(
    omega: &[Complex<f64>],
    g: &[Complex<f64>],
    at_minus_one: impl Fn(usize) -> bool,
) -> String {
    let mut s = String::from(
        "| $k$ | $\\omega_k = e^{-2\\pi i k/L}$ \
         | $g_k = \\frac{2}{\\Delta}\\frac{1 - \\omega_k}{1 + \\omega_k}$ |\n\
         |---|---|---|\n",
    );
    for k in 0..omega.len() {
        let gk = if at_minus_one(k) {
            "$\\infty$".into()
        } else {
            cx(g[k])
        };
        s += &format!("| {k} | {} | {gk} |\n", cx(omega[k]));
    }
    s
}

fn cauchy_sums(
    sums: &ResolventSums,
    nodes: usize,
    at_minus_one: impl Fn(usize) -> bool,
) -> String {
    let mut s = String::from(
        "| $k$ | $k_{00} = \\widetilde C R B$ | $k_{01} = \\widetilde C R P$ \
         | $k_{10} = P^* R B$ | $k_{11} = P^* R P$ |\n|---|---|---|---|---|\n",
    );
    for k in 0..nodes {
        let cells: Vec<String> = if at_minus_one(k) {
            vec!["—".into(); 4]
        } else {
            sums.sums.iter().map(|sum| cx(sum[k])).collect()
        };
        s += &format!("| {k} | {} |\n", cells.join(" | "));
    }
    s
}

fn woodbury(
    sums: &ResolventSums,
    omega: &[Complex<f64>],
    half: &[Complex<f64>],
    at_minus_one: impl Fn(usize) -> bool,
) -> String {
    let mut s = String::from(
        "| $k$ | correction $\\frac{k_{01}k_{10}}{1 + k_{11}}$ \
         | $k_{00} - \\frac{k_{01}k_{10}}{1 + k_{11}}$ | $\\frac{2}{1 + \\omega_k}$ \
         | $\\hat K(\\omega_k)$ |\n|---|---|---|---|---|\n",
    );
    for k in 0..omega.len() {
        if at_minus_one(k) {
            s += &format!(
                "| {k} | — | — | $\\infty$ | {} (the limit $\\frac{{\\Delta}}{{2}}\
                 \\widetilde C B$) |\n",
                cx(half[k])
            );
            continue;
        }
        let resolvent = sums.woodbury(k);
        let correction = sums.sums[0][k] - resolvent;
        let factor = 2.0 / (Complex::new(1.0, 0.0) + omega[k]);
        s += &format!(
            "| {k} | {} | {} | {} | {} |\n",
            cx(correction),
            cx(resolvent),
            cx(factor),
            cx(half[k])
        );
    }
    s
}

fn spectrum(half: &[Complex<f64>]) -> String {
    let mut s =
        String::from("| $k$ | $\\hat K(\\omega_k)$ | from |\n|---|---|---|\n");
    for k in 0..LEN {
        let (value, from) = if k < half.len() {
            (half[k], "computed above".to_string())
        } else {
            let mirror = LEN - k;
            (half[mirror].conj(), format!("conjugate of $k = {mirror}$"))
        };
        s += &format!("| {k} | {} | {from} |\n", cx(value));
    }
    s
}

fn kernel_taps(taps: &[f64], naive: &[f64]) -> String {
    let mut s = String::from(
        "| $s$ | $\\bar K_s$, inverse FFT | $C\\bar A^s\\bar B$, powers \
         | difference |\n|---|---|---|---|\n",
    );
    let six = |x: f64| format!("{x:.6}").replace('-', "−");
    for (l, (k, n)) in taps.iter().zip(naive).enumerate() {
        let gap = (k - n).abs();
        // Rounding differs between FFT code paths (SIMD or not): print a bound
        // that every machine meets, so the file is the same everywhere.
        let gap = if gap < 1e-15 {
            "< 10⁻¹⁵".to_string()
        } else {
            format!("{gap:.1e}")
        };
        s += &format!("| {l} | {} | {} | {gap} |\n", six(*k), six(*n));
    }
    s
}

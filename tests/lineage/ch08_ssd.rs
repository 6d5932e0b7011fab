//! Chapter 8: SSD's three forms agree; the stable segment sum; the
//! semiseparable rank bound; Mamba-1 with a scalar A per head is SSD; golden
//! values from the reference `ssd_minimal_discrete`.

use nalgebra::DMatrix;
use proptest::prelude::*;
use ssm_lineage::mamba::{SelectiveScan, selective_scan};
use ssm_lineage::ssd::forms::ssd_matrix;
use ssm_lineage::ssd::segsum::{segsum, segsum_naive};
use ssm_lineage::ssd::{
    SsdInputs, SsdOutput, ssd_chunked, ssd_quadratic, ssd_recurrent,
};

use crate::cases;
use crate::strategies::gaussian;

/// A random SSD problem: per-head inputs, decays, per-group B and C, and
/// initial states.
pub struct Problem {
    pub u: Vec<DMatrix<f64>>,
    pub a: DMatrix<f64>,
    pub b: Vec<DMatrix<f64>>,
    pub c: Vec<DMatrix<f64>>,
    pub init: Vec<DMatrix<f64>>,
}

pub fn problem(
    t: usize,
    heads: usize,
    groups: usize,
    p: usize,
    n: usize,
    seed: u64,
) -> Problem {
    let g = |r, c, s: u64| gaussian(r, c, seed ^ s);
    Problem {
        u: (0..heads).map(|h| g(t, p, 10 + h as u64)).collect(),
        // Log-decays Δ·A in about (−2.7, −0.007): e^a between 0.07 and 0.99.
        a: g(t, heads, 1).map(|v| -(v.tanh() * 2.5 + 2.51) * 0.5 - 0.005),
        b: (0..groups).map(|k| g(t, n, 100 + k as u64)).collect(),
        c: (0..groups).map(|k| g(t, n, 200 + k as u64)).collect(),
        init: (0..heads).map(|h| g(p, n, 300 + h as u64)).collect(),
    }
}

/// The size of what each output sums: the recurrent form on absolute values.
fn magnitudes(pr: &Problem, with_init: bool) -> SsdOutput {
    let abs = |v: &Vec<DMatrix<f64>>| v.iter().map(|m| m.abs()).collect::<Vec<_>>();
    let (u, b, c, init) = (abs(&pr.u), abs(&pr.b), abs(&pr.c), abs(&pr.init));
    let inputs = SsdInputs::new(&u, &pr.a, &b, &c);
    ssd_recurrent(&if with_init {
        inputs.with_initial(&init)
    } else {
        inputs
    })
}

proptest! {
    #![proptest_config(cases(40))]

    /// Chunked == quadratic == recurrent, outputs and final states, over
    /// lengths (divisible by the chunk length or not), chunk lengths, heads,
    /// groups, d_h and N, with and without an initial state. The forms add the
    /// same terms in different orders (and the chunked one routes decays
    /// through e^{c_q − c_l}): 1e-12 of the sum of absolute terms.
    #[test]
    fn the_three_forms_agree(
        t in 1usize..=80, q in 1usize..=20, heads_log in 0u32..3, grouped in any::<bool>(),
        p in 1usize..=4, n in 1usize..=5, with_init in any::<bool>(), seed in any::<u64>(),
    ) {
        let heads = 1usize << heads_log;
        let groups = if grouped { 1 } else { heads };
        let pr = problem(t, heads, groups, p, n, seed);
        let inputs = SsdInputs::new(&pr.u, &pr.a, &pr.b, &pr.c);
        let inputs = if with_init { inputs.with_initial(&pr.init) } else { inputs };
        let reference = ssd_recurrent(&inputs);
        let scale = magnitudes(&pr, with_init);
        for (name, got) in [("quadratic", ssd_quadratic(&inputs)), ("chunked", ssd_chunked(&inputs, q))] {
            for h in 0..heads {
                let err = (&got.y[h] - &reference.y[h]).abs();
                for (e, s) in err.iter().zip(scale.y[h].iter()) {
                    prop_assert!(*e <= 1e-12 * (s + 1e-300), "{name} head {h}: {e:e} vs {s:e}");
                }
                let err = (&got.final_state[h] - &reference.final_state[h]).abs().max();
                prop_assert!(err <= 1e-12 * (scale.final_state[h].max() + 1e-300), "{name} final state {h}: {err:e}");
            }
        }
    }

    /// Mamba-1's selective scan with one scalar A shared by the channels of a
    /// head, and Δ shared too, is SSD with x = Δ·u and a = Δ·A (Euler B in
    /// both, as the reference codes): one head of d_h channels. The same terms in
    /// a different order (chunks of 7): 1e-12 of the sum of absolute terms.
    #[test]
    fn mamba_1_with_a_scalar_a_is_ssd(
        t in 1usize..=60, p in 1usize..=4, n in 1usize..=5, seed in any::<u64>(), a_h in -3.0..-0.1f64,
    ) {
        let u = gaussian(t, p, seed);
        let dt_col = gaussian(t, 1, seed ^ 1).map(|v| 0.05 * (1.0 + v.tanh()) + 1e-3);
        let delta = DMatrix::from_fn(t, p, |i, _| dt_col[(i, 0)]);
        let a = DMatrix::from_element(p, n, a_h);
        let (b, c) = (gaussian(t, n, seed ^ 2), gaussian(t, n, seed ^ 3));
        let y1 = selective_scan(&SelectiveScan::new(&u, &delta, &a, &b, &c)).y;
        let x = vec![DMatrix::from_fn(t, p, |i, j| dt_col[(i, 0)] * u[(i, j)])];
        let log_decay = dt_col.map(|d| d * a_h);
        let (bs, cs) = (vec![b.clone()], vec![c.clone()]);
        let y2 = ssd_chunked(&SsdInputs::new(&x, &log_decay, &bs, &cs), 7).y.remove(0);
        // S: the same scan on absolute values, the sum of absolute terms.
        let (ua, ba, ca) = (u.abs(), b.abs(), c.abs());
        let scale = selective_scan(&SelectiveScan::new(&ua, &delta, &a, &ba, &ca)).y;
        for (i, (d, s)) in (&y1 - &y2).iter().zip(scale.iter()).enumerate() {
            prop_assert!(d.abs() <= 1e-12 * (s + 1e-300), "entry {i}: {d:e} vs S = {s:e}");
        }
    }
}

/// The stable segment sum equals the naive one wherever the naive one is
/// finite (to rounding of the cumulative sums, 1e-12 relative), and stays
/// finite where the naive one is not: with log-decays of −1e306 the
/// cumulative sums overflow to −∞ after about 180 steps, and c_i − c_j
/// becomes NaN, while every true segment of fewer than 180 steps is finite.
#[test]
fn stable_segment_sums() {
    let a: Vec<f64> = (0..60).map(|i| -0.1 - 0.01 * (i % 7) as f64).collect();
    let (stable, naive) = (segsum(&a), segsum_naive(&a));
    for (s, n) in stable.iter().zip(naive.iter()) {
        if n.is_finite() {
            assert!((s - n).abs() <= 1e-12 * (1.0 + n.abs()), "{s} vs {n}");
        } else {
            assert_eq!(*s, f64::NEG_INFINITY);
        }
    }
    let huge = vec![-1e306; 400];
    let (stable, naive) = (segsum(&huge), segsum_naive(&huge));
    let mut rescued = 0;
    for i in 0..400 {
        for j in 0..=i {
            if i - j < 150 {
                assert!(stable[(i, j)].is_finite(), "stable ({i}, {j})");
                if !naive[(i, j)].is_finite() {
                    rescued += 1;
                }
            }
        }
    }
    assert!(
        rescued > 10_000,
        "only {rescued} segments lost by the naive sum"
    );
}

/// Every submatrix taken from the lower triangle of M (rows all at or below
/// the columns) has numerical rank ≤ N: its (N+1)-th singular value is below
/// 1e-10 of the first (rounding of a T = 48 matrix is ~1e-15 of it).
#[test]
fn lower_triangle_submatrices_have_rank_at_most_n() {
    use rand::RngExt;
    let mut rng = ssm_lineage::support::rng::seeded(8);
    for n in 1..=4 {
        let pr = problem(48, 1, 1, 1, n, n as u64);
        let a: Vec<f64> = pr.a.column(0).iter().copied().collect();
        let m = ssd_matrix(&a, &pr.b[0], &pr.c[0]);
        for _ in 0..50 {
            let split = rng.random_range(n + 1..48 - n);
            let rows: Vec<usize> =
                (split..48).filter(|_| rng.random_bool(0.7)).collect();
            let cols: Vec<usize> =
                (0..=split).filter(|_| rng.random_bool(0.7)).collect();
            if rows.len() <= n || cols.len() <= n {
                continue;
            }
            let sub = DMatrix::from_fn(rows.len(), cols.len(), |i, j| {
                m[(rows[i], cols[j])]
            });
            let sv = sub.singular_values();
            let mut sorted: Vec<f64> = sv.iter().copied().collect();
            sorted.sort_by(|x, y| y.total_cmp(x));
            assert!(
                sorted[n] <= 1e-10 * sorted[0],
                "N={n}: σ_(N+1)/σ_1 = {:e}",
                sorted[n] / sorted[0]
            );
        }
    }
}

/// Golden values from `tests/golden/ssd_minimal.py`: the reference
/// `ssd_minimal_discrete` (T = 24, chunks of 8, 2 heads, d_h = 3, N = 4, with
/// initial states), float64. All three forms, 1e-12 relative.
#[test]
fn golden_values_from_ssd_minimal() {
    let text = include_str!("../golden/ssd_minimal.txt");
    let named = crate::strategies::named_matrices(text);
    let get = |n: &str| named.get(n).expect(n).clone();
    let u = vec![get("x_0"), get("x_1")]; // the reference names them x
    let init = vec![get("init_0"), get("init_1")];
    let (a, b, c) = (get("a"), vec![get("B")], vec![get("C")]);
    let inputs = SsdInputs::new(&u, &a, &b, &c).with_initial(&init);
    for (name, out) in [
        ("chunked", ssd_chunked(&inputs, 8)),
        ("quadratic", ssd_quadratic(&inputs)),
        ("recurrent", ssd_recurrent(&inputs)),
    ] {
        for h in 0..2 {
            let (y, fin) = (get(&format!("y_{h}")), get(&format!("final_{h}")));
            assert!(
                (&out.y[h] - &y).abs().max() <= 1e-12 * y.abs().max(),
                "{name} y_{h}"
            );
            assert!(
                (&out.final_state[h] - &fin).abs().max() <= 1e-12 * fin.abs().max(),
                "{name} final_{h}"
            );
        }
    }
}

mod block {
    use nalgebra::{DMatrix, DVector};
    use proptest::prelude::*;
    use ssm_lineage::ssd::block::{Mamba2Block, Mamba2Config};
    use ssm_lineage::support::rng::seeded;
    use ssm_lineage::traits::{Parameters, Recurrent};

    use crate::cases;

    proptest! {
        #![proptest_config(cases(16))]

        /// The Mamba-2 block is a `Recurrent` model: its step run over the
        /// sequence (`Recurrent::scan_from`) equals the parallel pass (SSD in
        /// chunks, chapter 6's scan across them), and ends in the cache that
        /// pass returns. f64 throughout: 1e-10 of the largest output.
        #[test]
        fn mamba2_forward_equals_step_by_step(
            d_model in 2usize..=8, headdim_pick in 0usize..3, grouped in any::<bool>(),
            len in 1usize..=40, chunk in 1usize..=12, seed in any::<u64>(),
        ) {
            let di = 2 * d_model;
            let headdim = [1, 2, di][headdim_pick];
            let heads = di / headdim;
            let config = Mamba2Config {
                d_state: 5, chunk, ngroups: if grouped && heads % 2 == 0 { 2 } else { 1 },
                ..Mamba2Config::new(d_model, headdim)
            };
            let block = Mamba2Block::new(&config, &mut seeded(seed)).expect("valid");
            let h = crate::strategies::gaussian(len, d_model, seed ^ 4);
            let (parallel, cache) = block.forward(&h);
            let mut stepped = block.init_state();
            let scale = parallel.abs().max() + 1e-12;
            let out = block.scan_from(&mut stepped, &h);
            prop_assert!((&out - &parallel).abs().max() <= 1e-10 * scale);
            prop_assert!((&cache.conv_state - &stepped.conv_state).abs().max() <= 1e-12 * (1.0 + cache.conv_state.abs().max()));
            for (a, b) in cache.ssm_state.iter().zip(&stepped.ssm_state) {
                prop_assert!((a - b).abs().max() <= 1e-10 * (1.0 + a.abs().max()));
            }
        }
    }

    /// A block rebuilt from its named tensors is the same block; a tensor of
    /// the wrong shape is an error naming it; a cache of another block's
    /// shape is a panic naming both shapes.
    #[test]
    fn blocks_are_built_from_named_tensors() -> ssm_lineage::Result<()> {
        let config = Mamba2Config::new(6, 3);
        let block = Mamba2Block::new(&config, &mut seeded(5))?;
        let tensors = block.named_tensors();
        assert_eq!(Mamba2Block::from_parameters(&config, &tensors)?, block);
        let mut wrong = tensors.clone();
        wrong.insert("D".into(), DMatrix::zeros(3, 1));
        let err = Mamba2Block::from_parameters(&config, &wrong).expect_err("shape");
        assert!(
            err.to_string().contains("tensor D: expected shape (4, 1)"),
            "{err}"
        );
        let other = Mamba2Block::new(&Mamba2Config::new(4, 2), &mut seeded(5))?;
        let mut cache = other.empty_cache();
        let panic = std::panic::catch_unwind(move || {
            block.step(&DVector::zeros(6), &mut cache)
        })
        .expect_err("cache of another block");
        let m = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            m.contains("Mamba2Block::step") && m.contains("(140, 4)"),
            "{m}"
        );
        Ok(())
    }
}

/// A decay of a = −∞ (the state reset to zero) gives the same outputs and
/// final state in the chunked form as in the recurrent one, for every chunk
/// length: the chunked form sums the decays after each step directly
/// instead of subtracting cumulative sums (−∞ − (−∞) is NaN).
#[test]
fn chunked_ssd_handles_a_reset_decay() {
    let (t, p, n) = (11, 2, 3);
    let x = vec![DMatrix::from_fn(t, p, |i, j| {
        ((i * 3 + j) % 5) as f64 - 2.0
    })];
    let mut a = DMatrix::from_fn(t, 1, |i, _| -0.1 * (i % 4) as f64);
    a[(4, 0)] = f64::NEG_INFINITY;
    a[(9, 0)] = f64::NEG_INFINITY;
    let b = vec![DMatrix::from_fn(t, n, |i, j| {
        ((i + 2 * j) % 3) as f64 - 1.0
    })];
    let c = vec![DMatrix::from_fn(t, n, |i, j| {
        ((2 * i + j) % 4) as f64 * 0.5
    })];
    let inputs = SsdInputs::new(&x, &a, &b, &c);
    let want = ssd_recurrent(&inputs);
    assert!(want.y[0].iter().all(|v| v.is_finite()));
    for q in 1..=t + 2 {
        let got = ssd_chunked(&inputs, q);
        assert!(
            (&got.y[0] - &want.y[0]).amax() < 1e-12,
            "Q = {q}: {}",
            got.y[0]
        );
        assert!(
            (&got.final_state[0] - &want.final_state[0]).amax() < 1e-12,
            "Q = {q}"
        );
    }
}

/// The drawings of chapter 8 (`examples/ch08_ssd`): the Mamba-2 block's
/// shapes are the block's, and `chunked-steps.svg`'s colours are what the
/// chunked algorithm does.
mod drawings {
    use nalgebra::{DMatrix, DVector};
    use proptest::prelude::*;
    use ssm_lineage::ssd::diagram::{
        ChunkPart, chunk_part, chunked_steps_diagram, mamba2_block_diagram,
    };
    use ssm_lineage::ssd::forms::ssd_matrix;
    use ssm_lineage::ssd::{
        Mamba2Block, Mamba2Config, SsdInputs, chunk_diagonal, chunk_state,
        ssd_chunked, state_passing, state_to_output,
    };
    use ssm_lineage::support::rng::{normal_matrix, seeded};

    use super::problem;
    use crate::cases;

    /// Each entry of M sums at most N products of numbers of size about 1,
    /// through a few exponentials: a few roundings of that.
    const STEP_TOL: f64 = 1e-12;

    fn has(texts: &[String], label: &str) {
        assert!(
            texts.iter().any(|t| t == label),
            "no label {label:?} in {texts:?}"
        );
    }

    #[test]
    fn the_mamba2_diagram_has_the_blocks_shapes() -> ssm_lineage::Result<()> {
        let config = Mamba2Config {
            d_state: 5,
            ngroups: 2,
            chunk: 3,
            ..Mamba2Config::new(6, 3)
        };
        let block = Mamba2Block::new(&config, &mut seeded(1))?;
        let input = normal_matrix(&mut seeded(2), 7, config.d_model, 1.0);
        let (out, _) = block.forward(&input);
        let (di, heads) = (block.norm_weight.len(), block.dt_bias.len());
        let bc = block.conv_weight.nrows() - di; // 2GN
        let d = mamba2_block_diagram(&config);
        let texts = d.texts();
        has(&texts, &format!("(L, d_model = {})", input.ncols()));
        let conv = block.conv_weight.nrows();
        has(&texts, &format!("uBC: (L, d_inner + 2GN = {conv})"));
        has(&texts, &format!("δ: (L, H = {heads})"));
        let columns = block.in_proj.ncols();
        has(
            &texts,
            &format!(
                "in_proj: z, u, B, C, δ = 2·d_inner + 2GN + H = {columns} columns"
            ),
        );
        has(&texts, &format!("z: (L, {di})"));
        has(&texts, &format!("u: (L, {di})"));
        has(&texts, &format!("B, C: (L, G·N = {}) each", bc / 2));
        has(&texts, &format!("D·u, D: ({},)", block.d.len()));
        has(&texts, &format!("(L, {})", out.ncols()));
        assert_eq!(
            block.in_proj.ncols(),
            2 * di + bc + heads,
            "in_proj's outputs are z, then uBC, then δ"
        );
        let svg = d.to_svg()?;
        for text in &texts {
            assert!(svg.contains(text.as_str()), "the SVG misses {text:?}");
        }
        Ok(())
    }

    #[test]
    fn the_steps_diagram_names_each_step_and_block() -> ssm_lineage::Result<()> {
        let (chunks, q, n) = (5, 4, 3);
        let d = chunked_steps_diagram(chunks, q, n);
        let texts = d.texts();
        for name in [
            "chunk_diagonal",
            "chunk_state",
            "state_passing",
            "state_to_output",
        ] {
            assert!(
                texts.iter().any(|t| t.contains(name)),
                "no key names {name}"
            );
        }
        for k in 0..chunks - 1 {
            let drawn = texts.iter().filter(|t| **t == format!("m = {k}")).count();
            let blocks = (0..chunks)
                .flat_map(|i| (0..chunks).map(move |j| (i, j)))
                .filter(|&(i, j)| {
                    chunk_part(i * q, j * q, q)
                        == ChunkPart::OffDiagonal { between: k }
                })
                .count();
            assert_eq!(drawn, blocks, "blocks with m = {k}");
        }
        let svg = d.to_svg()?;
        for text in &texts {
            assert!(svg.contains(text.as_str()), "the SVG misses {text:?}");
        }
        Ok(())
    }

    /// Which of the four steps a run keeps.
    #[derive(Clone, Copy, PartialEq)]
    enum Run {
        /// All four: `ssd_chunked` itself.
        All,
        /// Step 1 only: the diagonal blocks.
        Diagonal,
        /// Step 3 without its carry: the state entering a chunk is only the
        /// previous chunk's own state.
        NoCarry,
    }

    /// The chunked algorithm of one head (d_h = 1) from its four steps.
    fn chunked(inputs: &SsdInputs, q: usize, run: Run) -> DVector<f64> {
        let (t_len, _, _, n, _) = inputs.dims();
        let mut y = DVector::zeros(t_len);
        let mut state = DMatrix::zeros(1, n);
        for start in (0..t_len).step_by(q) {
            let rows = q.min(t_len - start);
            let (a, u, b, c) = inputs.chunk(0, start, rows, q);
            let mut out = chunk_diagonal(&a, &u, &b, &c);
            if run != Run::Diagonal {
                out += state_to_output(&a, &c, &state);
            }
            let carry = if run == Run::NoCarry {
                f64::NEG_INFINITY // e^{−∞} = 0: nothing passes through the chunk
            } else {
                a.iter().sum()
            };
            state = state_passing(carry, &state, &chunk_state(&a, &u, &b));
            y.rows_mut(start, rows)
                .copy_from(&out.column(0).rows(0, rows));
        }
        y
    }

    proptest! {
        #![proptest_config(cases(24))]

        /// The matrix each run applies, read off column by column from unit
        /// impulses: all four steps give M (and `ssd_chunked`'s output);
        /// step 1 alone gives exactly the diagonal blocks; without step 3's
        /// carry exactly the blocks with m = 0 whole chunks between survive.
        /// Above the diagonal every run gives exactly 0.
        #[test]
        fn the_steps_compute_the_blocks_the_figure_says(
            t in 2usize..=40, q in 1usize..=9, n in 1usize..=4, seed in any::<u64>(),
        ) {
            let pr = problem(t, 1, 1, 1, n, seed);
            let m = ssd_matrix(&pr.a.column(0).iter().copied().collect::<Vec<_>>(), &pr.b[0], &pr.c[0]);
            let mut reached = [false; 3];
            for s in 0..t {
                let impulse = vec![DMatrix::from_fn(t, 1, |r, _| f64::from(r == s))];
                let inputs = SsdInputs::new(&impulse, &pr.a, &pr.b, &pr.c);
                let [all, diag, no_carry] = [Run::All, Run::Diagonal, Run::NoCarry]
                    .map(|run| chunked(&inputs, q, run));
                let reference = ssd_chunked(&inputs, q).y.remove(0);
                prop_assert!((&all - reference.column(0)).amax() < STEP_TOL);
                for row in 0..t {
                    let want = m[(row, s)];
                    let near = |v: f64| (v - want).abs() < STEP_TOL;
                    prop_assert!(near(all[row]), "all steps at ({row}, {s})");
                    match chunk_part(row, s, q) {
                        ChunkPart::Zero => {
                            prop_assert!(all[row] == 0.0 && diag[row] == 0.0 && no_carry[row] == 0.0);
                        }
                        ChunkPart::Diagonal => {
                            prop_assert!(near(diag[row]) && near(no_carry[row]));
                            reached[0] = true;
                        }
                        ChunkPart::OffDiagonal { between: 0 } => {
                            prop_assert!(diag[row] == 0.0 && near(no_carry[row]));
                            reached[1] = true;
                        }
                        ChunkPart::OffDiagonal { .. } => {
                            prop_assert!(diag[row] == 0.0 && no_carry[row] == 0.0);
                            reached[2] |= want.abs() > 1e3 * STEP_TOL;
                        }
                    }
                }
            }
            // Every kind of block present was visited; a far block (m ≥ 1)
            // with a nonzero entry exists whenever there are three chunks.
            prop_assert!(reached[0]);
            prop_assert!(reached[1] || t <= q);
            prop_assert!(reached[2] || t <= 2 * q);
        }
    }
}

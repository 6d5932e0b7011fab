//! Chapter 0: how the cost of causal attention, a linear recurrence and an FFT
//! convolution grows with the sequence length L.
//!
//! Writes `chapters/figures/ch00/ops.svg` (counted operations, deterministic)
//! and `chapters/figures/ch00/measured-time.svg` (wall-clock time on this
//! machine), prints the times as a table and writes it, with the log-log
//! slopes and the machine, to `chapters/figures/ch00/measured-time.md`,
//! which the introduction includes.
//!
//! Run: `cargo run --release --example ch00_cost`

use std::hint::black_box;
use std::process::ExitCode;

use ssm_lineage::attention::{causal_attention, causal_attention_ops};
use ssm_lineage::rnn::LinearRnn;
use ssm_lineage::support::fft::{causal_conv_fft, causal_conv_fft_flops};
use ssm_lineage::support::figure::{LinePlot, Scale, exit_code, figure_path};
use ssm_lineage::support::rng::{normal_matrix, seeded};
use ssm_lineage::support::timing::best_of;
use ssm_lineage::train::experiment::machine;
use ssm_lineage::traits::{Convolutional, Recurrent};

/// Head dimension of the attention and state size of the recurrence.
const D: usize = 16;

fn main() -> ExitCode {
    exit_code("ch00_cost", run())
}

fn run() -> ssm_lineage::Result<()> {
    let mut rng = seeded(0);
    let rnn = LinearRnn::random(D, 0.99, 1)?;
    let (mut ops, mut times) = (vec![vec![]; 3], vec![vec![]; 3]);
    let mut table = String::from(
        "| L | attention | recurrence | FFT convolution | attention ÷ recurrence |\n\
         |---|---|---|---|---|\n",
    );
    println!(
        "{:>6} {:>12} {:>12} {:>12}   (seconds)",
        "L", "attention", "recurrence", "fft conv"
    );
    for power in 6..=14 {
        let len = 1usize << power;
        let x = len as f64;
        let q = normal_matrix(&mut rng, len, D, 1.0);
        let u = normal_matrix(&mut rng, len, 1, 1.0);
        let kernel = rnn.kernel(len);
        // Attention at the longest lengths takes seconds: one run there; the
        // others take milliseconds, so the best of 5 everywhere.
        let reps = if len <= 1 << 11 { 5 } else { 1 };
        let t = [
            best_of(reps, || drop(black_box(causal_attention(&q, &q, &q)))),
            best_of(5, || drop(black_box(rnn.scan(&u)))),
            best_of(5, || {
                drop(black_box(causal_conv_fft(kernel.as_slice(), u.as_slice())))
            }),
        ];
        let n = D as f64;
        let o = [
            causal_attention_ops(len, D),
            x * (n * n + 2.0 * n),
            causal_conv_fft_flops(len),
        ];
        for i in 0..3 {
            ops[i].push((x, o[i]));
            times[i].push((x, t[i]));
        }
        println!("{len:>6} {:>12.3e} {:>12.3e} {:>12.3e}", t[0], t[1], t[2]);
        if power % 2 == 0 {
            table += &format!(
                "| {len} | {} | {} | {} | {:.0} |\n",
                seconds(t[0]),
                seconds(t[1]),
                seconds(t[2]),
                t[0] / t[1]
            );
        }
    }
    let names = [
        "causal attention (d = 16)",
        "linear recurrence (n = 16, dense A)",
        "FFT convolution (one channel)",
    ];
    let plot = |title: &str, y: &str, data: &[Vec<(f64, f64)>]| {
        let mut p = LinePlot::new(title, "sequence length L", y)
            .scales(Scale::Log, Scale::Log);
        for (name, points) in names.iter().zip(data) {
            p = p.line(name, points.clone());
        }
        p
    };
    plot(
        "Counted operations",
        "multiply-adds (flops for the FFT)",
        &ops,
    )
    .dashed("slope 2 (L²)", vec![(64.0, 4e5), (16384.0, 4e5 * 65536.0)])
    .save(&figure_path("ch00", "ops.svg"))?;
    plot(
        "Measured time, on the machine that drew this figure",
        "seconds (best of runs)",
        &times,
    )
    .save(&figure_path("ch00", "measured-time.svg"))?;
    let slope = |v: &[(f64, f64)]| {
        let (a, b) = (v[v.len() - 3], v[v.len() - 1]);
        (b.1 / a.1).ln() / (b.0 / a.0).ln()
    };
    let slopes = [slope(&times[0]), slope(&times[1]), slope(&times[2])];
    println!(
        "log-log slope of time over the last two doublings: attention {:.2}, recurrence {:.2}, fft {:.2}",
        slopes[0], slopes[1], slopes[2]
    );
    table += &format!(
        "\n*Best of 5 runs (attention beyond L = 2048: one run); log-log slope of the \
         time over the last two doublings: attention {:.1}, recurrence {:.1}, \
         FFT convolution {:.1}. Measured by `cargo run --release --example \
         ch00_cost` on {}.*\n",
        slopes[0],
        slopes[1],
        slopes[2],
        machine()
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("chapters/figures/ch00/measured-time.md");
    let text =
        format!("<!-- ANCHOR: results -->\n{table}<!-- ANCHOR_END: results -->\n");
    std::fs::write(&path, text).map_err(|e| ssm_lineage::error::Error::Input {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// A time in the unit that suits it (µs, ms or s), three significant digits.
fn seconds(t: f64) -> String {
    let (v, unit) = if t < 1e-3 {
        (t * 1e6, "µs")
    } else if t < 1.0 {
        (t * 1e3, "ms")
    } else {
        (t, "s")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

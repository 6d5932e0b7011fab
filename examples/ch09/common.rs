//! What chapter 9's experiments share: training one seeded run with a
//! progress bar and a checkpoint folder, mean curves over seeds, and the
//! results written beside the figures (a JSON file and the Markdown table
//! the book includes, generated from it).

#![allow(dead_code)] // each example uses a part

use std::path::Path;

use ssm_lineage::Result;
use ssm_lineage::error::Error;
use ssm_lineage::support::figure::figure_path;
use ssm_lineage::train::experiment::machine;
use ssm_lineage::train::{LogRow, TrainConfig, Trainable, Trainer};

/// Trains `model` for `steps` steps at a constant `lr` (AdamW, no weight
/// decay, gradients clipped at norm `clip` if given), drawing the batch of step `s` from
/// `batch(s)`, logging every `log_every` steps and saving into `dir`.
pub fn train<M: Trainable>(
    model: M,
    steps: u64,
    lr: f64,
    log_every: u64,
    dir: &Path,
    batch: impl FnMut(u64) -> M::Batch,
    clip: Option<f64>,
) -> Result<Trainer<M>> {
    let mut config = TrainConfig::new(steps, lr);
    config.clip = clip;
    config.log_every = log_every;
    config.progress = true;
    config.checkpoint_every = steps.max(1);
    config.dir = Some(dir.to_path_buf());
    let mut trainer = Trainer::new(model, config)?;
    trainer.run(batch)?;
    Ok(trainer)
}

/// Points `(x, y)` of a plot.
pub type Curve = Vec<(f64, f64)>;

/// The mean over `runs` of `f` at each logged row (the runs log the same
/// steps), against the step, and against the mean wall time.
pub fn mean_curve(runs: &[&[LogRow]], f: impl Fn(&LogRow) -> f64) -> (Curve, Curve) {
    let rows = runs.iter().map(|r| r.len()).min().unwrap_or(0);
    let n = runs.len().max(1) as f64;
    let mut by_step = Vec::with_capacity(rows);
    let mut by_time = Vec::with_capacity(rows);
    for i in 0..rows {
        let value = runs.iter().map(|r| f(&r[i])).sum::<f64>() / n;
        let seconds = runs.iter().map(|r| r[i].seconds).sum::<f64>() / n;
        by_step.push((runs[0][i].step as f64, value));
        by_time.push((seconds, value));
    }
    (by_step, by_time)
}

/// Writes `results` (with the machine added) to
/// `chapters/figures/ch09/<name>.json`, then the table `table(results)` from
/// it (see [`write_table`]); returns the table.
pub fn write_results(
    name: &str,
    mut results: serde_json::Value,
    table: impl Fn(&serde_json::Value) -> String,
) -> Result<String> {
    results["machine"] = machine().into();
    let json = figure_path("ch09", &format!("{name}.json"));
    let text = serde_json::to_string_pretty(&results).unwrap_or_default();
    write(&json, &(text + "\n"))?;
    write_table(name, table)
}

/// Reads `chapters/figures/ch09/<name>.json` and writes `table(results)` to
/// `<name>.md` beside it, between the anchors the book includes it by, so
/// the book's table is exactly what the JSON holds. Returns the table.
pub fn write_table(
    name: &str,
    table: impl Fn(&serde_json::Value) -> String,
) -> Result<String> {
    let parsed = read_json(&figure_path("ch09", &format!("{name}.json")))?;
    let md = table(&parsed);
    let anchored =
        format!("<!-- ANCHOR: results -->\n{md}<!-- ANCHOR_END: results -->\n");
    write(&figure_path("ch09", &format!("{name}.md")), &anchored)?;
    Ok(md)
}

/// Writes a text file, creating its folder.
pub fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|e| output(path, &e))?;
    }
    std::fs::write(path, text).map_err(|e| output(path, &e))
}

fn output(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A spread `{"mean", "min", "max"}` from the JSON, formatted as
/// `mean (min–max)` with `digits` decimals, in percent if `percent`.
pub fn spread_cell(v: &serde_json::Value, digits: usize, percent: bool) -> String {
    let scale = if percent { 100.0 } else { 1.0 };
    let get = |k: &str| v[k].as_f64().unwrap_or(f64::NAN) * scale;
    let unit = if percent { "%" } else { "" };
    format!(
        "{:.digits$}{unit} ({:.digits$}–{:.digits$})",
        get("mean"),
        get("min"),
        get("max")
    )
}

/// A JSON file, read back.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bad = |reason: String| Error::Input {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
}

/// A saved run's `config.json`, read back.
pub fn read_config(dir: &Path) -> Result<serde_json::Value> {
    read_json(&dir.join("config.json"))
}

/// A size from a saved `config.json`.
pub fn config_size(config: &serde_json::Value, key: &'static str) -> Result<usize> {
    config[key].as_u64().map(|v| v as usize).ok_or_else(|| {
        Error::invalid(key, &config[key], "a whole number in config.json")
    })
}

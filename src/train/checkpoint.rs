//! Checkpoints in safetensors: a model's tensors under their Hugging Face
//! names and in the Hugging Face shapes, so a trained model opens in the
//! usual tools; and back.
//!
//! This crate keeps a linear map's weight as `(in, out)`, column-major; the
//! reference stores `[out, in]`, row-major. The bytes are the same, so such a
//! tensor is written as it is with its shape reversed. Every other matrix is
//! written row-major with its own shape (`A_log` `[d_inner, N]`), and the
//! convolution's taps as `[d_inner, 1, d_conv]` as PyTorch's `Conv1d` keeps
//! them.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::traits::{Param, Parameters};

/// The number type of the values written to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `F64`: exact, for checkpoints to resume from.
    F64,
    /// `F32`: what the reference implementations load.
    F32,
}

/// How a tensor of this crate's shape `(rows, cols)` is laid out in the file:
/// its shape there, and whether the values are transposed (row-major of our
/// matrix) or kept (our column-major bytes read as the transpose).
///
/// Implements the mapping described in the module documentation.
pub fn file_layout(name: &str, (rows, cols): (usize, usize)) -> (Vec<usize>, bool) {
    let linear = name.ends_with("_proj.weight")
        || name.ends_with("embeddings.weight")
        || name.ends_with("lm_head.weight");
    if cols == 1 {
        (vec![rows], false)
    } else if linear {
        (vec![cols, rows], false)
    } else if name.ends_with("conv1d.weight") {
        (vec![rows, 1, cols], true)
    } else {
        (vec![rows, cols], true)
    }
}

/// A tensor's values in the file's order.
fn file_values(p: &Param) -> Vec<f64> {
    let (rows, cols) = p.shape;
    if file_layout(&p.name, p.shape).1 {
        (0..rows * cols)
            .map(|i| p.values[(i % cols) * rows + i / cols])
            .collect()
    } else {
        p.values.to_vec()
    }
}

/// Every tensor of `model` as a safetensors file's bytes, with the given
/// `metadata` in its header.
///
/// # Errors
/// [`Error::Tensor`] if the safetensors writer rejects a tensor.
pub fn to_bytes(
    model: &impl Parameters,
    precision: Precision,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let params = model.parameters();
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .iter()
        .map(|p| {
            let values = file_values(p);
            let bytes = match precision {
                Precision::F64 => {
                    values.iter().flat_map(|v| v.to_le_bytes()).collect()
                }
                Precision::F32 => values
                    .iter()
                    .flat_map(|v| (*v as f32).to_le_bytes())
                    .collect(),
            };
            (p.name.clone(), file_layout(&p.name, p.shape).0, bytes)
        })
        .collect();
    let dtype = match precision {
        Precision::F64 => Dtype::F64,
        Precision::F32 => Dtype::F32,
    };
    let views = encoded
        .iter()
        .map(|(name, shape, bytes)| {
            let view =
                TensorView::new(dtype, shape.clone(), bytes).map_err(|e| {
                    Error::Tensor {
                        name: name.clone(),
                        reason: e.to_string(),
                    }
                })?;
            Ok((name.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Tensor {
        name: "(file)".into(),
        reason: e.to_string(),
    })
}

/// Writes `model` to `path` (see [`to_bytes`]), through a temporary file
/// renamed into place, so an interrupted write never leaves a broken file
/// where a good one was.
///
/// # Errors
/// [`Error::Output`] if the file cannot be written.
pub fn save(
    model: &impl Parameters,
    path: &Path,
    precision: Precision,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes = to_bytes(model, precision, metadata)?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file in the same folder.
///
/// # Errors
/// [`Error::Output`] if the file cannot be written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(fail)?;
    }
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

/// Sets every tensor of `model` from a safetensors file's bytes, by name,
/// converting F64, F32, F16 and BF16 values; returns the header's metadata.
/// `source` names the file in errors.
///
/// # Errors
/// [`Error::Input`] for bytes that are not a valid safetensors file (a
/// truncated or corrupted header, offsets outside the data);
/// [`Error::Tensor`] for a missing tensor or one of the wrong shape or dtype,
/// naming it; [`Error::NonFinite`] for a NaN or infinite value. The model is
/// unchanged unless every tensor is valid.
pub fn from_bytes(
    model: &mut impl Parameters,
    bytes: &[u8],
    source: &Path,
) -> Result<HashMap<String, String>> {
    from_files(model, &[(bytes, source)])
}

/// [`from_bytes`] over several files, each tensor read from the first file
/// that has it: a checkpoint split into shards, as large models ship
/// (`model-00001-of-00002.safetensors`, …). Tensors of the files that the
/// model does not have (a separate `lm_head.weight` when the head is tied)
/// are ignored. Returns the first file's metadata.
///
/// # Errors
/// As [`from_bytes`], naming the file.
pub fn from_files(
    model: &mut impl Parameters,
    files: &[(&[u8], &Path)],
) -> Result<HashMap<String, String>> {
    let mut parsed = Vec::with_capacity(files.len());
    let mut metadata = None;
    for &(bytes, source) in files {
        let bad_file = |reason: String| Error::Input {
            path: source.to_path_buf(),
            reason,
        };
        let file =
            SafeTensors::deserialize(bytes).map_err(|e| bad_file(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad_file(e.to_string()))?;
        metadata
            .get_or_insert_with(|| header.metadata().clone().unwrap_or_default());
        parsed.push((file, source));
    }
    let names = || {
        files
            .iter()
            .map(|f| f.1.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut tensors = std::collections::BTreeMap::new();
    for p in model.parameters() {
        let (view, source) = parsed
            .iter()
            .find_map(|(file, source)| {
                file.tensor(&p.name).ok().map(|v| (v, *source))
            })
            .ok_or_else(|| Error::Tensor {
                name: p.name.clone(),
                reason: format!("missing from {}", names()),
            })?;
        let (shape, transposed) = file_layout(&p.name, p.shape);
        if view.shape() != shape.as_slice() {
            return Err(Error::Tensor {
                name: p.name.clone(),
                reason: format!(
                    "expected shape {shape:?}, found {:?} in {}",
                    view.shape(),
                    source.display()
                ),
            });
        }
        let values = decode(&view).map_err(|reason| Error::Tensor {
            name: p.name.clone(),
            reason: format!("{reason} in {}", source.display()),
        })?;
        let (rows, cols) = p.shape;
        let ours = if transposed {
            nalgebra::DMatrix::from_row_slice(rows, cols, &values)
        } else {
            nalgebra::DMatrix::from_column_slice(rows, cols, &values)
        };
        tensors.insert(p.name, ours);
    }
    model.set_parameters(&tensors)?;
    Ok(metadata.unwrap_or_default())
}

/// Reads `path` into `model` (see [`from_bytes`]).
///
/// # Errors
/// [`Error::Input`] if the file cannot be read, and as [`from_bytes`].
pub fn load(
    model: &mut impl Parameters,
    path: &Path,
) -> Result<HashMap<String, String>> {
    load_files(model, &[path.to_path_buf()])
}

/// Reads the files `paths` into `model` (see [`from_files`]).
///
/// # Errors
/// [`Error::Input`] if a file cannot be read, and as [`from_files`].
pub fn load_files(
    model: &mut impl Parameters,
    paths: &[std::path::PathBuf],
) -> Result<HashMap<String, String>> {
    let contents = paths
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|e| Error::Input {
                path: path.clone(),
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let files: Vec<(&[u8], &Path)> = contents
        .iter()
        .zip(paths)
        .map(|(bytes, path)| (bytes.as_slice(), path.as_path()))
        .collect();
    from_files(model, &files)
}

/// A tensor's values as `f64`, from any of the float types models ship in.
fn decode(view: &TensorView) -> std::result::Result<Vec<f64>, String> {
    let data = view.data();
    let values = match view.dtype() {
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            })
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64())
            .collect(),
        other => {
            return Err(format!("dtype {other:?}, expected F64, F32, F16 or BF16"));
        }
    };
    Ok(values)
}

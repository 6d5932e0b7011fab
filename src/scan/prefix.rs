//! Inclusive scans of an associative operator: sequential, Hillis–Steele,
//! Blelloch and chunked. Each returns `out[t] = e_0 • e_1 • … • e_t`; for
//! [`Affine`] steps, `out[t].b` is the state $x_t$ from a zero
//! state and `out[t].apply(x0)` the state from $x_0$.

use rayon::prelude::*;

use nalgebra::ComplexField;

use super::operator::{Affine, Associative};

/// Levels with fewer elements than this run on one thread: below it, rayon's
/// fork–join costs more than the work it shares.
const PARALLEL_GRAIN: usize = 4096;

/// The recurrence itself, $x_t = a_t x_{t-1} + b_t$ from $x_{-1} = x_0$: the
/// loop every scan must reproduce, and the fastest route on one core (it
/// never forms the products $\prod a$, which a scan must).
///
/// # Shapes
/// `(len,)` → `(len,)`.
pub fn linear_recurrence<T: ComplexField + Copy>(
    elems: &[Affine<T>],
    x0: T,
) -> Vec<T> {
    let mut x = x0;
    elems
        .iter()
        .map(|e| {
            x = e.apply(x);
            x
        })
        .collect()
}

/// The sequential scan: one pass, $L - 1$ combinations, depth $L - 1$.
///
/// Implements Eq. (P2): $s_0 = e_0$, $s_t = s_{t-1} \bullet e_t$.
///
/// # Shapes
/// `(len,)` → `(len,)`.
// ANCHOR: scan_sequential
pub fn scan_sequential<E: Associative>(elems: &[E]) -> Vec<E> {
    let mut out = Vec::with_capacity(elems.len());
    let mut acc = E::identity();
    for &e in elems {
        acc = acc.combine(e);
        out.push(acc);
    }
    out
}
// ANCHOR_END: scan_sequential

/// The Hillis–Steele scan: $\lceil\log_2 L\rceil$ rounds; in round $k$ every
/// element combines with the one $2^k$ places before it. Depth $\log_2 L$ but
/// work $O(L \log L)$: fast with as many processors as elements, wasteful on
/// a CPU.
///
/// Implements Eq. (P3): $s^{(k+1)}_t = s^{(k)}_{t-2^k} \bullet s^{(k)}_t$ for
/// $t \ge 2^k$, else $s^{(k)}_t$.
///
/// # Shapes
/// `(len,)` → `(len,)`.
///
/// # References
/// Hillis & Steele (1986), "Data parallel algorithms".
// ANCHOR: scan_hillis_steele
pub fn scan_hillis_steele<E: Associative>(elems: &[E]) -> Vec<E> {
    let mut current = elems.to_vec();
    let mut next = current.clone();
    let mut offset = 1;
    while offset < current.len() {
        let round = |(t, slot): (usize, &mut E)| {
            *slot = if t >= offset {
                current[t - offset].combine(current[t])
            } else {
                current[t]
            };
        };
        if current.len() >= PARALLEL_GRAIN {
            next.par_iter_mut().enumerate().for_each(round);
        } else {
            next.iter_mut().enumerate().for_each(round);
        }
        std::mem::swap(&mut current, &mut next);
        offset *= 2;
    }
    current
}
// ANCHOR_END: scan_hillis_steele

/// The Blelloch scan: an up-sweep builds the sums of a balanced tree, a
/// down-sweep hands every node the combination of everything before it.
/// Work $O(L)$ (about $2L$ combinations) and depth $2\log_2 L$. The length is
/// padded to a power of two with identities.
///
/// Implements Eq. (P4): up-sweep $t_{k+2d-1} \leftarrow t_{k+d-1} \bullet t_{k+2d-1}$;
/// then, with the root set to the identity, down-sweep
/// $(t_{k+d-1},\ t_{k+2d-1}) \leftarrow (p,\ p \bullet l)$ where $p$ is the
/// parent's prefix and $l$ the left child's sum; finally $s_t = t_t \bullet e_t$.
///
/// # Shapes
/// `(len,)` → `(len,)`.
///
/// # References
/// Blelloch (1990), "Prefix sums and their applications", §1.3.
// ANCHOR: scan_blelloch
pub fn scan_blelloch<E: Associative>(elems: &[E]) -> Vec<E> {
    let len = elems.len();
    if len == 0 {
        return Vec::new();
    }
    let size = len.next_power_of_two();
    let mut tree = elems.to_vec();
    tree.resize(size, E::identity());
    let mut d = 1;
    while d < size {
        // Up-sweep: each block of 2d combines its halves into its last slot.
        for_each_block(&mut tree, 2 * d, |block| {
            block[2 * d - 1] = block[d - 1].combine(block[2 * d - 1]);
        });
        d *= 2;
    }
    tree[size - 1] = E::identity();
    while d > 1 {
        d /= 2;
        // Down-sweep: the left child gets the parent's prefix p, the right
        // child p • (left child's sum).
        for_each_block(&mut tree, 2 * d, |block| {
            let (left, parent) = (block[d - 1], block[2 * d - 1]);
            block[d - 1] = parent;
            block[2 * d - 1] = parent.combine(left);
        });
    }
    // The tree now holds exclusive prefixes; make them inclusive.
    tree.truncate(len);
    for (t, e) in tree.iter_mut().zip(elems) {
        *t = t.combine(*e);
    }
    tree
}
// ANCHOR_END: scan_blelloch

/// Runs `f` on consecutive blocks of `width` elements, in parallel when the
/// level has enough blocks to pay for it.
fn for_each_block<E: Associative>(
    tree: &mut [E],
    width: usize,
    f: impl Fn(&mut [E]) + Sync + Send,
) {
    if tree.len() >= PARALLEL_GRAIN && tree.len() / width >= 2 {
        tree.par_chunks_mut(width).for_each(f);
    } else {
        tree.chunks_mut(width).for_each(f);
    }
}

/// The chunked scan: split the sequence into chunks; scan every chunk on its
/// own (in parallel); scan the chunks' totals sequentially to get each
/// chunk's carry; combine the carry into every element of its chunk (in
/// parallel). About $2L$ combinations and depth $2c + L/c$ for chunk length
/// $c$: what a CPU with a few cores, or a GPU with its blocks, actually runs.
/// Any chunk length ≥ 1 and any sequence length.
///
/// Implements Eq. (P5): $s_t = \Gamma_{k-1} \bullet \tilde s_t$ for $t$ in chunk $k$,
/// where $\tilde s_t$ is the scan inside the chunk and $\Gamma_{k-1}$ the combination
/// of all earlier chunks.
///
/// # Shapes
/// `(len,)` → `(len,)`.
///
/// # Panics
/// If `chunk` is 0.
///
/// # Examples
/// ```
/// use ssm_lineage::scan::Affine;
/// use ssm_lineage::scan::prefix::{linear_recurrence, scan_chunked};
/// // x_t = 0.5 x_{t−1} + 1 from x = 0, in chunks of 3: offsets are the states.
/// let steps = vec![Affine::new(0.5, 1.0); 7];
/// let states: Vec<f64> = scan_chunked(&steps, 3).iter().map(|s| s.b).collect();
/// assert_eq!(states, linear_recurrence(&steps, 0.0));
/// ```
// ANCHOR: scan_chunked
pub fn scan_chunked<E: Associative>(elems: &[E], chunk: usize) -> Vec<E> {
    assert!(
        chunk > 0,
        "scan_chunked: the chunk length must be ≥ 1, got 0"
    );
    let mut out = elems.to_vec();
    // 1. Scan inside every chunk, chunks in parallel.
    out.par_chunks_mut(chunk).for_each(|c| {
        for t in 1..c.len() {
            c[t] = c[t - 1].combine(c[t]);
        }
    });
    // 2. Carries: the combination of all chunks before each one (sequential,
    //    one step per chunk).
    let mut carries = Vec::with_capacity(out.len().div_ceil(chunk));
    let mut carry = E::identity();
    for c in out.chunks(chunk) {
        carries.push(carry);
        carry = carry.combine(c[c.len() - 1]);
    }
    // 3. Fix up: prepend each chunk's carry, chunks in parallel.
    out.par_chunks_mut(chunk)
        .zip(carries)
        .skip(1)
        .for_each(|(c, carry)| {
            for e in c.iter_mut() {
                *e = carry.combine(*e);
            }
        });
    out
}
// ANCHOR_END: scan_chunked

//! LSTM, GRU and RNN (7, 14, 22).
//!
//! Per direction, the input projection of every step (`X W^T` plus the
//! biases) is one GEMM through [`linalg::product`]; each step then adds the
//! recurrent product `H R^T` (one GEMM over the batch) and applies the
//! gates. f16 and bf16 are computed in f32 and rounded once at the end.
//!
//! Gate blocks of W, R and B: LSTM `i, o, f, c` (peepholes `i, o, f`), GRU
//! `z, r, h`, RNN one. `activations` is one string of comma-separated
//! names (the ABI has no string list), matched without regard to case;
//! `activation_alpha`/`activation_beta` are consumed in order by the
//! functions that take each parameter. `clip` clamps every gate's
//! pre-activation; LSTM's `h(Ct)` reads the unclipped cell state. Steps
//! past a batch element's `sequence_lens` are not run and their `Y` is 0;
//! the reverse direction starts at each element's last valid step.
//!
//! [`run_with`] takes a [`Variant`], so that the mutants backend can run
//! the same recurrence with one gate order confused (a fault) or each
//! pre-activation fused into one dot product summed in another order (an
//! honest variant).

use xpucert_abi::BackendError;

use super::Args;
use super::linalg;
use crate::tensor::{Real, Tensor, with_real};

/// Which cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// `Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi)`
    Rnn,
    /// gates z, r, h
    Gru,
    /// gates i, o, f, c
    Lstm,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }

    fn functions(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru => 2,
            Cell::Lstm => 3,
        }
    }
}

/// How the kernel computes; [`Variant::REFERENCE`] is the backend's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// The block of W, R and B that LSTM's gates i, o, f and c are read
    /// from, in that order: `[0, 1, 2, 3]` is ONNX's iofc.
    pub lstm_blocks: [usize; 4],
    /// Each pre-activation as one dot product over the state, the input
    /// and both biases, summed last to first, instead of the input
    /// projection GEMM plus the recurrent GEMM.
    pub fused_reversed: bool,
}

impl Variant {
    /// The reference's computation.
    pub const REFERENCE: Variant = Variant {
        lstm_blocks: [0, 1, 2, 3],
        fused_reversed: false,
    };
}

/// LSTM, GRU or RNN, every output (Y, Y_h, and Y_c for LSTM).
pub fn recurrent(args: &Args<'_>, cell: Cell) -> Result<Vec<Tensor>, BackendError> {
    run_with(args, cell, &Variant::REFERENCE)
}

/// An activation function with its parameters.
#[derive(Debug, Clone, Copy)]
enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Affine(f64, f64),
    LeakyRelu(f64),
    ThresholdedRelu(f64),
    ScaledTanh(f64, f64),
    HardSigmoid(f64, f64),
    Elu(f64),
    Softsign,
    Softplus,
}

impl Act {
    fn apply<T: Real>(self, x: T) -> T {
        let f = T::from_f64;
        let max0 = |v: T| if v > T::ZERO { v } else { T::ZERO };
        match self {
            Act::Relu => max0(x),
            Act::Tanh => x.tanh(),
            Act::Sigmoid => {
                if x >= T::ZERO {
                    T::ONE / (T::ONE + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (T::ONE + e)
                }
            }
            Act::Affine(a, b) => f(a) * x + f(b),
            Act::LeakyRelu(a) => {
                if x >= T::ZERO {
                    x
                } else {
                    f(a) * x
                }
            }
            Act::ThresholdedRelu(a) => {
                if x > f(a) {
                    x
                } else {
                    T::ZERO
                }
            }
            Act::ScaledTanh(a, b) => f(a) * (f(b) * x).tanh(),
            Act::HardSigmoid(a, b) => {
                let v = max0(f(a) * x + f(b));
                if v > T::ONE { T::ONE } else { v }
            }
            Act::Elu(a) => {
                if x >= T::ZERO {
                    x
                } else {
                    f(a) * (x.exp() - T::ONE)
                }
            }
            Act::Softsign => {
                let ax = if x < T::ZERO { -x } else { x };
                x / (T::ONE + ax)
            }
            Act::Softplus => {
                // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|): no overflow.
                let ax = if x < T::ZERO { -x } else { x };
                max0(x) + (-ax).exp().ln_1p()
            }
        }
    }
}

/// The functions of `activations` (or the cell's defaults), per direction.
fn functions(args: &Args<'_>, cell: Cell, dirs: usize) -> Result<Vec<Act>, BackendError> {
    let n = cell.functions() * dirs;
    if !args.attrs.has("activations") {
        let one: &[Act] = match cell {
            Cell::Rnn => &[Act::Tanh],
            Cell::Gru => &[Act::Sigmoid, Act::Tanh],
            Cell::Lstm => &[Act::Sigmoid, Act::Tanh, Act::Tanh],
        };
        return Ok(one.iter().copied().cycle().take(n).collect());
    }
    let text = args.attrs.string("activations", "")?;
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    if names.len() != n {
        return Err(args.invalid(format!("activations must list {n} functions, got {text:?}")));
    }
    let floats = |name| -> Result<Vec<f64>, BackendError> {
        match args
            .attrs
            .0
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value)
        {
            None => Ok(Vec::new()),
            Some(xpucert_abi::AttrValue::Floats(v)) => Ok(v.to_vec()),
            Some(_) => Err(args.invalid(format!("{name} must be a list of floats"))),
        }
    };
    let (alphas, betas) = (floats("activation_alpha")?, floats("activation_beta")?);
    let (mut alpha, mut beta) = (alphas.into_iter(), betas.into_iter());
    let take = |it: &mut std::vec::IntoIter<f64>, default: Option<f64>, what: &str, name: &str| {
        it.next()
            .or(default)
            .ok_or_else(|| args.invalid(format!("activation {name} needs activation_{what}")))
    };
    names
        .iter()
        .map(|&name| {
            Ok(match name.to_ascii_lowercase().as_str() {
                "relu" => Act::Relu,
                "tanh" => Act::Tanh,
                "sigmoid" => Act::Sigmoid,
                "softsign" => Act::Softsign,
                "softplus" => Act::Softplus,
                "affine" => Act::Affine(
                    take(&mut alpha, None, "alpha", name)?,
                    take(&mut beta, None, "beta", name)?,
                ),
                "scaledtanh" => Act::ScaledTanh(
                    take(&mut alpha, None, "alpha", name)?,
                    take(&mut beta, None, "beta", name)?,
                ),
                "leakyrelu" => Act::LeakyRelu(take(&mut alpha, Some(0.01), "alpha", name)?),
                "thresholdedrelu" => Act::ThresholdedRelu(take(&mut alpha, None, "alpha", name)?),
                "hardsigmoid" => Act::HardSigmoid(
                    take(&mut alpha, Some(0.2), "alpha", name)?,
                    take(&mut beta, Some(0.5), "beta", name)?,
                ),
                "elu" => Act::Elu(take(&mut alpha, Some(1.0), "alpha", name)?),
                other => return Err(args.invalid(format!("unknown activation {other:?}"))),
            })
        })
        .collect()
}

/// The call's geometry, checked.
struct Geometry {
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    dirs: usize,
    reverse: bool,
    batch_first: bool,
    lens: Vec<usize>,
}

fn geometry(args: &Args<'_>, cell: Cell) -> Result<Geometry, BackendError> {
    let (dirs, reverse) = match args.attrs.string("direction", "forward")? {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        other => return Err(args.invalid(format!("unknown direction {other:?}"))),
    };
    let batch_first = args.attrs.int("layout", 0)? != 0;
    let x = args.input(0)?;
    let [a, b, input] = x.shape[..] else {
        return Err(args.invalid(format!("X must be 3-D, got {:?}", x.shape)));
    };
    let (seq, batch) = if batch_first { (b, a) } else { (a, b) };
    let r = args.input(2)?;
    let hidden = match r.shape[..] {
        [_, _, h] if h > 0 => h,
        _ => return Err(args.invalid(format!("bad R shape {:?}", r.shape))),
    };
    if args.attrs.has("hidden_size") && args.attrs.int("hidden_size", 0)? != hidden as i64 {
        return Err(args.invalid("hidden_size differs from R's last dimension"));
    }
    let g = cell.gates();
    let state = if batch_first {
        vec![batch, dirs, hidden]
    } else {
        vec![dirs, batch, hidden]
    };
    let mut want = vec![
        (1, vec![dirs, g * hidden, input]),
        (2, vec![dirs, g * hidden, hidden]),
        (3, vec![dirs, 2 * g * hidden]),
        (4, vec![batch]),
        (5, state.clone()),
    ];
    if cell == Cell::Lstm {
        want.push((6, state));
        want.push((7, vec![dirs, 3 * hidden]));
    }
    for (i, shape) in want {
        if let Some(t) = args.optional(i)
            && t.shape != shape
        {
            return Err(args.invalid(format!(
                "input {i} must have shape {shape:?}, got {:?}",
                t.shape
            )));
        }
    }
    let lens = match args.optional(4) {
        None => vec![seq; batch],
        Some(t) => t
            .to_indices()?
            .into_iter()
            .map(|l| {
                usize::try_from(l)
                    .ok()
                    .filter(|&l| l >= 1 && l <= seq)
                    .ok_or_else(|| {
                        args.invalid(format!("sequence_lens value {l} outside [1, {seq}]"))
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if seq == 0 {
        return Err(args.invalid("seq_length must be at least 1"));
    }
    Ok(Geometry {
        seq,
        batch,
        input,
        hidden,
        dirs,
        reverse,
        batch_first,
        lens,
    })
}

/// [`recurrent`] computed as `variant` says.
pub fn run_with(
    args: &Args<'_>,
    cell: Cell,
    variant: &Variant,
) -> Result<Vec<Tensor>, BackendError> {
    let geo = geometry(args, cell)?;
    let acts = functions(args, cell, geo.dirs)?;
    let clip = if args.attrs.has("clip") {
        Some(args.attrs.float("clip", 0.0)?)
    } else {
        None
    };
    let dtype = args.input(0)?.dtype();
    with_real!(dtype, T => run_typed::<T>(args, cell, variant, &geo, &acts, clip))
}

/// Rows of a seq-first `[S, B, n]` copy of a batch-first `[B, S, n]` tensor
/// (or the reverse: the swap is its own inverse with S and B exchanged).
fn swap_outer<T: Copy>(v: &[T], a: usize, b: usize, n: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for j in 0..b {
        for i in 0..a {
            out.extend_from_slice(&v[(i * b + j) * n..(i * b + j + 1) * n]);
        }
    }
    out
}

fn run_typed<T: Real>(
    args: &Args<'_>,
    cell: Cell,
    variant: &Variant,
    geo: &Geometry,
    acts: &[Act],
    clip: Option<f64>,
) -> Result<Vec<Tensor>, BackendError> {
    let (s, nb, ni, nh, dirs) = (geo.seq, geo.batch, geo.input, geo.hidden, geo.dirs);
    let g = cell.gates();
    let rows = g * nh;
    let dtype = args.input(0)?.dtype();
    let read = |i: usize| -> Result<Option<Vec<T>>, BackendError> {
        args.optional(i).map(|t| t.to_real::<T>()).transpose()
    };
    // Everything seq-first inside: X [S, B, I], states [D, B, H].
    let mut x = read(0)?.unwrap_or_default();
    let mut h0 = read(5)?;
    let mut c0 = if cell == Cell::Lstm { read(6)? } else { None };
    if geo.batch_first {
        x = swap_outer(&x, nb, s, ni);
        h0 = h0.map(|v| swap_outer(&v, nb, dirs, nh));
        c0 = c0.map(|v| swap_outer(&v, nb, dirs, nh));
    }
    let w = read(1)?.unwrap_or_default();
    let r = read(2)?.unwrap_or_default();
    let bias = read(3)?;
    let p = if cell == Cell::Lstm { read(7)? } else { None };
    let lbr = cell == Cell::Gru && args.attrs.int("linear_before_reset", 0)? != 0;
    let input_forget = cell == Cell::Lstm && args.attrs.int("input_forget", 0)? != 0;
    let clamp = |v: T| match clip {
        Some(c) => {
            let c = T::from_f64(c);
            if v > c {
                c
            } else if v < -c {
                -c
            } else {
                v
            }
        }
        None => v,
    };
    let nf = cell.functions();
    let mut y = vec![T::ZERO; s * dirs * nb * nh];
    let mut yh = vec![T::ZERO; dirs * nb * nh];
    let mut yc = vec![T::ZERO; dirs * nb * nh];
    // The row of W/R/B for gate `k`'s unit `j`: LSTM's block order may
    // be a variant's.
    let block = |k: usize| {
        if cell == Cell::Lstm {
            variant.lstm_blocks[k]
        } else {
            k
        }
    };
    for d in 0..dirs {
        let wd = &w[d * rows * ni..(d + 1) * rows * ni];
        let rd = &r[d * rows * nh..(d + 1) * rows * nh];
        let (wb, rb): (Vec<T>, Vec<T>) = match &bias {
            Some(b) => (
                b[d * 2 * rows..d * 2 * rows + rows].to_vec(),
                b[d * 2 * rows + rows..(d + 1) * 2 * rows].to_vec(),
            ),
            None => (vec![T::ZERO; rows], vec![T::ZERO; rows]),
        };
        // Rb joins the input projection except where GRU's reset gate
        // multiplies it (linear_before_reset's h rows).
        let rb_inside = |row: usize| lbr && row >= 2 * nh;
        // Input projection of every step: [S*B, rows].
        let mut xp = vec![T::ZERO; s * nb * rows];
        if !variant.fused_reversed {
            linalg::product(&x, wd, &mut xp, (s * nb, ni, rows), true, true);
            for v in xp.chunks_exact_mut(rows) {
                for (row, e) in v.iter_mut().enumerate() {
                    *e += wb[row];
                    if !rb_inside(row) {
                        *e += rb[row];
                    }
                }
            }
        }
        let state0 = |init: &Option<Vec<T>>| match init {
            Some(v) => v[d * nb * nh..(d + 1) * nb * nh].to_vec(),
            None => vec![T::ZERO; nb * nh],
        };
        let mut h = state0(&h0);
        let mut c = state0(&c0);
        let fs = &acts[d * nf..(d + 1) * nf];
        let backwards = geo.reverse || d == 1;
        let mut hr = vec![T::ZERO; nb * rows];
        let mut rh = vec![T::ZERO; nb * nh];
        let mut hr_reset = vec![T::ZERO; nb * nh];
        // One dot product over [h, x, Rb, Wb] summed last to first.
        let fused = |row: usize, hv: &[T], xv: &[T], with_rb: bool| -> T {
            let mut acc = T::ZERO;
            acc += wb[row];
            if with_rb {
                acc += rb[row];
            }
            for k in (0..ni).rev() {
                acc += xv[k] * wd[row * ni + k];
            }
            for k in (0..hv.len()).rev() {
                acc += hv[k] * rd[row * nh + k];
            }
            acc
        };
        for step in 0..s {
            let active: Vec<(usize, usize)> = (0..nb)
                .filter(|&b| step < geo.lens[b])
                .map(|b| {
                    (
                        b,
                        if backwards {
                            geo.lens[b] - 1 - step
                        } else {
                            step
                        },
                    )
                })
                .collect();
            if active.is_empty() {
                break;
            }
            if !variant.fused_reversed {
                hr.fill(T::ZERO);
                // GRU without linear_before_reset multiplies h by r before
                // its h block: that block is done below.
                let n = if cell == Cell::Gru && !lbr {
                    2 * nh
                } else {
                    rows
                };
                let mut part = vec![T::ZERO; nb * n];
                linalg::product(&h, &rd[..n * nh], &mut part, (nb, nh, n), true, false);
                for (dst, src) in hr.chunks_exact_mut(rows).zip(part.chunks_exact(n)) {
                    dst[..n].copy_from_slice(src);
                }
            }
            // The pre-activation of `row` for batch element `b` at time `t`
            // (the recurrent part from `hr`, or fused).
            let pre = |row: usize, b: usize, t: usize, hr: &[T], h: &[T]| -> T {
                if variant.fused_reversed {
                    let xv = &x[(t * nb + b) * ni..(t * nb + b + 1) * ni];
                    fused(row, &h[b * nh..(b + 1) * nh], xv, !rb_inside(row))
                } else {
                    xp[(t * nb + b) * rows + row] + hr[b * rows + row]
                }
            };
            let mut h2 = h.clone();
            let mut c2 = c.clone();
            match cell {
                Cell::Rnn => {
                    for &(b, t) in &active {
                        for j in 0..nh {
                            h2[b * nh + j] = fs[0].apply(clamp(pre(j, b, t, &hr, &h)));
                        }
                    }
                }
                Cell::Gru => {
                    let mut z = vec![T::ZERO; nb * nh];
                    let mut rg = vec![T::ZERO; nb * nh];
                    for &(b, t) in &active {
                        for j in 0..nh {
                            z[b * nh + j] = fs[0].apply(clamp(pre(j, b, t, &hr, &h)));
                            rg[b * nh + j] = fs[0].apply(clamp(pre(nh + j, b, t, &hr, &h)));
                        }
                    }
                    let hrow = &rd[2 * nh * nh..];
                    if lbr {
                        // r (.) (h Rh + Rbh)
                        hr_reset.fill(T::ZERO);
                        if variant.fused_reversed {
                            for b in 0..nb {
                                for j in 0..nh {
                                    let mut acc = rb[2 * nh + j];
                                    for k in (0..nh).rev() {
                                        acc += h[b * nh + k] * hrow[j * nh + k];
                                    }
                                    hr_reset[b * nh + j] = acc;
                                }
                            }
                        } else {
                            for (dst, src) in
                                hr_reset.chunks_exact_mut(nh).zip(hr.chunks_exact(rows))
                            {
                                for (j, e) in dst.iter_mut().enumerate() {
                                    *e = src[2 * nh + j] + rb[2 * nh + j];
                                }
                            }
                        }
                    } else {
                        for (e, (&rv, &hv)) in rh.iter_mut().zip(rg.iter().zip(&h)) {
                            *e = rv * hv;
                        }
                        if !variant.fused_reversed {
                            hr_reset.fill(T::ZERO);
                            linalg::product(&rh, hrow, &mut hr_reset, (nb, nh, nh), true, false);
                        }
                    }
                    for &(b, t) in &active {
                        for j in 0..nh {
                            let row = 2 * nh + j;
                            let a = if lbr {
                                let xin = if variant.fused_reversed {
                                    let xv = &x[(t * nb + b) * ni..(t * nb + b + 1) * ni];
                                    fused(row, &[], xv, false)
                                } else {
                                    xp[(t * nb + b) * rows + row]
                                };
                                xin + rg[b * nh + j] * hr_reset[b * nh + j]
                            } else if variant.fused_reversed {
                                pre(row, b, t, &hr, &rh)
                            } else {
                                xp[(t * nb + b) * rows + row] + hr_reset[b * nh + j]
                            };
                            let hh = fs[1].apply(clamp(a));
                            let zj = z[b * nh + j];
                            h2[b * nh + j] = (T::ONE - zj) * hh + zj * h[b * nh + j];
                        }
                    }
                }
                Cell::Lstm => {
                    let peep = |k: usize, j: usize, cv: T| match &p {
                        Some(p) => p[d * 3 * nh + k * nh + j] * cv,
                        None => T::ZERO,
                    };
                    for &(b, t) in &active {
                        for j in 0..nh {
                            let at = b * nh + j;
                            let cp = c[at];
                            let row = |k: usize| block(k) * nh + j;
                            let i = fs[0].apply(clamp(pre(row(0), b, t, &hr, &h) + peep(0, j, cp)));
                            let f = if input_forget {
                                T::ONE - i
                            } else {
                                fs[0].apply(clamp(pre(row(2), b, t, &hr, &h) + peep(2, j, cp)))
                            };
                            let cc = fs[1].apply(clamp(pre(row(3), b, t, &hr, &h)));
                            let cn = f * cp + i * cc;
                            let o = fs[0].apply(clamp(pre(row(1), b, t, &hr, &h) + peep(1, j, cn)));
                            c2[at] = cn;
                            h2[at] = o * fs[2].apply(cn);
                        }
                    }
                }
            }
            for &(b, t) in &active {
                let at = ((t * dirs + d) * nb + b) * nh;
                y[at..at + nh].copy_from_slice(&h2[b * nh..(b + 1) * nh]);
            }
            h = h2;
            c = c2;
        }
        yh[d * nb * nh..(d + 1) * nb * nh].copy_from_slice(&h);
        yc[d * nb * nh..(d + 1) * nb * nh].copy_from_slice(&c);
    }
    let (y_shape, state_shape) = if geo.batch_first {
        // [S, D, B, H] -> [B, S, D, H].
        let mut by = Vec::with_capacity(y.len());
        for b in 0..nb {
            for t in 0..s {
                for d in 0..dirs {
                    let at = ((t * dirs + d) * nb + b) * nh;
                    by.extend_from_slice(&y[at..at + nh]);
                }
            }
        }
        y = by;
        (vec![nb, s, dirs, nh], vec![nb, dirs, nh])
    } else {
        (vec![s, dirs, nb, nh], vec![dirs, nb, nh])
    };
    if geo.batch_first {
        yh = swap_outer(&yh, dirs, nb, nh);
        yc = swap_outer(&yc, dirs, nb, nh);
    }
    let mut out = vec![
        Tensor::from_real(dtype, y_shape, y)?,
        Tensor::from_real(dtype, state_shape.clone(), yh)?,
    ];
    if cell == Cell::Lstm {
        out.push(Tensor::from_real(dtype, state_shape, yc)?);
    }
    Ok(out)
}

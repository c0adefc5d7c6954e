//! Conv and MaxPool faults: the reference's own kernels (`reference-core`'s
//! `ops::conv`) run over a wrong window geometry. (Winograd F(2x2, 3x3)
//! is not an honest mode: it does not fit Conv's summation bound; the
//! harness's `ops/conv.rs` documents why and what was measured.)

use xpucert_abi::BackendError;
use xpucert_reference_core::ops::{Args, conv};
use xpucert_reference_core::support::Attrs;
use xpucert_reference_core::tensor::{Data, Tensor};

use super::io::Loaded;

/// The reference kernels' view of the loaded call.
fn args<'l>(l: &'l Loaded<'_>) -> Args<'l> {
    Args {
        op: l.op(),
        opset: l.call.opset,
        attrs: Attrs(&l.attrs),
        inputs: &l.inputs,
        outputs: l.call.output_specs.len(),
    }
}

/// Fault: Conv with each axis's total padding split evenly (the smaller
/// half first) whatever `pads` or SAME_LOWER say: a kernel that only has a
/// symmetric padding parameter. The output size is right; asymmetric pads
/// shift every window.
pub fn pads_symmetric(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let a = args(l);
    let (mut g, group) = conv::conv_geometry(&a)?;
    for (b, e) in g.begin.iter_mut().zip(g.end.iter_mut()) {
        let total = *b + *e;
        (*b, *e) = (total / 2, total - total / 2);
    }
    Ok(vec![conv::conv_with(&a, &g, group)?])
}

/// Fault: MaxPool whose loops ignore ceil_mode: the output is allocated
/// with ceil_mode's shape (the framework's shape inference), but only the
/// windows of the floor shape are computed; the others keep their initial
/// values (the lowest value, index 0).
pub fn maxpool_ceil_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let a = args(l);
    let ceil = conv::pool_geometry(&a, true)?;
    let floor_attrs: Vec<_> = l
        .attrs
        .iter()
        .copied()
        .filter(|x| x.name != "ceil_mode")
        .collect();
    let floor_args = Args {
        attrs: Attrs(&floor_attrs),
        ..args(l)
    };
    let floor = conv::pool_geometry(&floor_args, true)?;
    let out = conv::maxpool_with(&a, &floor)?;
    if floor == ceil {
        return Ok(out);
    }
    let x = l.input(0)?;
    let planes = x.shape[0] * x.shape[1];
    let mut shape = x.shape[..2].to_vec();
    shape.extend(&ceil.output);
    let place = |d: &Data| -> Data {
        match d {
            Data::F32(v) => Data::F32(embed(
                v,
                f32::NEG_INFINITY,
                planes,
                &floor.output,
                &ceil.output,
            )),
            Data::F64(v) => Data::F64(embed(
                v,
                f64::NEG_INFINITY,
                planes,
                &floor.output,
                &ceil.output,
            )),
            Data::F16(v) => Data::F16(embed(v, 0xFC00, planes, &floor.output, &ceil.output)),
            Data::BF16(v) => Data::BF16(embed(v, 0xFF80, planes, &floor.output, &ceil.output)),
            Data::I8(v) => Data::I8(embed(v, i8::MIN, planes, &floor.output, &ceil.output)),
            Data::U8(v) => Data::U8(embed(v, 0, planes, &floor.output, &ceil.output)),
            Data::I64(v) => Data::I64(embed(v, 0, planes, &floor.output, &ceil.output)),
            other => other.clone(),
        }
    };
    out.iter()
        .map(|t| Tensor::new(shape.clone(), place(&t.data)))
        .collect()
}

/// `planes` blocks of the row-major `from`-shaped `src`, each written at
/// the same multi-index of a `to`-shaped block (`to >= from` per axis),
/// the rest `fill`.
fn embed<T: Copy>(src: &[T], fill: T, planes: usize, from: &[usize], to: &[usize]) -> Vec<T> {
    let (n_from, n_to) = (from.iter().product::<usize>(), to.iter().product::<usize>());
    let mut out = vec![fill; planes * n_to];
    for p in 0..planes {
        for f in 0..n_from {
            let (mut rest, mut flat, mut scale) = (f, 0, 1);
            for i in (0..from.len()).rev() {
                flat += (rest % from[i]) * scale;
                rest /= from[i];
                scale *= to[i];
            }
            out[p * n_to + flat] = src[p * n_from + f];
        }
    }
    out
}

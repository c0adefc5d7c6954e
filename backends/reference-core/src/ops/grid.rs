//! Spatial sampling: GridSample (16, 20, 22), AffineGrid (20), RoiAlign
//! (10, 16, 22).
//!
//! Coordinates are computed in the compute type (f32 for f32, f16 and
//! bf16; f64 for f64), as a device would, and the rest of the index logic
//! in f64 from those values (exactly: an f32 widens exactly). GridSample's
//! nearest is a gather (any dtype, padding reads zero); linear and cubic
//! weigh the taps in the compute type over the tensor product of the
//! per-axis taps. RoiAlign follows the ONNX reference (the onnxruntime
//! kernel): samples outside `[-1, H] x [-1, W]` contribute 0, and `max`
//! takes the largest weighted corner term `w_i x_i` over the bin's samples.

use xpucert_abi::BackendError;

use super::Args;
use crate::tensor::{Real, Tensor, with_real};

/// Keys' cubic coefficient of GridSample.
const CUBIC_A: f64 = -0.75;

#[derive(Clone, Copy, PartialEq)]
enum Interp {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Clone, Copy, PartialEq)]
enum Padding {
    Zeros,
    Border,
    Reflection,
}

/// Reflects `x` by `lo` and `hi` until it lies between them.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let range = hi - lo;
    if range <= 0.0 {
        return lo;
    }
    let fold = |d: f64, near: f64, far: f64, sign: f64| {
        let n = (d / range).floor();
        let r = d - n * range;
        if n % 2.0 == 0.0 {
            near + sign * r
        } else {
            far - sign * r
        }
    };
    if x < lo {
        fold(lo - x, lo, hi, 1.0)
    } else if x > hi {
        fold(x - hi, hi, lo, -1.0)
    } else {
        x
    }
}

/// The attributes of a GridSample call and one axis's rules.
struct Sampling {
    interp: Interp,
    padding: Padding,
    align: bool,
}

impl Sampling {
    fn interval(&self, len: usize) -> (f64, f64) {
        if self.align {
            (0.0, len as f64 - 1.0)
        } else {
            (-0.5, len as f64 - 0.5)
        }
    }

    /// The normalized `g` as an input coordinate, computed in `T`.
    fn denormalize<T: Real>(&self, g: T, len: usize) -> f64 {
        let one = T::ONE;
        let two = one + one;
        let l = T::from_f64(len as f64);
        let x = if self.align {
            (g + one) / two * (l - one)
        } else {
            ((g + one) * l - one) / two
        };
        x.to_f64()
    }

    fn bounded(&self, x: f64, len: usize) -> f64 {
        let (lo, hi) = self.interval(len);
        if (lo..=hi).contains(&x) {
            return x;
        }
        match self.padding {
            Padding::Zeros => x,
            Padding::Border => x.clamp(0.0, len as f64 - 1.0),
            Padding::Reflection => reflect(x, lo, hi),
        }
    }

    fn index(&self, i: f64, len: usize) -> Option<usize> {
        let last = len as f64 - 1.0;
        match self.padding {
            Padding::Zeros => (0.0..=last).contains(&i).then_some(i as usize),
            Padding::Border => Some(i.clamp(0.0, last) as usize),
            Padding::Reflection => {
                let (lo, hi) = self.interval(len);
                Some(reflect(i, lo, hi).trunc().clamp(0.0, last) as usize)
            }
        }
    }

    fn nearest(&self, x: f64, len: usize) -> Option<usize> {
        self.index(self.bounded(x.round_ties_even(), len).trunc(), len)
    }

    /// Index and weight of each tap at `x`.
    fn taps(&self, x: f64, len: usize) -> Vec<(Option<usize>, f64)> {
        let x = self.bounded(x, len);
        let x0 = x.floor();
        let f = x - x0;
        if self.interp == Interp::Cubic {
            let k = |s: f64| {
                let s = s.abs();
                let a = CUBIC_A;
                if s <= 1.0 {
                    ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0
                } else if s < 2.0 {
                    ((a * s - 5.0 * a) * s + 8.0 * a) * s - 4.0 * a
                } else {
                    0.0
                }
            };
            (-1..=2)
                .map(|t| (self.index(x0 + t as f64, len), k(f - t as f64)))
                .collect()
        } else {
            vec![
                (self.index(x0, len), 1.0 - f),
                (self.index(x0 + 1.0, len), f),
            ]
        }
    }
}

/// GridSample at `opset` (16, 20 or 22).
pub fn grid_sample(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let grid = args.input(1)?;
    let at = &args.attrs;
    let new_names = args.opset >= 20;
    let interp = match at.string("mode", if new_names { "linear" } else { "bilinear" })? {
        "nearest" => Interp::Nearest,
        "linear" if new_names => Interp::Linear,
        "cubic" if new_names => Interp::Cubic,
        "bilinear" if !new_names => Interp::Linear,
        "bicubic" if !new_names => Interp::Cubic,
        m => return Err(args.invalid(format!("mode {m:?} at opset {}", args.opset))),
    };
    let padding = match at.string("padding_mode", "zeros")? {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        m => return Err(args.invalid(format!("padding_mode {m:?}"))),
    };
    let align = match at.int("align_corners", 0)? {
        0 => false,
        1 => true,
        v => return Err(args.invalid(format!("align_corners {v}"))),
    };
    let s = Sampling {
        interp,
        padding,
        align,
    };
    let xs = &x.shape;
    if xs.len() < 3 || (!new_names && xs.len() != 4) {
        return Err(args.invalid(format!("X of shape {xs:?}")));
    }
    let r = xs.len() - 2;
    let gs = &grid.shape;
    if gs.len() != r + 2 || gs[0] != xs[0] || gs[r + 1] != r {
        return Err(args.invalid(format!("grid of shape {gs:?} for X of shape {xs:?}")));
    }
    let spatial = &xs[2..];
    let points: usize = gs[1..=r].iter().product();
    let (batch, channels) = (xs[0], xs[1]);
    let mut out_shape = vec![batch, channels];
    out_shape.extend(&gs[1..=r]);
    let total = batch * channels * points;
    if total > 0 && spatial.contains(&0) {
        return Err(args.invalid("X has an empty spatial axis"));
    }
    let pixels: usize = spatial.iter().product();
    // The coordinates of every grid point, in the grid's compute type.
    let coords: Vec<f64> = with_real!(grid.dtype(), G => {
        let g = grid.to_real::<G>()?;
        let mut c = Vec::with_capacity(g.len());
        for chunk in g.chunks(r.max(1)) {
            for a in 0..r {
                c.push(s.denormalize(chunk[r - 1 - a], spatial[a]));
            }
        }
        Ok::<_, BackendError>(c)
    })?;
    if interp == Interp::Nearest {
        let mut index = Vec::with_capacity(total);
        for n in 0..batch {
            for c in 0..channels {
                for p in 0..points {
                    let at = &coords[(n * points + p) * r..(n * points + p + 1) * r];
                    let mut flat = Some(0usize);
                    for a in 0..r {
                        flat = match (flat, s.nearest(at[a], spatial[a])) {
                            (Some(f), Some(i)) => Some(f * spatial[a] + i),
                            _ => None,
                        };
                    }
                    index.push(flat.map(|f| (n * channels + c) * pixels + f));
                }
            }
        }
        return Tensor::new(out_shape, x.data.gather_or_zero(&index));
    }
    with_real!(x.dtype(), T => {
        let v = x.to_real::<T>()?;
        let mut y = Vec::with_capacity(total);
        let mut per_point: Vec<Vec<(Option<usize>, T)>> = Vec::with_capacity(points * batch);
        // The tensor product of the taps of each point, shared by channels.
        for np in 0..batch * points {
            let at = &coords[np * r..(np + 1) * r];
            let axes: Vec<Vec<(Option<usize>, f64)>> =
                (0..r).map(|a| s.taps(at[a], spatial[a])).collect();
            let mut product: Vec<(Option<usize>, f64)> = vec![(Some(0), 1.0)];
            for (a, taps) in axes.iter().enumerate() {
                let mut next = Vec::with_capacity(product.len() * taps.len());
                for &(f, w) in &product {
                    for &(i, wa) in taps {
                        let flat = match (f, i) {
                            (Some(f), Some(i)) => Some(f * spatial[a] + i),
                            _ => None,
                        };
                        next.push((flat, w * wa));
                    }
                }
                product = next;
            }
            per_point.push(
                product
                    .into_iter()
                    .filter_map(|(f, w)| f.map(|f| (Some(f), T::from_f64(w))))
                    .collect(),
            );
        }
        for n in 0..batch {
            for c in 0..channels {
                let plane = &v[(n * channels + c) * pixels..(n * channels + c + 1) * pixels];
                for p in 0..points {
                    let mut acc = T::ZERO;
                    for &(f, w) in &per_point[n * points + p] {
                        if let Some(f) = f {
                            acc += w * plane[f];
                        }
                    }
                    y.push(acc);
                }
            }
        }
        Tensor::from_real(x.dtype(), out_shape, y)
    })
}

/// AffineGrid-20: base coordinates and the product with theta in the
/// compute type.
pub fn affine_grid(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let theta = args.input(0)?;
    let size = args.input(1)?.to_indices()?;
    let align = args.attrs.int("align_corners", 0)? != 0;
    let r = match theta.shape.as_slice() {
        [_, 2, 3] => 2,
        [_, 3, 4] => 3,
        s => return Err(args.invalid(format!("theta of shape {s:?}"))),
    };
    if size.len() != r + 2 || size.iter().any(|&d| d < 0) || size[0] as usize != theta.shape[0] {
        return Err(args.invalid(format!("size {size:?} for theta {:?}", theta.shape)));
    }
    let n = theta.shape[0];
    let spatial: Vec<usize> = size[2..].iter().map(|&d| d as usize).collect();
    let points: usize = spatial.iter().product();
    let mut shape = vec![n];
    shape.extend(&spatial);
    shape.push(r);
    with_real!(theta.dtype(), T => {
        let t = theta.to_real::<T>()?;
        let one = T::ONE;
        let two = one + one;
        let base = |i: usize, len: usize| -> T {
            if align {
                if len <= 1 {
                    -one
                } else {
                    -one + two * T::from_f64(i as f64) / T::from_f64((len - 1) as f64)
                }
            } else {
                -one + (two * T::from_f64(i as f64) + one) / T::from_f64(len as f64)
            }
        };
        let k = r + 1;
        let mut y = Vec::with_capacity(n * points * r);
        let mut coords = vec![one; k];
        for b in 0..n {
            for p in 0..points {
                let mut rest = p;
                // coords[0] is the innermost axis (x).
                for (c, &len) in coords.iter_mut().zip(spatial.iter().rev()) {
                    *c = base(rest % len, len);
                    rest /= len;
                }
                for i in 0..r {
                    let row = &t[(b * r + i) * k..(b * r + i + 1) * k];
                    let mut acc = T::ZERO;
                    for j in 0..k {
                        acc += row[j] * coords[j];
                    }
                    y.push(acc);
                }
            }
        }
        Tensor::from_real(theta.dtype(), shape, y)
    })
}

/// RoiAlign at `args.opset` (10: no half-pixel shift; 16 and 22:
/// coordinate_transformation_mode, half_pixel by default).
pub fn roi_align(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let rois = args.input(1)?;
    let batch = args.input(2)?.to_indices()?;
    let at = &args.attrs;
    let max = match at.string("mode", "avg")? {
        "avg" => false,
        "max" => true,
        m => return Err(args.invalid(format!("mode {m:?}"))),
    };
    let half_pixel = args.opset >= 16
        && match at.string("coordinate_transformation_mode", "half_pixel")? {
            "half_pixel" => true,
            "output_half_pixel" => false,
            m => return Err(args.invalid(format!("coordinate_transformation_mode {m:?}"))),
        };
    let oh = at.int("output_height", 1)?;
    let ow = at.int("output_width", 1)?;
    let ratio = at.int("sampling_ratio", 0)?;
    let scale = at.float("spatial_scale", 1.0)?;
    if oh < 1 || ow < 1 || ratio < 0 {
        return Err(args.invalid("output sizes must be positive, sampling_ratio >= 0"));
    }
    let (oh, ow) = (oh as usize, ow as usize);
    let xs = &x.shape;
    if xs.len() != 4 || rois.shape.len() != 2 || rois.shape[1] != 4 {
        return Err(args.invalid("X must be 4-D and rois (num_rois, 4)"));
    }
    let count = rois.shape[0];
    if batch.len() != count || batch.iter().any(|&b| b < 0 || b as usize >= xs[0]) {
        return Err(args.invalid("batch_indices must hold one index into X's batch per ROI"));
    }
    let (channels, h, w) = (xs[1], xs[2], xs[3]);
    if count > 0 && (h == 0 || w == 0) {
        return Err(args.invalid("X has an empty spatial axis"));
    }
    with_real!(x.dtype(), T => {
        let v = x.to_real::<T>()?;
        let rv = rois.to_real::<T>()?;
        let mut y = Vec::with_capacity(count * channels * oh * ow);
        let offset = T::from_f64(if half_pixel { 0.5 } else { 0.0 });
        let sc = T::from_f64(scale);
        let one = T::ONE;
        let half = T::from_f64(0.5);
        for r in 0..count {
            let roi = &rv[r * 4..r * 4 + 4];
            let start_w = roi[0] * sc - offset;
            let start_h = roi[1] * sc - offset;
            let mut rw = roi[2] * sc - offset - start_w;
            let mut rh = roi[3] * sc - offset - start_h;
            if !half_pixel {
                if rw < one {
                    rw = one;
                }
                if rh < one {
                    rh = one;
                }
            }
            let bin_h = rh / T::from_f64(oh as f64);
            let bin_w = rw / T::from_f64(ow as f64);
            let grid = |extent: T, bins: usize| -> i64 {
                if ratio > 0 {
                    ratio
                } else {
                    (extent / T::from_f64(bins as f64)).to_f64().ceil() as i64
                }
            };
            let (gh, gw) = (grid(rh, oh), grid(rw, ow));
            let divisor = T::from_f64((gh * gw).max(1) as f64);
            // Per bin: the corners (pixel, weight) of every sample, or
            // None for a sample cut off.
            let mut bins: Vec<Vec<Corners<T>>> = Vec::with_capacity(oh * ow);
            for ph in 0..oh {
                for pw in 0..ow {
                    let mut samples = Vec::new();
                    for iy in 0..gh.max(0) {
                        let yy = start_h
                            + T::from_f64(ph as f64) * bin_h
                            + (T::from_f64(iy as f64) + half) * bin_h / T::from_f64(gh as f64);
                        for ix in 0..gw.max(0) {
                            let xx = start_w
                                + T::from_f64(pw as f64) * bin_w
                                + (T::from_f64(ix as f64) + half) * bin_w
                                    / T::from_f64(gw as f64);
                            samples.push(corners::<T>(yy, xx, h, w));
                        }
                    }
                    if gh <= 0 || gw <= 0 {
                        samples.clear();
                    }
                    bins.push(samples);
                }
            }
            let b = batch[r] as usize;
            for c in 0..channels {
                let plane = &v[(b * channels + c) * h * w..(b * channels + c + 1) * h * w];
                for samples in &bins {
                    if max {
                        let mut best: Option<T> = None;
                        for s in samples {
                            let top = match s {
                                None => T::ZERO,
                                Some(cs) => {
                                    let mut m = cs[0].1 * plane[cs[0].0];
                                    for &(p, wt) in &cs[1..] {
                                        let t = wt * plane[p];
                                        if t > m {
                                            m = t;
                                        }
                                    }
                                    m
                                }
                            };
                            best = Some(match best {
                                Some(b) if b >= top => b,
                                _ => top,
                            });
                        }
                        y.push(best.unwrap_or(T::ZERO));
                    } else {
                        let mut acc = T::ZERO;
                        for cs in samples.iter().flatten() {
                            for &(p, wt) in cs {
                                acc += wt * plane[p];
                            }
                        }
                        y.push(acc / divisor);
                    }
                }
            }
        }
        Tensor::from_real(x.dtype(), vec![count, channels, oh, ow], y)
    })
}

/// A sample's four bilinear corners (pixel, weight), or `None` for a
/// sample cut off.
type Corners<T> = Option<[(usize, T); 4]>;

/// The bilinear corners of the sample (y, x), per the ONNX reference.
fn corners<T: Real>(y: T, x: T, h: usize, w: usize) -> Corners<T> {
    let (fy, fx) = (y.to_f64(), x.to_f64());
    if fy < -1.0 || fy > h as f64 || fx < -1.0 || fx > w as f64 {
        return None;
    }
    let (mut y, mut x) = (
        if fy < 0.0 { T::ZERO } else { y },
        if fx < 0.0 { T::ZERO } else { x },
    );
    let mut y0 = y.to_f64().floor() as usize;
    let mut x0 = x.to_f64().floor() as usize;
    let y1 = if y0 >= h - 1 {
        y0 = h - 1;
        y = T::from_f64(y0 as f64);
        y0
    } else {
        y0 + 1
    };
    let x1 = if x0 >= w - 1 {
        x0 = w - 1;
        x = T::from_f64(x0 as f64);
        x0
    } else {
        x0 + 1
    };
    let ly = y - T::from_f64(y0 as f64);
    let lx = x - T::from_f64(x0 as f64);
    let (hy, hx) = (T::ONE - ly, T::ONE - lx);
    Some([
        (y0 * w + x0, hy * hx),
        (y0 * w + x1, hy * lx),
        (y1 * w + x0, ly * hx),
        (y1 * w + x1, ly * lx),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::AttrValue;

    #[test]
    fn grid_sample_bilinear_reads_the_centre_of_four_pixels() {
        // 2 x 2 image, align_corners 1: grid (0, 0) is the centre, the
        // mean of the four pixels.
        let x = Tensor::f32(&[1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let g = Tensor::f32(&[1, 1, 1, 2], vec![0.0, 0.0]).unwrap();
        let y = run1(
            "GridSample",
            &[("align_corners", AttrValue::Int(1))],
            vec![Some(x), Some(g)],
        )
        .unwrap();
        assert_eq!(y.data, Data::F32(vec![2.5]));
    }

    #[test]
    fn roi_align_avg_of_a_constant_image_is_the_constant() {
        let x = Tensor::f32(&[1, 1, 4, 4], vec![3.0; 16]).unwrap();
        let rois = Tensor::f32(&[1, 4], vec![0.5, 0.5, 2.5, 2.5]).unwrap();
        let b = Tensor::new(vec![1], Data::I64(vec![0])).unwrap();
        let y = run1(
            "RoiAlign",
            &[("output_height", AttrValue::Int(2))],
            vec![Some(x), Some(rois), Some(b)],
        )
        .unwrap();
        assert_eq!(y.data, Data::F32(vec![3.0, 3.0]));
    }
}

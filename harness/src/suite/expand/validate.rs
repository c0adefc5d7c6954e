//! A case's operands checked against its operator's specification: arity,
//! attributes, inputs, shapes and value distributions, each error at its
//! place in the file.

use std::collections::BTreeSet;

use serde_saphyr::{Location, Spanned};

use super::{Binding, FileCtx, MAX_ELEMENTS, SweepValue, hint};
use crate::numerics::{DType, round_to};
use crate::ops::{Arity, AttrType, AttrValue, Attributes, OpSpec};
use crate::suite::error::SuiteError;
use crate::suite::schema::{OrderedMap, RawInput, RawTensor, RawValue};
use crate::suite::{Distribution, InputSpec, Source, SpecialValue, TensorSpec};

impl FileCtx<'_> {
    pub(super) fn check_arity(
        &self,
        op: &OpSpec,
        inputs: &Spanned<Vec<Spanned<RawInput>>>,
    ) -> Result<(), SuiteError> {
        let n = inputs.value.len();
        match op.arity {
            Arity::Fixed { required, optional } => {
                if n < required || n > required + optional {
                    let want = if optional == 0 {
                        format!("{required}")
                    } else {
                        format!("{required} to {}", required + optional)
                    };
                    return Err(self.err(
                        inputs.referenced,
                        format!(
                            "`{}` takes {want} inputs ({}), got {n}",
                            op.name,
                            op.input_names.join(", ")
                        ),
                    ));
                }
                for (i, inp) in inputs.value.iter().enumerate().take(required) {
                    if matches!(inp.value, RawInput::Absent) {
                        return Err(self.err(
                            inp.referenced,
                            format!(
                                "input {i} (`{}`) of `{}` is required and cannot be absent",
                                op.input_names[i], op.name
                            ),
                        ));
                    }
                }
            }
            Arity::Variadic => {
                if n == 0 {
                    return Err(self.err(
                        inputs.referenced,
                        format!("`{}` takes at least one input", op.name),
                    ));
                }
                if let Some(inp) = inputs
                    .value
                    .iter()
                    .find(|i| matches!(i.value, RawInput::Absent))
                {
                    return Err(self.err(
                        inp.referenced,
                        format!("the inputs of `{}` cannot be absent", op.name),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) fn attributes(
        &self,
        op: &OpSpec,
        raw: Option<&OrderedMap<RawValue>>,
        binding: &Binding<'_>,
        used: &mut BTreeSet<String>,
    ) -> Result<Attributes, SuiteError> {
        let mut out = Attributes::new();
        let Some(raw) = raw else { return Ok(out) };
        for (k, v) in &raw.0 {
            let Some(&(name, ty)) = op.attributes.iter().find(|(n, _)| *n == k.value) else {
                let known: Vec<&str> = op.attributes.iter().map(|(n, _)| *n).collect();
                return Err(self.err(
                    k.referenced,
                    format!(
                        "`{}` has no attribute `{}`{}",
                        op.name,
                        k.value,
                        hint(&k.value, &known)
                    ),
                ));
            };
            let value = self.attr_value(op, name, ty, v, binding, used)?;
            out.insert(name.to_string(), value);
        }
        Ok(out)
    }

    pub(super) fn attr_value(
        &self,
        op: &OpSpec,
        name: &str,
        ty: AttrType,
        v: &Spanned<RawValue>,
        binding: &Binding<'_>,
        used: &mut BTreeSet<String>,
    ) -> Result<AttrValue, SuiteError> {
        let what = match ty {
            AttrType::Int => "an int",
            AttrType::Float => "a float",
            AttrType::String => "a string",
            AttrType::Ints => "a list of ints",
            AttrType::Floats => "a list of floats",
            AttrType::Tensor => "a tensor `{dtype, shape, values}`",
        };
        let wrong = |got: String| {
            let tip = if got.starts_with("the boolean") {
                " (write 1 or 0)"
            } else {
                ""
            };
            self.err(
                v.referenced,
                format!(
                    "attribute `{name}` of `{}` is {what}, got {got}{tip}",
                    op.name
                ),
            )
        };
        if ty == AttrType::Tensor {
            return match &v.value {
                RawValue::Map(m) => self.tensor_attr(m, v.referenced),
                other => Err(wrong(other.describe())),
            };
        }
        // Sweep variables stand for numbers and int lists, never for strings.
        let resolved = match (&v.value, ty) {
            (RawValue::Str(s), AttrType::String) => return Ok(AttrValue::String(s.clone())),
            (RawValue::Str(s), _) => Some(self.var(s, v.referenced, binding, used)?.clone()),
            _ => None,
        };
        let scalar_int = |r: &RawValue| match r {
            RawValue::Int(i) => Some(*i),
            _ => None,
        };
        let scalar_num = |r: &RawValue| match r {
            RawValue::Int(i) => Some(*i as f64),
            RawValue::Float(f) => Some(*f),
            _ => None,
        };
        match (ty, resolved) {
            (AttrType::Int, Some(SweepValue::Int(i))) => Ok(AttrValue::Int(i)),
            (AttrType::Float, Some(SweepValue::Int(i))) => Ok(AttrValue::Float(i as f64)),
            (AttrType::Float, Some(SweepValue::Float(f))) => Ok(AttrValue::Float(f)),
            (AttrType::Ints, Some(SweepValue::Ints(l))) => Ok(AttrValue::Ints(l)),
            (AttrType::Floats, Some(SweepValue::Ints(l))) => {
                Ok(AttrValue::Floats(l.into_iter().map(|x| x as f64).collect()))
            }
            (_, Some(other)) => Err(wrong(format!("sweep value {}", other.id_text()))),
            (AttrType::Int, None) => scalar_int(&v.value)
                .map(AttrValue::Int)
                .ok_or_else(|| wrong(v.value.describe())),
            (AttrType::Float, None) => scalar_num(&v.value)
                .map(AttrValue::Float)
                .ok_or_else(|| wrong(v.value.describe())),
            (AttrType::Ints | AttrType::Floats, None) => {
                let RawValue::List(items) = &v.value else {
                    return Err(wrong(v.value.describe()));
                };
                let mut ints = Vec::new();
                let mut floats = Vec::new();
                for it in items {
                    let x = match &it.value {
                        RawValue::Str(s) => match self.var(s, it.referenced, binding, used)? {
                            SweepValue::Int(i) => RawValue::Int(*i),
                            SweepValue::Float(f) => RawValue::Float(*f),
                            SweepValue::Ints(_) => {
                                return Err(self.err(
                                    it.referenced,
                                    format!("sweep variable `{s}` is a list"),
                                ));
                            }
                        },
                        other => other.clone(),
                    };
                    let elem_err = || {
                        self.err(
                            it.referenced,
                            format!(
                                "attribute `{name}` of `{}` is {what}, got {}",
                                op.name,
                                x.describe()
                            ),
                        )
                    };
                    if ty == AttrType::Ints {
                        ints.push(scalar_int(&x).ok_or_else(elem_err)?);
                    } else {
                        floats.push(scalar_num(&x).ok_or_else(elem_err)?);
                    }
                }
                Ok(if ty == AttrType::Ints {
                    AttrValue::Ints(ints)
                } else {
                    AttrValue::Floats(floats)
                })
            }
            (AttrType::String | AttrType::Tensor, None) => Err(wrong(v.value.describe())),
        }
    }

    /// A tensor attribute's literal: `dtype` (required), `values` (required,
    /// numbers, `.nan`/`.inf`, `true`/`false`), `shape` (default: 1-D of the
    /// values' count). No sweep variables: a tensor is one literal.
    fn tensor_attr(
        &self,
        m: &[(Spanned<String>, Spanned<RawValue>)],
        at: Location,
    ) -> Result<AttrValue, SuiteError> {
        let (mut dtype, mut shape, mut values) = (None, None, None);
        for (k, v) in m {
            match k.value.as_str() {
                "dtype" => match &v.value {
                    RawValue::Str(s) => {
                        let name = Spanned {
                            value: s.clone(),
                            referenced: v.referenced,
                            defined: v.defined,
                        };
                        dtype = Some(self.dtype(&name)?);
                    }
                    other => {
                        return Err(self.err(
                            v.referenced,
                            format!("a tensor's dtype is a name, got {}", other.describe()),
                        ));
                    }
                },
                "shape" | "values" => {
                    let RawValue::List(items) = &v.value else {
                        return Err(self.err(
                            v.referenced,
                            format!(
                                "a tensor's {} is a list, got {}",
                                k.value,
                                v.value.describe()
                            ),
                        ));
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for it in items {
                        let x = match (&it.value, k.value.as_str()) {
                            (RawValue::Int(i), "shape") if *i >= 0 => *i as f64,
                            (RawValue::Int(i), "values") => *i as f64,
                            (RawValue::Float(f), "values") => *f,
                            (RawValue::Bool(b), "values") => f64::from(u8::from(*b)),
                            (other, what) => {
                                let want = if what == "shape" {
                                    "integers >= 0"
                                } else {
                                    "numbers"
                                };
                                return Err(self.err(
                                    it.referenced,
                                    format!(
                                        "a tensor's {what} holds {want}, got {}",
                                        other.describe()
                                    ),
                                ));
                            }
                        };
                        out.push(x);
                    }
                    if k.value == "shape" {
                        shape = Some(out.into_iter().map(|x| x as usize).collect::<Vec<_>>());
                    } else {
                        values = Some((out, v.referenced));
                    }
                }
                other => {
                    return Err(self.err(
                        k.referenced,
                        format!(
                            "unknown key `{other}` in a tensor attribute (it has dtype, shape, values)"
                        ),
                    ));
                }
            }
        }
        let dtype = dtype.ok_or_else(|| self.err(at, "a tensor attribute needs `dtype`"))?;
        let (values, vat) =
            values.ok_or_else(|| self.err(at, "a tensor attribute needs `values`"))?;
        let shape = shape.unwrap_or_else(|| vec![values.len()]);
        crate::ops::attr_tensor::from_values(dtype, &shape, &values)
            .map(AttrValue::Tensor)
            .map_err(|e| self.err(vat, e))
    }

    pub(super) fn input(
        &self,
        op: &OpSpec,
        index: usize,
        inp: &Spanned<RawInput>,
        case_dtype: DType,
        binding: &Binding<'_>,
        used: &mut BTreeSet<String>,
    ) -> Result<InputSpec, SuiteError> {
        let t: &RawTensor = match &inp.value {
            RawInput::Absent => return Ok(InputSpec::Absent),
            RawInput::Tensor(t) => t,
        };
        let dtype = match &t.dtype {
            Some(d) => self.dtype(d)?,
            None => case_dtype,
        };
        let mut shape = match &t.shape {
            Some(s) => Some(self.shape(s, binding, used)?),
            None => None,
        };
        let source = match (&t.values, &t.dist) {
            (Some(_), Some(d)) => {
                return Err(self.err(d.referenced, "give either `values` or `dist`, not both"));
            }
            (Some(vals), None) => {
                let mut out = Vec::new();
                for v in &vals.value {
                    let x = match &v.value {
                        RawValue::Int(i) if !exact_in_f64(*i) => {
                            return Err(self.err(v.referenced, inexact_int(*i)));
                        }
                        RawValue::Int(i) => *i as f64,
                        RawValue::Float(f) => *f,
                        RawValue::Bool(b) if dtype == DType::Bool => f64::from(u8::from(*b)),
                        RawValue::Str(s) => match self.var(s, v.referenced, binding, used)? {
                            SweepValue::Int(i) => *i as f64,
                            SweepValue::Float(f) => *f,
                            SweepValue::Ints(_) => {
                                return Err(self.err(
                                    v.referenced,
                                    format!("sweep variable `{s}` is a list, not a value"),
                                ));
                            }
                        },
                        other => {
                            return Err(self.err(
                                v.referenced,
                                format!("values are numbers, got {}", other.describe()),
                            ));
                        }
                    };
                    let exact = x.is_finite() && round_to(dtype, x) == x;
                    if !dtype.is_float() && !exact {
                        return Err(
                            self.err(v.referenced, format!("{x} is not a value of dtype {dtype}"))
                        );
                    }
                    out.push(x);
                }
                match &shape {
                    Some(s) if s.iter().product::<usize>() != out.len() => {
                        return Err(self.err(
                            vals.referenced,
                            format!(
                                "{} values for shape {s:?} ({} elements)",
                                out.len(),
                                s.iter().product::<usize>()
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => shape = Some(vec![out.len()]),
                }
                Source::Values(out)
            }
            (None, d) => {
                let dist = match d {
                    Some(d) => {
                        self.check_dist(d.referenced, &d.value, dtype)?;
                        d.value.clone()
                    }
                    None => default_dist(dtype),
                };
                Source::Dist(dist)
            }
        };
        let Some(shape) = shape else {
            return Err(self.err(
                inp.referenced,
                format!(
                    "input {index} (`{}`) needs a `shape` or `values`",
                    input_name(op, index)
                ),
            ));
        };
        Ok(InputSpec::Tensor(TensorSpec {
            dtype,
            shape,
            source,
            layout: t.layout.unwrap_or_default(),
        }))
    }

    pub(super) fn shape(
        &self,
        s: &Spanned<RawValue>,
        binding: &Binding<'_>,
        used: &mut BTreeSet<String>,
    ) -> Result<Vec<usize>, SuiteError> {
        let dim = |v: i64, loc: Location| {
            usize::try_from(v).map_err(|_| self.err(loc, format!("negative dimension {v}")))
        };
        let out = match &s.value {
            RawValue::List(items) => {
                let mut out = Vec::new();
                for it in items {
                    out.push(match &it.value {
                        RawValue::Int(i) => dim(*i, it.referenced)?,
                        RawValue::Str(name) => match self.var(name, it.referenced, binding, used)? {
                            SweepValue::Int(i) => dim(*i, it.referenced)?,
                            SweepValue::Ints(l) => {
                                return Err(self.err(
                                    it.referenced,
                                    format!(
                                        "sweep variable `{name}` is a whole shape ({l:?}), not one dimension; write `shape: {name}`"
                                    ),
                                ));
                            }
                            SweepValue::Float(f) => {
                                return Err(self.err(it.referenced, format!("dimension `{name}` is the float {f}")));
                            }
                        },
                        other => {
                            return Err(self.err(
                                it.referenced,
                                format!("a dimension is an integer or a sweep variable, got {}", other.describe()),
                            ));
                        }
                    });
                }
                out
            }
            RawValue::Str(name) => match self.var(name, s.referenced, binding, used)? {
                SweepValue::Ints(l) => {
                    let mut out = Vec::new();
                    for &d in l {
                        out.push(dim(d, s.referenced)?);
                    }
                    out
                }
                _ => {
                    return Err(self.err(
                        s.referenced,
                        format!("sweep variable `{name}` is one dimension, not a shape; write `shape: [{name}]`"),
                    ));
                }
            },
            other => {
                return Err(self.err(
                    s.referenced,
                    format!(
                        "a shape is a list such as [2, 3] ([] for a scalar), got {}",
                        other.describe()
                    ),
                ));
            }
        };
        let numel = out.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if numel.is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(self.err(
                s.referenced,
                format!("shape {out:?} has more than {MAX_ELEMENTS} elements"),
            ));
        }
        Ok(out)
    }

    pub(super) fn check_dist(
        &self,
        loc: Location,
        d: &Distribution,
        dtype: DType,
    ) -> Result<(), SuiteError> {
        let bad = |msg: String| Err(self.err(loc, msg));
        let float_only = |name: &str| {
            if dtype.is_float() {
                Ok(())
            } else {
                bad(format!(
                    "`{name}` makes fractional or special values; input dtype {dtype} needs `int`, `bernoulli` or `values`"
                ))
            }
        };
        match d {
            Distribution::Uniform { low, high } => {
                float_only("uniform")?;
                if !(low.is_finite() && high.is_finite() && low < high) {
                    return bad(format!(
                        "uniform needs finite low < high, got [{low}, {high})"
                    ));
                }
            }
            Distribution::Normal { mean, std } => {
                float_only("normal")?;
                if !(mean.is_finite() && std.is_finite() && *std >= 0.0) {
                    return bad(format!(
                        "normal needs a finite mean and std >= 0, got mean {mean} std {std}"
                    ));
                }
            }
            Distribution::Int { low, high } => {
                if low > high {
                    return bad(format!("int needs low <= high, got [{low}, {high}]"));
                }
                if let Some(&v) = [low, high].into_iter().find(|v| !exact_in_f64(**v)) {
                    return bad(inexact_int(v));
                }
                for v in [*low, *high] {
                    if round_to(dtype, v as f64) != v as f64 {
                        return bad(format!(
                            "int bound {v} is not exactly representable in {dtype}"
                        ));
                    }
                }
            }
            Distribution::Bernoulli { p } => {
                if !(0.0..=1.0).contains(p) {
                    return bad(format!("bernoulli needs 0 <= p <= 1, got {p}"));
                }
            }
            Distribution::Arange { start, step } => {
                if !dtype.is_float() && (start.fract() != 0.0 || step.fract() != 0.0) {
                    return bad(format!("arange for {dtype} needs integer start and step"));
                }
            }
            Distribution::Special {
                fraction,
                values,
                base,
            } => {
                float_only("special")?;
                if !(0.0..=1.0).contains(fraction) {
                    return bad(format!("special needs 0 <= fraction <= 1, got {fraction}"));
                }
                if values.is_empty() {
                    return bad("special needs at least one value".to_string());
                }
                if dtype == DType::F8E4M3FN
                    && values
                        .iter()
                        .any(|v| matches!(v, SpecialValue::Inf | SpecialValue::NegInf))
                {
                    return bad("f8e4m3fn has no infinities".to_string());
                }
                self.check_dist(loc, base, dtype)?;
            }
        }
        Ok(())
    }
}

/// Whether the integer `i` survives the harness's f64 representation
/// (every value is carried as f64 to the oracle).
pub(super) fn exact_in_f64(i: i64) -> bool {
    i128::from(i) == (i as f64) as i128
}

pub(super) fn inexact_int(i: i64) -> String {
    format!(
        "{i} cannot be carried exactly: xpucert computes in f64, which holds every integer up to 2^53 in magnitude (beyond that, only some)"
    )
}

pub(super) fn input_name(op: &OpSpec, i: usize) -> &'static str {
    op.input_names
        .get(i)
        .or(op.input_names.last())
        .copied()
        .unwrap_or("input")
}

/// The default values of an input of `dtype`: small signed or unsigned
/// integers, fair coin flips for bool, uniform [-1, 1) for floats.
pub(super) fn default_dist(dtype: DType) -> Distribution {
    match dtype {
        DType::Bool => Distribution::Bernoulli { p: 0.5 },
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => Distribution::Int { low: 0, high: 15 },
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => Distribution::Int { low: -8, high: 8 },
        _ => Distribution::default(),
    }
}

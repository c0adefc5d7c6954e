//! `generate: pairwise` entries: the op's declared case space
//! (`ops::cases`), covered pairwise, expanded into ordinary [`Case`]s with
//! ids built from the class names, seeds derived like every other case's,
//! and the checks a hand-written case gets (attributes by the op's spec,
//! arity, distributions, literal values, size, and the op's rules at load).

use serde_saphyr::Spanned;

use super::validate::default_dist;
use super::{FileCtx, MAX_ELEMENTS, case_seed};
use crate::numerics::{DType, round_to};
use crate::ops::cases::{self, DTYPE, Fill, GenCase, Storage};
use crate::ops::{Arity, Op, OpDef};
use crate::perf::ThroughputSpec;
use crate::suite::error::{SuiteError, location_string};
use crate::suite::schema::{RawCase, Strength};
use crate::suite::{Case, Distribution, InputSpec, Layout, Source, TensorSpec};

impl FileCtx<'_> {
    pub(super) fn generated(
        &self,
        rc: &Spanned<RawCase>,
        strength: &Spanned<Strength>,
        op: Op,
        def: &OpDef,
        timeout: Option<f64>,
        throughput: Option<ThroughputSpec>,
    ) -> Result<Vec<Case>, SuiteError> {
        let c = &rc.value;
        // A case space builds calls by the newest version's spec; an older
        // version's attributes and inputs differ, so its cases are written
        // by hand (or converted from ONNX's node tests).
        if def.spec.opset != op.opset {
            return Err(self.err(
                c.opset.as_ref().map_or(rc.referenced, |o| o.referenced),
                format!(
                    "`{op}`'s case space generates calls of {op}-{}; write cases of {op}-{} by hand",
                    op.opset, def.spec.opset
                ),
            ));
        }
        let refuse = |what: &str| {
            self.err(
                rc.referenced,
                format!(
                    "a `generate:` entry takes no `{what}`: the op's case space gives its cases"
                ),
            )
        };
        if c.inputs.is_some() {
            return Err(refuse("inputs"));
        }
        if c.attributes.is_some() {
            return Err(refuse("attributes"));
        }
        if c.sweep.is_some() {
            return Err(refuse("sweep"));
        }
        if c.check.is_some() {
            return Err(refuse("check"));
        }
        let Strength::Pairwise = strength.value;
        let space = cases::space(op).ok_or_else(|| {
            self.err(
                strength.referenced,
                format!("`{op}` declares no case space to generate from"),
            )
        })?;
        let declared: Vec<&str> = space
            .factors
            .iter()
            .find(|f| f.name == DTYPE)
            .map(|f| f.levels.clone())
            .unwrap_or_default();
        // The file's default `dtypes:` does not narrow a generated entry:
        // its dtypes are the op's, unless the entry lists some.
        let wanted: Vec<DType> = match &c.dtypes {
            None => Vec::new(),
            Some(list) => {
                let mut out = Vec::new();
                for d in &list.value {
                    let dt = self.dtype(d)?;
                    if !declared.contains(&dt.name()) {
                        return Err(self.err(
                            d.referenced,
                            format!(
                                "`{op}` generates no {dt} cases; its dtypes are {}",
                                declared.join(", ")
                            ),
                        ));
                    }
                    out.push(dt);
                }
                out
            }
        };
        let keep = |factor: &str, level: &str| {
            factor != DTYPE || wanted.is_empty() || wanted.iter().any(|d| d.name() == level)
        };
        // Every id below starts with this; when no wanted glob can match
        // it, the covering (the costly part) is not computed.
        let id_start = format!("{}.{}.", self.suite, op.name.to_lowercase());
        if !self.select.is_empty()
            && !self
                .select
                .iter()
                .any(|g| crate::run::glob_may_match_prefix(g, &id_start))
        {
            self.skipped.set(true);
            return Ok(Vec::new());
        }
        let covering = cases::pairwise(op, &space, &keep);
        if covering.cases.len() > super::MAX_CASES.saturating_sub(self.expanded.get()) {
            return Err(self.err(
                strength.referenced,
                format!("this entry takes the suite past {} cases", super::MAX_CASES),
            ));
        }
        let prefix = c.name.as_ref().map(|n| format!("{}.", n.value));
        let location = location_string(self.path, rc.referenced);
        let mut out = Vec::new();
        for (name, dtype, call) in covering.cases {
            let id = format!(
                "{}.{}.{}.{}{}",
                self.suite,
                op.name.to_lowercase(),
                dtype.name(),
                prefix.as_deref().unwrap_or(""),
                name
            );
            let inputs = self.generated_inputs(rc, op, &id, &call)?;
            let mut case = Case {
                seed: case_seed(self.seed, &id),
                id,
                op,
                opset: op.opset,
                dtype,
                attributes: call.attributes,
                inputs,
                check: None,
                timeout,
                throughput,
                location: location.clone(),
                expected: Vec::new(),
                outputs: None,
                memory: 0,
            };
            self.judge(rc.referenced, &mut case)?;
            out.push(case);
        }
        Ok(out)
    }

    /// A generated call's inputs, judged as a hand-written case's would be.
    fn generated_inputs(
        &self,
        rc: &Spanned<RawCase>,
        op: Op,
        id: &str,
        call: &GenCase,
    ) -> Result<Vec<InputSpec>, SuiteError> {
        let bad = |msg: String| self.err(rc.referenced, format!("generated case `{id}`: {msg}"));
        for (name, value) in &call.attributes {
            match op.attributes.iter().find(|(n, _)| n == name) {
                Some((_, ty)) if *ty == value.attr_type() => {}
                _ => {
                    return Err(bad(format!(
                        "`{op}` has no attribute `{name}` of that type"
                    )));
                }
            }
        }
        let n = call.inputs.len();
        let arity_ok = match op.arity {
            Arity::Fixed { required, optional } => {
                (required..=required + optional).contains(&n)
                    && call.inputs[..required].iter().all(Option::is_some)
            }
            Arity::Variadic => n > 0 && call.inputs.iter().all(Option::is_some),
        };
        if !arity_ok {
            return Err(bad(format!("{n} inputs do not fit `{op}`")));
        }
        let mut specs = Vec::new();
        for input in &call.inputs {
            let Some(t) = input else {
                specs.push(InputSpec::Absent);
                continue;
            };
            let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if numel.is_none_or(|n| n > MAX_ELEMENTS) {
                return Err(bad(format!("shape {:?} is too large", t.shape)));
            }
            let source = match &t.fill {
                Fill::Values(v) => {
                    if v.len() != t.shape.iter().product::<usize>() {
                        return Err(bad(format!("{} values for shape {:?}", v.len(), t.shape)));
                    }
                    if !t.dtype.is_float()
                        && let Some(x) = v.iter().find(|&&x| round_to(t.dtype, x) != x)
                    {
                        return Err(bad(format!("{x} is not a value of dtype {}", t.dtype)));
                    }
                    Source::Values(v.clone())
                }
                fill => {
                    let dist = distribution(fill, t.dtype);
                    self.check_dist(rc.referenced, &dist, t.dtype)?;
                    Source::Dist(dist)
                }
            };
            specs.push(InputSpec::Tensor(TensorSpec {
                dtype: t.dtype,
                shape: t.shape.clone(),
                source,
                layout: layout(t.storage),
            }));
        }
        Ok(specs)
    }
}

/// The suite distribution of a generated fill (not `Values`).
fn distribution(fill: &Fill, dtype: DType) -> Distribution {
    match *fill {
        Fill::Default | Fill::Values(_) => default_dist(dtype),
        Fill::Uniform(low, high) => Distribution::Uniform { low, high },
        Fill::Normal(std) => Distribution::Normal { mean: 0.0, std },
        Fill::Int(low, high) => Distribution::Int { low, high },
        Fill::Bernoulli(p) => Distribution::Bernoulli { p },
    }
}

/// The suite layout of a generated storage (the same four, by name).
fn layout(s: Storage) -> Layout {
    match s {
        Storage::Contiguous => Layout::Contiguous,
        Storage::Transposed => Layout::Transposed,
        Storage::Padded => Layout::Padded,
        Storage::Strided => Layout::Strided,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::cases::LAYOUTS;
    use crate::suite::parse_str;

    fn load(entry: &str) -> Result<crate::suite::Suite, SuiteError> {
        parse_str(
            "g.yaml",
            &format!("suite: g\nseed: 7\ncases:\n  - {entry}\n"),
        )
    }

    #[test]
    fn a_generate_entry_expands_into_the_ops_covering_with_class_ids() {
        let s = load("{op: Softmax, generate: pairwise}").unwrap();
        let space = cases::space(Op::Softmax).unwrap();
        let covering = cases::pairwise(Op::Softmax, &space, &|_, _| true);
        assert_eq!(s.cases.len(), covering.cases.len());
        for (case, (name, dtype, call)) in s.cases.iter().zip(&covering.cases) {
            assert_eq!(case.id, format!("g.softmax.{dtype}.{name}"));
            assert_eq!(case.seed, case_seed(7, &case.id));
            assert_eq!(case.attributes, call.attributes);
            assert_eq!(case.check, None);
            assert!(case.location.starts_with("g.yaml:4:"), "{}", case.location);
        }
        // Every dtype the op declares, whatever the file's default.
        let dtypes: std::collections::BTreeSet<DType> = s.cases.iter().map(|c| c.dtype).collect();
        assert_eq!(dtypes.len(), 4);
        // A padded case stores its input padded.
        let padded = s.cases.iter().find(|c| c.id.ends_with("_padded")).unwrap();
        let InputSpec::Tensor(t) = &padded.inputs[0] else {
            panic!("Softmax's input is a tensor")
        };
        assert_eq!(t.layout, Layout::Padded);
    }

    #[test]
    fn dtypes_narrow_and_a_name_prefixes() {
        let s = load("{op: ReduceSum, generate: pairwise, dtypes: [f16], name: half}").unwrap();
        assert!(s.cases.iter().all(|c| c.dtype == DType::F16));
        assert!(
            s.cases
                .iter()
                .all(|c| c.id.starts_with("g.reducesum.f16.half.")),
            "{}",
            s.cases[0].id
        );
        assert!(s.cases.iter().any(|c| c.id.contains("w4096")));
    }

    #[test]
    fn mistakes_in_a_generate_entry_are_located_errors() {
        let e = load("{op: Softmax, generate: pairwise, dtypes: [i64]}").unwrap_err();
        assert!(
            e.message.contains("generates no i64 cases"),
            "{}",
            e.message
        );
        assert_eq!(e.position.map(|p| p.0), Some(4));
        let e = load("{op: Softmax, generate: pairwise, inputs: [{shape: [2]}]}").unwrap_err();
        assert!(e.message.contains("takes no `inputs`"), "{}", e.message);
        let e = load("{op: Softmax, generate: triplewise}").unwrap_err();
        assert!(e.message.contains("triplewise"), "{}", e.message);
        let e = load("{op: Softmax, dtypes: [f32]}").unwrap_err();
        assert!(
            e.message.contains("needs `name` and `inputs`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn every_layout_level_is_the_suite_layout_of_that_name() {
        for level in LAYOUTS {
            let l = layout(Storage::from_level(level));
            let yaml = serde_json::to_string(&l).unwrap();
            assert_eq!(yaml, format!("\"{level}\""));
        }
    }
}

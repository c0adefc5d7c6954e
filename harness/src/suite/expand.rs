//! From parsed files to cases: includes, semantic checks with locations,
//! sweep and dtype expansion, stable ids and seeds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};

use super::error::{SuiteError, location_string};
use super::schema::{OrderedMap, RawCase, RawInput, RawSuite, RawTensor, RawValue};
use super::{Case, Distribution, InputSpec, Source, SpecialValue, Suite, TensorSpec};
use crate::numerics::{DType, round_to};
use crate::ops::{self, Arity, AttrType, AttrValue, Attributes, Op, OpSpec};

/// Largest tensor a suite may ask for, in elements: far above any sensible
/// case, low enough that a typo (an extra zero) is an error, not an OOM.
const MAX_ELEMENTS: usize = 1 << 31;

pub(crate) fn load_suite(path: &Path) -> Result<Suite, SuiteError> {
    load_with(Loader::default(), path)
}

/// Loads a suite from `text` as if it were the file `name`; `include:` is
/// refused, as there is no directory to resolve it against.
pub(crate) fn load_text(name: &Path, text: &str) -> Result<Suite, SuiteError> {
    let ld = Loader {
        memory: Some(text.to_string()),
        ..Loader::default()
    };
    load_with(ld, name)
}

fn load_with(mut ld: Loader, path: &Path) -> Result<Suite, SuiteError> {
    let root = ld
        .load_file(path, None)?
        .expect("the root file is never already visited");
    if ld.cases.is_empty() {
        return Err(SuiteError::at(
            path,
            &root.source,
            root.name_loc,
            format!("suite `{}` has no cases (after includes)", root.name),
        ));
    }
    let sha256 = if ld.digests.len() == 1 {
        ld.digests[0].clone()
    } else {
        let mut h = Sha256::new();
        for d in &ld.digests {
            h.update(d.as_bytes());
            h.update(b"\n");
        }
        crate::digest::hex(&h.finalize())
    };
    Ok(Suite {
        name: root.name,
        description: root.description,
        path: path.to_path_buf(),
        sha256,
        files: ld.files,
        cases: ld.cases,
    })
}

/// A duplicate id found across suites, reported at the second occurrence.
pub(crate) fn duplicate_error(second: &str, id: &str, first: &str) -> SuiteError {
    let message = format!("duplicate case id `{id}`; first defined at {first}");
    // Locations are `file:line:col`; split from the right, as paths may hold ':'.
    let mut parts = second.rsplitn(3, ':');
    let (col, line, file) = (parts.next(), parts.next(), parts.next());
    match (
        file,
        line.and_then(|l| l.parse().ok()),
        col.and_then(|c| c.parse().ok()),
    ) {
        (Some(f), Some(l), Some(c)) => SuiteError {
            file: PathBuf::from(f),
            position: Some((l, c)),
            message,
            snippet: None,
        },
        _ => SuiteError::file(Path::new(second), message),
    }
}

/// What the root file contributes besides cases.
struct RootInfo {
    name: String,
    name_loc: Location,
    description: String,
    source: String,
}

#[derive(Default)]
struct Loader {
    /// Canonical paths of the files being loaded (include chain), for cycles.
    stack: Vec<PathBuf>,
    /// The same chain as the user named the files, for messages.
    shown: Vec<PathBuf>,
    visited: HashSet<PathBuf>,
    files: Vec<PathBuf>,
    digests: Vec<String>,
    cases: Vec<Case>,
    ids: HashMap<String, String>,
    /// The root file's text when it does not come from disk (`parse_str`).
    memory: Option<String>,
}

impl Loader {
    /// Loads `path` (reached through the include at `from`, if any). Returns
    /// `None` when the file was already loaded through another include.
    fn load_file(
        &mut self,
        path: &Path,
        from: Option<(&Path, &str, Location)>,
    ) -> Result<Option<RootInfo>, SuiteError> {
        let fail = |msg: String| match from {
            Some((f, src, loc)) => SuiteError::at(f, src, loc, msg),
            None => SuiteError::file(path, msg),
        };
        if let (Some(_), Some((f, src, loc))) = (&self.memory, from) {
            return Err(SuiteError::at(
                f,
                src,
                loc,
                "include: is not available in a suite parsed from text",
            ));
        }
        let read = match &self.memory {
            Some(text) => Ok(text.clone().into_bytes()),
            None => std::fs::read(path),
        };
        let bytes = read.map_err(|e| {
            fail(match from {
                Some(_) => format!("cannot read included file {}: {e}", path.display()),
                None => format!("cannot read suite: {e}"),
            })
        })?;
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(pos) = self.stack.iter().position(|p| *p == canon) {
            let chain: Vec<String> = self.shown[pos..]
                .iter()
                .chain(std::iter::once(&path.to_path_buf()))
                .map(|p| p.display().to_string())
                .collect();
            return Err(fail(format!("include cycle: {}", chain.join(" -> "))));
        }
        if !self.visited.insert(canon.clone()) {
            // Reached twice without a cycle (a diamond): its cases are in already.
            return Ok(None);
        }
        let source = String::from_utf8(bytes)
            .map_err(|e| SuiteError::file(path, format!("suite is not UTF-8: {e}")))?;
        self.files.push(canon.clone());
        self.digests
            .push(crate::digest::sha256_hex(source.as_bytes()));
        let options = serde_saphyr::options! {
            // `n`, `y`, `on`, `no` are sweep variables and names here, not booleans.
            strict_booleans: true,
            with_snippet: false,
        };
        let raw: RawSuite = serde_saphyr::from_str_with_options(&source, options)
            .map_err(|e| SuiteError::from_yaml(path, &source, &e))?;
        let ctx = FileCtx {
            path,
            src: &source,
            suite: &raw.suite.value,
            seed: raw.seed,
            timeout: raw.timeout.as_ref().map(|t| (t.value, t.referenced)),
            throughput: raw.throughput.as_ref().map(|t| (t.value, t.referenced)),
        };
        if !is_segment(&raw.suite.value) {
            return Err(ctx.err(
                raw.suite.referenced,
                format!("suite name `{}` must match [a-z0-9_]+", raw.suite.value),
            ));
        }
        self.stack.push(canon);
        self.shown.push(path.to_path_buf());
        for inc in &raw.include {
            let target = path.parent().unwrap_or(Path::new("")).join(&inc.value);
            self.load_file(&target, Some((path, &source, inc.referenced)))?;
        }
        self.stack.pop();
        self.shown.pop();
        for rc in &raw.cases {
            for case in ctx.expand_case(rc, raw.dtypes.as_ref())? {
                if let Some(first) = self.ids.get(&case.id) {
                    return Err(ctx.err(
                        rc.referenced,
                        format!("duplicate case id `{}`; first defined at {first}", case.id),
                    ));
                }
                self.ids.insert(case.id.clone(), case.location.clone());
                self.cases.push(case);
            }
        }
        Ok(Some(RootInfo {
            name: raw.suite.value.clone(),
            name_loc: raw.suite.referenced,
            description: raw.description.clone().unwrap_or_default(),
            source: source.clone(),
        }))
    }
}

/// A value a sweep variable takes.
#[derive(Debug, Clone, PartialEq)]
enum SweepValue {
    Int(i64),
    Float(f64),
    /// A whole shape or int list (`perm`).
    Ints(Vec<i64>),
}

impl SweepValue {
    /// The value's text inside a case id: `17`, `n1` for -1, `0p5` for 0.5,
    /// `2x3` for [2, 3], `scalar` for [].
    fn id_text(&self) -> String {
        let int = |v: i64| {
            if v < 0 {
                format!("n{}", v.unsigned_abs())
            } else {
                v.to_string()
            }
        };
        match self {
            SweepValue::Int(v) => int(*v),
            SweepValue::Float(v) => format!("{v}").replace('-', "n").replace('.', "p"),
            SweepValue::Ints(v) if v.is_empty() => "scalar".to_string(),
            SweepValue::Ints(v) => v.iter().map(|&x| int(x)).collect::<Vec<_>>().join("x"),
        }
    }
}

struct SweepVar {
    name: String,
    loc: Location,
    values: Vec<SweepValue>,
}

/// One point of the sweep: variable name -> value.
type Binding<'a> = Vec<(&'a str, &'a SweepValue)>;

struct FileCtx<'a> {
    path: &'a Path,
    src: &'a str,
    suite: &'a str,
    seed: u64,
    /// The file's `timeout:` and where it is written.
    timeout: Option<(f64, Location)>,
    /// The file's `throughput:` and where it is written.
    throughput: Option<(crate::perf::ThroughputSpec, Location)>,
}

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_var_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase()) && is_segment(s)
}

/// Edit distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest known name, if close enough to be a plausible typo.
fn suggest<'n>(wrong: &str, known: impl IntoIterator<Item = &'n str>) -> Option<&'n str> {
    let lower = wrong.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = if k.to_lowercase() == lower {
            0
        } else {
            distance(&lower, &k.to_lowercase()) + 1
        };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.filter(|(d, _)| *d <= 1 + wrong.len().div_ceil(3))
        .map(|(_, k)| k)
}

fn hint(wrong: &str, known: &[&str]) -> String {
    match suggest(wrong, known.iter().copied()) {
        Some(k) => format!("; did you mean `{k}`?"),
        None if known.is_empty() => "; it takes none".to_string(),
        None => format!("; known: {}", known.join(", ")),
    }
}

impl FileCtx<'_> {
    fn err(&self, loc: Location, msg: impl Into<String>) -> SuiteError {
        SuiteError::at(self.path, self.src, loc, msg)
    }

    fn expand_case(
        &self,
        rc: &Spanned<RawCase>,
        default_dtypes: Option<&Spanned<Vec<Spanned<String>>>>,
    ) -> Result<Vec<Case>, SuiteError> {
        let c = &rc.value;
        if !is_segment(&c.name.value) {
            return Err(self.err(
                c.name.referenced,
                format!("case name `{}` must match [a-z0-9_]+", c.name.value),
            ));
        }
        let op = Op::from_name(&c.op.value).ok_or_else(|| {
            let names: Vec<&str> = ops::names().collect();
            self.err(
                c.op.referenced,
                format!("unknown op `{}`{}", c.op.value, hint(&c.op.value, &names)),
            )
        })?;
        if let Some(o) = &c.opset
            && o.value != op.opset
        {
            return Err(self.err(
                o.referenced,
                format!(
                    "opset {} of `{}` is not supported; xpucert implements {}-{}",
                    o.value, op.name, op.name, op.opset
                ),
            ));
        }
        let timeout = match c
            .timeout
            .as_ref()
            .map(|t| (t.value, t.referenced))
            .or(self.timeout)
        {
            Some((t, loc)) if !(t > 0.0 && t.is_finite() && t <= 1e6) => {
                return Err(self.err(loc, "timeout must be a number of seconds in (0, 1e6]"));
            }
            t => t.map(|(t, _)| t),
        };
        let throughput = match (c.throughput.as_ref(), self.throughput) {
            (None, None) => None,
            (Some(i), Some((o, _))) => Some((i.value.or(o), i.referenced)),
            (Some(i), None) => Some((i.value, i.referenced)),
            (None, Some(o)) => Some(o),
        };
        if let Some((spec, loc)) = throughput
            && let Some(problem) = spec.problem()
        {
            return Err(self.err(loc, problem));
        }
        let throughput = throughput.map(|(s, _)| s);
        let dtypes = self.dtypes(rc, default_dtypes)?;
        let sweep = self.sweep(c.sweep.as_ref())?;
        self.check_arity(&op, c)?;
        let check = match &c.check {
            Some(ch) => {
                use crate::numerics::check::CheckSpec;
                let bad =
                    match ch.value {
                        CheckSpec::Exact => None,
                        CheckSpec::Allclose { rtol, atol } => {
                            (!(rtol >= 0.0 && atol >= 0.0 && rtol.is_finite() && atol.is_finite()))
                                .then_some("rtol and atol must be finite and >= 0")
                        }
                        CheckSpec::Ulp { n } => (!(n >= 0.0 && n.is_finite()))
                            .then_some("ulp n must be finite and >= 0"),
                        CheckSpec::Bound { c } => (!(c >= 0.0 && c.is_finite()))
                            .then_some("bound c must be finite and >= 0"),
                    };
                if let Some(msg) = bad {
                    return Err(self.err(ch.referenced, msg));
                }
                Some(ch.value)
            }
            None => None,
        };

        let mut cases = Vec::new();
        let mut used = BTreeSet::new();
        for &dtype in &dtypes {
            for binding in bindings(&sweep) {
                let attributes =
                    self.attributes(&op, c.attributes.as_ref(), &binding, &mut used)?;
                let mut inputs = Vec::new();
                for (i, inp) in c.inputs.value.iter().enumerate() {
                    inputs.push(self.input(&op, i, inp, dtype, &binding, &mut used)?);
                }
                let mut id = format!(
                    "{}.{}.{}.{}",
                    self.suite,
                    op.name.to_lowercase(),
                    dtype.name(),
                    c.name.value
                );
                if !binding.is_empty() {
                    id.push('.');
                    for (name, v) in &binding {
                        id.push_str(name);
                        id.push_str(&v.id_text());
                    }
                }
                cases.push(Case {
                    seed: case_seed(self.seed, &id),
                    id,
                    op,
                    opset: op.opset,
                    dtype,
                    attributes,
                    inputs,
                    check,
                    timeout,
                    throughput,
                    location: location_string(self.path, rc.referenced),
                });
            }
        }
        // A variable that changes nothing would give distinct ids to identical cases.
        if let Some(v) = sweep.iter().find(|v| !used.contains(&v.name)) {
            return Err(self.err(v.loc, format!("sweep variable `{}` is never used", v.name)));
        }
        Ok(cases)
    }

    fn dtypes(
        &self,
        rc: &Spanned<RawCase>,
        default: Option<&Spanned<Vec<Spanned<String>>>>,
    ) -> Result<Vec<DType>, SuiteError> {
        let list = rc.value.dtypes.as_ref().or(default).ok_or_else(|| {
            self.err(
                rc.referenced,
                "case has no `dtypes:` and the suite gives no default `dtypes:`",
            )
        })?;
        if list.value.is_empty() {
            return Err(self.err(list.referenced, "`dtypes` is empty"));
        }
        let mut out = Vec::new();
        for d in &list.value {
            let dt = self.dtype(d)?;
            if out.contains(&dt) {
                return Err(self.err(d.referenced, format!("dtype `{}` is listed twice", d.value)));
            }
            out.push(dt);
        }
        Ok(out)
    }

    fn dtype(&self, d: &Spanned<String>) -> Result<DType, SuiteError> {
        DType::from_name(&d.value).ok_or_else(|| {
            let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
            let h = match suggest(&d.value, names.iter().copied()) {
                Some(k) => format!("; did you mean `{k}`?"),
                None => format!("; known: {}", names.join(", ")),
            };
            self.err(d.referenced, format!("unknown dtype `{}`{h}", d.value))
        })
    }

    fn sweep(
        &self,
        raw: Option<&OrderedMap<Vec<Spanned<RawValue>>>>,
    ) -> Result<Vec<SweepVar>, SuiteError> {
        let Some(raw) = raw else {
            return Ok(Vec::new());
        };
        let mut vars = Vec::new();
        for (k, vals) in &raw.0 {
            if !is_var_name(&k.value) {
                return Err(self.err(
                    k.referenced,
                    format!("sweep variable `{}` must match [a-z][a-z0-9_]*", k.value),
                ));
            }
            if vals.value.is_empty() {
                return Err(self.err(
                    vals.referenced,
                    format!("sweep variable `{}` has no values", k.value),
                ));
            }
            let mut values = Vec::new();
            for v in &vals.value {
                let sv = match &v.value {
                    RawValue::Int(i) => SweepValue::Int(*i),
                    RawValue::Float(f) => SweepValue::Float(*f),
                    RawValue::List(items) => {
                        let mut ints = Vec::new();
                        for it in items {
                            match it.value {
                                RawValue::Int(i) => ints.push(i),
                                ref other => {
                                    return Err(self.err(
                                        it.referenced,
                                        format!(
                                            "list sweep values hold integers, got {}",
                                            other.describe()
                                        ),
                                    ));
                                }
                            }
                        }
                        SweepValue::Ints(ints)
                    }
                    other => {
                        return Err(self.err(
                            v.referenced,
                            format!(
                                "sweep values are numbers or integer lists, got {}",
                                other.describe()
                            ),
                        ));
                    }
                };
                if let Some(first) = values.first()
                    && std::mem::discriminant(first) != std::mem::discriminant(&sv)
                {
                    return Err(self.err(
                        v.referenced,
                        format!(
                            "sweep variable `{}` mixes kinds of values (number, float, list)",
                            k.value
                        ),
                    ));
                }
                if values.contains(&sv) {
                    return Err(self.err(
                        v.referenced,
                        format!("sweep variable `{}` repeats a value", k.value),
                    ));
                }
                values.push(sv);
            }
            vars.push(SweepVar {
                name: k.value.clone(),
                loc: k.referenced,
                values,
            });
        }
        Ok(vars)
    }

    fn check_arity(&self, op: &OpSpec, c: &RawCase) -> Result<(), SuiteError> {
        let n = c.inputs.value.len();
        match op.arity {
            Arity::Fixed { required, optional } => {
                if n < required || n > required + optional {
                    let want = if optional == 0 {
                        format!("{required}")
                    } else {
                        format!("{required} to {}", required + optional)
                    };
                    return Err(self.err(
                        c.inputs.referenced,
                        format!(
                            "`{}` takes {want} inputs ({}), got {n}",
                            op.name,
                            op.input_names.join(", ")
                        ),
                    ));
                }
                for (i, inp) in c.inputs.value.iter().enumerate().take(required) {
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
                        c.inputs.referenced,
                        format!("`{}` takes at least one input", op.name),
                    ));
                }
                if let Some(inp) = c
                    .inputs
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

    /// Resolves a name used as a value: a sweep variable of this case.
    fn var<'b>(
        &self,
        name: &str,
        loc: Location,
        binding: &Binding<'b>,
        used: &mut BTreeSet<String>,
    ) -> Result<&'b SweepValue, SuiteError> {
        match binding.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                used.insert(name.to_string());
                Ok(v)
            }
            None => {
                let extra = if matches!(name, "nan" | "inf" | "-inf") {
                    format!(" (YAML spells it `.{}`)", name.replace('-', "-."))
                        .replace("`.-.", "`-.")
                } else {
                    String::new()
                };
                Err(self.err(
                    loc,
                    format!("`{name}` is not a number or a sweep variable of this case{extra}"),
                ))
            }
        }
    }

    fn attributes(
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

    fn attr_value(
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
            (AttrType::String, None) => Err(wrong(v.value.describe())),
        }
    }

    fn input(
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

    fn shape(
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

    fn check_dist(&self, loc: Location, d: &Distribution, dtype: DType) -> Result<(), SuiteError> {
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

fn input_name(op: &OpSpec, i: usize) -> &'static str {
    op.input_names
        .get(i)
        .or(op.input_names.last())
        .copied()
        .unwrap_or("input")
}

/// The default values of an input of `dtype`: small signed or unsigned
/// integers, fair coin flips for bool, uniform [-1, 1) for floats.
fn default_dist(dtype: DType) -> Distribution {
    match dtype {
        DType::Bool => Distribution::Bernoulli { p: 0.5 },
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => Distribution::Int { low: 0, high: 15 },
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => Distribution::Int { low: -8, high: 8 },
        _ => Distribution::default(),
    }
}

/// All points of the sweep; the first variable varies slowest.
fn bindings(vars: &[SweepVar]) -> Vec<Binding<'_>> {
    let mut out: Vec<Binding<'_>> = vec![Vec::new()];
    for v in vars {
        out = out
            .into_iter()
            .flat_map(|b| {
                v.values.iter().map(move |val| {
                    let mut b = b.clone();
                    b.push((v.name.as_str(), val));
                    b
                })
            })
            .collect();
    }
    out
}

/// The case seed: the first 8 bytes (little-endian) of
/// sha256("<suite seed>/<case id>"). Depends on nothing else, so a case's
/// inputs never change when other cases are added, removed or filtered.
pub(crate) fn case_seed(suite_seed: u64, id: &str) -> u64 {
    let d = Sha256::digest(format!("{suite_seed}/{id}").as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("sha256 has 32 bytes"))
}

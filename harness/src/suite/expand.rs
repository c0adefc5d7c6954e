//! From parsed files to cases: includes, semantic checks with locations,
//! sweep and dtype expansion, stable ids and seeds.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};

use super::error::{SuiteError, location_string};
use super::schema::{OrderedMap, RawCase, RawPublished, RawSuite, RawValue};
use super::{Case, ExpectedOutput, Suite};
use crate::numerics::DType;
use crate::ops::{self, Op};

/// Largest tensor a suite may ask for, in elements: far above any sensible
/// case, low enough that a typo (an extra zero) is an error, not an OOM.
/// (A run's memory budget is the finer limit: see `Case::memory`.)
const MAX_ELEMENTS: usize = 1 << 31;

/// Most cases one load may expand to (all files and includes together),
/// counted before a sweep is expanded: a sweep of 10 variables x 20 values
/// is refused at its line, not built. The bundled suites hold about 4000.
pub const MAX_CASES: usize = 100_000;

/// Largest suite file read, in bytes. Suites are text; the bundled ones
/// are under 100 KB.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

mod generate;
mod judge;
mod validate;

/// Loads the suite at `path`. With `select` (case id globs, as `--filter`
/// takes), a `generate:` entry none of whose ids a glob could match is not
/// expanded: computing an op's covering is most of the time a filtered run
/// of the generated suite would take otherwise.
pub(crate) fn load_suite(path: &Path, select: &[String]) -> Result<Suite, SuiteError> {
    let ld = Loader {
        select: select.to_vec(),
        ..Loader::default()
    };
    load_with(ld, path)
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
    if ld.cases.is_empty() && !ld.skipped {
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
    /// Case id globs that select the cases wanted (none: all).
    select: Vec<String>,
    /// Whether a `generate:` entry was left unexpanded because `select`
    /// cannot match its cases.
    skipped: bool,
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
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        // Includes stay inside the root file's directory tree: a suite is a
        // tree of files one can review and hash, and it must not reach (or
        // echo) files elsewhere on the machine. Several trees are several
        // `--suite` arguments.
        if let (Some(_), Some(root)) = (from, self.stack.first())
            && let Some(tree) = root.parent()
            && !canon.starts_with(tree)
        {
            return Err(fail(format!(
                "include {} is outside the suite's directory {}; includes must stay inside it (pass other suites as further --suite arguments)",
                path.display(),
                tree.display()
            )));
        }
        let read = match &self.memory {
            Some(text) => Ok(text.clone().into_bytes()),
            None => crate::files::read_regular(path, MAX_FILE_BYTES, "a suite file"),
        };
        let bytes = read.map_err(|e| {
            fail(match from {
                Some(_) => format!("cannot read included file: {e}"),
                None => format!("cannot read suite: {e}"),
            })
        })?;
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
        let options = super::yaml_options();
        let raw: RawSuite = serde_saphyr::from_str_with_options(&source, options)
            .map_err(|e| SuiteError::from_yaml(path, &source, &e))?;
        // Owned, as the includes below load through `self`.
        let select = self.select.clone();
        let ctx = FileCtx {
            path,
            src: &source,
            suite: &raw.suite.value,
            seed: raw.seed,
            timeout: raw.timeout.as_ref().map(|t| (t.value, t.referenced)),
            throughput: raw.throughput.as_ref().map(|t| (t.value, t.referenced)),
            expanded: std::cell::Cell::new(0),
            select: &select,
            skipped: std::cell::Cell::new(false),
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
            ctx.expanded.set(self.cases.len());
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
        let skipped = ctx.skipped.get();
        self.skipped |= skipped;
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
    /// Cases the load holds before the entry being expanded.
    expanded: std::cell::Cell<usize>,
    /// The load's case id globs (none: every case is wanted).
    select: &'a [String],
    /// Set when a `generate:` entry is left unexpanded for `select`.
    skipped: std::cell::Cell<bool>,
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
        if let Some(name) = &c.name
            && !is_segment(&name.value)
        {
            return Err(self.err(
                name.referenced,
                format!("case name `{}` must match [a-z0-9_]+", name.value),
            ));
        }
        let op = Op::from_name(&c.op.value).ok_or_else(|| {
            let names: Vec<&str> = ops::names().collect();
            self.err(
                c.op.referenced,
                format!("unknown op `{}`{}", c.op.value, hint(&c.op.value, &names)),
            )
        })?;
        // The version serving the opset the case names; its spec is what
        // the case's attributes and inputs are judged by.
        let def = match &c.opset {
            None => op.def(),
            Some(o) => op.def_at(o.value).ok_or_else(|| {
                self.err(
                    o.referenced,
                    format!(
                        "opset {} of `{}` is not supported: it is older than every version xpucert implements ({})",
                        o.value,
                        op.name,
                        crate::ops::versions_text(op)
                    ),
                )
            })?,
        };
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
        if let (Some(_), Some(e)) = (&c.generate, &c.expected) {
            return Err(self.err(
                e.referenced,
                "`expected` gives the outputs of one call; a `generate:` entry makes many",
            ));
        }
        if let (Some(_), Some(o)) = (&c.generate, &c.outputs) {
            return Err(self.err(
                o.referenced,
                "`outputs` requests a count of one call; a `generate:` entry takes the op's cases as they are",
            ));
        }
        if let Some(strength) = &c.generate {
            return self.generated(rc, strength, op, def, timeout, throughput);
        }
        let outputs = match &c.outputs {
            None => None,
            Some(o) => {
                let n = usize::try_from(o.value).map_err(|_| {
                    self.err(
                        o.referenced,
                        format!("outputs must be a count >= 1, got {}", o.value),
                    )
                })?;
                def.check_requested(n)
                    .map_err(|m| self.err(o.referenced, format!("{}: {m}", op.name)))?;
                Some(n)
            }
        };
        let (Some(name), Some(raw_inputs)) = (&c.name, &c.inputs) else {
            return Err(self.err(
                rc.referenced,
                "a case needs `name` and `inputs` (or `generate: pairwise` for the op's generated cases)",
            ));
        };
        let dtypes = self.dtypes(rc, default_dtypes)?;
        let sweep = self.sweep(c.sweep.as_ref())?;
        self.check_arity(&def.spec, raw_inputs)?;
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

        let expected = match &c.expected {
            Some(e) => self.expected(def, outputs, e, &sweep, &dtypes)?,
            None => Vec::new(),
        };
        let count = sweep
            .iter()
            .try_fold(dtypes.len(), |n, v| n.checked_mul(v.values.len()))
            .filter(|&n| n <= MAX_CASES.saturating_sub(self.expanded.get()));
        let Some(count) = count else {
            let at = c.sweep.as_ref().map_or(rc.referenced, |s| {
                s.0.first().map_or(rc.referenced, |(k, _)| k.referenced)
            });
            let sizes: Vec<String> = sweep
                .iter()
                .map(|v| format!("{} ({})", v.name, v.values.len()))
                .collect();
            return Err(self.err(
                at,
                format!(
                    "this case expands to more cases than a suite may hold ({MAX_CASES} in all): {} dtypes x {}; split it or sweep fewer values",
                    dtypes.len(),
                    sizes.join(" x ")
                ),
            ));
        };
        self.expanded.set(self.expanded.get() + count);
        let mut cases = Vec::with_capacity(count);
        let mut used = BTreeSet::new();
        for &dtype in &dtypes {
            for binding in bindings(&sweep) {
                let attributes =
                    self.attributes(&def.spec, c.attributes.as_ref(), &binding, &mut used)?;
                let mut inputs = Vec::new();
                for (i, inp) in raw_inputs.value.iter().enumerate() {
                    inputs.push(self.input(&def.spec, i, inp, dtype, &binding, &mut used)?);
                }
                let mut id = format!(
                    "{}.{}.{}.{}",
                    self.suite,
                    op.name.to_lowercase(),
                    dtype.name(),
                    name.value
                );
                if !binding.is_empty() {
                    id.push('.');
                    for (name, v) in &binding {
                        id.push_str(name);
                        id.push_str(&v.id_text());
                    }
                }
                let mut case = Case {
                    seed: case_seed(self.seed, &id),
                    id,
                    op,
                    opset: def.spec.opset,
                    dtype,
                    attributes,
                    inputs,
                    check,
                    timeout,
                    throughput,
                    location: location_string(self.path, rc.referenced),
                    expected: expected.clone(),
                    outputs,
                    memory: 0,
                };
                self.judge(rc.referenced, &mut case)?;
                cases.push(case);
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

    /// The `expected:` outputs: one call's, so no sweep and one dtype;
    /// at most the op's outputs (any number for an op whose output count
    /// depends on the call, Split); `values` fitting `shape`, integers exact.
    fn expected(
        &self,
        def: &crate::ops::OpDef,
        outputs: Option<usize>,
        raw: &Spanned<Vec<Spanned<RawPublished>>>,
        sweep: &[SweepVar],
        dtypes: &[DType],
    ) -> Result<Vec<Option<ExpectedOutput>>, SuiteError> {
        if !sweep.is_empty() || dtypes.len() != 1 {
            return Err(self.err(
                raw.referenced,
                "`expected` gives the outputs of one call: the case may have no `sweep` and only one dtype",
            ));
        }
        let op = &def.spec;
        let requested = outputs.unwrap_or_else(|| def.required_outputs());
        if (op.outputs != 0 || outputs.is_some()) && raw.value.len() > requested {
            let more = if requested < op.outputs {
                format!(
                    " (request more with `outputs:`; it has up to {})",
                    op.outputs
                )
            } else {
                String::new()
            };
            return Err(self.err(
                raw.referenced,
                format!(
                    "{} expected outputs; the case requests {requested} of {}'s outputs{more}",
                    raw.value.len(),
                    op.name,
                ),
            ));
        }
        let mut out = Vec::new();
        for e in &raw.value {
            let e = match &e.value {
                RawPublished::Absent => {
                    out.push(None);
                    continue;
                }
                RawPublished::Output(e) => e,
            };
            let dtype = match &e.dtype {
                Some(d) => Some(self.dtype(d)?),
                None => None,
            };
            let mut shape = Vec::new();
            for d in &e.shape.value {
                match d.value {
                    RawValue::Int(v) if v >= 0 => shape.push(v as usize),
                    ref other => {
                        return Err(self.err(
                            d.referenced,
                            format!(
                                "expected shapes hold integers >= 0, got {}",
                                other.describe()
                            ),
                        ));
                    }
                }
            }
            let mut values = Vec::with_capacity(e.values.value.len());
            for v in &e.values.value {
                let x = match v.value {
                    RawValue::Int(i) => i as f64,
                    RawValue::Float(f) => f,
                    RawValue::Bool(b) => f64::from(u8::from(b)),
                    ref other => {
                        return Err(self.err(
                            v.referenced,
                            format!("expected values are numbers, got {}", other.describe()),
                        ));
                    }
                };
                if let Some(d) = dtype
                    && !d.is_float()
                    && !(x.is_finite() && crate::numerics::round_to(d, x) == x)
                {
                    return Err(self.err(v.referenced, format!("{x} is not a value of dtype {d}")));
                }
                // As inputs are: the shortest text of an f32 (`0.1`) reads
                // back as that f32.
                values.push(match dtype {
                    Some(d) if d.is_float() => crate::numerics::round_to(d, x),
                    _ => x,
                });
            }
            let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if n != Some(values.len()) {
                return Err(self.err(
                    e.values.referenced,
                    format!("{} values for shape {shape:?}", values.len()),
                ));
            }
            out.push(Some(ExpectedOutput {
                dtype,
                shape,
                values,
            }));
        }
        Ok(out)
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
}

/// The points of the sweep, one at a time; the first variable varies
/// slowest.
fn bindings(vars: &[SweepVar]) -> impl Iterator<Item = Binding<'_>> {
    let total: usize = vars.iter().map(|v| v.values.len()).product();
    (0..total).map(move |mut k| {
        let mut point: Binding<'_> = Vec::with_capacity(vars.len());
        for v in vars.iter().rev() {
            point.push((v.name.as_str(), &v.values[k % v.values.len()]));
            k /= v.values.len();
        }
        point.reverse();
        point
    })
}

/// The case seed: the first 8 bytes (little-endian) of
/// sha256("<suite seed>/<case id>"). Depends on nothing else, so a case's
/// inputs never change when other cases are added, removed or filtered.
pub(crate) fn case_seed(suite_seed: u64, id: &str) -> u64 {
    let d = Sha256::digest(format!("{suite_seed}/{id}").as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("sha256 has 32 bytes"))
}

//! Operator suites: the YAML format, its expansion into [`Case`]s with stable
//! ids, and the seeded generation of every case's inputs.
//!
//! A suite file lists cases; each case names an op, a list of dtypes and
//! optionally a sweep (a cartesian product of named values usable in shapes
//! and attributes). Expansion gives one [`Case`] per dtype and sweep point,
//! with an id `<suite>.<op>.<dtype>.<name>[.<var><value>...]` that depends only
//! on what the case says, so results stay comparable across runs, vendors and
//! harness versions. Inputs are generated from a seed derived from the suite
//! seed and the case id alone: adding, removing or filtering cases never
//! changes another case's bytes.
//!
//! Every mistake in a file is a [`SuiteError`] pointing at the line and column
//! of the offending node: serde-saphyr gives positions for syntax and schema
//! errors, and [`serde_saphyr::Spanned`] values keep them for the semantic
//! checks made after parsing (unknown op, attribute types, shapes, arity).
//! The format is documented in `docs/suite-format.md`.

mod error;
mod expand;
mod inputs;
mod layout;
mod schema;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::numerics::DType;
#[cfg(test)]
use crate::numerics::HostTensor;
use crate::numerics::check::CheckSpec;
use crate::ops::{Attributes, Op};

pub use error::SuiteError;
pub use expand::{MAX_CASES, MAX_FILE_BYTES};
pub use inputs::{dtype_max, dtype_min_normal, generate_inputs};
pub use layout::{Layout, POISON, ROW_PAD, offsets};

/// A loaded suite: its cases after includes, sweeps and dtypes are expanded.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The `suite:` name of the root file.
    pub name: String,
    /// The root file's `description:` (empty when absent).
    pub description: String,
    /// The root file as given.
    pub path: PathBuf,
    /// Hex sha256 of the root file's bytes when it includes nothing; with
    /// includes, sha256 over the lines `<hex sha256 of file>\n` of every file
    /// read, root first, in load order.
    pub sha256: String,
    /// Every file read (root first), canonicalized.
    pub files: Vec<PathBuf>,
    /// Expanded cases, in file order (includes where the `include:` is, i.e.
    /// before the including file's own cases).
    pub cases: Vec<Case>,
}

/// One concrete call to test: an op with fixed dtype, attributes and inputs.
#[derive(Debug, Clone)]
pub struct Case {
    /// Stable id, `<suite>.<op lowercase>.<dtype>.<name>[.<var><value>...]`.
    pub id: String,
    /// The operator, from the registry.
    pub op: Op,
    /// Opset of the call: the since_version of the op's version that serves
    /// the opset the suite names (the newest version when it names none),
    /// so it is one of `op.opsets()` and [`Case::def`] finds it.
    pub opset: i64,
    /// The case dtype: the default dtype of its inputs.
    pub dtype: DType,
    /// Typed attributes, checked against the op's registry entry.
    pub attributes: Attributes,
    /// Positional inputs, as ONNX numbers them.
    pub inputs: Vec<InputSpec>,
    /// Tolerance override; `None` means the runner's default for op and dtype.
    pub check: Option<CheckSpec>,
    /// Published outputs (ONNX's node tests) that the oracle's outputs are
    /// also compared with, positional; empty when the case gives none,
    /// `None` for an output not published (an ONNX node that names only
    /// a later output).
    pub expected: Vec<Option<ExpectedOutput>>,
    /// How many outputs the call requests (`outputs:`), checked at load
    /// against the op (`ops::OpDef::check_requested`); `None`: the op's
    /// required count (`ops::OpDef::required_outputs`), what every case
    /// requested before optional outputs existed.
    pub outputs: Option<usize>,
    /// Seed of the input generator, derived from the suite seed and the id.
    pub seed: u64,
    /// Base time limit of one call in seconds, from the case's or its
    /// file's `timeout:`; `None` means the run's `--timeout`.
    pub timeout: Option<f64>,
    /// Throughput measurement and requirements from the case's or its
    /// file's `throughput:`; `None` means not measured (unless `run --measure`).
    pub throughput: Option<crate::perf::ThroughputSpec>,
    /// Where the case is written, `file:line:col`.
    pub location: String,
    /// Bytes the case holds at its peak, estimated at load from its input
    /// and output shapes (see [`memory_estimate`]); a run refuses cases
    /// over its memory budget before allocating anything.
    pub memory: u64,
}

/// Bytes per input element beyond the element itself: its f64 copy for the
/// oracle (8), oracle scratch (16, transposed or absolute copies).
const INPUT_OVERHEAD: u64 = 24;
/// Bytes per output element beyond the element itself: the oracle's value
/// and up to three error magnitudes in f64 (32), the read-back f64 copy for
/// the comparison (8), scratch (16), the comparison's per-element figures (8).
const OUTPUT_OVERHEAD: u64 = 64;

/// Estimated peak bytes of running one case with inputs `inputs` and
/// outputs `outputs`, both processes together: per input element its
/// generated tensor, its storage in the case's layout (up to twice the
/// elements, for `strided`) and the worker's copy of that storage in the
/// frame and the call buffer (so 7 times the element size), plus
/// [`INPUT_OVERHEAD`]; per output element the buffers on both sides and
/// the frame (3 times the element size) plus [`OUTPUT_OVERHEAD`]; plus
/// the oracle's own `scratch` f64 elements (`ops::Work::scratch`). It
/// errs high: it is a budget, not a forecast. `docs/suite-format.md`
/// ("Limits") has the measured figures behind the constants.
pub fn memory_estimate(
    inputs: &[InputSpec],
    outputs: &[crate::ops::TypedShape],
    scratch: f64,
) -> u64 {
    let elems = |shape: &[usize]| shape.iter().map(|&d| d as u64).product::<u64>();
    let ins: u64 = inputs
        .iter()
        .map(|i| match i {
            InputSpec::Tensor(t) => {
                elems(&t.shape).saturating_mul(7 * t.dtype.size() as u64 + INPUT_OVERHEAD)
            }
            InputSpec::Absent => 0,
        })
        .fold(0, u64::saturating_add);
    let outs: u64 = outputs
        .iter()
        .map(|(d, s)| elems(s).saturating_mul(3 * d.size() as u64 + OUTPUT_OVERHEAD))
        .fold(0, u64::saturating_add);
    ins.saturating_add(outs)
        .saturating_add((scratch * 8.0) as u64)
}

/// One published output of a case (`expected:`), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedOutput {
    /// The output dtype the publisher computed in, when given.
    pub dtype: Option<DType>,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values (NaN and infinities included).
    pub values: Vec<f64>,
}

/// One positional input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputSpec {
    /// An omitted optional input (ONNX empty name).
    Absent,
    /// A tensor the harness generates.
    Tensor(TensorSpec),
}

/// How to make one input tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Element type.
    pub dtype: DType,
    /// Logical shape (`[]` is a scalar).
    pub shape: Vec<usize>,
    /// Where the values come from.
    pub source: Source,
    /// How the tensor is stored for the backend.
    pub layout: Layout,
}

impl TensorSpec {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Where an input's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Drawn from a distribution with the case's seed.
    Dist(Distribution),
    /// Written in the suite, row-major (rounded to the input dtype).
    Values(Vec<f64>),
}

/// A distribution of generated values. Draws are made in f64 and then
/// rounded to the input's dtype.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// Uniform on `[low, high)`; default `[-1, 1)`.
    Uniform {
        /// lower bound (inclusive)
        #[serde(default = "minus_one")]
        low: f64,
        /// upper bound (exclusive)
        #[serde(default = "one")]
        high: f64,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// mean
        #[serde(default)]
        mean: f64,
        /// standard deviation
        #[serde(default = "one")]
        std: f64,
    },
    /// Integers uniform on `[low, high]`, both inclusive (indices, integer
    /// dtypes, or integer-valued floats to create ties).
    Int {
        /// lowest value
        low: i64,
        /// highest value
        high: i64,
    },
    /// 1 with probability `p`, else 0.
    Bernoulli {
        /// probability of 1
        #[serde(default = "half")]
        p: f64,
    },
    /// `start + i * step` for the row-major element index `i`.
    Arange {
        /// first value
        #[serde(default)]
        start: f64,
        /// increment
        #[serde(default = "one")]
        step: f64,
    },
    /// Each element is, with probability `fraction`, one of `values` (chosen
    /// uniformly), otherwise drawn from `base` (default uniform [-1, 1)).
    Special {
        /// share of special elements, in [0, 1]
        fraction: f64,
        /// the special values to mix in
        values: Vec<SpecialValue>,
        /// distribution of the other elements
        #[serde(default = "default_base")]
        base: Box<Distribution>,
    },
}

/// A value that exercises a corner of floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialValue {
    /// quiet NaN
    Nan,
    /// +infinity
    Inf,
    /// -infinity
    #[serde(rename = "-inf")]
    NegInf,
    /// negative zero
    #[serde(rename = "-0")]
    NegZero,
    /// a subnormal of the input dtype, random magnitude and sign
    Denormal,
    /// the largest finite value of the input dtype
    Max,
    /// the smallest positive normal value of the input dtype
    MinNormal,
}

fn one() -> f64 {
    1.0
}
fn minus_one() -> f64 {
    -1.0
}
fn half() -> f64 {
    0.5
}
fn default_base() -> Box<Distribution> {
    Box::new(Distribution::default())
}

impl Default for Distribution {
    /// Uniform on [-1, 1).
    fn default() -> Self {
        Distribution::Uniform {
            low: -1.0,
            high: 1.0,
        }
    }
}

/// How every YAML file of xpucert is parsed (suites, model suites,
/// profiles, waivers): `n`, `y`, `on`, `no` are names, not booleans, and
/// `.nan`, `.inf` and `-.inf` are floats wherever a value is read untyped
/// (`values:`, `expected:`, attributes), as `docs/suite-format.md` says;
/// serde-saphyr rejects non-finite floats read through `deserialize_any`
/// unless told otherwise.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    // The parser's default node and event budgets (250 000 nodes) are below
    // what a suite file of literal values holds within MAX_FILE_BYTES (ONNX's
    // node tests carry inputs of 32 768 values, several per file). Every node
    // takes at least two bytes of the file ("1,"), so the file cap already
    // bounds them: the budgets follow from it.
    let bytes = usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX);
    serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        budget: serde_saphyr::budget! {
            max_nodes: bytes / 2,
            max_events: bytes,
        },
    }
}

/// Loads one suite file and everything it includes, and expands its cases.
pub fn load(path: &Path) -> Result<Suite, SuiteError> {
    expand::load_suite(path, &[])
}

/// Parses and expands a suite given as text, as if read from a file called
/// `name` (used in locations and errors). The text may not `include:` other
/// files. For tests and the fuzzer: it never touches the file system.
pub fn parse_str(name: &str, text: &str) -> Result<Suite, SuiteError> {
    expand::load_text(Path::new(name), text)
}

/// The `*.yaml` files directly in `dir`, sorted by name; an error when
/// there are none.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| SuiteError::file(dir, format!("cannot read directory: {e}")))?;
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "yaml") && f.is_file())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(SuiteError::file(dir, "directory holds no *.yaml suite"));
    }
    Ok(found)
}

/// Loads several suites. Each path is a file or a directory (all `*.yaml` in
/// it, sorted by name, not recursive). A file that another listed suite
/// already includes is not loaded a second time; any other case id that
/// appears twice is an error.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Suite>, SuiteError> {
    load_selected(paths, &[])
}

/// [`load_all`] for a run that wants only the cases whose ids match one of
/// `select`'s globs (none: all). The suites hold at least those cases;
/// `generate:` entries that cannot hold one are not expanded, so a filter
/// on the generated suite costs little. The caller still filters.
pub fn load_selected(paths: &[PathBuf], select: &[String]) -> Result<Vec<Suite>, SuiteError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(yaml_files(p)?);
        } else {
            files.push(p.clone());
        }
    }
    let mut suites = Vec::new();
    for f in &files {
        suites.push(expand::load_suite(f, select)?);
    }
    // Drop suites that another suite already pulls in through `include:`.
    let included: Vec<&PathBuf> = suites.iter().flat_map(|s| s.files.iter().skip(1)).collect();
    let mut seen_roots = std::collections::BTreeSet::new();
    let suites: Vec<Suite> = suites
        .iter()
        .filter(|s| !included.contains(&&s.files[0]) && seen_roots.insert(s.files[0].clone()))
        .cloned()
        .collect();
    let mut ids: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for s in &suites {
        for c in &s.cases {
            if let Some(first) = ids.insert(&c.id, &c.location) {
                return Err(expand::duplicate_error(&c.location, &c.id, first));
            }
        }
    }
    Ok(suites)
}

impl Case {
    /// Rough cost of running the case once, for scheduling, sharding and
    /// timeouts: 1 + the elements of its inputs + the multiply-adds of its
    /// products (the op's cost model). Relative, not in any unit of time.
    pub fn cost(&self) -> f64 {
        let shapes: Vec<Option<&[usize]>> = self
            .inputs
            .iter()
            .map(|i| match i {
                InputSpec::Tensor(t) => Some(t.shape.as_slice()),
                InputSpec::Absent => None,
            })
            .collect();
        let elems: f64 = shapes
            .iter()
            .flatten()
            .map(|s| s.iter().product::<usize>() as f64)
            .sum();
        1.0 + elems + self.def().work(&self.attributes, &shapes).multiply_adds
    }

    /// The oracle's outputs on `values` (the case's inputs, or a variant
    /// of them), as many as the case requests.
    pub fn evaluate(
        &self,
        values: &[Option<crate::ops::Value>],
    ) -> Result<Vec<crate::ops::Output>, crate::ops::OracleError> {
        let refs: Vec<Option<&crate::ops::Value>> = values.iter().map(Option::as_ref).collect();
        crate::ops::evaluate_refs(
            self.op,
            self.opset,
            &self.attributes,
            &refs,
            true,
            self.outputs,
        )
    }

    /// The definition of the op's version this case calls.
    pub fn def(&self) -> &'static crate::ops::OpDef {
        self.op
            .def_at(self.opset)
            .expect("a case's opset is one of its op's versions")
    }
}

#[cfg(test)]
mod tests;

//! Generated cases: every operator declares its case space, and a covering
//! array picks concrete cases from it.
//!
//! Hand-picked cases leave holes where nobody thought to look (a softmax
//! whose axis has the same length as dimension 0, a lower-rank operand with
//! a leading 1, a KV cache, a small softcap under a mask, a half-precision
//! reduction over a long row). A declaration lists the *classes* of each
//! choice instead: each [`Factor`] is one choice (the dtype, the rank, the
//! axis as first / last / middle / negative, a broadcast pattern, a storage
//! layout, ...) and its levels are the classes. The op's `build` function
//! turns one level of every factor into a concrete call ([`GenCase`]), or
//! says `None` when the combination is impossible (a middle axis at rank
//! 1): that is the constraint.
//!
//! [`pairwise`] then covers every *pair* of levels of two factors that some
//! possible case holds, with a greedy covering array (AETG style, with the
//! candidates enumerated exhaustively so it is deterministic): it repeatedly
//! takes the possible case that covers the most pairs not yet covered,
//! breaking ties by the smaller cost (input elements plus the op's
//! multiply-adds, as [`crate::suite::Case::cost`] counts), then by
//! enumeration order. Factors a step does not need therefore fall to their
//! cheapest level, and the set is small and cheap, though not minimal (that
//! is NP-hard).
//!
//! Why pairs: most interaction faults need two conditions at once (a wrong
//! axis only shows when the dims differ, a mask leak only with a small
//! softcap), and pairs grow with the product of the two largest factors,
//! where all combinations grow with the product of all.
//!
//! Where it is used: a suite entry `{op: Softmax, generate: pairwise}`
//! expands to these cases (`suite::expand`), and `docs/coverage.md` lists
//! every op's factors, case count and coverage (the test
//! `coverage_page_is_current` regenerates it).

use super::{AttrValue, Attributes, Op};
use crate::numerics::DType;

/// One choice of an op's case space and its classes.
#[derive(Debug, Clone)]
pub struct Factor {
    /// What is chosen (`dtype`, `rank`, `axis`, `layout`, ...).
    pub name: &'static str,
    /// The classes, each `[a-z0-9]+` and unique over the op's factors,
    /// since a case's name is its levels joined by `_` (the `dtype` factor
    /// aside: its level is the id's dtype segment).
    pub levels: Vec<&'static str>,
}

impl Factor {
    /// A factor with these levels.
    pub fn new(name: &'static str, levels: &[&'static str]) -> Factor {
        Factor {
            name,
            levels: levels.to_vec(),
        }
    }

    /// The `dtype` factor: the dtypes the op accepts.
    pub fn dtypes(dtypes: &[DType]) -> Factor {
        Factor {
            name: DTYPE,
            levels: dtypes.iter().map(|d| d.name()).collect(),
        }
    }
}

/// The name of the factor whose levels are dtype names.
pub const DTYPE: &str = "dtype";

/// The case space of one op: its factors and how one level of each makes a
/// call.
pub struct CaseSpace {
    /// The choices, with a `dtype` factor among them.
    pub factors: Vec<Factor>,
    /// The call for one level of every factor; `None` when the combination
    /// cannot exist (the space's constraints).
    pub build: BuildFn,
}

/// A case space's build function (see [`CaseSpace::build`]).
pub type BuildFn = Box<dyn Fn(&Pick) -> Option<GenCase>>;

/// One level of every factor, as `build` reads it.
pub struct Pick<'a> {
    factors: &'a [Factor],
    levels: &'a [usize],
}

impl Pick<'_> {
    /// The level chosen for `factor`.
    pub fn get(&self, factor: &str) -> &'static str {
        match self.factors.iter().position(|f| f.name == factor) {
            Some(i) => self.factors[i].levels[self.levels[i]],
            None => unknown_factor(factor),
        }
    }

    /// Whether `factor` is at `level`.
    pub fn is(&self, factor: &str, level: &str) -> bool {
        self.get(factor) == level
    }

    /// The chosen dtype.
    pub fn dtype(&self) -> DType {
        DType::from_name(self.get(DTYPE)).expect("dtype levels are dtype names")
    }
}

#[cold]
fn unknown_factor(name: &str) -> ! {
    panic!("a case space reads factor `{name}`, which it does not declare")
}

/// A generated call: attributes and positional inputs (`None` = omitted).
#[derive(Debug, Clone, PartialEq)]
pub struct GenCase {
    /// Attributes, typed as the op's spec says.
    pub attributes: Attributes,
    /// Inputs in ONNX order; `None` for an omitted optional input.
    pub inputs: Vec<Option<GenInput>>,
}

impl GenCase {
    /// A call with these inputs and no attributes.
    pub fn new(inputs: Vec<Option<GenInput>>) -> GenCase {
        GenCase {
            attributes: Attributes::new(),
            inputs,
        }
    }

    /// Sets an int attribute.
    pub fn int(mut self, name: &str, v: i64) -> GenCase {
        self.attributes.insert(name.into(), AttrValue::Int(v));
        self
    }

    /// Sets a float attribute.
    pub fn float(mut self, name: &str, v: f64) -> GenCase {
        self.attributes.insert(name.into(), AttrValue::Float(v));
        self
    }

    /// Sets a string attribute.
    pub fn string(mut self, name: &str, v: &str) -> GenCase {
        self.attributes
            .insert(name.into(), AttrValue::String(v.into()));
        self
    }

    /// Sets an int-list attribute.
    pub fn ints(mut self, name: &str, v: Vec<i64>) -> GenCase {
        self.attributes.insert(name.into(), AttrValue::Ints(v));
        self
    }

    /// The input shapes, `None` for omitted inputs.
    pub fn shapes(&self) -> Vec<Option<&[usize]>> {
        self.inputs
            .iter()
            .map(|i| i.as_ref().map(|t| t.shape.as_slice()))
            .collect()
    }

    /// The relative cost the covering prefers to keep low: 1 + the input
    /// elements + the op's multiply-adds (`suite::Case::cost`'s formula).
    pub fn cost(&self, op: Op) -> f64 {
        let shapes = self.shapes();
        let elems: f64 = shapes
            .iter()
            .flatten()
            .map(|s| s.iter().product::<usize>() as f64)
            .sum();
        1.0 + elems + op.work(&self.attributes, &shapes).multiply_adds
    }
}

/// How a generated input is made.
#[derive(Debug, Clone, PartialEq)]
pub struct GenInput {
    /// Element type.
    pub dtype: DType,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Where the values come from.
    pub fill: Fill,
    /// How the tensor is stored for the backend.
    pub storage: Storage,
}

impl GenInput {
    /// A contiguous tensor with the dtype's default values.
    pub fn new(dtype: DType, shape: Vec<usize>) -> GenInput {
        GenInput {
            dtype,
            shape,
            fill: Fill::Default,
            storage: Storage::Contiguous,
        }
    }

    /// Literal values (shape `[n]` unless the shape is given after).
    pub fn values(dtype: DType, values: Vec<f64>) -> GenInput {
        GenInput {
            dtype,
            shape: vec![values.len()],
            fill: Fill::Values(values),
            storage: Storage::Contiguous,
        }
    }

    /// The same input with values from `fill`.
    pub fn fill(mut self, fill: Fill) -> GenInput {
        self.fill = fill;
        self
    }

    /// The same input stored as `storage`.
    pub fn stored(mut self, storage: Storage) -> GenInput {
        self.storage = storage;
        self
    }

    /// The same input with this shape (for literal values of another shape).
    pub fn shaped(mut self, shape: Vec<usize>) -> GenInput {
        self.shape = shape;
        self
    }

    /// Wrapped as a present input.
    pub fn some(self) -> Option<GenInput> {
        Some(self)
    }
}

/// The values of a generated input (the suite's distributions, mapped in
/// `suite::expand`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fill {
    /// The suite's default for the dtype (uniform [-1, 1) for floats).
    Default,
    /// Uniform on `[low, high)`.
    Uniform(f64, f64),
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// Integers on `[low, high]`.
    Int(i64, i64),
    /// 1 with this probability, else 0.
    Bernoulli(f64),
    /// Literal row-major values.
    Values(Vec<f64>),
}

/// How a generated input is stored: the suite's layouts
/// (`suite::Layout`, same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Row-major.
    Contiguous,
    /// All axes reversed.
    Transposed,
    /// Rows padded.
    Padded,
    /// Strides doubled.
    Strided,
}

/// The `layout` factor's levels: every storage the suite format has.
pub const LAYOUTS: &[&str] = &["contiguous", "transposed", "padded", "strided"];

impl Storage {
    /// The storage named by a [`LAYOUTS`] level, or by one with a prefix
    /// (`bpadded`: a second operand's layout factor, named apart).
    pub fn from_level(level: &str) -> Storage {
        let named = |name: &str| level.ends_with(name);
        if named("contiguous") {
            Storage::Contiguous
        } else if named("transposed") {
            Storage::Transposed
        } else if named("padded") {
            Storage::Padded
        } else if named("strided") {
            Storage::Strided
        } else {
            panic!("`{level}` is not a layout level")
        }
    }
}

/// The `layout` factor.
pub fn layout_factor() -> Factor {
    Factor::new("layout", LAYOUTS)
}

/// Floating-point dtypes most ops accept.
pub const FLOATS: &[DType] = &[DType::F32, DType::F16, DType::BF16, DType::F64];
/// Floats and the integer dtypes of arithmetic.
pub const FLOATS_AND_INTS: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I32,
    DType::I64,
];
/// Dtypes of data movement (Gather, Transpose, Concat, Reshape, Where, Cast).
pub const MOVABLE: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I8,
    DType::U8,
    DType::Bool,
    DType::F8E4M3FN,
    DType::F8E5M2,
];

/// The `rank` factor's level for `rank` (`r0` .. `r4`).
pub fn rank_of(level: &str) -> usize {
    level
        .strip_prefix('r')
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("`{level}` is not a rank level"))
}

/// A shape of `rank` whose last dim is `size` (the dimension the size
/// class is about). `eq`: every dim equals `size`, so a kernel that swaps
/// two axes cannot be told apart by shape; otherwise the other dims are
/// small, distinct from each other and from `size`.
pub fn dims(rank: usize, size: usize, eq: bool) -> Vec<usize> {
    const OTHERS: [usize; 4] = [3, 2, 5, 4];
    let mut out: Vec<usize> = (0..rank.saturating_sub(1))
        .map(|i| {
            if eq {
                size
            } else {
                let d = OTHERS[i % OTHERS.len()];
                if d == size { 6 } else { d }
            }
        })
        .collect();
    if rank > 0 {
        out.push(size);
    }
    out
}

/// The axis of an `axis` factor level at `rank`: `first` (0), `last`,
/// `mid` (1, rank >= 3), `neg` (-2, rank >= 2: a negative axis that is not
/// the last), `neglast` (-1: the last, spelled negative, as most models
/// write it). `None` when the class does not exist at this rank.
pub fn axis_of(level: &str, rank: usize) -> Option<i64> {
    let r = rank as i64;
    match level {
        "first" if rank >= 1 => Some(0),
        "last" if rank >= 1 => Some(r - 1),
        "mid" if rank >= 3 => Some(1),
        "neg" if rank >= 2 => Some(-2),
        "neglast" if rank >= 1 => Some(-1),
        _ => None,
    }
}

/// `axis` normalised to `0..rank`.
pub fn resolve(axis: i64, rank: usize) -> usize {
    if axis < 0 {
        (axis + rank as i64) as usize
    } else {
        axis as usize
    }
}

/// The cases a covering picked, with its figures.
#[derive(Debug)]
pub struct Covering {
    /// `(name, dtype, call)` per case, in the order they were picked. The
    /// name is the non-dtype levels joined by `_`.
    pub cases: Vec<(String, DType, GenCase)>,
    /// The level (index into each factor's levels) of every factor, per case.
    pub picks: Vec<Vec<usize>>,
    /// Level pairs that some possible case holds.
    pub coverable: usize,
    /// Of those, the pairs the picked cases hold (equal to `coverable`).
    pub covered: usize,
    /// Combinations of one level per factor.
    pub combinations: usize,
    /// Of those, the possible ones (`build` gave a call).
    pub possible: usize,
    /// Sum of the picked cases' costs.
    pub cost: f64,
}

/// Most combinations a space may have: enumeration is exhaustive.
const MAX_COMBINATIONS: usize = 1 << 20;

/// Picks cases of `space` so that every pair of levels (of two factors)
/// that some possible case holds is held by a picked case. `keep(factor,
/// level)` narrows the space first (a suite's `dtypes:`); pairs with a
/// dropped level are then not coverable. Deterministic: the same space and
/// `keep` give the same cases in the same order.
pub fn pairwise(op: Op, space: &CaseSpace, keep: &dyn Fn(&str, &str) -> bool) -> Covering {
    let f = &space.factors;
    let radix: Vec<usize> = f.iter().map(|x| x.levels.len()).collect();
    let combinations = radix
        .iter()
        .try_fold(1usize, |a, &r| a.checked_mul(r))
        .filter(|&n| n <= MAX_COMBINATIONS)
        .unwrap_or_else(|| panic!("{op}: the case space has over {MAX_COMBINATIONS} combinations"));
    // Pair (i, li, j, lj), i < j, at offset[i][j] + li * radix[j] + lj.
    let mut offset = vec![vec![0usize; f.len()]; f.len()];
    let mut pairs = 0;
    for i in 0..f.len() {
        for j in i + 1..f.len() {
            offset[i][j] = pairs;
            pairs += radix[i] * radix[j];
        }
    }
    let pair_ids = |levels: &[usize]| -> Vec<usize> {
        let mut out = Vec::with_capacity(f.len() * f.len() / 2);
        for i in 0..f.len() {
            for j in i + 1..f.len() {
                out.push(offset[i][j] + levels[i] * radix[j] + levels[j]);
            }
        }
        out
    };

    struct Candidate {
        levels: Vec<usize>,
        pairs: Vec<usize>,
        case: GenCase,
        cost: f64,
    }
    let mut candidates = Vec::new();
    let mut coverable = vec![false; pairs];
    let mut levels = vec![0usize; f.len()];
    for n in 0..combinations {
        let mut rest = n;
        for k in (0..f.len()).rev() {
            levels[k] = rest % radix[k];
            rest /= radix[k];
        }
        if (0..f.len()).any(|k| !keep(f[k].name, f[k].levels[levels[k]])) {
            continue;
        }
        let pick = Pick {
            factors: f,
            levels: &levels,
        };
        let Some(case) = (space.build)(&pick) else {
            continue;
        };
        let ids = pair_ids(&levels);
        for &p in &ids {
            coverable[p] = true;
        }
        candidates.push(Candidate {
            cost: case.cost(op),
            levels: levels.clone(),
            pairs: ids,
            case,
        });
    }
    let possible = candidates.len();
    let mut covered = vec![false; pairs];
    let mut left = coverable.iter().filter(|&&c| c).count();
    let total = left;
    // Greedy set cover: each step takes the candidate that holds the most
    // uncovered pairs, the cheaper on a tie, then the earlier. Each
    // candidate's count of uncovered pairs is kept up to date through an
    // index from pair to the candidates holding it, so a step is one pass
    // over the counts rather than over every candidate's pairs (which made
    // the bundled coverage suite take seconds to load).
    let mut start = vec![0usize; pairs + 1];
    for c in &candidates {
        for &p in &c.pairs {
            start[p + 1] += 1;
        }
    }
    for p in 0..pairs {
        start[p + 1] += start[p];
    }
    let mut holders = vec![0usize; start[pairs]];
    let mut fill = start.clone();
    for (i, c) in candidates.iter().enumerate() {
        for &p in &c.pairs {
            holders[fill[p]] = i;
            fill[p] += 1;
        }
    }
    let mut new: Vec<usize> = candidates.iter().map(|c| c.pairs.len()).collect();
    let mut picked = Vec::new();
    while left > 0 {
        let mut best: Option<usize> = None;
        for (i, c) in candidates.iter().enumerate() {
            let better = match best {
                None => new[i] > 0,
                Some(b) => new[i] > new[b] || (new[i] == new[b] && c.cost < candidates[b].cost),
            };
            if better {
                best = Some(i);
            }
        }
        let i = best.expect("an uncovered coverable pair is held by some candidate");
        left -= new[i];
        for &p in &candidates[i].pairs {
            if !covered[p] {
                covered[p] = true;
                for &h in &holders[start[p]..start[p + 1]] {
                    new[h] -= 1;
                }
            }
        }
        picked.push(i);
    }
    let mut slots: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
    let picked: Vec<Candidate> = picked
        .into_iter()
        .map(|i| slots[i].take().expect("a candidate is picked once"))
        .collect();
    let cost = picked.iter().map(|c| c.cost).sum();
    let picks = picked.iter().map(|c| c.levels.clone()).collect();
    let cases = picked
        .into_iter()
        .map(|c| {
            let pick = Pick {
                factors: f,
                levels: &c.levels,
            };
            let name: Vec<&str> = f
                .iter()
                .zip(&c.levels)
                .filter(|(x, _)| x.name != DTYPE)
                .map(|(x, &l)| x.levels[l])
                .collect();
            (name.join("_"), pick.dtype(), c.case)
        })
        .collect();
    Covering {
        cases,
        picks,
        coverable: total,
        covered: total - left,
        combinations,
        possible,
        cost,
    }
}

/// The case space `op` declares in its family file, if it has one.
pub fn space(op: Op) -> Option<CaseSpace> {
    use super::{
        activation, attention, conv, einsum, elementwise, indexing, linalg, logic, norm, normalize,
        quant, recurrent, reduce, reduce_more, rope, sample, shape, variadic,
    };
    let declare = match op {
        Op::Add => elementwise::add_cases,
        Op::Sub => elementwise::sub_cases,
        Op::Mul => elementwise::mul_cases,
        Op::Div => elementwise::div_cases,
        Op::Neg => elementwise::neg_cases,
        Op::Exp => elementwise::exp_cases,
        Op::Log => elementwise::log_cases,
        Op::Sqrt => elementwise::sqrt_cases,
        Op::Reciprocal => elementwise::reciprocal_cases,
        Op::Tanh => elementwise::tanh_cases,
        Op::Sigmoid => elementwise::sigmoid_cases,
        Op::Relu => elementwise::relu_cases,
        Op::Erf => elementwise::erf_cases,
        Op::Softplus => elementwise::softplus_cases,
        Op::Gelu => elementwise::gelu_cases,
        Op::MatMul => linalg::matmul_cases,
        Op::Gemm => linalg::gemm_cases,
        Op::ReduceSum => reduce::reduce_sum_cases,
        Op::ReduceMean => reduce::reduce_mean_cases,
        Op::ReduceMax => reduce::reduce_max_cases,
        Op::Softmax => reduce::softmax_cases,
        Op::LogSoftmax => reduce::log_softmax_cases,
        Op::LayerNormalization => norm::layer_norm_cases,
        Op::RMSNormalization => norm::rms_norm_cases,
        Op::Gather => shape::gather_cases,
        Op::Transpose => shape::transpose_cases,
        Op::Reshape => shape::reshape_cases,
        Op::Concat => shape::concat_cases,
        Op::Where => elementwise::where_cases,
        Op::Cast => elementwise::cast_cases,
        Op::TopK => reduce::topk_cases,
        Op::RotaryEmbedding => rope::rotary_cases,
        Op::Attention => attention::attention_cases,
        Op::QuantizeLinear => quant::quantize_cases,
        Op::DequantizeLinear => quant::dequantize_cases,
        // issue 17: activations and unary math
        Op::Clip => activation::clip_cases,
        Op::Elu => activation::elu_cases,
        Op::Selu => activation::selu_cases,
        Op::Celu => activation::celu_cases,
        Op::LeakyRelu => activation::leaky_relu_cases,
        Op::PRelu => activation::prelu_cases,
        Op::ThresholdedRelu => activation::thresholded_relu_cases,
        Op::Shrink => activation::shrink_cases,
        Op::HardSigmoid => activation::hard_sigmoid_cases,
        Op::HardSwish => activation::hard_swish_cases,
        Op::Mish => activation::mish_cases,
        Op::Softsign => activation::softsign_cases,
        Op::Abs => activation::abs_cases,
        Op::Ceil => activation::ceil_cases,
        Op::Floor => activation::floor_cases,
        Op::Round => activation::round_cases,
        Op::Sign => activation::sign_cases,
        Op::Sin => activation::sin_cases,
        Op::Cos => activation::cos_cases,
        Op::Tan => activation::tan_cases,
        Op::Asin => activation::asin_cases,
        Op::Acos => activation::acos_cases,
        Op::Atan => activation::atan_cases,
        Op::Sinh => activation::sinh_cases,
        Op::Cosh => activation::cosh_cases,
        Op::Asinh => activation::asinh_cases,
        Op::Acosh => activation::acosh_cases,
        Op::Atanh => activation::atanh_cases,
        Op::IsNaN => activation::is_nan_cases,
        Op::IsInf => activation::is_inf_cases,
        Op::Not => activation::not_cases,
        // issue 17: binary/variadic math, comparison, logic, bitwise
        Op::Pow => logic::pow_cases,
        Op::Max => variadic::max_cases,
        Op::Min => variadic::min_cases,
        Op::Mean => variadic::mean_cases,
        Op::Sum => variadic::sum_cases,
        Op::Mod => logic::mod_cases,
        Op::Equal => logic::equal_cases,
        Op::Less => logic::less_cases,
        Op::LessOrEqual => logic::less_or_equal_cases,
        Op::Greater => logic::greater_cases,
        Op::GreaterOrEqual => logic::greater_or_equal_cases,
        Op::And => logic::and_cases,
        Op::Or => logic::or_cases,
        Op::Xor => logic::xor_cases,
        Op::BitShift => logic::bit_shift_cases,
        Op::BitwiseAnd => logic::bitwise_and_cases,
        Op::BitwiseOr => logic::bitwise_or_cases,
        Op::BitwiseXor => logic::bitwise_xor_cases,
        Op::BitwiseNot => logic::bitwise_not_cases,
        // issue 17: normalization and reductions
        Op::BatchNormalization => normalize::batch_norm_cases,
        Op::ReduceMin => reduce_more::reduce_min_cases,
        Op::ReduceProd => reduce_more::reduce_prod_cases,
        Op::ReduceL1 => reduce_more::reduce_l1_cases,
        Op::ReduceL2 => reduce_more::reduce_l2_cases,
        Op::ReduceLogSum => reduce_more::reduce_log_sum_cases,
        Op::ReduceLogSumExp => reduce_more::reduce_log_sum_exp_cases,
        Op::ReduceSumSquare => reduce_more::reduce_sum_square_cases,
        Op::ArgMax => reduce_more::argmax_cases,
        Op::ArgMin => reduce_more::argmin_cases,
        Op::CumSum => reduce_more::cumsum_cases,
        Op::Hardmax => reduce_more::hardmax_cases,
        // issue 17: Resize and friends
        Op::Resize => super::resize::resize_cases,
        // issue 17: shape and indexing
        Op::Slice => indexing::slice_cases,
        Op::Squeeze => indexing::squeeze_cases,
        Op::Unsqueeze => indexing::unsqueeze_cases,
        Op::Shape => indexing::shape_cases,
        Op::Size => indexing::size_cases,
        Op::Identity => indexing::identity_cases,
        Op::Flatten => indexing::flatten_cases,
        Op::Expand => indexing::expand_cases,
        Op::Tile => indexing::tile_cases,
        Op::ConstantOfShape => super::constant::constant_of_shape_cases,
        Op::Range => indexing::range_cases,
        Op::Pad => indexing::pad_cases,
        Op::Split => indexing::split_cases,
        Op::EyeLike => indexing::eye_like_cases,
        Op::Trilu => indexing::trilu_cases,
        Op::ScatterND => indexing::scatter_nd_cases,
        // issue 17: convolution and pooling
        Op::Conv => conv::conv_cases,
        Op::MaxPool => conv::maxpool_cases,
        Op::AveragePool => conv::averagepool_cases,
        Op::GlobalAveragePool => conv::global_averagepool_cases,
        Op::GlobalMaxPool => conv::global_maxpool_cases,
        // issue 17: linear algebra and spatial sampling
        Op::Einsum => einsum::einsum_cases,
        Op::Det => einsum::det_cases,
        Op::Col2Im => sample::col2im_cases,
        // issue 17: recurrent
        Op::LSTM => recurrent::lstm_cases,
        Op::GRU => recurrent::gru_cases,
        Op::RNN => recurrent::rnn_cases,
        // issue 17: data-dependent output shapes
        Op::NonZero => super::dynamic::nonzero_cases,
        Op::Compress => super::dynamic::compress_cases,
        Op::Unique => super::dynamic::unique_cases,
        Op::NonMaxSuppression => super::dynamic::nms_cases,
        // issue 17: gather, scatter and index movement
        Op::GatherElements => super::gather::gather_elements_cases,
        Op::GatherND => super::gather::gather_nd_cases,
        Op::ScatterElements => super::gather::scatter_elements_cases,
        Op::DepthToSpace => super::gather::depth_to_space_cases,
        Op::SpaceToDepth => super::gather::space_to_depth_cases,
        Op::OneHot => super::gather::one_hot_cases,
        Op::CumProd => reduce_more::cumprod_cases,
        Op::ReverseSequence => super::gather::reverse_sequence_cases,
        // issue 17: normalization family 2
        Op::InstanceNormalization => super::normalize2::instance_norm_cases,
        Op::GroupNormalization => super::normalize2::group_norm_cases,
        Op::MeanVarianceNormalization => super::normalize2::mvn_cases,
        Op::LpNormalization => super::normalize2::lp_norm_cases,
        Op::LRN => super::normalize2::lrn_cases,
        Op::Dropout => super::normalize2::dropout_cases,
        Op::CastLike => super::normalize2::cast_like_cases,
        // issue 17: convolution transpose and quantized linear algebra
        Op::ConvTranspose => super::conv_transpose::conv_transpose_cases,
        // issue 17: integer-quantized ops and the last pooling ops
        Op::MatMulInteger => super::quant_int::matmul_integer_cases,
        Op::QLinearMatMul => super::quant_int::qlinear_matmul_cases,
        Op::ConvInteger => super::quant_int::conv_integer_cases,
        Op::QLinearConv => super::quant_int::qlinear_conv_cases,
        Op::DynamicQuantizeLinear => super::quant_int::dynamic_quantize_linear_cases,
        Op::LpPool => super::pool_more::lp_pool_cases,
        Op::MaxUnpool => super::pool_more::max_unpool_cases,
        // issue 18: DeepSeek
        Op::MoeGatingTopK => super::moe::moe_gating_topk_cases,
        // issue 17: spatial sampling
        Op::GridSample => super::grid::grid_sample_cases,
        Op::AffineGrid => super::grid::affine_grid_cases,
        Op::RoiAlign => super::grid::roi_align_cases,
        Op::CenterCropPad => super::grid::center_crop_pad_cases,
        // issue 17: optional outputs, tensor attributes, opset 24
        Op::Swish => super::opset24::swish_cases,
        Op::TensorScatter => super::opset24::tensor_scatter_cases,
        // issue 18: mla
        Op::MlaAttention => super::mla::mla_attention_cases,
        // issue 18: fp8
        Op::Fp8BlockGemm => super::fp8::fp8_block_gemm_cases,
        // issue 17: attrs
        Op::Constant => super::constant::constant_cases,
        Op::BitCast => super::bitcast::bit_cast_cases,
    };
    declare()
}

#[cfg(test)]
mod tests;

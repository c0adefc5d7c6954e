//! The two ways a model graph is executed, op by op: through a backend
//! library ([`BackendExec`]) and through the f64 oracle ([`OracleExec`]).
//!
//! The graph builders in `graph/` are written once against [`Exec`]; each
//! call names an ONNX op, its attributes and its inputs. The backend path
//! never calls the oracle: its only arithmetic is the backend's.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::Instant;

use ndarray::ArrayD;
use xpucert_abi::Status as AbiStatus;

use crate::backend::call::{Guard, PreparedCall, StoredTensor, contiguous_strides, hash64};
use crate::backend::{CallError, DylibBackend};
use crate::model::graph::{Routing, judge_routing};
use crate::numerics::{DType, HostTensor};
use crate::ops::{self, AttrValue, Attributes, Op, Value};

/// Why a model could not be executed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The backend returned UNSUPPORTED for an op the model needs.
    #[error("{op} ({dtype}) unsupported by the backend: {message}")]
    Unsupported {
        /// The op.
        op: String,
        /// Its dtype.
        dtype: String,
        /// The backend's message.
        message: String,
    },
    /// The backend returned another failure status.
    #[error("{op} failed in the backend: {error}")]
    Backend {
        /// The op.
        op: String,
        /// What the backend said.
        error: CallError,
    },
    /// The backend broke the memory contract (wrote an input, overran an
    /// output, left an output unwritten).
    #[error("{op}: {finding}")]
    Memory {
        /// The op.
        op: String,
        /// The finding.
        finding: String,
    },
    /// The graph is wrong for the oracle (a bug in the builder or config).
    #[error("oracle: {0}")]
    Oracle(#[from] ops::OracleError),
    /// Weights could not be read, or have the wrong shape.
    #[error("weights: {0}")]
    Weights(String),
    /// Anything else about the configuration.
    #[error("{0}")]
    Config(String),
}

/// Attributes from a short literal list.
pub fn attrs(list: &[(&str, AttrValue)]) -> Attributes {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// What a graph builder needs from an executor.
pub trait Exec {
    /// A tensor handle (cheap to clone; dropped when no longer needed).
    type T: Clone;
    /// Runs one ONNX op (at the opset of its definition in `crate::ops`).
    fn op(
        &mut self,
        op: Op,
        attrs: &Attributes,
        inputs: &[Option<&Self::T>],
    ) -> Result<Vec<Self::T>, ModelError>;
    /// A tensor the harness supplies (ids, masks, shapes, RoPE caches).
    /// Floating values are rounded to `dtype` once, identically on both paths.
    fn constant(&mut self, dtype: DType, shape: &[usize], values: &[f64]) -> Self::T;
    /// The dtype the model runs in.
    fn run_dtype(&self) -> DType;
    /// A weight by its logical name, rounded to `dtype` (the run dtype, or
    /// f32 for what the reference implementation keeps in f32, such as
    /// DeepSeek's router bias). Resident: prepared once per executor.
    fn weight_in(&mut self, name: &str, dtype: DType) -> Result<Self::T, ModelError>;
    /// A weight by its logical name, converted to the run dtype.
    fn weight(&mut self, name: &str) -> Result<Self::T, ModelError> {
        let d = self.run_dtype();
        self.weight_in(name, d)
    }
    /// The values of a tensor, as f64 (for routing decisions and outputs).
    fn read(&mut self, t: &Self::T) -> (Vec<usize>, Vec<f64>);
    /// Records a hidden state under `label` for divergence localization.
    fn probe(&mut self, label: String, t: &Self::T);
    /// Turns probe recording on or off (decode steps are not profiled).
    fn set_recording(&mut self, on: bool);
    /// Seconds spent inside the backend so far (0 for the oracle).
    fn busy_seconds(&self) -> f64 {
        0.0
    }
    /// When this path records its routing for the other to follow (the
    /// oracle): the relative error the suite allows the router's input
    /// (`graph::deepseek::routing`). `None` otherwise.
    fn routing_slack(&self) -> Option<f64> {
        None
    }
    /// Records one MoE call's routing (the oracle path).
    fn record_routing(&mut self, _routing: Routing) {}
    /// The experts one MoE call runs, given this path's own choice: `None`
    /// to run its own, `Some` for the recorded routing it follows instead
    /// (the backend path, where the two differ only by near-ties).
    fn follow_routing(&mut self, _own: &[usize]) -> Option<Vec<usize>> {
        None
    }
}

/// Provides weights by logical name, in f64, already in the layout the
/// graph uses (e.g. Linear weights as `[in, out]`).
pub trait WeightProvider {
    /// The weight, exact (dequantized without rounding).
    fn get(&self, name: &str) -> Result<ArrayD<f64>, ModelError>;
}

/// A recorded hidden state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Probe {
    /// e.g. `layer 3`.
    pub label: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f64>,
}

/// The cache key of a weight: its name in the run dtype (which is how
/// `weights_intact` names it), `name@dtype` in another.
fn cache_key(name: &str, dtype: DType, run: DType) -> String {
    if dtype == run {
        name.to_string()
    } else {
        format!("{name}@{dtype}")
    }
}

fn round_to(dtype: DType, shape: &[usize], values: &[f64]) -> HostTensor {
    let a = ArrayD::from_shape_vec(shape.to_vec(), values.to_vec()).expect("shape and data agree");
    HostTensor::from_f64(dtype, &a)
}

// ---------------------------------------------------------------- oracle --

/// The f64 oracle: exact results of each op on the exact values of its
/// inputs. Weights and constants are the run-dtype values, seen exactly.
pub struct OracleExec<'a> {
    dtype: DType,
    weights: &'a dyn WeightProvider,
    cache: HashMap<String, Rc<Value>>,
    /// Hidden states recorded by the graph.
    pub probes: Vec<Probe>,
    /// Whether to record probes.
    pub record_probes: bool,
    /// Routing slack to record MoE decisions with (`Exec::routing_slack`).
    pub routing_slack: Option<f64>,
    /// The MoE decisions, in call order.
    pub routings: Vec<Routing>,
}

impl<'a> OracleExec<'a> {
    /// An oracle executor for a model run in `dtype`.
    pub fn new(dtype: DType, weights: &'a dyn WeightProvider) -> Self {
        OracleExec {
            dtype,
            weights,
            cache: HashMap::new(),
            probes: Vec::new(),
            record_probes: true,
            routing_slack: None,
            routings: Vec::new(),
        }
    }
}

impl Exec for OracleExec<'_> {
    type T = Rc<Value>;

    fn routing_slack(&self) -> Option<f64> {
        self.routing_slack
    }

    fn record_routing(&mut self, routing: Routing) {
        self.routings.push(routing);
    }

    fn set_recording(&mut self, on: bool) {
        self.record_probes = on;
    }

    fn op(
        &mut self,
        op: Op,
        attrs: &Attributes,
        inputs: &[Option<&Self::T>],
    ) -> Result<Vec<Self::T>, ModelError> {
        let refs: Vec<Option<&Value>> = inputs.iter().map(|t| t.map(|v| v.as_ref())).collect();
        let out = ops::evaluate_refs(op, op.opset, attrs, &refs, false, None)?;
        Ok(out.into_iter().map(|o| Rc::new(o.value)).collect())
    }

    fn constant(&mut self, dtype: DType, shape: &[usize], values: &[f64]) -> Self::T {
        let t = round_to(dtype, shape, values);
        Rc::new(Value::new(dtype, t.to_f64()))
    }

    fn run_dtype(&self) -> DType {
        self.dtype
    }

    fn weight_in(&mut self, name: &str, dtype: DType) -> Result<Self::T, ModelError> {
        let key = cache_key(name, dtype, self.dtype);
        if let Some(v) = self.cache.get(&key) {
            return Ok(v.clone());
        }
        let exact = self.weights.get(name)?;
        let rounded = HostTensor::from_f64(dtype, &exact).to_f64();
        let v = Rc::new(Value::new(dtype, rounded));
        self.cache.insert(key, v.clone());
        Ok(v)
    }

    fn read(&mut self, t: &Self::T) -> (Vec<usize>, Vec<f64>) {
        (t.shape().to_vec(), t.data.iter().copied().collect())
    }

    fn probe(&mut self, label: String, t: &Self::T) {
        if self.record_probes {
            let (shape, data) = self.read(t);
            self.probes.push(Probe { label, shape, data });
        }
    }
}

// --------------------------------------------------------------- backend --

/// A tensor on the backend path: its buffer, which a call borrows by moving
/// it into the call and back.
pub struct Slot {
    cell: RefCell<Option<StoredTensor>>,
    resident: bool,
}

/// Handle to a backend-path tensor.
pub type BT = Rc<Slot>;

/// Where the backend path's time went.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct OpTimes {
    /// Seconds inside run_op, per op kind.
    pub seconds: BTreeMap<String, f64>,
    /// Calls per op kind.
    pub calls: BTreeMap<String, u64>,
}

impl OpTimes {
    /// Total seconds inside run_op.
    pub fn total(&self) -> f64 {
        self.seconds.values().sum()
    }
}

/// Weights prepared for the backend path (with the hash of their bytes),
/// kept between runs of the same model in one worker.
#[derive(Default)]
pub struct Resident(HashMap<String, (BT, u64)>);

/// The backend path: every op is a `run_op` call on the library (or, for op
/// kinds in `swap`, on the reference library: operator attribution).
/// Weights are prepared once and stay resident; the harness does not copy
/// or snapshot them per call, and checks their bytes once at the end
/// ([`BackendExec::weights_intact`]).
pub struct BackendExec<'a> {
    lib: &'a DylibBackend,
    swap: Option<(&'a DylibBackend, BTreeSet<String>)>,
    dtype: DType,
    weights: &'a dyn WeightProvider,
    cache: HashMap<String, (BT, u64)>,
    /// Hidden states recorded by the graph.
    pub probes: Vec<Probe>,
    /// Whether to record probes.
    pub record_probes: bool,
    /// Time inside run_op.
    pub times: OpTimes,
    /// The oracle's MoE decisions still to come, in call order.
    pub routing: std::collections::VecDeque<Routing>,
    /// Tokens run on the oracle's experts instead of their own near-tie
    /// choice.
    pub rerouted: usize,
    /// Where this path's routing differed from the oracle's beyond the
    /// slack.
    pub routing_notes: Vec<String>,
}

impl<'a> BackendExec<'a> {
    /// A backend executor for a model run in `dtype`, starting from weights
    /// already prepared by an earlier run of the same model and dtype
    /// ([`BackendExec::into_resident`]; empty for a first run).
    pub fn new(
        lib: &'a DylibBackend,
        swap: Option<(&'a DylibBackend, BTreeSet<String>)>,
        dtype: DType,
        weights: &'a dyn WeightProvider,
        resident: Resident,
    ) -> Self {
        BackendExec {
            lib,
            swap,
            dtype,
            weights,
            cache: resident.0,
            probes: Vec::new(),
            record_probes: true,
            times: OpTimes::default(),
            routing: Default::default(),
            rerouted: 0,
            routing_notes: Vec::new(),
        }
    }

    /// The prepared weights, to hand to the next run of the same model.
    pub fn into_resident(self) -> Resident {
        Resident(self.cache)
    }

    fn slot(t: StoredTensor, resident: bool) -> BT {
        Rc::new(Slot {
            cell: RefCell::new(Some(t)),
            resident,
        })
    }

    /// Names of resident weights whose bytes changed since they were
    /// prepared (a backend that writes into its inputs).
    pub fn weights_intact(&self) -> Vec<String> {
        let mut bad: Vec<String> = self
            .cache
            .iter()
            .filter(|(_, (slot, hash))| {
                slot.cell
                    .borrow()
                    .as_ref()
                    .is_none_or(|t| hash64(t.buf.bytes()) != *hash)
            })
            .map(|(k, _)| k.clone())
            .collect();
        bad.sort();
        bad
    }
}

impl Exec for BackendExec<'_> {
    type T = BT;

    fn follow_routing(&mut self, own: &[usize]) -> Option<Vec<usize>> {
        let r = self.routing.pop_front()?;
        match judge_routing(&r, own) {
            Ok(0) => None,
            Ok(n) => {
                self.rerouted += n;
                Some(r.chosen)
            }
            Err(note) => {
                self.routing_notes.push(note);
                None
            }
        }
    }

    fn set_recording(&mut self, on: bool) {
        self.record_probes = on;
    }

    fn busy_seconds(&self) -> f64 {
        self.times.total()
    }

    fn op(
        &mut self,
        op: Op,
        attrs: &Attributes,
        inputs: &[Option<&Self::T>],
    ) -> Result<Vec<Self::T>, ModelError> {
        let (spec, name) = (op.spec(), op.name());
        // Output shapes and dtypes from the ops' shape rules (never from the
        // oracle); shape-carrying inputs (Reshape's shape, TopK's K) are read.
        let in_shapes: Vec<Option<(DType, Vec<usize>)>> = inputs
            .iter()
            .map(|t| {
                t.map(|s| {
                    let b = s.cell.borrow();
                    let st = b.as_ref().expect("tensor present between calls");
                    (st.dtype, st.shape.iter().map(|&d| d as usize).collect())
                })
            })
            .collect();
        let mut values = |i: usize| -> Vec<f64> {
            inputs
                .get(i)
                .copied()
                .flatten()
                .and_then(|s| s.cell.borrow().as_ref().map(|t| t.to_host().to_f64()))
                .map(|a| a.iter().copied().collect())
                .unwrap_or_default()
        };
        let outs = op
            .output_shapes(attrs, &in_shapes, &mut values)
            .map_err(ModelError::Config)?;
        // Move the inputs into the call; a tensor named twice is copied for
        // its second use. `first[i]`: the first position naming input i's slot.
        let first: Vec<usize> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                inputs
                    .iter()
                    .position(|o| matches!((o, t), (Some(o), Some(t)) if Rc::ptr_eq(o, t)))
                    .unwrap_or(i)
            })
            .collect();
        let mut taken: Vec<Option<StoredTensor>> = Vec::with_capacity(inputs.len());
        let mut trusted = Vec::with_capacity(inputs.len());
        for (i, t) in inputs.iter().enumerate() {
            match t {
                None => {
                    taken.push(None);
                    trusted.push(false);
                }
                Some(s) => {
                    let st = if first[i] == i {
                        s.cell
                            .borrow_mut()
                            .take()
                            .expect("tensor present between calls")
                    } else {
                        // already moved by an earlier position of this call
                        let src = taken[first[i]].as_ref().expect("moved there");
                        let shape: Vec<usize> = src.shape.iter().map(|&d| d as usize).collect();
                        StoredTensor::new(src.dtype, &shape, src.strides.clone(), src.buf.bytes())
                    };
                    trusted.push(s.resident);
                    taken.push(Some(st));
                }
            }
        }
        let dynamic = op.def().data_dependent_outputs();
        let outputs: Vec<StoredTensor> = outs
            .iter()
            .enumerate()
            .map(|(i, (d, s))| {
                let mut t = StoredTensor::output_with(*d, s, Guard::Canary);
                if dynamic.contains(&i) {
                    t.reported = Some(t.shape.clone());
                }
                t
            })
            .collect();
        let mut call = PreparedCall::with_trusted_inputs(
            spec.domain,
            spec.name,
            spec.opset,
            attrs,
            taken,
            outputs,
            &trusted,
        );
        let lib = match &self.swap {
            Some((reference, kinds)) if kinds.contains(name) => *reference,
            _ => self.lib,
        };
        // `run` returns after the stream's sync for a backend with the
        // stream group, so this time and the outputs read below are of
        // finished work.
        let start = Instant::now();
        let outcome = lib.run(&mut call);
        let dt = start.elapsed().as_secs_f64();
        *self.times.seconds.entry(name.to_string()).or_default() += dt;
        *self.times.calls.entry(name.to_string()).or_default() += 1;
        let findings = call.verify_after_call();
        // Give the inputs back (first occurrence of each slot only).
        for (i, t) in inputs.iter().enumerate() {
            if let Some(s) = t
                && first[i] == i
            {
                *s.cell.borrow_mut() = call.inputs[i].take();
            }
        }
        let dtype_name = in_shapes
            .iter()
            .flatten()
            .next()
            .map(|(d, _)| d.name())
            .unwrap_or("?")
            .to_string();
        match outcome {
            Ok(()) => {}
            Err(CallError::Failed {
                status: AbiStatus::Unsupported,
                message,
            }) => {
                return Err(ModelError::Unsupported {
                    op: name.into(),
                    dtype: dtype_name,
                    message,
                });
            }
            Err(error) => {
                return Err(ModelError::Backend {
                    op: name.into(),
                    error,
                });
            }
        }
        if let Some(f) = findings.first() {
            return Err(ModelError::Memory {
                op: name.into(),
                finding: f.to_string(),
            });
        }
        Ok(call
            .outputs
            .drain(..)
            .map(|mut t| {
                t.settle();
                BackendExec::slot(t, false)
            })
            .collect())
    }

    fn constant(&mut self, dtype: DType, shape: &[usize], values: &[f64]) -> Self::T {
        let t = round_to(dtype, shape, values);
        BackendExec::slot(
            StoredTensor::new(dtype, shape, contiguous_strides(shape), &t.data),
            false,
        )
    }

    fn run_dtype(&self) -> DType {
        self.dtype
    }

    fn weight_in(&mut self, name: &str, dtype: DType) -> Result<Self::T, ModelError> {
        let key = cache_key(name, dtype, self.dtype);
        if let Some((v, _)) = self.cache.get(&key) {
            return Ok(v.clone());
        }
        let exact = self.weights.get(name)?;
        let t = HostTensor::from_f64(dtype, &exact);
        drop(exact);
        let st = StoredTensor::new(dtype, &t.shape, contiguous_strides(&t.shape), &t.data);
        let hash = hash64(st.buf.bytes());
        let slot = BackendExec::slot(st, true);
        self.cache.insert(key, (slot.clone(), hash));
        Ok(slot)
    }

    fn read(&mut self, t: &Self::T) -> (Vec<usize>, Vec<f64>) {
        let b = t.cell.borrow();
        let st = b.as_ref().expect("tensor present between calls");
        let h = st.to_host();
        (h.shape.clone(), h.to_f64().iter().copied().collect())
    }

    fn probe(&mut self, label: String, t: &Self::T) {
        if self.record_probes {
            let (shape, data) = self.read(t);
            self.probes.push(Probe { label, shape, data });
        }
    }
}

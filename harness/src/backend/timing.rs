//! The timing loop: a backend-level service, like a single call, run where
//! the library lives. The in-process executor calls it directly, the worker
//! calls it on its own copy of the calls, so a figure never includes pipe or
//! copy time. What the figures mean (statistics, cost models, requirements)
//! is `perf`'s business; this module only times calls.
//!
//! Anti-caching (in the spirit of MLPerf's TEST04): the harness prepares two
//! or more input variants (different seeds) before timing, the loop cycles
//! through them, and before every call it flips the lowest mantissa bit of a
//! pattern of elements of the variant's first floating-point input (the
//! pattern is the binary spelling of a per-variant counter, so no two calls
//! of a measurement, and no timed call and the correctness call, see the
//! same bytes). The flip is undone after the call, outside the clock. A
//! backend that caches outputs by input therefore never hits during timing;
//! after timing every variant runs once more, untimed and unperturbed, into
//! freshly poisoned outputs, and the harness checks those against the
//! oracle of each variant.
//!
//! The loop stops when both `min_iters` calls and `min_time_s` have passed,
//! or at `max_iters` calls or `max_time_s`, whichever comes first.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::CallError;
use super::call::{POISON, PreparedCall, StoredTensor};

/// How long and how often to time one case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurePlan {
    /// Untimed calls first (caches, page faults, thread pools, JIT).
    pub warmup: u32,
    /// At least this many timed calls ...
    pub min_iters: u32,
    /// ... and at least this much timed wall time, seconds.
    pub min_time_s: f64,
    /// Never more calls than this.
    pub max_iters: u32,
    /// Never more wall time than this (warm-up included), seconds; at least
    /// one timed call is always made.
    pub max_time_s: f64,
}

impl Default for MeasurePlan {
    fn default() -> Self {
        MeasurePlan {
            warmup: 2,
            min_iters: 10,
            min_time_s: 0.2,
            max_iters: 10_000,
            max_time_s: 10.0,
        }
    }
}

/// Times `calls` (the input variants of one case) with `run`, per `plan`.
/// Returns the per-call seconds in the order measured. Afterwards every
/// call's inputs are as prepared and its outputs hold the result of one
/// unperturbed, untimed call made into poisoned outputs.
///
/// `run` must return only when the work is complete (for an asynchronous
/// backend: after syncing its stream), which is what the clock measures.
pub fn time_calls(
    calls: &mut [PreparedCall],
    plan: &MeasurePlan,
    run: &mut dyn FnMut(&mut PreparedCall) -> Result<(), CallError>,
) -> Result<Vec<f64>, CallError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let v = calls.len();
    let mut uses = vec![0u64; v];
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut i = 0usize;
    loop {
        let k = i % v;
        let warm = i < plan.warmup as usize;
        uses[k] += 1;
        let flips = perturb(&mut calls[k], uses[k]);
        let t0 = Instant::now();
        let r = run(&mut calls[k]);
        let dt = t0.elapsed().as_secs_f64();
        unperturb(&mut calls[k], &flips);
        r?;
        i += 1;
        if !warm {
            samples.push(dt);
        }
        let n = samples.len();
        let elapsed = start.elapsed().as_secs_f64();
        let timed_enough = n >= plan.min_iters as usize && elapsed >= plan.min_time_s;
        let capped = n >= plan.max_iters.max(1) as usize || (n >= 1 && elapsed >= plan.max_time_s);
        if timed_enough || capped {
            break;
        }
    }
    for c in calls.iter_mut() {
        for o in &mut c.outputs {
            o.buf.bytes_mut().fill(POISON);
        }
        run(c)?;
    }
    Ok(samples)
}

/// What a measurement returns besides the outputs left in the calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Per-call seconds, in the order measured (warm-up excluded).
    pub samples_s: Vec<f64>,
    /// Memory-safety findings of the final (verification) calls, one line
    /// each, prefixed with the variant.
    pub findings: Vec<String>,
}

/// [`time_calls`], then the memory-safety checks of every call.
pub fn measure_with(
    calls: &mut [PreparedCall],
    plan: &MeasurePlan,
    run: &mut dyn FnMut(&mut PreparedCall) -> Result<(), CallError>,
) -> Result<Measured, CallError> {
    let samples_s = time_calls(calls, plan, run)?;
    let findings = calls
        .iter()
        .enumerate()
        .flat_map(|(k, c)| {
            c.verify_after_call()
                .into_iter()
                .map(move |v| format!("input variant {k}: {v}"))
        })
        .collect();
    Ok(Measured {
        samples_s,
        findings,
    })
}

/// Byte offsets flipped in one input, to undo.
struct Flips {
    input: usize,
    offsets: Vec<usize>,
}

/// Flips the lowest mantissa bit of the elements named by the set bits of
/// `pattern` (>= 1) in the first floating-point input of at least two bytes
/// per element (fp8 is left alone: one flipped bit can make a NaN there).
fn perturb(call: &mut PreparedCall, pattern: u64) -> Option<Flips> {
    let (input, t) = call
        .inputs
        .iter_mut()
        .enumerate()
        .find_map(|(i, t)| match t {
            Some(t) if t.dtype.is_float() && t.dtype.size() >= 2 && numel(t) > 0 => Some((i, t)),
            _ => None,
        })?;
    let n = numel(t);
    let mut offsets = Vec::new();
    for bit in 0..64u32 {
        if pattern & (1u64 << bit) == 0 {
            continue;
        }
        // More set bits than elements: fold the bit onto an element (a small
        // tensor has fewer distinct patterns; documented in perf docs).
        let e = bit as usize % n;
        if let Some(off) = element_offset(t, e)
            && !offsets.contains(&off)
        {
            offsets.push(off);
        }
    }
    let bytes = t.buf.bytes_mut();
    for &off in &offsets {
        // Little-endian: byte 0 of an element holds its lowest mantissa bit.
        bytes[off] ^= 1;
    }
    Some(Flips { input, offsets })
}

fn unperturb(call: &mut PreparedCall, flips: &Option<Flips>) {
    let Some(f) = flips else { return };
    if let Some(Some(t)) = call.inputs.get_mut(f.input) {
        let bytes = t.buf.bytes_mut();
        for &off in &f.offsets {
            bytes[off] ^= 1;
        }
    }
}

fn numel(t: &StoredTensor) -> usize {
    t.shape
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .product()
}

/// Byte offset of logical element `e` (row-major over the shape) in the
/// tensor's storage, following its strides; `None` if outside the buffer.
fn element_offset(t: &StoredTensor, mut e: usize) -> Option<usize> {
    let mut off: i64 = 0;
    for (d, s) in t.shape.iter().zip(&t.strides).rev() {
        let d = usize::try_from(*d).ok()?.max(1);
        off += (e % d) as i64 * s;
        e /= d;
    }
    let off = usize::try_from(off).ok()? * t.dtype.size();
    (off + t.dtype.size() <= t.buf.bytes().len()).then_some(off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::call::{Guard, StoredTensor, contiguous_strides};
    use crate::numerics::DType;
    use crate::ops::Attributes;

    fn call(seed: u8) -> PreparedCall {
        let bytes: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(seed)).collect();
        let input = StoredTensor::new(DType::F32, &[4, 4], contiguous_strides(&[4, 4]), &bytes);
        let out = StoredTensor::output_with(DType::F32, &[4, 4], Guard::Canary);
        PreparedCall::new(
            "",
            "Relu",
            14,
            &Attributes::new(),
            vec![Some(input)],
            vec![out],
        )
    }

    #[test]
    fn no_timed_call_repeats_an_input_and_inputs_are_restored() {
        let mut calls = vec![call(3), call(7)];
        let originals: Vec<Vec<u8>> = calls
            .iter()
            .map(|c| c.inputs[0].as_ref().unwrap().buf.bytes().to_vec())
            .collect();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let plan = MeasurePlan {
            warmup: 3,
            min_iters: 40,
            min_time_s: 0.0,
            max_iters: 40,
            max_time_s: 60.0,
        };
        let samples = time_calls(&mut calls, &plan, &mut |c| {
            seen.push(c.inputs[0].as_ref().unwrap().buf.bytes().to_vec());
            c.outputs[0].buf.bytes_mut().fill(0);
            Ok(())
        })
        .unwrap();
        assert_eq!(samples.len(), 40);
        // 3 warm-up + 40 timed + 2 verification calls.
        assert_eq!(seen.len(), 45);
        let timed = &seen[..43];
        for (i, a) in timed.iter().enumerate() {
            assert!(!originals.contains(a), "call {i} saw an unperturbed input");
            for b in &timed[i + 1..] {
                assert_ne!(a, b, "an input repeated during timing");
            }
        }
        // The verification calls see the prepared inputs, and they are intact.
        assert_eq!(&seen[43..], &originals[..]);
        for (c, o) in calls.iter().zip(&originals) {
            assert_eq!(c.inputs[0].as_ref().unwrap().buf.bytes(), &o[..]);
            assert!(c.verify_after_call().is_empty());
        }
    }

    #[test]
    fn stops_at_the_caps() {
        let mut calls = vec![call(1)];
        let plan = MeasurePlan {
            warmup: 0,
            min_iters: 1_000_000,
            min_time_s: 1e9,
            max_iters: 17,
            max_time_s: 1e9,
        };
        let n = time_calls(&mut calls, &plan, &mut |_| Ok(()))
            .unwrap()
            .len();
        assert_eq!(n, 17);
        let plan = MeasurePlan {
            max_iters: u32::MAX,
            max_time_s: 0.05,
            ..plan
        };
        let t = Instant::now();
        let n = time_calls(&mut calls, &plan, &mut |_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(())
        })
        .unwrap()
        .len();
        assert!((1..1000).contains(&n));
        assert!(t.elapsed().as_secs_f64() < 5.0);
    }

    #[test]
    fn a_failed_call_ends_the_measurement() {
        let mut calls = vec![call(1)];
        let err = CallError::BadValue {
            what: "value",
            value: 1,
        };
        let e = err.clone();
        let r = time_calls(&mut calls, &MeasurePlan::default(), &mut |_| Err(e.clone()));
        assert_eq!(r, Err(err));
    }
}

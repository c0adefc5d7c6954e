//! The memory-safety checks after a call (see the module docs of [`super`]):
//! inputs hashed before and after, canaries around outputs, poison left in
//! outputs, and the [`Violation`]s they report.

use std::fmt;
use std::hash::Hasher;

use xpucert_abi::DType;

use super::{POISON, PreparedCall, StoredTensor, within_bound};

impl StoredTensor {
    /// Elements still holding the poison pattern, as `(count, first flat
    /// index)`, for the dtypes where all-ones cannot be a computed value
    /// (see the module docs of [`super`]); `None` for the others.
    fn poison_left(&self) -> Option<(usize, Option<usize>)> {
        let sz = self.dtype.size();
        let checked = (self.dtype.is_float() && sz >= 2) || self.dtype == DType::Bool;
        if !checked {
            return None;
        }
        let mut count = 0;
        let mut first = None;
        // A data-dependent output is written only over the prefix of the
        // shape it reports; past it the poison legitimately stays.
        let n: usize = self.actual_shape().iter().map(|&d| d as usize).product();
        for (i, e) in self.buf.bytes()[..n * sz].chunks_exact(sz).enumerate() {
            if e.iter().all(|&b| b == POISON) {
                count += 1;
                first.get_or_insert(i);
            }
        }
        Some((count, first))
    }
}

impl PreparedCall {
    /// The memory-safety checks after a call (see the module docs of
    /// [`super`]): inputs
    /// unchanged, every output's canaries intact, and, for outputs whose dtype
    /// allows the conclusion, no element left holding the poison. Call it
    /// after a successful `run_op`; after a failed one only the first two
    /// findings are meaningful. Empty when all is well.
    pub fn verify_after_call(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        for (i, (t, before)) in self.inputs.iter().zip(&self.input_before).enumerate() {
            let (Some(t), Some((hash, copy))) = (t, before) else {
                continue;
            };
            let now = t.buf.bytes();
            if hash64(now) == *hash && now.len() == copy.len() {
                continue;
            }
            let mut changed = 0;
            let mut first = None;
            for (k, (a, b)) in now.iter().zip(copy.iter()).enumerate() {
                if a != b {
                    changed += 1;
                    first.get_or_insert(k);
                }
            }
            if let Some(first) = first {
                found.push(Violation::InputWritten {
                    input: i,
                    changed,
                    len: now.len(),
                    first,
                });
            }
        }
        for (i, t) in self.outputs.iter().enumerate() {
            let (before, after) = t.buf.canary_damage();
            if before > 0 {
                found.push(Violation::WroteBefore {
                    output: i,
                    changed: before,
                });
            }
            if after > 0 {
                found.push(Violation::WroteAfter {
                    output: i,
                    changed: after,
                });
            }
            if let Some(r) = &t.reported
                && !within_bound(r, &t.shape)
            {
                found.push(Violation::ShapeOutsideBound {
                    output: i,
                    reported: r.clone(),
                    bound: t.shape.clone(),
                });
            }
            if let Some((count, Some(first))) = t.poison_left() {
                let shape = t.actual_shape();
                found.push(Violation::NeverWritten {
                    output: i,
                    count,
                    total: shape.iter().map(|&d| d.max(0) as usize).product(),
                    first: unravel(first, shape),
                });
            }
        }
        found
    }
}

/// A memory-safety violation found around a call. `Display` is one line in
/// the words of a result message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The backend changed bytes of an input.
    InputWritten {
        /// Input position.
        input: usize,
        /// Bytes that differ from before the call.
        changed: usize,
        /// Size of the input's storage in bytes.
        len: usize,
        /// Byte offset of the first changed byte.
        first: usize,
    },
    /// Canary bytes before an output's start changed (a write before it).
    WroteBefore {
        /// Output position.
        output: usize,
        /// Canary bytes changed.
        changed: usize,
    },
    /// Canary bytes after an output's end changed (an overrun).
    WroteAfter {
        /// Output position.
        output: usize,
        /// Canary bytes changed.
        changed: usize,
    },
    /// Output elements that still hold the poison the harness wrote.
    NeverWritten {
        /// Output position.
        output: usize,
        /// Elements still poison.
        count: usize,
        /// Elements of the output.
        total: usize,
        /// Multi-index of the first.
        first: Vec<usize>,
    },
    /// A data-dependent output's reported shape does not fit the bound it
    /// was allocated at (another rank, a negative dim or one past the
    /// bound): what it claims to have written would not have fit.
    ShapeOutsideBound {
        /// Output position.
        output: usize,
        /// The dims the backend reported.
        reported: Vec<i64>,
        /// The allocated bound.
        bound: Vec<i64>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::InputWritten {
                input,
                changed,
                len,
                first,
            } => write!(
                f,
                "run_op wrote into input {input} ({changed} of {len} bytes changed, first at byte {first})"
            ),
            Violation::WroteBefore { output, changed } => write!(
                f,
                "run_op wrote before the start of output {output} ({changed} canary bytes changed)"
            ),
            Violation::WroteAfter { output, changed } => write!(
                f,
                "run_op wrote past the end of output {output} ({changed} canary bytes changed)"
            ),
            Violation::NeverWritten {
                output,
                count,
                total,
                first,
            } => write!(
                f,
                "output {output}: {count} of {total} elements never written (first at {first:?})"
            ),
            Violation::ShapeOutsideBound {
                output,
                reported,
                bound,
            } => write!(
                f,
                "output {output}: reported shape {reported:?} does not fit the allocated bound {bound:?} (same rank, each dimension at most the bound's)"
            ),
        }
    }
}

/// A fast 64-bit hash of bytes (not cryptographic: it detects accidental
/// writes, nobody forges inputs against it).
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// A row-major flat index as a multi-index of `shape`.
fn unravel(mut flat: usize, shape: &[i64]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in idx.iter_mut().zip(shape).rev() {
        let d = d.max(1) as usize;
        *i = flat % d;
        flat /= d;
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::call::Guard;
    use crate::backend::call::tests::one_in_one_out;

    #[test]
    fn a_bounded_output_is_judged_by_its_reported_prefix() {
        let mut call = one_in_one_out(StoredTensor::bounded_output(DType::F32, &[2, 3]));
        call.outputs[0].buf.bytes_mut()[..8].fill(0);
        call.outputs[0].reported = Some(vec![2, 1]);
        assert_eq!(
            call.verify_after_call(),
            vec![],
            "poison past the prefix is fine"
        );
        assert_eq!(call.outputs[0].to_host().shape, vec![2, 1]);
        call.outputs[0].reported = Some(vec![2, 2]);
        let v = call.verify_after_call();
        assert!(
            matches!(
                v[..],
                [Violation::NeverWritten {
                    count: 2,
                    total: 4,
                    ..
                }]
            ),
            "{v:?}"
        );
        call.outputs[0].reported = Some(vec![3, 1]);
        let v = call.verify_after_call();
        assert!(
            matches!(v[0], Violation::ShapeOutsideBound { output: 0, .. }),
            "{v:?}"
        );
        assert_eq!(
            call.outputs[0].to_host().shape,
            vec![2, 3],
            "read as allocated"
        );
    }

    #[test]
    fn clean_call_has_no_violation() {
        for g in [Guard::Canary, Guard::Pages] {
            let mut call = one_in_one_out(StoredTensor::output_with(DType::F32, &[2, 3], g));
            call.outputs[0].buf.bytes_mut().fill(0);
            assert_eq!(call.verify_after_call(), vec![]);
            assert_eq!(call.outputs[0].buf.guard(), Some(g));
            assert_eq!(call.outputs[0].buf.bytes().as_ptr() as usize % 64, 0);
        }
    }

    #[test]
    fn input_writes_are_reported_with_counts() {
        let mut call = one_in_one_out(StoredTensor::output(DType::F32, &[1]));
        call.outputs[0].buf.bytes_mut().fill(0);
        let input = call.inputs[0].as_mut().unwrap();
        input.buf.bytes_mut()[5] = 0;
        input.buf.bytes_mut()[9] = 1;
        let v = call.verify_after_call();
        assert_eq!(
            v,
            vec![Violation::InputWritten {
                input: 0,
                changed: 2,
                len: 16,
                first: 5
            }]
        );
        assert_eq!(
            v[0].to_string(),
            "run_op wrote into input 0 (2 of 16 bytes changed, first at byte 5)"
        );
    }

    #[test]
    fn poison_left_in_float_outputs_is_never_written() {
        let mut call = one_in_one_out(StoredTensor::output(DType::F16, &[2, 3]));
        let b = call.outputs[0].buf.bytes_mut();
        b.fill(0);
        b[8..12].fill(POISON); // elements 4 and 5 = [1, 1], [1, 2]
        let v = call.verify_after_call();
        assert_eq!(
            v[0].to_string(),
            "output 0: 2 of 6 elements never written (first at [1, 1])"
        );
        // A canonical NaN is a computed value, not poison.
        b_fill(&mut call, &[0x00, 0x7E]);
        assert_eq!(call.verify_after_call(), vec![]);
    }

    fn b_fill(call: &mut PreparedCall, elem: &[u8]) {
        for c in call.outputs[0].buf.bytes_mut().chunks_exact_mut(elem.len()) {
            c.copy_from_slice(elem);
        }
    }

    #[test]
    fn all_ones_is_legitimate_for_integers_but_not_bools() {
        let mut call = one_in_one_out(StoredTensor::output(DType::I32, &[4]));
        assert_eq!(call.verify_after_call(), vec![], "-1 is a valid i32");
        call.outputs = vec![StoredTensor::output(DType::Bool, &[4])];
        call.outputs[0].buf.bytes_mut()[..3].fill(1);
        assert_eq!(
            call.verify_after_call(),
            vec![Violation::NeverWritten {
                output: 0,
                count: 1,
                total: 4,
                first: vec![3]
            }]
        );
    }
}

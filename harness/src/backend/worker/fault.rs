//! Naming what a fatal memory access in the worker hit.
//!
//! Before `run_op` the serve loop records where each output's guard pages
//! are ([`arm`]); the SIGSEGV/SIGBUS handler (`sys.rs`) looks the faulting
//! address up here ([`locate`]) and writes a [`FaultReport`] frame to the
//! harness before the process dies of the signal. The table is atomics in
//! statics, so the handler reads it without locks or allocation.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::call::StoredTensor;
use crate::backend::frame::{FaultReport, GuardHit};

/// Outputs whose guard pages are recorded; later ones go unnamed.
const SLOTS: usize = 32;

/// One output's guard pages and bytes, as addresses.
struct Slot {
    before_start: AtomicUsize,
    before_end: AtomicUsize,
    after_start: AtomicUsize,
    after_end: AtomicUsize,
    start: AtomicUsize,
    end: AtomicUsize,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            before_start: AtomicUsize::new(0),
            before_end: AtomicUsize::new(0),
            after_start: AtomicUsize::new(0),
            after_end: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
        }
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// How many slots are valid; 0 outside a call.
static ARMED: AtomicUsize = AtomicUsize::new(0);

/// Records the guard pages of `outputs` (those that have them) for the call
/// about to run.
pub fn arm(outputs: &[StoredTensor]) {
    ARMED.store(0, Ordering::SeqCst);
    let n = outputs.len().min(SLOTS);
    for (o, s) in outputs.iter().zip(&TABLE) {
        // An output without guard pages gets empty ranges, so slot i
        // stays output i.
        let g = o.buf.guard_layout();
        let (before, after, bytes) = g.map_or((0..0, 0..0, 0..0), |g| (g.before, g.after, g.bytes));
        s.before_start.store(before.start, Ordering::Relaxed);
        s.before_end.store(before.end, Ordering::Relaxed);
        s.after_start.store(after.start, Ordering::Relaxed);
        s.after_end.store(after.end, Ordering::Relaxed);
        s.start.store(bytes.start, Ordering::Relaxed);
        s.end.store(bytes.end, Ordering::Relaxed);
    }
    ARMED.store(n, Ordering::SeqCst);
}

/// Forgets the outputs after the call (their memory is about to go).
pub fn disarm() {
    ARMED.store(0, Ordering::SeqCst);
}

/// The report for a fault at `addr`. Called from the signal handler: reads
/// atomics and the stack only.
pub fn locate(signal: i32, addr: usize, write: Option<bool>) -> FaultReport {
    let mut hit = None;
    for (i, s) in TABLE.iter().enumerate().take(ARMED.load(Ordering::SeqCst)) {
        let load = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        let (start, end) = (load(&s.start), load(&s.end));
        if (load(&s.after_start)..load(&s.after_end)).contains(&addr) {
            hit = Some(GuardHit {
                output: i as u32,
                after: true,
                len: (end - start) as u64,
                distance: (addr - end) as u64,
                page: load(&s.after_start) as u64,
            });
            break;
        }
        if (load(&s.before_start)..load(&s.before_end)).contains(&addr) {
            hit = Some(GuardHit {
                output: i as u32,
                after: false,
                len: (end - start) as u64,
                distance: (start - addr) as u64,
                page: load(&s.before_start) as u64,
            });
            break;
        }
    }
    FaultReport {
        signal,
        addr: addr as u64,
        write,
        hit,
    }
}

#[cfg(test)]
mod tests {
    use xpucert_abi::DType;

    use super::*;
    use crate::backend::call::Guard;

    #[test]
    fn addresses_in_either_guard_page_name_the_output() {
        let outs = vec![
            StoredTensor::output_with(DType::F32, &[64], Guard::Pages),
            StoredTensor::output_with(DType::F32, &[3], Guard::Pages),
        ];
        let g1 = outs[1].buf.guard_layout().unwrap();
        arm(&outs);
        let past = locate(11, g1.after.start + 5, Some(true));
        let hit = past.hit.expect("in output 1's trailing page");
        assert_eq!((hit.output, hit.after, hit.len), (1, true, 12));
        assert_eq!(hit.distance as usize, g1.after.start + 5 - g1.bytes.end);
        let before = locate(11, g1.before.end - 1, Some(false)).hit.unwrap();
        assert_eq!((before.output, before.after), (1, false));
        assert_eq!(
            before.distance as usize,
            g1.bytes.start - (g1.before.end - 1)
        );
        let g0 = outs[0].buf.guard_layout().unwrap();
        let zero = locate(11, g0.after.start, None).hit.unwrap();
        assert_eq!((zero.output, zero.distance, zero.len), (0, 0, 256));
        assert_eq!(
            locate(11, g0.bytes.start, None).hit,
            None,
            "inside the output"
        );
        disarm();
        assert_eq!(locate(11, g1.after.start, None).hit, None, "disarmed");
    }
}

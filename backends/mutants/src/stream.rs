//! Asynchronous modes: the mutants backend provides the ABI's stream group
//! (for every mode; the others run synchronously on it), and these modes
//! use it the way an accelerator does. `run_op` on a stream writes the
//! correct outputs but leaves the modelled device time pending: it moves
//! the stream's deadline to `max(deadline, now) + device_us` and returns at
//! once; `sync` blocks until the deadline. A harness that forgot to sync
//! would time these modes at nearly zero and read outputs of "unfinished"
//! work; one that syncs measures at least `device_us` per call.
//!
//! * `async_stream`: honest; must pass.
//! * `async_sync_fails`: `sync` after a queued [`CRASH_OP`] call fails with
//!   DEVICE_ERROR (the device reports the failure of queued work late);
//!   must be an `error`.
//! * `async_sync_hangs`: `sync` after a queued [`CRASH_OP`] call never
//!   returns; must be a `timeout`.
//!
//! Without a stream (a harness that passes NULL) every call is synchronous:
//! `run_op` sleeps through the device time itself, and the faults fire in
//! `run_op`. `device_us=N` sets the modelled time per call (default
//! [`DEFAULT_DEVICE_US`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use xpucert_abi::{Backend, BackendError, OpCall, Status, TensorMut};
use xpucert_reference_core::ReferenceBackend;

use crate::faults::CRASH_OP;
use crate::{Behaviour, Expect, Mode};

/// Modelled device time per call, microseconds, unless `device_us=` says.
pub const DEFAULT_DEVICE_US: u64 = 1000;

/// The message `async_sync_fails` gives from `sync`.
pub const SYNC_FAILURE: &str = "mutants: the queued Relu failed on the device (async_sync_fails)";

/// One stream of the mutants backend: when its queued work finishes, and
/// whether a call the fault fires on is among it.
#[derive(Debug, Default)]
pub struct MutantStream {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    deadline: Option<Instant>,
    faulty: bool,
}

impl MutantStream {
    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What `sync` does when a [`CRASH_OP`] call was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncFault {
    Fails,
    Hangs,
}

/// The asynchronous behaviour, optionally with a sync fault.
struct Async {
    fault: Option<SyncFault>,
    device: Duration,
}

fn sleep_until(deadline: Instant) {
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left);
    }
}

impl Async {
    /// Queues one call of `op_type`: the device is busy for another
    /// `device` after whatever is already queued.
    fn queue(&self, stream: &MutantStream, op_type: &str) {
        let now = Instant::now();
        let mut p = stream.pending.lock().unwrap_or_else(|p| p.into_inner());
        let start = p.deadline.map_or(now, |d| d.max(now));
        p.deadline = Some(start + self.device);
        p.faulty |= op_type == CRASH_OP;
    }

    /// The fault's effect, where it surfaces (sync, or run_op without a
    /// stream).
    fn fire(&self) -> Result<(), BackendError> {
        match self.fault {
            None => Ok(()),
            Some(SyncFault::Fails) => Err(BackendError {
                status: Status::DeviceError,
                message: SYNC_FAILURE.into(),
            }),
            Some(SyncFault::Hangs) => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
        }
    }
}

impl Behaviour for Async {
    fn run(
        &self,
        r: &ReferenceBackend,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        r.run_op(call, outputs)?;
        sleep_until(Instant::now() + self.device);
        if call.op_type == CRASH_OP {
            self.fire()?;
        }
        Ok(())
    }

    fn run_on(
        &self,
        r: &ReferenceBackend,
        stream: &MutantStream,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        r.run_op(call, outputs)?;
        self.queue(stream, call.op_type);
        Ok(())
    }

    fn sync(&self, stream: &MutantStream) -> Result<(), BackendError> {
        let p = stream.take();
        if let Some(d) = p.deadline {
            sleep_until(d);
        }
        if p.faulty {
            self.fire()?;
        }
        Ok(())
    }

    fn with_device_time(&self, device: Duration) -> Option<Box<dyn Behaviour>> {
        Some(Box::new(Async {
            fault: self.fault,
            device,
        }))
    }
}

/// The asynchronous modes.
pub fn modes() -> Vec<Mode> {
    let device = Duration::from_micros(DEFAULT_DEVICE_US);
    let mode = |name, fault, expect, ops: &'static [&'static str], description| Mode {
        name,
        expect,
        ops,
        description,
        behaviour: Box::new(Async { fault, device }),
    };
    vec![
        mode(
            "async_stream",
            None,
            Expect::Pass,
            &[],
            "run_op on a stream returns before its modelled device time (device_us, default 1000) has passed; sync waits for it",
        ),
        mode(
            "async_sync_fails",
            Some(SyncFault::Fails),
            Expect::Error,
            &[CRASH_OP],
            "asynchronous; sync after a queued Relu returns DEVICE_ERROR",
        ),
        mode(
            "async_sync_hangs",
            Some(SyncFault::Hangs),
            Expect::Timeout,
            &[CRASH_OP],
            "asynchronous; sync after a queued Relu never returns",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_accumulate_and_sync_waits_for_them() {
        let a = Async {
            fault: None,
            device: Duration::from_millis(20),
        };
        let s = MutantStream::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            a.queue(&s, "Add");
        }
        let deadline = s.pending.lock().unwrap().deadline.unwrap();
        assert!(deadline >= t0 + Duration::from_millis(60));
        a.sync(&s).unwrap();
        assert!(Instant::now() >= deadline);
        assert!(s.pending.lock().unwrap().deadline.is_none(), "sync drains");
    }

    #[test]
    fn a_failing_sync_reports_device_error_once() {
        let a = Async {
            fault: Some(SyncFault::Fails),
            device: Duration::ZERO,
        };
        let s = MutantStream::default();
        a.queue(&s, "Add");
        assert!(a.sync(&s).is_ok(), "only a queued Relu fails");
        a.queue(&s, CRASH_OP);
        let e = a.sync(&s).unwrap_err();
        assert_eq!(e.status, Status::DeviceError);
        assert_eq!(e.message, SYNC_FAILURE);
        assert!(
            a.sync(&s).is_ok(),
            "the failure was reported; the stream is drained"
        );
    }
}

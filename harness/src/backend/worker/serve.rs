//! The worker side of isolation (`xpucert worker`): load the library, then
//! answer frames until stdin closes. Op calls, queries and measurements are
//! built in; any other work arrives as a job and is served by the handler
//! the entry point registered for its kind (see [`crate::backend::jobs`]).
//!
//! The protocol stays on a private copy of stdout and fd 1 points at
//! stderr, so a vendor library that prints to stdout shows in the log
//! instead of corrupting frames. Outputs are allocated with guard pages
//! here, since a fault now costs one case.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use xpucert_abi::DType;

use super::{fault, sys};
use crate::backend::call::{self, AlignedBuf, PreparedCall, StoredTensor};
use crate::backend::frame::{CallSpec, Frame, FrameError, OpenedInfo, TensorDesc};
use crate::backend::jobs::JobHandlers;
use crate::backend::{DylibBackend, timing};

/// The worker's main loop (`xpucert worker`): reads frames from stdin until
/// it closes. Errors are for the worker's stderr; the harness learns of them
/// from the closed pipe.
pub fn serve(handlers: &JobHandlers) -> Result<(), String> {
    sys::die_with_parent();
    let out = sys::protocol_stdout().map_err(|e| format!("cannot set up stdout: {e}"))?;
    if let Err(e) = sys::report_faults_to(&out) {
        // Faults are still fatal and reported by the exit status, only
        // without naming the guard page.
        eprintln!("xpucert worker: cannot install the fault handler: {e}");
    }
    let mut out = BufWriter::with_capacity(1 << 16, out);
    call::set_default_guard(call::Guard::Pages);
    let mut input = BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let send = |out: &mut BufWriter<File>, f: Frame| {
        f.write_to(out)
            .map_err(|e| format!("cannot answer the harness: {e}"))
    };
    let request = match Frame::read_from(&mut input) {
        Ok(Frame::Open(r)) => r,
        Ok(_) => return Err("the first frame must be an open request".into()),
        Err(FrameError::Eof) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    let backend = match DylibBackend::open(Path::new(&request.library), &request.options) {
        Ok(b) => b,
        Err(e) => return send(&mut out, Frame::OpenFailed(e.kind)),
    };
    let info = OpenedInfo {
        name: backend.name().to_string(),
        abi: backend.abi_version(),
        table_size: backend.table_size(),
        groups: backend.optional_groups().iter().map(|(_, p)| *p).collect(),
        manifest: backend.manifest().map_err(|e| (&e).into()),
    };
    send(&mut out, Frame::Opened(info))?;
    loop {
        let answer = match Frame::read_from(&mut input) {
            Err(FrameError::Eof) => return Ok(()),
            Err(e) => return Err(e.to_string()),
            Ok(Frame::Query(s)) => {
                let mut call = prepare(&s, false)?;
                Frame::QueryAnswer(backend.query(&mut call))
            }
            Ok(Frame::Run(s)) => {
                let mut call = prepare(&s, true)?;
                fault::arm(&call.outputs);
                let ran = backend.run(&mut call);
                fault::disarm();
                match ran {
                    Ok(()) => Frame::RunDone {
                        reported: call.outputs.iter().map(|o| o.reported.clone()).collect(),
                        findings: call
                            .verify_after_call()
                            .iter()
                            .map(ToString::to_string)
                            .collect(),
                        outputs: call
                            .outputs
                            .iter()
                            .map(|o| o.buf.bytes().to_vec())
                            .collect(),
                    },
                    Err(e) => Frame::RunFailed(e),
                }
            }
            Ok(Frame::Job { kind, job }) => match handlers.get(&kind) {
                Some(h) => Frame::JobDone((h.serve)(&backend, &job)),
                None => Frame::NoHandler(kind),
            },
            Ok(Frame::Measure { plan, calls }) => {
                let mut calls = calls
                    .iter()
                    .map(|s| prepare(s, true))
                    .collect::<Result<Vec<_>, _>>()?;
                match timing::measure_with(&mut calls, &plan, &mut |c| backend.run(c)) {
                    Ok(m) => Frame::Measured {
                        samples_s: m.samples_s,
                        outputs: calls
                            .iter()
                            .map(|c| c.outputs.iter().map(|o| o.buf.bytes().to_vec()).collect())
                            .collect(),
                        reported: calls
                            .iter()
                            .map(|c| c.outputs.iter().map(|o| o.reported.clone()).collect())
                            .collect(),
                        findings: m.findings,
                    },
                    Err(e) => Frame::RunFailed(e),
                }
            }
            Ok(_) => return Err("unexpected frame from the harness".into()),
        };
        send(&mut out, answer)?;
    }
}

/// Rebuilds the harness's call in the worker. Queries get tensors without
/// storage (the ABI passes NULL data to `query_op`).
pub(super) fn prepare(s: &CallSpec, with_data: bool) -> Result<PreparedCall, String> {
    let dtype = |d: &TensorDesc| {
        DType::from_code(d.dtype).ok_or_else(|| format!("unknown dtype code {}", d.dtype))
    };
    let dims = |d: &TensorDesc| -> Result<Vec<usize>, String> {
        let dims: Vec<usize> = d
            .shape
            .iter()
            .map(|&x| {
                usize::try_from(x).map_err(|_| format!("negative dimension in {:?}", d.shape))
            })
            .collect::<Result<_, _>>()?;
        dims.iter()
            .try_fold(1usize, |a, &x| a.checked_mul(x))
            .ok_or_else(|| format!("shape {:?} overflows", d.shape))?;
        Ok(dims)
    };
    let mut inputs = Vec::with_capacity(s.inputs.len());
    for i in &s.inputs {
        inputs.push(match i {
            None => None,
            Some((d, bytes)) => Some(StoredTensor::new(
                dtype(d)?,
                &dims(d)?,
                d.strides.clone(),
                bytes,
            )),
        });
    }
    let mut outputs = Vec::with_capacity(s.outputs.len());
    for d in &s.outputs {
        let (dt, shape) = (dtype(d)?, dims(d)?);
        outputs.push(if with_data && d.bounded {
            StoredTensor::bounded_output(dt, &shape)
        } else if with_data {
            StoredTensor::output(dt, &shape)
        } else {
            StoredTensor {
                dtype: dt,
                shape: d.shape.clone(),
                strides: d.strides.clone(),
                buf: AlignedBuf::new(0, 0),
                reported: d.bounded.then(|| d.shape.clone()),
            }
        });
    }
    Ok(PreparedCall::new(
        &s.domain,
        &s.op_type,
        s.opset,
        &s.attributes,
        inputs,
        outputs,
    ))
}

//! How [`Frame`]s become bytes and back: the tag byte, JSON headers, raw
//! tensor bytes behind them, and the decoder's length checks (see the
//! module docs of [`super`] for the layout and the guarantees).

use std::borrow::Cow;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use xpucert_abi::{NumericFlags, Precision, Support};

use super::{CallSpec, Frame, FrameError, MAX_FRAME_LEN, TensorDesc, WireCallError};
use crate::backend::timing::MeasurePlan;
use crate::backend::{CallError, QueryAnswer};
use crate::ops::Attributes;

/// Tag bytes, one per message kind.
mod tag {
    pub const OPEN: u8 = 1;
    pub const OPENED: u8 = 2;
    pub const OPEN_FAILED: u8 = 3;
    pub const QUERY: u8 = 4;
    pub const QUERY_ANSWER: u8 = 5;
    pub const RUN: u8 = 6;
    pub const RUN_DONE: u8 = 7;
    pub const RUN_FAILED: u8 = 8;
    pub const MEASURE: u8 = 9;
    pub const MEASURED: u8 = 10;
    pub const JOB: u8 = 11;
    pub const JOB_DONE: u8 = 12;
    pub const NO_HANDLER: u8 = 13;
    pub const FAULT: u8 = 14;
}

/// Bytes of a `Fault` payload: signal (i32), access (u8: 0 unknown, 1 read,
/// 2 write), hit (u8: 0 none, 1 past the end, 2 before the start), 2 zero
/// bytes, output (u32), 4 zero bytes, then addr, len, distance, page (u64),
/// all little-endian.
const FAULT_PAYLOAD: usize = 48;

/// Bytes of a whole `Fault` frame: length prefix, tag, payload.
pub const FAULT_FRAME_LEN: usize = 4 + 1 + FAULT_PAYLOAD;

impl super::FaultReport {
    /// The frame's bytes, built on the stack: the worker's signal handler
    /// writes them with one `write(2)`, so nothing here may allocate.
    pub fn frame_bytes(&self) -> [u8; FAULT_FRAME_LEN] {
        let mut b = [0u8; FAULT_FRAME_LEN];
        b[..4].copy_from_slice(&((1 + FAULT_PAYLOAD) as u32).to_le_bytes());
        b[4] = tag::FAULT;
        let p = &mut b[5..];
        p[..4].copy_from_slice(&self.signal.to_le_bytes());
        p[4] = match self.write {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        let (hit, h) = match self.hit {
            None => (
                0,
                super::GuardHit {
                    output: 0,
                    after: false,
                    len: 0,
                    distance: 0,
                    page: 0,
                },
            ),
            Some(h) => (if h.after { 1 } else { 2 }, h),
        };
        p[5] = hit;
        p[8..12].copy_from_slice(&h.output.to_le_bytes());
        for (i, v) in [self.addr, h.len, h.distance, h.page]
            .into_iter()
            .enumerate()
        {
            p[16 + 8 * i..24 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    fn from_payload(p: &[u8]) -> Result<Self, FrameError> {
        if p.len() != FAULT_PAYLOAD {
            return Err(malformed(format!(
                "fault report of {} bytes, not {FAULT_PAYLOAD}",
                p.len()
            )));
        }
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&p[16 + 8 * i..24 + 8 * i]);
            u64::from_le_bytes(a)
        };
        let mut sig = [0u8; 4];
        sig.copy_from_slice(&p[..4]);
        let mut out = [0u8; 4];
        out.copy_from_slice(&p[8..12]);
        let write = match p[4] {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            x => return Err(malformed(format!("fault report: access code {x}"))),
        };
        let hit = match p[5] {
            0 => None,
            x @ (1 | 2) => Some(super::GuardHit {
                output: u32::from_le_bytes(out),
                after: x == 1,
                len: u64_at(1),
                distance: u64_at(2),
                page: u64_at(3),
            }),
            x => return Err(malformed(format!("fault report: hit code {x}"))),
        };
        Ok(super::FaultReport {
            signal: i32::from_le_bytes(sig),
            addr: u64_at(0),
            write,
            hit,
        })
    }
}

/// The JSON header of `Measure`: the plan and the byte length of each
/// encoded call (a `Query`/`Run` payload) that follows.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasureHeader {
    plan: MeasurePlan,
    calls: Vec<u64>,
}

/// The JSON header of `Job`; the job's bytes follow it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobHeader {
    kind: String,
}

/// The JSON header of `Measured`: per variant, the byte length of each
/// output that follows.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasuredHeader {
    samples_s: Vec<f64>,
    blobs: Vec<Vec<u64>>,
    reported: Vec<Vec<Option<Vec<i64>>>>,
    findings: Vec<String>,
}

/// The JSON header of a [`CallSpec`]; the input bytes follow it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallHeader {
    domain: String,
    op_type: String,
    opset: i64,
    attributes: Attributes,
    inputs: Vec<Option<TensorDesc>>,
    outputs: Vec<TensorDesc>,
    /// Byte length of each present input, in order.
    blobs: Vec<u64>,
}

/// The JSON header of `RunDone`: the byte length of each output.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlobHeader {
    blobs: Vec<u64>,
    reported: Vec<Option<Vec<i64>>>,
    findings: Vec<String>,
}

/// `query_op`'s answer as it crosses the pipe.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum WireQuery {
    Answer {
        support: i32,
        precision: i32,
        note: String,
        /// `XpuOpSupport.numeric_flags`, already validated by the worker.
        #[serde(default)]
        numeric_flags: u32,
    },
    Error(WireCallError),
}

fn malformed(msg: impl Into<String>) -> FrameError {
    FrameError::Malformed(msg.into())
}

impl Frame {
    /// The tag, the non-bulk payload and the bulk parts, in wire order.
    fn parts(&self) -> (u8, Vec<u8>, Vec<Cow<'_, [u8]>>) {
        match self {
            Frame::Open(o) => (tag::OPEN, to_json(o), Vec::new()),
            Frame::Opened(o) => (tag::OPENED, to_json(o), Vec::new()),
            Frame::OpenFailed(k) => (tag::OPEN_FAILED, to_json(k), Vec::new()),
            Frame::Query(c) => {
                let (h, b) = call_parts(c);
                (tag::QUERY, h, b.into_iter().map(Cow::Borrowed).collect())
            }
            Frame::Run(c) => {
                let (h, b) = call_parts(c);
                (tag::RUN, h, b.into_iter().map(Cow::Borrowed).collect())
            }
            Frame::Measure { plan, calls } => {
                let mut bulk = Vec::new();
                let mut lens = Vec::new();
                for c in calls {
                    let (h, b) = call_parts(c);
                    lens.push(h.len() as u64 + b.iter().map(|x| x.len() as u64).sum::<u64>());
                    bulk.push(Cow::Owned(h));
                    bulk.extend(b.into_iter().map(Cow::Borrowed));
                }
                let header = MeasureHeader {
                    plan: *plan,
                    calls: lens,
                };
                (tag::MEASURE, with_header(&to_json(&header)), bulk)
            }
            Frame::Measured {
                samples_s,
                outputs,
                reported,
                findings,
            } => {
                let header = MeasuredHeader {
                    reported: reported.clone(),
                    samples_s: samples_s.clone(),
                    blobs: outputs
                        .iter()
                        .map(|v| v.iter().map(|o| o.len() as u64).collect())
                        .collect(),
                    findings: findings.clone(),
                };
                let parts = outputs
                    .iter()
                    .flatten()
                    .map(|o| Cow::Borrowed(o.as_slice()))
                    .collect();
                (tag::MEASURED, with_header(&to_json(&header)), parts)
            }
            Frame::QueryAnswer(a) => {
                let w = match a {
                    Ok(a) => WireQuery::Answer {
                        support: a.support.code(),
                        precision: a.precision.code(),
                        note: a.note.clone(),
                        numeric_flags: a.numeric.bits(),
                    },
                    Err(e) => WireQuery::Error(e.into()),
                };
                (tag::QUERY_ANSWER, to_json(&w), Vec::new())
            }
            Frame::RunDone {
                outputs,
                reported,
                findings,
            } => {
                let header = BlobHeader {
                    reported: reported.clone(),
                    blobs: outputs.iter().map(|o| o.len() as u64).collect(),
                    findings: findings.clone(),
                };
                let parts = outputs
                    .iter()
                    .map(|o| Cow::Borrowed(o.as_slice()))
                    .collect();
                (tag::RUN_DONE, with_header(&to_json(&header)), parts)
            }
            Frame::RunFailed(e) => (
                tag::RUN_FAILED,
                to_json(&WireCallError::from(e)),
                Vec::new(),
            ),
            Frame::Job { kind, job } => {
                let header = JobHeader { kind: kind.clone() };
                (
                    tag::JOB,
                    with_header(&to_json(&header)),
                    vec![Cow::Borrowed(job.as_slice())],
                )
            }
            Frame::JobDone(a) => (tag::JOB_DONE, Vec::new(), vec![Cow::Borrowed(a.as_slice())]),
            Frame::NoHandler(kind) => (tag::NO_HANDLER, to_json(kind), Vec::new()),
            Frame::Fault(r) => (tag::FAULT, r.frame_bytes()[5..].to_vec(), Vec::new()),
        }
    }

    /// Writes the frame; fails without writing if it would exceed
    /// [`MAX_FRAME_LEN`].
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let (tag, head, bulk) = self.parts();
        let total = 1 + head.len() as u64 + bulk.iter().map(|b| b.len() as u64).sum::<u64>();
        if total > u64::from(MAX_FRAME_LEN) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {total} bytes exceeds the {MAX_FRAME_LEN}-byte limit"),
            ));
        }
        w.write_all(&(total as u32).to_le_bytes())?;
        w.write_all(&[tag])?;
        w.write_all(&head)?;
        for b in &bulk {
            w.write_all(b)?;
        }
        w.flush()
    }

    /// The frame as bytes (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Writing to a Vec only fails over the size limit; the caller gets
        // an empty encoding then, which every decoder rejects.
        if self.write_to(&mut v).is_err() {
            v.clear();
        }
        v
    }

    /// Reads one frame. Allocation grows with the bytes actually received,
    /// so a lying length prefix costs nothing before it is refuted.
    pub fn read_from(r: &mut impl Read) -> Result<Frame, FrameError> {
        let mut len = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match r.read(&mut len[got..]) {
                Ok(0) if got == 0 => return Err(FrameError::Eof),
                Ok(0) => {
                    return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        let len = u32::from_le_bytes(len);
        check_len(len)?;
        let mut body = Vec::with_capacity((len as usize).min(1 << 20));
        r.take(u64::from(len)).read_to_end(&mut body)?;
        if body.len() != len as usize {
            return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        decode_body(&body)
    }
}

fn check_len(len: u32) -> Result<(), FrameError> {
    if len == 0 {
        return Err(malformed("zero-length frame (no tag)"));
    }
    if len > MAX_FRAME_LEN {
        return Err(malformed(format!(
            "frame length {len} exceeds the {MAX_FRAME_LEN}-byte limit"
        )));
    }
    Ok(())
}

/// Decodes exactly one frame from `bytes` (length prefix included); trailing
/// bytes are an error. Never panics.
pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
    let Some((len, body)) = bytes.split_first_chunk::<4>() else {
        return Err(malformed(format!(
            "{} bytes, shorter than a length prefix",
            bytes.len()
        )));
    };
    let len = u32::from_le_bytes(*len);
    check_len(len)?;
    if body.len() as u64 != u64::from(len) {
        return Err(malformed(format!(
            "length prefix says {len} bytes, {} follow",
            body.len()
        )));
    }
    decode_body(body)
}

/// Decodes a frame body (tag + payload).
fn decode_body(body: &[u8]) -> Result<Frame, FrameError> {
    let Some((&tag, payload)) = body.split_first() else {
        return Err(malformed("empty frame"));
    };
    let json_err = |what: &str, e: serde_json::Error| malformed(format!("{what}: {e}"));
    match tag {
        tag::OPEN => serde_json::from_slice(payload)
            .map(Frame::Open)
            .map_err(|e| json_err("open", e)),
        tag::OPENED => serde_json::from_slice(payload)
            .map(Frame::Opened)
            .map_err(|e| json_err("opened", e)),
        tag::OPEN_FAILED => serde_json::from_slice(payload)
            .map(Frame::OpenFailed)
            .map_err(|e| json_err("open failed", e)),
        tag::QUERY => decode_call(payload).map(Frame::Query),
        tag::JOB => {
            let (head, job) = split_header(payload)?;
            let h: JobHeader = serde_json::from_slice(head).map_err(|e| json_err("job", e))?;
            Ok(Frame::Job {
                kind: h.kind,
                job: job.to_vec(),
            })
        }
        tag::JOB_DONE => Ok(Frame::JobDone(payload.to_vec())),
        tag::NO_HANDLER => serde_json::from_slice(payload)
            .map(Frame::NoHandler)
            .map_err(|e| json_err("no handler", e)),
        tag::RUN => decode_call(payload).map(Frame::Run),
        tag::FAULT => super::FaultReport::from_payload(payload).map(Frame::Fault),
        tag::QUERY_ANSWER => {
            let w: WireQuery =
                serde_json::from_slice(payload).map_err(|e| json_err("query answer", e))?;
            Ok(Frame::QueryAnswer(match w {
                WireQuery::Answer {
                    support,
                    precision,
                    note,
                    numeric_flags,
                } => match (
                    Support::from_code(support),
                    Precision::from_code(precision),
                    NumericFlags::from_bits(numeric_flags),
                ) {
                    (Some(support), Some(precision), Ok(numeric)) => Ok(QueryAnswer {
                        support,
                        precision,
                        note,
                        numeric,
                    }),
                    (None, _, _) => Err(CallError::BadValue {
                        what: "support level",
                        value: support.into(),
                    }),
                    (_, None, _) => Err(CallError::BadValue {
                        what: "compute precision",
                        value: precision.into(),
                    }),
                    (_, _, Err(_)) => Err(CallError::BadValue {
                        what: "numeric flags",
                        value: numeric_flags.into(),
                    }),
                },
                WireQuery::Error(e) => Err(e.into()),
            }))
        }
        tag::RUN_DONE => {
            let (head, bulk) = split_header(payload)?;
            let h: BlobHeader =
                serde_json::from_slice(head).map_err(|e| json_err("run done", e))?;
            let outputs = split_blobs(bulk, &h.blobs)?;
            Ok(Frame::RunDone {
                outputs,
                reported: h.reported,
                findings: h.findings,
            })
        }
        tag::MEASURE => {
            let (head, bulk) = split_header(payload)?;
            let h: MeasureHeader =
                serde_json::from_slice(head).map_err(|e| json_err("measure", e))?;
            let calls = split_blobs(bulk, &h.calls)?
                .iter()
                .map(|c| decode_call(c))
                .collect::<Result<_, _>>()?;
            Ok(Frame::Measure {
                plan: h.plan,
                calls,
            })
        }
        tag::MEASURED => {
            let (head, bulk) = split_header(payload)?;
            let h: MeasuredHeader =
                serde_json::from_slice(head).map_err(|e| json_err("measured", e))?;
            let flat: Vec<u64> = h.blobs.iter().flatten().copied().collect();
            let mut blobs = split_blobs(bulk, &flat)?.into_iter();
            let outputs = h
                .blobs
                .iter()
                .map(|v| blobs.by_ref().take(v.len()).collect())
                .collect();
            Ok(Frame::Measured {
                samples_s: h.samples_s,
                outputs,
                reported: h.reported,
                findings: h.findings,
            })
        }
        tag::RUN_FAILED => serde_json::from_slice::<WireCallError>(payload)
            .map(|w| Frame::RunFailed(w.into()))
            .map_err(|e| json_err("run failed", e)),
        other => Err(malformed(format!("unknown tag {other}"))),
    }
}

/// `u32` header length + header JSON, as bytes.
fn with_header(json: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + json.len());
    v.extend_from_slice(&(json.len() as u32).to_le_bytes());
    v.extend_from_slice(json);
    v
}

fn split_header(payload: &[u8]) -> Result<(&[u8], &[u8]), FrameError> {
    let Some((len, rest)) = payload.split_first_chunk::<4>() else {
        return Err(malformed("payload shorter than its header length"));
    };
    let len = u32::from_le_bytes(*len) as usize;
    if len > rest.len() {
        return Err(malformed(format!(
            "header length {len} exceeds the {} bytes left",
            rest.len()
        )));
    }
    Ok(rest.split_at(len))
}

/// Cuts `bulk` into blobs of the given lengths, which must cover it exactly.
fn split_blobs(mut bulk: &[u8], lens: &[u64]) -> Result<Vec<Vec<u8>>, FrameError> {
    let total = lens
        .iter()
        .try_fold(0u64, |acc, &l| acc.checked_add(l))
        .ok_or_else(|| malformed("tensor byte lengths overflow"))?;
    if total != bulk.len() as u64 {
        return Err(malformed(format!(
            "header lists {total} tensor bytes, {} follow",
            bulk.len()
        )));
    }
    let mut out = Vec::with_capacity(lens.len());
    for &l in lens {
        // Fits: the total was checked against bulk.len() above.
        let (head, rest) = bulk.split_at(l as usize);
        out.push(head.to_vec());
        bulk = rest;
    }
    Ok(out)
}

fn call_parts(c: &CallSpec) -> (Vec<u8>, Vec<&[u8]>) {
    let header = CallHeader {
        domain: c.domain.clone(),
        op_type: c.op_type.clone(),
        opset: c.opset,
        attributes: c.attributes.clone(),
        inputs: c
            .inputs
            .iter()
            .map(|i| i.as_ref().map(|(d, _)| d.clone()))
            .collect(),
        outputs: c.outputs.clone(),
        blobs: c
            .inputs
            .iter()
            .flatten()
            .map(|(_, b)| b.len() as u64)
            .collect(),
    };
    let bulk = c
        .inputs
        .iter()
        .flatten()
        .map(|(_, b)| b.as_slice())
        .collect();
    (with_header(&to_json(&header)), bulk)
}

fn decode_call(payload: &[u8]) -> Result<CallSpec, FrameError> {
    let (head, bulk) = split_header(payload)?;
    let h: CallHeader =
        serde_json::from_slice(head).map_err(|e| malformed(format!("call header: {e}")))?;
    let present = h.inputs.iter().flatten().count();
    if present != h.blobs.len() {
        return Err(malformed(format!(
            "{present} inputs present but {} byte lengths",
            h.blobs.len()
        )));
    }
    let mut blobs = split_blobs(bulk, &h.blobs)?.into_iter();
    let inputs = h
        .inputs
        .into_iter()
        .map(|d| d.map(|d| (d, blobs.next().unwrap_or_default())))
        .collect();
    Ok(CallSpec {
        domain: h.domain,
        op_type: h.op_type,
        opset: h.opset,
        attributes: h.attributes,
        inputs,
        outputs: h.outputs,
    })
}

/// A payload type as JSON. Serialising these plain structs cannot fail; if
/// it did, the empty payload would be rejected by the reader.
fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use xpucert_abi::Status;

    use super::super::{FaultReport, GuardHit, OpenRequest, OpenedInfo};
    use super::*;
    use crate::backend::LoadErrorKind;
    use crate::ops::AttrValue;

    fn call() -> CallSpec {
        let mut attributes = Attributes::new();
        attributes.insert("perm".into(), AttrValue::Ints(vec![1, 0]));
        attributes.insert("alpha".into(), AttrValue::Float(0.5));
        CallSpec {
            domain: String::new(),
            op_type: "Transpose".into(),
            opset: 21,
            attributes,
            inputs: vec![
                Some((
                    TensorDesc {
                        dtype: 1,
                        shape: vec![2, 3],
                        strides: vec![3, 1],
                        bounded: false,
                    },
                    (0u8..24).collect(),
                )),
                None,
            ],
            outputs: vec![TensorDesc {
                dtype: 1,
                shape: vec![3, 2],
                strides: vec![2, 1],
                bounded: true,
            }],
        }
    }

    fn all_frames() -> Vec<Frame> {
        vec![
            Frame::Open(OpenRequest {
                library: "/x/libb.so".into(),
                options: vec![("mode".into(), "honest".into())],
            }),
            Frame::Opened(OpenedInfo {
                name: "b".into(),
                abi: (1, 0),
                table_size: 96,
                groups: vec![false, true, false],
                manifest: Ok("{}".into()),
            }),
            Frame::OpenFailed(LoadErrorKind::InitFailed {
                status: "internal".into(),
                message: "no device".into(),
            }),
            Frame::Query(call()),
            Frame::Run(call()),
            Frame::Measure {
                plan: MeasurePlan::default(),
                calls: vec![call(), call()],
            },
            Frame::Measured {
                samples_s: vec![1e-3, 2.5e-3],
                outputs: vec![vec![vec![1, 2, 3]], vec![vec![4, 5, 6]]],
                reported: vec![vec![Some(vec![3])], vec![None]],
                findings: vec!["input variant 1: input 0 written".into()],
            },
            Frame::QueryAnswer(Ok(QueryAnswer {
                support: Support::Emulated,
                precision: Precision::Tf32,
                note: "n".into(),
                numeric: NumericFlags {
                    flush_subnormal_inputs: true,
                    flush_subnormal_outputs: false,
                },
            })),
            Frame::QueryAnswer(Err(CallError::BadValue {
                what: "support level",
                value: 9,
            })),
            Frame::RunDone {
                outputs: vec![vec![1, 2, 3], vec![], vec![9; 100]],
                reported: vec![None, Some(vec![0, 4]), None],
                findings: vec!["run_op wrote into input 0".into()],
            },
            Frame::RunFailed(CallError::UnknownStatus {
                code: 42,
                message: "x".into(),
            }),
            Frame::RunFailed(CallError::Failed {
                status: Status::DeviceError,
                message: "gone".into(),
            }),
            Frame::Job {
                kind: "model".into(),
                job: br#"{"dtype":"f32"}"#.to_vec(),
            },
            Frame::Job {
                kind: String::new(),
                job: Vec::new(),
            },
            Frame::JobDone(vec![0, 1, 255]),
            Frame::JobDone(Vec::new()),
            Frame::NoHandler("model".into()),
            Frame::Fault(FaultReport {
                signal: 11,
                addr: 0x7f00_0000_1000,
                write: Some(true),
                hit: Some(GuardHit {
                    output: 2,
                    after: true,
                    len: 4096,
                    distance: 7,
                    page: 0x7f00_0000_1000,
                }),
            }),
            Frame::Fault(FaultReport {
                signal: 7,
                addr: 8,
                write: None,
                hit: None,
            }),
        ]
    }

    #[test]
    fn a_fault_report_is_one_fixed_size_frame_and_reads_as_a_sentence() {
        let r = FaultReport {
            signal: 11,
            addr: 0x1000,
            write: Some(true),
            hit: Some(GuardHit {
                output: 0,
                after: true,
                len: 256,
                distance: 0,
                page: 0x1000,
            }),
        };
        let bytes = r.frame_bytes();
        assert_eq!(bytes.to_vec(), Frame::Fault(r).encode());
        assert_eq!(
            r.to_string(),
            "write 1 byte past the end of output 0 (byte 256 of a 256-byte output; guard page at 0x1000)"
        );
        let before = FaultReport {
            write: Some(false),
            hit: Some(GuardHit {
                output: 1,
                after: false,
                distance: 8,
                ..r.hit.unwrap()
            }),
            ..r
        };
        assert_eq!(
            before.to_string(),
            "read 8 bytes before the start of output 1 (guard page at 0x1000)"
        );
        let none = FaultReport {
            write: None,
            hit: None,
            ..r
        };
        assert_eq!(
            none.to_string(),
            "access at 0x1000, in no output's guard page"
        );
        let mut bad = bytes;
        bad[9] = 3; // hit code
        assert!(decode(&bad).is_err());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn every_frame_round_trips_through_slice_and_stream() {
        let mut stream = Vec::new();
        for f in all_frames() {
            let bytes = f.encode();
            assert_eq!(decode(&bytes).unwrap(), f);
            stream.extend_from_slice(&bytes);
        }
        let mut r = stream.as_slice();
        for f in all_frames() {
            assert_eq!(Frame::read_from(&mut r).unwrap(), f);
        }
        assert!(matches!(Frame::read_from(&mut r), Err(FrameError::Eof)));
    }

    #[test]
    fn tensor_bytes_travel_raw() {
        let bytes = Frame::Run(call()).encode();
        let raw: Vec<u8> = (0u8..24).collect();
        assert!(bytes.ends_with(&raw), "input bytes are the frame's tail");
        let job = Frame::Job {
            kind: "model".into(),
            job: raw.clone(),
        }
        .encode();
        assert!(job.ends_with(&raw), "a job's bytes are the frame's tail");
        let done = Frame::JobDone(raw.clone()).encode();
        assert_eq!(&done[5..], &raw[..], "an answer is the payload itself");
    }

    #[test]
    fn oversized_and_lying_lengths_are_refused_without_allocating() {
        let mut huge = (MAX_FRAME_LEN + 1).to_le_bytes().to_vec();
        huge.push(tag::RUN);
        let e = Frame::read_from(&mut huge.as_slice()).unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
        // A plausible length with nothing behind it: an early end, not a
        // 2 GiB allocation.
        let mut short = (2u32 << 30).to_le_bytes().to_vec();
        short.push(tag::RUN);
        let e = Frame::read_from(&mut short.as_slice()).unwrap_err();
        assert!(matches!(e, FrameError::Io(_)), "{e}");
        assert!(decode(&short).is_err());
    }

    #[test]
    fn malformed_frames_are_errors() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0, 0, 0, 0],
            vec![1, 0, 0, 0, 99],
            vec![1, 0, 0, 0, tag::OPEN],
            // a call header claiming more bytes than there are
            vec![5, 0, 0, 0, tag::RUN, 0xFF, 0xFF, 0xFF, 0xFF],
            // RunDone whose blob lengths overflow u64
            {
                let h =
                    br#"{"blobs":[18446744073709551615,2],"reported":[null,null],"findings":[]}"#;
                let mut body = vec![tag::RUN_DONE];
                body.extend_from_slice(&with_header(h));
                let mut v = (body.len() as u32).to_le_bytes().to_vec();
                v.extend_from_slice(&body);
                v
            },
        ];
        for c in cases {
            assert!(decode(&c).is_err(), "{c:?} decoded");
        }
        let mut trailing = Frame::RunDone {
            outputs: vec![vec![1]],
            reported: vec![None],
            findings: Vec::new(),
        }
        .encode();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
    }
}

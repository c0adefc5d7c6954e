//! An op call prepared for the ABI: the harness-owned buffers (strings,
//! attributes, shapes, strides, tensor data) that an `XpuOpCall` points into,
//! and the memory-safety checks made around every call.
//!
//! Buffers are 64-byte aligned so a backend may use aligned vector loads.
//! Outputs are pre-filled with 0xFF bytes (a NaN in every float format), so an
//! output element the backend never wrote cannot pass by accident.
//!
//! ## Checks around a call ([`PreparedCall::verify_after_call`])
//!
//! * **Canaries.** Every output is surrounded by [`CANARY_LEN`] bytes of a
//!   fixed pattern (more with guard pages: all the slack of the mapping). A
//!   write before the start or past the end that the backend got away with
//!   shows as a changed canary byte.
//! * **Guard pages** ([`Guard::Pages`]). The output sits at the end of an
//!   anonymous mapping whose first and last pages are `PROT_NONE`; its start
//!   stays 64-byte aligned (the header promises that), so its end is at most
//!   63 bytes before the trailing guard page and exactly on it when the size
//!   is a multiple of 64. An overrun past those bytes (which canaries cover)
//!   faults at once. A fault kills the process, so pages are only for the
//!   worker, where it becomes a `crash` result; in-process runs use canaries
//!   alone ([`Guard::Canary`], the default). The worker opts in with
//!   [`set_default_guard`].
//! * **Inputs.** Each input's bytes (padding included) are hashed when the
//!   call is prepared and again after it; on a mismatch they are compared
//!   with a snapshot to say how many bytes changed and where.
//! * **Poison left in outputs.** After a successful call, output elements
//!   that still hold the exact poison pattern were (almost surely) never
//!   written. The rule is sound, never a false positive:
//!   - floats of 16 bits or more: all-ones is a negative NaN with a full
//!     payload. Arithmetic produces only canonical NaNs and the input
//!     generator writes canonical NaNs, so such an element was not computed.
//!     Always flagged.
//!   - `bool`: 0xFF is not a valid bool (0 or 1). Always flagged.
//!   - integers and 8-bit floats: all-ones is a legitimate value (-1, the
//!     type's maximum, an fp8 NaN), so they are not flagged here. That loses
//!     nothing that matters: integer and fp8 outputs are compared exactly, so
//!     a never-written element fails the comparison unless its expected value
//!     is all-ones, in which case the output the caller sees is right.

use std::ffi::CString;
use std::fmt;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU8, Ordering};

use bytemuck::{Pod, Zeroable};
use xpucert_abi::DType;
use xpucert_abi::ffi::{self, XpuAttribute, XpuOpCall, XpuTensor};

use super::dylib::c_string;
use crate::numerics::HostTensor;
use crate::ops::{AttrValue, Attributes};

/// The byte every output is poisoned with before a call.
pub const POISON: u8 = 0xFF;

/// Bytes of canary on each side of an output (at least; with guard pages the
/// whole slack of the mapping is canary).
pub const CANARY_LEN: usize = 64;

/// The canary byte at position `i` of a canary region: varied, so that a
/// backend's memset of 0x00 or 0xFF, or a copy of a neighbouring canary,
/// still changes it, and never 0x00 or 0xFF itself.
fn canary_byte(i: usize) -> u8 {
    let b = 0xA5u8 ^ (i as u8).wrapping_mul(0x3B);
    if b == 0 || b == 0xFF { 0x5A } else { b }
}

/// How an output buffer is protected against out-of-bounds writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Canary bytes before and after, verified after the call. Safe in
    /// process: a stray write is reported, never a fault.
    Canary,
    /// Canaries plus `PROT_NONE` pages before and after the buffer: an
    /// overrun beyond the canaries faults. Only for the worker process.
    Pages,
}

/// The guard [`StoredTensor::output`] uses: `0` canary, `1` pages.
static DEFAULT_GUARD: AtomicU8 = AtomicU8::new(0);

/// Sets the guard of every output allocated from now on in this process. The
/// worker calls this with [`Guard::Pages`] at start-up; the in-process runner
/// keeps [`Guard::Canary`], since a guard-page fault would kill xpucert.
pub fn set_default_guard(g: Guard) {
    DEFAULT_GUARD.store(
        match g {
            Guard::Canary => 0,
            Guard::Pages => 1,
        },
        Ordering::Relaxed,
    );
}

/// The guard outputs get by default (see [`set_default_guard`]).
pub fn default_guard() -> Guard {
    match DEFAULT_GUARD.load(Ordering::Relaxed) {
        1 => Guard::Pages,
        _ => Guard::Canary,
    }
}

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// Where an [`AlignedBuf`]'s bytes live.
enum Storage {
    /// On the heap, in 64-byte blocks.
    Heap(Vec<Block>),
    /// In an anonymous mapping between two guard pages.
    Pages(pages::Guarded),
}

impl Storage {
    fn all(&self) -> &[u8] {
        match self {
            Storage::Heap(b) => bytemuck::cast_slice(b),
            Storage::Pages(m) => m.as_slice(),
        }
    }
    fn all_mut(&mut self) -> &mut [u8] {
        match self {
            Storage::Heap(b) => bytemuck::cast_slice_mut(b),
            Storage::Pages(m) => m.as_mut_slice(),
        }
    }
}

/// A byte buffer aligned to 64 bytes, optionally surrounded by canaries and
/// guard pages. Everything outside `[start, start + len)` of the storage is
/// canary when the buffer is guarded.
pub struct AlignedBuf {
    storage: Storage,
    start: usize,
    len: usize,
    guard: Option<Guard>,
}

impl Clone for AlignedBuf {
    /// A copy on the heap with canaries (a guard-page mapping is not copied
    /// as such: the copy is a value, not a call buffer).
    fn clone(&self) -> Self {
        let mut c = match self.guard {
            None => AlignedBuf::new(self.len, 0),
            Some(_) => AlignedBuf::guarded(self.len, 0, Guard::Canary),
        };
        c.bytes_mut().copy_from_slice(self.bytes());
        c
    }
}

impl AlignedBuf {
    /// `len` bytes, all `fill`, unguarded (inputs: the checksum protects them).
    pub fn new(len: usize, fill: u8) -> Self {
        let blocks = vec![Block([fill; 64]); len.div_ceil(64).max(1)];
        AlignedBuf {
            storage: Storage::Heap(blocks),
            start: 0,
            len,
            guard: None,
        }
    }

    /// `len` bytes, all `fill`, with canaries around them and, for
    /// [`Guard::Pages`], guard pages (falling back to canaries alone if the
    /// mapping cannot be made).
    pub fn guarded(len: usize, fill: u8, guard: Guard) -> Self {
        let mapped = match guard {
            Guard::Pages => pages::Guarded::new(len + CANARY_LEN + 63).ok(),
            Guard::Canary => None,
        };
        let (storage, start, guard) = match mapped {
            Some(m) => {
                // End as close to the trailing guard page as 64-byte
                // alignment of the start allows.
                let start = (m.len() - len) & !63;
                (Storage::Pages(m), start, Guard::Pages)
            }
            None => {
                let blocks = (CANARY_LEN + len + CANARY_LEN).div_ceil(64);
                (
                    Storage::Heap(vec![Block([0; 64]); blocks]),
                    CANARY_LEN,
                    Guard::Canary,
                )
            }
        };
        let mut buf = AlignedBuf {
            storage,
            start,
            len,
            guard: Some(guard),
        };
        let all = buf.storage.all_mut();
        for (i, b) in all[..start].iter_mut().rev().enumerate() {
            *b = canary_byte(i);
        }
        all[start..start + len].fill(fill);
        for (i, b) in all[start + len..].iter_mut().enumerate() {
            *b = canary_byte(i);
        }
        buf
    }

    /// The guard around the bytes, `None` for a plain buffer.
    pub fn guard(&self) -> Option<Guard> {
        self.guard
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.storage.all()[self.start..self.start + self.len]
    }

    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let (s, n) = (self.start, self.len);
        &mut self.storage.all_mut()[s..s + n]
    }

    /// Canary bytes changed before and after the buffer, `(before, after)`;
    /// the first of each pair counts from the buffer outwards.
    fn canary_damage(&self) -> (usize, usize) {
        if self.guard.is_none() {
            return (0, 0);
        }
        let all = self.storage.all();
        let before = all[..self.start]
            .iter()
            .rev()
            .enumerate()
            .filter(|&(i, &b)| b != canary_byte(i))
            .count();
        let after = all[self.start + self.len..]
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b != canary_byte(i))
            .count();
        (before, after)
    }
}

/// Guard-page mappings: the only `unsafe` outside the ABI boundary, kept to
/// `mmap`, `mprotect` and `munmap` of one anonymous private mapping.
mod pages {
    use std::io;

    /// `len` usable bytes (rounded up to pages) with a `PROT_NONE` page on
    /// each side.
    pub struct Guarded {
        base: *mut u8,
        total: usize,
        page: usize,
        len: usize,
    }

    // SAFETY: the mapping is owned exclusively by this value (private,
    // anonymous, never shared); moving it between threads is like moving a Vec.
    unsafe impl Send for Guarded {}
    // SAFETY: shared access only hands out `&[u8]`; writes need `&mut self`.
    unsafe impl Sync for Guarded {}

    fn page_size() -> usize {
        // SAFETY: sysconf has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 { p as usize } else { 4096 }
    }

    impl Guarded {
        /// Maps the guard pages and at least `len` usable bytes between them.
        pub fn new(len: usize) -> io::Result<Self> {
            let page = page_size();
            let len = len.max(1).div_ceil(page) * page;
            let total = len + 2 * page;
            // SAFETY: an anonymous private mapping at an address of the
            // kernel's choosing touches no existing memory.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    total,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let g = Guarded {
                base: base.cast(),
                total,
                page,
                len,
            };
            for at in [0, page + len] {
                // SAFETY: `at` is a page-aligned offset inside the mapping
                // just made, and one page fits there; nothing references
                // those pages.
                let rc = unsafe {
                    libc::mprotect(base.cast::<u8>().add(at).cast(), page, libc::PROT_NONE)
                };
                if rc != 0 {
                    // `g` unmaps on drop.
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(g)
        }

        /// Usable bytes (a whole number of pages).
        pub fn len(&self) -> usize {
            self.len
        }

        /// The usable bytes.
        pub fn as_slice(&self) -> &[u8] {
            // SAFETY: [base + page, base + page + len) is mapped read-write
            // for the lifetime of self, initialised (anonymous pages are zero).
            unsafe { std::slice::from_raw_parts(self.base.add(self.page), self.len) }
        }

        /// The usable bytes, writable.
        pub fn as_mut_slice(&mut self) -> &mut [u8] {
            // SAFETY: as in as_slice, and `&mut self` makes the borrow unique.
            unsafe { std::slice::from_raw_parts_mut(self.base.add(self.page), self.len) }
        }
    }

    impl Drop for Guarded {
        fn drop(&mut self) {
            // SAFETY: base/total are exactly the mapping made in new; no
            // slice into it outlives self.
            unsafe { libc::munmap(self.base.cast(), self.total) };
        }
    }
}

/// One tensor as stored for the backend.
pub struct StoredTensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Strides in elements.
    pub strides: Vec<i64>,
    /// Storage, starting at element (0, ..., 0).
    pub buf: AlignedBuf,
}

impl StoredTensor {
    /// Stores `bytes` (already laid out per `strides`) for the backend.
    pub fn new(dtype: DType, shape: &[usize], strides: Vec<i64>, bytes: &[u8]) -> Self {
        let mut buf = AlignedBuf::new(bytes.len(), 0);
        buf.bytes_mut().copy_from_slice(bytes);
        StoredTensor {
            dtype,
            shape: shape.iter().map(|&d| d as i64).collect(),
            strides,
            buf,
        }
    }

    /// A contiguous output of `dtype` and `shape`, poisoned, guarded per
    /// [`default_guard`].
    pub fn output(dtype: DType, shape: &[usize]) -> Self {
        Self::output_with(dtype, shape, default_guard())
    }

    /// A contiguous output of `dtype` and `shape`, poisoned, with `guard`.
    pub fn output_with(dtype: DType, shape: &[usize], guard: Guard) -> Self {
        let n: usize = shape.iter().product();
        StoredTensor {
            dtype,
            shape: shape.iter().map(|&d| d as i64).collect(),
            strides: contiguous_strides(shape),
            buf: AlignedBuf::guarded(n * dtype.size(), POISON, guard),
        }
    }

    /// Reads a contiguous tensor back (used for outputs).
    pub fn to_host(&self) -> HostTensor {
        HostTensor {
            dtype: self.dtype,
            shape: self.shape.iter().map(|&d| d as usize).collect(),
            data: self.buf.bytes().to_vec(),
        }
    }

    /// Elements still holding the poison pattern, as `(count, first flat
    /// index)`, for the dtypes where all-ones cannot be a computed value
    /// (see the module docs); `None` for the others.
    fn poison_left(&self) -> Option<(usize, Option<usize>)> {
        let sz = self.dtype.size();
        let checked = (self.dtype.is_float() && sz >= 2) || self.dtype == DType::Bool;
        if !checked {
            return None;
        }
        let mut count = 0;
        let mut first = None;
        for (i, e) in self.buf.bytes().chunks_exact(sz).enumerate() {
            if e.iter().all(|&b| b == POISON) {
                count += 1;
                first.get_or_insert(i);
            }
        }
        Some((count, first))
    }

    /// The ABI view of this tensor; `data` is NULL unless `with_data` (a
    /// query). The pointer comes from a mutable borrow for inputs too: the
    /// header makes inputs read-only, but this keeps a backend's stray write
    /// defined behaviour on our side, so verify_after_call can report it.
    fn raw(&mut self, with_data: bool) -> XpuTensor {
        let data = if with_data {
            self.buf.bytes_mut().as_mut_ptr() as *mut std::ffi::c_void
        } else {
            std::ptr::null_mut()
        };
        XpuTensor {
            struct_size: std::mem::size_of::<XpuTensor>(),
            data,
            byte_offset: 0,
            dtype: self.dtype.code(),
            memory_kind: ffi::XPU_MEMORY_HOST,
            device_index: 0,
            ndim: self.shape.len() as i32,
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ptr(),
        }
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

/// Row-major contiguous strides in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut acc = 1i64;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d as i64;
    }
    strides
}

enum AttrStorage {
    None,
    Str(CString),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

/// Everything one `XpuOpCall` points into.
pub struct PreparedCall {
    domain: CString,
    op_type: CString,
    opset: i64,
    attr_names: Vec<CString>,
    attr_values: Vec<(AttrValue, AttrStorage)>,
    /// Inputs, positional; `None` for an omitted optional input.
    pub inputs: Vec<Option<StoredTensor>>,
    /// Outputs, contiguous, poisoned before the call.
    pub outputs: Vec<StoredTensor>,
    /// Hash and copy of each input's bytes as prepared, to prove after the
    /// call that the backend did not write them (`None` for absent inputs).
    input_before: Vec<Option<(u64, Box<[u8]>)>>,
}

impl PreparedCall {
    /// Prepares a call of `op_type` in `domain` at `opset`. The inputs are
    /// snapshotted here: they must not be changed afterwards (the backend
    /// must not either, which [`PreparedCall::verify_after_call`] checks).
    pub fn new(
        domain: &str,
        op_type: &str,
        opset: i64,
        attributes: &Attributes,
        inputs: Vec<Option<StoredTensor>>,
        outputs: Vec<StoredTensor>,
    ) -> Self {
        Self::with_trusted_inputs(domain, op_type, opset, attributes, inputs, outputs, &[])
    }

    /// [`PreparedCall::new`], except that inputs marked in `trusted` are not
    /// snapshotted: the caller checks them itself. For model weights, which
    /// stay resident across thousands of calls and are verified once at the
    /// end of a run instead of copied before every call.
    pub fn with_trusted_inputs(
        domain: &str,
        op_type: &str,
        opset: i64,
        attributes: &Attributes,
        inputs: Vec<Option<StoredTensor>>,
        outputs: Vec<StoredTensor>,
        trusted: &[bool],
    ) -> Self {
        let attr_names = attributes.keys().map(|k| c_string(k)).collect();
        let attr_values = attributes
            .values()
            .map(|v| {
                let storage = match v {
                    AttrValue::String(s) => AttrStorage::Str(c_string(s)),
                    AttrValue::Ints(v) => AttrStorage::Ints(v.clone()),
                    AttrValue::Floats(v) => AttrStorage::Floats(v.clone()),
                    _ => AttrStorage::None,
                };
                (v.clone(), storage)
            })
            .collect();
        let input_before = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.as_ref()
                    .filter(|_| !trusted.get(i).copied().unwrap_or(false))
                    .map(|t| {
                        let b = t.buf.bytes();
                        (hash64(b), Box::<[u8]>::from(b))
                    })
            })
            .collect();
        PreparedCall {
            input_before,
            domain: c_string(domain),
            op_type: c_string(op_type),
            opset,
            attr_names,
            attr_values,
            inputs,
            outputs,
        }
    }

    /// Lays out the raw structs and calls `f` with the `XpuOpCall` (valid
    /// only inside `f`). With `with_data` false (queries), tensor data
    /// pointers are NULL, as the header allows. Calls of up to [`INLINE`]
    /// attributes, inputs and outputs are laid out on the stack: allocating
    /// them was most of the harness's own per-call cost for tiny ops.
    pub fn with_raw<R>(&mut self, with_data: bool, f: impl FnOnce(&XpuOpCall) -> R) -> R {
        let (na, ni, no) = (self.attr_names.len(), self.inputs.len(), self.outputs.len());
        if na <= INLINE && ni <= INLINE && no <= INLINE {
            let mut attrs = [EMPTY_ATTRIBUTE; INLINE];
            let mut inputs = [EMPTY_TENSOR; INLINE];
            let mut outputs = [EMPTY_TENSOR; INLINE];
            self.fill_raw(
                with_data,
                &mut attrs[..na],
                &mut inputs[..ni],
                &mut outputs[..no],
            );
            f(&self.op_call(&attrs[..na], &inputs[..ni], &outputs[..no]))
        } else {
            let mut attrs = vec![EMPTY_ATTRIBUTE; na];
            let mut inputs = vec![EMPTY_TENSOR; ni];
            let mut outputs = vec![EMPTY_TENSOR; no];
            self.fill_raw(with_data, &mut attrs, &mut inputs, &mut outputs);
            f(&self.op_call(&attrs, &inputs, &outputs))
        }
    }

    /// Fills the raw attribute and tensor structs (slices of exactly the
    /// call's counts).
    fn fill_raw(
        &mut self,
        with_data: bool,
        attrs: &mut [XpuAttribute],
        inputs: &mut [XpuTensor],
        outputs: &mut [XpuTensor],
    ) {
        for (a, (name, (value, storage))) in attrs
            .iter_mut()
            .zip(self.attr_names.iter().zip(&self.attr_values))
        {
            a.name = name.as_ptr();
            match (value, storage) {
                (AttrValue::Int(v), _) => {
                    a.r#type = ffi::XPU_ATTR_INT;
                    a.i = *v;
                }
                (AttrValue::Float(v), _) => {
                    a.r#type = ffi::XPU_ATTR_FLOAT;
                    a.f = *v;
                }
                (_, AttrStorage::Str(s)) => {
                    a.r#type = ffi::XPU_ATTR_STRING;
                    a.s = s.as_ptr();
                }
                (_, AttrStorage::Ints(v)) => {
                    a.r#type = ffi::XPU_ATTR_INTS;
                    a.ints = v.as_ptr();
                    a.count = v.len();
                }
                (_, AttrStorage::Floats(v)) => {
                    a.r#type = ffi::XPU_ATTR_FLOATS;
                    a.floats = v.as_ptr();
                    a.count = v.len();
                }
                (_, AttrStorage::None) => unreachable!("storage built from the value"),
            }
        }
        for (raw, t) in inputs.iter_mut().zip(self.inputs.iter_mut()) {
            // An absent input stays EMPTY_TENSOR: dtype UNDEFINED.
            if let Some(t) = t {
                *raw = t.raw(with_data);
            }
        }
        for (raw, t) in outputs.iter_mut().zip(self.outputs.iter_mut()) {
            *raw = t.raw(with_data);
        }
    }

    /// The `XpuOpCall` over laid-out structs.
    fn op_call(
        &self,
        attrs: &[XpuAttribute],
        inputs: &[XpuTensor],
        outputs: &[XpuTensor],
    ) -> XpuOpCall {
        XpuOpCall {
            struct_size: std::mem::size_of::<XpuOpCall>(),
            domain: self.domain.as_ptr(),
            op_type: self.op_type.as_ptr(),
            opset: self.opset,
            attributes: attrs.as_ptr(),
            num_attributes: attrs.len(),
            inputs: inputs.as_ptr(),
            num_inputs: inputs.len(),
            outputs: outputs.as_ptr(),
            num_outputs: outputs.len(),
        }
    }
}

/// Calls with at most this many attributes, inputs and outputs each are
/// laid out without a heap allocation (see [`PreparedCall::with_raw`]).
pub const INLINE: usize = 4;

/// An attribute struct before it is filled.
const EMPTY_ATTRIBUTE: XpuAttribute = XpuAttribute {
    struct_size: std::mem::size_of::<XpuAttribute>(),
    name: std::ptr::null(),
    r#type: 0,
    reserved: 0,
    i: 0,
    f: 0.0,
    s: std::ptr::null(),
    ints: std::ptr::null(),
    floats: std::ptr::null(),
    count: 0,
};

/// An absent (optional) tensor: dtype UNDEFINED, no data.
const EMPTY_TENSOR: XpuTensor = XpuTensor {
    struct_size: std::mem::size_of::<XpuTensor>(),
    data: std::ptr::null_mut(),
    byte_offset: 0,
    dtype: 0,
    memory_kind: ffi::XPU_MEMORY_HOST,
    device_index: 0,
    ndim: 0,
    shape: std::ptr::null(),
    strides: std::ptr::null(),
};

impl PreparedCall {
    /// The memory-safety checks after a call (see the module docs): inputs
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
            if let Some((count, Some(first))) = t.poison_left() {
                found.push(Violation::NeverWritten {
                    output: i,
                    count,
                    total: t.shape.iter().map(|&d| d.max(0) as usize).product(),
                    first: unravel(first, &t.shape),
                });
            }
        }
        found
    }
}

/// What the call names, by value: for sending it to a worker process.
impl PreparedCall {
    /// Operator domain (`""` for ONNX).
    pub fn domain(&self) -> &str {
        self.domain.to_str().unwrap_or("")
    }

    /// Operator name.
    pub fn op_type(&self) -> &str {
        self.op_type.to_str().unwrap_or("")
    }

    /// Opset of the call.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The attributes, as given to [`PreparedCall::new`].
    pub fn attributes(&self) -> Attributes {
        self.attr_names
            .iter()
            .zip(&self.attr_values)
            .map(|(k, (v, _))| (k.to_string_lossy().into_owned(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_poisoned() {
        let t = StoredTensor::output(DType::F32, &[3, 5]);
        assert_eq!(t.buf.bytes().as_ptr() as usize % 64, 0);
        assert_eq!(t.buf.bytes().len(), 60);
        assert!(t.buf.bytes().iter().all(|&b| b == POISON));
        assert!(t.to_host().get_f64(7).is_nan(), "poison reads as NaN");
        assert_eq!(t.strides, vec![5, 1]);
    }

    #[test]
    fn raw_call_points_at_owned_data() {
        let mut attrs = Attributes::new();
        attrs.insert("perm".into(), AttrValue::Ints(vec![1, 0]));
        let input = StoredTensor::new(DType::F32, &[2], vec![1], &[0u8; 8]);
        let mut call = PreparedCall::new(
            "",
            "Transpose",
            21,
            &attrs,
            vec![Some(input), None],
            vec![StoredTensor::output(DType::F32, &[2])],
        );
        call.with_raw(false, |c| {
            assert_eq!(c.num_inputs, 2);
            assert_eq!(c.num_attributes, 1);
            // SAFETY: with_raw lays out num_attributes attributes and
            // num_inputs inputs behind these pointers, alive inside the closure.
            let (attrs, inputs) = unsafe {
                (
                    std::slice::from_raw_parts(c.attributes, c.num_attributes),
                    std::slice::from_raw_parts(c.inputs, c.num_inputs),
                )
            };
            assert_eq!(attrs[0].count, 2);
            assert_eq!(attrs[0].r#type, ffi::XPU_ATTR_INTS);
            assert!(inputs[0].data.is_null(), "queries carry no data");
            assert_eq!(inputs[1].dtype, 0, "absent input is UNDEFINED");
        });
    }

    fn one_in_one_out(out: StoredTensor) -> PreparedCall {
        let input = StoredTensor::new(DType::F32, &[4], vec![1], &[7u8; 16]);
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
    fn pages_end_on_the_guard_page_when_aligned() {
        let b = AlignedBuf::guarded(256, POISON, Guard::Pages);
        let Storage::Pages(m) = &b.storage else {
            panic!("mapping failed")
        };
        assert_eq!(b.start + b.len, m.len(), "no slack after a 64-multiple");
        let b = AlignedBuf::guarded(60, POISON, Guard::Pages);
        assert_eq!(b.storage.all().len() - (b.start + b.len), 4);
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
    fn canary_damage_on_either_side_is_reported() {
        for g in [Guard::Canary, Guard::Pages] {
            let mut call = one_in_one_out(StoredTensor::output_with(DType::F32, &[3], g));
            let b = &mut call.outputs[0].buf;
            b.bytes_mut().fill(0);
            let (s, n) = (b.start, b.len);
            let all = b.storage.all_mut();
            all[s - 1] = 0; // one byte before the start
            all[s + n] = 0; // one byte past the end
            all[s + n + 1] = 0xFF;
            assert_eq!(
                call.verify_after_call(),
                vec![
                    Violation::WroteBefore {
                        output: 0,
                        changed: 1
                    },
                    Violation::WroteAfter {
                        output: 0,
                        changed: 2
                    }
                ],
                "{g:?}"
            );
        }
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

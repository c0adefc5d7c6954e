//! Call buffers: 64-byte aligned storage, the poison outputs start with,
//! and the canaries and guard pages around outputs (see the module docs of
//! [`super`] for what each catches).

use std::sync::atomic::{AtomicU8, Ordering};

use bytemuck::{Pod, Zeroable};

use super::pages::Guarded;

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

/// Addresses of a buffer between guard pages ([`AlignedBuf::guard_layout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardLayout {
    /// The `PROT_NONE` page before the mapping's usable bytes.
    pub before: std::ops::Range<usize>,
    /// The `PROT_NONE` page after them.
    pub after: std::ops::Range<usize>,
    /// The buffer's own bytes.
    pub bytes: std::ops::Range<usize>,
}

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// Where an [`AlignedBuf`]'s bytes live.
enum Storage {
    /// On the heap, in 64-byte blocks.
    Heap(Vec<Block>),
    /// In an anonymous mapping between two guard pages.
    Pages(Guarded),
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
            Guard::Pages => Guarded::new(len + CANARY_LEN + 63).ok(),
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

    /// For a buffer between guard pages: where the pages and the bytes are
    /// in this process's address space (for naming what a fault hit).
    pub fn guard_layout(&self) -> Option<GuardLayout> {
        let Storage::Pages(m) = &self.storage else {
            return None;
        };
        let (before, after, usable) = m.guard_pages();
        let start = usable + self.start;
        Some(GuardLayout {
            before,
            after,
            bytes: start..start + self.len,
        })
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
    pub(super) fn canary_damage(&self) -> (usize, usize) {
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

#[cfg(test)]
mod tests {
    use xpucert_abi::DType;

    use super::*;
    use crate::backend::call::tests::one_in_one_out;
    use crate::backend::call::{StoredTensor, Violation};

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
    fn the_guard_layout_brackets_the_bytes() {
        let b = AlignedBuf::guarded(256, POISON, Guard::Pages);
        let g = b.guard_layout().expect("mapped");
        assert_eq!(g.bytes.start, b.bytes().as_ptr() as usize);
        assert_eq!(g.bytes.len(), 256);
        assert_eq!(g.after.start, g.bytes.end, "a 64-multiple ends on the page");
        assert!(g.before.end <= g.bytes.start && g.before.len() == g.after.len());
        assert_eq!(
            AlignedBuf::guarded(8, 0, Guard::Canary).guard_layout(),
            None
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
}

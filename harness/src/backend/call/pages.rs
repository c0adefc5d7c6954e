//! Guard-page mappings: `mmap`, `mprotect` and `munmap` of one anonymous
//! private mapping per guarded output. Besides the ABI boundary
//! (`backend/dylib.rs`) and the worker's OS calls (`backend/worker/sys.rs`),
//! this is the only `unsafe` in the harness's code.

use std::io;
use std::ops::Range;

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
            let rc =
                unsafe { libc::mprotect(base.cast::<u8>().add(at).cast(), page, libc::PROT_NONE) };
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

    /// The address ranges of the leading and the trailing guard page, and
    /// the address of the first usable byte.
    pub fn guard_pages(&self) -> (Range<usize>, Range<usize>, usize) {
        let base = self.base as usize;
        let usable = base + self.page;
        (base..usable, usable + self.len..base + self.total, usable)
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

//! Splitting one kernel's work across the machine's cores, in safe code.
//!
//! Kernels call [`parts`] to decide how many pieces a job is worth (one
//! thread per core, but never a piece smaller than the kernel's break-even
//! size, below which spawning costs more than it saves) and [`split_mut`]
//! (runs of a slice) or [`for_each_piece`] (any pieces) to run the pieces
//! on scoped threads. Every piece computes a disjoint part of
//! the output with exactly the arithmetic the whole would use, so results do
//! not depend on the thread count.
//!
//! `XPUCERT_REFERENCE_THREADS=N` caps the threads (1 = serial), for
//! benchmarking and for hosts whose affinity mask is smaller than the
//! machine.

use std::sync::OnceLock;

/// The environment variable that caps the reference backend's threads.
pub const THREADS_ENV: &str = "XPUCERT_REFERENCE_THREADS";

/// Threads kernels may use: `XPUCERT_REFERENCE_THREADS` if set to a positive
/// integer, otherwise the available parallelism; read once.
pub fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var(THREADS_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// How many pieces `work` units are worth when a piece should hold at least
/// `min_per_part` units: between 1 and [`threads`].
pub fn parts(work: usize, min_per_part: usize) -> usize {
    threads().min(work / min_per_part.max(1)).max(1)
}

/// Splits `out`, a sequence of `unit`-element records, into `parts`
/// contiguous runs of whole records and calls `f(first_record, run)` for
/// each, the first on the calling thread and the rest on scoped threads.
/// `parts <= 1` (or a single record) runs `f(0, out)` directly.
pub fn split_mut<T: Send>(
    out: &mut [T],
    unit: usize,
    parts: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let unit = unit.max(1);
    let records = out.len() / unit;
    let parts = parts.min(records).max(1);
    if parts == 1 {
        f(0, out);
        return;
    }
    let per = records.div_ceil(parts);
    for_each_piece(out.chunks_mut(per * unit).enumerate(), |(i, run)| {
        f(i * per, run)
    });
}

/// Calls `f` on every piece, the first on the calling thread and the others
/// on scoped threads, and returns when all are done. Kernels whose pieces
/// are not runs of a slice (bands of a matrix view, byte ranges) use it
/// directly.
pub fn for_each_piece<P: Send>(pieces: impl IntoIterator<Item = P>, f: impl Fn(P) + Sync) {
    let mut pieces = pieces.into_iter();
    let Some(first) = pieces.next() else {
        return;
    };
    std::thread::scope(|s| {
        for piece in pieces {
            let f = &f;
            s.spawn(move || f(piece));
        }
        f(first);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_output_once_in_order() {
        for parts in 1..6 {
            for records in [0usize, 1, 2, 5, 7, 64] {
                let mut out = vec![0usize; records * 3];
                split_mut(&mut out, 3, parts, |first, run| {
                    for (r, rec) in run.chunks_mut(3).enumerate() {
                        for x in rec {
                            *x += first + r + 1;
                        }
                    }
                });
                let want: Vec<usize> = (0..records).flat_map(|r| [r + 1; 3]).collect();
                assert_eq!(out, want, "parts {parts}, records {records}");
            }
        }
    }

    #[test]
    fn parts_respect_the_break_even_size() {
        assert_eq!(parts(0, 10), 1);
        assert_eq!(parts(9, 10), 1);
        assert!(parts(1 << 40, 10) == threads());
        assert_eq!(parts(25, 10), threads().min(2));
    }
}

//! A global allocator that counts, per thread, the bytes live and their peak, so that a check can
//! say how much a decoder allocated for one input.
//!
//! Per thread, because `cargo test` runs tests on several threads at once and each decoder under
//! test runs on the thread that called it. Only binaries that install it (the fuzz targets and
//! the replay test) measure anything; elsewhere [`peak_during`] reports zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Bytes allocated and not yet freed by this thread (frees of another thread's allocations
    /// can take it below what this thread allocated, hence saturating arithmetic).
    static LIVE: Cell<usize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last [`peak_during`] began.
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting. Install it with
/// `#[global_allocator] static ALLOCATOR: CountingAllocator = CountingAllocator;`.
#[derive(Debug)]
pub struct CountingAllocator;

fn grew(bytes: usize) {
    // `try_with`: a thread being torn down may still allocate after its locals are gone.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(bytes);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// updates plain thread-local counters, which neither allocate nor unwind.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(pointer, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            // Counted as the new block arriving before the old one leaves: a realloc that
            // moves holds both for a moment.
            grew(new_size);
            shrank(layout.size());
        }
        moved
    }
}

/// Runs `work` and returns its result with the most bytes this thread held at once during it,
/// beyond what it held before.
pub fn peak_during<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let result = work();
    let peak = PEAK.with(Cell::get);
    (result, peak.saturating_sub(before))
}

//! What the host kernels share between calls and threads: a pool of reusable buffers
//! ([`Buffers`]) and the raw pointer handed to the threads of one parallel phase
//! ([`Shared`]).

/// Reusable host buffers. Large allocations come back from here rather than as fresh pages
/// from the operating system, whose first touch costs a page fault and zeroing, on every
/// layer of every iteration.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    free: Vec<Vec<f32>>,
}

/// Buffers kept for reuse at most.
const KEPT_BUFFERS: usize = 8;

impl Buffers {
    /// A buffer of `len` values with unspecified contents (left over from an earlier use).
    pub(crate) fn take(&mut self, len: usize) -> Vec<f32> {
        let mut v = self.fitting(len);
        v.resize(len, 0.0);
        v
    }

    /// An empty buffer with room for `len` values (to be filled by extending it).
    pub(crate) fn empty(&mut self, len: usize) -> Vec<f32> {
        let mut v = self.fitting(len);
        v.clear();
        v
    }

    /// The smallest kept buffer with room for `len` values, else a new one.
    fn fitting(&mut self, len: usize) -> Vec<f32> {
        let best = (self.free.iter().enumerate())
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        best.map_or_else(|| Vec::with_capacity(len), |i| self.free.swap_remove(i))
    }

    /// A buffer of `len` zeros.
    pub(crate) fn zeroed(&mut self, len: usize) -> Vec<f32> {
        let mut v = self.take(len);
        v.fill(0.0);
        v
    }

    /// Returns a buffer for reuse (the smallest kept one goes when too many are kept).
    pub(crate) fn give(&mut self, v: Vec<f32>) {
        self.free.push(v);
        if self.free.len() > KEPT_BUFFERS {
            let smallest = (self.free.iter().enumerate())
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)
                .expect("not empty");
            self.free.swap_remove(smallest);
        }
    }
}

/// Raw pointers handed to the threads of one parallel phase; each thread touches its own part.
#[derive(Clone, Copy)]
pub(crate) struct Shared(pub(crate) *mut f32);
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer (a method, so that a closure captures the whole `Shared`, which is `Send`,
    /// not its field).
    pub(crate) fn ptr(self) -> *mut f32 {
        self.0
    }
}

//! Kernel-owned memory lent to TypeScript (the data plane).
//!
//! A [`SharedBuffer`] is a fixed-size, heap-allocated byte region whose address never
//! changes while it lives. TypeScript views it in place as an `ArrayBuffer` and must detach
//! that view before releasing the buffer; the kernel frees the memory only on release.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{KernelError, Result};

/// Largest shared buffer the kernel hands out (1 GiB).
pub const MAX_SHARED_BUFFER: usize = 1 << 30;

static SHARED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes currently held in live shared buffers.
pub fn shared_bytes() -> u64 {
    SHARED_BYTES.load(Ordering::Relaxed)
}

/// A stable, zero-initialised byte region that both sides may read and write.
pub struct SharedBuffer {
    // Owned allocation from `Box<[u8]>::into_raw`, freed in `Drop`. A raw pointer rather
    // than a `Box` because TypeScript writes through it while Rust holds `&self`.
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is plain bytes; concurrent access is coordinated by the protocol that
// uses the buffer (e.g. ring cursors), exactly as for memory shared with another process.
unsafe impl Sync for SharedBuffer {}
// SAFETY: see above; ownership of plain bytes may move between threads.
unsafe impl Send for SharedBuffer {}

impl SharedBuffer {
    /// Allocates `len` zeroed bytes; `len` must be in `1..=MAX_SHARED_BUFFER`.
    pub fn new(len: usize) -> Result<Self> {
        if len == 0 || len > MAX_SHARED_BUFFER {
            return Err(KernelError::invalid(format!(
                "shared buffer length must be between 1 and {MAX_SHARED_BUFFER} bytes, got {len}"
            )));
        }
        let raw = Box::into_raw(vec![0u8; len].into_boxed_slice());
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(raw.cast::<u8>()) };
        SHARED_BYTES.fetch_add(len as u64, Ordering::Relaxed);
        Ok(Self { ptr, len })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: empty buffers cannot be created.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start of the region; valid until the buffer is dropped.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Copies `data` into the region at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<()> {
        let end = offset
            .checked_add(data.len())
            .filter(|end| *end <= self.len())
            .ok_or_else(|| {
                KernelError::invalid(format!(
                    "write of {} bytes at offset {offset} exceeds buffer of {} bytes",
                    data.len(),
                    self.len()
                ))
            })?;
        // SAFETY: bounds checked above; the region is valid for the buffer's lifetime.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_ptr().add(offset), end - offset)
        };
        Ok(())
    }

    /// Copies `len` bytes from `offset` out of the region.
    pub fn read(&self, offset: usize, len: usize) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= self.len())
            .ok_or_else(|| {
                KernelError::invalid(format!(
                    "read of {len} bytes at offset {offset} exceeds buffer of {} bytes",
                    self.len()
                ))
            })?;
        let mut out = vec![0u8; end - offset];
        // SAFETY: bounds checked above.
        unsafe { std::ptr::copy_nonoverlapping(self.as_ptr().add(offset), out.as_mut_ptr(), len) };
        Ok(out)
    }
}

impl Drop for SharedBuffer {
    fn drop(&mut self) {
        SHARED_BYTES.fetch_sub(self.len as u64, Ordering::Relaxed);
        // SAFETY: `ptr`/`len` came from `Box::into_raw` of a `[u8]` of this length.
        drop(unsafe {
            Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bytes_and_checks_bounds() {
        let buf = SharedBuffer::new(8).unwrap();
        buf.write(2, b"abc").unwrap();
        assert_eq!(buf.read(2, 3).unwrap(), b"abc");
        assert!(buf.write(6, b"abc").is_err());
        assert!(buf.read(usize::MAX, 2).is_err());
    }

    #[test]
    fn refuses_empty_and_huge_buffers() {
        assert!(SharedBuffer::new(0).is_err());
        assert!(SharedBuffer::new(MAX_SHARED_BUFFER + 1).is_err());
    }
}

//! Shared buffers: kernel memory that TypeScript views in place.

use krepis_ffi_macros::export;
use krepis_kernel::shm::SharedBuffer;
use krepis_kernel::{Handle, HandleKind, HandleTable, KernelError, Result};

static BUFFERS: HandleTable<SharedBuffer> = HandleTable::new(HandleKind::SharedBuffer);

/// Allocates a zeroed shared buffer of `len` bytes and returns its handle.
#[export]
fn krepis_buffer_alloc(len: u64) -> Result<i64> {
    let len = usize::try_from(len).map_err(|_| KernelError::invalid("length too large"))?;
    Ok(BUFFERS.insert(SharedBuffer::new(len)?)?.raw() as i64)
}

/// The address of a shared buffer's first byte, for `Deno.UnsafePointer.create`.
#[export]
fn krepis_buffer_addr(handle: u64) -> Result<i64> {
    Ok(BUFFERS.get(Handle::from_raw(handle))?.as_ptr() as usize as i64)
}

/// The length of a shared buffer in bytes.
#[export]
fn krepis_buffer_len(handle: u64) -> Result<i64> {
    Ok(BUFFERS.get(Handle::from_raw(handle))?.len() as i64)
}

/// Copies `len` bytes from `data` into the shared buffer at `offset`.
#[export]
fn krepis_buffer_write(handle: u64, offset: u64, data: *const u8, len: usize) -> Result<i64> {
    let buffer = BUFFERS.get(Handle::from_raw(handle))?;
    let data = unsafe { crate::guard::bytes(data, len) }?;
    buffer.write(offset as usize, data)?;
    Ok(len as i64)
}

/// Releases a shared buffer. TypeScript detaches its view before calling this.
#[export]
fn krepis_buffer_free(handle: u64) -> Result<i64> {
    BUFFERS.remove(Handle::from_raw(handle))?;
    Ok(0)
}

//! Shared buffers: kernel memory that TypeScript views in place.

use krepis_ffi_macros::export;
use krepis_kernel::shm::SharedBuffer;
use krepis_kernel::{HandleKind, HandleTable, Result};

use crate::guard::{self, handle_arg, handle_ret, len_arg};

static BUFFERS: HandleTable<SharedBuffer> = HandleTable::new(HandleKind::SharedBuffer);

/// Allocates a zeroed shared buffer of `len` bytes and returns its handle.
#[export]
fn krepis_buffer_alloc(len: f64) -> Result<f64> {
    let buffer = SharedBuffer::new(len_arg(len, "length")?)?;
    Ok(handle_ret(BUFFERS.insert(buffer)?))
}

/// The address of a shared buffer's first byte, for `Deno.UnsafePointer.create`.
#[export]
fn krepis_buffer_addr(handle: f64) -> Result<f64> {
    Ok(BUFFERS.get(handle_arg(handle)?)?.as_ptr() as usize as f64)
}

/// The length of a shared buffer in bytes.
#[export]
fn krepis_buffer_len(handle: f64) -> Result<f64> {
    Ok(BUFFERS.get(handle_arg(handle)?)?.len() as f64)
}

/// Copies `len` bytes from `data` into the shared buffer at `offset`.
#[export]
fn krepis_buffer_write(handle: f64, offset: f64, data: *const u8, len: f64) -> Result<f64> {
    let buffer = BUFFERS.get(handle_arg(handle)?)?;
    let data = unsafe { guard::bytes(data, len) }?;
    buffer.write(len_arg(offset, "offset")?, data)?;
    Ok(data.len() as f64)
}

/// Releases a shared buffer. TypeScript detaches its view before calling this.
#[export]
fn krepis_buffer_free(handle: f64) -> Result<f64> {
    BUFFERS.remove(handle_arg(handle)?)?;
    Ok(0.0)
}

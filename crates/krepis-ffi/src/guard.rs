//! The panic guard and the argument helpers every export uses.

use std::panic::{AssertUnwindSafe, catch_unwind};

use krepis_kernel::{Handle, KernelError, Result};

use crate::errors;

/// A value an export may return, and how it crosses the C ABI.
pub trait IntoFfi {
    /// The C-ABI type.
    type Raw;
    /// Converts a completed call.
    fn into_raw(self, function: &'static str) -> Self::Raw;
    /// The value returned when the body panicked; `ticket` holds the panic's details.
    fn from_panic(ticket: u64) -> Self::Raw;
}

// Fallible results are `f64` because Deno maps 64-bit integers to BigInt, which
// allocates on every call; an f64 carries any handle, length or ticket below 2^53 exactly.
macro_rules! fallible {
    ($($t:ty),*) => {$(
        impl IntoFfi for Result<$t> {
            type Raw = $t;
            fn into_raw(self, function: &'static str) -> $t {
                match self {
                    Ok(value) => value,
                    Err(error) => -(errors::report(function, &error) as $t),
                }
            }
            fn from_panic(ticket: u64) -> $t {
                -(ticket as $t)
            }
        }
    )*};
}
fallible!(f64);

macro_rules! infallible {
    ($($t:ty),*) => {$(
        impl IntoFfi for $t {
            type Raw = $t;
            fn into_raw(self, _: &'static str) -> $t {
                self
            }
            fn from_panic(_: u64) -> $t {
                Default::default()
            }
        }
    )*};
}
infallible!((), u8, u32, u64, i32, i64, f64);

/// Runs an export's body: a panic becomes an error ticket instead of unwinding into Deno.
pub fn run<R: IntoFfi>(function: &'static str, body: impl FnOnce() -> R) -> R::Raw {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value.into_raw(function),
        Err(payload) => {
            krepis_kernel::stats::record_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            R::from_panic(errors::report(function, &KernelError::Panic(message)))
        }
    }
}

/// Largest integer an f64 argument may carry exactly (2^53).
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Converts a JS-number argument to an integer, refusing NaN, fractions, negatives and
/// values beyond 2^53; `what` names the argument in the error.
pub fn int_arg(value: f64, what: &str) -> Result<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_EXACT {
        Ok(value as u64)
    } else {
        Err(KernelError::invalid(format!(
            "{what} must be a non-negative integer below 2^53, got {value}"
        )))
    }
}

/// Converts a length, offset or capacity argument (see [`int_arg`]).
pub fn len_arg(value: f64, what: &str) -> Result<usize> {
    usize::try_from(int_arg(value, what)?)
        .map_err(|_| KernelError::invalid(format!("{what} is too large for this platform")))
}

/// Converts a handle argument; a malformed value is an invalid handle.
pub fn handle_arg(value: f64) -> Result<Handle> {
    int_arg(value, "handle")
        .map(Handle::from_raw)
        .map_err(|_| KernelError::InvalidHandle(format!("{value} is not a handle")))
}

/// A handle as the JS number handed to TypeScript.
pub fn handle_ret(handle: Handle) -> f64 {
    handle.raw() as f64
}

/// Borrows `len` bytes at `ptr` passed from TypeScript. A null pointer is accepted only with
/// length 0 (Deno passes null for an empty buffer).
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` bytes for the duration of the call.
pub unsafe fn bytes<'a>(ptr: *const u8, len: f64) -> Result<&'a [u8]> {
    let len = len_arg(len, "buffer length")?;
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(KernelError::invalid(format!(
            "null buffer with length {len}"
        )));
    }
    // SAFETY: non-null and valid for `len` bytes per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a UTF-8 string passed as bytes; `what` names the argument in the error.
///
/// # Safety
///
/// As for [`bytes`].
pub unsafe fn utf8<'a>(ptr: *const u8, len: f64, what: &str) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    let raw = unsafe { bytes(ptr, len) }?;
    std::str::from_utf8(raw).map_err(|e| KernelError::invalid(format!("{what} is not UTF-8: {e}")))
}

/// Borrows the caller's output buffer of `cap` bytes at `out`: the checks every export
/// that fills a caller buffer needs (a valid capacity; null only with capacity 0, as Deno
/// passes an empty buffer).
///
/// # Safety
///
/// `out` must be valid for writes of `cap` bytes for the duration of the call.
pub unsafe fn bytes_mut<'a>(out: *mut u8, cap: f64) -> Result<&'a mut [u8]> {
    let cap = len_arg(cap, "output capacity")?;
    if cap == 0 {
        return Ok(&mut []);
    }
    if out.is_null() {
        return Err(KernelError::invalid(format!(
            "null output buffer with capacity {cap}"
        )));
    }
    // SAFETY: non-null and valid for `cap` bytes per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(out, cap) })
}

/// Writes `data` into the caller's buffer when it fits and returns `data.len()` either way,
/// so the caller can retry with a larger buffer.
///
/// # Safety
///
/// As for [`bytes_mut`].
pub unsafe fn write_out(out: *mut u8, cap: f64, data: &[u8]) -> Result<f64> {
    // SAFETY: forwarded contract.
    let out = unsafe { bytes_mut(out, cap) }?;
    if let Some(target) = out.get_mut(..data.len()) {
        target.copy_from_slice(data);
    }
    Ok(data.len() as f64)
}

/// Writes the Protobuf encoding of `message` like [`write_out`].
///
/// # Safety
///
/// As for [`bytes_mut`].
pub unsafe fn write_message(out: *mut u8, cap: f64, message: &impl prost::Message) -> Result<f64> {
    // SAFETY: forwarded contract.
    unsafe { write_out(out, cap, &message.encode_to_vec()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_arguments_are_validated() {
        assert_eq!(int_arg(42.0, "n").unwrap(), 42);
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, 1e300] {
            assert!(int_arg(bad, "n").is_err(), "{bad}");
        }
        assert!(
            handle_arg(-3.0)
                .unwrap_err()
                .to_string()
                .contains("invalid handle")
        );
    }

    #[test]
    fn a_panic_becomes_a_negative_ticket() {
        let raw = run("boom", || -> Result<f64> { panic!("deliberate") });
        assert!(raw < 0.0);
        let detail = errors::with_detail((-raw) as u64, |d| (d.clone(), true)).unwrap();
        assert!(detail.message.contains("deliberate"));
        assert_eq!(detail.function, "boom");
    }

    #[test]
    fn null_buffers_are_refused_unless_empty() {
        assert!(unsafe { bytes(std::ptr::null(), 0.0) }.unwrap().is_empty());
        assert!(unsafe { bytes(std::ptr::null(), 3.0) }.is_err());
    }

    #[test]
    fn null_output_buffers_are_refused_unless_empty() {
        assert!(
            unsafe { bytes_mut(std::ptr::null_mut(), 0.0) }
                .unwrap()
                .is_empty()
        );
        assert!(unsafe { bytes_mut(std::ptr::null_mut(), 4.0) }.is_err());
        assert!(unsafe { bytes_mut(std::ptr::null_mut(), -1.0) }.is_err());
        assert!(unsafe { write_out(std::ptr::null_mut(), 4.0, b"ab") }.is_err());
        assert_eq!(
            unsafe { write_out(std::ptr::null_mut(), 0.0, b"ab") }.unwrap(),
            2.0
        );
    }

    #[test]
    fn write_out_reports_the_needed_length() {
        let mut small = [0u8; 2];
        let needed = unsafe { write_out(small.as_mut_ptr(), 2.0, b"hello") }.unwrap();
        assert_eq!(needed, 5.0);
        assert_eq!(small, [0, 0]);
        let mut fits = [0u8; 8];
        let written = unsafe { write_out(fits.as_mut_ptr(), 8.0, b"hello") }.unwrap();
        assert_eq!(written, 5.0);
        assert_eq!(&fits, b"hello\0\0\0");
    }
}

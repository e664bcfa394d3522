//! A large response body read from JavaScript memory only while JavaScript is inside the
//! synchronous call that handed it over, and from a copy of what was left after.
//!
//! User code can reach a `Response`'s bytes (`clone()` shares them, `new Response(other.body)`
//! passes them on) and detach them whenever it runs; it cannot run while its thread is
//! blocked in a synchronous FFI call. So that call ([`Lend`]) lets the kernel write what the
//! socket takes right then straight from those bytes, and before it returns copies only what
//! is still unwritten into kernel memory (when the [`Lend`] drops). Every read goes through
//! the body's lock, which that copy takes too: no thread reads JavaScript memory after the
//! call has returned.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

/// See the module docs.
pub struct Borrowed {
    len: usize,
    state: Mutex<State>,
}

struct State {
    source: Source,
    /// Bytes of the body handed on so far (written, or taken as a frame).
    sent: usize,
}

enum Source {
    /// The caller's memory, `len` bytes: valid only while the [`Lend`] lives.
    Lent(*const u8),
    /// The bytes from `from` on, copied when the lending call returned.
    Kept { bytes: Bytes, from: usize },
}

impl std::fmt::Debug for Borrowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Borrowed").field("len", &self.len).finish()
    }
}

// SAFETY: the pointer is read only under the lock, and only while the `Lend` that made it
// lives; that one drops (replacing it with a copy, under the lock) before the lending call
// returns, so any thread may hold and read a `Borrowed`.
unsafe impl Send for Borrowed {}
unsafe impl Sync for Borrowed {}

impl Borrowed {
    /// Lends the `len` bytes at `ptr` until the returned [`Lend`] drops.
    ///
    /// # Safety
    ///
    /// The bytes must stay valid and unchanged until the [`Lend`] has dropped.
    pub unsafe fn lend(ptr: *const u8, len: usize) -> Lend {
        let source = if len == 0 {
            Source::Kept {
                bytes: Bytes::new(),
                from: 0,
            }
        } else {
            Source::Lent(ptr)
        };
        Lend(Arc::new(Self {
            len,
            state: Mutex::new(State { source, sent: 0 }),
        }))
    }

    /// The body's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `write` with the bytes not handed on yet (under the lock); it returns its
    /// result and how many of them it consumed (at most all).
    pub fn write<R>(&self, write: impl FnOnce(&[u8]) -> (R, usize)) -> R {
        let mut state = self.state.lock();
        let rest = state.rest(self.len);
        let (out, n) = write(rest);
        state.sent += n.min(rest.len());
        out
    }

    /// The bytes not handed on yet, as one frame: copied while lent, shared once kept.
    pub fn take_rest(&self) -> Bytes {
        let mut state = self.state.lock();
        let sent = state.sent;
        state.sent = self.len;
        match &state.source {
            Source::Lent(ptr) => {
                // SAFETY: lent, so valid for `len` bytes (see `lend`).
                let all = unsafe { std::slice::from_raw_parts(*ptr, self.len) };
                Bytes::copy_from_slice(&all[sent..])
            }
            Source::Kept { bytes, from } => bytes.slice(sent - from..),
        }
    }

    /// Copies what is left unwritten out of the lent memory, which is not read again.
    fn keep(&self) {
        let mut state = self.state.lock();
        if let Source::Lent(_) = state.source {
            let sent = state.sent;
            let bytes = Bytes::copy_from_slice(state.rest(self.len));
            state.source = Source::Kept { bytes, from: sent };
        }
    }
}

impl State {
    fn rest(&self, len: usize) -> &[u8] {
        match &self.source {
            Source::Lent(ptr) => {
                // SAFETY: lent, so valid for `len` bytes (see `Borrowed::lend`).
                let all = unsafe { std::slice::from_raw_parts(*ptr, len) };
                &all[self.sent..]
            }
            Source::Kept { bytes, from } => &bytes[self.sent - from..],
        }
    }
}

/// The lending side of a [`Borrowed`] body: dropping it copies what is still unwritten.
pub struct Lend(Arc<Borrowed>);

impl Lend {
    /// The body, for the response to carry.
    pub fn body(&self) -> Arc<Borrowed> {
        Arc::clone(&self.0)
    }
}

impl Drop for Lend {
    fn drop(&mut self) {
        // Nobody else holds the body (the response was dropped or refused): nothing to keep.
        if Arc::strong_count(&self.0) > 1 {
            self.0.keep();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_unwritten_when_the_lend_ends_is_copied_and_the_rest_never_read_again() {
        let mut memory = b"0123456789".to_vec();
        let lend = unsafe { Borrowed::lend(memory.as_ptr(), memory.len()) };
        let body = lend.body();
        let first = body.write(|rest| (rest[..4].to_vec(), 4));
        assert_eq!(first, b"0123");
        drop(lend);
        // The caller may now change or free its memory: the body reads its copy.
        memory.fill(b'x');
        drop(memory);
        let next = body.write(|rest| (rest[..2].to_vec(), 2));
        assert_eq!(next, b"45");
        assert_eq!(&body.take_rest()[..], b"6789");
        assert!(body.take_rest().is_empty());
        // A writer that claims more than it got consumes what there is, no more.
        let memory = b"abc".to_vec();
        let lend = unsafe { Borrowed::lend(memory.as_ptr(), memory.len()) };
        let body = lend.body();
        body.write(|rest| ((), rest.len() + 5));
        drop(lend);
        assert!(body.take_rest().is_empty());
    }

    #[test]
    fn a_frame_taken_while_lent_is_a_copy() {
        let mut memory = vec![7u8; 64];
        let lend = unsafe { Borrowed::lend(memory.as_ptr(), memory.len()) };
        let body = lend.body();
        let frame = body.take_rest();
        drop(lend);
        memory.fill(0);
        drop(memory);
        assert_eq!(&frame[..], &[7u8; 64][..]);
        let empty = unsafe { Borrowed::lend(std::ptr::null(), 0) };
        assert!(empty.body().is_empty() && empty.body().take_rest().is_empty());
    }
}

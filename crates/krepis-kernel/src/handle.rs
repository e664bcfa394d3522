//! Generation-checked handles: how objects are addressed from outside the kernel.
//!
//! TypeScript never holds a pointer to a Rust object. It holds a [`Handle`]: a `u64` that
//! packs the object's kind, its slot index and the slot's generation. Releasing an object
//! bumps the slot's generation, so a stale, double-freed or forged handle fails the check
//! and is answered with [`KernelError::InvalidHandle`] instead of touching freed memory.
//!
//! Handles fit in 52 bits so JavaScript sees them as plain numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::{KernelError, Result};

const INDEX_BITS: u32 = 24;
const GEN_BITS: u32 = 20;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
/// Most objects one table holds at once.
pub const MAX_LIVE: usize = 1 << INDEX_BITS;

static LIVE: AtomicU64 = AtomicU64::new(0);

/// Objects currently addressed by handles, across all tables.
pub fn live_handles() -> u64 {
    LIVE.load(Ordering::Relaxed)
}

/// The kind of object a handle addresses. A handle of one kind is refused by a table of
/// another, so passing a KV handle where a server is expected is an error, not confusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum HandleKind {
    /// A kernel-owned byte buffer lent to TypeScript.
    SharedBuffer = 1,
    /// An HTTP server.
    HttpServer = 2,
    /// A file-system journal.
    Journal = 3,
    /// A journal transaction in progress.
    Transaction = 4,
    /// An embedded KV store.
    Kv = 5,
    /// A KNUL server.
    KnulServer = 20,
    /// A KNUL client.
    KnulClient = 21,
    /// A handle kind used only by tests.
    Test = 255,
}

/// An opaque, generation-checked reference to a kernel object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(u64);

impl Handle {
    fn new(kind: HandleKind, index: usize, generation: u64) -> Self {
        let bits = ((kind as u64) << (INDEX_BITS + GEN_BITS))
            | ((generation & GEN_MASK) << INDEX_BITS)
            | (index as u64 & INDEX_MASK);
        Self(bits)
    }

    /// Reinterprets a raw value received from outside; validity is checked on use.
    pub fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value handed to TypeScript.
    pub fn raw(self) -> u64 {
        self.0
    }

    fn kind_bits(self) -> u64 {
        self.0 >> (INDEX_BITS + GEN_BITS)
    }

    fn index(self) -> usize {
        (self.0 & INDEX_MASK) as usize
    }

    fn generation(self) -> u64 {
        (self.0 >> INDEX_BITS) & GEN_MASK
    }
}

struct Slot<T> {
    generation: u64,
    value: Option<Arc<T>>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

/// A table of objects of one [`HandleKind`], addressed by [`Handle`]s.
///
/// ```
/// use krepis_kernel::{HandleKind, HandleTable};
/// let table = HandleTable::new(HandleKind::Test);
/// let h = table.insert(String::from("hello")).unwrap();
/// assert_eq!(table.get(h).unwrap().as_str(), "hello");
/// table.remove(h).unwrap();
/// assert!(table.get(h).is_err()); // stale
/// assert!(table.remove(h).is_err()); // double free
/// ```
pub struct HandleTable<T> {
    kind: HandleKind,
    inner: RwLock<Slots<T>>,
}

impl<T> HandleTable<T> {
    /// An empty table for objects of `kind`.
    pub const fn new(kind: HandleKind) -> Self {
        Self {
            kind,
            inner: RwLock::new(Slots {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    /// Stores `value` and returns its handle.
    pub fn insert(&self, value: T) -> Result<Handle> {
        let mut inner = self.inner.write();
        let index = match inner.free.pop() {
            Some(index) => index,
            None => {
                if inner.slots.len() >= MAX_LIVE {
                    return Err(KernelError::LimitExceeded(format!(
                        "more than {MAX_LIVE} live {:?} handles",
                        self.kind
                    )));
                }
                inner.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                inner.slots.len() - 1
            }
        };
        let slot = &mut inner.slots[index];
        // Generation 0 is never handed out, so the raw value 0 is never a valid handle.
        // Generations never wrap: a slot whose last generation was used is retired on removal.
        slot.generation += 1;
        slot.value = Some(Arc::new(value));
        LIVE.fetch_add(1, Ordering::Relaxed);
        Ok(Handle::new(self.kind, index, slot.generation))
    }

    /// The object behind `handle`, if the handle is current and of this table's kind.
    pub fn get(&self, handle: Handle) -> Result<Arc<T>> {
        self.check_kind(handle)?;
        let inner = self.inner.read();
        match inner.slots.get(handle.index()) {
            Some(slot) if slot.generation == handle.generation() => {
                slot.value.clone().ok_or_else(|| self.stale(handle))
            }
            _ => Err(self.stale(handle)),
        }
    }

    /// Releases `handle` and returns its object; the handle is invalid from now on.
    pub fn remove(&self, handle: Handle) -> Result<Arc<T>> {
        self.check_kind(handle)?;
        let mut inner = self.inner.write();
        let index = handle.index();
        let value = match inner.slots.get_mut(index) {
            Some(slot) if slot.generation == handle.generation() => slot.value.take(),
            _ => None,
        };
        let value = value.ok_or_else(|| self.stale(handle))?;
        // A slot that used its last generation is retired rather than reused, so an old
        // handle can never come to address a new object.
        if inner.slots[index].generation < GEN_MASK {
            inner.free.push(index);
        }
        LIVE.fetch_sub(1, Ordering::Relaxed);
        Ok(value)
    }

    /// Number of live objects in this table.
    pub fn len(&self) -> usize {
        let inner = self.inner.read();
        inner
            .slots
            .iter()
            .filter(|slot| slot.value.is_some())
            .count()
    }

    /// True when the table holds no live object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_kind(&self, handle: Handle) -> Result<()> {
        if handle.kind_bits() == self.kind as u64 {
            Ok(())
        } else {
            Err(KernelError::InvalidHandle(format!(
                "{:#x} is not a {:?} handle",
                handle.raw(),
                self.kind
            )))
        }
    }

    fn stale(&self, handle: Handle) -> KernelError {
        KernelError::InvalidHandle(format!(
            "{:?} handle {:#x} is unknown, released or forged",
            self.kind,
            handle.raw()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_fit_in_a_javascript_number() {
        let table = HandleTable::new(HandleKind::Test);
        let h = table.insert(1u8).unwrap();
        assert!(h.raw() < (1u64 << 53));
        assert_ne!(h.raw(), 0);
    }

    #[test]
    fn reused_slots_get_a_new_generation() {
        let table = HandleTable::new(HandleKind::Test);
        let first = table.insert(1u8).unwrap();
        table.remove(first).unwrap();
        let second = table.insert(2u8).unwrap();
        assert_eq!(first.index(), second.index());
        assert_ne!(first, second);
        assert!(table.get(first).is_err());
        assert_eq!(*table.get(second).unwrap(), 2);
    }

    #[test]
    fn forged_and_foreign_handles_are_refused() {
        let table = HandleTable::new(HandleKind::Test);
        let h = table.insert(1u8).unwrap();
        assert!(table.get(Handle::from_raw(h.raw() + 1)).is_err());
        assert!(table.get(Handle::from_raw(0)).is_err());
        assert!(table.get(Handle::from_raw(u64::MAX)).is_err());
        let other: HandleTable<u8> = HandleTable::new(HandleKind::Kv);
        let err = other.get(h).unwrap_err();
        assert!(err.to_string().contains("is not a Kv handle"), "{err}");
    }

    #[test]
    fn a_slot_is_retired_after_its_last_generation() {
        let table = HandleTable::new(HandleKind::Test);
        let first = table.insert(0u8).unwrap();
        table.remove(first).unwrap();
        table.inner.write().slots[first.index()].generation = GEN_MASK - 1;
        let last = table.insert(1u8).unwrap();
        assert_eq!(last.index(), first.index());
        assert_eq!(last.generation(), GEN_MASK);
        table.remove(last).unwrap();
        let next = table.insert(2u8).unwrap();
        assert_ne!(
            next.index(),
            last.index(),
            "exhausted slot must not be reused"
        );
        assert!(table.get(last).is_err());
        assert_eq!(*table.get(next).unwrap(), 2);
    }

    #[test]
    fn len_tracks_live_objects() {
        let table = HandleTable::new(HandleKind::Test);
        let a = table.insert(1u8).unwrap();
        let _b = table.insert(2u8).unwrap();
        assert_eq!(table.len(), 2);
        table.remove(a).unwrap();
        assert_eq!(table.len(), 1);
    }
}

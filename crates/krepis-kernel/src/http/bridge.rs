//! The bridge between hyper tasks and the TypeScript consumer.
//!
//! **Requests.** Each request takes a *slot* (its id packs slot index and generation, so a
//! late answer to a recycled slot is recognised). Its record is appended to the *fill* inbox,
//! one of two shared buffers TypeScript views in place. [`Bridge::poll`] (a fast synchronous
//! call) swaps the two: TypeScript gets the filled inbox and the kernel fills the other,
//! which TypeScript finished with before it polled again. Only when the poll finds nothing
//! does TypeScript park (a `nonblocking` call), so under load one wake-up serves a whole
//! batch. The HTTP server polls at the end of each of its turns on the JS thread and parks
//! inside its runtime on [`Bridge::work`] (see [`super::runtime`]); KNUL's runtime has
//! threads of its own, rung through [`Bridge::doorbell`] to [`Bridge::wait`].
//!
//! **Responses.** TypeScript writes response records into the outbox (a third shared buffer)
//! and submits them in one [`Bridge::respond`] call, in any order.
//!
//! **Bodies.** A buffered request body lives in the slot, at a fixed address TypeScript views
//! without copying, until the response (or a release) frees the slot. TypeScript detaches its
//! view before that. Streamed bodies move through small channels both ways, so each side
//! pushes back on the other.
//!
//! **Aborts.** When a client goes away or a deadline passes, the slot is marked abandoned and
//! an abort record tells TypeScript, which fires the request's signal and releases the slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::{Condvar, Mutex};
use slab::Slab;
use tokio::sync::{Notify, mpsc, oneshot};

use super::body::{BodyChunk, OutChunk, ResponseBody, STREAM_CHANNEL_CHUNKS, StreamBody};
use super::record::{
    self, Fields, KIND_RELEASE, KIND_RESPOND, KIND_RESPOND_STREAM, OwnedResponse, ResponseRecord,
};
use super::trace::TraceHeaders;
use crate::proto::BridgeLayout;
use crate::shm::SharedBuffer;
use crate::{KernelError, Result};

/// What a hyper task receives for its request.
pub type Reply = http::Response<ResponseBody>;

/// A bare response with `status` and no body, as the kernel sends on its own.
pub fn status_response(status: u16) -> Reply {
    let mut response = http::Response::new(ResponseBody::empty());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// What the HTTP/1.1 lane receives for its request: the response record itself when the
/// lane can write it as it is (see [`Bridge::submit_lane`]), else a built response.
pub enum Answer {
    /// A whole response with a small inline body, to be written from the record.
    Record(OwnedResponse),
    /// Anything else (streams, staged or large bodies, odd statuses, the kernel's own
    /// answers). Boxed: the answer is moved several times on its way (into the mailbox,
    /// out of it, into the driver), and a reply is twice the size of a record.
    Built(Box<Reply>),
}

/// Largest inline body answered as a [`Answer::Record`] (the driver writes it with its head
/// in one go; larger ones take the built path, which writes them on their own).
const RECORD_BODY_MAX: usize = 4 * 1024;

/// Where the answers to an HTTP/1.1 connection's laned requests arrive: one per connection
/// (which has one request in flight at a time) rather than a channel per request.
#[derive(Default)]
pub struct Mailbox {
    state: Mutex<Mail>,
}

#[derive(Default)]
struct Mail {
    /// `Some(None)`: the request ended without an answer.
    answer: Option<Option<Answer>>,
    waker: Option<Waker>,
    /// The buffer the next [`Answer::Record`] is copied into (the last one's, handed back
    /// with the next request: see [`Bridge::submit_lane`]).
    spare: Vec<u8>,
}

impl Mailbox {
    fn post(&self, answer: Option<Answer>) {
        let waker = {
            let mut mail = self.state.lock();
            mail.answer = Some(answer);
            mail.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Posts the record `copy` makes in the spare buffer, under the lock taken once for
    /// both; gives `copy`'s `None` back (the buffer is dropped then).
    fn post_copy(&self, copy: impl FnOnce(Vec<u8>) -> Option<OwnedResponse>) -> Option<()> {
        let waker = {
            let mut mail = self.state.lock();
            let owned = copy(std::mem::take(&mut mail.spare))?;
            mail.answer = Some(Some(Answer::Record(owned)));
            mail.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Some(())
    }

    /// The answer, once posted (`None`: the request ended without one, as a dropped
    /// channel would tell).
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Answer>> {
        let mut mail = self.state.lock();
        match mail.answer.take() {
            Some(answer) => Poll::Ready(answer),
            None => {
                if !mail.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    mail.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// A laned request's claim on its connection's [`Mailbox`]: posts "no answer" if dropped
/// unanswered.
struct Posting(Option<Arc<Mailbox>>);

impl Posting {
    /// Posts the record `copy` makes in the connection's spare buffer; `Err(self)` (nothing
    /// posted) when `copy` gives `None`.
    fn post_copy(
        mut self,
        copy: impl FnOnce(Vec<u8>) -> Option<OwnedResponse>,
    ) -> std::result::Result<(), Self> {
        match self.0.take() {
            Some(mailbox) => match mailbox.post_copy(copy) {
                Some(()) => Ok(()),
                None => Err(Self(Some(mailbox))),
            },
            None => Err(self),
        }
    }

    fn post(mut self, answer: Answer) {
        if let Some(mailbox) = self.0.take() {
            mailbox.post(Some(answer));
        }
    }
}

impl Drop for Posting {
    fn drop(&mut self) {
        if let Some(mailbox) = self.0.take() {
            mailbox.post(None);
        }
    }
}

/// Who waits for a request's answer.
enum Waiter {
    Built(oneshot::Sender<Reply>),
    Lane(Posting),
}

impl Waiter {
    /// Sends `reply`; the waiting task may be gone already, then nobody needs it.
    fn send(self, reply: Reply) {
        match self {
            Self::Built(tx) => drop(tx.send(reply)),
            Self::Lane(posting) => posting.post(Answer::Built(Box::new(reply))),
        }
    }
}

const INDEX_BITS: u32 = 32;
const GEN_MASK: u64 = (1 << 20) - 1;

/// A streamed request body on its way to TypeScript.
pub struct BodyIn {
    rx: mpsc::Receiver<BodyChunk>,
    leftover: Bytes,
    stop: Option<oneshot::Sender<()>>,
}

impl BodyIn {
    /// A reader over `rx`, starting with the bytes already read into `prefix`.
    pub fn new(prefix: Bytes, rx: mpsc::Receiver<BodyChunk>) -> Self {
        Self {
            rx,
            leftover: prefix,
            stop: None,
        }
    }

    /// Drops `stop` (telling the body's forwarder to give up) once the request is over.
    pub fn stopping(mut self, stop: oneshot::Sender<()>) -> Self {
        self.stop = Some(stop);
        self
    }
}

struct Slot {
    id: u64,
    reply: Option<Waiter>,
    body: Option<Box<[u8]>>,
    input: Option<Arc<Mutex<BodyIn>>>,
    output: Option<mpsc::Sender<OutChunk>>,
    staged: Option<ResponseBody>,
    abandoned: bool,
    /// Dropped when the request is over, which stops the forwarder of its body.
    stop_body: Option<oneshot::Sender<()>>,
    /// The request's header map, emptied, for the response to reuse (see [`Bridge::recycle`]).
    spare: Option<HeaderMap>,
    /// When [`Bridge::expired`] reports the request, if it has not been answered by then.
    deadline: Option<Instant>,
    /// The trace headers a response asking for them ([`record::FLAG_TRACE_HEADERS`]) gets.
    trace: Option<TraceHeaders>,
}

struct Inner {
    fill: usize,
    fill_len: usize,
    aborts: Vec<u64>,
    slots: Slab<Slot>,
    generation: u64,
    closed: bool,
    /// Where [`Bridge::submit`] encodes a record before copying it into the inbox.
    scratch: Vec<u8>,
}

/// How a record went into the fill inbox.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Appended {
    /// The inbox was empty: the record starts a batch.
    First,
    /// After other records of the batch.
    More,
    /// It does not fit now.
    NoRoom,
}

/// Counters of the bridge.
#[derive(Default)]
pub struct BridgeStats {
    /// Requests submitted.
    pub requests: AtomicU64,
    /// Responses completed by TypeScript.
    pub responses: AtomicU64,
    /// Requests abandoned (client gone or deadline).
    pub aborted: AtomicU64,
    /// Batches drained by [`Bridge::poll`].
    pub batches: AtomicU64,
    /// Times TypeScript parked in [`Bridge::wait`].
    pub waits: AtomicU64,
    /// Bytes of buffered bodies held in slots.
    pub body_bytes: AtomicU64,
    /// Response records that named no live request (answered after an abort).
    pub stale: AtomicU64,
}

/// A request as the bridge hands it over: a slot plus the receiving end of its reply.
pub struct Submitted {
    /// The request id.
    pub id: u64,
    /// Resolves with the response TypeScript sent.
    pub reply: oneshot::Receiver<Reply>,
}

/// Shared state between the server's tasks and the TypeScript consumer. See the module docs.
pub struct Bridge {
    inner: Mutex<Inner>,
    work: Condvar,
    bell: Arc<Notify>,
    space: Notify,
    inboxes: [SharedBuffer; 2],
    outbox: SharedBuffer,
    fields: Mutex<FieldCache>,
    /// Whether a deadline watcher runs, and whether it is awake (see [`Bridge::expired`]).
    watched: AtomicBool,
    sweeping: AtomicBool,
    armed: Notify,
    /// Counters.
    pub stats: BridgeStats,
}

impl Bridge {
    /// A bridge with two inboxes of `inbox_size` bytes and an outbox of `outbox_size`.
    pub fn new(inbox_size: usize, outbox_size: usize) -> Result<Self> {
        Ok(Self {
            inner: Mutex::new(Inner {
                fill: 0,
                fill_len: 0,
                aborts: Vec::new(),
                slots: Slab::new(),
                generation: 0,
                closed: false,
                scratch: Vec::with_capacity(512),
            }),
            work: Condvar::new(),
            bell: Arc::new(Notify::new()),
            space: Notify::new(),
            inboxes: [
                SharedBuffer::new(inbox_size)?,
                SharedBuffer::new(inbox_size)?,
            ],
            outbox: SharedBuffer::new(outbox_size)?,
            fields: Mutex::default(),
            watched: AtomicBool::new(false),
            sweeping: AtomicBool::new(false),
            armed: Notify::new(),
            stats: BridgeStats::default(),
        })
    }

    /// Address and length of inbox `index` (0 or 1), for TypeScript's views.
    pub fn inbox(&self, index: usize) -> Option<(*mut u8, usize)> {
        self.inboxes.get(index).map(|b| (b.as_ptr(), b.len()))
    }

    /// Address and length of the outbox.
    pub fn outbox(&self) -> (*mut u8, usize) {
        (self.outbox.as_ptr(), self.outbox.len())
    }

    /// Where the shared buffers live, as the control-plane message TypeScript's views are
    /// made from (no handle or key: the owner of the bridge adds those).
    pub fn layout(&self) -> BridgeLayout {
        BridgeLayout {
            inboxes: self
                .inboxes
                .iter()
                .map(|b| b.as_ptr() as usize as u64)
                .collect(),
            inbox_size: self.inboxes[0].len() as u64,
            outbox: self.outbox.as_ptr() as usize as u64,
            outbox_size: self.outbox.len() as u64,
            ..BridgeLayout::default()
        }
    }

    /// Takes a slot for a request, lends it `body`, and queues the record `encode` writes for
    /// the request's id (called once). Waits while the inbox is full. A request with a
    /// `deadline` is listed by [`Bridge::expired`] once it passes unanswered, and gives up
    /// waiting for the inbox then ([`KernelError::Timeout`]).
    pub async fn submit(
        &self,
        body: Option<Box<[u8]>>,
        input: Option<BodyIn>,
        deadline: Option<Instant>,
        encode: impl FnOnce(u64, usize, &mut Vec<u8>) -> Result<()>,
    ) -> Result<Submitted> {
        let encode = |id, body_addr, out: &mut Vec<u8>| encode(id, body_addr, out).map(|()| None);
        let (tx, reply) = oneshot::channel();
        let id = self
            .queue(body, input, Waiter::Built(tx), deadline, encode)
            .await?;
        Ok(Submitted { id, reply })
    }

    /// [`Bridge::submit`] for an HTTP request: `encode` also gives the trace headers made
    /// from the ids it wrote, which a response asking for them
    /// ([`record::FLAG_TRACE_HEADERS`]) gets.
    pub async fn submit_request(
        &self,
        body: Option<Box<[u8]>>,
        input: Option<BodyIn>,
        deadline: Option<Instant>,
        encode: impl FnOnce(u64, usize, &mut Vec<u8>) -> Result<TraceHeaders>,
    ) -> Result<Submitted> {
        let encode = |id, body_addr, out: &mut Vec<u8>| encode(id, body_addr, out).map(Some);
        let (tx, reply) = oneshot::channel();
        let id = self
            .queue(body, input, Waiter::Built(tx), deadline, encode)
            .await?;
        Ok(Submitted { id, reply })
    }

    /// [`Bridge::submit`] for an HTTP/1.1 request whose record was encoded beforehand into
    /// `record` (its id, deadline and body address are stamped here), with its whole
    /// buffered `body` if it has one (kept in the slot, as `submit` keeps a collected one):
    /// the record goes into the inbox without another encoding, and the answer arrives in
    /// `mailbox`, a whole small response as the record TypeScript wrote
    /// ([`Answer::Record`]), copied into `spare` (the buffer of the connection's last one).
    /// `record` gets a spare buffer back; `trace` holds the headers made from the ids in
    /// the record; `deadline` is the one watched and the one in ms TypeScript gets.
    pub async fn submit_lane(
        &self,
        record: &mut Vec<u8>,
        trace: TraceHeaders,
        body: Option<Box<[u8]>>,
        (deadline, deadline_ms): (Option<Instant>, f64),
        mailbox: &Arc<Mailbox>,
        spare: Vec<u8>,
    ) -> Result<u64> {
        {
            let mut mail = mailbox.state.lock();
            // A stale answer (to a request the connection gave up on) must not answer this
            // one.
            mail.answer = None;
            mail.spare = spare;
        }
        let posting = Posting(Some(Arc::clone(mailbox)));
        let encode = |id, body_addr, out: &mut Vec<u8>| {
            // The bridge keeps the record's buffer as its scratch and the lane gets the old
            // scratch: neither side allocates once both are warm.
            std::mem::swap(out, record);
            record::stamp_request(out, id, deadline_ms, body_addr);
            Ok(Some(trace))
        };
        self.queue(body, None, Waiter::Lane(posting), deadline, encode)
            .await
    }

    async fn queue(
        &self,
        body: Option<Box<[u8]>>,
        input: Option<BodyIn>,
        waiter: Waiter,
        deadline: Option<Instant>,
        encode: impl FnOnce(u64, usize, &mut Vec<u8>) -> Result<Option<TraceHeaders>>,
    ) -> Result<u64> {
        let (id, appended) = self.enter(body, input, waiter, deadline, encode)?;
        let appended = match appended {
            Ok(appended) => appended,
            // Boxed: the rare wait would otherwise grow every request's future.
            Err(record) => Box::pin(self.wait_for_room(id, &record, deadline)).await?,
        };
        if deadline.is_some() && !self.sweeping.load(Ordering::SeqCst) {
            self.armed.notify_one();
        }
        // Only the first record of a batch rings: whoever it wakes takes the whole batch.
        if appended == Appended::First {
            self.bell.notify_one();
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Waits until the inbox has room for `record` and appends it; frees the slot of `id`
    /// and fails if `deadline` passes first (TypeScript never saw the request).
    async fn wait_for_room(
        &self,
        id: u64,
        record: &[u8],
        deadline: Option<Instant>,
    ) -> Result<Appended> {
        loop {
            let notified = self.space.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            match self.append(&mut self.inner.lock(), record)? {
                Appended::NoRoom => {}
                appended => return Ok(appended),
            }
            match deadline {
                None => notified.await,
                Some(at) => {
                    if tokio::time::timeout_at(at.into(), notified).await.is_err() {
                        self.free_locked(self.inner.lock(), id);
                        return Err(KernelError::Timeout(
                            "the inbox stayed full past the request's deadline".into(),
                        ));
                    }
                }
            }
        }
    }

    /// The synchronous part of [`Bridge::submit`], under one lock: takes the slot, encodes
    /// the record into a scratch buffer the bridge keeps and copies it into the inbox
    /// (keeping the trace headers `encode` gives in the slot). Returns the id, and how the
    /// record went in, or the record when the inbox has no room for it now.
    fn enter(
        &self,
        body: Option<Box<[u8]>>,
        input: Option<BodyIn>,
        reply: Waiter,
        deadline: Option<Instant>,
        encode: impl FnOnce(u64, usize, &mut Vec<u8>) -> Result<Option<TraceHeaders>>,
    ) -> Result<(u64, std::result::Result<Appended, Vec<u8>>)> {
        let body_len = body.as_ref().map_or(0, |b| b.len());
        let body_addr = body.as_ref().map_or(0, |b| b.as_ptr() as usize);
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(KernelError::Closed("server is shut down".into()));
        }
        inner.generation = (inner.generation % GEN_MASK) + 1;
        let generation = inner.generation;
        let entry = inner.slots.vacant_entry();
        let id = (generation << INDEX_BITS) | entry.key() as u64;
        let (input, stop_body) = match input {
            Some(mut input) => {
                let stop = input.stop.take();
                (Some(Arc::new(Mutex::new(input))), stop)
            }
            None => (None, None),
        };
        entry.insert(Slot {
            id,
            reply: Some(reply),
            body,
            input,
            output: None,
            staged: None,
            abandoned: false,
            stop_body,
            spare: None,
            deadline,
            trace: None,
        });
        if body_len > 0 {
            self.stats
                .body_bytes
                .fetch_add(body_len as u64, Ordering::Relaxed);
        }
        let mut record = std::mem::take(&mut inner.scratch);
        record.clear();
        let encoded = encode(id, body_addr, &mut record).and_then(|trace| {
            if let Some(slot) = Self::slot_mut(&mut inner.slots, id) {
                slot.trace = trace;
            }
            if record.len() > self.inboxes[0].len() {
                return Err(KernelError::LimitExceeded(format!(
                    "request record of {} bytes exceeds the inbox",
                    record.len()
                )));
            }
            self.append(&mut inner, &record)
        });
        match encoded {
            Ok(Appended::NoRoom) => Ok((id, Err(record))),
            Ok(appended) => {
                inner.scratch = record;
                Ok((id, Ok(appended)))
            }
            Err(e) => {
                inner.scratch = record;
                self.free_locked(inner, id);
                Err(e)
            }
        }
    }

    /// Copies `record` into the fill inbox if it has room.
    fn append(&self, inner: &mut Inner, record: &[u8]) -> Result<Appended> {
        let inbox = &self.inboxes[inner.fill];
        if inner.fill_len + record.len() > inbox.len() {
            return Ok(Appended::NoRoom);
        }
        inbox.write(inner.fill_len, record)?;
        let first = inner.fill_len == 0;
        inner.fill_len += record.len();
        Ok(if first {
            Appended::First
        } else {
            Appended::More
        })
    }

    /// Wakes a parked [`Bridge::wait`] whenever records arrive, but only after the runtime
    /// has run every other ready task: all requests that arrived together are then in the
    /// inbox, and TypeScript wakes once for the batch instead of once per request. Runs for
    /// the life of the server.
    pub async fn doorbell(&self) {
        loop {
            self.bell.notified().await;
            tokio::task::yield_now().await;
            self.work.notify_one();
        }
    }

    /// Hands the filled inbox to TypeScript: returns `len | index << 32`, or 0 when no
    /// record is waiting. The previously returned inbox becomes the kernel's to fill.
    pub fn poll(&self) -> u64 {
        let mut inner = self.inner.lock();
        if !inner.aborts.is_empty() {
            let mut records = Vec::new();
            let room = (self.inboxes[inner.fill].len() - inner.fill_len) / record::ABORT_LEN;
            // Whatever does not fit goes out with the next poll.
            let aborts = room.min(inner.aborts.len());
            for id in inner.aborts.drain(..aborts) {
                record::encode_abort(id, &mut records);
            }
            let at = inner.fill_len;
            // Cannot fail: `room` counted the whole notices that fit in the space left.
            let _ = self.inboxes[inner.fill].write(at, &records);
            inner.fill_len += records.len();
        }
        if inner.fill_len == 0 {
            return 0;
        }
        let out = inner.fill_len as u64 | ((inner.fill as u64) << 32);
        inner.fill ^= 1;
        inner.fill_len = 0;
        drop(inner);
        self.space.notify_waiters();
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        out
    }

    /// Parks until a record is waiting (1), the bridge closes (0) or `timeout` passes (2),
    /// for a bridge whose runtime runs on threads of its own (see [`Bridge::doorbell`]).
    pub fn wait(&self, timeout: Duration) -> i64 {
        let mut inner = self.inner.lock();
        self.stats.waits.fetch_add(1, Ordering::Relaxed);
        loop {
            if self.has_work(&inner) {
                return 1;
            }
            if inner.closed {
                return 0;
            }
            if self.work.wait_for(&mut inner, timeout).timed_out() {
                return 2;
            }
        }
    }

    /// Waits on the runtime until a record is waiting (`true`) or the bridge closes
    /// (`false`): the parked side of a runtime that TypeScript drives itself, where no
    /// doorbell runs.
    pub async fn work(&self) -> bool {
        self.stats.waits.fetch_add(1, Ordering::Relaxed);
        loop {
            let notified = self.bell.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let inner = self.inner.lock();
                if self.has_work(&inner) {
                    return true;
                }
                if inner.closed {
                    return false;
                }
            }
            notified.await;
        }
    }

    fn has_work(&self, inner: &Inner) -> bool {
        inner.fill_len > 0 || !inner.aborts.is_empty()
    }

    /// Submits the first `len` bytes of the outbox: response records in any order. Returns
    /// how many records completed a live request.
    pub fn respond(&self, len: usize) -> Result<usize> {
        if len > self.outbox.len() {
            return Err(KernelError::invalid(format!(
                "{len} bytes exceeds the outbox of {} bytes",
                self.outbox.len()
            )));
        }
        // SAFETY: the outbox lives as long as `self`; TypeScript does not write it during
        // this call (it is single-threaded and is the caller).
        let batch = unsafe { std::slice::from_raw_parts(self.outbox.as_ptr(), len) };
        let records = record::decode_responses(batch)?;
        let mut fields = self.fields.lock();
        let mut done = 0;
        for rec in records {
            if self.complete(rec, &mut fields)? {
                done += 1;
            }
        }
        Ok(done)
    }

    fn complete(&self, rec: ResponseRecord<'_>, fields: &mut FieldCache) -> Result<bool> {
        let mut inner = self.inner.lock();
        let Some(slot) = Self::slot_mut(&mut inner.slots, rec.id) else {
            self.stats.stale.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        };
        let reply = slot.reply.take();
        let staged = slot.staged.take();
        let spare = slot.spare.take();
        let trace = slot
            .trace
            .filter(|_| rec.flags & record::FLAG_TRACE_HEADERS != 0);
        let live = reply.is_some() && !slot.abandoned;
        let stream = if rec.kind == KIND_RESPOND_STREAM && live {
            let (tx, rx) = mpsc::channel(STREAM_CHANNEL_CHUNKS);
            slot.output = Some(tx);
            Some(rx)
        } else {
            None
        };
        if stream.is_none() {
            // Full responses and releases end the request: free the slot and its body.
            let index = (rec.id & ((1 << INDEX_BITS) - 1)) as usize;
            let slot = inner.slots.remove(index);
            drop(inner);
            self.release_body(slot);
        } else {
            drop(inner);
        }
        if rec.kind == KIND_RELEASE || !live {
            return Ok(false);
        }
        let reply = match reply {
            Some(Waiter::Lane(posting))
                if stream.is_none()
                    && staged.is_none()
                    && (200..=599).contains(&rec.status)
                    && rec.body.len() <= RECORD_BODY_MAX =>
            {
                match posting.post_copy(|spare| OwnedResponse::copy(&rec, spare, trace.as_ref())) {
                    Ok(()) => {
                        self.stats.responses.fetch_add(1, Ordering::Relaxed);
                        return Ok(true);
                    }
                    Err(posting) => Some(Waiter::Lane(posting)),
                }
            }
            reply => reply,
        };
        let body = match (stream, staged) {
            (Some(rx), _) => {
                ResponseBody::Stream(StreamBody::new(rx, declared_length(rec.headers)))
            }
            (None, Some(body)) if rec.flags & record::FLAG_STAGED_BODY != 0 => body,
            _ => ResponseBody::full(Bytes::copy_from_slice(rec.body)),
        };
        let response = build_response(rec.status, rec.headers, trace.as_ref(), body, fields, spare);
        if let Some(reply) = reply {
            reply.send(response);
        }
        self.stats.responses.fetch_add(1, Ordering::Relaxed);
        debug_assert!(matches!(rec.kind, KIND_RESPOND | KIND_RESPOND_STREAM));
        Ok(true)
    }

    /// The requests whose deadline passed by `now` and that still wait for their response
    /// (to be answered with [`Bridge::reject`]), and whether any other request still has a
    /// deadline to watch.
    pub fn expired(&self, now: Instant) -> (Vec<u64>, bool) {
        let inner = self.inner.lock();
        let mut expired = Vec::new();
        let mut watched = false;
        for (_, slot) in inner.slots.iter() {
            let Some(deadline) = slot.deadline else {
                continue;
            };
            if slot.reply.is_none() || slot.abandoned {
                continue;
            }
            if deadline <= now {
                expired.push(slot.id);
            } else {
                watched = true;
            }
        }
        (expired, watched)
    }

    /// Whether a watcher of deadlines still has to be started (true once).
    pub fn start_watching(&self) -> bool {
        !self.watched.load(Ordering::Relaxed) && !self.watched.swap(true, Ordering::SeqCst)
    }

    /// Marks the deadline watcher awake (`true`: it will look at the slots again by
    /// itself) or parked (`false`: a request with a deadline fires [`Bridge::armed`]).
    pub fn set_sweeping(&self, sweeping: bool) {
        self.sweeping.store(sweeping, Ordering::SeqCst);
    }

    /// Fires when a request with a deadline arrives while the watcher is parked.
    pub fn armed(&self) -> &Notify {
        &self.armed
    }

    /// `response` as a built response, checked as one built from its record would be.
    pub fn build(&self, response: &OwnedResponse) -> Reply {
        let body = ResponseBody::full(Bytes::copy_from_slice(response.body()));
        let mut fields = self.fields.lock();
        build_response(
            response.status(),
            response.headers(),
            None,
            body,
            &mut fields,
            None,
        )
    }

    /// Keeps the request's header map, emptied, for the response to `id` to fill: hyper
    /// parses the next request into the map of the response before it, so a map passed
    /// along this way serves the whole connection without a new allocation per request.
    pub fn recycle(&self, id: u64, mut headers: HeaderMap) {
        headers.clear();
        let mut inner = self.inner.lock();
        if let Some(slot) = Self::slot_mut(&mut inner.slots, id) {
            slot.spare = Some(headers);
        }
    }

    /// Keeps `data` as the body of the response TypeScript is about to submit for `id`
    /// (for large bodies, which then skip the outbox).
    pub fn stage_body(&self, id: u64, data: Bytes) -> Result<()> {
        self.stage(id, ResponseBody::full(data))
    }

    /// Keeps `body` as the body of the response TypeScript is about to submit for `id`.
    pub fn stage(&self, id: u64, body: ResponseBody) -> Result<()> {
        let mut inner = self.inner.lock();
        let slot = Self::slot_mut(&mut inner.slots, id).ok_or_else(|| unknown(id))?;
        slot.staged = Some(body);
        Ok(())
    }

    /// Sends one chunk of a streamed response, waiting while the client is slow; an empty
    /// chunk ends the body cleanly and frees the slot. Fails when the client went away.
    pub fn write(&self, id: u64, data: &[u8]) -> Result<()> {
        let tx = {
            let mut inner = self.inner.lock();
            let slot = Self::slot_mut(&mut inner.slots, id).ok_or_else(|| unknown(id))?;
            let tx = slot.output.clone().ok_or_else(|| {
                KernelError::invalid(format!("request {id} has no streaming response"))
            })?;
            if data.is_empty() {
                self.free_locked(inner, id);
            }
            tx
        };
        let chunk = (!data.is_empty()).then(|| Bytes::copy_from_slice(data));
        tx.blocking_send(chunk)
            .map_err(|_| KernelError::Closed("the client went away".into()))
    }

    /// Cuts a streamed response off (its source failed): the body ends with an error, so
    /// the client sees an aborted response, never a complete-looking one. Frees the slot.
    pub fn fail(&self, id: u64) -> Result<()> {
        let mut inner = self.inner.lock();
        Self::slot_mut(&mut inner.slots, id).ok_or_else(|| unknown(id))?;
        self.free_locked(inner, id);
        Ok(())
    }

    /// Reads the next bytes of a streamed request body into `out`, waiting for at least one
    /// byte; returns 0 at the end of the body.
    pub fn read(&self, id: u64, out: &mut [u8]) -> Result<usize> {
        let input = {
            let mut inner = self.inner.lock();
            let slot = Self::slot_mut(&mut inner.slots, id).ok_or_else(|| unknown(id))?;
            slot.input
                .clone()
                .ok_or_else(|| KernelError::invalid(format!("request {id} has no streamed body")))?
        };
        let mut input = input.lock();
        let mut filled = 0;
        while filled < out.len() {
            if input.leftover.is_empty() {
                let next = if filled == 0 {
                    input.rx.blocking_recv()
                } else {
                    match input.rx.try_recv() {
                        Ok(chunk) => Some(chunk),
                        Err(_) => break,
                    }
                };
                match next {
                    None => break,
                    Some(Err(e)) => return Err(e),
                    Some(Ok(chunk)) => input.leftover = chunk,
                }
            }
            let n = input.leftover.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&input.leftover.split_to(n));
            filled += n;
        }
        Ok(filled)
    }

    /// Marks `id` abandoned (its client left or its deadline passed) and tells TypeScript.
    pub fn abandon(&self, id: u64) {
        let mut inner = self.inner.lock();
        if let Some(slot) = Self::slot_mut(&mut inner.slots, id) {
            if slot.abandoned {
                return;
            }
            slot.abandoned = true;
            slot.reply = None;
            slot.output = None;
            slot.stop_body = None;
            inner.aborts.push(id);
            drop(inner);
            self.stats.aborted.fetch_add(1, Ordering::Relaxed);
            self.work.notify_one();
            self.bell.notify_one();
        }
    }

    /// Answers `id` with `response` from the kernel (e.g. 413 once a streamed body grows past
    /// the limit) and tells TypeScript the request is over, as for [`Bridge::abandon`].
    pub fn reject(&self, id: u64, response: Reply) {
        let reply = {
            let mut inner = self.inner.lock();
            Self::slot_mut(&mut inner.slots, id).and_then(|slot| slot.reply.take())
        };
        if let Some(reply) = reply {
            reply.send(response);
        }
        self.abandon(id);
    }

    /// No more requests will come: wakes a parked [`Bridge::wait`] or [`Bridge::work`].
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.work.notify_all();
        self.bell.notify_one();
    }

    /// Requests holding a slot.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().slots.len()
    }

    fn free_locked(&self, mut inner: parking_lot::MutexGuard<'_, Inner>, id: u64) {
        if Self::slot_mut(&mut inner.slots, id).is_some() {
            let slot = inner.slots.remove((id & ((1 << INDEX_BITS) - 1)) as usize);
            drop(inner);
            self.release_body(slot);
        }
    }

    fn release_body(&self, slot: Slot) {
        if let Some(body) = &slot.body {
            self.stats
                .body_bytes
                .fetch_sub(body.len() as u64, Ordering::Relaxed);
        }
    }

    fn slot_mut(slots: &mut Slab<Slot>, id: u64) -> Option<&mut Slot> {
        let index = (id & ((1 << INDEX_BITS) - 1)) as usize;
        slots.get_mut(index).filter(|slot| slot.id == id)
    }
}

fn unknown(id: u64) -> KernelError {
    KernelError::NotFound(format!("request {id} is finished or unknown"))
}

/// The `content-length` a handler declared, if it is one valid number.
pub fn declared_length(headers: Fields<'_>) -> Option<u64> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(b"content-length"))?;
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// Header fields answered before, parsed once and shared by later responses: most
/// responses repeat a few fields (`content-type`, `cache-control`, …), and a shared one
/// costs a reference count where a new one costs a check, an allocation and a copy.
/// Direct-mapped by a hash of name and value; a collision replaces the older field.
pub struct FieldCache {
    entries: Vec<Option<(HeaderName, HeaderValue)>>,
}

/// Fields with longer values are not kept (they are rarely repeated).
const CACHED_VALUE_MAX: usize = 96;
const CACHE_ENTRIES: usize = 64;

impl Default for FieldCache {
    fn default() -> Self {
        Self {
            entries: vec![None; CACHE_ENTRIES],
        }
    }
}

impl FieldCache {
    /// The field `name: value`, checked; `None` when either part is invalid.
    fn field(&mut self, name: &[u8], value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
        // Cookies are per client: they are never kept.
        if value.len() > CACHED_VALUE_MAX || name.eq_ignore_ascii_case(b"set-cookie") {
            return Some((
                HeaderName::from_bytes(name).ok()?,
                HeaderValue::from_bytes(value).ok()?,
            ));
        }
        // FNV-1a over both parts (with the name's length, so the split counts).
        let mut hash: u32 = 0x811c_9dc5 ^ name.len() as u32;
        for &b in name.iter().chain(value) {
            hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        let entry = &mut self.entries[hash as usize % CACHE_ENTRIES];
        if let Some((n, v)) = entry {
            if v.as_bytes() == value && n.as_str().as_bytes() == name {
                return Some((n.clone(), v.clone()));
            }
        }
        let name = HeaderName::from_bytes(name).ok()?;
        let value = HeaderValue::from_maybe_shared(Bytes::copy_from_slice(value)).ok()?;
        *entry = Some((name.clone(), value.clone()));
        Some((name, value))
    }
}

/// Builds a response from TypeScript's parts; invalid parts turn it into a bare 500 so a
/// handler bug never produces a malformed response on the wire. A body known whole is
/// framed by its real length, whatever `content-length` the handler set (as `Deno.serve`
/// does): a wrong one would let the body spill into a forged next response, or hang the
/// connection. A streamed body keeps the declared length and is held to it. `trace` fields
/// go last, past the cache: their values are new with every request.
fn build_response(
    status: u16,
    fields: Fields<'_>,
    trace: Option<&TraceHeaders>,
    body: ResponseBody,
    cache: &mut FieldCache,
    spare: Option<HeaderMap>,
) -> Reply {
    let Ok(status) = http::StatusCode::from_u16(status) else {
        return status_response(500);
    };
    let framed_by_body = matches!(body, ResponseBody::Full(Some(_)));
    let mut headers = spare.unwrap_or_default();
    headers.reserve(fields.len() + if trace.is_some() { 2 } else { 0 });
    for (name, value) in fields.iter() {
        if framed_by_body && name.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        let Some((name, value)) = cache.field(name, value) else {
            return status_response(500);
        };
        headers.append(name, value);
    }
    if let Some(trace) = trace {
        let [(_, traceparent), (_, request_id)] = trace.fields();
        // Hex digits and dashes, visible ASCII (`TraceHeaders::new` copies ids made or
        // checked so): valid values.
        headers.append(
            HeaderName::from_static(TraceHeaders::TRACEPARENT),
            HeaderValue::from_bytes(traceparent).expect("hex and dashes"),
        );
        headers.append(
            HeaderName::from_static(TraceHeaders::REQUEST_ID),
            HeaderValue::from_bytes(request_id).expect("visible ASCII"),
        );
    }
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::record::encode_response;

    fn bridge() -> Bridge {
        Bridge::new(4096, 4096).unwrap()
    }

    /// One response record.
    fn response(kind: u8, status: u16, id: u64, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_response(kind, status, id, headers, body, &mut out);
        out
    }

    /// Submits `records` through the outbox, as TypeScript does; how many completed.
    fn answer(bridge: &Bridge, records: &[u8]) -> usize {
        bridge.outbox.write(0, records).unwrap();
        bridge.respond(records.len()).unwrap()
    }

    fn submit(bridge: &Bridge, body: Option<Box<[u8]>>) -> Submitted {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(bridge.submit(body, None, None, |id, _, out| {
            record::encode_abort(id, out); // any well-formed record will do here
            Ok(())
        }))
        .unwrap()
    }

    #[test]
    fn poll_swaps_inboxes_and_reports_nothing_when_idle() {
        let b = bridge();
        assert_eq!(b.poll(), 0);
        submit(&b, None);
        let first = b.poll();
        assert_eq!(first & 0xffff_ffff, record::ABORT_LEN as u64);
        assert_eq!(first >> 32, 0);
        submit(&b, None);
        assert_eq!(b.poll() >> 32, 1);
        assert_eq!(b.wait(Duration::from_millis(1)), 2);
        b.close();
        assert_eq!(b.wait(Duration::from_secs(5)), 0);
    }

    #[test]
    fn responses_complete_out_of_order_and_free_bodies() {
        let b = bridge();
        let mut first = submit(&b, Some(vec![1u8; 100].into_boxed_slice()));
        let mut second = submit(&b, None);
        assert_eq!(b.stats.body_bytes.load(Ordering::Relaxed), 100);
        let mut out = response(KIND_RESPOND, 201, second.id, &[("x", "2")], b"two");
        out.extend(response(KIND_RESPOND, 200, first.id, &[], b"one"));
        assert_eq!(answer(&b, &out), 2);
        assert_eq!(second.reply.try_recv().unwrap().status(), 201);
        assert_eq!(first.reply.try_recv().unwrap().status(), 200);
        assert_eq!(b.in_flight(), 0);
        assert_eq!(b.stats.body_bytes.load(Ordering::Relaxed), 0);
        // Answering again is stale, not an error.
        assert_eq!(b.respond(out.len()).unwrap(), 0);
        assert_eq!(b.stats.stale.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn abandoned_requests_are_reported_then_released() {
        let b = bridge();
        let sub = submit(&b, Some(vec![0u8; 10].into_boxed_slice()));
        b.poll();
        b.abandon(sub.id);
        b.abandon(sub.id);
        let polled = b.poll();
        assert_eq!(polled & 0xffff_ffff, record::ABORT_LEN as u64);
        assert_eq!(
            b.in_flight(),
            1,
            "the body stays lent until TypeScript releases it"
        );
        assert_eq!(answer(&b, &response(KIND_RELEASE, 0, sub.id, &[], b"")), 0);
        assert_eq!(b.in_flight(), 0);
        assert_eq!(b.stats.aborted.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn invalid_headers_become_a_500() {
        let b = bridge();
        let mut sub = submit(&b, None);
        answer(
            &b,
            &response(KIND_RESPOND, 200, sub.id, &[("bad name", "v")], b""),
        );
        assert_eq!(sub.reply.try_recv().unwrap().status(), 500);
        assert!(b.respond(1 << 20).is_err());
    }

    #[test]
    fn a_staged_body_goes_out_with_its_record() {
        let b = bridge();
        let mut sub = submit(&b, None);
        b.poll();
        b.stage_body(sub.id, Bytes::from_static(b"staged bytes"))
            .unwrap();
        let mut rec = response(KIND_RESPOND, 200, sub.id, &[], b"");
        rec[5] = record::FLAG_STAGED_BODY;
        answer(&b, &rec);
        match sub.reply.try_recv().unwrap().into_body() {
            ResponseBody::Full(Some(bytes)) => assert_eq!(&bytes[..], b"staged bytes"),
            other => panic!("not the staged body: {other:?}"),
        }
    }

    #[test]
    fn a_known_body_is_framed_by_its_length_not_the_handlers_header() {
        use hyper::body::Body as _;
        let b = bridge();
        let mut sub = submit(&b, None);
        let rec = response(
            KIND_RESPOND,
            200,
            sub.id,
            &[("content-length", "2")],
            b"hello",
        );
        answer(&b, &rec);
        let response = sub.reply.try_recv().unwrap();
        assert!(response.headers().get("content-length").is_none());
        assert_eq!(response.body().size_hint().exact(), Some(5));
    }

    #[test]
    fn a_failed_stream_is_cut_off_and_frees_its_slot() {
        use http_body_util::BodyExt;
        let b = bridge();
        let mut sub = submit(&b, None);
        answer(&b, &response(KIND_RESPOND_STREAM, 200, sub.id, &[], b""));
        let mut response = sub.reply.try_recv().unwrap();
        b.fail(sub.id).unwrap();
        assert_eq!(b.in_flight(), 0);
        assert!(b.fail(sub.id).is_err(), "a second cut names no request");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let frame = rt.block_on(response.body_mut().frame()).unwrap();
        assert!(frame.is_err(), "the body ends in an error, not cleanly");
    }

    #[test]
    fn repeated_fields_are_shared_and_invalid_ones_refused() {
        let mut cache = FieldCache::default();
        let (name, first) = cache.field(b"content-type", b"text/plain").unwrap();
        assert_eq!(name, http::header::CONTENT_TYPE);
        let (_, again) = cache.field(b"content-type", b"text/plain").unwrap();
        assert_eq!(first, again);
        // Shared: the second value points at the first one's bytes.
        assert_eq!(first.as_bytes().as_ptr(), again.as_bytes().as_ptr());
        // The same value under another name is another field.
        let (name, _) = cache.field(b"x-kind", b"text/plain").unwrap();
        assert_eq!(name.as_str(), "x-kind");
        // Cookies and long values are checked but never kept.
        let (_, a) = cache.field(b"set-cookie", b"id=1").unwrap();
        let (_, b) = cache.field(b"set-cookie", b"id=1").unwrap();
        assert_ne!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        let long = vec![b'a'; CACHED_VALUE_MAX + 1];
        assert!(cache.field(b"x-long", &long).is_some());
        assert!(cache.field(b"bad name", b"v").is_none());
        assert!(cache.field(b"x-bad", b"line\nbreak").is_none());
        assert!(
            cache.field(b"x-bad", b"line\nbreak").is_none(),
            "not cached either"
        );
    }

    #[test]
    fn the_response_reuses_the_recycled_request_map() {
        let b = bridge();
        let mut sub = submit(&b, None);
        let mut request = http::HeaderMap::with_capacity(16);
        request.insert("x-request", http::HeaderValue::from_static("1"));
        let capacity = request.capacity();
        b.recycle(sub.id, request);
        answer(
            &b,
            &response(KIND_RESPOND, 200, sub.id, &[("x-a", "1")], b"ok"),
        );
        let reply = sub.reply.try_recv().unwrap();
        assert_eq!(reply.headers().len(), 1, "emptied before reuse");
        assert_eq!(reply.headers()["x-a"], "1");
        assert_eq!(reply.headers().capacity(), capacity);
        // A late recycle (the request is over) is dropped, not kept.
        b.recycle(sub.id, http::HeaderMap::new());
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn a_full_inbox_holds_submitters_until_a_poll_makes_room() {
        let b = Arc::new(Bridge::new(32, 64).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let notice = |id, out: &mut Vec<u8>| {
            record::encode_abort(id, out);
            Ok(())
        };
        rt.block_on(async {
            let first = b
                .submit(None, None, None, |id, _, out| notice(id, out))
                .await;
            let second = b
                .submit(None, None, None, |id, _, out| notice(id, out))
                .await;
            assert!(first.is_ok() && second.is_ok());
            let waiting = b.clone();
            let third = tokio::spawn(async move {
                waiting
                    .submit(None, None, None, |id, _, out| notice(id, out))
                    .await
                    .map(|s| s.id)
            });
            tokio::task::yield_now().await;
            assert!(!third.is_finished(), "32 bytes hold two records");
            assert_eq!(b.poll() & 0xffff_ffff, 32);
            let id = third.await.unwrap().unwrap();
            let polled = b.poll();
            let (ptr, _) = b.inbox((polled >> 32) as usize).unwrap();
            let batch = unsafe { std::slice::from_raw_parts(ptr, (polled & 0xffff_ffff) as usize) };
            assert_eq!(record::decode_requests(batch).unwrap()[0].id, id);
        });
    }

    #[test]
    fn deadlines_are_listed_once_passed_and_only_while_unanswered() {
        let b = Arc::new(Bridge::new(32, 4096).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let now = Instant::now();
        let notice = |id, out: &mut Vec<u8>| {
            record::encode_abort(id, out);
            Ok(())
        };
        let soon = Some(now + Duration::from_millis(50));
        let (late, answered) = rt.block_on(async {
            let late = b.submit(None, None, soon, |id, _, o| notice(id, o)).await;
            let answered = b.submit(None, None, soon, |id, _, o| notice(id, o)).await;
            (late.unwrap(), answered.unwrap())
        });
        assert_eq!(b.expired(now), (vec![], true), "not yet");
        answer(&b, &response(KIND_RESPOND, 200, answered.id, &[], b""));
        let (expired, watched) = b.expired(now + Duration::from_millis(60));
        assert_eq!((expired, watched), (vec![late.id], false));
        // The inbox is full now (two records of 16 bytes): a third request gives up at its
        // deadline, and its slot is gone (TypeScript never saw it).
        let third = rt.block_on(b.submit(
            None,
            None,
            Some(Instant::now() + Duration::from_millis(30)),
            |id, _, o| notice(id, o),
        ));
        assert!(matches!(third, Err(KernelError::Timeout(_))));
        assert_eq!(b.in_flight(), 1, "only the late request holds a slot");
        assert!(b.start_watching());
        assert!(!b.start_watching(), "one watcher per bridge");
    }

    #[test]
    fn trace_headers_come_from_the_requests_ids_on_both_paths_when_asked() {
        use crate::http::trace::TraceIds;
        let b = bridge();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ids = TraceIds::for_request(
            Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
            Some(b"client/42"),
        );
        assert_eq!(ids.request_id, "client/42");
        let none = HeaderMap::new();
        let encode = |id, _, out: &mut Vec<u8>| {
            let head = record::RequestHead {
                id,
                flags: 0,
                body_addr: 0,
                body_len: 0.0,
                deadline_ms: 0.0,
                method: "GET",
                url: ["http://", "a", "/x?y"],
                remote_ip: "127.0.0.1",
                remote_port: 1,
                ids: ids.as_fields(),
                headers: &none,
            };
            record::encode_request(&head, out).map(|()| TraceHeaders::new(&ids))
        };
        let traceparent = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", &*ids.span_id);
        let expected = [
            ("content-type", "x"),
            ("traceparent", traceparent.as_str()),
            ("x-request-id", &*ids.request_id),
        ];
        let listed = |headers: &HeaderMap| -> Vec<(String, String)> {
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect()
        };
        let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };

        // The built path (HTTP/2, bodies, the `http` way): asked, and not asked.
        let mut asked = rt
            .block_on(b.submit_request(None, None, None, encode))
            .unwrap();
        let mut plain = rt
            .block_on(b.submit_request(None, None, None, encode))
            .unwrap();
        let mut out = response(KIND_RESPOND, 200, asked.id, &[("content-type", "x")], b"{}");
        out[record::AT_FLAGS] = record::FLAG_TRACE_HEADERS;
        out.extend(response(
            KIND_RESPOND,
            200,
            plain.id,
            &[("content-type", "x")],
            b"{}",
        ));
        assert_eq!(answer(&b, &out), 2);
        let reply = asked.reply.try_recv().unwrap();
        assert_eq!(listed(reply.headers()), owned(&expected));
        let reply = plain.reply.try_recv().unwrap();
        assert_eq!(listed(reply.headers()), owned(&expected[..1]));

        // The HTTP/1.1 lane: the fields are in the record it writes from, and in the
        // response built from that record (when it compresses).
        let mailbox = Arc::new(Mailbox::default());
        let mut record = Vec::new();
        let trace = encode(0, 0, &mut record).unwrap();
        let id = rt
            .block_on(b.submit_lane(&mut record, trace, None, (None, 0.0), &mailbox, Vec::new()))
            .unwrap();
        let mut out = response(KIND_RESPOND, 200, id, &[("Content-Type", "x")], b"{}");
        out[record::AT_FLAGS] = record::FLAG_TRACE_HEADERS;
        assert_eq!(answer(&b, &out), 1);
        let Some(Answer::Record(written)) =
            rt.block_on(std::future::poll_fn(|cx| mailbox.poll_take(cx)))
        else {
            panic!("a small whole response is answered as its record");
        };
        let fields: Vec<_> = written
            .headers()
            .iter()
            .map(|(n, v)| (ascii(n), ascii(v)))
            .collect();
        assert_eq!(fields, owned(&expected));
        assert_eq!(written.body(), b"{}");
        assert_eq!(listed(b.build(&written).headers()), owned(&expected));

        // A record submitted without trace headers (here not a request record at all) gets
        // nothing added, whatever the flag says.
        let mut bare = submit(&b, None);
        let mut out = response(KIND_RESPOND, 200, bare.id, &[("content-type", "x")], b"");
        out[record::AT_FLAGS] = record::FLAG_TRACE_HEADERS;
        assert_eq!(answer(&b, &out), 1);
        let reply = bare.reply.try_recv().unwrap();
        assert_eq!(listed(reply.headers()), owned(&expected[..1]));
        assert_eq!(b.in_flight(), 0);
    }

    fn ascii(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn unknown_ids_are_refused_for_streams() {
        let b = bridge();
        assert!(b.write(12345, b"x").is_err());
        assert!(b.read(12345, &mut [0u8; 4]).is_err());
        assert!(b.stage_body(12345, Bytes::new()).is_err());
    }
}

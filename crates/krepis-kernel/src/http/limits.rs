//! Defaults that hold under attack: idle connections are closed, request bodies must keep a
//! minimum pace, the accept loop backs off when the process runs out of descriptors, and
//! the memory held for buffered request bodies and unsent response data has a ceiling.
//!
//! - [`Activity`] and [`Tracked`]: when a connection last moved a byte and whether a
//!   request is in flight on it; [`Activity::idle`] resolves once it has been idle too long.
//! - [`Pace`]: the deadline for the next chunk of a request body.
//! - [`AcceptBackoff`]: how long to pause after an accept error such as EMFILE.
//! - [`Budget`] and [`Outgoing`]: the memory ceiling (see their docs).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Whether a connection has moved a byte lately, how many of its requests are in flight,
/// and (on HTTP/1.1) whether a request head has been arriving for too long.
///
/// Moving a byte only bumps a counter (no clock read on the hot path); [`Activity::idle`]
/// samples the counter in steps of an eighth of the timeout instead.
pub struct Activity {
    moves: AtomicU64,
    busy: AtomicUsize,
    /// `moves` when the connection last had nothing in progress ([`Activity::settle`]);
    /// `u64::MAX` until the first call: heads are not watched (HTTP/2, TLS handshakes).
    settled: AtomicU64,
}

impl Activity {
    /// A connection that is active now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            moves: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            settled: AtomicU64::new(u64::MAX),
        })
    }

    /// Marks the connection as between requests: a byte moved after this, with no request
    /// in flight, starts a head, which must be complete within the head timeout.
    pub fn settle(&self) {
        self.settled
            .store(self.moves.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn touch(&self) {
        // A load and a store, not a locked add: this runs at every read and write of the
        // connection (and at the end of each request), and [`Activity::idle`] only asks
        // whether the count changed. On HTTP/1.1 one task does all of it; on HTTP/2 a
        // request's end can race the connection's own reads, and two touches at once may
        // then count one move where two happened, which still reads as a change.
        let moves = self.moves.load(Ordering::Relaxed);
        self.moves.store(moves.wrapping_add(1), Ordering::Relaxed);
    }

    /// Marks a request in flight until the returned guard is dropped (with the response
    /// body, so a slow download is not "idle").
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// [`Activity::busy`] for a request whose guard stays with the connection's driver,
    /// which holds the activity anyway: no reference count taken and dropped per request
    /// unless the guard has to go with a response body ([`BusyHere::owned`]).
    pub fn busy_here(self: &Arc<Self>) -> BusyHere<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        BusyHere(self)
    }

    /// Resolves once no request is in flight and no byte has moved for `timeout`, or a
    /// head has been arriving (bytes moved since [`Activity::settle`], no request in
    /// flight) for `head_timeout` — at most an eighth of either later.
    pub async fn idle(&self, timeout: Duration, head_timeout: Duration) {
        let step = (timeout.min(head_timeout) / 8).max(Duration::from_millis(1));
        let mut quiet = Duration::ZERO;
        let mut heading = Duration::ZERO;
        let mut seen = self.moves.load(Ordering::Relaxed);
        while quiet < timeout && heading < head_timeout {
            tokio::time::sleep(step).await;
            let moves = self.moves.load(Ordering::Relaxed);
            let idle = self.busy.load(Ordering::Relaxed) == 0;
            if moves == seen && idle {
                quiet += step;
            } else {
                quiet = Duration::ZERO;
                seen = moves;
            }
            let settled = self.settled.load(Ordering::Relaxed);
            if idle && settled != u64::MAX && moves != settled {
                heading += step;
            } else {
                heading = Duration::ZERO;
            }
        }
    }
}

/// A request in flight on a connection (see [`Activity::busy`]).
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request in flight, marked by a guard that borrows the connection's activity (see
/// [`Activity::busy_here`]).
pub struct BusyHere<'a>(&'a Arc<Activity>);

impl BusyHere<'_> {
    /// The same mark as a [`Busy`], which may outlive the borrow (a response body's).
    pub fn owned(self) -> Busy {
        let busy = Busy(Arc::clone(self.0));
        // The count moves to the owned guard.
        std::mem::forget(self);
        busy
    }
}

impl Drop for BusyHere<'_> {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket (or TLS stream) that records every byte it moves in an [`Activity`].
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The pace a request body must keep: no gap between chunks longer than `gap`, and after a
/// grace period of `gap`, an average of at least `min_rate` bytes per second since the
/// head arrived. A client trickling one byte every few seconds is cut either way.
pub struct Pace {
    start: Instant,
    gap: Duration,
    min_rate: u64,
    received: u64,
}

impl Pace {
    /// Starts measuring now.
    pub fn new(gap: Duration, min_rate: u64) -> Self {
        Self {
            start: Instant::now(),
            gap,
            min_rate,
            received: 0,
        }
    }

    /// Counts `n` more bytes received.
    pub fn received(&mut self, n: usize) {
        self.received += n as u64;
    }

    /// When the next chunk must have arrived.
    pub fn deadline(&self) -> Instant {
        let by_gap = Instant::now() + self.gap;
        if self.min_rate == 0 {
            return by_gap;
        }
        let earned = Duration::from_secs_f64(self.received as f64 / self.min_rate as f64);
        by_gap.min(self.start + self.gap + earned)
    }

    /// Reads the next frame of `body`, or `Err(())` when the client is too slow.
    pub async fn frame<B: Body + Unpin>(
        &mut self,
        body: &mut B,
    ) -> Result<Option<Result<Frame<B::Data>, B::Error>>, ()> {
        use http_body_util::BodyExt;
        let frame = tokio::time::timeout_at(self.deadline(), body.frame())
            .await
            .map_err(|_| ())?;
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
            self.received(data.map_or(0, bytes::Buf::remaining));
        }
        Ok(frame)
    }
}

/// Why reading a buffered request body stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The client fell behind its [`Pace`]: 408.
    Slow,
    /// Buffering more would pass the memory ceiling: 503.
    Memory,
}

/// What a buffered request body may take: its [`Pace`], and memory from the [`Budget`],
/// charged as the bytes arrive beyond what was reserved up front.
pub struct Intake {
    pace: Pace,
    charge: Charge,
    lent: u64,
}

impl Intake {
    /// Reads under `pace`, holding `charge` (the reservation) and growing it as needed;
    /// `lent` is what the bridge holds outside the budget.
    pub fn new(pace: Pace, charge: Charge, lent: u64) -> Self {
        Self { pace, charge, lent }
    }

    /// Reads the next frame of `body`, charging its bytes.
    pub async fn frame<B: Body + Unpin>(
        &mut self,
        body: &mut B,
    ) -> Result<Option<Result<Frame<B::Data>, B::Error>>, Refused> {
        let frame = self.pace.frame(body).await.map_err(|()| Refused::Slow)?;
        let beyond = self.pace.received.saturating_sub(self.charge.n);
        if beyond > 0 && !self.charge.grow(self.lent, beyond) {
            return Err(Refused::Memory);
        }
        Ok(frame)
    }

    /// The pace, for reading on as a stream; the memory charge ends here.
    pub fn into_pace(self) -> Pace {
        self.pace
    }
}

/// Pauses of the accept loop after errors such as EMFILE: instead of retrying at once (and
/// spinning a core while the backlog waits), wait 5 ms, doubling up to 1 s, until an
/// accept succeeds again.
#[derive(Default)]
pub struct AcceptBackoff {
    next: Option<Duration>,
}

impl AcceptBackoff {
    /// Longest pause.
    pub const MAX: Duration = Duration::from_secs(1);
    const FIRST: Duration = Duration::from_millis(5);

    /// An accept succeeded: the next error pauses briefly again.
    pub fn reset(&mut self) {
        self.next = None;
    }

    /// The pause after an accept error; `None` when the error concerns only the one
    /// connection (it was reset before it was accepted) and accepting can go on at once.
    pub fn after(&mut self, error: &io::Error) -> Option<Duration> {
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        ) {
            return None;
        }
        let pause = self.next.unwrap_or(Self::FIRST);
        self.next = Some((pause * 2).min(Self::MAX));
        Some(pause)
    }
}

/// The ceiling on memory held for buffered request bodies and unsent response data.
///
/// Bodies being read and bodies lent to TypeScript are charged until their request ends;
/// response bytes are charged from the moment the response is handed to hyper until hyper
/// has written (or dropped) them. A request whose body would pass the ceiling gets 503
/// before its body is read, and so does one whose whole response body would (the body is
/// dropped at once). Streamed response chunks are always sent: they are small and bounded
/// per request by their channel.
pub struct Budget {
    limit: u64,
    held: AtomicU64,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            limit,
            held: AtomicU64::new(0),
        })
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Charges `n` bytes unless that would pass the ceiling, counting `elsewhere` bytes
    /// accounted outside the budget (bodies lent through the bridge).
    pub fn try_charge(self: &Arc<Self>, elsewhere: u64, n: u64) -> Option<Charge> {
        self.held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held.saturating_add(elsewhere).saturating_add(n) <= self.limit).then(|| held + n)
            })
            .ok()?;
        Some(Charge {
            budget: Arc::clone(self),
            n,
        })
    }

    /// Charges `n` bytes until the returned guard is dropped.
    pub fn charge(self: &Arc<Self>, n: u64) -> Charge {
        self.held.fetch_add(n, Ordering::Relaxed);
        Charge {
            budget: Arc::clone(self),
            n,
        }
    }
}

/// Bytes charged to a [`Budget`] until dropped.
pub struct Charge {
    budget: Arc<Budget>,
    n: u64,
}

impl Charge {
    /// Charges `more` bytes to this guard unless that would pass the ceiling.
    fn grow(&mut self, elsewhere: u64, more: u64) -> bool {
        let limit = self.budget.limit;
        let grown = self
            .budget
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held.saturating_add(elsewhere).saturating_add(more) <= limit).then(|| held + more)
            });
        if grown.is_ok() {
            self.n += more;
        }
        grown.is_ok()
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.n, Ordering::Relaxed);
    }
}

/// Response bytes with their charge: released when hyper drops them (sent, or the client
/// gone), however long they wait in an HTTP/2 send queue.
struct ChargedBytes {
    bytes: Bytes,
    _charge: Charge,
}

impl AsRef<[u8]> for ChargedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// A response body on its way out: it keeps its connection busy (not idle) while it is
/// sent, and charges each chunk to the [`Budget`] until hyper lets go of it. A charge made
/// in advance (`prepaid`, for a body whose size was known) covers the first chunk.
pub struct Outgoing<B> {
    inner: B,
    budget: Arc<Budget>,
    prepaid: Option<Charge>,
    _busy: Busy,
}

impl<B> Outgoing<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, budget: Arc<Budget>, prepaid: Option<Charge>, busy: Busy) -> Self {
        Self {
            inner,
            budget,
            prepaid,
            _busy: busy,
        }
    }

    /// The body inside.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Outgoing<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let Poll::Ready(Some(Ok(frame))) = polled else {
            return polled;
        };
        let frame = frame.map_data(|bytes| {
            let charge = match self.prepaid.take() {
                Some(charge) => charge,
                None => self.budget.charge(bytes.len() as u64),
            };
            Bytes::from_owner(ChargedBytes {
                bytes,
                _charge: charge,
            })
        });
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_second_and_resets() {
        let mut backoff = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(24);
        let pauses: Vec<_> = (0..10).map(|_| backoff.after(&emfile).unwrap()).collect();
        assert_eq!(pauses[0], Duration::from_millis(5));
        assert_eq!(pauses[1], Duration::from_millis(10));
        assert_eq!(*pauses.last().unwrap(), AcceptBackoff::MAX);
        backoff.reset();
        assert_eq!(backoff.after(&emfile), Some(Duration::from_millis(5)));
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(backoff.after(&aborted), None);
    }

    #[tokio::test(start_paused = true)]
    async fn pace_allows_the_gap_then_needs_the_rate() {
        let mut pace = Pace::new(Duration::from_secs(10), 1000);
        let start = Instant::now();
        assert_eq!(pace.deadline(), start + Duration::from_secs(10));
        pace.received(5000);
        tokio::time::advance(Duration::from_secs(9)).await;
        // 5000 bytes at 1000 B/s earn 5 s beyond the grace period.
        assert_eq!(pace.deadline(), start + Duration::from_secs(15));
        let unlimited = Pace::new(Duration::from_secs(3), 0);
        assert_eq!(
            unlimited.deadline(),
            Instant::now() + Duration::from_secs(3)
        );
    }

    #[test]
    fn charges_are_released_when_dropped() {
        let budget = Budget::new(100);
        let charge = budget.charge(90);
        assert_eq!(budget.held(), 90);
        assert!(budget.try_charge(10, 1).is_none());
        let last = budget.try_charge(5, 5).expect("exactly at the ceiling");
        assert_eq!(budget.held(), 95);
        drop(charge);
        drop(last);
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_quiet_and_no_request_in_flight() {
        let activity = Activity::new();
        let busy = activity.busy();
        let idle = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move {
                let head = Duration::from_secs(30);
                activity.idle(Duration::from_secs(5), head).await
            }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!idle.is_finished(), "a request in flight is not idle");
        drop(busy);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!idle.is_finished());
        tokio::time::sleep(Duration::from_secs(2)).await;
        idle.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_borrowed_busy_mark_keeps_the_connection_busy_owned_or_not() {
        let activity = Activity::new();
        let idle = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move {
                let head = Duration::from_secs(30);
                activity.idle(Duration::from_secs(5), head).await
            }
        });
        let here = activity.busy_here();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!idle.is_finished(), "a request in flight is not idle");
        // Handed to a response body, the mark stays until the body goes.
        let owned = here.owned();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!idle.is_finished(), "the owned mark is the same request");
        assert_eq!(Arc::strong_count(&activity), 3);
        drop(owned);
        assert_eq!(Arc::strong_count(&activity), 2);
        // Dropped where it was taken, the borrowed mark ends the request too.
        drop(activity.busy_here());
        assert_eq!(activity.busy.load(Ordering::Relaxed), 0);
        tokio::time::sleep(Duration::from_secs(6)).await;
        idle.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_keeps_trickling_in_is_cut_at_the_head_timeout() {
        let activity = Activity::new();
        activity.settle();
        let watch = tokio::spawn({
            let activity = Arc::clone(&activity);
            async move {
                let started = Instant::now();
                activity
                    .idle(Duration::from_secs(10), Duration::from_secs(30))
                    .await;
                started.elapsed()
            }
        });
        // A byte every 5 s keeps the connection from being idle, not the head from
        // taking too long.
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_secs(5)).await;
            activity.touch();
        }
        let took = watch.await.unwrap();
        assert!(
            took >= Duration::from_secs(30) && took < Duration::from_secs(40),
            "{took:?}"
        );
    }
}

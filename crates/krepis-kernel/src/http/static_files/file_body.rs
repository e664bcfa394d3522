//! Reading a served file: positional reads of an open descriptor, each checked against the
//! version the response headers describe.
//!
//! Why not mmap: a file truncated while mapped turns the next access into SIGBUS, which
//! kills the whole process. `pread` on a shrunk file just returns fewer bytes. A file
//! replaced by rename keeps being read from the old inode the descriptor holds, so its
//! bytes stay consistent; a file changed in place (shorter read, new length or mtime after
//! a read) aborts the response instead of sending a mix of two versions. The reads run on
//! the server thread: served files are expected to sit in the page cache.

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::negotiate::Stamp;

/// Bytes read per step of a streamed file.
pub const CHUNK: u64 = 256 * 1024;

/// The version of `file` on disk now.
pub fn stamp_of(file: &File) -> io::Result<Stamp> {
    let meta = file.metadata()?;
    Ok(Stamp {
        len: meta.len(),
        modified: meta.modified()?,
    })
}

/// Reads `len` bytes at `offset`, failing if the file is not at version `expected` anymore.
/// The bytes land in uninitialised capacity: zeroing a buffer the read overwrites anyway
/// would be one more pass over every byte served.
pub fn read_checked(file: &File, expected: &Stamp, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = offset + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => return Err(changed()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if stamp_of(file)? != *expected {
        return Err(changed());
    }
    Ok(Bytes::from(buf))
}

fn changed() -> io::Error {
    io::Error::other("file changed while being served")
}

/// A byte range of an open file, read chunk by chunk as hyper asks for it. An error ends
/// the response abruptly (the connection or stream is reset), which clients see as an
/// incomplete transfer rather than wrong bytes.
#[derive(Debug)]
pub struct FileBody {
    file: File,
    stamp: Stamp,
    pos: u64,
    end: u64,
}

impl FileBody {
    /// Bytes `start..end` of `file`, which must stay at version `stamp`.
    pub fn new(file: File, stamp: Stamp, start: u64, end: u64) -> Self {
        Self {
            file,
            stamp,
            pos: start,
            end,
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = self.get_mut();
        if this.pos >= this.end {
            return Poll::Ready(None);
        }
        let len = (this.end - this.pos).min(CHUNK) as usize;
        Poll::Ready(Some(
            read_checked(&this.file, &this.stamp, this.pos, len).map(|bytes| {
                this.pos += len as u64;
                Frame::data(bytes)
            }),
        ))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    #[tokio::test]
    async fn a_file_truncated_mid_read_fails_instead_of_short_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 3 * CHUNK as usize]).unwrap();
        let file = File::open(&path).unwrap();
        let stamp = stamp_of(&file).unwrap();
        let mut body = FileBody::new(file, stamp, 0, stamp.len);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), CHUNK as usize);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(CHUNK + 10)
            .unwrap();
        assert!(body.frame().await.unwrap().is_err());
    }

    #[tokio::test]
    async fn a_file_rewritten_in_place_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 2 * CHUNK as usize]).unwrap();
        // An older mtime than any write now can produce.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH)
            .unwrap();
        let file = File::open(&path).unwrap();
        let stamp = stamp_of(&file).unwrap();
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(b"bbbb").unwrap();
        assert!(read_checked(&file, &stamp, 0, 4).is_err());
    }

    #[tokio::test]
    async fn a_file_replaced_by_rename_keeps_serving_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 2 * CHUNK as usize]).unwrap();
        let file = File::open(&path).unwrap();
        let stamp = stamp_of(&file).unwrap();
        let fresh = dir.path().join("g");
        std::fs::write(&fresh, vec![b'b'; 2 * CHUNK as usize]).unwrap();
        std::fs::rename(&fresh, &path).unwrap();
        let all = FileBody::new(file, stamp, 0, stamp.len)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert!(all.iter().all(|b| *b == b'a'));
        assert_eq!(all.len(), 2 * CHUNK as usize);
    }
}

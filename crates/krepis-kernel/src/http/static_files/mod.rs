//! Static files served by the kernel alone: a request under a mounted prefix is answered
//! here, before the bridge, so it never wakes TypeScript.
//!
//! - [`path`]: request path → file under the root; traversal refused.
//! - [`negotiate`]: validators, 304, ranges, precompressed variants.
//! - [`file_body`]: checked positional reads (a changing file aborts, never mixes bytes).
//! - [`cache`]: the bytes of small, settled files kept in snapshot files (unlinked files on
//!   a large-folio file system, or sealed memfds).
//! - [`sendfile`]: large responses on plain HTTP/1.x from a file (a sendfile mount's, or a
//!   cached snapshot) straight to the socket.
//!
//! GET and HEAD are served (other methods get 405); a directory answers with its first
//! existing index file (or 404), and without its trailing slash redirects (301) to it.

pub mod cache;
pub mod file_body;
pub mod negotiate;
pub mod path;
pub mod sendfile;

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;

use self::cache::{CacheLimits, FileCache};
use self::file_body::{CHUNK, FileBody, read_checked};
use self::negotiate::{Ranged, Stamp, VARIANTS, accepts, value};
use self::sendfile::{FileSlot, SendfileBody};
use super::body::ResponseBody;
use crate::proto::StaticMount;
use crate::{KernelError, Result};

type Reply = Response<ResponseBody>;

/// The directories one server serves, longest prefix first.
#[derive(Debug)]
pub struct StaticFiles {
    mounts: Vec<Mount>,
    cache: FileCache,
}

#[derive(Debug)]
struct Mount {
    /// `/assets` (no trailing slash), or empty for a mount at `/`.
    prefix: String,
    root: path::Root,
    index: Vec<String>,
    /// Large files go out with `sendfile` where the connection allows it.
    sendfile: bool,
}

impl StaticFiles {
    /// Checks the mounts asked for: prefixes are absolute and distinct, roots are existing
    /// directories, index entries plain file names. `None` when there are no mounts. The
    /// mounts share one cache of file bytes within `limits`.
    ///
    /// ```
    /// use krepis_kernel::http::static_files::StaticFiles;
    /// use krepis_kernel::http::static_files::cache::CacheLimits;
    /// use krepis_kernel::proto::StaticMount;
    /// let ok = StaticMount { prefix: "/assets".into(), root: ".".into(), ..Default::default() };
    /// assert!(StaticFiles::from_mounts(&[ok], CacheLimits::default()).unwrap().is_some());
    /// let bad = StaticMount { prefix: "assets".into(), root: ".".into(), ..Default::default() };
    /// assert!(StaticFiles::from_mounts(&[bad], CacheLimits::default()).is_err());
    /// ```
    pub fn from_mounts(mounts: &[StaticMount], limits: CacheLimits) -> Result<Option<Self>> {
        if mounts.is_empty() {
            return Ok(None);
        }
        let mut checked: Vec<Mount> = Vec::with_capacity(mounts.len());
        for m in mounts {
            let prefix = m.prefix.trim_end_matches('/');
            if !m.prefix.starts_with('/') || prefix.contains(['?', '#', '%']) {
                return Err(KernelError::invalid(format!(
                    "static prefix \"{}\" must be a plain path starting with \"/\"",
                    m.prefix
                )));
            }
            if checked.iter().any(|c| c.prefix == prefix) {
                return Err(KernelError::invalid(format!(
                    "static prefix \"{}\" is mounted twice",
                    m.prefix
                )));
            }
            let root = std::fs::canonicalize(&m.root)
                .map_err(|e| KernelError::io(format!("static root \"{}\"", m.root), e))?;
            if !root.is_dir() {
                return Err(KernelError::invalid(format!(
                    "static root \"{}\" is not a directory",
                    m.root
                )));
            }
            if let Some(bad) = m
                .index
                .iter()
                .find(|i| i.is_empty() || *i == "." || *i == ".." || i.contains(['/', '\0']))
            {
                return Err(KernelError::invalid(format!(
                    "static index \"{bad}\" must be a plain file name"
                )));
            }
            checked.push(Mount {
                prefix: prefix.to_string(),
                root: path::Root::new(root)
                    .map_err(|e| KernelError::io(format!("static root \"{}\"", m.root), e))?,
                index: m.index.clone(),
                sendfile: m.sendfile,
            });
        }
        checked.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Ok(Some(Self {
            mounts: checked,
            cache: FileCache::new(limits),
        }))
    }

    /// The kernel's answer when `req` falls under a mount, else `None` (the request goes on
    /// to TypeScript). `files` is the connection's [`FileSlot`] when it is a plain socket
    /// that can take large files through `sendfile` (from the served file itself only on
    /// mounts that ask for it; from a cached snapshot on any).
    /// Whether a request for `path` (without its query) falls under a mount.
    pub fn claims(&self, path: &[u8]) -> bool {
        self.mounts.iter().any(|m| {
            path.strip_prefix(m.prefix.as_bytes())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
        })
    }

    pub fn serve<B>(&self, req: &Request<B>, files: Option<&Arc<FileSlot>>) -> Option<Reply> {
        let path = req.uri().path();
        let (mount, rest) = self.mounts.iter().find_map(|m| {
            let rest = path.strip_prefix(m.prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((m, rest))
        })?;
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut reply = empty(StatusCode::METHOD_NOT_ALLOWED);
            reply
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(reply);
        }
        Some(match path::resolve(rest) {
            Err(path::Refused) => empty(StatusCode::BAD_REQUEST),
            Ok((target, directory)) => mount
                .answer(req, &target, directory, files, &self.cache)
                .unwrap_or_else(empty),
        })
    }
}

impl Mount {
    fn answer<B>(
        &self,
        req: &Request<B>,
        target: &Path,
        directory: bool,
        files: Option<&Arc<FileSlot>>,
        cache: &FileCache,
    ) -> std::result::Result<Reply, StatusCode> {
        let (file, meta) = self.open(target)?.ok_or(StatusCode::NOT_FOUND)?;
        let (file, meta, path) = if meta.is_dir() {
            if !directory {
                return Ok(redirect_to_slash(req));
            }
            self.index_of(target)?.ok_or(StatusCode::NOT_FOUND)?
        } else if directory || !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        } else {
            (file, meta, target.to_path_buf())
        };
        let (file, meta, coding) = match self.variant(req, &path)? {
            Some((file, meta, coding)) => (file, meta, Some(coding)),
            None => (file, meta, None),
        };
        let stamp = Stamp {
            len: meta.len(),
            modified: meta
                .modified()
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?,
        };
        let source = Source {
            file,
            meta,
            stamp,
            cache,
            sendfile: self.sendfile,
        };
        Ok(respond(req, source, &path, coding, files))
    }

    /// Opens `rel` (relative to the root) with its metadata, if it exists under the root.
    fn open(&self, rel: &Path) -> std::result::Result<Option<(File, Metadata)>, StatusCode> {
        let file = match self.root.open(rel) {
            Ok(Some(file)) => file,
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(StatusCode::FORBIDDEN);
            }
            Err(_) => return Err(StatusCode::INTERNAL_SERVER_ERROR),
        };
        let meta = file
            .metadata()
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        Ok(Some((file, meta)))
    }

    fn open_regular(
        &self,
        rel: &Path,
    ) -> std::result::Result<Option<(File, Metadata)>, StatusCode> {
        Ok(self.open(rel)?.filter(|(_, meta)| meta.is_file()))
    }

    fn index_of(
        &self,
        dir: &Path,
    ) -> std::result::Result<Option<(File, Metadata, PathBuf)>, StatusCode> {
        for name in &self.index {
            let path = dir.join(name);
            if let Some((file, meta)) = self.open_regular(&path)? {
                return Ok(Some((file, meta, path)));
            }
        }
        Ok(None)
    }

    /// The best precompressed sibling (`x.br`, `x.gz`) the client accepts, if one exists.
    fn variant<B>(
        &self,
        req: &Request<B>,
        path: &Path,
    ) -> std::result::Result<Option<(File, Metadata, &'static str)>, StatusCode> {
        if !req.headers().contains_key(header::ACCEPT_ENCODING) {
            return Ok(None);
        }
        for (coding, suffix) in VARIANTS {
            if !accepts(req.headers(), coding) {
                continue;
            }
            let mut sibling = OsString::from(path.as_os_str());
            sibling.push(suffix);
            if let Some((file, meta)) = self.open_regular(Path::new(&sibling))? {
                return Ok(Some((file, meta, coding)));
            }
        }
        Ok(None)
    }
}

fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(ResponseBody::empty());
    *reply.status_mut() = status;
    reply
}

fn redirect_to_slash<B>(req: &Request<B>) -> Reply {
    let mut location = format!("{}/", req.uri().path());
    if let Some(query) = req.uri().query() {
        location.push('?');
        location.push_str(query);
    }
    let mut reply = empty(StatusCode::MOVED_PERMANENTLY);
    reply
        .headers_mut()
        .insert(header::LOCATION, value(&location));
    reply
}

fn content_type(path: &Path) -> HeaderValue {
    let Some(mime) = mime_guess::from_path(path).first_raw() else {
        return HeaderValue::from_static("application/octet-stream");
    };
    let textual =
        mime.starts_with("text/") || mime.ends_with("javascript") || mime.ends_with("json");
    if textual {
        value(&format!("{mime}; charset=utf-8"))
    } else {
        HeaderValue::from_static(mime)
    }
}

/// The file a response is made of.
struct Source<'a> {
    file: File,
    meta: Metadata,
    stamp: Stamp,
    cache: &'a FileCache,
    /// Whether the mount sends large files with `sendfile` from the file itself.
    sendfile: bool,
}

fn respond<B>(
    req: &Request<B>,
    source: Source<'_>,
    path: &Path,
    coding: Option<&'static str>,
    files: Option<&Arc<FileSlot>>,
) -> Reply {
    let Source {
        file,
        meta,
        stamp,
        cache,
        sendfile: from_file,
    } = source;
    let etag = stamp.etag(coding);
    let mut headers = HeaderMap::with_capacity(9);
    headers.insert(header::ETAG, value(&etag));
    headers.insert(header::LAST_MODIFIED, value(&stamp.last_modified()));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if negotiate::not_modified(req.headers(), &etag, &stamp) {
        return build(StatusCode::NOT_MODIFIED, headers, ResponseBody::empty());
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let (status, start, end) = match negotiate::range(req.headers(), stamp.len, &etag, &stamp) {
        Ranged::Whole => (StatusCode::OK, 0, stamp.len),
        Ranged::Part(start, end) => {
            let range = format!("bytes {start}-{}/{}", end - 1, stamp.len);
            headers.insert(header::CONTENT_RANGE, value(&range));
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
        Ranged::Unsatisfiable => {
            let range = format!("bytes */{}", stamp.len);
            headers.insert(header::CONTENT_RANGE, value(&range));
            return build(
                StatusCode::RANGE_NOT_SATISFIABLE,
                headers,
                ResponseBody::empty(),
            );
        }
    };
    headers.insert(header::CONTENT_TYPE, content_type(path));
    if let Some(coding) = coding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    headers.insert(header::CONTENT_LENGTH, value(&(end - start).to_string()));
    let sendfile = files.filter(|_| req.version() <= Version::HTTP_11 && end - start > CHUNK);
    // Read before answering (from the cache or the file): a file changing under this read
    // gets a clean 503.
    let body = if req.method() == Method::HEAD || start == end {
        ResponseBody::empty()
    } else if let Some(slot) = sendfile.filter(|_| from_file) {
        ResponseBody::Kernel(SendfileBody::new(Arc::clone(slot), file, stamp, start, end).boxed())
    } else if let Some(whole) = cache.whole(&file, &meta, &stamp) {
        match whole.map(|cached| (cached.file.zip(sendfile), cached.bytes)) {
            Ok((Some((snapshot, slot)), _)) => ResponseBody::Kernel(
                SendfileBody::sealed(Arc::clone(slot), snapshot, start, end).boxed(),
            ),
            Ok((None, bytes)) => ResponseBody::full(bytes.slice(start as usize..end as usize)),
            Err(_) => return empty(StatusCode::SERVICE_UNAVAILABLE),
        }
    } else if end - start <= CHUNK {
        match read_checked(&file, &stamp, start, (end - start) as usize) {
            Ok(bytes) => ResponseBody::full(bytes),
            Err(_) => return empty(StatusCode::SERVICE_UNAVAILABLE),
        }
    } else {
        ResponseBody::Kernel(FileBody::new(file, stamp, start, end).boxed())
    };
    build(status, headers, body)
}

fn build(status: StatusCode, headers: HeaderMap, body: ResponseBody) -> Reply {
    let mut reply = Response::new(body);
    *reply.status_mut() = status;
    *reply.headers_mut() = headers;
    reply
}

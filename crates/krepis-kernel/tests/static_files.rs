//! Static files served by the kernel over real sockets, with nothing draining the bridge:
//! every answer here comes from the kernel alone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use krepis_kernel::http::{Server, ServerConfig};
use krepis_kernel::proto::{ServeOptions, StaticMount};

fn start(root: &Path) -> Server {
    let options = ServeOptions {
        hostname: "127.0.0.1".into(),
        static_mounts: vec![StaticMount {
            prefix: "/static/".into(),
            root: root.display().to_string(),
            index: vec!["index.html".into()],
            sendfile: false,
        }],
        ..Default::default()
    };
    Server::start(ServerConfig::from_options(&options).unwrap()).unwrap()
}

/// One request on a fresh connection; the whole response as text.
fn request(addr: SocketAddr, head: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(format!("{head}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(response: &str) -> u16 {
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response
        .split("\r\n\r\n")
        .next()?
        .lines()
        .find_map(|l| {
            l.split_once(": ")
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        })
        .map(|(_, v)| v)
}

#[test]
fn files_validators_ranges_and_refusals_never_reach_the_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.txt"), "0123456789").unwrap();
    std::fs::write(root.join("index.html"), "<p>home</p>").unwrap();
    std::fs::write(dir.path().join("secret"), "SECRET").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret"), root.join("out")).unwrap();
    let server = start(&root);
    let addr = server.addr();

    let ok = request(addr, "GET /static/a.txt HTTP/1.1");
    assert_eq!(status(&ok), 200, "{ok}");
    assert!(ok.ends_with("\r\n\r\n0123456789"), "{ok}");
    assert_eq!(
        header(&ok, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    let etag = header(&ok, "etag").unwrap().to_string();

    let cached = request(
        addr,
        &format!("GET /static/a.txt HTTP/1.1\r\nIf-None-Match: {etag}"),
    );
    assert_eq!(status(&cached), 304, "{cached}");
    let part = request(addr, "GET /static/a.txt HTTP/1.1\r\nRange: bytes=2-4");
    assert_eq!(status(&part), 206);
    assert!(part.ends_with("\r\n\r\n234"), "{part}");
    assert_eq!(header(&part, "content-range"), Some("bytes 2-4/10"));
    let none = request(addr, "GET /static/a.txt HTTP/1.1\r\nRange: bytes=10-");
    assert_eq!(status(&none), 416);
    assert_eq!(header(&none, "content-range"), Some("bytes */10"));
    let head = request(addr, "HEAD /static/a.txt HTTP/1.1");
    assert_eq!(header(&head, "content-length"), Some("10"));
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    let index = request(addr, "GET /static/ HTTP/1.1");
    assert!(index.ends_with("<p>home</p>"), "{index}");

    for target in [
        "/static/../secret",
        "/static/%2e%2e/secret",
        "/static/..%2fsecret",
        "/static//etc/passwd",
        "/static/out",
    ] {
        let refused = request(addr, &format!("GET {target} HTTP/1.1"));
        assert!(matches!(status(&refused), 400 | 404), "{target}: {refused}");
        assert!(!refused.contains("SECRET"), "{target} leaked");
    }
    // The head checks every request gets apply here too.
    let two_hosts = request(addr, "GET /static/a.txt HTTP/1.1\r\nHost: other");
    assert_eq!(status(&two_hosts), 400, "{two_hosts}");
    let stats = server.stats();
    assert_eq!(stats.requests_total, 0, "no request may reach the bridge");
    server.stop();
}

/// Reads one response (head and `content-length` body) from `stream`.
fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn a_sendfile_mount_answers_pipelined_requests_with_the_exact_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..(3 << 20) + 11).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("small.txt"), "small").unwrap();
    let options = ServeOptions {
        hostname: "127.0.0.1".into(),
        static_mounts: vec![StaticMount {
            prefix: "/s".into(),
            root: dir.path().display().to_string(),
            index: vec![],
            sendfile: true,
        }],
        ..Default::default()
    };
    let server = Server::start(ServerConfig::from_options(&options).unwrap()).unwrap();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // Three requests in one write: hyper answers them in order on the one socket.
    stream
        .write_all(
            b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /s/small.txt HTTP/1.1\r\nHost: x\r\n\r\n\
              GET /s/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100-2097251\r\n\r\n",
        )
        .unwrap();
    let (head, body) = read_response(&mut stream);
    assert_eq!(status(&head), 200, "{head}");
    assert!(body == big, "the whole file, exactly");
    let (head, body) = read_response(&mut stream);
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(body, b"small");
    let (head, body) = read_response(&mut stream);
    assert_eq!(status(&head), 206, "{head}");
    assert!(body == big[100..2097252], "the range, exactly");
    assert_eq!(server.stats().requests_total, 0);
    server.stop();
}

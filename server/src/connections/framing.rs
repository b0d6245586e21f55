//! HTTP/1 request framing, followed in the bytes of a gateway connection as hyper reads them,
//! to find the requests whose length a proxy in front could read differently: both
//! `Content-Length` and `Transfer-Encoding`, several `Content-Length` headers (or a list in
//! one), a `Transfer-Encoding` other than exactly `chunked`, or several of them. hyper
//! accepts some of these (it drops the `Content-Length` of a request that also has
//! `Transfer-Encoding`, and keeps one of equal `Content-Length`s) and hides them from the
//! service, so they are found here, below hyper: each request head gets a verdict, in order,
//! and the connection's service takes one per request ([`super::activity::Track`]); the
//! gateway refuses an ambiguous request with 400 and closes the connection.
//!
//! Only the framing hyper itself accepts needs following: whatever it refuses ends the
//! connection. Bytes this cannot follow make every later request of the connection refused,
//! rather than judged out of step.

use std::collections::VecDeque;
use std::sync::Mutex;

/// The longest request head followed; the gateway's hyper refuses longer ones (its read
/// buffer is this size), so nothing passes unseen.
pub const MAX_HEAD: usize = 64 << 10;

/// The verdicts of one connection's requests, in order.
#[derive(Debug, Default)]
pub struct Framing {
    state: Mutex<Scan>,
}

/// Why a request is refused: its framing is ambiguous, or could not be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous(pub String);

#[derive(Debug, Default)]
struct Scan {
    at: At,
    verdicts: VecDeque<Option<Ambiguous>>,
    /// Set when the bytes could not be followed: every later request is refused.
    lost: Option<Ambiguous>,
}

#[derive(Debug)]
enum At {
    /// In a request head: its bytes so far.
    Head(Vec<u8>),
    /// In a body of known length: the bytes left.
    Body(u64),
    /// In a chunked body, at a chunk-size line (or, after the last chunk, a trailer line).
    ChunkLine { line: Vec<u8>, trailers: bool },
    /// In a chunk's data: the bytes left, then its CRLF.
    ChunkData(u64),
    /// After a chunk's data: the line end still to skip.
    ChunkEnd(Vec<u8>),
    /// Nothing more is followed.
    Stopped,
}

impl Default for At {
    fn default() -> Self {
        Self::Head(Vec::new())
    }
}

impl Framing {
    /// Follows `bytes`, the next the connection read.
    pub fn read(&self, bytes: &[u8]) {
        let mut scan = self.state.lock().unwrap_or_else(|p| p.into_inner());
        scan.feed(bytes);
    }

    /// The verdict of the next request: `Some` to refuse it.
    pub fn next(&self) -> Option<Ambiguous> {
        let mut scan = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match scan.verdicts.pop_front() {
            Some(verdict) => verdict,
            None => Some(scan.lost.clone().unwrap_or_else(|| {
                Ambiguous("the request's framing could not be followed".into())
            })),
        }
    }
}

impl Scan {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let at = std::mem::replace(&mut self.at, At::Stopped);
            self.at = match at {
                At::Stopped => return,
                At::Head(head) => {
                    // Empty lines before a request line are skipped, as hyper does.
                    if head.is_empty() {
                        let skip = bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
                        bytes = &bytes[skip.count()..];
                        if bytes.is_empty() {
                            At::Head(head)
                        } else {
                            self.head(head, &mut bytes)
                        }
                    } else {
                        self.head(head, &mut bytes)
                    }
                }
                At::Body(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[n as usize..];
                    if left == n {
                        At::Head(Vec::new())
                    } else {
                        At::Body(left - n)
                    }
                }
                At::ChunkLine { mut line, trailers } => match take_line(&mut line, &mut bytes) {
                    false if line.len() > 4096 => self.lose("a chunk line is too long"),
                    false => At::ChunkLine { line, trailers },
                    true if trailers => {
                        if trim_eol(&line).is_empty() {
                            At::Head(Vec::new())
                        } else {
                            At::ChunkLine {
                                line: Vec::new(),
                                trailers,
                            }
                        }
                    }
                    true => match chunk_size(trim_eol(&line)) {
                        Some(0) => At::ChunkLine {
                            line: Vec::new(),
                            trailers: true,
                        },
                        Some(size) => At::ChunkData(size),
                        None => self.lose("a chunk size is not hexadecimal"),
                    },
                },
                At::ChunkData(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[n as usize..];
                    if left == n {
                        At::ChunkEnd(Vec::new())
                    } else {
                        At::ChunkData(left - n)
                    }
                }
                At::ChunkEnd(mut line) => match take_line(&mut line, &mut bytes) {
                    false if line.len() > 2 => self.lose("a chunk does not end its line"),
                    false => At::ChunkEnd(line),
                    true if trim_eol(&line).is_empty() => At::ChunkLine {
                        line: Vec::new(),
                        trailers: false,
                    },
                    true => self.lose("a chunk is longer than its size"),
                },
            };
        }
    }

    /// Takes head bytes; at the head's end, judges it and moves to its body.
    fn head(&mut self, mut head: Vec<u8>, bytes: &mut &[u8]) -> At {
        // The end is an empty line: "\r\n\r\n", or with bare LFs (hyper accepts them too)
        // "\n\n" or "\n\r\n". Only the new bytes (and the 3 before them) can hold it.
        let start = head.len().saturating_sub(3);
        head.extend_from_slice(bytes);
        let end = [(&b"\n\n"[..], 2), (&b"\n\r\n"[..], 3)]
            .iter()
            .filter_map(|(end, len)| find(&head[start..], end).map(|i| start + i + len))
            .min();
        let Some(end) = end else {
            *bytes = &[];
            if head.len() > MAX_HEAD {
                return self.lose("a request head is longer than the gateway reads");
            }
            return At::Head(head);
        };
        let consumed = end - (head.len() - bytes.len());
        *bytes = &bytes[consumed..];
        head.truncate(end);
        let (verdict, body) = judge(&head);
        let next = match body {
            _ if verdict.is_some() => At::Stopped,
            Body::None => At::Head(Vec::new()),
            Body::Length(0) => At::Head(Vec::new()),
            Body::Length(n) => At::Body(n),
            Body::Chunked => At::ChunkLine {
                line: Vec::new(),
                trailers: false,
            },
        };
        // An ambiguous request is answered with `Connection: close`: nothing after it is
        // served, so nothing after it needs following.
        self.verdicts.push_back(verdict);
        next
    }

    fn lose(&mut self, why: &str) -> At {
        self.lost = Some(Ambiguous(format!(
            "an earlier request on this connection could not be followed ({why})"
        )));
        At::Stopped
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Moves bytes up to and including a `\n` into `line`; whether the line ended.
fn take_line(line: &mut Vec<u8>, bytes: &mut &[u8]) -> bool {
    match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => {
            line.extend_from_slice(&bytes[..=i]);
            *bytes = &bytes[i + 1..];
            true
        }
        None => {
            line.extend_from_slice(bytes);
            *bytes = &[];
            false
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A chunk-size line's size (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let size = line.split(|b| *b == b';').next()?;
    let size = std::str::from_utf8(size).ok()?.trim_matches([' ', '\t']);
    u64::from_str_radix(size, 16).ok()
}

/// How a request's body is delimited, as hyper reads it.
enum Body {
    None,
    Length(u64),
    Chunked,
}

/// The verdict on a complete request head, and how hyper delimits its body.
fn judge(head: &[u8]) -> (Option<Ambiguous>, Body) {
    let refuse = |why: &str| {
        Some(Ambiguous(format!(
            "{why}: proxies may read this request's length differently (a way to smuggle \
             requests), so it is refused; send the body with one Content-Length"
        )))
    };
    let text = String::from_utf8_lossy(head);
    let mut lengths = Vec::new();
    let mut encodings = Vec::new();
    for line in text.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim_matches([' ', '\t', '\r']);
        if name.eq_ignore_ascii_case("content-length") {
            lengths.push(value.to_string());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            encodings.push(value.to_string());
        }
    }
    let chunked = encodings
        .last()
        .and_then(|e| e.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
    let body = if !encodings.is_empty() {
        if chunked { Body::Chunked } else { Body::None }
    } else {
        match lengths.first().and_then(|l| l.parse::<u64>().ok()) {
            Some(n) => Body::Length(n),
            None => Body::None,
        }
    };
    let verdict = if !lengths.is_empty() && !encodings.is_empty() {
        refuse("the request has both Content-Length and Transfer-Encoding")
    } else if lengths.len() > 1 || lengths.iter().any(|l| l.contains(',')) {
        refuse("the request has several Content-Length values")
    } else if lengths
        .first()
        .is_some_and(|l| l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()))
    {
        refuse("the request's Content-Length is not a number")
    } else if encodings.len() > 1 {
        refuse("the request has several Transfer-Encoding headers")
    } else if encodings
        .first()
        .is_some_and(|e| !e.eq_ignore_ascii_case("chunked"))
    {
        refuse("the request's Transfer-Encoding is not just chunked")
    } else {
        None
    };
    (verdict, body)
}

#[cfg(test)]
mod test {
    use super::*;

    /// The verdicts of `stream`'s requests, fed `step` bytes at a time.
    fn verdicts(stream: &[u8], step: usize) -> Vec<Option<String>> {
        let framing = Framing::default();
        for piece in stream.chunks(step) {
            framing.read(piece);
        }
        let scan = framing.state.lock().unwrap();
        let mut all: Vec<_> = scan
            .verdicts
            .iter()
            .map(|v| v.clone().map(|a| a.0))
            .collect();
        if let Some(lost) = &scan.lost {
            all.push(Some(lost.0.clone()));
        }
        all
    }

    #[test]
    fn requests_are_followed_through_their_bodies() {
        let stream = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 27\r\n\r\n\
            GET / HTTP/1.1\r\nCL: 1\r\n\r\n\
            POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nhello\r\n1A\r\nContent-Length: 5\r\n\r\n12345\r\n0\r\nTrailer: x\r\n\r\n\
            \r\nGET /c HTTP/1.1\nHost: x\n\n";
        for step in [1, 2, 7, stream.len()] {
            assert_eq!(
                verdicts(stream, step),
                vec![None, None, None],
                "step {step}"
            );
        }
    }

    #[test]
    fn ambiguous_framing_is_refused_after_clean_requests() {
        let clean = b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}".to_vec();
        for (head, why) in [
            ("Content-Length: 2\r\nTransfer-Encoding: chunked", "both"),
            ("Transfer-Encoding: chunked\r\ncontent-length: 2", "both"),
            (
                "Content-Length: 2\r\nContent-Length: 2",
                "several Content-Length",
            ),
            ("Content-Length: 2, 2", "several Content-Length"),
            ("Content-Length: +2", "not a number"),
            ("Transfer-Encoding: gzip, chunked", "not just chunked"),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                "several Transfer",
            ),
        ] {
            let stream = [
                &clean[..],
                format!("POST /b HTTP/1.1\r\n{head}\r\n\r\n").as_bytes(),
            ]
            .concat();
            let got = verdicts(&stream, 3);
            assert_eq!(got.len(), 2, "{head}");
            assert_eq!(got[0], None);
            let refused = got[1].as_deref().unwrap_or_default();
            assert!(refused.contains(why), "{head}: {refused}");
        }
    }

    #[test]
    fn bytes_that_cannot_be_followed_refuse_what_follows() {
        let framing = Framing::default();
        framing.read(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        assert_eq!(framing.next(), None);
        assert!(framing.next().unwrap().0.contains("could not be followed"));
    }
}

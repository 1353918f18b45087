//! Reads what an RTMP publisher sends, up to the stream name it publishes to, so that the
//! relay can check the key before anything reaches libavformat's RTMP server (which only
//! logs a wrong stream name and takes the stream anyway).
//!
//! Pure: bytes in, verdicts out. It follows the chunk stream (RTMP 1.0, section 5.3: basic
//! header forms, message headers of type 0 to 3, extended timestamps, Set Chunk Size) and
//! decodes AMF0 commands (`connect`, `releaseStream`, `FCPublish`, `publish`, `play`).

use std::collections::HashMap;

/// C0 + C1 + C2: the handshake a client sends before its first chunk.
const HANDSHAKE: usize = 1 + 1536 + 1536;
/// Before the key is checked, a publisher may send this much at most.
const MAX_BEFORE_NAME: u64 = 64 * 1024;
/// A command message longer than this is not an RTMP publisher.
const MAX_COMMAND: usize = 16 * 1024;

/// Why a connection is turned away before its key is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The `reason` label of `playout_live_refused_total`.
    pub reason: &'static str,
    pub detail: String,
}

fn protocol(detail: impl Into<String>) -> Refusal {
    Refusal {
        reason: "protocol",
        detail: detail.into(),
    }
}

/// What a publisher asked for: the application of its `connect` and the stream name of its
/// first `releaseStream`/`FCPublish`/`publish` (without a `?query`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub app: String,
    pub name: String,
}

#[derive(Default)]
struct ChunkStream {
    len: usize,
    kind: u8,
    extended: bool,
    /// The message being assembled: where its first chunk started, what is left, its bytes.
    start: Option<u64>,
    left: usize,
    body: Vec<u8>,
}

pub struct Sniffer {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    handshake_left: usize,
    chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
    app: Option<String>,
    /// Where the message that carried the name started: nothing from there on may pass
    /// before the name is checked.
    held_from: Option<u64>,
}

impl Default for Sniffer {
    fn default() -> Self {
        Sniffer {
            buf: Vec::new(),
            base: 0,
            handshake_left: HANDSHAKE,
            chunk_size: 128,
            streams: HashMap::new(),
            app: None,
            held_from: None,
        }
    }
}

impl Sniffer {
    /// Reads the next bytes from the publisher. Returns what it publishes to once the
    /// message that names it is complete (once only), or why it is refused.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Publish>, Refusal> {
        if self.held_from.is_some() {
            return Ok(None);
        }
        self.buf.extend_from_slice(data);
        if self.base + self.buf.len() as u64 > MAX_BEFORE_NAME + HANDSHAKE as u64 {
            return Err(protocol(format!(
                "sent more than {MAX_BEFORE_NAME} bytes without naming a stream to publish"
            )));
        }
        let mut pos = 0usize;
        let found = loop {
            if self.handshake_left > 0 {
                let n = self.handshake_left.min(self.buf.len() - pos);
                self.handshake_left -= n;
                pos += n;
                if self.handshake_left > 0 {
                    break None;
                }
                continue;
            }
            match self.chunk(pos)? {
                None => break None,
                Some((next, publish)) => {
                    pos = next;
                    if publish.is_some() {
                        break publish;
                    }
                }
            }
        };
        self.buf.drain(..pos);
        self.base += pos as u64;
        Ok(found)
    }

    /// How many of the bytes fed so far may go on to the server: all but the messages not
    /// yet complete (one could be the name) and the one that named the stream.
    pub fn safe(&self) -> u64 {
        let open = self.streams.values().filter_map(|s| s.start).min();
        let parsed = self.base;
        [Some(parsed), open, self.held_from]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(parsed)
    }

    /// Parses one whole chunk at `pos` if it is all there: the position after it, and what
    /// a completed command asked for.
    fn chunk(&mut self, pos: usize) -> Result<Option<(usize, Option<Publish>)>, Refusal> {
        let b = &self.buf[pos..];
        let Some(&first) = b.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        let (csid, mut at) = match first & 0x3f {
            0 => match b.get(1) {
                Some(&x) => (64 + x as u32, 2),
                None => return Ok(None),
            },
            1 => match (b.get(1), b.get(2)) {
                (Some(&x), Some(&y)) => (64 + x as u32 + 256 * y as u32, 3),
                _ => return Ok(None),
            },
            n => (n as u32, 1),
        };
        let header = [11usize, 7, 3, 0][fmt as usize];
        if b.len() < at + header {
            return Ok(None);
        }
        let h = &b[at..at + header];
        at += header;
        let cs = self.streams.entry(csid).or_default();
        let (mut len, mut kind, mut extended) = (cs.len, cs.kind, cs.extended);
        if fmt < 3 {
            extended = u24(&h[0..3]) == 0xff_ffff;
        }
        if fmt < 2 {
            len = u24(&h[3..6]) as usize;
            kind = h[6];
        }
        if fmt == 3 && cs.start.is_none() && cs.len == 0 && cs.kind == 0 {
            return Err(protocol(format!(
                "chunk stream {csid} continues a message it never started"
            )));
        }
        if extended {
            at += 4;
        }
        let new_message = cs.start.is_none() || fmt < 3;
        if fmt < 3 && cs.start.is_some() {
            return Err(protocol(format!(
                "a new message header on chunk stream {csid} before its message ended"
            )));
        }
        let left = if new_message { len } else { cs.left };
        let n = left.min(self.chunk_size);
        if b.len() < at + n {
            return Ok(None);
        }
        let command = matches!(kind, 1 | 17 | 20);
        if command && len > MAX_COMMAND {
            return Err(protocol(format!(
                "a command message of {len} bytes (at most {MAX_COMMAND})"
            )));
        }
        let payload = &b[at..at + n];
        if new_message {
            cs.start = Some(self.base + pos as u64);
            cs.body.clear();
        }
        (cs.len, cs.kind, cs.extended) = (len, kind, extended);
        if command {
            cs.body.extend_from_slice(payload);
        }
        cs.left = left - n;
        let end = pos + at + n;
        if cs.left > 0 {
            return Ok(Some((end, None)));
        }
        let start = cs.start.take();
        let body = std::mem::take(&mut cs.body);
        let found = match kind {
            1 => {
                let size = body.get(0..4).map(u32_be).unwrap_or(0) & 0x7fff_ffff;
                if size == 0 {
                    return Err(protocol("a Set Chunk Size of 0"));
                }
                self.chunk_size = size as usize;
                None
            }
            17 | 20 => {
                // An AMF3 command starts with one format byte, then AMF0.
                let amf = if kind == 17 {
                    body.get(1..).unwrap_or(&[])
                } else {
                    &body
                };
                let p = self.command(amf)?;
                if p.is_some() {
                    self.held_from = start;
                }
                p
            }
            _ => None,
        };
        Ok(Some((end, found)))
    }

    fn command(&mut self, body: &[u8]) -> Result<Option<Publish>, Refusal> {
        let mut r = Amf { b: body, at: 0 };
        let name = match r.value(0) {
            Some(Value::Text(s)) => s,
            _ => return Err(protocol("a command without a name")),
        };
        match name.as_str() {
            "connect" => {
                let _txid = r.value(0);
                if let Some(Value::Object(props)) = r.value(0) {
                    self.app =
                        props
                            .into_iter()
                            .find(|(k, _)| k == "app")
                            .and_then(|(_, v)| match v {
                                Value::Text(s) => Some(s),
                                _ => None,
                            });
                }
                Ok(None)
            }
            "releaseStream" | "FCPublish" | "publish" => {
                let _txid = r.value(0);
                let _null = r.value(0);
                let stream = match r.value(0) {
                    Some(Value::Text(s)) => s,
                    _ => return Err(protocol(format!("{name} without a stream name"))),
                };
                let Some(app) = self.app.clone() else {
                    return Err(protocol(format!("{name} before connect")));
                };
                let name = stream.split('?').next().unwrap_or("").to_string();
                Ok(Some(Publish { app, name }))
            }
            "play" | "play2" => Err(protocol(
                "a player connected; this input takes publishers only",
            )),
            _ => Ok(None),
        }
    }
}

fn u24(b: &[u8]) -> u32 {
    (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32
}

fn u32_be(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The AMF0 values a command carries, as far as we read them.
enum Value {
    Text(String),
    Object(Vec<(String, Value)>),
    Other,
}

struct Amf<'a> {
    b: &'a [u8],
    at: usize,
}

impl Amf<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn text(&mut self, wide: bool) -> Option<String> {
        let n = if wide {
            u32_be(self.take(4)?) as usize
        } else {
            let l = self.take(2)?;
            u16::from_be_bytes([l[0], l[1]]) as usize
        };
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn props(&mut self, depth: u8) -> Option<Vec<(String, Value)>> {
        let mut v = Vec::new();
        loop {
            let key = self.text(false)?;
            if key.is_empty() && self.b.get(self.at) == Some(&0x09) {
                self.at += 1;
                return Some(v);
            }
            let val = self.value(depth + 1)?;
            v.push((key, val));
        }
    }

    /// One AMF0 value (section 2 of the AMF0 spec); `None` at the end or on a type this
    /// reader does not know.
    fn value(&mut self, depth: u8) -> Option<Value> {
        if depth > 8 {
            return None;
        }
        let marker = *self.take(1)?.first()?;
        match marker {
            0x00 => self.take(8).map(|_| Value::Other),
            0x01 => self.take(1).map(|_| Value::Other),
            0x02 => self.text(false).map(Value::Text),
            0x0c => self.text(true).map(Value::Text),
            0x03 => self.props(depth).map(Value::Object),
            0x08 => {
                self.take(4)?;
                self.props(depth).map(Value::Object)
            }
            0x05 | 0x06 => Some(Value::Other),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "rtmp_tests.rs"]
mod tests;

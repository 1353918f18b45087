use super::*;

fn amf_str(s: &str) -> Vec<u8> {
    let mut v = vec![0x02];
    v.extend_from_slice(&(s.len() as u16).to_be_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

fn amf_num(n: f64) -> Vec<u8> {
    let mut v = vec![0x00];
    v.extend_from_slice(&n.to_be_bytes());
    v
}

fn connect(app: &str) -> Vec<u8> {
    let mut v = amf_str("connect");
    v.extend(amf_num(1.0));
    v.push(0x03);
    for (k, val) in [
        ("app", app),
        ("type", "nonprivate"),
        ("tcUrl", "rtmp://x/y"),
    ] {
        v.extend_from_slice(&(k.len() as u16).to_be_bytes());
        v.extend_from_slice(k.as_bytes());
        v.extend(amf_str(val));
    }
    v.extend_from_slice(&[0, 0, 0x09]);
    v
}

fn named(cmd: &str, stream: &str) -> Vec<u8> {
    let mut v = amf_str(cmd);
    v.extend(amf_num(2.0));
    v.push(0x05);
    v.extend(amf_str(stream));
    v
}

/// A message split into chunks of `size` (type 0 header, then type 3).
fn chunks(csid: u8, kind: u8, body: &[u8], size: usize) -> Vec<u8> {
    let mut v = vec![csid, 0, 0, 0];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.push(kind);
    v.extend_from_slice(&[0, 0, 0, 0]);
    for (i, c) in body.chunks(size).enumerate() {
        if i > 0 {
            v.push(0xc0 | csid);
        }
        v.extend_from_slice(c);
    }
    v
}

fn session(app: &str, stream: &str, size: usize) -> Vec<u8> {
    let mut v = vec![3u8; HANDSHAKE];
    if size != 128 {
        v.extend(chunks(2, 1, &(size as u32).to_be_bytes(), 128));
    }
    v.extend(chunks(3, 20, &connect(app), size));
    v.extend(chunks(3, 20, &named("releaseStream", stream), size));
    v.extend(chunks(3, 20, &named("publish", stream), size));
    v
}

#[test]
fn finds_the_name_whatever_the_read_sizes() {
    for size in [128usize, 16, 4096] {
        let bytes = session("live", "s3cret-key?token=1", size);
        for step in [1usize, 7, 100, bytes.len()] {
            let mut s = Sniffer::default();
            let mut found = None;
            let mut fed = 0u64;
            for part in bytes.chunks(step) {
                fed += part.len() as u64;
                if let Some(p) = s.feed(part).unwrap() {
                    found = Some((p, fed));
                    break;
                }
                assert!(s.safe() <= fed);
            }
            let (p, _) = found.expect("name found");
            assert_eq!(p.app, "live");
            assert_eq!(p.name, "s3cret-key");
            // Nothing of the releaseStream passes: the handshake and connect do.
            let connect_end = bytes.len()
                - chunks(3, 20, &named("publish", "s3cret-key?token=1"), size).len()
                - chunks(3, 20, &named("releaseStream", "s3cret-key?token=1"), size).len();
            assert_eq!(s.safe(), connect_end as u64, "size {size} step {step}");
        }
    }
}

#[test]
fn two_byte_chunk_stream_ids_and_extended_timestamps() {
    let mut v = vec![0u8; HANDSHAKE];
    // csid 70 in the two-byte form, with an extended timestamp.
    let body = connect("app");
    v.extend_from_slice(&[0x00, 70 - 64, 0xff, 0xff, 0xff]);
    v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    v.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0x10, 0]);
    v.extend_from_slice(&body);
    v.extend(chunks(3, 20, &named("FCPublish", "k"), 128));
    let p = Sniffer::default().feed(&v).unwrap().unwrap();
    assert_eq!((p.app.as_str(), p.name.as_str()), ("app", "k"));
}

#[test]
fn refuses_players_and_garbage() {
    let mut v = vec![0u8; HANDSHAKE];
    v.extend(chunks(3, 20, &connect("live"), 128));
    v.extend(chunks(3, 20, &named("play", "k"), 128));
    let e = Sniffer::default().feed(&v).unwrap_err();
    assert_eq!(e.reason, "protocol");
    assert!(e.detail.contains("player"), "{}", e.detail);

    let mut v = vec![0u8; HANDSHAKE];
    v.extend(chunks(3, 20, &named("publish", "k"), 128));
    let e = Sniffer::default().feed(&v).unwrap_err();
    assert!(e.detail.contains("before connect"), "{}", e.detail);

    let mut s = Sniffer::default();
    let e = (0..100)
        .find_map(|_| s.feed(&[0x42; 4096]).err())
        .expect("a stream of junk is refused");
    assert_eq!(e.reason, "protocol");
}

#[test]
fn never_panics_on_short_or_odd_input() {
    let good = session("live", "key", 128);
    let mut seed = 0x2545_f491u32;
    for _ in 0..2000 {
        let mut b = good.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let i = HANDSHAKE + (seed as usize % (b.len() - HANDSHAKE));
            b[i] = (seed >> 8) as u8;
        }
        let cut = HANDSHAKE + (seed as usize % (b.len() - HANDSHAKE));
        let mut s = Sniffer::default();
        let _ = s.feed(&b[..cut]).and_then(|_| s.feed(&b[cut..]));
    }
}

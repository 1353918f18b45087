//! Media mutation: 320 damaged copies of the fixtures (bit flips, truncations, spliced
//! headers, overwritten, zeroed and moved spans; a seeded mutator, so every run plays the
//! same files) played one after another in one unpaced channel. The process must not crash
//! or hang; every file either plays or becomes slate with a reason; and the recording stays
//! one continuous stream (frame steps, audio holes, A/V end, GOP, a clean decode).
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::fixtures::generated_once;
use common::*;

/// Mutants per fixture; `MUTANTS_PER_BASE=300 cargo test --release --test mutation` plays
/// 3000.
fn per_base() -> usize {
    std::env::var("MUTANTS_PER_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}
const BASES: [&str; 10] = [
    "landscape_25",
    "vfr",
    "hevc",
    "vp9_opus",
    "mpeg2_interlaced",
    "h264_10bit",
    "surround_51",
    "rotated_90",
    "still",
    "audio_only",
];
const KINDS: [&str; 6] = ["bitflip", "truncate", "splice", "overwrite", "zero", "move"];

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// An offset in `len`, half the time within the first 4 KiB (headers).
    fn offset(&mut self, len: usize) -> usize {
        if self.next() % 2 == 0 {
            self.below(len.min(4096))
        } else {
            self.below(len)
        }
    }
}

fn mutate(kind: &str, mut b: Vec<u8>, other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let len = b.len();
    match kind {
        "bitflip" => {
            for _ in 0..1 + rng.below(64) {
                let at = rng.offset(len);
                b[at] ^= 1 << rng.below(8);
            }
        }
        "truncate" => b.truncate(len * (5 + rng.below(91)) / 100),
        "splice" => {
            let k = 1 + rng.below(8192.min(other.len()).min(len));
            b[..k].copy_from_slice(&other[..k]);
        }
        "overwrite" => {
            let at = rng.offset(len);
            for x in b.iter_mut().skip(at).take(16 + rng.below(4080)) {
                *x = rng.next() as u8;
            }
        }
        "zero" => {
            let at = rng.offset(len);
            for x in b.iter_mut().skip(at).take(16 + rng.below(4080)) {
                *x = 0;
            }
        }
        "move" => {
            let n = 16 + rng.below(4080.min(len / 2));
            let (from, to) = (rng.below(len - n), rng.offset(len - n));
            let chunk = b[from..from + n].to_vec();
            b[to..to + n].copy_from_slice(&chunk);
        }
        _ => unreachable!("{kind}"),
    }
    b
}

/// The mutants (generated once per recipe), each with its kind.
fn mutants() -> Vec<(PathBuf, &'static str)> {
    let bases: Vec<&Fixture> = BASES.iter().map(|n| fixture(n)).collect();
    let key: Vec<(String, u64)> = bases
        .iter()
        .map(|f| {
            (
                f.name.to_string(),
                fs::metadata(&f.path).map_or(0, |m| m.len()),
            )
        })
        .collect();
    let per_base = per_base();
    let dir = generated_once("mutants", &(key, per_base, KINDS, 1u8), |out| {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (i, base) in bases.iter().enumerate() {
            let bytes = fs::read(&base.path).expect("read fixture");
            let other = fs::read(&bases[(i + 1) % bases.len()].path).expect("read fixture");
            let ext = base
                .path
                .extension()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            for j in 0..per_base {
                let kind = KINDS[j % KINDS.len()];
                let m = mutate(kind, bytes.clone(), &other, &mut rng);
                fs::write(out.join(format!("{}-{j:02}-{kind}.{ext}", base.name)), m)
                    .expect("write mutant");
            }
        }
    });
    let mut v: Vec<(PathBuf, &'static str)> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "DONE"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let kind = KINDS.iter().find(|k| name.ends_with(*k)).copied().unwrap();
            (p, kind)
        })
        .collect();
    v.sort();
    v
}

fn channel(dir: &Path, playlist: &Path) -> PathBuf {
    ChannelFile::new("mutants", playlist)
        .slate("text: \"Back soon\", failure_duration: 1s")
        .write(dir)
}

#[test]
fn three_hundred_mutated_files_never_crash_the_channel() {
    common::heavy();
    let files = mutants();
    assert!(files.len() >= 300, "only {} mutants", files.len());
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<ItemSpec> = files
        .iter()
        .map(|(p, _)| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            ItemSpec::clip(p).title(&name).out("1s")
        })
        .collect();
    let playlist = write_playlist(dir.path(), &items);
    let ch = channel(dir.path(), &playlist);
    let rec = dir.path().join("out.flv");
    let out = format!("file:{}", rec.display());
    // Each item at most 1 s (a failure is 1 s of slate): one pass of the rotation.
    let span = format!("{}s", files.len());
    let p = Playout::spawn(
        &[
            "run",
            ch.to_str().unwrap(),
            "--output",
            &out,
            "--unpaced",
            "--for",
            &span,
        ],
        &[],
    );
    let run = p.wait(Duration::from_secs(900.max(files.len() as u64)));
    let stderr = &run.stderr;
    let started: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Item started."))
        .collect();
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Item failed; playing slate."))
        .collect();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for l in &failed {
        let r = l
            .split("reason=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?")
            .trim_matches('"')
            .to_string();
        *reasons.entry(r).or_default() += 1;
    }
    let title_of = |l: &str| {
        l.split("item=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    };
    let mut by_kind: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (p, kind) in &files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        if failed.iter().any(|l| title_of(l).as_deref() == Some(&name)) {
            e.2 += 1;
        } else if started
            .iter()
            .any(|l| title_of(l).as_deref() == Some(&name))
        {
            e.1 += 1;
        }
    }
    println!(
        "{} mutated files in {:.1} s: exit {}; {} item starts, {} slated, reasons {reasons:?}",
        files.len(),
        run.wall.as_secs_f64(),
        run.status,
        started.len(),
        failed.len()
    );
    for (k, (n, played, slated)) in &by_kind {
        println!("  {k:9} {n:3} files: {played:3} played (maybe damaged), {slated:3} slated");
    }
    let mut failures = Vec::new();
    if !run.status.success() {
        failures.push(format!("the channel ended with {} (a crash)", run.status));
    }
    if stderr.contains("panicked") {
        failures.push("a thread panicked".into());
    }
    let covered: usize = by_kind.values().map(|(_, p, s)| p + s).sum();
    if covered < files.len() {
        failures.push(format!("only {covered} of {} files came up", files.len()));
    }
    let (report, problems) = check_session(&rec, (30, 1), &Expect::new(320, 180));
    println!("recording: {report}");
    failures.extend(problems);
    if !failures.is_empty() {
        println!("stderr tail:\n{}", tail(stderr, 30));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

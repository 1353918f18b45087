//! Replays the fuzzers' committed seed corpus (`tests/fuzz/corpus/TARGET/`, every finding added
//! there too) through the same target bodies `make fuzz` runs, on the stable toolchain:
//! no panic, and every rejection a `ConfigError` naming the file and the place.

use std::path::Path;

#[test]
fn every_corpus_input_holds_every_invariant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
    let mut failures = Vec::new();
    for (name, target) in playout::fuzzing::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "no seeds for {name}");
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            if let Err(p) = std::panic::catch_unwind(|| target(&data)) {
                let why = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {why}", input.display()));
            }
        }
        println!("{name}: {} inputs", inputs.len());
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| playout::fuzzing::duration(data));

//! Fuzzes mignet::fuzzing::Target::CniConfig; a violated property panics, so libFuzzer saves the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mignet::fuzzing::Target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = Target::CniConfig.run(data) {
        panic!("{violation}");
    }
});

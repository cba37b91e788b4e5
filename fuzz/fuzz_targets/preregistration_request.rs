//! Family B request validation, JSON and XML: never a panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::preregistration::validation::{GenerateRequest, ValidateRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for xml in [false, true] {
            let _ = GenerateRequest::read(text, xml);
            let _ = ValidateRequest::read(text, xml);
        }
    }
});

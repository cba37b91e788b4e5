//! Family B request validation, JSON and XML: never a panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::edge::dotnet_body::Syntax;
use shared::preregistration::request::{GenerateRequest, ValidateRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for syntax in [Syntax::Json, Syntax::Xml] {
            let _ = GenerateRequest::read(text, syntax);
            let _ = ValidateRequest::read(text, syntax);
        }
    }
});

//! Family C request parsing, JSON and XML: never a panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::edge::dotnet_body::Syntax;
use shared::twofactor::request::{CreateRequest, VerifyRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for syntax in [Syntax::Json, Syntax::Xml] {
            let _ = CreateRequest::read(text, syntax);
            let _ = VerifyRequest::read(text, syntax);
        }
    }
});

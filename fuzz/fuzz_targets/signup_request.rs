//! Family A: body parsing (JSON or XML) and format negotiation (path, query, Accept), and
//! the CSV/XML/JSON rendering of what negotiation picks: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::signup::format;
use shared::signup::request::SignupRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Three parts separated by newlines: path, query, Accept; the rest is the body.
    let mut parts = text.splitn(4, '\n');
    let (path, query, accept) = (parts.next().unwrap_or(""), parts.next(), parts.next());
    let body = parts.next().unwrap_or(text);
    let chosen = format::negotiate(path, query, accept);
    if let Ok(request) = SignupRequest::parse(body) {
        let envelope = shared::signup::model::Envelope {
            total: 0,
            op_code: 1001,
            error_text: request.email_address,
            request_time: String::new(),
            response_time: String::new(),
            total_execution_time: String::new(),
            cached_response: false,
            data: None,
            data2: None,
        };
        let _ = format::render(&envelope, chosen);
    }
});

//! What the service is about, with no I/O: codes and references, opaque ids, the keys and
//! keyed hashes, phone numbers, e-mail addresses, callers, masks for logs, SMS text, the clock.

pub mod caller;
pub mod clock;
pub mod codes;
pub mod crypto;
pub mod email;
pub mod fiction;
pub mod ids;
pub mod mask;
pub mod phone;
pub mod sms_text;

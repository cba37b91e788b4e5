//! One code per channel (issue 23: the e-mail channel laundered SMS conversion). A code that
//! goes by SMS and by e-mail is two codes, so a validation tells which message reached the
//! person, and only the SMS code proves the SMS arrived: only it credits the number's block
//! and the country's `Verified` metric.
//!
//! Which code a submission is must be known before the validating write (the keyed hashes are
//! compared inside DynamoDB, with no read): the channel is a bit of a hash of the id and the
//! code, and the send draws each channel's code among the codes whose bit names it. A wrong
//! guess at one channel's code is compared with that channel's hash only. The price: each of
//! the two codes is one of half the 10^6 codes, so a guess matches one of them with the chance
//! any two codes would give (2 in 10^6), from the same attempt limits.

use sha2::{Digest, Sha256};

use crate::domain::codes;

/// The channel a code of family B went by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChannel {
    Sms,
    Email,
}

/// The channel `code` belongs to among the two codes of the id `id`.
pub fn channel_of(id: &str, code: &str) -> CodeChannel {
    let digest = Sha256::new().chain_update(b"cnf-channel\n").chain_update(id).chain_update(b"\n").chain_update(code);
    if digest.finalize()[0] & 1 == 0 { CodeChannel::Sms } else { CodeChannel::Email }
}

/// A random code of `length` digits that belongs to `channel` for the id `id` (two draws on
/// average; 128 all of the other channel happen with a chance of 2^-128, so only a broken
/// `channel_of` gets there, and it is then a bug to stop at, not a loop to hang in).
pub fn code_for(channel: CodeChannel, id: &str, length: usize) -> String {
    for _ in 0..128 {
        let code = codes::numeric_code(length);
        if channel_of(id, &code) == channel {
            return code;
        }
    }
    panic!("no code of {channel:?} in 128 draws: channel_of is broken");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_codes_are_drawn_per_channel_should_belong_to_it_and_split_the_codes_evenly() {
        let id = "6f1e2d3c-4b5a-4968-8776-655443322110";
        for _ in 0..200 {
            assert_eq!(channel_of(id, &code_for(CodeChannel::Sms, id, 6)), CodeChannel::Sms);
            assert_eq!(channel_of(id, &code_for(CodeChannel::Email, id, 6)), CodeChannel::Email);
        }
        let sms = (0..10_000).filter(|n| channel_of(id, &format!("{n:06}")) == CodeChannel::Sms).count();
        assert!((4_700..5_300).contains(&sms), "{sms} of 10,000 codes are SMS codes");
        // The convention is stored in every code sent (which hash a validation compares):
        // pinned, so a change of it cannot pass unnoticed across a deploy.
        let pinned: Vec<CodeChannel> =
            ["000000", "123456", "999999", "424242"].iter().map(|c| channel_of(id, c)).collect();
        use CodeChannel::{Email, Sms};
        assert_eq!(pinned, [Email, Email, Sms, Email]);
        // Another id splits the codes otherwise.
        let other = (0..10_000).filter(|n| channel_of("x", &format!("{n:06}")) != channel_of(id, &format!("{n:06}")));
        assert!(other.count() > 4_000);
    }
}

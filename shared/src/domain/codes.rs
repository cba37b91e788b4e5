//! Generation of codes and identifiers from the operating system's CSPRNG.
//!
//! `random_range` samples uniformly (rejection sampling), so no digit or letter is more likely
//! than another: no modulo bias.

use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};

/// Shortest and longest code a configuration may ask for.
pub const MIN_CODE_LENGTH: usize = 4;
pub const MAX_CODE_LENGTH: usize = 10;

/// Letters of reference codes: no I or O, which read as 1 and 0 on a small screen.
const REFERENCE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

fn rng() -> impl Rng {
    // OsRng is the kernel's CSPRNG; a failure to read it is not recoverable.
    OsRng.unwrap_err()
}

/// A code of `length` decimal digits (leading zeros allowed).
pub fn numeric_code(length: usize) -> String {
    let length = length.clamp(MIN_CODE_LENGTH, MAX_CODE_LENGTH);
    let mut rng = rng();
    (0..length).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// A short code of capital letters shown on screen and in the SMS, so the user can match them.
pub fn reference_code(length: usize) -> String {
    let mut rng = rng();
    (0..length).map(|_| char::from(REFERENCE_ALPHABET[rng.random_range(0..REFERENCE_ALPHABET.len())])).collect()
}

/// Largest numeric id: .NET clients may declare family C's `Id` as `int` (the seed's help
/// page says "integer", which Web API prints for Int32 and Int64 alike), and a larger value
/// throws OverflowException there.
pub const MAX_NUMERIC_ID: u64 = i32::MAX as u64;

/// A positive integer that fits a .NET `int` (1..=2^31-1). Drawn at random, so it may
/// collide with one in use: the store reserves each id with a conditional write, and the
/// caller draws again when the reservation is taken.
pub fn numeric_id() -> u64 {
    rng().random_range(1..=MAX_NUMERIC_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_numeric_code_is_generated_should_have_requested_length_and_only_digits() {
        for length in MIN_CODE_LENGTH..=MAX_CODE_LENGTH {
            let code = numeric_code(length);
            assert_eq!(code.len(), length);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn when_many_codes_are_generated_should_use_every_digit_equally() {
        let mut counts = [0f64; 10];
        for _ in 0..100_000 {
            for b in numeric_code(6).bytes() {
                counts[(b - b'0') as usize] += 1.0;
            }
        }
        // Pearson's chi-square over 600,000 digits, 9 degrees of freedom. A uniform source
        // exceeds 60 with probability below 1e-9; `byte % 10` (modulo bias) scores about 220.
        let expected = 60_000.0;
        let chi_square: f64 = counts.iter().map(|c| (c - expected).powi(2) / expected).sum();
        assert!(chi_square < 60.0, "chi-square {chi_square:.1}: {counts:?}");
    }

    #[test]
    fn when_codes_are_generated_should_not_repeat_a_sequence() {
        let codes: std::collections::HashSet<_> = (0..1000).map(|_| numeric_code(10)).collect();
        assert!(codes.len() > 990);
    }

    #[test]
    fn when_reference_is_generated_should_use_only_unambiguous_capitals() {
        for _ in 0..200 {
            let r = reference_code(4);
            assert_eq!(r.len(), 4);
            assert!(r.bytes().all(|b| REFERENCE_ALPHABET.contains(&b)), "{r}");
        }
    }

    #[test]
    fn when_numeric_id_is_generated_should_fit_a_dotnet_int() {
        let ids: Vec<u64> = (0..10_000).map(|_| numeric_id()).collect();
        assert!(ids.iter().all(|id| (1..=i32::MAX as u64).contains(id)), "1..=2^31-1");
        // And spread over that range, not stuck low: with 10,000 uniform draws, one above
        // 2^30 is a certainty (the chance of none is 2^-10000).
        assert!(ids.iter().any(|id| *id > 1 << 30));
    }
}

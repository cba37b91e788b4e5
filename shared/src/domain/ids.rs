//! Opaque ids that carry what verifying their code needs (issue 15: a verification in one
//! DynamoDB call). Today a verification reads the code's item first, only to learn the
//! destination whose failure lock the accepting write must check. An id built here holds that
//! destination itself, encrypted: one AES-256 block, written as a UUID.
//!
//! - Opaque: without the key nobody learns the number inside, or links two ids of one number.
//! - Not a v4 UUID: all 128 bits are the cipher's. Ids issued before (v4, `Uuid::new_v4`) are
//!   told apart exactly (`is_legacy`): a new id is drawn again while it looks like a v4 one.
//! - Key rotation: an id does not say which key version made it; `open` tries each active
//!   version, current first, and keeps the plaintexts of the right layout. The item stores
//!   the plaintext (`lk`) and the verifying write checks it, so a wrong guess (a chance of
//!   about 2^-8 per foreign version) can never act on keys that are not the item's.

use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::generic_array::GenericArray;
use aes_gcm::aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use rand::TryRngCore;
use rand::rngs::OsRng;

/// The block cipher of one key version.
pub struct IdCipher(Aes256);

impl IdCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Aes256::new(GenericArray::from_slice(key)))
    }

    pub fn encrypt(&self, plain: u128) -> [u8; 16] {
        let mut block = GenericArray::from(plain.to_be_bytes());
        self.0.encrypt_block(&mut block);
        block.into()
    }

    pub fn decrypt(&self, id: [u8; 16]) -> u128 {
        let mut block = GenericArray::from(id);
        self.0.decrypt_block(&mut block);
        u128::from_be_bytes(block.into())
    }
}

/// Whether `id` has the version and variant bits of an RFC 9562 v4 UUID: every id issued
/// before opaque ids, and never one issued since.
pub fn is_legacy(id: &[u8; 16]) -> bool {
    id[6] >> 4 == 4 && id[8] & 0xc0 == 0x80
}

/// Random bits for a new id's plaintext.
pub fn random_bits(bits: u32) -> u64 {
    let mut bytes = [0u8; 8];
    OsRng.try_fill_bytes(&mut bytes).expect("the OS random source is available");
    u64::from_be_bytes(bytes) & mask(bits)
}

const fn mask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1 << bits) - 1 }
}

/// The plaintext of a family C id (`OtpIdReference`): the number the code went to, when it
/// was sent, and random bits (ids of one number in one second differ by them).
///
/// `layout (8) | E.164 digits as an integer (50: at most 15 digits, never a leading zero) |
/// created, epoch s (32) | random (38)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpIdPlain {
    pub e164_digits: u64,
    pub created_s: u32,
    pub random: u64,
}

const OTP_LAYOUT: u128 = 0xc1;
const DIGITS_BITS: u32 = 50;
const RANDOM_BITS: u32 = 38;
/// The shortest and longest E.164 numbers (country code included).
const MIN_DIGITS: u64 = 10_000_000;
const MAX_DIGITS: u64 = 999_999_999_999_999;

impl OtpIdPlain {
    /// A fresh plaintext for an OTP sent now to `e164` (`+` and digits).
    pub fn new(e164: &str, now_ms: u64) -> Option<Self> {
        let digits = e164_digits(e164)?;
        Some(Self { e164_digits: digits, created_s: (now_ms / 1000) as u32, random: random_bits(RANDOM_BITS) })
    }

    pub fn pack(&self) -> u128 {
        (OTP_LAYOUT << 120)
            | (u128::from(self.e164_digits) << (32 + RANDOM_BITS))
            | (u128::from(self.created_s) << RANDOM_BITS)
            | u128::from(self.random & mask(RANDOM_BITS))
    }

    /// The plaintext, if `plain` has family C's layout and sane fields.
    pub fn unpack(plain: u128) -> Option<Self> {
        if plain >> 120 != OTP_LAYOUT {
            return None;
        }
        let digits = ((plain >> (32 + RANDOM_BITS)) as u64) & mask(DIGITS_BITS);
        let created_s = (plain >> RANDOM_BITS) as u32;
        let random = (plain as u64) & mask(RANDOM_BITS);
        (MIN_DIGITS..=MAX_DIGITS).contains(&digits).then_some(Self { e164_digits: digits, created_s, random })
    }

    pub fn e164(&self) -> String {
        format!("+{}", self.e164_digits)
    }

    pub fn created_ms(&self) -> u64 {
        u64::from(self.created_s) * 1000
    }
}

/// An E.164 number (`+` and digits) as the integer of its digits, if it is one.
fn e164_digits(e164: &str) -> Option<u64> {
    e164.strip_prefix('+')?.parse().ok().filter(|d| (MIN_DIGITS..=MAX_DIGITS).contains(d))
}

/// The plaintext of a family B id (`confirmationId`): the destinations the code went to (the
/// mobile number, and a keyed tag of the e-mail address: `crypto::KeyRing::email_tag`, which
/// keys the address's failure lock), when it was sent, and random bits.
///
/// `layout (8) | channels (2: mobile, e-mail) | mobile E.164 digits (50; 0 without) | e-mail
/// tag (40; 0 without) | created, epoch s mod 2^16 (16) | random (12)`. The send time is
/// resolved against the clock (`created_ms`): exact for codes younger than 18 h, and family B
/// codes live at most an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfIdPlain {
    pub mobile_digits: Option<u64>,
    pub email_tag: Option<u64>,
    /// Epoch seconds modulo 2^16.
    pub created_s: u16,
    pub random: u64,
}

const CNF_LAYOUT: u128 = 0xb1;
const CNF_RANDOM_BITS: u32 = 12;
const CNF_CLOCK_BITS: u32 = 16;
pub const EMAIL_TAG_BITS: u32 = 40;
const CNF_TAG_SHIFT: u32 = CNF_RANDOM_BITS + CNF_CLOCK_BITS;
const CNF_MOBILE_SHIFT: u32 = CNF_TAG_SHIFT + EMAIL_TAG_BITS;
const CNF_FLAGS_SHIFT: u32 = CNF_MOBILE_SHIFT + DIGITS_BITS;
const CNF_MOBILE_FLAG: u128 = 0b10;
const CNF_EMAIL_FLAG: u128 = 0b01;

impl CnfIdPlain {
    /// A fresh plaintext for a code sent now to `mobile` (E.164) and/or an address whose tag
    /// is `email_tag`; `None` without a destination or with one that does not fit.
    pub fn new(mobile: Option<&str>, email_tag: Option<u64>, now_ms: u64) -> Option<Self> {
        let mobile_digits = match mobile {
            Some(e164) => Some(e164_digits(e164)?),
            None => None,
        };
        if (mobile_digits.is_none() && email_tag.is_none()) || email_tag.is_some_and(|t| t >> EMAIL_TAG_BITS != 0) {
            return None;
        }
        let created_s = (now_ms / 1000) as u16;
        Some(Self { mobile_digits, email_tag, created_s, random: random_bits(CNF_RANDOM_BITS) })
    }

    /// The same destinations and time, other random bits (`seal`'s redraw).
    pub fn redrawn(self) -> Self {
        Self { random: random_bits(CNF_RANDOM_BITS), ..self }
    }

    pub fn pack(&self) -> u128 {
        let flags = if self.mobile_digits.is_some() { CNF_MOBILE_FLAG } else { 0 }
            | if self.email_tag.is_some() { CNF_EMAIL_FLAG } else { 0 };
        (CNF_LAYOUT << 120)
            | (flags << CNF_FLAGS_SHIFT)
            | (u128::from(self.mobile_digits.unwrap_or(0)) << CNF_MOBILE_SHIFT)
            | (u128::from(self.email_tag.unwrap_or(0)) << CNF_TAG_SHIFT)
            | (u128::from(self.created_s) << CNF_RANDOM_BITS)
            | u128::from(self.random & mask(CNF_RANDOM_BITS))
    }

    /// The plaintext, if `plain` has family B's layout and sane fields: a channel at least,
    /// a number of 8 to 15 digits when it has a mobile, zero in every unused field.
    pub fn unpack(plain: u128) -> Option<Self> {
        if plain >> 120 != CNF_LAYOUT {
            return None;
        }
        let flags = (plain >> CNF_FLAGS_SHIFT) & 0b11;
        let digits = ((plain >> CNF_MOBILE_SHIFT) as u64) & mask(DIGITS_BITS);
        let tag = ((plain >> CNF_TAG_SHIFT) as u64) & mask(EMAIL_TAG_BITS);
        let mobile_digits = match flags & CNF_MOBILE_FLAG != 0 {
            true if (MIN_DIGITS..=MAX_DIGITS).contains(&digits) => Some(digits),
            false if digits == 0 => None,
            _ => return None,
        };
        let email_tag = match flags & CNF_EMAIL_FLAG != 0 {
            true => Some(tag),
            false if tag == 0 => None,
            false => return None,
        };
        if flags == 0 {
            return None;
        }
        let created_s = (plain >> CNF_RANDOM_BITS) as u16;
        Some(Self { mobile_digits, email_tag, created_s, random: (plain as u64) & mask(CNF_RANDOM_BITS) })
    }

    pub fn mobile(&self) -> Option<String> {
        self.mobile_digits.map(|d| format!("+{d}"))
    }

    /// When the code was sent (to the second): the latest time not after `now_ms` that
    /// matches the stored seconds.
    pub fn created_ms(&self, now_ms: u64) -> u64 {
        let now_s = now_ms / 1000;
        let back = u64::from((now_s as u16).wrapping_sub(self.created_s));
        now_s.saturating_sub(back) * 1000
    }
}

/// Encrypts `plain` into an id, drawing new random bits (`redraw`) while the id would look
/// like a legacy one (1 in 64).
pub fn seal(cipher: &IdCipher, mut plain: u128, mut redraw: impl FnMut(u128) -> u128) -> [u8; 16] {
    loop {
        let id = cipher.encrypt(plain);
        if !is_legacy(&id) {
            return id;
        }
        plain = redraw(plain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> IdCipher {
        IdCipher::new(&[byte; 32])
    }

    #[test]
    fn when_random_bits_are_drawn_should_fill_exactly_the_bits_asked_for() {
        // Ids of one destination in one second differ only by these bits: each draw must fit
        // its field and vary within it.
        for bits in [8, CNF_RANDOM_BITS, RANDOM_BITS] {
            let draws: Vec<u64> = (0..64).map(|_| random_bits(bits)).collect();
            assert!(draws.iter().all(|d| *d < 1 << bits), "{bits} bits: {draws:?}");
            assert!(draws.iter().any(|d| *d >= 1 << (bits - 1)), "{bits} bits: the top one is used");
            assert!(draws.iter().collect::<std::collections::HashSet<_>>().len() > 8, "{bits} bits: {draws:?}");
        }
        assert_eq!((mask(0), mask(12), mask(64)), (0, 0xfff, u64::MAX));
    }

    #[test]
    fn when_a_confirmation_id_is_packed_or_redrawn_should_keep_every_field_but_the_redrawn_random_bits() {
        // seal redraws a plaintext whose id looks legacy: the same plaintext again would loop.
        let plain = CnfIdPlain::new(Some("+905321234567"), Some(0xab_cdef_0123), 1_790_000_000_123).unwrap();
        let redrawn: Vec<CnfIdPlain> = (0..8).map(|_| plain.redrawn()).collect();
        assert!(redrawn.iter().all(|r| CnfIdPlain { random: plain.random, ..*r } == plain));
        assert!(redrawn.iter().any(|r| r.random != plain.random), "{redrawn:?}");
        // Every field comes back as it went in, the random bits too.
        for p in
            [plain, CnfIdPlain::new(None, Some(1), 0).unwrap(), CnfIdPlain::new(Some("+12025550123"), None, 5).unwrap()]
        {
            assert_eq!(CnfIdPlain::unpack(p.pack()), Some(p));
        }
        // A mobile flag with digits no E.164 number has (from a foreign key's decryption) is
        // no plaintext; the shortest number is.
        let mobile = |digits: u64| {
            (CNF_LAYOUT << 120) | (CNF_MOBILE_FLAG << CNF_FLAGS_SHIFT) | (u128::from(digits) << CNF_MOBILE_SHIFT)
        };
        assert_eq!(CnfIdPlain::unpack(mobile(MIN_DIGITS - 1)), None);
        assert_eq!(CnfIdPlain::unpack(mobile(0)), None);
        assert_eq!(CnfIdPlain::unpack(mobile(MIN_DIGITS)).unwrap().mobile_digits, Some(MIN_DIGITS));
    }

    #[test]
    fn when_an_otp_id_is_sealed_should_open_to_the_same_number_and_time() {
        let c = cipher(1);
        let plain = OtpIdPlain::new("+905321234567", 1_790_000_000_123).unwrap();
        let id = seal(&c, plain.pack(), |_| OtpIdPlain { random: random_bits(RANDOM_BITS), ..plain }.pack());
        let opened = OtpIdPlain::unpack(c.decrypt(id)).unwrap();
        assert_eq!(opened.e164(), "+905321234567");
        assert_eq!(opened.created_ms(), 1_790_000_000_000);
        assert!(!is_legacy(&id));
    }

    #[test]
    fn when_the_longest_and_shortest_numbers_are_packed_should_survive() {
        for e164 in ["+999999999999999", "+10000000", "+12025550123"] {
            let plain = OtpIdPlain::new(e164, 4_294_967_295_000).unwrap();
            assert_eq!(OtpIdPlain::unpack(plain.pack()), Some(plain), "{e164}");
            assert_eq!(OtpIdPlain::unpack(plain.pack()).unwrap().e164(), e164);
        }
        assert!(OtpIdPlain::new("+1234567", 0).is_none());
        assert!(OtpIdPlain::new("+1000000000000000", 0).is_none());
        assert!(OtpIdPlain::new("905321234567", 0).is_none());
    }

    #[test]
    fn when_many_ids_are_drawn_should_never_look_like_a_legacy_one() {
        let c = cipher(2);
        let mut redraws = 0;
        for _ in 0..4096 {
            let plain = OtpIdPlain::new("+5491123456789", 1_790_000_000_000).unwrap();
            let id = seal(&c, plain.pack(), |_| {
                redraws += 1;
                OtpIdPlain { random: random_bits(RANDOM_BITS), ..plain }.pack()
            });
            assert!(!is_legacy(&id));
        }
        // 1 in 64 looks like a v4 UUID: about 64 of 4096 are drawn again.
        assert!((20..=140).contains(&redraws), "{redraws}");
        assert!((0..1000).all(|_| is_legacy(uuid::Uuid::new_v4().as_bytes())));
    }

    #[test]
    fn when_a_confirmation_id_is_sealed_should_open_to_the_same_destinations_and_time() {
        let c = cipher(5);
        let now = 1_790_000_000_123;
        for (mobile, tag) in [
            (Some("+5491123456789"), None),
            (None, Some(0xab_cdef_0123)),
            (Some("+999999999999999"), Some((1 << EMAIL_TAG_BITS) - 1)),
            (Some("+10000000"), Some(0)),
        ] {
            let plain = CnfIdPlain::new(mobile, tag, now).unwrap();
            let id = seal(&c, plain.pack(), |_| plain.redrawn().pack());
            assert!(!is_legacy(&id));
            let opened = CnfIdPlain::unpack(c.decrypt(id)).unwrap();
            assert_eq!((opened.mobile().as_deref(), opened.email_tag), (mobile, tag));
            // Resolved within the hour the code may live, and across the 2^16 s wrap.
            assert_eq!(opened.created_ms(now), 1_790_000_000_000);
            assert_eq!(opened.created_ms(now + 3_600_000), 1_790_000_000_000);
            assert_eq!(opened.created_ms(1_790_000_000_000 + 65_535_000), 1_790_000_000_000);
        }
        assert!(CnfIdPlain::new(None, None, now).is_none(), "no destination");
        assert!(CnfIdPlain::new(None, Some(1 << EMAIL_TAG_BITS), now).is_none(), "tag too wide");
        assert!(CnfIdPlain::new(Some("+1234567"), None, now).is_none(), "number too short");
    }

    #[test]
    fn when_a_plaintext_is_not_family_b_should_not_unpack() {
        let plain = CnfIdPlain::new(Some("+5491123456789"), Some(7), 0).unwrap();
        let packed = plain.pack();
        assert!(CnfIdPlain::unpack(packed ^ (1 << 127)).is_none(), "layout");
        assert!(CnfIdPlain::unpack(packed & !(0b11 << CNF_FLAGS_SHIFT)).is_none(), "no channel");
        let mobile_only = packed & !(CNF_EMAIL_FLAG << CNF_FLAGS_SHIFT);
        assert!(CnfIdPlain::unpack(mobile_only).is_none(), "a tag without the e-mail flag");
        let email_only = CnfIdPlain::new(None, Some(7), 0).unwrap().pack();
        assert!(CnfIdPlain::unpack(email_only | (1 << CNF_MOBILE_SHIFT)).is_none(), "digits without the flag");
        assert!(CnfIdPlain::unpack(OtpIdPlain::new("+5491123456789", 0).unwrap().pack()).is_none(), "family C's");
        assert!(OtpIdPlain::unpack(packed).is_none());
    }

    #[test]
    fn when_an_id_is_opened_with_another_key_should_rarely_have_the_layout() {
        let (mine, other) = (cipher(3), cipher(4));
        let plain = OtpIdPlain::new("+34612345678", 1_790_000_000_000).unwrap();
        let foreign = (0..2000)
            .filter(|_| {
                let p = OtpIdPlain { random: random_bits(RANDOM_BITS), ..plain };
                OtpIdPlain::unpack(other.decrypt(mine.encrypt(p.pack()))).is_some()
            })
            .count();
        // The layout byte alone passes 1 in 256, the number's range about half of those.
        assert!(foreign <= 25, "{foreign}");
    }
}

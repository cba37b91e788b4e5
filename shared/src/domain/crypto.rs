//! Keyed hashes of codes at rest, and sealing of codes that wait for an asynchronous sender.
//!
//! Each key version holds one master secret; the HMAC key and the AEAD key are derived from it
//! with distinct labels, so one secret per version is all a deployment manages. Every stored
//! hash and ciphertext carries the version that made it, so keys can be rotated: new codes use
//! the current version while codes made under an older one stay verifiable until they expire.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::domain::ids::IdCipher;

type HmacSha256 = Hmac<Sha256>;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("OTP_KEYS is empty: expected `version:secret[,version:secret...]`")]
    Empty,
    #[error("OTP_KEYS entry {0} is not `version:secret` with a numeric version")]
    Malformed(usize),
    #[error("OTP_KEYS secret of version {0} is shorter than 32 characters")]
    TooShort(u32),
    #[error("OTP_KEYS names version {0} twice")]
    Duplicate(u32),
    #[error("OTP_KEYS names more than {MAX_KEY_VERSIONS} versions (a rotation needs two)")]
    TooMany,
}

/// The most key versions `OTP_KEYS` may hold at once: a verification compares the code's
/// keyed hash under each (`attempts::AcceptCondition`), and a rotation needs two.
pub const MAX_KEY_VERSIONS: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed value names unknown key version {0}")]
    UnknownKey(u32),
    #[error("sealed value is malformed or was tampered with")]
    Invalid,
}

struct KeyPair {
    hash: [u8; 32],
    seal: Aes256Gcm,
    /// The master secret, for keys derived on first use (`id`): start-up derives only the
    /// two every function needs.
    secret: Box<[u8]>,
    id: std::sync::OnceLock<IdCipher>,
    user_id: std::sync::OnceLock<[u8; 32]>,
    /// Keyed tags of family B's e-mail addresses (`email_tag`), keyed once, cloned per use.
    tag: std::sync::OnceLock<HmacSha256>,
}

/// Every key version the service knows, and which one makes new hashes and ciphertexts.
pub struct KeyRing {
    current: u32,
    keys: BTreeMap<u32, KeyPair>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn derive(master: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes a key of any length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl KeyRing {
    /// Parses `version:secret[,version:secret...]`; the first entry is the current key.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        let mut current = None;
        for (index, entry) in spec.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let (version, secret) = entry.split_once(':').ok_or(KeyError::Malformed(index + 1))?;
            let version: u32 = version.trim().parse().map_err(|_| KeyError::Malformed(index + 1))?;
            if secret.len() < 32 {
                return Err(KeyError::TooShort(version));
            }
            let seal_key = derive(secret.as_bytes(), b"otp-seal-v1");
            let pair = KeyPair {
                hash: derive(secret.as_bytes(), b"otp-hash-v1"),
                seal: Aes256Gcm::new_from_slice(&seal_key).expect("32-byte key"),
                secret: secret.as_bytes().into(),
                id: std::sync::OnceLock::new(),
                user_id: std::sync::OnceLock::new(),
                tag: std::sync::OnceLock::new(),
            };
            if keys.insert(version, pair).is_some() {
                return Err(KeyError::Duplicate(version));
            }
            current.get_or_insert(version);
        }
        if keys.len() > MAX_KEY_VERSIONS {
            return Err(KeyError::TooMany);
        }
        Ok(Self { current: current.ok_or(KeyError::Empty)?, keys })
    }

    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// Every active version, the current one first (the likeliest to have made a new id).
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::once(self.current).chain(self.keys.keys().copied().filter(|v| *v != self.current))
    }

    /// The block cipher of opaque ids (`ids`) of a version, derived on first use.
    pub fn id_cipher(&self, version: u32) -> Option<&IdCipher> {
        let key = self.keys.get(&version)?;
        Some(key.id.get_or_init(|| IdCipher::new(&derive(&key.secret, b"otp-id-v1"))))
    }

    /// Family A's `UserID` of an address under a version: a UUID (version 8) made of a keyed
    /// hash of the address, so a confirmation names the user it confirms without reading it.
    /// Its key is derived on first use.
    pub fn user_id(&self, version: u32, address: &str) -> Option<uuid::Uuid> {
        let key = self.keys.get(&version)?;
        let key = key.user_id.get_or_init(|| derive(&key.secret, b"user-id-v1"));
        let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(address.as_bytes());
        let digest: [u8; 32] = mac.finalize().into_bytes().into();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Some(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// A 40-bit keyed tag of a normalised e-mail address (`ids::CnfIdPlain`), under the key of
    /// a version derived on first use: the e-mail's failure lock is keyed by it, so a
    /// verification finds the lock from the id alone, and the address never appears in a key.
    /// Tags change with the key version: for one code lifetime (at most an hour) after a
    /// rotation, codes of one address made under the old and the new version count failures
    /// in two locks. `None` when the version is unknown.
    pub fn email_tag(&self, version: u32, address: &str) -> Option<u64> {
        let key = self.keys.get(&version)?;
        let mut mac = key
            .tag
            .get_or_init(|| {
                let tag_key = derive(&key.secret, b"cnf-email-tag-v1");
                <HmacSha256 as Mac>::new_from_slice(&tag_key).expect("HMAC takes a key of any length")
            })
            .clone();
        mac.update(address.as_bytes());
        let digest = mac.finalize().into_bytes();
        Some(digest[..5].iter().fold(0u64, |tag, byte| tag << 8 | u64::from(*byte)))
    }

    /// HMAC-SHA-256 of the code, bound to its purpose and id so a hash cannot be replayed
    /// for another code. `None` when the version is unknown (a retired key).
    pub fn hash(&self, version: u32, purpose: &str, id: &str, code: &str) -> Option<[u8; 32]> {
        let key = self.keys.get(&version)?;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key.hash).expect("HMAC takes a key of any length");
        for part in [purpose, id, code] {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Some(mac.finalize().into_bytes().into())
    }

    /// Compares a submitted code with a stored hash in constant time.
    pub fn matches(&self, version: u32, purpose: &str, id: &str, code: &str, stored: &[u8]) -> bool {
        match self.hash(version, purpose, id, code) {
            Some(candidate) => bool::from(candidate.as_slice().ct_eq(stored)),
            None => false,
        }
    }

    /// `version(4, big endian) || nonce(12) || AES-256-GCM(plaintext)`, with `aad` bound in.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.try_fill_bytes(&mut nonce).expect("the OS random source is available");
        let aad = Self::bind_version(self.current, aad);
        let ciphertext = key
            .seal
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut out = Vec::with_capacity(4 + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 4 + NONCE_LEN + 16 {
            return Err(SealError::Invalid);
        }
        let version = u32::from_be_bytes(sealed[..4].try_into().map_err(|_| SealError::Invalid)?);
        let key = self.keys.get(&version).ok_or(SealError::UnknownKey(version))?;
        let nonce = Nonce::from_slice(&sealed[4..4 + NONCE_LEN]);
        let aad = Self::bind_version(version, aad);
        key.seal.decrypt(nonce, Payload { msg: &sealed[4 + NONCE_LEN..], aad: &aad }).map_err(|_| SealError::Invalid)
    }

    fn bind_version(version: u32, aad: &[u8]) -> Vec<u8> {
        let mut bound = version.to_be_bytes().to_vec();
        bound.extend_from_slice(aad);
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "1:0123456789abcdef0123456789abcdef";
    const K2: &str = "2:fedcba9876543210fedcba9876543210";

    #[test]
    fn when_an_address_is_tagged_should_fit_40_bits_and_depend_on_address_and_version() {
        let ring = KeyRing::parse(&format!("{K1},{K2}")).unwrap();
        let tag = ring.email_tag(1, "ana@example.com").unwrap();
        assert!(tag < 1 << 40);
        assert_eq!(ring.email_tag(1, "ana@example.com"), Some(tag), "stable");
        assert_ne!(ring.email_tag(1, "ana@example.org"), Some(tag));
        assert_ne!(ring.email_tag(2, "ana@example.com"), Some(tag), "a rotation changes the tags");
        assert_eq!(ring.email_tag(3, "ana@example.com"), None);
        // All 40 bits are the keyed hash's first 5 bytes, big endian.
        let key = derive(b"0123456789abcdef0123456789abcdef", b"cnf-email-tag-v1");
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).unwrap();
        mac.update(b"ana@example.com");
        let digest = mac.finalize().into_bytes();
        assert_eq!(tag, u64::from_be_bytes([0, 0, 0, digest[0], digest[1], digest[2], digest[3], digest[4]]));
    }

    #[test]
    fn when_keys_are_malformed_should_say_what_is_wrong() {
        assert_eq!(KeyRing::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(KeyRing::parse("abc").unwrap_err(), KeyError::Malformed(1));
        assert_eq!(KeyRing::parse("x:0123456789abcdef0123456789abcdef").unwrap_err(), KeyError::Malformed(1));
        assert_eq!(KeyRing::parse("1:short").unwrap_err(), KeyError::TooShort(1));
        assert_eq!(KeyRing::parse(&format!("{K1},{K1}")).unwrap_err(), KeyError::Duplicate(1));
        let versions = |n: u32| (1..=n).map(|v| format!("{v}:0123456789abcdef0123456789abcdef")).collect::<Vec<_>>();
        assert!(KeyRing::parse(&versions(4).join(",")).is_ok());
        assert_eq!(KeyRing::parse(&versions(5).join(",")).unwrap_err(), KeyError::TooMany);
    }

    #[test]
    fn when_code_is_hashed_should_match_only_the_same_code_id_and_purpose() {
        let ring = KeyRing::parse(K1).unwrap();
        let h = ring.hash(1, "2fa", "id-1", "123456").unwrap();
        assert!(ring.matches(1, "2fa", "id-1", "123456", &h));
        assert!(!ring.matches(1, "2fa", "id-1", "123457", &h));
        assert!(!ring.matches(1, "2fa", "id-2", "123456", &h));
        assert!(!ring.matches(1, "signup", "id-1", "123456", &h));
        assert!(!ring.matches(9, "2fa", "id-1", "123456", &h));
        assert!(!ring.matches(1, "2fa", "id-1", "123456", &h[..31]));
    }

    #[test]
    fn when_key_is_rotated_should_verify_old_hashes_and_hash_new_ones_with_new_key() {
        let old = KeyRing::parse(K1).unwrap();
        let h = old.hash(1, "2fa", "id", "0000").unwrap();
        let rotated = KeyRing::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.current_version(), 2);
        assert!(rotated.matches(1, "2fa", "id", "0000", &h));
        assert_ne!(rotated.hash(2, "2fa", "id", "0000").unwrap(), h);
        let sealed = old.seal(b"code", b"item");
        assert_eq!(rotated.open(&sealed, b"item").unwrap(), b"code");
    }

    #[test]
    fn when_sealed_value_is_tampered_or_moved_should_not_open() {
        let ring = KeyRing::parse(K1).unwrap();
        let sealed = ring.seal(b"123456", b"OTP#a");
        assert_eq!(ring.open(&sealed, b"OTP#a").unwrap(), b"123456");
        assert_eq!(ring.open(&sealed, b"OTP#b").unwrap_err(), SealError::Invalid);
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(&flipped, b"OTP#a").unwrap_err(), SealError::Invalid);
        assert_eq!(ring.open(&sealed[..10], b"OTP#a").unwrap_err(), SealError::Invalid);
        // The shortest sealed value (version, nonce, tag: an empty plaintext) still opens; one
        // byte less is refused before decrypting.
        let empty = ring.seal(b"", b"OTP#a");
        assert_eq!((empty.len(), ring.open(&empty, b"OTP#a")), (4 + NONCE_LEN + 16, Ok(Vec::new())));
        assert_eq!(ring.open(&empty[..empty.len() - 1], b"OTP#a").unwrap_err(), SealError::Invalid);
        assert_ne!(ring.seal(b"123456", b"OTP#a"), sealed, "nonce must be fresh");
    }

    #[test]
    fn when_a_user_id_is_derived_should_be_a_v8_uuid_of_the_address_and_version() {
        let ring = KeyRing::parse(&format!("{K2},{K1}")).unwrap();
        let id = ring.user_id(2, "a@b.co").unwrap();
        assert_eq!(id.get_version_num(), 8);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(ring.user_id(2, "a@b.co"), Some(id), "stable");
        assert_ne!(ring.user_id(2, "b@b.co"), Some(id));
        assert_ne!(ring.user_id(1, "a@b.co"), Some(id), "each version its own");
        assert_eq!(ring.user_id(3, "a@b.co"), None);
    }

    #[test]
    fn when_an_id_cipher_is_asked_for_should_be_each_versions_own_and_none_for_an_unknown_one() {
        let ring = KeyRing::parse(&format!("{K2},{K1}")).unwrap();
        let (one, two) = (ring.id_cipher(1).unwrap(), ring.id_cipher(2).unwrap());
        let plain = 0xc1_u128 << 120 | 42;
        assert_eq!(one.decrypt(one.encrypt(plain)), plain);
        assert_ne!(one.encrypt(plain), two.encrypt(plain), "each version its own key");
        assert_ne!(
            one.encrypt(plain),
            IdCipher::new(&derive(b"0123456789abcdef0123456789abcdef", b"otp-hash-v1")).encrypt(plain)
        );
        assert_eq!(
            one.encrypt(plain),
            IdCipher::new(&derive(b"0123456789abcdef0123456789abcdef", b"otp-id-v1")).encrypt(plain),
            "derived with its own label"
        );
        assert!(ring.id_cipher(3).is_none());
    }

    #[test]
    fn when_key_ring_is_debug_printed_should_not_show_secrets() {
        let ring = KeyRing::parse(&format!("{K2},{K1}")).unwrap();
        let printed = format!("{ring:?}");
        assert!(!printed.contains("0123456789abcdef") && !printed.contains("fedcba9876543210"));
        // What an operator needs instead: which version is current and which are active.
        assert_eq!(printed, "KeyRing { current: 2, versions: [1, 2] }");
    }
}

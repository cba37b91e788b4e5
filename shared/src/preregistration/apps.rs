//! The applications allowed to ask for codes, and the encryption of their answers.
//!
//! `CNF_APPLICATIONS` lists them: `id` (answers in plain `response`) or `id:ENV_VAR` (answers
//! as `encryptedData`, AES-256-GCM with the key in that variable: base64 of 32 bytes).

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use rand::TryRngCore;
use rand::rngs::OsRng;

pub struct Application {
    pub id: String,
    key: Option<Aes256Gcm>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("id", &self.id).field("encrypted", &self.key.is_some()).finish()
    }
}

impl Application {
    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    /// base64 of `nonce(12) || ciphertext || tag(16)`, a fresh random nonce each time;
    /// `None` for an application without a key.
    pub fn encrypt(&self, plaintext: &[u8]) -> Option<String> {
        let key = self.key.as_ref()?;
        let mut nonce = [0u8; 12];
        OsRng.try_fill_bytes(&mut nonce).expect("the OS random source is available");
        let ciphertext =
            key.encrypt(Nonce::from_slice(&nonce), plaintext).expect("AES-GCM encryption of a short message");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Some(STANDARD.encode(out))
    }
}

/// Keys are read leniently about the last character's unused bits: a deployed key is 43
/// random letters and digits plus "=" (what Secrets Manager can generate), whose last letter
/// often carries such bits. Python's and .NET's decoders ignore them as well.
const KEY_DECODER: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));

/// The public local key of `local/local.env`: refused unless `ALLOW_LOCAL_SECRETS=true`.
pub const LOCAL_DEMO_KEY: &str = "bG9jYWwtZGVtby1rZXktMzItYnl0ZXMtbG9uZyEhISE=";

#[derive(Debug, Default)]
pub struct Applications(BTreeMap<String, Application>);

impl Applications {
    pub fn get(&self, id: &str) -> Option<&Application> {
        self.0.get(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// `refuse_local_key`: the public local key is refused (everywhere but local runs).
    pub fn parse(spec: &str, get: &impl Fn(&str) -> Option<String>, refuse_local_key: bool) -> Result<Self, String> {
        let mut apps = BTreeMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, key) = match entry.split_once(':') {
                None => (entry.to_string(), None),
                Some((id, variable)) => {
                    let encoded =
                        get(variable).ok_or_else(|| format!("application {id}: variable {variable} is not set"))?;
                    if refuse_local_key && encoded.trim() == LOCAL_DEMO_KEY {
                        return Err(format!("application {id}: {variable} is the public local key"));
                    }
                    let bytes = KEY_DECODER
                        .decode(encoded.trim())
                        .map_err(|_| format!("application {id}: {variable} is not base64"))?;
                    let key = Aes256Gcm::new_from_slice(&bytes)
                        .map_err(|_| format!("application {id}: {variable} must hold 32 bytes"))?;
                    (id.to_string(), Some(key))
                }
            };
            apps.insert(id.clone(), Application { id, key });
        }
        Ok(Self(apps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn when_key_is_configured_should_encrypt_with_a_fresh_nonce_that_the_client_can_open() {
        let apps = Applications::parse(
            "demo, demo-encrypted:APP_KEY",
            &|name: &str| (name == "APP_KEY").then(|| KEY.to_string()),
            false,
        )
        .unwrap();
        assert!(!apps.get("demo").unwrap().encrypts());
        assert_eq!(apps.get("demo").unwrap().encrypt(b"x"), None);
        let app = apps.get("demo-encrypted").unwrap();
        let sealed = STANDARD.decode(app.encrypt(b"{\"a\":1}").unwrap()).unwrap();
        assert_ne!(app.encrypt(b"{\"a\":1}"), app.encrypt(b"{\"a\":1}"));
        let client = Aes256Gcm::new_from_slice(&STANDARD.decode(KEY).unwrap()).unwrap();
        let plain = client.decrypt(Nonce::from_slice(&sealed[..12]), &sealed[12..]).unwrap();
        assert_eq!(plain, b"{\"a\":1}");
        assert!(apps.get("other").is_none());
    }

    #[test]
    fn when_key_is_missing_or_wrong_should_refuse_to_start() {
        let none = |_: &str| None;
        assert!(Applications::parse("a:MISSING", &none, false).unwrap_err().contains("MISSING"));
        let short = |_: &str| Some("AAEC".to_string());
        assert!(Applications::parse("a:K", &short, false).unwrap_err().contains("32 bytes"));
        let local = |_: &str| Some(LOCAL_DEMO_KEY.to_string());
        assert!(Applications::parse("a:K", &local, false).is_ok());
        assert!(Applications::parse("a:K", &local, true).unwrap_err().contains("public local key"));
    }

    #[test]
    fn when_key_is_generated_by_secrets_manager_should_decode_whatever_its_last_letter() {
        // 43 letters and digits + "=": the last letter's two low bits are often set.
        for last in ['B', 'z', '9', 'A'] {
            let generated = format!("{}{last}=", "Qw3rTy7uIoP1aSdFgHjKlZxCvBnM2q4W6e8R0t5Y3u");
            let get = |_: &str| Some(generated.clone());
            assert!(Applications::parse("a:K", &get, true).is_ok(), "{generated}");
        }
    }
}

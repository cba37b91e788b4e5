//! The applications allowed to ask for codes, and the encryption of their answers.
//!
//! `CNF_APPLICATIONS` lists them: `id` (answers in plain `response`) or `id:ENV_VAR` (answers
//! as `encryptedData`, AES-256-GCM with the key in that variable: base64 of 32 bytes).

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
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

#[derive(Debug, Default)]
pub struct Applications(BTreeMap<String, Application>);

impl Applications {
    pub fn get(&self, id: &str) -> Option<&Application> {
        self.0.get(id)
    }

    pub fn parse(spec: &str, get: &impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut apps = BTreeMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, key) = match entry.split_once(':') {
                None => (entry.to_string(), None),
                Some((id, variable)) => {
                    let encoded =
                        get(variable).ok_or_else(|| format!("application {id}: variable {variable} is not set"))?;
                    let bytes = STANDARD
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
        let apps = Applications::parse("demo, demo-encrypted:APP_KEY", &|name: &str| {
            (name == "APP_KEY").then(|| KEY.to_string())
        })
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
        assert!(Applications::parse("a:MISSING", &none).unwrap_err().contains("MISSING"));
        let short = |_: &str| Some("AAEC".to_string());
        assert!(Applications::parse("a:K", &short).unwrap_err().contains("32 bytes"));
    }
}

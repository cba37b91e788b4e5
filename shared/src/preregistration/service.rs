//! Family B operations: generate a code (SMS and/or e-mail), validate it.

use std::sync::Arc;

use aws_config::SdkConfig;
use serde_json::json;
use uuid::Uuid;

use super::PreregistrationConfig;
use super::apps::Application;
use super::channels::{self, CodeChannel};
use super::model_binding::model_error;
use super::request::GenerateRequest;
use super::response::{Channel, GenerateResponse, ValidateResponse};
use super::store::{NewCode, PreregistrationStore};
use super::{Language, PURPOSE, texts};
use crate::aws::ses::{Email, EmailSender};
use crate::aws::sns::{SYNC_ATTEMPTS, SmsSender, send_patiently};
use crate::config::ConfigError;
use crate::config::test_destinations::{TestDestinations, TestUse};
use crate::domain::caller::Caller;
use crate::domain::clock::Clock;
use crate::domain::email::EmailAddress;
use crate::domain::ids::{self, CnfIdPlain};
use crate::domain::phone::{self, Phone, PhoneError};
use crate::domain::{codes, mask};
use crate::edge::Failure;
use crate::ops::startup::Seams;
use crate::store::dynamo::{Sending, Window};
use crate::store::guards::Guard;
use crate::store::idempotency::Idempotency;
use crate::store::schema::{CODE_TEST_PREFIX, WindowKind, email_tag_subject};

use super::CODE_LENGTH;
/// Ids drawn before a generate answers busy: a taken id (12 random bits per number and second
/// in the opaque id) is rare, and each retry means one lost; three make a refusal negligible.
const GENERATE_ATTEMPTS: usize = 3;
/// Sender id of family B's SMS.
const SMS_SENDER_ID: &str = "VERIFY";

/// What a generate decided before drawing a code (`Preregistration::prepare`).
struct Prepared<'a> {
    language: Language,
    phone: Option<Phone>,
    email: Option<EmailAddress>,
    /// The e-mail address's keyed tag: the confirmation id carries it, and it keys the lock.
    email_tag: Option<u64>,
    windows: Vec<Window>,
    guards: Vec<Guard>,
    locks: Vec<Guard>,
    audit: String,
    /// The test destinations the number is one of: its code is theirs, nothing is sent.
    test: Option<&'a TestDestinations>,
    /// Past its `dailyUses` today (counted again without the limit).
    over_test_limit: bool,
}

/// One drawn code: as stored, as answered, and its codes (`Preregistration::draft`).
struct Draft {
    new: NewCode,
    payload: GenerateResponse,
    code: String,
    /// The e-mail's own code, when the code goes by both channels.
    email_code: Option<String>,
}

/// How the code's transaction ended.
enum Stored {
    Written,
    /// Its id is taken: draw a new one.
    IdTaken,
    /// The request's answer: a refusal, or the first answer of a reused key.
    Answered(Result<Sent, Failure>),
    /// A test number's uses today are past its `dailyUses`: count it anyway.
    OverTestLimit,
}

/// The request's audit fields, stored with the code as the legacy service kept them.
fn audit_json(request: &GenerateRequest) -> String {
    json!({
        "userTypeAltId": request.user_type_alt_id,
        "auditInfo": request.audit_info.as_ref().map(|a| json!({
            "ipAddress": a.ip_address, "latitude": a.latitude, "longitude": a.longitude, "countryCode": a.country_code,
        })),
        "recoveryId": request.recovery_id,
        "userRegistrationId": request.user_registration_id,
        "applicationVersion": request.application_version,
        "applicationOS": request.application_os,
        "deviceId": request.device_id,
        "deviceAltId": request.device_alt_id,
        "ipAddress": request.ip_address,
        "latitude": request.latitude,
        "longitude": request.longitude,
        "additionalParameters": request.additional_parameters,
    })
    .to_string()
}

pub struct Preregistration {
    pub config: Arc<PreregistrationConfig>,
    pub store: PreregistrationStore,
    pub sms: Arc<dyn SmsSender>,
    pub email: Arc<dyn EmailSender>,
    pub clock: Arc<dyn Clock>,
    /// Where the handlers' metric lines go (stdout in a Lambda).
    pub metrics: crate::ops::metrics::Metrics,
}

/// A code sent: the answer, and where it went (for the handler's metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub payload: GenerateResponse,
    /// The SMS destination's country, when the code went by SMS.
    pub sms_country: Option<crate::ops::metrics::Country>,
    pub by_sms: bool,
    pub by_email: bool,
    /// For a test number: nothing was sent, and whether it is past its daily uses.
    pub test_use: Option<TestUse>,
}

/// A code validated: the answer, and the country of the SMS it was sent by, if any (the
/// conversion of SMS codes is watched by country).
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub payload: ValidateResponse,
    /// The SMS destination's country, when the SMS's own code was the one validated (SMS
    /// conversion is credited only on that proof).
    pub sms_country: Option<crate::ops::metrics::Country>,
    pub channel: CodeChannel,
    /// A test number's code (no conversion credited).
    pub test: bool,
}

fn invalid(field: &str, message: String) -> Failure {
    Failure::Invalid(model_error(format!("request.{field}"), message))
}

/// `+54 9 11 2345-6789` -> `+54 9 ** ****-**89`: the country code, the first digit and the
/// last two stay readable.
pub fn mask_mobile(e164: &str) -> String {
    let formatted = phone::format_international(e164);
    let (country, rest) = formatted.split_once(' ').unwrap_or(("", &formatted));
    let total = rest.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    let masked: String = rest
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen == 1 || seen > total.saturating_sub(2) { c } else { '*' }
        })
        .collect();
    if country.is_empty() { masked } else { format!("{country} {masked}") }
}

/// The request's destinations, normalised: (mobile, e-mail). A test number of `application`
/// is taken as configured (no SMS goes to it: no allowlist applies).
pub(super) fn destinations(
    config: &PreregistrationConfig,
    application: &str,
    now_ms: u64,
    (prefix, mobile, email): (&Option<String>, &Option<String>, &Option<String>),
) -> Result<(Option<Phone>, Option<EmailAddress>), Failure> {
    let mobile = match mobile.as_deref().filter(|m| !m.is_empty()) {
        None => None,
        Some(number) => {
            let full = format!("+{}{number}", prefix.as_deref().unwrap_or_default());
            // (Read twice only where the application has test numbers.)
            let tests = config.test_destinations.get(application);
            let listed = tests.and_then(|test| Phone::listed(&full, |e164| test.has_number(e164, now_ms)));
            let parsed = listed
                .map(Ok)
                .unwrap_or_else(|| Phone::parse_for_sms(&full, &config.sms_allowed_countries))
                .map_err(|e| {
                invalid(
                    "mobileNumber",
                    match e {
                        PhoneError::CountryNotAllowed(region) => {
                            format!("SMS cannot be sent to numbers of {region}.")
                        }
                        _ => {
                            "The fields internationalPrefix and mobileNumber do not form a valid mobile number.".into()
                        }
                    },
                )
            })?;
            Some(parsed)
        }
    };
    let email = match email.as_deref().filter(|e| !e.is_empty()) {
        None => None,
        Some(address) => Some(
            EmailAddress::parse(address)
                .map_err(|_| invalid("emailAddress", "The field emailAddress is not a valid e-mail address.".into()))?,
        ),
    };
    Ok((mobile, email))
}

impl Preregistration {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = PreregistrationConfig::from_env()?;
        Ok(Self::new(config, &crate::aws::sdk_config().await, Seams::default()))
    }

    /// The one way a family B app is built (functions, local server, tests, benches).
    pub fn new(config: PreregistrationConfig, sdk: &SdkConfig, seams: Seams) -> Self {
        let common = &config.common;
        Self {
            store: PreregistrationStore::new(crate::aws::dynamodb(sdk), common.table_name.clone()),
            sms: seams.sms(sdk, &common.guards.sms_max_price_usd),
            email: seams.email(sdk, &config.email_from),
            clock: seams.clock(),
            metrics: seams.metrics(&common.metrics_namespace),
            config: Arc::new(config),
        }
    }

    pub fn application(&self, id: &str) -> Result<&Application, Failure> {
        self.config.applications.get(id).ok_or(Failure::UnknownApplication)
    }

    /// The failure locks of a code's destinations: the mobile number's, and the e-mail
    /// address's, keyed by its tag (`crypto::KeyRing::email_tag`), as a confirmation id
    /// carries them.
    pub(super) fn locks(&self, mobile: Option<&str>, email_tag: Option<u64>) -> Vec<Guard> {
        let lock = &self.config.common.failure_lock;
        let email = email_tag.map(email_tag_subject);
        mobile
            .into_iter()
            .chain(email.as_deref())
            .map(|subject| self.store.failure_lock(subject, lock.limit, lock.window_ms()))
            .collect()
    }

    /// An opaque id (`ids`) for a code sent now, and its plaintext.
    fn new_id(&self, mobile: Option<&str>, email_tag: Option<u64>, now: u64) -> Result<(Uuid, [u8; 16]), Failure> {
        let keys = &self.config.common.keys;
        let cipher = keys.id_cipher(keys.current_version()).ok_or(Failure::Internal)?;
        let mut plain = CnfIdPlain::new(mobile, email_tag, now).ok_or(Failure::Internal)?;
        let id = ids::seal(cipher, plain.pack(), |_| {
            plain = plain.redrawn();
            plain.pack()
        });
        Ok((Uuid::from_bytes(id), plain.pack().to_be_bytes()))
    }

    /// `caller`: the source address API Gateway saw, when there is one (see `guards`).
    /// `idempotency`: the request's `Idempotency-Key`, if any (see `idempotency`).
    #[tracing::instrument(name = "preregistration_generate", skip_all, fields(application = %request.application_id))]
    pub async fn generate(
        &self,
        request: GenerateRequest,
        caller: Option<&Caller>,
        idempotency: Option<&Idempotency>,
    ) -> Result<Sent, Failure> {
        let mut send = self.prepare(&request, caller)?;
        for _ in 0..GENERATE_ATTEMPTS {
            let now = self.clock.now_ms();
            let draft = self.draft(&request, &send, now)?;
            match self.store_code(&send, &draft, idempotency, now).await? {
                Stored::Written => {}
                Stored::IdTaken => continue,
                Stored::Answered(answer) => return answer,
                Stored::OverTestLimit => {
                    send.over_test_limit = true;
                    send.guards = send.guards.iter().map(|uses| uses.with_max(u32::MAX)).collect();
                    continue;
                }
            }
            if send.test.is_some() {
                let over_limit = send.over_test_limit;
                tracing::warn!(code_id = %draft.new.id, over_limit, "test destination: confirmation code stored, nothing sent");
                let test_use = Some(if over_limit { TestUse::OverDailyUses } else { TestUse::Within });
                let sms_country = send.phone.as_ref().and_then(|p| crate::ops::metrics::Country::new(p.region()));
                return Ok(Sent { payload: draft.payload, sms_country, by_sms: false, by_email: false, test_use });
            }
            if let Err(err) = self.deliver(&draft.new, &draft.code, draft.email_code.as_deref(), send.language).await {
                if let Some(idempotency) = idempotency {
                    self.store.key_failed(idempotency).await?;
                }
                return Err(err);
            }
            let channels: Vec<&str> = draft.payload.channels.iter().map(|c| c.name()).collect();
            tracing::info!(code_id = %draft.new.id, channels = ?channels, "confirmation code sent");
            return Ok(Sent {
                payload: draft.payload,
                sms_country: send.phone.as_ref().and_then(|p| crate::ops::metrics::Country::new(p.region())),
                by_sms: send.phone.is_some(),
                by_email: send.email.is_some(),
                test_use: None,
            });
        }
        Err(Failure::Busy)
    }

    /// Everything a generate decides before drawing a code: the application, the language,
    /// the destinations, the counters its transaction checks and the audit record.
    fn prepare(&self, request: &GenerateRequest, caller: Option<&Caller>) -> Result<Prepared<'_>, Failure> {
        let config = &self.config;
        self.application(&request.application_id)?;
        let language = Language::pick(request.language.as_deref());
        let now = self.clock.now_ms();
        let fields = (&request.international_prefix, &request.mobile_number, &request.email_address);
        let (phone, email) = destinations(config, &request.application_id, now, fields)?;
        let test = phone.as_ref().and_then(|p| config.test_number(&request.application_id, p.as_str(), now));
        if test.is_some() && email.is_some() {
            return Err(invalid("emailAddress", "A test number takes no e-mail address in the same request.".into()));
        }
        if let (Some(test), Some(phone)) = (test, &phone) {
            // Nothing is sent, so no window, ceiling, breaker or caller count holds it (its
            // failure lock and attempt limits still do); its uses today are counted.
            let table = self.store.table();
            let uses = Guard::test_uses(table, CODE_TEST_PREFIX, phone.as_str(), test.daily_uses);
            let locks = self.locks(Some(phone.as_str()), None);
            let audit = audit_json(request);
            let prepared = Prepared {
                language,
                phone: Some(phone.clone()),
                email: None,
                email_tag: None,
                windows: vec![],
                guards: vec![uses],
                locks,
                audit,
                test: Some(test),
                over_test_limit: false,
            };
            return Ok(prepared);
        }
        let targets: Vec<&str> =
            phone.iter().map(Phone::as_str).chain(email.iter().map(EmailAddress::as_str)).collect();
        let mut windows = Vec::new();
        for destination in &targets {
            windows.push(self.store.window(
                WindowKind::Rate,
                destination,
                config.send.limit,
                config.send.window_seconds * 1000,
            ));
            if config.send.resend_gap_seconds > 0 {
                windows.push(self.store.window(WindowKind::Gap, destination, 1, config.send.resend_gap_seconds * 1000));
            }
        }
        let table = self.store.table();
        let mut guards: Vec<Guard> = caller.map(|c| config.common.guards.caller_sends(table, c)).into_iter().collect();
        if let Some(phone) = &phone {
            let budget = crate::store::guards::Budget::Preregistration;
            guards.extend(config.common.guards.sms(table, budget, phone.as_str(), phone.region(), caller));
        }
        let keys = &config.common.keys;
        let email_tag = match &email {
            Some(address) => Some(keys.email_tag(keys.current_version(), address.as_str()).ok_or(Failure::Internal)?),
            None => None,
        };
        let locks = self.locks(phone.as_ref().map(Phone::as_str), email_tag);
        let audit = audit_json(request);
        Ok(Prepared {
            language,
            phone,
            email,
            email_tag,
            windows,
            guards,
            locks,
            audit,
            test: None,
            over_test_limit: false,
        })
    }

    /// A new code (one per channel when both are used, `channels`): as stored and as answered.
    fn draft(&self, request: &GenerateRequest, send: &Prepared<'_>, now: u64) -> Result<Draft, Failure> {
        let (config, keys) = (&self.config, &self.config.common.keys);
        let (phone, email) = (&send.phone, &send.email);
        let (id, id_plain) = self.new_id(phone.as_ref().map(Phone::as_str), send.email_tag, now)?;
        let id_text = id.to_string();
        let (code, email_code) = match (phone, email) {
            _ if send.test.is_some() => (send.test.map(|t| t.code().to_string()).unwrap_or_default(), None),
            (Some(_), Some(_)) => (
                channels::code_for(CodeChannel::Sms, &id_text, CODE_LENGTH),
                Some(channels::code_for(CodeChannel::Email, &id_text, CODE_LENGTH)),
            ),
            _ => (codes::numeric_code(CODE_LENGTH), None),
        };
        let hash = |code: &str| keys.hash(keys.current_version(), PURPOSE, &id_text, code);
        let new = NewCode {
            id,
            application: request.application_id.clone(),
            mobile: phone.as_ref().map(Phone::to_string),
            email: email.as_ref().map(EmailAddress::to_string),
            hash: hash(&code).ok_or(Failure::Internal)?,
            email_hash: match &email_code {
                Some(email_code) => Some(hash(email_code).ok_or(Failure::Internal)?),
                None => None,
            },
            key_version: keys.current_version(),
            language: send.language.code().to_string(),
            audit_json: send.audit.clone(),
            created_ms: now,
            expires_ms: now + config.send.code_ttl_seconds * 1000,
            max_attempts: config.common.max_verify_attempts,
            id_plain: Some(id_plain),
        };
        let mut channels = Vec::new();
        if phone.is_some() {
            channels.push(Channel::Sms);
        }
        if email.is_some() {
            channels.push(Channel::Email);
        }
        let payload = GenerateResponse {
            confirmation_id: id_text,
            channels,
            expires_in_seconds: config.send.code_ttl_seconds,
            resend_after_seconds: config.send.resend_gap_seconds,
            masked_mobile_number: phone.as_ref().map(|p| mask_mobile(p.as_str())),
            masked_email_address: email.as_ref().map(|e| mask::email(e.as_str())),
        };
        Ok(Draft { new, payload, code, email_code })
    }

    /// The code's one transaction: the code, the destinations' pointers, windows and locks,
    /// the guards and the key's record; a refusal is the request's answer.
    async fn store_code(
        &self,
        send: &Prepared<'_>,
        draft: &Draft,
        idempotency: Option<&Idempotency>,
        now: u64,
    ) -> Result<Stored, Failure> {
        let mut checks = Guard::plan(&send.guards, now)?;
        if let Some(idempotency) = idempotency {
            let answer = serde_json::to_value(&draft.payload).map_err(|_| Failure::Internal)?;
            checks.append(idempotency.plan(&answer, now)?);
        }
        let refused = match self.store.create(&draft.new, &send.windows, &send.locks, checks, now).await? {
            Sending::Written => return Ok(Stored::Written),
            Sending::Taken { .. } => return Ok(Stored::IdTaken),
            Sending::WindowFull => Failure::DestinationLimit,
            Sending::KeyTaken { item } => {
                let idempotency = idempotency.ok_or(Failure::KeyInFlight)?;
                let answer = idempotency.replayed(item.as_ref(), now)?;
                // A replay: nothing was delivered this time.
                let payload = serde_json::from_value(answer).map_err(|_| Failure::Internal);
                let sent = payload.map(|payload| Sent {
                    payload,
                    sms_country: None,
                    by_sms: false,
                    by_email: false,
                    test_use: None,
                });
                return Ok(Stored::Answered(sent));
            }
            Sending::Guarded { .. } if send.test.is_some() => return Ok(Stored::OverTestLimit),
            Sending::Guarded { guard, item } => {
                let refusal = send.guards[guard].refusal(item.as_ref(), now);
                tracing::warn!(rule = ?refusal.rule, "confirmation code refused: {refusal}");
                Failure::Refused(refusal)
            }
            Sending::Locked => Failure::TooManyAttempts,
        };
        Ok(Stored::Answered(Err(refused)))
    }

    /// The code to every channel (`email_code`: the e-mail's own, when both are used); if one
    /// refuses, the code is never usable.
    async fn deliver(
        &self,
        new: &NewCode,
        code: &str,
        email_code: Option<&str>,
        language: Language,
    ) -> Result<(), Failure> {
        let minutes = self.config.send.code_ttl_seconds / 60;
        let (sms, subject, text, html) = texts(language, code, minutes);
        // Folded into GSM-7, with the application's autofill lines (`sms_text`).
        let sms = match self.config.autofill.get(&new.application) {
            Some(autofill) => autofill.render(&sms, code),
            None => crate::domain::sms_text::fold(&sms),
        };
        // The e-mail's own code, when each channel has one: its texts made for it.
        let (email_code, subject, text, html) = match email_code {
            Some(email_code) => {
                let (_, subject, text, html) = texts(language, email_code, minutes);
                (email_code, subject, text, html)
            }
            None => (code, subject, text, html),
        };
        let mut failure = None;
        if let Some(mobile) = &new.mobile {
            let sent = send_patiently(&*self.sms, (mobile, sms.as_str(), SMS_SENDER_ID), SYNC_ATTEMPTS).await;
            if let Err(err) = sent {
                failure = Some(mask::redact(&err.message, mobile, code));
            }
        }
        if let (None, Some(address)) = (&failure, &new.email) {
            let email = Email { to: address.clone(), subject, text, html };
            if let Err(err) = self.email.send(&email).await {
                failure = Some(err.0.replace(address.as_str(), &mask::email(address)).replace(email_code, "[code]"));
            }
        }
        match failure {
            None => Ok(()),
            Some(error) => {
                tracing::error!(code_id = %new.id, error, "confirmation code delivery failed");
                self.store.mark_undelivered(new).await?;
                Err(Failure::DeliveryFailed)
            }
        }
    }

    /// A failed validation that touched no code still counts against the caller: `err`, or
    /// the caller's refusal once over its limit.
    pub(super) async fn failed(&self, err: Failure, gate: Option<&Guard>, now: u64) -> Failure {
        let Some(gate) = gate else { return err };
        match self.store.count_alone(gate, now).await {
            Ok(None) => err,
            Ok(Some(refusal)) => {
                tracing::warn!(rule = ?refusal.rule, "validation refused: {refusal}");
                Failure::Refused(refusal)
            }
            Err(store) => store.into(),
        }
    }
}

pub(super) fn refused(gate: Option<&Guard>, item: Option<crate::store::dynamo::Item>, now: u64) -> Failure {
    match gate {
        Some(gate) => {
            let refusal = gate.refusal(item.as_ref(), now);
            tracing::warn!(rule = ?refusal.rule, "validation refused: {refusal}");
            Failure::Refused(refusal)
        }
        None => Failure::TooManyAttempts,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn when_mobile_is_masked_should_keep_country_first_and_last_two_digits() {
        assert_eq!(super::mask_mobile("+5491123456789"), "+54 9 ** ****-**89");
        assert_eq!(super::mask_mobile("+905321234567"), "+90 5** *** ** 67");
    }
}

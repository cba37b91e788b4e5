//! Family A operations: send a confirmation code (creating the user), confirm it.

use std::sync::Arc;

use aws_config::SdkConfig;
use uuid::Uuid;

use super::PURPOSE;
use super::SignupConfig;
use super::model::{Attributes, CognitoUser, Settings, UserPool};
use super::request::SignupRequest;
use super::store::{NewCode, OutstandingCode, SendOutcome, SignupStore, User};
use crate::aws::ses::{Email, EmailSender};
use crate::config::ConfigError;
use crate::config::test_destinations::TestUse;
use crate::domain::caller::Caller;
use crate::domain::clock::Clock;
use crate::domain::email::{EmailAddress, html_escape};
use crate::domain::{codes, mask};
use crate::edge::Failure;
use crate::ops::startup::Seams;
use crate::store::dynamo::Plan;
use crate::store::guards::Guard;
use crate::store::idempotency::Idempotency;
use crate::store::schema::{SIGNUP_TEST_PREFIX, UserStatus, WindowKind};

pub(super) const CODE_LENGTH: usize = 6;
/// Sends tried before answering busy: one more for a user stored under another id, and the
/// rest for races with other requests on the same user (each retry means one lost).
const SEND_ATTEMPTS: usize = 5;

/// What a send or a confirmation answers: the user, and for a test address how its use
/// counted (nothing was sent; no caller count or conversion).
#[derive(Debug, Clone)]
pub struct Answered {
    pub user: User,
    pub test_use: Option<TestUse>,
}

pub struct Signup {
    pub config: Arc<SignupConfig>,
    pub store: SignupStore,
    pub email: Arc<dyn EmailSender>,
    pub clock: Arc<dyn Clock>,
    /// Where the handlers' metric lines go (stdout in a Lambda).
    pub metrics: crate::ops::metrics::Metrics,
}

/// "24 hours", "1 hour", "90 minutes".
fn validity(seconds: u64) -> String {
    match (seconds / 3600, seconds % 3600) {
        (1, 0) => "1 hour".to_string(),
        (hours, 0) => format!("{hours} hours"),
        _ if seconds / 60 == 1 => "1 minute".to_string(),
        _ => format!("{} minutes", seconds / 60),
    }
}

fn confirmation_email(to: &str, code: &str, ttl_seconds: u64) -> Email {
    let validity = validity(ttl_seconds);
    Email {
        to: to.to_string(),
        subject: "Your verification code".to_string(),
        text: format!(
            "Your confirmation code is {code}.\r\n\r\nIt is valid for {validity}. If you did not sign up, ignore this message."
        ),
        html: format!(
            "<!DOCTYPE html><html><body><p>Your confirmation code is <strong>{}</strong>.</p>\
             <p>It is valid for {validity}. If you did not sign up, ignore this message.</p></body></html>",
            html_escape(code)
        ),
    }
}

impl Signup {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = SignupConfig::from_env()?;
        Ok(Self::new(config, &crate::aws::sdk_config().await, Seams::default()))
    }

    /// The one way a family A app is built (functions, local server, tests, benches).
    pub fn new(config: SignupConfig, sdk: &SdkConfig, seams: Seams) -> Self {
        Self {
            store: SignupStore::new(crate::aws::dynamodb(sdk), config.common.table_name.clone()),
            email: seams.email(sdk, &config.email_from),
            clock: seams.clock(),
            metrics: seams.metrics(&config.common.metrics_namespace),
            config: Arc::new(config),
        }
    }

    pub fn user_view(&self, user: &User) -> CognitoUser {
        let pool =
            UserPool { pool_id: self.config.user_pool_id.clone(), client_id: self.config.user_pool_client_id.clone() };
        CognitoUser {
            session_tokens: None,
            device: None,
            user_id: user.user_id.clone(),
            username: user.email.clone(),
            client_id: pool.client_id.clone(),
            user_pool: pool,
            status: user.status.as_str().to_string(),
            attributes: Attributes {
                sub: user.user_id.clone(),
                email: user.email.clone(),
                email_verified: user.email_verified.to_string(),
            },
            settings: Settings {},
        }
    }

    /// The failure lock a send checks and a confirmation counts in: the address's own, or for
    /// a test address its domain's one lock (`*@<domain>`), so wrong guesses at the shared
    /// fixed code add up in one place however many test addresses they are spread over.
    pub(super) fn lock(&self, address: &str, test: bool) -> Guard {
        let lock = &self.config.common.failure_lock;
        let subject = match (test, address.rsplit_once('@')) {
            (true, Some((_, domain))) => format!("*@{domain}"),
            _ => address.to_string(),
        };
        self.store.failure_lock(&subject, lock.limit, lock.window_ms())
    }

    /// Send or confirm, as the request asks. `caller`: the source address API Gateway saw,
    /// when there is one (see `guards`).
    ///
    /// `idempotency`: the request's `Idempotency-Key`, if any: sends only (a confirmation is
    /// single use by itself).
    pub async fn handle(
        &self,
        request: SignupRequest,
        caller: Option<&Caller>,
        idempotency: Option<&Idempotency>,
    ) -> Result<Answered, Failure> {
        let raw = request.email_address.as_deref().unwrap_or_default();
        if raw.trim().is_empty() {
            return Err(Failure::invalid("EmailAddress is required."));
        }
        let address =
            EmailAddress::parse(raw).map_err(|_| Failure::invalid("EmailAddress is not a valid e-mail address."))?;
        match request.code() {
            None => self.send(&address, caller, idempotency).await,
            Some(code) => {
                if !(code.len() <= 10 && code.bytes().all(|b| b.is_ascii_digit())) {
                    return Err(Failure::invalid("ConfirmationCode must be digits only."));
                }
                let test = self.config.test_address(address.as_str(), self.clock.now_ms()).is_some();
                let user = self.confirm(&address, code, caller, test).await?;
                Ok(Answered { user, test_use: test.then_some(TestUse::Within) })
            }
        }
    }

    /// One transaction decides new user, resend or already confirmed, by conditions on the
    /// user item (no read first), then the e-mail.
    #[tracing::instrument(name = "signup_send", skip_all, fields(email = %crate::domain::mask::email(address.as_str())))]
    pub async fn send(
        &self,
        address: &EmailAddress,
        caller: Option<&Caller>,
        idempotency: Option<&Idempotency>,
    ) -> Result<Answered, Failure> {
        let address = address.as_str();
        let config = &self.config;
        let test = config.test_address(address, self.clock.now_ms());
        let mut windows =
            vec![self.store.window(WindowKind::Rate, address, config.send.limit, config.send.window_seconds * 1000)];
        if config.send.resend_gap_seconds > 0 {
            windows.push(self.store.window(WindowKind::Gap, address, 1, config.send.resend_gap_seconds * 1000));
        }
        let mut guard = caller.map(|c| config.common.guards.caller_sends(self.store.table(), c));
        if let Some(test) = test {
            // Nothing is sent: no window or caller count holds a test address (its failure
            // lock and attempt limits still do); its uses today are counted.
            windows.clear();
            // One count for the whole domain: its daily uses are what the alarm watches.
            let domain = address.rsplit_once('@').map_or(address, |(_, domain)| domain);
            guard = Some(Guard::test_uses(self.store.table(), SIGNUP_TEST_PREFIX, domain, test.daily_uses));
        }
        let mut over_test_limit = false;
        let lock = self.lock(address, test.is_some());
        let keys = &config.common.keys;
        let version = keys.current_version();
        // A new user's id; an unconfirmed user made before ids were derived keeps its own.
        let mut user_id = keys.user_id(version, address).ok_or(Failure::Internal)?.to_string();
        for _ in 0..SEND_ATTEMPTS {
            let now = self.clock.now_ms();
            let code = match test {
                Some(test) => test.code().to_string(),
                None => codes::numeric_code(CODE_LENGTH),
            };
            let outstanding = OutstandingCode {
                hash: keys.hash(version, PURPOSE, address, &code).ok_or(Failure::Internal)?.to_vec(),
                id: Uuid::new_v4().to_string(),
                key_version: version,
                binds_address: true,
                expires_ms: now + config.send.code_ttl_seconds * 1000,
                attempts: 0,
                max_attempts: config.common.max_verify_attempts,
            };
            let new = NewCode {
                user_id: &user_id,
                email: address,
                code: &outstanding,
                expires_at_s: now / 1000 + config.unconfirmed_user_ttl_days * 86_400,
            };
            // Only a confirmed user has `email_verified`, and a send to one is refused.
            let user = User {
                user_id: user_id.clone(),
                email: address.to_string(),
                status: UserStatus::Unconfirmed,
                email_verified: false,
                code: None,
            };
            // The key's record before the caller's count: a retry of a finished request gets
            // its answer even once the caller is at its limit (it sends nothing).
            let mut checks = match idempotency {
                Some(idempotency) => idempotency.plan(&user.to_answer(), now)?,
                None => Plan::new(),
            };
            checks.append(Guard::plan(guard.as_slice(), now)?);
            match self.store.replace_code(&new, &windows, &lock, checks, now).await? {
                SendOutcome::Stored => {}
                SendOutcome::Changed => continue,
                SendOutcome::UserId(stored) => {
                    user_id = stored;
                    continue;
                }
                // The transaction counted nothing: the caller pays for this answer as for a
                // send (one more call), so probing who is confirmed costs the send budget.
                SendOutcome::AlreadyConfirmed => {
                    let gate = guard.as_ref().filter(|_| test.is_none());
                    return Err(self.failed(Failure::AlreadyUsed, gate, now).await);
                }
                SendOutcome::LimitExceeded => return Err(Failure::DestinationLimit),
                SendOutcome::KeyTaken { item } => {
                    let idempotency = idempotency.ok_or(Failure::KeyInFlight)?;
                    let answer = idempotency.replayed(item.as_ref(), now)?;
                    let user = User::from_answer(&answer).ok_or(Failure::Internal)?;
                    return Ok(Answered { user, test_use: None });
                }
                SendOutcome::Guarded { .. } if test.is_some() => {
                    over_test_limit = true;
                    guard = guard.map(|uses| uses.with_max(u32::MAX));
                    continue;
                }
                SendOutcome::Guarded { item, .. } => return Err(gated(guard.as_ref(), item, now)),
                SendOutcome::Locked => return Err(Failure::TooManyAttempts),
            }
            if test.is_some() {
                let over_limit = over_test_limit;
                tracing::warn!(email = %mask::email(address), over_limit, "test address: confirmation code stored, nothing sent");
                let test_use = Some(if over_limit { TestUse::OverDailyUses } else { TestUse::Within });
                return Ok(Answered { user: User { code: Some(outstanding), ..user }, test_use });
            }
            let email = confirmation_email(address, &code, config.send.code_ttl_seconds);
            if let Err(err) = self.email.send(&email).await {
                let error = err.0.replace(address, &mask::email(address)).replace(&code, "[code]");
                tracing::error!(email = %mask::email(address), error, "confirmation e-mail failed");
                self.store.undo_code(address, &outstanding.id, now).await?;
                if let Some(idempotency) = idempotency {
                    self.store.key_failed(idempotency).await?;
                }
                return Err(Failure::DeliveryFailed);
            }
            tracing::info!(email = %mask::email(address), "confirmation code sent");
            return Ok(Answered { user: User { code: Some(outstanding), ..user }, test_use: None });
        }
        Err(Failure::Busy)
    }

    /// A failed confirmation that touched no code, or a send to a confirmed user, still counts
    /// against the caller (`gate`: its failures or its sends): `err`, or the caller's refusal
    /// once over its limit.
    pub(super) async fn failed(&self, err: Failure, gate: Option<&Guard>, now: u64) -> Failure {
        let Some(gate) = gate else { return err };
        match self.store.count_alone(gate, now).await {
            Ok(None) => err,
            Ok(Some(refusal)) => {
                tracing::warn!(rule = ?refusal.rule, "sign-up request refused: {refusal}");
                Failure::Refused(refusal)
            }
            Err(store) => store.into(),
        }
    }
}

pub(super) fn refused(guard: &Guard, item: Option<crate::store::dynamo::Item>, now: u64) -> Failure {
    let refusal = guard.refusal(item.as_ref(), now);
    tracing::warn!(rule = ?refusal.rule, "sign-up request refused: {refusal}");
    Failure::Refused(refusal)
}

pub(super) fn gated(gate: Option<&Guard>, item: Option<crate::store::dynamo::Item>, now: u64) -> Failure {
    gate.map_or(Failure::TooManyAttempts, |gate| refused(gate, item, now))
}

#[cfg(test)]
mod tests {
    #[test]
    fn when_validity_is_stated_should_use_whole_hours_or_minutes() {
        assert_eq!(super::validity(86_400), "24 hours");
        assert_eq!(super::validity(3_600), "1 hour");
        assert_eq!(super::validity(5_400), "90 minutes");
        assert_eq!(super::validity(60), "1 minute");
    }
}

//! Family C test wiring: the real store against this binary's moto, SMS through moto's SNS
//! unless a test brings its own sender, and a clock the test may move.

use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::aws::sns::{SendFuture, SmsError, SmsSender};
use shared::domain::clock::ManualClock;
use shared::ops::startup::Seams;
use shared::twofactor::TwoFactor;
use shared::twofactor::TwoFactorConfig;

pub const USER: &str = "3698b76f-a5c0-4b04-b579-bc084019fb95";

pub struct Harness {
    pub app: Arc<TwoFactor>,
    pub clock: ManualClock,
}

pub async fn harness(overrides: &[(&str, &str)]) -> Harness {
    harness_with(overrides, None).await
}

pub async fn harness_with(overrides: &[(&str, &str)], sms: Option<Arc<dyn SmsSender>>) -> Harness {
    harness_on(&testkit::sdk_config().await, overrides, sms)
}

/// On a given SDK configuration (e.g. one that counts its calls).
pub fn harness_on(sdk: &SdkConfig, overrides: &[(&str, &str)], sms: Option<Arc<dyn SmsSender>>) -> Harness {
    let config = TwoFactorConfig::from_lookup(&testkit::env(overrides)).expect("test configuration");
    let (seams, clock) = seams();
    let app = TwoFactor::new(config, sdk, Seams { sms, ..seams });
    Harness { app: Arc::new(app), clock }
}

/// A clock the test moves, and no metric lines; everything else real (against moto).
pub fn seams() -> (Seams, ManualClock) {
    let clock = ManualClock::at(shared::domain::clock::Clock::now_ms(&shared::domain::clock::SystemClock));
    let seams = Seams {
        clock: Some(Arc::new(clock.clone())),
        metrics: Some(shared::ops::metrics::Metrics::off()),
        ..Seams::default()
    };
    (seams, clock)
}

/// Keeps every metric record, each line checked as CloudWatch would read it.
#[derive(Default)]
pub struct Kept(pub Mutex<Vec<shared::ops::metrics::Record>>);

impl shared::ops::metrics::Sink for Kept {
    fn emit(&self, record: &shared::ops::metrics::Record, line: &str) {
        testkit::emf::extract(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        self.0.lock().expect("lock").push(*record);
    }
}

/// Refuses every SMS but remembers its text, so a test can try the code that never left.
#[derive(Default)]
pub struct FailingSms(pub Mutex<Vec<String>>);

impl SmsSender for FailingSms {
    fn send<'a>(&'a self, _to: &'a str, text: &'a str, _sender: &'a str) -> SendFuture<'a> {
        self.0.lock().expect("lock").push(text.to_string());
        Box::pin(async { Err(SmsError::failed("carrier unavailable")) })
    }
}

pub fn post(body: &str) -> Request {
    let mut request = Request::new(Body::Text(body.to_string()));
    *request.method_mut() = lambda_http::http::Method::POST;
    request
}

pub async fn read(response: Response<Body>) -> (StatusCode, Value) {
    let status = response.status();
    let body: &[u8] = response.body().as_ref();
    (status, serde_json::from_slice(body).expect("answers are JSON"))
}

pub fn create_body(phone: &str, extra: Value) -> String {
    let mut body = json!({"UserId": USER, "GsmNumber": phone, "TwoFactorConfigurationId": 1, "IsSync": true});
    if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), extra) {
        map.extend(extra);
    }
    body.to_string()
}

impl Harness {
    /// Stores an OTP with the code 123456 as OTPs were stored before opaque ids: a v4 id (no
    /// `lk`), verified by the legacy path (a read first). `rate`: with a rate window.
    pub async fn seed_legacy_otp(&self, id: uuid::Uuid, numeric_id: u64, phone: &str, rate: bool) {
        let now = shared::domain::clock::Clock::now_ms(&self.clock);
        let keys = &self.app.config.common.keys;
        let otp = shared::twofactor::store::NewOtp {
            id,
            numeric_id,
            user_id: uuid::Uuid::parse_str(USER).unwrap(),
            phone: phone.into(),
            hash: keys.hash(1, shared::twofactor::PURPOSE, &id.to_string(), "123456").unwrap(),
            key_version: 1,
            reference: "ABCD".into(),
            profile: 1,
            language: "en".into(),
            source: None,
            created_ms: now,
            expires_ms: now + 180_000,
            max_attempts: 5,
            sealed_code: None,
            id_plain: None,
        };
        let windows: Vec<_> = rate.then(|| self.app.store.rate_window(phone, 5, 300_000)).into_iter().collect();
        let lock = self.app.store.failure_lock(phone, 20, 86_400_000);
        self.app.store.create(&otp, &windows, &lock, shared::store::dynamo::Plan::new(), now).await.unwrap();
    }

    pub async fn create(&self, body: &str) -> (StatusCode, Value) {
        read(shared::twofactor::handler::create(&self.app, post(body)).await).await
    }

    pub async fn verify(&self, otp_id: &str, code: &str) -> (StatusCode, Value) {
        self.verify_as(USER, otp_id, code).await
    }

    pub async fn verify_as(&self, user: &str, otp_id: &str, code: &str) -> (StatusCode, Value) {
        let body = json!({"UserId": user, "OtpIdReference": otp_id, "OtpCode": code}).to_string();
        read(shared::twofactor::handler::verify(&self.app, post(&body)).await).await
    }

    /// Creates a synchronous OTP for `phone` and returns its id and the code from the SMS.
    pub async fn otp(&self, phone: &str, extra: Value) -> (String, String) {
        let before = testkit::sms_to(phone).await.len();
        let (status, body) = self.create(&create_body(phone, extra)).await;
        assert_eq!(status, 200, "{body}");
        let sms = testkit::wait_for_sms(phone, before + 1, testkit::TIMEOUT).await;
        let code = testkit::digits(sms.last().expect("an SMS"), 6).expect("a 6-digit code");
        (body["OtpIdReference"].as_str().expect("id").to_string(), code)
    }
}

pub mod signup {
    use std::sync::{Arc, Mutex};

    use aws_config::SdkConfig;
    use lambda_http::http::StatusCode;
    use serde_json::Value;
    use shared::aws::ses::{Email, EmailError, EmailSender, SendFuture};
    use shared::domain::clock::ManualClock;
    use shared::ops::startup::Seams;
    use shared::signup::Signup;
    use shared::signup::SignupConfig;

    pub struct Harness {
        pub app: Arc<Signup>,
        pub clock: ManualClock,
    }

    /// Refuses every e-mail but remembers it.
    #[derive(Default)]
    pub struct FailingEmail(pub Mutex<Vec<Email>>);

    impl EmailSender for FailingEmail {
        fn send<'a>(&'a self, email: &'a Email) -> SendFuture<'a> {
            self.0.lock().expect("lock").push(email.clone());
            Box::pin(async { Err(EmailError("mailbox unavailable".into())) })
        }
    }

    pub async fn harness(overrides: &[(&str, &str)], email: Option<Arc<dyn EmailSender>>) -> Harness {
        harness_on(&testkit::sdk_config().await, overrides, email)
    }

    pub fn harness_on(sdk: &SdkConfig, overrides: &[(&str, &str)], email: Option<Arc<dyn EmailSender>>) -> Harness {
        let config = SignupConfig::from_lookup(&testkit::env(overrides)).expect("test configuration");
        let (seams, clock) = super::seams();
        let app = Signup::new(config, sdk, Seams { email, ..seams });
        Harness { app: Arc::new(app), clock }
    }

    pub fn unique_address() -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        format!("user{}-{}@example.com", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst))
    }

    pub async fn emails_to(address: &str) -> Vec<String> {
        testkit::messages()
            .await
            .into_iter()
            .filter(|m| m["channel"] == "email" && m["to"] == address)
            .filter_map(|m| m["body"].as_str().map(str::to_string))
            .collect()
    }

    impl Harness {
        pub async fn call(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (StatusCode, String, String) {
            let mut request = super::post(body);
            *request.uri_mut() = path.parse().expect("uri");
            for (name, value) in headers {
                request.headers_mut().insert(
                    lambda_http::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                    value.parse().expect("value"),
                );
            }
            let response = shared::signup::handler::handle(&self.app, request).await;
            let content_type =
                response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = String::from_utf8_lossy(response.body().as_ref()).to_string();
            (response.status(), content_type, body)
        }

        pub async fn json(&self, body: &str) -> (StatusCode, Value) {
            let (status, _, text) = self.call("/CognitoSendConfirmCodeRequest", &[], body).await;
            (status, serde_json::from_str(&text).expect("JSON answer"))
        }

        pub async fn send(&self, address: &str) -> (StatusCode, Value) {
            self.json(&serde_json::json!({ "EmailAddress": address }).to_string()).await
        }

        pub async fn confirm(&self, address: &str, code: &str) -> (StatusCode, Value) {
            self.json(&serde_json::json!({ "EmailAddress": address, "ConfirmationCode": code }).to_string()).await
        }

        /// Stores an unconfirmed user with an outstanding `code` the way sends stored them
        /// before codes were bound to the address: a random user id, the code's hash bound to
        /// its own id, no binding marker (the stored format, spelled on purpose).
        pub async fn seed_legacy_user(&self, address: &str, user_id: &str, code: &str) {
            use aws_sdk_dynamodb::types::AttributeValue::{B, N, S};
            let now = shared::domain::clock::Clock::now_ms(&self.clock);
            let code_id = uuid::Uuid::new_v4().to_string();
            let keys = &self.app.config.common.keys;
            let hash = keys.hash(keys.current_version(), shared::signup::PURPOSE, &code_id, code).expect("a hash");
            let item = std::collections::HashMap::from([
                ("pk".to_string(), S(format!("USER#{address}"))),
                ("sk".to_string(), S("USER".into())),
                ("uid".to_string(), S(user_id.into())),
                ("email".to_string(), S(address.into())),
                ("st".to_string(), S("UNCONFIRMED".into())),
                ("ev".to_string(), S("false".into())),
                ("cat".to_string(), N(now.to_string())),
                ("cid".to_string(), S(code_id)),
                ("h".to_string(), B(aws_sdk_dynamodb::primitives::Blob::new(hash.to_vec()))),
                ("kv".to_string(), N(keys.current_version().to_string())),
                ("cexp".to_string(), N((now + 600_000).to_string())),
                ("catt".to_string(), N("0".into())),
                ("cmatt".to_string(), N("5".into())),
                ("ttl".to_string(), N((now / 1000 + 86_400).to_string())),
            ]);
            let put = self.app.store.client().put_item().table_name(testkit::TABLE).set_item(Some(item));
            put.send().await.expect("seeded");
        }

        /// Sends a code and returns it, read from the e-mail moto received.
        pub async fn send_and_read(&self, address: &str) -> String {
            let before = emails_to(address).await.len();
            let (status, body) = self.send(address).await;
            assert_eq!(status, 200, "{body}");
            let emails = emails_to(address).await;
            assert_eq!(emails.len(), before + 1);
            testkit::digits(emails.last().expect("an e-mail"), 6).expect("a 6-digit code")
        }
    }
}

pub mod preregistration {
    use std::sync::Arc;

    use aws_config::SdkConfig;
    use base64::Engine;
    use lambda_http::http::StatusCode;
    use serde_json::Value;
    use shared::aws::sns::SmsSender;
    use shared::domain::clock::ManualClock;
    use shared::ops::startup::Seams;
    use shared::preregistration::Preregistration;
    use shared::preregistration::PreregistrationConfig;

    pub const KEY: &str = "bG9jYWwtZGVtby1rZXktMzItYnl0ZXMtbG9uZyEhISE=";

    pub struct Harness {
        pub app: Arc<Preregistration>,
        pub clock: ManualClock,
    }

    pub async fn harness(overrides: &[(&str, &str)], sms: Option<Arc<dyn SmsSender>>) -> Harness {
        harness_on(&testkit::sdk_config().await, overrides, sms)
    }

    pub fn harness_on(sdk: &SdkConfig, overrides: &[(&str, &str)], sms: Option<Arc<dyn SmsSender>>) -> Harness {
        let mut all = vec![("CNF_APPLICATIONS", "demo,demo-encrypted:DEMO_APP_KEY,other"), ("DEMO_APP_KEY", KEY)];
        all.extend_from_slice(overrides);
        let config = PreregistrationConfig::from_lookup(&testkit::env(&all)).expect("test configuration");
        let (seams, clock) = super::seams();
        let app = Preregistration::new(config, sdk, Seams { sms, ..seams });
        Harness { app: Arc::new(app), clock }
    }

    /// The plain payload of a `GenericResult`, decrypting `encryptedData` with the demo key.
    pub fn payload(body: &Value) -> Value {
        match body["encryptedData"].as_str() {
            None => body["response"].clone(),
            Some(data) => {
                use aes_gcm::aead::{Aead, KeyInit};
                let engine = base64::engine::general_purpose::STANDARD;
                let sealed = engine.decode(data).expect("base64");
                let key = aes_gcm::Aes256Gcm::new_from_slice(&engine.decode(KEY).expect("key")).expect("32 bytes");
                let plain = key.decrypt(aes_gcm::Nonce::from_slice(&sealed[..12]), &sealed[12..]).expect("decrypts");
                serde_json::from_slice(&plain).expect("JSON inside")
            }
        }
    }

    impl Harness {
        pub async fn generate(&self, body: &Value) -> (StatusCode, Value) {
            let response = shared::preregistration::handler::generate(&self.app, super::post(&body.to_string())).await;
            super::read(response).await
        }

        pub async fn validate(&self, body: &Value) -> (StatusCode, Value) {
            let response = shared::preregistration::handler::validate(&self.app, super::post(&body.to_string())).await;
            super::read(response).await
        }
    }
}

/// Test destinations (`config::test_destinations`): their fixed code, numbers in the North
/// American range reserved for fiction (555-0100..0199) unique per call, and the lists.
pub mod test_destinations {
    use serde_json::{Value, json};

    pub const CODE: &str = "135790";

    /// A number no other test uses, from 10 area codes x 100 fictional lines.
    pub fn unique_number() -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let area = [201, 202, 203, 205, 206, 207, 208, 209, 210, 212][(n / 100 % 10) as usize];
        format!("+1{area}5550{:03}", 100 + n % 100)
    }

    /// The day after today (UTC), as a list's `expires`: valid for this run.
    pub fn tomorrow() -> String {
        (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string()
    }

    pub fn list(numbers: &[&str], daily_uses: u32) -> Value {
        json!({"expires": tomorrow(), "numbers": numbers, "dailyUses": daily_uses})
    }

    /// Family C's shipped profiles, profile 1 with `list` as its test destinations.
    pub fn profiles(list: Value) -> String {
        let mut profiles: Value =
            serde_json::from_str(include_str!("../../../config/two-factor-profiles.json")).unwrap();
        profiles[0]["testDestinations"] = list;
        profiles.to_string()
    }
}

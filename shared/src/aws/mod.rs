//! AWS SDK configuration, built once per cold start.

pub mod ses;
pub mod sns;

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider, SharedHttpClient};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

/// The roots of Amazon Trust Services (Amazon Root CA 1-4 and the Starfield Services root
/// that cross-signs them), which issue the certificates of every AWS service endpoint.
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("../../certs/amazon-trust-services.pem");

/// The SDKs' HTTP client: rustls with ring, trusting Amazon's roots only. The SDK's
/// default reads the system's whole trust store (4 ms of a cold start here) for endpoints
/// that only ever present Amazon-issued certificates; trusting fewer roots also narrows
/// who could impersonate DynamoDB, SNS or SES to the function. Plain `http://` endpoints
/// (moto) work as well.
pub fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(AMAZON_TRUST_SERVICES);
            let context = TlsContext::builder().with_trust_store(trust).build();
            // The context is built from constant, tested input; were it ever refused, the
            // SDK's own context (system roots) is the safe fallback.
            let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
            match context {
                Ok(context) => builder.tls_context(context).build_https(),
                Err(_) => builder.build_https(),
            }
        })
        .clone()
}

/// How long the SDK may wait on one service, and how often it tries again. Each request
/// also has a deadline of its own (`REQUEST_DEADLINE_MS`, 8 s: below the function's 10 s
/// timeout), which bounds whatever these do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceTimeouts {
    /// TCP and TLS set-up. In a region both take a few milliseconds; a connection not made in
    /// a second is a bad path, and a new one is the cure.
    pub connect: Duration,
    /// One attempt: send, wait, read the answer.
    pub attempt: Duration,
    /// The whole call, its retries and back-offs included.
    pub operation: Duration,
    pub max_attempts: u32,
    /// First back-off (jittered, doubling); throttling backs off from this too.
    pub initial_backoff: Duration,
}

/// DynamoDB answers single-item and transactional writes in single-digit milliseconds
/// (tens at p99.9), so an attempt still open after 800 ms is a stalled connection, not a
/// slow answer: cut it and try again on a fresh one. Three attempts (throttling and 5xx
/// are retried; the SDK gives every `TransactWriteItems` a `ClientRequestToken`, so a retry
/// of a transaction that took effect is answered as done, not applied twice), with back-offs
/// from 50 ms, not the SDK's 1 s: 2 s bounds the call, so a request that makes two DynamoDB
/// calls and a send still answers within the 8 s deadline.
pub const DYNAMODB: ServiceTimeouts = ServiceTimeouts {
    connect: Duration::from_millis(1000),
    attempt: Duration::from_millis(800),
    operation: Duration::from_millis(2000),
    max_attempts: 3,
    initial_backoff: Duration::from_millis(50),
};

/// SNS `Publish` to a phone number is not idempotent: an attempt that timed out or failed
/// with a 5xx may have been handed to the carrier, and the SDK's retry would text the code
/// twice. So one attempt only; a failure is the family's delivery failure (the code is
/// dropped) and the caller asks again. Publish answers in tens of milliseconds; 3 s allows a
/// slow one while leaving the deadline room for the DynamoDB write that records it.
pub const SNS: ServiceTimeouts = ServiceTimeouts {
    connect: Duration::from_millis(1000),
    attempt: Duration::from_millis(3000),
    operation: Duration::from_millis(3000),
    max_attempts: 1,
    initial_backoff: Duration::from_millis(50),
};

/// SES v2 `SendEmail`: as SNS, not idempotent, so one attempt; its answers are slower than
/// SNS's (a few hundred ms at times), 3 s is still far above them.
pub const SES: ServiceTimeouts = ServiceTimeouts {
    connect: Duration::from_millis(1000),
    attempt: Duration::from_millis(3000),
    operation: Duration::from_millis(3000),
    max_attempts: 1,
    initial_backoff: Duration::from_millis(50),
};

/// `SDK_TIMEOUT_FACTOR` (1 to 20, default 1) multiplies every timeout above. For the local
/// stand-in only: moto serves one request at a time, ~150 a second, so under the load test
/// (`make load`: 50 clients) a call waits its turn for longer than DynamoDB ever takes, and
/// the production figures would cut it. The template never sets it.
fn factor() -> u32 {
    static FACTOR: OnceLock<u32> = OnceLock::new();
    *FACTOR.get_or_init(|| {
        std::env::var("SDK_TIMEOUT_FACTOR")
            .ok()
            .and_then(|f| f.trim().parse().ok())
            .filter(|f| (1..=20).contains(f))
            .unwrap_or(1)
    })
}

impl ServiceTimeouts {
    pub fn timeout_config(&self) -> TimeoutConfig {
        self.scaled(factor())
    }

    fn scaled(&self, factor: u32) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect * factor)
            .operation_attempt_timeout(self.attempt * factor)
            .operation_timeout(self.operation * factor)
            .build()
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts).with_initial_backoff(self.initial_backoff)
    }
}

/// The DynamoDB client every function uses: `DYNAMODB`'s timeouts and retries.
pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(DYNAMODB.timeout_config())
        .retry_config(DYNAMODB.retry_config())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The SNS client: `SNS`'s timeouts, no retry.
pub fn sns(sdk: &SdkConfig) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::config::Builder::from(sdk)
        .timeout_config(SNS.timeout_config())
        .retry_config(SNS.retry_config())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

/// The SES v2 client: `SES`'s timeouts, no retry.
pub fn sesv2(sdk: &SdkConfig) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::config::Builder::from(sdk)
        .timeout_config(SES.timeout_config())
        .retry_config(SES.retry_config())
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// An SDK client built when first used. Building one is ~0.4 M instructions, most of them
/// the SDK parsing its endpoint partition table (JSON, with regexes; it does so even when a
/// custom endpoint resolver is given), so a function that may never call a service (verify
/// never sends an SMS) does not build that client at start.
pub struct OnFirstUse<C> {
    sdk: SdkConfig,
    build: fn(&SdkConfig) -> C,
    client: OnceLock<C>,
}

impl<C> OnFirstUse<C> {
    /// `build` is the client's own constructor, e.g. `aws_sdk_sns::Client::new`.
    pub fn new(sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self { sdk: sdk.clone(), build, client: OnceLock::new() }
    }

    pub fn get(&self) -> &C {
        self.client.get_or_init(|| (self.build)(&self.sdk))
    }

    pub fn is_built(&self) -> bool {
        self.client.get().is_some()
    }
}

/// Lambda hands a function its region and role credentials in the environment, so that is
/// all this reads when they are there: `aws_config`'s default chains (profile files, SSO,
/// web identity, container and instance metadata) cost 5 ms of every cold start to find
/// the same values. Without them (SnapStart's container credentials, a developer's
/// profile) the default chains run. `AWS_ENDPOINT_URL` (local runs against moto) is honoured
/// either way. Nothing here reaches the network.
pub async fn sdk_config() -> SdkConfig {
    match from_lambda_environment(|name| std::env::var(name).ok()) {
        Some(config) => config,
        None => aws_config::defaults(BehaviorVersion::latest()).http_client(http_client()).load().await,
    }
}

fn from_lambda_environment(var: impl Fn(&str) -> Option<String>) -> Option<SdkConfig> {
    from_lambda_environment_with(var, http_client)
}

/// What `sdk_config` builds from a Lambda environment, over another HTTP client: the
/// benchmark answers AWS in process through exactly the functions' SDK set-up.
pub fn from_lambda_environment_with(
    var: impl Fn(&str) -> Option<String>,
    http_client: impl FnOnce() -> SharedHttpClient,
) -> Option<SdkConfig> {
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    let region = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"))?;
    let credentials = Credentials::new(
        set("AWS_ACCESS_KEY_ID")?,
        set("AWS_SECRET_ACCESS_KEY")?,
        set("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http_client())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = set("AWS_ENDPOINT_URL") {
        builder.set_endpoint_url(Some(endpoint));
    }
    Some(builder.build())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::config::ProvideCredentials;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[tokio::test]
    async fn when_lambda_sets_region_and_credentials_should_use_them_as_they_are() {
        let config = from_lambda_environment(env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]))
        .unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        let credentials = config.credentials_provider().unwrap().provide_credentials().await.unwrap();
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.session_token(), Some("token"));
    }

    /// The HTTP client parses the roots only when it first connects, and panics on a bad
    /// one: this is where a damaged bundle must show.
    #[test]
    fn the_amazon_roots_should_be_five_parsable_certificates() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES).collect::<Result<_, _>>().unwrap();
        assert_eq!(certs.len(), 5);
    }

    #[test]
    fn when_a_client_is_first_used_should_be_built_then_and_only_once() {
        let sdk = from_lambda_environment(env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
        ]))
        .unwrap();
        let client = OnFirstUse::new(&sdk, aws_sdk_sns::Client::new);
        assert!(!client.is_built());
        let first: *const aws_sdk_sns::Client = client.get();
        assert!(client.is_built());
        assert_eq!(client.get().config().region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(std::ptr::eq(first, client.get()));
    }

    #[test]
    fn when_clients_are_built_should_carry_their_services_timeouts_and_retries() {
        let sdk = from_lambda_environment(env(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "A"),
            ("AWS_SECRET_ACCESS_KEY", "S"),
        ]))
        .unwrap();
        let dynamodb = dynamodb(&sdk);
        let timeouts = dynamodb.config().timeout_config().unwrap();
        assert_eq!(timeouts.operation_attempt_timeout(), Some(Duration::from_millis(800)));
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_millis(2000)));
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_millis(1000)));
        assert_eq!(dynamodb.config().retry_config().unwrap().max_attempts(), 3);
        let sns = sns(&sdk);
        assert_eq!(sns.config().timeout_config().unwrap().operation_timeout(), Some(Duration::from_millis(3000)));
        assert_eq!(sns.config().retry_config().unwrap().max_attempts(), 1, "a retried Publish may text twice");
        let ses = sesv2(&sdk);
        assert_eq!(
            ses.config().timeout_config().unwrap().operation_attempt_timeout(),
            Some(Duration::from_millis(3000))
        );
        assert_eq!(ses.config().retry_config().unwrap().max_attempts(), 1);
    }

    #[test]
    fn when_a_factor_is_given_should_scale_every_timeout() {
        let scaled = DYNAMODB.scaled(10);
        assert_eq!(scaled.operation_attempt_timeout(), Some(Duration::from_secs(8)));
        assert_eq!(scaled.operation_timeout(), Some(Duration::from_secs(20)));
        assert_eq!(DYNAMODB.scaled(1), DYNAMODB.timeout_config(), "no SDK_TIMEOUT_FACTOR in the tests");
    }

    #[test]
    fn when_credentials_are_not_in_the_environment_should_leave_it_to_the_default_chains() {
        assert!(from_lambda_environment(env(&[("AWS_REGION", "eu-west-1")])).is_none());
        assert!(from_lambda_environment(env(&[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")])).is_none());
    }
}

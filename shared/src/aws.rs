//! AWS SDK configuration, built once per cold start.

use aws_config::{BehaviorVersion, SdkConfig};

/// Region, credentials and (locally) `AWS_ENDPOINT_URL` come from the environment, as the
/// Lambda service sets it; nothing here reaches the network.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

//! The seed's shapes: `BaseResponse` with `Data`/`Data2` as `CognitoUser`, every field present.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attributes {
    pub sub: String,
    pub email: String,
    pub email_verified: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserPool {
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    #[serde(rename = "ClientID")]
    pub client_id: String,
}

/// Always empty: sessions and devices belong to sign-in, not to confirmation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Settings {}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CognitoUser {
    pub session_tokens: Option<()>,
    pub device: Option<()>,
    #[serde(rename = "UserID")]
    pub user_id: String,
    pub username: String,
    pub user_pool: UserPool,
    #[serde(rename = "ClientID")]
    pub client_id: String,
    pub status: String,
    pub attributes: Attributes,
    pub settings: Settings,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    pub total: i32,
    pub op_code: i32,
    pub error_text: Option<String>,
    pub request_time: String,
    pub response_time: String,
    pub total_execution_time: String,
    pub cached_response: bool,
    pub data: Option<CognitoUser>,
    pub data2: Option<CognitoUser>,
}

/// ISO 8601 UTC with milliseconds, as the legacy service wrote `RequestTime`.
pub fn iso_time(epoch_ms: u64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(epoch_ms as i64)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// .NET `TimeSpan.ToString()`: `hh:mm:ss.fffffff` (100 ns ticks).
pub fn timespan(elapsed: std::time::Duration) -> String {
    let ticks = elapsed.as_nanos() / 100;
    let seconds = ticks / 10_000_000;
    format!("{:02}:{:02}:{:02}.{:07}", seconds / 3600, (seconds / 60) % 60, seconds % 60, ticks % 10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_times_are_formatted_should_match_the_legacy_forms() {
        assert_eq!(iso_time(1_795_000_000_031), "2026-11-18T11:06:40.031Z");
        assert_eq!(timespan(std::time::Duration::from_millis(31)), "00:00:00.0310000");
        assert_eq!(timespan(std::time::Duration::from_nanos(3_723_000_000_100)), "01:02:03.0000001");
    }
}

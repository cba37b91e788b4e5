//! The parts of a family's app that differ between a Lambda, the local server, the tests and
//! the benches. Each family has one constructor (`TwoFactor::new`, `Preregistration::new`,
//! `Signup::new`) taking its configuration section, the SDK configuration and these seams;
//! `from_env` is that constructor with the environment and no seam set.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::aws::ses::{EmailSender, SesEmailSender};
use crate::aws::sns::{SmsSender, SnsSmsSender};
use crate::domain::clock::{Clock, SystemClock};
use crate::ops::metrics::Metrics;

/// What to use instead of the real thing; `None` is SNS, SES v2, the system clock and metric
/// lines on stdout.
#[derive(Default, Clone)]
pub struct Seams {
    pub sms: Option<Arc<dyn SmsSender>>,
    pub email: Option<Arc<dyn EmailSender>>,
    pub clock: Option<Arc<dyn Clock>>,
    pub metrics: Option<Metrics>,
}

impl Seams {
    pub(crate) fn sms(&self, sdk: &SdkConfig, max_price_usd: &str) -> Arc<dyn SmsSender> {
        self.sms.clone().unwrap_or_else(|| Arc::new(SnsSmsSender::new(sdk, max_price_usd.to_string())))
    }

    pub(crate) fn email(&self, sdk: &SdkConfig, from: &str) -> Arc<dyn EmailSender> {
        self.email.clone().unwrap_or_else(|| Arc::new(SesEmailSender::new(sdk, from.to_string())))
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock))
    }

    pub(crate) fn metrics(&self, namespace: &str) -> Metrics {
        self.metrics.clone().unwrap_or_else(|| Metrics::stdout(namespace))
    }
}

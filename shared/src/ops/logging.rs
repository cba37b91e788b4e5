//! The functions' logs, set up once at cold start.
//!
//! Lambda's `LoggingConfig` (template.yaml) chooses them: `LogFormat: JSON` sets
//! `AWS_LAMBDA_LOG_FORMAT=JSON` and `ApplicationLogLevel` sets `AWS_LAMBDA_LOG_LEVEL`, which
//! is the level of every target; `RUST_LOG` may still refine targets (`shared=debug`), as
//! `lambda_runtime`'s own set-up allows. One thing no setting can do: let the runtime, its
//! HTTP stack or the AWS SDK log below INFO. At TRACE `lambda_runtime` prints every raw
//! event ("raw JSON event received from Lambda": the codes, numbers and addresses of the
//! requests) and the SDK the requests it sends (an SMS's text), so those targets are capped
//! at INFO whatever the environment says.
//!
//! In release builds DEBUG and TRACE events are not compiled at all (`tracing`'s
//! `release_max_level_info` in the workspace's Cargo.toml): the capped crates' could never be
//! logged anyway, and their static metadata was a quarter of a binary's load-time relocations.
//! The levels below INFO set here therefore act in debug builds only (local runs, tests).

use lambda_http::tracing::subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use lambda_http::tracing::subscriber::fmt::{self, MakeWriter};
use lambda_http::tracing::subscriber::prelude::*;
use tracing::{Level, Subscriber};

/// Crates whose DEBUG and TRACE events may carry request or response bodies.
const CAPPED: [&str; 9] = [
    "lambda_runtime",
    "lambda_http",
    "lambda_runtime_api_client",
    "hyper",
    "hyper_util",
    "h2",
    "http",
    "rustls",
    "aws_",
];

/// Whether `target` (a module path) belongs to a crate capped at INFO.
pub fn capped(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    CAPPED.iter().any(|c| if c.ends_with('_') { krate.starts_with(c) } else { krate == *c })
}

/// Installs the functions' subscriber, writing to stdout (Lambda's log stream).
pub fn init() {
    let installed = subscriber(|name| std::env::var(name).ok(), std::io::stdout);
    // Only fails if one is already installed (a test harness): then that one stays.
    let _ = tracing::subscriber::set_global_default(installed);
}

/// The subscriber `init` installs, from any environment and writer (tests read its output).
pub fn subscriber<W>(var: impl Fn(&str) -> Option<String>, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .and_then(|level| level.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter =
        EnvFilter::builder().with_default_directive(level.into()).parse_lossy(var("RUST_LOG").unwrap_or_default());
    let cap = filter_fn(|metadata| !capped(metadata.target()) || *metadata.level() <= Level::INFO);
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|format| format.eq_ignore_ascii_case("json"));
    // As lambda_runtime's default: no time (Lambda stamps each line), no target.
    let (json_layer, text_layer) = if json {
        (Some(fmt::layer().json().with_target(false).without_time().with_writer(writer)), None)
    } else {
        (None, Some(fmt::layer().with_target(false).without_time().with_writer(writer)))
    };
    lambda_http::tracing::subscriber::registry().with(filter).with(cap).with(json_layer).with(text_layer)
}

/// What a test logs, as the functions' subscriber writes it.
#[cfg(test)]
pub(crate) mod capture {
    use std::sync::{Arc, Mutex};

    use super::MakeWriter;

    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub(crate) fn text(&self) -> String {
            let bytes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            String::from_utf8(bytes).unwrap_or_default()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    /// The lines `log` writes under the functions' subscriber at its default level (INFO).
    pub(crate) fn logged(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        tracing::subscriber::with_default(super::subscriber(|_| None, captured.clone()), log);
        captured.text()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::capture::Captured;
    use super::*;

    /// Logs what the runtime, the SDK and our own code log at every level, under `env`.
    fn logged(env: &[(&str, &str)]) -> String {
        let map: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let captured = Captured::default();
        let subscriber = subscriber(move |name| map.get(name).cloned(), captured.clone());
        tracing::subscriber::with_default(subscriber, || {
            let event = r#"{"body":"{\"GsmNumber\":\"+905321234567\",\"OtpCode\":\"123456\"}"}"#;
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = event, "raw JSON event received from Lambda");
            tracing::debug!(target: "lambda_runtime::runtime", "runtime debug");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "sdk trace Message=Your+code+123456");
            tracing::debug!(target: "hyper::proto", "hyper debug");
            tracing::info!(target: "lambda_runtime::runtime", "runtime info");
            tracing::trace!(target: "shared::twofactor", "own trace");
            tracing::debug!(target: "shared::twofactor", "own debug");
            tracing::info!(target: "shared::twofactor", "own info");
        });
        captured.text()
    }

    #[test]
    fn whatever_the_environment_asks_should_never_log_the_runtime_or_sdk_below_info() {
        for env in [
            vec![("AWS_LAMBDA_LOG_LEVEL", "TRACE")],
            vec![("RUST_LOG", "trace")],
            vec![("RUST_LOG", "lambda_runtime=trace,aws_smithy_runtime=trace,hyper=trace,shared=trace")],
            vec![("AWS_LAMBDA_LOG_LEVEL", "TRACE"), ("AWS_LAMBDA_LOG_FORMAT", "JSON"), ("RUST_LOG", "trace")],
        ] {
            let out = logged(&env);
            for leak in ["123456", "905321234567", "runtime debug", "hyper debug"] {
                assert!(!out.contains(leak), "{env:?} logged {leak}: {out}");
            }
            assert!(out.contains("runtime info") && out.contains("own trace"), "{env:?}: {out}");
        }
    }

    #[test]
    fn when_lambda_sets_the_log_level_and_json_format_should_follow_them() {
        let out = logged(&[("AWS_LAMBDA_LOG_LEVEL", "INFO"), ("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        assert!(!out.contains("own debug"), "{out}");
        let lines: Vec<serde_json::Value> =
            out.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        assert_eq!(lines.len(), 2, "runtime info, own info: {out}");
        assert_eq!(lines[1]["fields"]["message"], "own info");
        assert_eq!(lines[1]["level"], "INFO");

        let out = logged(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG")]);
        assert!(out.contains("own debug") && !out.contains("own trace"), "{out}");
        assert!(!out.trim_start().starts_with('{'), "text without AWS_LAMBDA_LOG_FORMAT: {out}");
    }

    #[test]
    fn capped_targets_should_be_whole_crates() {
        assert!(capped("lambda_runtime::layers::api_response"));
        assert!(capped("aws_smithy_runtime::client::orchestrator"));
        assert!(capped("aws_sdk_dynamodb"));
        assert!(capped("hyper"));
        assert!(!capped("hyperion"));
        assert!(!capped("shared::twofactor"));
    }
}

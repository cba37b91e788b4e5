//! The function started as Lambda starts it on `provided.al2023`: exactly that runtime's
//! environment (no `AWS_EXECUTION_ENV` on OS-only runtimes), plus a misconfigured one. It must
//! refuse to start, before asking the runtime API for work, rather than run with public
//! secrets or answer codes.

use std::process::{Command, Stdio};

/// What Lambda sets for a `provided.al2023` function (the runtime's reserved variables).
fn lambda_environment(command: &mut Command) -> &mut Command {
    command
        .env_clear()
        .env("AWS_LAMBDA_FUNCTION_NAME", "create-two-factor-sms-otp")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/create-two-factor-sms-otp")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/26/[$LATEST]0123456789abcdef")
        // Nothing listens here: a function that got as far as asking for work would fail
        // differently (and later) than one that refuses its configuration.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "example")
        .env("AWS_SESSION_TOKEN", "example")
        .env("_HANDLER", "bootstrap")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .env("LAMBDA_RUNTIME_DIR", "/var/runtime")
        .env("TZ", ":UTC")
        .env("LANG", "en_US.UTF-8")
        .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
        .env(
            "LD_LIBRARY_PATH",
            "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        )
        .env("TABLE_NAME", "verification-codes")
}

fn start(extra: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_create-two-factor-sms-otp"));
    lambda_environment(&mut command);
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = command.stdin(Stdio::null()).output().expect("the function starts");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn when_lambda_starts_it_with_the_public_local_key_should_refuse_to_start() {
    let (ok, output) = start(&[("OTP_KEYS", "1:local-development-key-never-use-in-production")]);
    assert!(!ok && output.contains("ALLOW_LOCAL_SECRETS"), "{output}");
}

#[test]
fn when_lambda_starts_it_answering_codes_without_the_test_switch_should_refuse_to_start() {
    let (ok, output) = start(&[("OTP_KEYS", "1:0123456789abcdef0123456789abcdef"), ("RETURN_OTP_CODE", "true")]);
    assert!(!ok && output.contains("ALLOW_TEST_CODES"), "{output}");
}

#[test]
fn when_configured_properly_should_get_past_its_configuration() {
    // With a proper key the function gets past its configuration and fails only when it asks
    // the (absent) runtime API for work: proof that the refusals above are the configuration's.
    let (ok, output) = start(&[("OTP_KEYS", "1:0123456789abcdef0123456789abcdef")]);
    assert!(!ok && !output.contains("ALLOW_"), "{output}");
}

#[test]
fn when_another_familys_variables_are_garbage_should_still_start() {
    // Family C reads only its own section: a broken family A or B setting must not stop it.
    let (ok, output) = start(&[
        ("OTP_KEYS", "1:0123456789abcdef0123456789abcdef"),
        ("CNF_APPLICATIONS", "demo:NO_SUCH_VARIABLE,,::"),
        ("CNF_SEND_LIMIT", "many"),
        ("SIGNUP_CODE_TTL_SECONDS", "-1"),
        ("EMAIL_FROM", "not an address"),
    ]);
    assert!(!ok && output.contains("127.0.0.1:9") && !output.contains("environment variable"), "{output}");
}

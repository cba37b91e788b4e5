//! A function binary run as Lambda runs it: a runtime-API stub on loopback serves it events
//! one by one, and everything it prints is kept, so a test can read its logs and metric lines
//! as CloudWatch Logs would receive them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What one run produced.
#[derive(Debug)]
pub struct Run {
    /// The function's answer to each event, in order (`{"error": ...}` for a reported error).
    pub responses: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Default)]
struct Shared {
    events: VecDeque<Value>,
    served: usize,
    responses: Vec<Value>,
}

type State = Arc<(Mutex<Shared>, Condvar)>;

/// Runs `binary` with exactly `env` (plus `AWS_LAMBDA_RUNTIME_API` and `PATH`) until it has
/// answered every event, then stops it.
pub fn run(binary: &Path, env: &[(String, String)], events: Vec<Value>) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API stub");
    let address = listener.local_addr().expect("stub address").to_string();
    let expected = events.len();
    let state: State = Arc::new((Mutex::new(Shared { events: events.into(), ..Shared::default() }), Condvar::new()));
    let accepting = Arc::clone(&state);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let state = Arc::clone(&accepting);
            std::thread::spawn(move || serve(stream, &state));
        }
    });

    let mut command = Command::new(binary);
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("AWS_LAMBDA_RUNTIME_API", &address);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the function");
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("stdout")));
    let stderr = reader(Box::new(child.stderr.take().expect("stderr")));

    let (lock, answered) = &*state;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut shared = lock.lock().expect("stub state");
    while shared.responses.len() < expected && Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        shared = answered.wait_timeout(shared, Duration::from_millis(100)).expect("stub state").0;
    }
    let responses = std::mem::take(&mut shared.responses);
    drop(shared);
    let _ = child.kill();
    let _ = child.wait();
    Run { responses, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

/// One connection of the runtime client (keep-alive: several requests in turn).
fn serve(stream: TcpStream, state: &State) {
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
        let answer = if path.ends_with("/invocation/next") {
            let (lock, _) = &**state;
            let next = {
                let mut shared = lock.lock().expect("stub state");
                let event = shared.events.pop_front();
                shared.served += 1;
                event.map(|e| (e, shared.served))
            };
            // No more events: leave the request open, as Lambda does between invocations.
            let Some((event, n)) = next else { return };
            let body = event.to_string();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: request-{n}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:test\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            if path.ends_with("/response") || path.ends_with("/error") {
                let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let value = if path.ends_with("/error") { serde_json::json!({ "error": value }) } else { value };
                let (lock, answered) = &**state;
                lock.lock().expect("stub state").responses.push(value);
                answered.notify_all();
            }
            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_string()
        };
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// What Lambda and `local/local.env` give a function, its SDK pointed at this test binary's
/// moto and table, with the template's log format.
pub fn function_env(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let local = std::fs::read_to_string(crate::workspace_root().join("local/local.env")).expect("local/local.env");
    let mut env: Vec<(String, String)> = local
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let fixed = [
        ("AWS_ENDPOINT_URL", crate::moto()),
        ("TABLE_NAME", crate::TABLE),
        ("AWS_LAMBDA_FUNCTION_NAME", "test"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "test"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("SMS_BLOCK_MIN_SENDS", "1000000"),
    ];
    for (name, value) in fixed.iter().chain(overrides) {
        env.retain(|(k, _)| k != name);
        env.push((name.to_string(), value.to_string()));
    }
    env
}

/// The lines of `stdout` that are embedded-metric-format documents (JSON with `_aws`), as
/// CloudWatch Logs picks them out of a function's log stream.
pub fn emf_lines(stdout: &str) -> Vec<(String, Value)> {
    stdout
        .lines()
        .filter_map(|line| {
            let value: Value = serde_json::from_str(line.trim()).ok()?;
            value.get("_aws").is_some().then(|| (line.trim().to_string(), value))
        })
        .collect()
}

/// Panics naming the line if any line of `text` holds one of `secrets` (a phone number with
/// or without its `+`, an address, a code): numbers are matched as whole runs of digits, so a
/// code is not "found" inside a timestamp.
pub fn assert_nothing_personal(text: &str, secrets: &[&str]) {
    for line in text.lines() {
        let runs: Vec<&str> = line.split(|c: char| !c.is_ascii_digit()).filter(|r| !r.is_empty()).collect();
        for secret in secrets {
            let digits = secret.trim_start_matches('+');
            let found = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                runs.contains(&digits)
            } else {
                line.to_ascii_lowercase().contains(&secret.to_ascii_lowercase())
            };
            assert!(!found, "'{secret}' in an output line: {line}");
        }
    }
}

//! The developer's inbox: every SMS and e-mail moto accepted, as JSON and on the console.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GET on the local moto server (plain HTTP on loopback).
async fn get(base: &str, path: &str) -> Result<(u16, String), String> {
    let authority = base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut stream = tokio::net::TcpStream::connect(&authority).await.map_err(|e| e.to_string())?;
    // HTTP/1.0: the answer comes whole, never chunked.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed answer from moto")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// From `moto_launcher.py`; a plain `moto_server` lacks that route, so its model dump is
/// read instead (slower, and without send times).
pub async fn fetch(moto: &str) -> Result<Vec<Value>, String> {
    let (status, body) = get(moto, "/_local/messages").await?;
    if status == 200 {
        return serde_json::from_str(&body).map_err(|e| e.to_string());
    }
    let (status, body) = get(moto, "/moto-api/data.json").await?;
    if status != 200 {
        return Err(format!("moto answered {status}"));
    }
    let data: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let sms = data["sns"]["SMS"].as_array().cloned().unwrap_or_default().into_iter().map(
        |m| json!({"channel": "sms", "to": m["phone_number"], "subject": null, "body": m["message"], "sentAt": null}),
    );
    let email = data["ses"]["Message"].as_array().cloned().unwrap_or_default().into_iter().map(|m| {
        let to = m["destinations"]["ToAddresses"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
        json!({"channel": "email", "to": to, "subject": m["subject"], "body": m["body"], "sentAt": null})
    });
    Ok(sms.chain(email).collect())
}

pub async fn messages(moto: &str) -> Response<Full<Bytes>> {
    match fetch(moto).await {
        Ok(list) => crate::routes::text(StatusCode::OK, "application/json", Value::Array(list).to_string()),
        Err(e) => crate::routes::text(
            StatusCode::BAD_GATEWAY,
            "application/json",
            json!({"Message": format!("moto unreachable: {e}")}).to_string(),
        ),
    }
}

/// Prints each newly delivered message once.
pub async fn print_forever(moto: String) {
    let mut printed = 0;
    loop {
        if let Ok(list) = fetch(&moto).await {
            for message in list.iter().skip(printed) {
                let channel = message["channel"].as_str().unwrap_or("?").to_uppercase();
                let to = message["to"].as_str().unwrap_or("?");
                let subject = message["subject"].as_str().map(|s| format!(" [{s}]")).unwrap_or_default();
                let body = message["body"].as_str().unwrap_or("");
                println!("inbox: {channel} to {to}{subject}: {body}");
            }
            printed = printed.max(list.len());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

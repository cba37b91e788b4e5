//! Windows by the millisecond (issue 27, item 3): each windowed rule holds 1 ms before its
//! window ends and lets go at its end. A frozen clock cannot tell a window of an hour from one
//! of a second; these move the clock to both sides of every end.

use crate::helpers;

use serde_json::json;
use shared::domain::clock::Clock;

const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;

fn other(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

#[tokio::test]
async fn when_a_code_reaches_its_expiry_should_verify_1_ms_before_and_be_gone_at_it() {
    // Family C: 180 s by default.
    let c = helpers::harness(&[]).await;
    let sent = c.clock.now_ms();
    let (early, early_code) = c.otp(&testkit::unique_phone(), json!({})).await;
    let (late, late_code) = c.otp(&testkit::unique_phone(), json!({})).await;
    c.clock.set_ms(sent + 180_000 - 1);
    assert_eq!(c.verify(&early, &early_code).await.0, 200);
    c.clock.set_ms(sent + 180_000);
    assert_eq!(c.verify(&late, &late_code).await.0, 410);

    // Family B: CNF_CODE_TTL_SECONDS, 600 by default.
    let b = helpers::preregistration::harness(&[("CNF_RESEND_GAP_SECONDS", "0")], None).await;
    let sent = b.clock.now_ms();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let address = helpers::signup::unique_address();
        let (status, body) = b.generate(&json!({"applicationId": "demo", "emailAddress": address})).await;
        assert_eq!(status, 200, "{body}");
        let code = testkit::digits(helpers::signup::emails_to(&address).await.last().unwrap(), 6).unwrap();
        ids.push((body["response"]["confirmationId"].clone(), code));
    }
    let validate = |(id, code): &(serde_json::Value, String)| json!({"applicationId": "demo", "confirmationId": id, "confirmationCode": code});
    b.clock.set_ms(sent + 600_000 - 1);
    assert_eq!(b.validate(&validate(&ids[0])).await.0, 200);
    b.clock.set_ms(sent + 600_000);
    assert_eq!(b.validate(&validate(&ids[1])).await.0, 410);

    // Family A: SIGNUP_CODE_TTL_SECONDS, 24 h by default.
    let a = helpers::signup::harness(&[], None).await;
    let sent = a.clock.now_ms();
    let (first, second) = (helpers::signup::unique_address(), helpers::signup::unique_address());
    let (first_code, second_code) = (a.send_and_read(&first).await, a.send_and_read(&second).await);
    a.clock.set_ms(sent + DAY - 1);
    assert_eq!(a.confirm(&first, &first_code).await.0, 200);
    a.clock.set_ms(sent + DAY);
    let (status, body) = a.confirm(&second, &second_code).await;
    assert_eq!((status.as_u16(), body["OpCode"].as_i64()), (410, Some(1003)), "{body}");
}

#[tokio::test]
async fn when_a_destination_is_locked_should_stay_locked_until_its_bucket_ends() {
    // GIVEN a number locked by 2 failed verifications (a limit of 2 per hour's bucket)
    let c = helpers::harness(&[("DESTINATION_FAILURE_LIMIT", "2")]).await;
    let start = (c.clock.now_ms() / HOUR + 1) * HOUR;
    c.clock.set_ms(start);
    let phone = testkit::unique_phone();
    let (otp, code) = c.otp(&phone, json!({})).await;
    for _ in 0..2 {
        assert_eq!(c.verify(&otp, other(&code)).await.0.as_u16() / 100, 4);
    }
    // WHEN a new code is asked for 1 ms before the bucket ends THEN the number is still locked
    c.clock.set_ms(start + HOUR - 1);
    let (status, body) = c.create(&helpers::create_body(&phone, json!({}))).await;
    assert_eq!(status, 429, "locked until the bucket's end: {body}");
    // AND at its end a new code verifies
    c.clock.set_ms(start + HOUR);
    let (fresh, fresh_code) = c.otp(&phone, json!({})).await;
    assert_eq!(c.verify(&fresh, &fresh_code).await.0, 200);
}

#[tokio::test]
async fn when_a_block_or_the_day_is_full_should_refuse_until_its_bucket_ends() {
    // GIVEN family C's breaker at 2 unverified sends, and a day of 3 SMS, on a day of its own
    let c = helpers::harness(&[("SMS_BLOCK_MIN_SENDS", "2"), ("SMS_DAILY_LIMIT", "3")]).await;
    let day = (c.clock.now_ms() / DAY + 61) * DAY;
    c.clock.set_ms(day);
    let block = format!("+90535{:03}{}", std::process::id() % 1000, std::process::id() % 10);
    for i in 0..2 {
        c.otp(&format!("{block}{i:03}"), json!({})).await;
    }
    let c = &c;
    let create = |phone: String| async move { c.create(&helpers::create_body(&phone, json!({}))).await.0 };
    // WHEN the block's hour is about to end THEN it still refuses; at its end it sends again
    c.clock.set_ms(day + HOUR - 1);
    assert_eq!(create(format!("{block}100")).await, 429, "the block, 1 ms before its hour ends");
    c.clock.set_ms(day + HOUR);
    assert_eq!(create(format!("{block}101")).await, 200, "the block's next hour");
    // AND the day, now full (3 SMS), refuses to its last millisecond and opens at midnight UTC
    c.clock.set_ms(day + DAY - 1);
    assert_eq!(create(testkit::unique_phone()).await, 429, "the day's ceiling, 1 ms before midnight");
    c.clock.set_ms(day + DAY);
    assert_eq!(create(testkit::unique_phone()).await, 200, "the next day");
}

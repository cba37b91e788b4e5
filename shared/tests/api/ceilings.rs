//! The day's SMS ceilings kept in shards (issue 24, item 1): exact under concurrent sends
//! (against moto: the shares add up to the limit, and a request is refused only once every
//! shard is full), each country's in its own shards, refused without a call once this process
//! knows them all full; and under DynamoDB's conflict rules (`testkit::load`), a burst that
//! one ceiling item would turn into 503s is served in full by the shards.

use crate::helpers;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::aws::sns::{SendFuture, SmsSender};
use shared::domain::clock::Clock;

const DAY_MS: u64 = 86_400_000;

/// The memory of full shards is the process's: the tests that count on it keeping what it saw
/// take turns with the one that makes it forget.
static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Spanish mobiles no other test uses (`+34 74…`).
fn spanish_mobile() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("+3474{}{:06}", std::process::id() % 10, NEXT.fetch_add(1, Ordering::SeqCst))
}

async fn create(app: &Arc<shared::twofactor::TwoFactor>, phone: &str) -> (u16, Value) {
    let response = shared::twofactor::handler::create(app, helpers::post(&helpers::create_body(phone, json!({}))));
    let (status, body) = helpers::read(response.await).await;
    (status.as_u16(), body)
}

/// Every phone's create at once; the answers in order.
async fn at_once(app: &Arc<shared::twofactor::TwoFactor>, phones: &[String]) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = phones
        .iter()
        .map(|phone| {
            let (app, phone) = (app.clone(), phone.clone());
            tokio::spawn(async move { create(&app, &phone).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn count(answers: &[(u16, Value)], status: u16) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

/// The counts of the items under `prefix` (a ceiling's shards), by key.
async fn shard_counts(prefix: &str) -> HashMap<String, u64> {
    let client = aws_sdk_dynamodb::Client::new(&testkit::sdk_config().await);
    let scan = client
        .scan()
        .table_name(testkit::TABLE)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", AttributeValue::S(prefix.into()));
    let mut counts = HashMap::new();
    let mut pages = scan.into_paginator().send();
    while let Some(page) = pages.next().await {
        for item in page.unwrap().items() {
            let pk = item["pk"].as_s().unwrap().clone();
            counts.insert(pk, shared::store::dynamo::get_n::<u64>(item, "cnt").unwrap());
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_sends_race_past_sharded_ceilings_should_send_exactly_each_limit_then_refuse_without_a_call() {
    let _memory = MEMORY.lock().await;
    // GIVEN a day's ceiling of 10 in 4 shards (shares 3, 3, 2, 2) and Spain's of 5 in 4 (2, 1,
    // 1, 1), on a day no other test counts in
    let settings = [("SMS_DAILY_LIMIT", "10"), ("SMS_CEILING_SHARDS", "4"), ("SMS_COUNTRY_DAILY_LIMITS", "ES:5")];
    let h = helpers::harness(&settings).await;
    h.clock.advance_ms(73 * DAY_MS); // a day no other test counts in
    let day = h.clock.now_ms() / DAY_MS;

    // WHEN 12 Spanish numbers ask at once
    let spain: Vec<String> = (0..12).map(|_| spanish_mobile()).collect();
    let answers = at_once(&h.app, &spain).await;

    // THEN exactly Spain's 5 are sent, the rest refused naming Spain's ceiling
    assert_eq!((count(&answers, 200), count(&answers, 429)), (5, 7), "{answers:?}");
    let refused = answers.iter().find(|(s, _)| *s == 429).unwrap();
    let message = refused.1["ExceptionMessage"].as_str().unwrap();
    assert!(
        message.starts_with("daily SMS ceiling for ES reached: 5 sent in the last 24 hours (limit 5)"),
        "{message}"
    );

    // WHEN 12 Turkish numbers ask at once
    let turkey: Vec<String> = (0..12).map(|_| testkit::unique_phone()).collect();
    let answers = at_once(&h.app, &turkey).await;

    // THEN exactly the day's remaining 5 are sent, the rest refused naming the day's ceiling
    assert_eq!((count(&answers, 200), count(&answers, 429)), (5, 7), "{answers:?}");
    let refused = answers.iter().find(|(s, _)| *s == 429).unwrap();
    let message = refused.1["ExceptionMessage"].as_str().unwrap();
    assert!(message.starts_with("daily SMS ceiling reached: 10 sent"), "{message}");
    let mut sent = 0;
    for phone in spain.iter().chain(&turkey) {
        sent += testkit::sms_to(phone).await.len();
    }
    assert_eq!(sent, 10, "SMS handed to SNS");

    // AND each shard holds exactly its share: no item took every send
    let mut all: Vec<u64> = shard_counts(&format!("2FA#CEIL#{day}#")).await.into_values().collect();
    all.sort_unstable();
    assert_eq!(all, vec![2, 2, 3, 3]);
    let mut spain_shards: Vec<u64> = shard_counts(&format!("2FA#CEIL#ES#{day}#")).await.into_values().collect();
    spain_shards.sort_unstable();
    assert_eq!(spain_shards, vec![1, 1, 1, 2]);

    // AND once every shard is known full, a send is refused without calling DynamoDB
    let (sdk, calls) = testkit::aws_calls::counting_sdk_config().await;
    let counted = helpers::harness_on(&sdk, &settings, None);
    counted.clock.set_ms(h.clock.now_ms());
    calls.reset();
    assert_eq!(create(&counted.app, &testkit::unique_phone()).await.0, 429);
    assert_eq!(calls.take().get("dynamodb:TransactWriteItems"), None, "no transaction");
}

/// SNS stand-in for the load test: takes every SMS at once.
struct Carrier;

impl SmsSender for Carrier {
    fn send<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> SendFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

/// 200 sends at the same instant through family C's handler, on DynamoDB's conflict rules
/// (a transaction holds its items ~10 ms; one touching a held item is cancelled): the
/// statuses, and the stand-in's figures.
async fn burst(shards: &str) -> (Vec<u16>, testkit::load::LoadStats) {
    let stand_in = testkit::load::LoadDynamo::new(testkit::load::LoadRules::default());
    let sdk = testkit::load::sdk_config(&stand_in).await;
    let settings = [("SMS_CEILING_SHARDS", shards), ("SMS_DAILY_LIMIT", "1000000")];
    let h = helpers::harness_on(&sdk, &settings, Some(Arc::new(Carrier)));
    let phones: Vec<String> = (0..200).map(|i| format!("+90532{:07}", i * 7919)).collect();
    let answers = at_once(&h.app, &phones).await;
    (answers.into_iter().map(|(status, _)| status).collect(), stand_in.stats())
}

#[tokio::test(start_paused = true)]
async fn when_a_burst_conflicts_on_the_days_ceiling_should_serve_every_send_from_other_shards() {
    // GIVEN the day's ceiling in 64 shards, WHEN 200 sends arrive at once
    let (statuses, stats) = burst("64").await;

    // THEN they met conflicts, and every one was sent all the same
    assert!(stats.conflicts > 0, "{stats:?}");
    assert!(statuses.iter().all(|s| *s == 200), "{:?}", statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>());

    // AND in one item (SMS_CEILING_SHARDS=1, the design before), the same burst is refused in part
    let (statuses, stats) = burst("1").await;
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert!(busy > 50, "{busy} of 200 answered 503; {stats:?}");
}

/// The send's write loop on a scripted DynamoDB (`testkit::scripted`): which shard each attempt
/// writes, when it pauses, when it gives up. A ceiling of `limit` in 2 shards, and a window,
/// counted on a table of the test's own (so the memory of full shards is the test's too).
mod write_loop {
    use shared::store::dynamo::{Counted, Slot, StoreError, Window, transact_counting};
    use shared::store::guards::{Budget, Guard, Guards};
    use testkit::scripted::{Answer, Scripted};

    const NOW: u64 = 1_800_000_000_000;
    const FULL: Answer = Answer::CancelledAt("2FA#CEIL#", "ConditionalCheckFailed");
    const HELD: Answer = Answer::CancelledAt("2FA#CEIL#", "TransactionConflict");

    fn guards(table: &str) -> Vec<Guard> {
        let settings = [("SMS_DAILY_LIMIT", "4"), ("SMS_CEILING_SHARDS", "2")];
        let lookup = |name: &str| settings.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        Guards::from_lookup(&lookup).unwrap().sms(table, Budget::TwoFactor, "+905321234567", "TR", None)
    }

    /// One send's transaction on `script`: its outcome, the pauses it took, the keys of each
    /// call's ceiling shard.
    async fn send(table: &str, script: &Scripted) -> (Result<Counted<Slot>, StoreError>, u32, Vec<String>) {
        let client = testkit::scripted::client(script).await;
        let windows = [Window::new(table, "2FA#RATE#+905321234567", 3, 60_000)];
        let plan = Guard::plan(&guards(table), NOW).unwrap();
        let before = script.calls().len();
        let (outcome, pauses) =
            shared::store::backoff::counting(transact_counting(&client, &windows, &plan, NOW)).await;
        let shards = script.calls()[before..]
            .iter()
            .map(|keys| keys.iter().find(|k| k.starts_with("2FA#CEIL#")).cloned().unwrap_or_default())
            .collect();
        (outcome, pauses, shards)
    }

    #[tokio::test(start_paused = true)]
    async fn when_a_shard_is_full_should_write_the_other_at_once_and_remember_it() {
        let _memory = super::MEMORY.lock().await;
        let script = Scripted::new([FULL]);
        let (outcome, pauses, shards) = send("full-then-written", &script).await;
        assert_eq!((outcome.unwrap(), pauses), (Counted::Written, 0), "no pause: a full shard is not contention");
        assert_eq!(shards.len(), 2);
        assert_ne!(shards[0], shards[1], "the other shard");
        // The full one is remembered: the next sends all go to the other.
        for _ in 0..5 {
            let (_, _, next) = send("full-then-written", &script).await;
            assert_eq!(next, vec![shards[1].clone()]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn when_every_shard_is_full_should_refuse_then_refuse_without_a_call() {
        let _memory = super::MEMORY.lock().await;
        let script = Scripted::new([FULL, FULL]);
        let (outcome, pauses, shards) = send("all-full", &script).await;
        assert!(matches!(outcome.unwrap(), Counted::Refused { slot: Slot::Guard(1), .. }));
        assert_eq!((pauses, shards.len()), (0, 2));
        assert_ne!(shards[0], shards[1]);
        let (outcome, _, shards) = send("all-full", &script).await;
        assert!(matches!(outcome.unwrap(), Counted::Refused { slot: Slot::Guard(1), item: None }));
        assert!(shards.is_empty(), "no call once every shard is known full");
    }

    #[tokio::test(start_paused = true)]
    async fn when_the_memory_of_full_shards_forgets_should_still_refuse_after_seeing_each_full() {
        let _memory = super::MEMORY.lock().await;
        // The memory keeps 1,024 counts; past that it starts afresh. Made to forget before every
        // call, a request must still stop once it has seen as many full shards as there are.
        let forget = || {
            for i in 0..1100 {
                let other = shared::store::dynamo::Shards::new(format!("forget|{i}"), 1, |_| unreachable!());
                other.mark_full(0);
            }
        };
        let script = Scripted::new(vec![FULL; 10]).on_call(forget);
        let (outcome, pauses, shards) = send("forgetful", &script).await;
        assert!(matches!(outcome.unwrap(), Counted::Refused { slot: Slot::Guard(1), .. }));
        assert_eq!((pauses, shards.len()), (0, 2), "two full shards seen: refused, not a third try");
    }

    #[tokio::test(start_paused = true)]
    async fn when_shards_are_held_should_try_the_other_after_a_pause_up_to_16_times() {
        let script = Scripted::new(vec![HELD; 15]);
        let (outcome, pauses, shards) = send("held-15", &script).await;
        assert_eq!((outcome.unwrap(), pauses, shards.len()), (Counted::Written, 15, 16));
        assert!(shards.windows(2).all(|pair| pair[0] != pair[1]), "each attempt the shard not just held: {shards:?}");
        let script = Scripted::new(vec![HELD; 16]);
        let (outcome, pauses, shards) = send("held-16", &script).await;
        assert!(matches!(outcome, Err(StoreError::Contention)), "{outcome:?}");
        assert_eq!((pauses, shards.len()), (16, 16));
        // A throttled shard is another shard's chance too.
        let script = Scripted::new([Answer::CancelledAt("2FA#CEIL#", "ThrottlingError")]);
        let (outcome, pauses, shards) = send("throttled-shard", &script).await;
        assert_eq!((outcome.unwrap(), pauses, shards.len()), (Counted::Written, 1, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn when_another_item_is_held_or_throttled_should_give_up_after_8_attempts_or_at_once() {
        let script = Scripted::new(vec![Answer::CancelledAt("2FA#RATE#", "TransactionConflict"); 8]);
        let (outcome, pauses, shards) = send("window-held", &script).await;
        assert!(matches!(outcome, Err(StoreError::Contention)), "{outcome:?}");
        assert_eq!((pauses, shards.len()), (8, 8));
        // A cancellation that names no item teaches nothing: an attempt spent, never a loop.
        let script = Scripted::new(vec![Answer::CancelledAt("NOTHING", "ConditionalCheckFailed"); 8]);
        let (outcome, _, shards) = send("no-reason", &script).await;
        assert!(matches!(outcome, Err(StoreError::Contention)), "{outcome:?}");
        assert_eq!(shards.len(), 8);
        // Any other reason on a shard fails the call: a fault of ours, not a shard's chance.
        let script = Scripted::new([Answer::CancelledAt("2FA#CEIL#", "ValidationError")]);
        let (outcome, _, shards) = send("shard-invalid", &script).await;
        assert!(matches!(outcome, Err(StoreError::Aws(_))), "{outcome:?}");
        assert_eq!(shards.len(), 1);
        // A throttle anywhere but a shard fails the call: DynamoDB is unavailable.
        let script = Scripted::new([Answer::CancelledAt("2FA#RATE#", "ThrottlingError")]);
        let (outcome, _, shards) = send("window-throttled", &script).await;
        assert!(matches!(outcome, Err(StoreError::Unavailable(_))), "{outcome:?}");
        assert_eq!(shards.len(), 1);
        // A full window with a full shard: the window's refusal.
        let script =
            Scripted::new([Answer::Cancelled(vec!["ConditionalCheckFailed", "None", "ConditionalCheckFailed"])]);
        let (outcome, _, _) = send("window-full", &script).await;
        assert_eq!(outcome.unwrap(), Counted::WindowFull(0));
    }
}

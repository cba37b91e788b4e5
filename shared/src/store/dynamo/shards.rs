//! A count kept in several items, its shards, so that no single item is written by every
//! request that shares the count (issue 24: one item takes ~1/hold-time transactions a second,
//! ~100/s, and 1,000 write units a second at most). Each shard allows its share of the limit;
//! the shares add up to the limit, so the count never passes it. A request counts in one
//! shard, picked at random among those not known to be full; a full or conflicting shard
//! sends the next attempt to another (`counting`).
//!
//! What this process has seen full is remembered for the bucket (a shard's count only grows
//! within its bucket, so "full" never goes stale): each function instance pays at most one
//! cancelled transaction per shard per bucket to learn it, and once every shard is known full
//! a request is refused without a call.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::StoreError;

/// The write that counts one event in a given shard.
type CountIn = Arc<dyn Fn(u32) -> Result<TransactWriteItem, StoreError> + Send + Sync>;

/// A sharded count of one bucket.
#[derive(Clone)]
pub struct Shards {
    /// What the memory of full shards knows this count by: its table, its bucket's key and
    /// its limit (the same bucket under another limit has other shares).
    identity: String,
    count: u32,
    count_in: CountIn,
}

impl fmt::Debug for Shards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shards").field("identity", &self.identity).field("count", &self.count).finish()
    }
}

/// `limit` shared out over `shards` items: shard `shard`'s share. The first `limit % shards`
/// shards take one more, so the shares add up to `limit` exactly.
pub fn share(limit: u32, shards: u32, shard: u32) -> u32 {
    let shards = shards.max(1);
    limit / shards + u32::from(shard < limit % shards)
}

/// Counts remembered at most (a family's day, and each listed country's: a few hundred at
/// most, of at most 4,096 flags each): past it the memory starts afresh (old days' go; the
/// current ones are learnt again, one cancelled transaction a shard).
const REMEMBERED_BUCKETS: usize = 1024;

/// The shards this process has seen full, by count (`Shards::identity`).
fn memory() -> &'static Mutex<HashMap<String, Vec<bool>>> {
    static FULL: std::sync::OnceLock<Mutex<HashMap<String, Vec<bool>>>> = std::sync::OnceLock::new();
    FULL.get_or_init(Mutex::default)
}

impl Shards {
    pub fn new(
        identity: String,
        count: u32,
        count_in: impl Fn(u32) -> Result<TransactWriteItem, StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self { identity, count: count.max(1), count_in: Arc::new(count_in) }
    }

    /// How many shards the count is kept in.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The write that counts one event in `shard`.
    pub fn count_in(&self, shard: u32) -> Result<TransactWriteItem, StoreError> {
        (self.count_in)(shard)
    }

    /// A shard not known full, uniformly at random, other than `avoid` (the one that just
    /// conflicted) when another is left; `None` once every shard is known full.
    pub fn pick(&self, avoid: Option<u32>) -> Option<u32> {
        let memory = memory().lock().unwrap_or_else(PoisonError::into_inner);
        let full = memory.get(&self.identity);
        let open = |shard: u32| full.is_none_or(|full| full.get(shard as usize) != Some(&true));
        let candidates = |skip: Option<u32>| (0..self.count).filter(move |s| open(*s) && Some(*s) != skip);
        let skip = avoid.filter(|_| candidates(avoid).next().is_some());
        let left = candidates(skip).count();
        if left == 0 {
            return None;
        }
        candidates(skip).nth(rand::random_range(0..left))
    }

    /// Remembers `shard` as full for the rest of its bucket.
    pub fn mark_full(&self, shard: u32) {
        let mut memory = memory().lock().unwrap_or_else(PoisonError::into_inner);
        if memory.len() >= REMEMBERED_BUCKETS && !memory.contains_key(&self.identity) {
            memory.clear();
        }
        let full = memory.entry(self.identity.clone()).or_insert_with(|| vec![false; self.count as usize]);
        if let Some(seen) = full.get_mut(shard as usize) {
            *seen = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(identity: &str, count: u32) -> Shards {
        Shards::new(identity.to_string(), count, |_| Err(StoreError::Malformed("unused")))
    }

    #[test]
    fn when_a_limit_is_shared_out_should_add_up_to_it_exactly() {
        for (limit, count) in [(100_000, 512), (10_000, 512), (7, 3), (3, 3), (1, 1), (513, 512)] {
            let total: u32 = (0..count).map(|s| share(limit, count, s)).sum();
            assert_eq!(total, limit, "{limit} over {count}");
            let (most, least) =
                ((0..count).map(|s| share(limit, count, s)).max(), (0..count).map(|s| share(limit, count, s)).min());
            assert!(most.unwrap() - least.unwrap() <= 1, "{limit} over {count}: shares differ by one at most");
        }
        assert_eq!((share(7, 3, 0), share(7, 3, 1), share(7, 3, 2)), (3, 2, 2));
    }

    #[test]
    fn when_shards_are_known_full_should_pick_only_the_others_and_none_at_the_end() {
        let count = shards("test|pick|4", 4);
        let mut seen = [0u32; 4];
        for _ in 0..400 {
            seen[count.pick(None).unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "uniform over all four: {seen:?}");
        count.mark_full(1);
        count.mark_full(3);
        for _ in 0..100 {
            assert!(matches!(count.pick(None), Some(0 | 2)));
            assert_eq!(count.pick(Some(0)), Some(2), "another than the one that conflicted");
        }
        count.mark_full(2);
        assert_eq!(count.pick(Some(0)), Some(0), "the conflicted one when it is the only one left");
        count.mark_full(0);
        assert_eq!((count.pick(None), count.pick(Some(2))), (None, None));
        // Another limit on the same bucket: its own shares, its own memory; marking it keeps
        // what the first count learnt.
        let other = shards("test|pick|5", 4);
        assert!(other.pick(None).is_some());
        other.mark_full(0);
        assert_eq!(count.pick(None), None, "still known full");
        assert!(matches!(other.pick(None), Some(1..=3)));
        // Past 1,024 counts the memory starts afresh (in this one test: the others of this
        // module do not count on it).
        let one = shards("test|pick|one", 1);
        one.mark_full(0);
        assert_eq!(one.pick(None), None);
        for i in 0..REMEMBERED_BUCKETS {
            shards(&format!("test|pick|filler|{i}"), 1).mark_full(0);
        }
        assert_eq!(one.pick(None), Some(0), "forgotten: learnt again by one cancelled transaction");
        assert!(format!("{one:?}").contains(r#"identity: "test|pick|one", count: 1"#), "{one:?}");
    }
}

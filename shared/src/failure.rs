//! Store failures, as every family answers them: `Busy` (503, try again) when trying again
//! may pass, else `Internal` (500); logged once, at the edge, where the request is answered.

use crate::dynamo::StoreError;

/// Logs the store failure among an answer's causes, if any: a warning when it may pass
/// (contention alone is expected, and not logged), an error when it is ours to fix.
pub fn log_store_cause(err: &(dyn std::error::Error + 'static)) {
    let causes = std::iter::successors(Some(err), |e| e.source());
    let Some(store) = causes.filter_map(|e| e.downcast_ref::<StoreError>()).next() else { return };
    match store {
        StoreError::Contention => {}
        StoreError::Unavailable(_) => tracing::warn!(error = %store, "store unavailable"),
        _ => tracing::error!(error = %store, "store failure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_store_fails_should_tell_what_may_pass_from_what_will_not() {
        assert!(StoreError::Contention.is_transient());
        assert!(StoreError::Unavailable("throttled".into()).is_transient());
        assert!(!StoreError::Aws("no such table".into()).is_transient());
        assert!(!StoreError::Malformed("ttl").is_transient());
    }
}

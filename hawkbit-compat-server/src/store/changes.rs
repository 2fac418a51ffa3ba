//! The change generation: a counter that moves after every write that can change what a
//! device is told, so code outside the store can keep answers derived from the database in
//! memory and know exactly when they went stale (the base-poll view cache in `api::ddi`).
//!
//! Writers hold a [`ChangeGuard`] for the duration of the write; it bumps the generation when
//! it is dropped, which is after the commit (or after the failure, which costs nothing but a
//! cache miss). A reader notes the generation *before* it reads, and trusts what it read only
//! while the generation is unchanged. That order makes the race harmless: a write committed
//! while the reader was reading bumps the generation after the reader noted it, so the
//! reader's result is already stale when it is stored, never wrongly fresh.
//!
//! The counter only sees writes of this process. With several server instances on one
//! PostgreSQL database, the others' writes are invisible here; callers bound their trust with
//! a time limit there (see `poll_cache_ms`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Shared counter of one store (all clones of a `Store` share it).
#[derive(Debug, Default, Clone)]
pub(crate) struct Changes(Arc<AtomicU64>);

impl Changes {
    pub(crate) fn generation(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Marks a change that has already been committed.
    pub(crate) fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks a change that is about to be made: the generation moves when the guard drops.
    pub(crate) fn guard(&self) -> ChangeGuard {
        ChangeGuard(self.clone())
    }
}

/// Bumps the generation when dropped; held across a write and its commit.
#[derive(Debug)]
pub(crate) struct ChangeGuard(Changes);

impl Drop for ChangeGuard {
    fn drop(&mut self) {
        self.0.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_bumps_on_drop_only() {
        let c = Changes::default();
        let g0 = c.generation();
        let guard = c.guard();
        assert_eq!(c.generation(), g0, "a write in progress is not yet visible");
        drop(guard);
        assert_eq!(c.generation(), g0 + 1);
        c.bump();
        assert_eq!(c.generation(), g0 + 2);
    }
}

//! Change generations: counters that move after every write that can change what a device is
//! told, so code outside the store can keep answers derived from the database in memory and
//! know exactly when they went stale (the base-poll views in `api::ddi`).
//!
//! There are two kinds. The global generation moves on writes that can change many devices'
//! answers at once (filters, configuration of a group or the tenant, rollout steps, target
//! deletion). Writes that concern one device (its assignment, feedback, attributes, tags,
//! configuration, first contact) move only that device's target generation, so a fleet
//! reporting progress does not make every other device's answer stale. Target generations
//! live in a fixed array of counters indexed by target id: memory stays constant whatever
//! the fleet size, at the price that a write also invalidates the few devices sharing its
//! counter.
//!
//! Writers hold a [`ChangeGuard`] for the duration of the write; it bumps its counter when it
//! is dropped, which is after the commit (or after a failure, which costs nothing but cache
//! misses). A reader notes the generations *before* it reads and trusts what it read only
//! while they are unchanged. That order makes the race harmless: a write committed while the
//! reader was reading bumps a counter after the reader noted it, so the reader's result is
//! already stale when it is stored, never wrongly fresh.
//!
//! The counters only see writes of this process. With several server instances on one
//! PostgreSQL database, the others' writes are invisible here; callers bound their trust with
//! a time limit there (see `poll_cache_ms`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters for target generations (a power of two; 128 KiB).
const STRIPES: usize = 16 * 1024;

#[derive(Debug)]
struct Counters {
    global: AtomicU64,
    targets: Box<[AtomicU64]>,
}

/// Shared counters of one store (all clones of a `Store` share them).
#[derive(Debug, Clone)]
pub(crate) struct Changes(Arc<Counters>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(Counters {
            global: AtomicU64::new(0),
            targets: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }))
    }
}

fn stripe(target_id: i64) -> usize {
    // Ids are positive and dense; the low bits spread them evenly.
    (target_id as u64 as usize) & (STRIPES - 1)
}

impl Changes {
    pub(crate) fn generation(&self) -> u64 {
        self.0.global.load(Ordering::Acquire)
    }

    pub(crate) fn target_generation(&self, target_id: i64) -> u64 {
        self.0.targets[stripe(target_id)].load(Ordering::Acquire)
    }

    /// Marks a change that has already been committed: of one target, or (`None`) of any.
    pub(crate) fn bump(&self, target_id: Option<i64>) {
        let counter = match target_id {
            Some(id) => &self.0.targets[stripe(id)],
            None => &self.0.global,
        };
        counter.fetch_add(1, Ordering::AcqRel);
    }

    /// Marks a change about to be made to any target; the generation moves when the guard
    /// drops. [`ChangeGuard::only_target`] narrows it.
    pub(crate) fn guard(&self) -> ChangeGuard {
        ChangeGuard {
            changes: self.clone(),
            target_id: None,
        }
    }
}

/// Bumps a generation when dropped; held across a write and its commit.
#[derive(Debug)]
pub(crate) struct ChangeGuard {
    changes: Changes,
    target_id: Option<i64>,
}

impl ChangeGuard {
    /// The write concerns only this target (and it is the one only target it concerns).
    pub(crate) fn only_target(mut self, target_id: i64) -> Self {
        self.target_id = Some(target_id);
        self
    }

    /// Like [`Self::only_target`], once the target is known partway through the write.
    pub(crate) fn narrow_to(&mut self, target_id: i64) {
        self.target_id = Some(target_id);
    }
}

impl Drop for ChangeGuard {
    fn drop(&mut self) {
        self.changes.bump(self.target_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_bump_on_drop_only() {
        let c = Changes::default();
        let guard = c.guard();
        assert_eq!(c.generation(), 0, "a write in progress is not yet visible");
        drop(guard);
        assert_eq!(c.generation(), 1);
        c.bump(None);
        assert_eq!(c.generation(), 2);
    }

    #[test]
    fn a_target_write_moves_only_its_counter() {
        let c = Changes::default();
        drop(c.guard().only_target(5));
        assert_eq!(c.generation(), 0);
        assert_eq!(c.target_generation(5), 1);
        assert_eq!(c.target_generation(6), 0);
        assert_eq!(
            c.target_generation(5 + STRIPES as i64),
            1,
            "shares the counter"
        );
        let mut g = c.guard();
        g.narrow_to(6);
        drop(g);
        assert_eq!((c.generation(), c.target_generation(6)), (0, 1));
    }
}

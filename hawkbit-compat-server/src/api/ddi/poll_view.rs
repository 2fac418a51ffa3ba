//! Base polls answered from memory.
//!
//! A fleet sends base polls far more than anything else, and a device's answer only changes
//! when something is written: an assignment, a cancellation, feedback, new attributes, new
//! configuration, a rollout step. So the answer's parts (who the device is, its token, which
//! links it gets) are kept per controller id together with the store's change generations
//! (global and the device's own) noted before they were read, and reused while both are
//! unchanged. That is exact, not a time-based cache: a write of this process about one device
//! invalidates that device's view, a write about many invalidates all (see `store::changes`).
//! A poll answered from memory still checks the token and records the poll time (in memory,
//! as every poll does).
//!
//! Two things bound a view besides the generation:
//! * time: a time-forced action turns forced at its time, which changes the
//!   `deploymentBase` link's `?c=`, so the view expires then;
//! * other server instances: on PostgreSQL several instances may share the database, and
//!   their writes do not move this instance's generation. There a view is reused only for
//!   `poll_cache_ms` (off by default), which bounds how late a change can reach a device.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// Views kept at most; beyond this the map starts over (one entry per polling device).
const MAX_VIEWS: usize = 1_000_000;

/// What a device's base poll answer is made of.
#[derive(Debug)]
pub(super) struct PollView {
    /// Global change generation noted before the parts were read.
    pub generation: u64,
    /// The target's change generation noted before the parts were read.
    pub target_generation: u64,
    /// When the parts were read.
    pub read_at: Instant,
    /// Time (ms since the epoch) at which the answer changes without a write.
    pub expires_at_ms: Option<i64>,
    pub target_id: i64,
    pub token: Secret,
    pub links: ViewLinks,
}

/// The links of the answer, without the base URL and tenant (which come from the request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ViewLinks {
    /// Open action: id, which link it gets, and the `?c=` value.
    pub open_action: Option<(i64, OpenKind, i64)>,
    /// Last finished action.
    pub installed: Option<i64>,
    /// The server wants the device's attributes.
    pub config_data: bool,
    /// The device has not applied its current configuration.
    pub device_config: bool,
}

/// Which link the open action gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpenKind {
    /// `deploymentBase`
    Deploy,
    /// `cancelAction`
    Cancel,
    /// `confirmationBase`
    Confirm,
}

/// Views of one router, keyed by controller id.
#[derive(Debug, Default)]
pub(super) struct PollViews {
    views: Mutex<HashMap<String, Arc<PollView>>>,
}

/// How long a view may be trusted, given the store's current generation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Freshness {
    pub generation: u64,
    /// `None`: the generation sees every write (SQLite, one instance). `Some(d)`: writes of
    /// other instances are invisible, trust for `d` at most (zero: never).
    pub max_age: Option<Duration>,
    pub now_ms: i64,
}

impl Freshness {
    /// Whether views may be kept at all.
    pub fn cacheable(&self) -> bool {
        self.max_age.is_none_or(|d| !d.is_zero())
    }

    fn admits(&self, v: &PollView, target_generation: u64) -> bool {
        v.generation == self.generation
            && v.target_generation == target_generation
            && self.max_age.is_none_or(|d| v.read_at.elapsed() < d)
            && v.expires_at_ms.is_none_or(|t| self.now_ms < t)
    }
}

impl PollViews {
    /// The device's view, if it is still exact; `target_generation` gives the current
    /// generation of a target.
    pub fn get(
        &self,
        controller_id: &str,
        f: Freshness,
        target_generation: impl Fn(i64) -> u64,
    ) -> Option<Arc<PollView>> {
        if !f.cacheable() {
            return None;
        }
        let view = {
            let views = self.views.lock().unwrap_or_else(|e| e.into_inner());
            views.get(controller_id)?.clone()
        };
        f.admits(&view, target_generation(view.target_id))
            .then_some(view)
    }

    /// Keeps a view (if views may be kept at all).
    pub fn put(&self, controller_id: &str, view: Arc<PollView>, f: Freshness) {
        if !f.cacheable() {
            return;
        }
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if views.len() >= MAX_VIEWS && !views.contains_key(controller_id) {
            views.clear();
        }
        views.insert(controller_id.to_owned(), view);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(generation: u64, expires_at_ms: Option<i64>) -> PollView {
        PollView {
            generation,
            target_generation: 10,
            read_at: Instant::now(),
            expires_at_ms,
            target_id: 7,
            token: Secret::new("t"),
            links: ViewLinks::default(),
        }
    }

    fn fresh(generation: u64, max_age: Option<Duration>, now_ms: i64) -> Freshness {
        Freshness {
            generation,
            max_age,
            now_ms,
        }
    }

    fn gen10(target_id: i64) -> u64 {
        assert_eq!(target_id, 7);
        10
    }

    #[test]
    fn a_view_lives_until_a_generation_moves() {
        let views = PollViews::default();
        views.put("dev", Arc::new(view(3, None)), fresh(3, None, 0));
        assert!(views.get("dev", fresh(3, None, 0), gen10).is_some());
        assert!(views.get("dev", fresh(4, None, 0), gen10).is_none());
        assert!(views.get("dev", fresh(3, None, 0), |_| 11).is_none());
        assert!(views.get("other", fresh(3, None, 0), gen10).is_none());
    }

    #[test]
    fn a_view_expires_at_its_time_and_its_age_limit() {
        let views = PollViews::default();
        views.put("dev", Arc::new(view(1, Some(1000))), fresh(1, None, 0));
        assert!(views.get("dev", fresh(1, None, 999), gen10).is_some());
        assert!(views.get("dev", fresh(1, None, 1000), gen10).is_none());
        let limited = fresh(1, Some(Duration::ZERO), 0);
        views.put("dev2", Arc::new(view(1, None)), limited);
        assert!(
            views.get("dev2", fresh(1, None, 0), gen10).is_none(),
            "age limit 0 keeps nothing"
        );
        views.put(
            "dev3",
            Arc::new(view(1, None)),
            fresh(1, Some(Duration::from_secs(60)), 0),
        );
        assert!(views
            .get("dev3", fresh(1, Some(Duration::from_secs(60)), 0), gen10)
            .is_some());
        assert!(views
            .get("dev3", fresh(1, Some(Duration::from_nanos(1)), 0), gen10)
            .is_none());
    }
}

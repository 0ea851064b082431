//! Limits per user, so one tenant's runaway loop cannot starve the others: runs a minute,
//! runs at once, and model tokens a day (counted in the store, so replicas share the budget).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::RunError;
use crate::run::RunOutput;
use crate::store::Store;

/// Per-user limits on runs; each is off unless set. The user is the verified subject, or the
/// asserted `user_id` with authentication off (callers without one share a single allowance).
///
/// ```
/// use agentos_runtime::runs::UserLimits;
///
/// let limits = UserLimits::default().runs_per_minute(60).concurrent_runs(4).daily_tokens(200_000);
/// # let _ = limits;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserLimits {
    runs_per_minute: Option<NonZeroU32>,
    concurrent_runs: Option<NonZeroU32>,
    daily_tokens: Option<u64>,
}

impl UserLimits {
    /// At most `runs` run requests a minute per user (bursts up to `runs`).
    pub fn runs_per_minute(mut self, runs: u32) -> Self {
        self.runs_per_minute = NonZeroU32::new(runs);
        self
    }

    /// At most `runs` runs of a user in flight at once, on this replica.
    pub fn concurrent_runs(mut self, runs: u32) -> Self {
        self.concurrent_runs = NonZeroU32::new(runs);
        self
    }

    /// At most `tokens` model tokens a user's runs may use in a UTC day, across replicas.
    pub fn daily_tokens(mut self, tokens: u64) -> Self {
        self.daily_tokens = (tokens > 0).then_some(tokens);
        self
    }

    /// The limits `AGENTOS_RUNS_PER_MINUTE_PER_USER`, `AGENTOS_CONCURRENT_RUNS_PER_USER` and
    /// `AGENTOS_DAILY_TOKENS_PER_USER` set (a missing or unreadable one stays off).
    pub fn from_env() -> Self {
        let mut limits = UserLimits::default();
        if let Some(runs) = crate::env::number("AGENTOS_RUNS_PER_MINUTE_PER_USER") {
            limits = limits.runs_per_minute(runs.min(u32::MAX as u64) as u32);
        }
        if let Some(runs) = crate::env::number("AGENTOS_CONCURRENT_RUNS_PER_USER") {
            limits = limits.concurrent_runs(runs.min(u32::MAX as u64) as u32);
        }
        if let Some(tokens) = crate::env::number("AGENTOS_DAILY_TOKENS_PER_USER") {
            limits = limits.daily_tokens(tokens);
        }
        limits
    }

    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.runs_per_minute.is_some()
            || self.concurrent_runs.is_some()
            || self.daily_tokens.is_some()
    }

    /// The daily token budget, if set.
    pub fn daily_token_budget(&self) -> Option<u64> {
        self.daily_tokens
    }
}

/// The limits of one run service and what each user has used of them.
pub(crate) struct Quotas {
    limits: UserLimits,
    rate: Option<DefaultKeyedRateLimiter<String>>,
    running: Mutex<HashMap<String, u32>>,
}

/// A user's place among their runs in flight; given back when dropped.
pub(crate) struct Slot {
    quotas: Arc<Quotas>,
    user: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self.quotas.lock();
        if let Some(count) = running.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.user);
            }
        }
    }
}

impl Quotas {
    pub(crate) fn new(limits: UserLimits) -> Arc<Self> {
        Arc::new(Quotas {
            limits,
            rate: limits
                .runs_per_minute
                .map(|runs| RateLimiter::keyed(Quota::per_minute(runs))),
            running: Mutex::default(),
        })
    }

    pub(crate) fn limits(&self) -> &UserLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a run of `user` start, or says which limit it is over and when to try again. A
    /// refused request uses none of the user's allowance.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        user: Option<&str>,
        store: &Store,
    ) -> Result<Option<Slot>, RunError> {
        if !self.limits.is_set() {
            return Ok(None);
        }
        let user = user.unwrap_or_default().to_owned();
        if let Some(budget) = self.limits.daily_tokens {
            let used = store.tokens_used(&user, today()).await?;
            if used >= budget {
                return Err(RunError::LimitExceeded {
                    limit: "daily tokens per user",
                    retry_after: seconds_to_midnight(),
                });
            }
        }
        if let Some(most) = self.limits.concurrent_runs
            && self.lock().get(&user).copied().unwrap_or(0) >= most.get()
        {
            return Err(RunError::LimitExceeded {
                limit: "concurrent runs per user",
                retry_after: 1,
            });
        }
        if let Some(rate) = &self.rate
            && let Err(not_until) = rate.check_key(&user)
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(RunError::LimitExceeded {
                limit: "runs per minute per user",
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
        *self.lock().entry(user.clone()).or_insert(0) += 1;
        Ok(Some(Slot {
            quotas: Arc::clone(self),
            user,
        }))
    }
}

/// The UTC day a token count belongs to: days since the Unix epoch.
pub(crate) fn today() -> i64 {
    now_secs() / 86_400
}

fn seconds_to_midnight() -> u64 {
    (86_400 - now_secs().rem_euclid(86_400)).max(1) as u64
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}

/// The model tokens a run used, its members' included.
pub(crate) fn tokens_of(output: &RunOutput) -> u64 {
    output.metrics.total_tokens
        + output
            .member_responses
            .iter()
            .flatten()
            .map(tokens_of)
            .sum::<u64>()
}

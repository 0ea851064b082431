//! The limits: timeouts and the bound on open connections as configured, and the process's
//! open-file limit they are derived from.

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

/// The most header fields a request may carry (431 above it).
pub const MAX_HEADER_FIELDS: usize = 100;
/// The most bytes a request's head may take, request line and header fields together (431
/// above it).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's own field limit, above ours so that ours answers first, with a JSON body.
pub(super) const HYPER_MAX_HEADERS: usize = 256;
/// Connections kept for `/health` and `/ready` once the bound is reached, and as many again
/// answered 503 at once; past both a new connection is closed unanswered.
pub(super) const HEALTH_RESERVE: usize = 32;
/// The header timeout of a connection served for health checks: a probe sends its request at
/// once, and a silent client must not hold a reserved place for long.
pub(super) const RESERVE_HEADER_READ: Duration = Duration::from_secs(2);
/// How long a new connection waits for the place of an idle one it closed.
pub(super) const EVICTION_WAIT: Duration = Duration::from_secs(1);
/// What a refused client is told to wait, in seconds.
pub(super) const RETRY_AFTER: u64 = 1;

/// How the server treats connections: timeouts and a bound on how many are open. Each
/// setting left unset is read from its environment variable, else takes its default.
///
/// ```
/// use std::time::Duration;
/// use agentos_runtime::server::ConnectionLimits;
///
/// let limits = ConnectionLimits::default()
///     .header_read_timeout(Duration::from_secs(5))
///     .idle_timeout(Duration::from_secs(120))
///     .max_connections(2_000);
/// # let _ = limits;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub(super) header_read_timeout: Option<Duration>,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) body_read_timeout: Option<Duration>,
    pub(super) max_connections: Option<usize>,
}

impl ConnectionLimits {
    /// How long a request head may take to arrive (default 10 s,
    /// `AGENTOS_HEADER_READ_TIMEOUT_SECS`).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = positive(timeout);
        self
    }

    /// How long a kept-alive connection may wait for its next request, and a client may
    /// leave an answer unread (default 75 s, `AGENTOS_IDLE_TIMEOUT_SECS`). Behind a load
    /// balancer, keep it above the balancer's own idle timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = positive(timeout);
        self
    }

    /// How long a request body may take to arrive whole (default 30 s,
    /// `AGENTOS_BODY_READ_TIMEOUT_SECS`).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = positive(timeout);
        self
    }

    /// How many connections are served at once, besides the few kept for health checks
    /// (default: derived from the open-file limit, `AGENTOS_MAX_CONNECTIONS`).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = (connections > 0).then_some(connections);
        self
    }

    /// The settings `AGENTOS_HEADER_READ_TIMEOUT_SECS`, `AGENTOS_IDLE_TIMEOUT_SECS`,
    /// `AGENTOS_BODY_READ_TIMEOUT_SECS` and `AGENTOS_MAX_CONNECTIONS` set (a missing, zero or
    /// unreadable one stays unset).
    pub fn from_env() -> Self {
        let read = |name: &str| crate::env::number(name).filter(|value| *value > 0);
        let seconds = |name: &str| read(name).map(Duration::from_secs);
        ConnectionLimits {
            header_read_timeout: seconds("AGENTOS_HEADER_READ_TIMEOUT_SECS"),
            idle_timeout: seconds("AGENTOS_IDLE_TIMEOUT_SECS"),
            body_read_timeout: seconds("AGENTOS_BODY_READ_TIMEOUT_SECS"),
            max_connections: read("AGENTOS_MAX_CONNECTIONS")
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    /// What is in force: this, else the environment, else the defaults (the bound derived
    /// from `open_files`, the process's open-file limit).
    pub(super) fn resolve(self, open_files: Option<u64>) -> Settings {
        let env = ConnectionLimits::from_env();
        Settings {
            header_read: self
                .header_read_timeout
                .or(env.header_read_timeout)
                .unwrap_or(Duration::from_secs(10)),
            idle: self
                .idle_timeout
                .or(env.idle_timeout)
                .unwrap_or(Duration::from_secs(75)),
            body_read: self
                .body_read_timeout
                .or(env.body_read_timeout)
                .unwrap_or(Duration::from_secs(30)),
            max_connections: self
                .max_connections
                .or(env.max_connections)
                .unwrap_or_else(|| default_max_connections(open_files)),
        }
    }
}

pub(super) fn positive(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// The bound that fits in `open_files` descriptors: an eighth of them (at least 128) stays
/// for the store's pool, logs and the files components open, and room for the health
/// reserve and the refused; capped, since each connection also costs memory.
pub(super) fn default_max_connections(open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return 1_024;
    };
    let headroom = (open_files / 8).max(128) + 2 * HEALTH_RESERVE as u64;
    let usable = open_files.saturating_sub(headroom).clamp(16, 16_384);
    usize::try_from(usable).unwrap_or(16_384)
}

/// The settings in force for one server.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    pub(super) header_read: Duration,
    pub(super) idle: Duration,
    pub(super) body_read: Duration,
    pub(super) max_connections: usize,
}

/// Raises the process's open-file soft limit to its hard limit, once, and logs both values.
/// Answers the soft limit in force afterwards (`None` where there is no such limit).
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    static RAISED: OnceLock<Option<u64>> = OnceLock::new();
    *RAISED.get_or_init(raise_nofile)
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
pub(super) fn raise_nofile() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot read the open-file limit");
        return None;
    }
    let before = limit.rlim_cur as u64;
    let hard = limit.rlim_max;
    if limit.rlim_cur >= hard {
        tracing::info!(
            open_files = before,
            "open-file limit (RLIMIT_NOFILE) already at its hard limit"
        );
        return Some(before);
    }
    // macOS refuses a soft limit above OPEN_MAX, whatever the hard limit says.
    #[cfg(target_os = "macos")]
    let wanted = hard.min(libc::OPEN_MAX as libc::rlim_t);
    #[cfg(not(target_os = "macos"))]
    let wanted = hard;
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: hard,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        tracing::warn!(
            error = %io::Error::last_os_error(),
            before,
            hard = hard as u64,
            "cannot raise the open-file limit (RLIMIT_NOFILE)"
        );
        return Some(before);
    }
    tracing::info!(
        before,
        after = wanted as u64,
        "raised the open-file limit (RLIMIT_NOFILE) to its hard limit"
    );
    Some(wanted as u64)
}

#[cfg(not(unix))]
pub(super) fn raise_nofile() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bound_leaves_room_for_other_files() {
        assert_eq!(default_max_connections(Some(1_024)), 1_024 - 128 - 64);
        assert_eq!(default_max_connections(Some(1_048_576)), 16_384);
        assert_eq!(default_max_connections(Some(100)), 16);
        assert_eq!(default_max_connections(None), 1_024);
    }

    #[test]
    fn settings_on_the_builder_win_and_zero_means_unset() {
        let settings = ConnectionLimits::default()
            .header_read_timeout(Duration::from_secs(3))
            .idle_timeout(Duration::ZERO)
            .max_connections(7)
            .resolve(Some(1_024));
        assert_eq!(settings.header_read, Duration::from_secs(3));
        assert_eq!(settings.max_connections, 7);
        if std::env::var_os("AGENTOS_IDLE_TIMEOUT_SECS").is_none() {
            assert_eq!(settings.idle, Duration::from_secs(75));
        }
    }
}

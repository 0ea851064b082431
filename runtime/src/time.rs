//! Time as agentos reads and writes it: Unix seconds for stored and agno-shaped times, RFC 3339
//! UTC for the places agno's API spells out a date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in whole Unix seconds.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Now, in Unix seconds with their fraction, for tool timings.
pub(crate) fn now_unix_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Now, in Unix microseconds, as the store keeps times.
pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Now as an RFC 3339 UTC timestamp, as `/health` reports the start time.
pub(crate) fn now_rfc3339() -> String {
    rfc3339(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO),
    )
}

/// Unix seconds as an RFC 3339 UTC timestamp.
pub(crate) fn rfc3339_of_unix(seconds: i64) -> String {
    rfc3339(Duration::from_secs(seconds.max(0) as u64))
}

/// A time since the Unix epoch as an RFC 3339 UTC timestamp.
pub(crate) fn rfc3339(now: Duration) -> String {
    let seconds = now.as_secs() as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60,
        now.subsec_micros()
    )
}

/// The day a `YYYY-MM-DD` date names, in days since 1970-01-01; `None` for anything else
/// (a month or day out of range included).
pub(crate) fn days_of_date(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let (year, month, day): (i64, i64, i64) =
        (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let length = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if !(1..=length).contains(&day) {
        return None;
    }
    // Days from the civil date (the inverse of `rfc3339`'s).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_the_day_rfc3339_writes_back() {
        for day in [0, 1, 59, 365, 10_957, 20_795, 20_800] {
            let text = rfc3339_of_unix(day * 86_400);
            assert_eq!(days_of_date(&text[..10]), Some(day), "{text}");
        }
        assert_eq!(days_of_date("2024-02-29"), Some(19_782));
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "today",
            "2026-12-08x",
        ] {
            assert_eq!(days_of_date(bad), None, "{bad}");
        }
    }
}

//! Timestamps: milliseconds since the Unix epoch, the unit IoT events use; CloudTrail's
//! RFC 3339 strings are converted at the boundary.

/// Milliseconds since the Unix epoch.
pub type EpochMillis = i64;

/// The current time.
pub fn now_millis() -> EpochMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as EpochMillis)
        .unwrap_or_default()
}

/// Time as a use case sees it: the wall clock for records, a monotonic clock for deadlines,
/// and waiting. The Lambdas and `drctl` run on [`SystemClock`]; tests on a manual clock
/// whose sleeps return at once, so a loop over minutes of rounds is checked in
/// microseconds, deterministically.
pub trait Clock: Sync {
    /// The wall-clock time, for records and messages.
    fn now_ms(&self) -> EpochMillis;
    /// A monotonic reading, for deadlines and durations.
    fn instant(&self) -> std::time::Instant;
    /// Wait for `duration`.
    fn sleep(&self, duration: std::time::Duration) -> impl std::future::Future<Output = ()> + Send;
}

/// The machine's clocks and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> EpochMillis {
        now_millis()
    }

    fn instant(&self) -> std::time::Instant {
        std::time::Instant::now()
    }

    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A clock that moves only when slept on or advanced: a test's time.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct ManualClock {
    start: std::time::Instant,
    start_ms: EpochMillis,
    elapsed: std::sync::Mutex<std::time::Duration>,
}

#[cfg(test)]
impl ManualClock {
    /// A clock reading `start_ms`.
    pub(crate) fn at(start_ms: EpochMillis) -> Self {
        Self {
            start: std::time::Instant::now(),
            start_ms,
            elapsed: std::sync::Mutex::new(std::time::Duration::ZERO),
        }
    }

    /// Move time on by `duration` (a slow call).
    pub(crate) fn advance(&self, duration: std::time::Duration) {
        *self.elapsed.lock().expect("not poisoned") += duration;
    }

    /// How much time has passed.
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        *self.elapsed.lock().expect("not poisoned")
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now_ms(&self) -> EpochMillis {
        self.start_ms + self.elapsed().as_millis() as EpochMillis
    }

    fn instant(&self) -> std::time::Instant {
        self.start + self.elapsed()
    }

    async fn sleep(&self, duration: std::time::Duration) {
        self.advance(duration);
    }
}

/// A duration for a person: seconds up to two minutes, minutes up to two hours, then
/// hours and minutes (`45s`, `12m`, `3h05m`). Never rounds a short duration to nothing:
/// under a second is `<1s`.
pub fn human(ms: i64) -> String {
    if ms < 1000 {
        return "<1s".to_owned();
    }
    let seconds = ms / 1000;
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Parse an RFC 3339 timestamp such as `2026-11-22T05:00:00Z` or
/// `2026-11-22T05:00:00.123+01:00` into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<EpochMillis> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_durations_never_read_as_nothing() {
        assert_eq!(super::human(100), "<1s");
        assert_eq!(super::human(45_000), "45s");
        assert_eq!(super::human(12 * 60_000), "12m");
        assert_eq!(super::human(3 * 3_600_000 + 5 * 60_000), "3h05m");
    }

    use super::*;

    #[test]
    fn rfc3339_timestamps_convert_to_epoch_millis() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2016-04-14T21:20:00Z"),
            Some(1_460_668_800_000)
        );
        assert_eq!(
            parse_rfc3339("2016-04-14T21:20:00.5Z"),
            Some(1_460_668_800_500)
        );
        assert_eq!(
            parse_rfc3339("2016-04-14T23:20:00+02:00"),
            Some(1_460_668_800_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        for bad in [
            "",
            "2016-04-14",
            "2016-13-01T00:00:00Z",
            "2016-04-14T21:20:00",
            "yyyy-04-14T21:20:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}

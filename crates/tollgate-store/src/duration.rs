//! LiteLLM's duration strings (`30s`, `30m`, `30h`, `30d`, `1w`, `1mo`) and its calendar-aligned
//! budget resets in a configured time zone.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Seconds(i64),
    Minutes(i64),
    Hours(i64),
    Days(i64),
    Weeks(i64),
    Months(u32),
}

/// Parses `^(\d+)(mo|[smhdw]?)` (the rest ignored, as LiteLLM); a bare number is seconds.
/// Empty, `None` and `null` are no duration.
pub fn parse(s: &str) -> Option<Span> {
    let s = s.trim();
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().ok()?;
    let rest = &s[digits.len()..];
    Some(if rest.starts_with("mo") {
        Span::Months(u32::try_from(n).ok()?)
    } else {
        match rest.chars().next() {
            None | Some('s') => Span::Seconds(n),
            Some('m') => Span::Minutes(n),
            Some('h') => Span::Hours(n),
            Some('d') => Span::Days(n),
            Some('w') => Span::Weeks(n),
            Some(_) => Span::Seconds(n),
        }
    })
}

/// `now + duration` (key expiry); months keep the day of month, clamped to the month's end.
pub fn add(now: DateTime<Utc>, span: Span) -> Option<DateTime<Utc>> {
    let secs = |n: i64, unit: i64| Duration::try_seconds(n.checked_mul(unit)?);
    match span {
        Span::Seconds(n) => now.checked_add_signed(secs(n, 1)?),
        Span::Minutes(n) => now.checked_add_signed(secs(n, 60)?),
        Span::Hours(n) => now.checked_add_signed(secs(n, 3600)?),
        Span::Days(n) => now.checked_add_signed(secs(n, 86_400)?),
        Span::Weeks(n) => now.checked_add_signed(secs(n, 604_800)?),
        Span::Months(n) => now.checked_add_months(Months::new(n)),
    }
}

/// The time zone of `litellm_settings.timezone`; UTC when unset or unknown.
pub fn zone(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse().ok()).unwrap_or(Tz::UTC)
}

/// The next budget reset after `now`, aligned to the calendar in `tz` as LiteLLM does: `1d`
/// next midnight, `7d`/`1w` next Monday, `30d`/`1mo` the 1st of next month, other `Nd` today's
/// midnight + N days, `Nh`/`Nm`/`Ns` the next multiple of N since midnight.
pub fn next_reset(now: DateTime<Utc>, span: Span, tz: Tz) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    let today = local.date_naive();
    let midnight = |d: NaiveDate| -> Option<DateTime<Utc>> {
        tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let first_of_next_month = || {
        let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)?;
        midnight(first.checked_add_months(Months::new(1))?)
    };
    let within_day = |unit: i64| -> Option<DateTime<Utc>> {
        if unit <= 0 {
            return None;
        }
        let start = midnight(today)?;
        let elapsed = (now - start).num_seconds();
        let next = (elapsed / unit + 1).checked_mul(unit)?;
        start.checked_add_signed(Duration::try_seconds(next)?)
    };
    match span {
        Span::Seconds(n) => within_day(n),
        Span::Minutes(n) => within_day(n.checked_mul(60)?),
        Span::Hours(n) => within_day(n.checked_mul(3600)?),
        Span::Days(1) => midnight(today.succ_opt()?),
        Span::Days(7) | Span::Weeks(1) => {
            let days = 7 - i64::from(today.weekday().num_days_from_monday());
            midnight(today.checked_add_signed(Duration::try_days(days)?)?)
        }
        Span::Days(30) | Span::Months(1) => first_of_next_month(),
        Span::Days(n) if n > 0 => midnight(today.checked_add_signed(Duration::try_days(n)?)?),
        Span::Weeks(n) if n > 0 => {
            midnight(today.checked_add_signed(Duration::try_days(n.checked_mul(7)?)?)?)
        }
        Span::Months(n) if n > 0 => {
            let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)?;
            midnight(first.checked_add_months(Months::new(n))?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_litellm_strings() {
        assert_eq!(parse("30s"), Some(Span::Seconds(30)));
        assert_eq!(parse("30m"), Some(Span::Minutes(30)));
        assert_eq!(parse("30min"), Some(Span::Minutes(30)));
        assert_eq!(parse("1hr"), Some(Span::Hours(1)));
        assert_eq!(parse("30d"), Some(Span::Days(30)));
        assert_eq!(parse("1w"), Some(Span::Weeks(1)));
        assert_eq!(parse("1mo"), Some(Span::Months(1)));
        assert_eq!(parse("None"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn expiry_adds_calendar_months() {
        let now = t("2026-01-31T10:00:00Z");
        assert_eq!(add(now, Span::Months(1)), Some(t("2026-02-28T10:00:00Z")));
        assert_eq!(add(now, Span::Hours(2)), Some(t("2026-01-31T12:00:00Z")));
        assert_eq!(add(now, Span::Seconds(i64::MAX)), None);
    }

    #[test]
    fn resets_align_to_the_calendar() {
        let now = t("2026-12-09T13:47:10Z"); // a Wednesday
        let utc = Tz::UTC;
        assert_eq!(
            next_reset(now, Span::Days(1), utc),
            Some(t("2026-12-10T00:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Weeks(1), utc),
            Some(t("2026-12-14T00:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Days(7), utc),
            Some(t("2026-12-14T00:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Days(30), utc),
            Some(t("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Months(1), utc),
            Some(t("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Days(3), utc),
            Some(t("2026-12-12T00:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Hours(6), utc),
            Some(t("2026-12-09T18:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Minutes(30), utc),
            Some(t("2026-12-09T14:00:00Z"))
        );
        assert_eq!(
            next_reset(now, Span::Seconds(30), utc),
            Some(t("2026-12-09T13:47:30Z"))
        );
    }

    #[test]
    fn resets_follow_the_configured_zone() {
        // 23:30 UTC is already the next day in Tokyo (UTC+9): midnight there is 15:00 UTC.
        let now = t("2026-12-09T23:30:00Z");
        let tokyo = zone(Some("Asia/Tokyo"));
        assert_eq!(
            next_reset(now, Span::Days(1), tokyo),
            Some(t("2026-12-10T15:00:00Z"))
        );
        assert_eq!(zone(Some("Not/AZone")), Tz::UTC);
    }
}

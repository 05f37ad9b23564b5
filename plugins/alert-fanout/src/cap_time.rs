//! CAP 1.2 date-times ("2026-11-30T14:05:00-05:00") to milliseconds since the Unix epoch.
//!
//! A plugin has no time library worth its size on wasm32, and CAP's format is narrow: the date,
//! `T`, the time to the second, and a mandatory offset. CAP forbids `Z`; it is accepted anyway
//! since it means the same as `+00:00`.

use thiserror::Error;

const MILLISECONDS_PER_SECOND: i64 = 1_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Why a CAP date-time was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{text:?} is not a CAP date-time (YYYY-MM-DDThh:mm:ss±hh:mm): {reason}")]
pub struct CapTimeError {
    pub text: String,
    pub reason: &'static str,
}

fn number(text: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|value| range.contains(value))
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian), after Howard Hinnant's
/// `days_from_civil`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses a CAP date-time into milliseconds since the Unix epoch.
pub fn parse_cap_time(text: &str) -> Result<i64, CapTimeError> {
    let fail = |reason| CapTimeError {
        text: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    let (date, rest) = trimmed.split_once('T').ok_or_else(|| fail("no 'T'"))?;
    let mut date_parts = date.split('-');
    let (Some(year), Some(month), Some(day), None) = (
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
    ) else {
        return Err(fail("the date is not YYYY-MM-DD"));
    };
    let year = number(year, 1..=9999).ok_or_else(|| fail("bad year"))?;
    let month = number(month, 1..=12).ok_or_else(|| fail("bad month"))?;
    let day = number(day, 1..=31).ok_or_else(|| fail("bad day"))?;
    let (time, offset_seconds) = if let Some(time) = rest.strip_suffix('Z') {
        (time, 0)
    } else {
        let split = rest
            .rfind(['+', '-'])
            .ok_or_else(|| fail("no time zone offset"))?;
        let (time, offset) = rest.split_at(split);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = offset[1..]
            .split_once(':')
            .ok_or_else(|| fail("the offset is not ±hh:mm"))?;
        let hours = number(hours, 0..=14).ok_or_else(|| fail("bad offset hours"))?;
        let minutes = number(minutes, 0..=59).ok_or_else(|| fail("bad offset minutes"))?;
        (time, sign * (hours * 3_600 + minutes * 60))
    };
    let mut time_parts = time.split(':');
    let (Some(hour), Some(minute), Some(second), None) = (
        time_parts.next(),
        time_parts.next(),
        time_parts.next(),
        time_parts.next(),
    ) else {
        return Err(fail("the time is not hh:mm:ss"));
    };
    let hour = number(hour, 0..=23).ok_or_else(|| fail("bad hour"))?;
    let minute = number(minute, 0..=59).ok_or_else(|| fail("bad minute"))?;
    // CAP has no fractional seconds; a leap second is folded into the next minute.
    let second = number(second, 0..=60).ok_or_else(|| fail("bad second"))?;
    let seconds =
        days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3_600 + minute * 60 + second
            - offset_seconds;
    Ok(seconds * MILLISECONDS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_move_the_instant() {
        assert_eq!(parse_cap_time("1970-01-01T00:00:00+00:00"), Ok(0));
        assert_eq!(parse_cap_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_cap_time("2023-11-14T17:13:20-05:00"),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            parse_cap_time("2023-11-15T00:13:20+02:00"),
            Ok(1_700_000_000_000)
        );
    }

    #[test]
    fn leap_days_count() {
        let before = parse_cap_time("2024-02-28T12:00:00+00:00").unwrap();
        let after = parse_cap_time("2024-03-01T12:00:00+00:00").unwrap();
        assert_eq!(
            after - before,
            2 * SECONDS_PER_DAY * MILLISECONDS_PER_SECOND
        );
    }

    #[test]
    fn a_time_without_an_offset_or_with_garbage_is_refused() {
        assert!(parse_cap_time("2026-11-30T14:05:00").is_err());
        assert!(parse_cap_time("2026-11-30 14:05:00-05:00").is_err());
        assert!(parse_cap_time("2026-13-30T14:05:00-05:00").is_err());
        assert!(parse_cap_time("2026-11-30T14:5:xx-05:00").is_err());
        assert!(parse_cap_time("yesterday").is_err());
    }
}

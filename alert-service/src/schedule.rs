//! Time of day in the city's zone: active hours, daily windows, pauses.
//!
//! All arithmetic is on instants (UTC); local times of day are turned into instants day by day, so
//! windows across midnight and zones with daylight saving work (a local time that does not exist
//! on a DST day is taken at its earliest valid instant).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A daily stretch of local time `[from, to)`; `to <= from` wraps past midnight; equal means all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySpan {
    pub from: NaiveTime,
    pub to: NaiveTime,
}

/// An interval of instants `[start, end)`; `end = None`: open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

impl Interval {
    pub fn covers(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && self.end.is_none_or(|e| t < e)
    }

    pub fn overlaps(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
        self.start < b && self.end.is_none_or(|e| a < e)
    }
}

/// The instant of a local date and time.
pub fn instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // In a gap (DST spring forward): the first instant after it.
        None => (1..=180)
            .find_map(|m| {
                tz.from_local_datetime(&(local + Duration::minutes(m)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local)),
    }
}

impl DailySpan {
    /// The span that starts on local `date`.
    pub fn on(&self, tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = instant(tz, date, self.from);
        let end_date = if self.to <= self.from {
            date + Duration::days(1)
        } else {
            date
        };
        (start, instant(tz, end_date, self.to))
    }

    /// The first span that ends after `t` (it may have started before `t`).
    pub fn next_ending_after(&self, tz: Tz, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = t.with_timezone(&tz).date_naive() - Duration::days(1);
        (0..4)
            .map(|d| self.on(tz, day + Duration::days(d)))
            .find(|(_, end)| *end > t)
            .expect("a daily span ends within three days")
    }

    /// The last span that ended at or before `t`.
    pub fn last_ended_by(&self, tz: Tz, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = t.with_timezone(&tz).date_naive() + Duration::days(1);
        (0..4)
            .map(|d| self.on(tz, day - Duration::days(d)))
            .find(|(_, end)| *end <= t)
            .expect("a daily span ended within three days")
    }
}

/// The instant at which `needed` of counted time has passed since `start`, counting only inside
/// `hours` and outside `pauses`. `None` when an open-ended pause stops the count for good (or more
/// than a year would be needed).
pub fn after_counted_time(
    tz: Tz,
    hours: DailySpan,
    pauses: &[Interval],
    start: DateTime<Utc>,
    needed: Duration,
) -> Option<DateTime<Utc>> {
    let mut remaining = needed;
    let mut t = start;
    for _ in 0..400 {
        let (a, b) = if hours.from == hours.to {
            (t, t + Duration::days(1))
        } else {
            hours.next_ending_after(tz, t)
        };
        let mut piece_start = a.max(t);
        // Walk the active stretch [piece_start, b), skipping paused parts.
        while piece_start < b {
            if let Some(p) = pauses.iter().find(|p| p.covers(piece_start)) {
                match p.end {
                    None => return None,
                    Some(e) => {
                        piece_start = e;
                        continue;
                    }
                }
            }
            let piece_end = pauses
                .iter()
                .filter(|p| p.start > piece_start && p.start < b)
                .map(|p| p.start)
                .min()
                .unwrap_or(b);
            let len = piece_end - piece_start;
            if len >= remaining {
                return Some(piece_start + remaining);
            }
            remaining -= len;
            piece_start = piece_end;
        }
        t = b.max(piece_start);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo(s: &str) -> DateTime<Utc> {
        chrono::DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn span(from: &str, to: &str) -> DailySpan {
        DailySpan {
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
        }
    }

    #[test]
    fn counted_time_skips_the_night() {
        let tz = chrono_tz::Asia::Tokyo;
        let day = span("07:00:00", "22:00:00");
        // 12 active hours from 20:00: 2 h tonight, then 10 h from 07:00 → 17:00 next day.
        let d = after_counted_time(
            tz,
            day,
            &[],
            tokyo("2026-12-01T20:00:00"),
            Duration::hours(12),
        );
        assert_eq!(d, Some(tokyo("2026-12-02T17:00:00")));
        // Starting at night counts from 07:00.
        let d = after_counted_time(
            tz,
            day,
            &[],
            tokyo("2026-12-01T23:30:00"),
            Duration::hours(1),
        );
        assert_eq!(d, Some(tokyo("2026-12-02T08:00:00")));
    }

    #[test]
    fn counted_time_across_midnight_hours_and_pauses() {
        let tz = chrono_tz::Asia::Tokyo;
        let night_shift = span("22:00:00", "06:00:00");
        let d = after_counted_time(
            tz,
            night_shift,
            &[],
            tokyo("2026-12-01T23:00:00"),
            Duration::hours(3),
        );
        assert_eq!(d, Some(tokyo("2026-12-02T02:00:00")));
        let day = span("07:00:00", "22:00:00");
        let hospital = [Interval {
            start: tokyo("2026-12-01T09:00:00"),
            end: Some(tokyo("2026-12-03T15:00:00")),
        }];
        // 1 h before the stay counts, the stay does not, 11 h after it: 15:00 + 7 h = 22:00, then 4 h on the 4th.
        let d = after_counted_time(
            tz,
            day,
            &hospital,
            tokyo("2026-12-01T08:00:00"),
            Duration::hours(12),
        );
        assert_eq!(d, Some(tokyo("2026-12-04T11:00:00")));
        let open = [Interval {
            start: tokyo("2026-12-01T09:00:00"),
            end: None,
        }];
        assert_eq!(
            after_counted_time(
                tz,
                day,
                &open,
                tokyo("2026-12-01T08:00:00"),
                Duration::hours(12)
            ),
            None
        );
    }

    #[test]
    fn windows_across_midnight() {
        let tz = chrono_tz::Asia::Tokyo;
        let w = span("22:00:00", "02:00:00");
        let (s, e) = w.next_ending_after(tz, tokyo("2026-12-02T01:00:00"));
        assert_eq!(
            (s, e),
            (tokyo("2026-12-01T22:00:00"), tokyo("2026-12-02T02:00:00"))
        );
        let (s, e) = w.last_ended_by(tz, tokyo("2026-12-02T01:00:00"));
        assert_eq!(
            (s, e),
            (tokyo("2026-11-30T22:00:00"), tokyo("2026-12-01T02:00:00"))
        );
    }

    #[test]
    fn a_zone_with_daylight_saving() {
        // New York, 2026-03-08: 02:00–03:00 does not exist.
        let tz = chrono_tz::America::New_York;
        let t = instant(
            tz,
            NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
            "02:30:00".parse().unwrap(),
        );
        assert_eq!(t.with_timezone(&tz).format("%H:%M").to_string(), "03:00");
        let w = span("06:00:00", "10:00:00");
        let (s, e) = w.on(tz, NaiveDate::from_ymd_opt(2026, 3, 8).unwrap());
        assert_eq!(e - s, Duration::hours(4));
    }
}

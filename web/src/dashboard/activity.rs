//! A resident's activity drawn on the server as SVG (no script, no external asset): the strip of
//! the last 48 hours on an alert's page, and the 生活リズム heatmap — 28 days × 24 hours — on the
//! resident's page, with their active hours marked, so that "usually up at 6, nothing today"
//! shows at a glance. A cell is an hour; its colour says how many signs of life (activity,
//! 元気です, the call button) arrived in it, in four steps (none, 1–2, 3–9, 10 or more).
//!
//! Both are part of a view of the resident's record: the page that shows them has read (and
//! audited) the record.

use super::DashboardState;
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc};
use mimamori_core::domain::{ResidentId, Subject};
use mimamori_core::storage::StorageError;

/// One chart, as the template `parts.html` (`chart`) draws it.
pub(crate) struct Chart {
    /// `strip` or `heatmap`: how wide it may grow (`app.css`).
    pub(crate) class: &'static str,
    /// The SVG's `viewBox` size.
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// What it shows, in words (the SVG's accessible name and the caption).
    pub(crate) caption: String,
    pub(crate) cells: Vec<Cell>,
    pub(crate) labels: Vec<Label>,
    /// Marks drawn over the cells (active hours, now).
    pub(crate) marks: Vec<Mark>,
    /// How many hours had a sign of life.
    pub(crate) filled: usize,
}

/// An hour.
pub(crate) struct Cell {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) size: u32,
    pub(crate) fill: &'static str,
    /// `on` when the hour had a sign of life, `off` when not, `future` when still to come.
    pub(crate) class: &'static str,
    /// 「12/01 06時: 4件」.
    pub(crate) title: String,
}

/// A text on the chart.
pub(crate) struct Label {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) text: String,
    /// `start`, `middle` or `end`.
    pub(crate) anchor: &'static str,
}

/// An outline over part of the chart.
pub(crate) struct Mark {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) stroke: &'static str,
}

const CELL: u32 = 14;
const GAP: u32 = 2;
const STEP: u32 = CELL + GAP;

/// The colour of an hour with `n` signs of life (blues that keep ≥ 3:1 between the steps' ends).
fn fill(n: i64) -> &'static str {
    match n {
        0 => "#e4e7eb",
        1..=2 => "#9ecae1",
        3..=9 => "#4292c6",
        _ => "#08306b",
    }
}

/// The hour index (`ms / 3 600 000`) that `local` starts.
fn hour_index(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().div_euclid(3_600_000)
}

const WEEKDAYS: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

/// The last 48 hours up to `now`, one row of hourly cells, oldest on the left.
pub(super) async fn strip_48h(
    state: &DashboardState,
    resident: &ResidentId,
    now: DateTime<Utc>,
) -> Result<Chart, StorageError> {
    let tz = state.ctx.timezone;
    let this_hour = Utc
        .timestamp_millis_opt(hour_index(now) * 3_600_000)
        .single()
        .unwrap_or(now);
    let from = this_hour - Duration::hours(47);
    let counts = state
        .store
        .activity_per_hour(
            &Subject::Resident(resident.clone()),
            from,
            this_hour + Duration::hours(1),
        )
        .await?;
    // Two rows of 24 hours (the older day's hours above), so that the cells stay large enough
    // to read on a phone.
    let left = 0;
    let top = 16;
    let row_height = STEP + 18;
    let mut cells = Vec::new();
    let mut labels = Vec::new();
    let mut marks = Vec::new();
    let mut filled = 0;
    for i in 0..48u32 {
        let start = from + Duration::hours(i as i64);
        let n = counts.get(&hour_index(start)).copied().unwrap_or(0);
        filled += usize::from(n > 0);
        let local = start.with_timezone(&tz);
        let (row, column) = (i / 24, i % 24);
        let x = left + column * STEP;
        let y = top + row * row_height;
        cells.push(Cell {
            x,
            y,
            size: CELL,
            fill: fill(n),
            class: if n > 0 { "on" } else { "off" },
            title: format!("{} {:02}時: {n}件", local.format("%m/%d"), local.hour()),
        });
        let label = if column == 0 {
            Some(format!("{} {}時", local.format("%m/%d"), local.hour()))
        } else if local.hour() == 0 {
            Some(local.format("%m/%d").to_string())
        } else if local.hour().is_multiple_of(3) && column >= 4 {
            Some(format!("{}時", local.hour()))
        } else {
            None
        };
        if let Some(text) = label {
            labels.push(Label {
                x,
                y: y - 4,
                text,
                anchor: "start",
            });
        }
        if local.hour() == 0 && column > 0 {
            marks.push(Mark {
                x: x.saturating_sub(1),
                y: y - 3,
                width: 1,
                height: CELL + 6,
                stroke: "#1a1a1a",
            });
        }
    }
    Ok(Chart {
        class: "strip",
        width: 24 * STEP + 40,
        height: top + row_height + CELL + 4,
        caption: format!(
            "直近48時間の生活反応（1マス1時間、下の段の右端が現在）：反応のあった時間 {filled}/48"
        ),
        cells,
        labels,
        marks,
        filled,
    })
}

/// 28 days × 24 hours up to today (the newest day at the bottom), hours still to come left
/// blank; `active`: the resident's active hours (from their inactivity setting), outlined.
pub(super) async fn heatmap_28d(
    state: &DashboardState,
    resident: &ResidentId,
    now: DateTime<Utc>,
    active: Option<(NaiveTime, NaiveTime)>,
) -> Result<Chart, StorageError> {
    let tz = state.ctx.timezone;
    let today = now.with_timezone(&tz).date_naive();
    let first = today - Duration::days(27);
    let start_of = |day: chrono::NaiveDate, hour: u32| {
        tz.from_local_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
            .earliest()
    };
    let from = start_of(first, 0)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now - Duration::days(28));
    let counts = state
        .store
        .activity_per_hour(&Subject::Resident(resident.clone()), from, now)
        .await?;
    let left = 84;
    let top = 22;
    let mut cells = Vec::new();
    let mut labels = Vec::new();
    let mut marks = Vec::new();
    let mut filled = 0;
    for hour in (0..24u32).step_by(3) {
        labels.push(Label {
            x: left + hour * STEP + CELL / 2,
            y: 14,
            text: format!("{hour}時"),
            anchor: "middle",
        });
    }
    for row in 0..28u32 {
        let day = first + Duration::days(row as i64);
        let y = top + row * STEP;
        labels.push(Label {
            x: left - 6,
            y: y + CELL - 2,
            text: format!(
                "{}({})",
                day.format("%m/%d"),
                WEEKDAYS[day.weekday().num_days_from_monday() as usize]
            ),
            anchor: "end",
        });
        for hour in 0..24u32 {
            let Some(start) = start_of(day, hour).map(|t| t.with_timezone(&Utc)) else {
                continue;
            };
            let x = left + hour * STEP;
            if start > now {
                cells.push(Cell {
                    x,
                    y,
                    size: CELL,
                    fill: "#ffffff",
                    class: "future",
                    title: String::new(),
                });
                continue;
            }
            let n = counts.get(&hour_index(start)).copied().unwrap_or(0);
            filled += usize::from(n > 0);
            cells.push(Cell {
                x,
                y,
                size: CELL,
                fill: fill(n),
                class: if n > 0 { "on" } else { "off" },
                title: format!("{} {hour:02}時: {n}件", day.format("%m/%d")),
            });
        }
    }
    let mut caption = format!(
        "生活リズム：直近28日間の1時間ごとの生活反応（上が古い日、下が今日）。反応のあった時間 {filled}"
    );
    if let Some((from, to)) = active {
        let (a, b) = (from.hour(), to.hour() + u32::from(to.minute() > 0));
        if a < b && b <= 24 {
            marks.push(Mark {
                x: left + a * STEP - 2,
                y: top - 3,
                width: (b - a) * STEP + 1,
                height: 28 * STEP + 3,
                stroke: "#b00020",
            });
            caption.push_str(&format!(
                "。赤枠は見守りの活動時間（{}–{}）",
                from.format("%H:%M"),
                to.format("%H:%M")
            ));
        }
    }
    Ok(Chart {
        class: "heatmap",
        width: left + 24 * STEP + 4,
        height: top + 28 * STEP + 4,
        caption,
        cells,
        labels,
        marks,
        filled,
    })
}

/// The resident's active hours, from their inactivity setting (the hours silence is counted in).
pub(super) fn active_hours(r: &mimamori_core::domain::Resident) -> Option<(NaiveTime, NaiveTime)> {
    r.policies.iter().find_map(|p| match p {
        mimamori_core::domain::CheckinPolicy::Inactivity {
            active_from,
            active_to,
            ..
        } => Some((*active_from, *active_to)),
        _ => None,
    })
}

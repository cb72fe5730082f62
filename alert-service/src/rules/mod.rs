//! The rules: from signals and time, the decisions that someone needs a person to look.
//!
//! Every armed rule has one entry in a queue of deadlines ordered by time. An incoming signal
//! updates the state it concerns and re-arms only the rules it affects (O(log n) per push); an
//! entry made stale by a re-arm is recognised by its generation number and skipped when it comes
//! up. Nothing scans all residents. The engine does no I/O and reads no clock: callers pass `now`,
//! so tests drive it through days in microseconds.
//!
//! "The same lapse never alerts twice": every alert decision names the start of its lapse (the
//! last activity for inactivity, the window's end for daily windows…), and the engine remembers
//! when it last opened an alert of each kind for each subject — rebuilt from the store on start —
//! and stays quiet when that alert is newer than the lapse.
//!
//! The core:
//! - `engine.rs`: the [`Engine`] — feeding it signals ([`Engine::apply`]) and time
//!   ([`Engine::due`]), arming each rule's deadline, and what it decided ([`Decision`]);
//! - `settings.rs`: the tunables that are the same for everyone ([`EngineSettings`]);
//! - `state.rs`: what it is built from (profiles and history) and what it keeps per resident and
//!   device;
//! - `queue.rs`: the deadline queue, and the typed slot naming which deadline of which rule an
//!   entry is.
//!
//! One module per rule, each owning when it is armed, what it checks when its deadline comes (or
//! its signal arrives) and the explanation its alert carries:
//! - `emergency.rs`: a call-button press alerts at once, pause or not;
//! - `inactivity.rs`: too long a silence, counted inside active hours and outside pauses;
//! - `daily_window.rs`: no activity at all within a daily window;
//! - `checkin.rs`: no 元気です check-in by its time and grace, and the reminder before it is due;
//! - `pause.rs`: hospital stays and travel, during which the rules of silence keep quiet;
//! - `device_health.rs`: missed heartbeats, a device's last will, low batteries;
//! - `unmonitored.rs`: every activity sensor of a resident offline, so silence says nothing;
//! - `concern.rs`: a partner's report (見守り協定) alerts at once;
//! - `compound.rs`: several kinds of trouble for one person within a window (複合), flagged for
//!   the coordinator.

mod checkin;
mod compound;
mod concern;
mod daily_window;
mod device_health;
mod emergency;
mod engine;
mod inactivity;
mod pause;
mod queue;
mod settings;
mod state;
mod unmonitored;

pub use compound::COMPOUND_TROUBLES;
pub use concern::CONCERN_PERSONAL;
pub use engine::{Decision, Engine};
pub use settings::EngineSettings;
pub use state::{DeviceProfile, History, Profile};

use chrono::{Duration, NaiveTime};

/// Local times of day used by tests and examples.
pub fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time of day")
}

/// Minutes as policies count them.
fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

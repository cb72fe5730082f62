//! The command line.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// 見守り mimamori — watch-over platform for community care networks.
#[derive(Debug, Parser)]
#[command(name = "mimamori", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./mimamori.toml when it exists, else built-in defaults.
    #[arg(long, short, global = true, env = "MIMAMORI_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every component in one process (SQLite + embedded broker by default).
    Up {
        /// Also run a few simulated homes, to see signals flow.
        #[arg(long)]
        demo: bool,
    },
    /// Run only the embedded MQTT broker (needs mqtt.password for the gateways).
    Broker,
    /// Run only the gateway, against the broker of mqtt.url (needs mqtt.password).
    Gateway,
    /// Run only the alert service (rules), following signals in the database.
    Alerts,
    /// Simulated homes with call buttons and sensors, against a running broker.
    Simulate {
        /// How many devices (four per home).
        #[arg(long, default_value_t = 40)]
        devices: usize,
        /// Simulated seconds per real second (60: an hour a minute).
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
    },
    /// Create or upgrade the database schema and load the city registry.
    Migrate,
    /// Administer residents, teams, responders, devices and partners.
    #[command(subcommand)]
    Admin(Admin),
    /// Show or check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete, commented example configuration.
    Example,
    /// Load the configuration (file and environment) and print what is in effect.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Residents under watch (見守り対象者).
    #[command(subcommand)]
    Resident(ResidentCommand),
    /// Teams (包括, CSW, coordinator, operators).
    #[command(subcommand)]
    Team(TeamCommand),
    /// Responders: people who receive alerts.
    #[command(subcommand)]
    Responder(ResponderCommand),
    /// Devices in residents' homes.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Partner organisations (見守り協定).
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Integrations: other systems that follow the alert stream (MQTT and the events API).
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Import from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Pauses of monitoring: hospital stays, travel, short stays.
    #[command(subcommand)]
    Pause(PauseCommand),
    /// Districts of the city registry.
    Districts(Output),
    /// Print the Mosquitto ACL (acl_file) that gives each login on an external Mosquitto the
    /// same topic rights as on the embedded broker; run again after adding a hub or an
    /// integration.
    MosquittoAcl,
    /// Print the `authorization` block of a NATS server (its MQTT listener on, e.g. a cluster)
    /// that gives each login the same topic rights as on the embedded broker; run again after
    /// adding a device, partner or integration.
    NatsAuthorization {
        /// A file of `USERNAME PASSWORD` lines (the secrets printed when each login was made;
        /// plain or bcrypt): mimamori keeps only hashes, so NATS's copy comes from here.
        /// Logins missing from it are left out, with a comment.
        #[arg(long)]
        passwords: std::path::PathBuf,
    },
}

/// Output format.
#[derive(Debug, Args, Clone, Copy)]
pub struct Output {
    /// Print JSON (one object for `add`, an array for `list`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ResidentCommand {
    /// Register a resident.
    Add(ResidentAdd),
    /// List residents (audited).
    List {
        /// District id or name (e.g. kugenuma, 鵠沼).
        #[arg(long)]
        district: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Show one resident's record (audited).
    Show {
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Set how a resident is watched (replaces the current policies).
    Policy(PolicyArgs),
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The resident.
    pub id: String,
    /// Inactivity: alert after this many hours without activity, counted inside --active hours.
    #[arg(long)]
    pub inactivity_hours: Option<u32>,
    /// Active hours for --inactivity-hours, e.g. 07:00-22:00.
    #[arg(long, default_value = "07:00-22:00")]
    pub active: String,
    /// Daily window: at least one activity between these times, e.g. 06:00-10:00.
    #[arg(long)]
    pub window: Option<String>,
    /// Check-in (元気です) expected by this time, e.g. 09:00.
    #[arg(long)]
    pub checkin_by: Option<String>,
    /// Remind the resident this many minutes before the check-in is due.
    #[arg(long)]
    pub remind_minutes: Option<u32>,
    /// Minutes of grace after the check-in is due before the alert.
    #[arg(long, default_value_t = 60)]
    pub grace_minutes: u32,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum PauseCommand {
    /// Pause monitoring of a resident (no inactivity, window or check-in alerts; emergencies still alert).
    Add {
        #[arg(long)]
        resident: String,
        /// hospital (入院), travel (旅行・外泊), short_stay (ショートステイ), other.
        #[arg(long)]
        reason: String,
        /// Start, local time: "2026-12-01 09:00" (default: now).
        #[arg(long)]
        from: Option<String>,
        /// End, local time; omitted: until `pause end`.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// End a pause now (or at --at).
    End {
        /// The pause id (from `pause list`).
        id: i64,
        #[arg(long)]
        resident: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// List a resident's pauses.
    List {
        #[arg(long)]
        resident: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct ResidentAdd {
    /// Full name.
    #[arg(long)]
    pub name: String,
    /// Name in katakana.
    #[arg(long)]
    pub kana: Option<String>,
    /// Year of birth (e.g. 1942).
    #[arg(long)]
    pub birth_year: String,
    /// Address in one line, e.g. 鵠沼海岸二丁目3-5.
    #[arg(long)]
    pub address: String,
    /// District id or name; derived from the address when omitted.
    #[arg(long)]
    pub district: Option<String>,
    /// alone (独居), elderly_couple, with_family, other.
    #[arg(long, default_value = "alone")]
    pub living: String,
    #[arg(long)]
    pub phone: Option<String>,
    /// Care notes (shown only behind login).
    #[arg(long)]
    pub notes: Option<String>,
    /// Use this id instead of a generated one.
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Create a team.
    Add {
        /// houkatsu, csw, coordinator or operators.
        #[arg(long)]
        kind: String,
        /// District id or name (required for houkatsu and csw).
        #[arg(long)]
        district: Option<String>,
        #[arg(long)]
        name: String,
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List teams.
    List {
        #[arg(long)]
        district: Option<String>,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResponderCommand {
    /// Add a responder to a team.
    Add {
        #[arg(long)]
        team: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        telegram_chat_id: Option<i64>,
        /// e.g. "mon-fri 08:30-17:15".
        #[arg(long)]
        office_hours: Option<String>,
        /// responder, coordinator or admin (manages the platform in the browser, /admin);
        /// default: coordinator on a city-wide team, responder on a district's.
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Give a responder another role: responder, coordinator or admin (the admin pages).
    Role {
        id: String,
        #[arg(long)]
        role: String,
        #[command(flatten)]
        output: Output,
    },
    /// List responders.
    List {
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Issue an API token for a responder (printed once).
    Token {
        id: String,
        /// Revoke every other token of theirs and end their dashboard sessions at once (a token
        /// leaked, a phone lost).
        #[arg(long)]
        revoke_others: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Deactivate a responder (someone who left): every token and dashboard session ends at
    /// once, and alerts no longer reach them.
    Deactivate {
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Issue a one-time code that links the responder's Telegram chat: they send the bot
    /// `/start CODE` (printed once).
    TelegramCode {
        id: String,
        /// How long the code works.
        #[arg(long, default_value_t = 24)]
        hours: i64,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a device and print its MQTT password once.
    Add {
        /// The resident whose home it is in.
        #[arg(long)]
        resident: Option<String>,
        /// call_button, door, motion, power, light or hub.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        label: Option<String>,
        /// Seconds between heartbeats.
        #[arg(long, default_value_t = 300)]
        heartbeat_interval: i64,
        /// The device's friendly name in zigbee2mqtt (its topic is zigbee2mqtt/NAME).
        #[arg(long)]
        zigbee_name: Option<String>,
        /// Use this id (e.g. a serial number) instead of a generated one.
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List devices (never their secrets).
    List {
        #[arg(long)]
        resident: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Disable a device (lost, stolen, removed): its logins are refused and a connected device
    /// is dropped at once.
    Disable {
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Enable a disabled device again.
    Enable {
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Give a device a new password (and MAC key), printed once; the old one stops working and a
    /// device connected with it is dropped.
    RotateSecret {
        id: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Register a partner organisation and print its API token once.
    Add {
        #[arg(long)]
        name: String,
        /// post, delivery, newspaper, coop, utility, bank, retail or other.
        #[arg(long)]
        kind: String,
        /// The agreement, e.g. "見守り協定 2019-07-05".
        #[arg(long)]
        agreement: Option<String>,
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List partners.
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Issue another API token for a partner (printed once). With --revoke-others every earlier
    /// token of theirs stops working at once (a token leaked, a system replaced).
    Token {
        id: String,
        #[arg(long)]
        revoke_others: bool,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Register an integration and print its secret once (its MQTT password and API token).
    Add {
        /// Whose system it is, e.g. "市ケース管理システム".
        #[arg(long)]
        name: String,
        /// Only this district's alerts (id or name); without it, every district and triage.
        #[arg(long)]
        district: Option<String>,
        /// Its id (MQTT username); generated (int-…) when not given.
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List integrations (never their secrets).
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Disable an integration: its secret stops working at once (MQTT logins and the API).
    #[command(alias = "revoke")]
    Disable {
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Give an integration a new secret (printed once); the old one stops working at once.
    Secret {
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Print the public key that signs the alert stream (also at GET /api/v1/alerts/key).
    Key {
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import residents from a CSV file (UTF-8 or CP932/Shift_JIS): all rows or none.
    Residents {
        file: PathBuf,
        /// auto, utf-8 or cp932.
        #[arg(long, default_value = "auto")]
        encoding: String,
        #[command(flatten)]
        output: Output,
    },
}

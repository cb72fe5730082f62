//! This benchmark's own binary started again in another role — the devices of `ingest-bench`,
//! the storm of `reconnect-bench` — so that the process measured is the platform's alone. It is
//! driven through its stdin and stdout, one line each way; an answer `error …` is an error.

use anyhow::{Context, Result, bail};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A running helper process, killed when dropped.
pub struct Helper {
    child: Child,
    commands: ChildStdin,
    replies: Lines<BufReader<ChildStdout>>,
    /// What it is, for errors ("the devices' process").
    what: &'static str,
}

impl Helper {
    /// This binary with `args` (its role and what the role takes).
    pub fn spawn(args: &[String], what: &'static str) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("Failed to start {what}"))?;
        let commands = child.stdin.take().context("no stdin")?;
        let replies = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        Ok(Self {
            child,
            commands,
            replies,
            what,
        })
    }

    /// Its process id, for its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends `command` and returns the one-line answer.
    pub async fn ask(&mut self, command: &str) -> Result<String> {
        self.commands
            .write_all(format!("{command}\n").as_bytes())
            .await?;
        let what = self.what;
        let reply = self
            .replies
            .next_line()
            .await?
            .with_context(|| format!("{what} stopped"))?;
        if let Some(e) = reply.strip_prefix("error ") {
            bail!("{what}, at {command:?}: {e}");
        }
        Ok(reply)
    }

    /// Sends `command` and reads its answer as JSON.
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self, command: &str) -> Result<T> {
        let reply = self.ask(command).await?;
        serde_json::from_str(&reply).with_context(|| format!("{} said {reply:?}", self.what))
    }
}

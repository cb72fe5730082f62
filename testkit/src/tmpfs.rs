//! A small tmpfs of a test's own, to fill up: the disk-full fault of a SQLite file. Mounting
//! needs root (or CAP_SYS_ADMIN); [`available`] says whether this process may, and the cases
//! that need it declare the `Tmpfs` need.

use std::path::Path;
use std::process::{Command, Stdio};

/// The environment variable that, set to `1`, fails instead of ignores the cases needing a tmpfs.
pub const REQUIRE_ENV: &str = "MIMAMORI_TEST_REQUIRE_TMPFS";

/// A mounted tmpfs, unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `megabytes` on a new temporary folder.
    pub fn mount(megabytes: u32) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("mount: {e}"))?;
        if status.success() {
            Ok(Self { dir })
        } else {
            Err(format!("mount -t tmpfs failed ({status})"))
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with the file `name` (written until the file system refuses); its
    /// removal frees the space again.
    pub fn fill(&self, name: &str) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join(name)).expect("room for the filler");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        // The last partial block.
        while f.write_all(&block[..512]).is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Whether this process may mount a tmpfs (tries a 1 MB one).
pub fn available() -> bool {
    Tmpfs::mount(1).is_ok()
}

//! Writing output files so that a reader never sees half of one, and
//! cleaning up after a writer that was killed.
//!
//! A file is written to a temporary sibling `<name>.tmp.<pid>` (same
//! directory, so the rename stays on one file system), synced, then renamed
//! over the target: readers see the old file or the new one, never a mix.
//! A process killed between the two (`kill -9`, OOM) leaves its temporary
//! behind; [`remove_stale_temporaries`] deletes the temporaries of a target
//! whose process no longer runs, and [`write_atomic`] calls it every time.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The temporary sibling of `path` that this process writes before renaming:
/// `<name>.tmp.<pid>`, with `extension` appended (`.png`) when the writer
/// needs it to pick a format.
pub fn temporary_path(path: &Path, extension: Option<&str>) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{}: the path has no file name", path.display())))?;
    let mut tmp = name.to_os_string();
    tmp.push(format!(".tmp.{}", std::process::id()));
    if let Some(ext) = extension {
        tmp.push(".");
        tmp.push(ext);
    }
    Ok(path.with_file_name(tmp))
}

/// Writes `bytes` to `path` atomically (temporary sibling, sync, rename),
/// after removing stale temporaries of `path` left by killed writers.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    remove_stale_temporaries(path);
    let tmp = temporary_path(path, None)?;
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Renames a finished temporary over its target (syncing it first), or
/// removes the temporary if that fails.
pub fn commit(tmp: &Path, path: &Path) -> std::io::Result<()> {
    let result = std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Whether process `pid` runs, as far as this system can tell: `None` where
/// there is no `/proc` to ask (then nothing is removed).
fn process_runs(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

/// Removes the temporaries `<name>.tmp.<pid>[.<ext>]` of `path` whose process
/// no longer runs; returns how many were removed. Temporaries of running
/// processes (another writer at work) and of this process are kept. Errors
/// are ignored: a stale file left in place is harmless.
pub fn remove_stale_temporaries(path: &Path) -> usize {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return 0;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let prefix = format!("{name}.tmp.");
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let pid_text = rest.split('.').next().unwrap_or_default();
        let Ok(pid) = pid_text.parse::<u32>() else { continue };
        if pid == std::process::id() || process_runs(pid) != Some(false) {
            continue;
        }
        if std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Reads at most `limit` bytes from `reader`; more is an error of kind
/// `InvalidData` (nothing past `limit + 1` bytes is read).
pub fn read_at_most(reader: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {limit} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cad-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A pid that no process has: past the kernel's pid limit.
    const DEAD_PID: u32 = 4_194_305;

    #[test]
    fn stale_temporaries_of_dead_writers_are_removed_live_ones_kept() {
        let d = dir("stale");
        let target = d.join("model.cadm");
        let me = std::process::id();
        for name in [
            format!("model.cadm.tmp.{DEAD_PID}"),
            format!("model.cadm.tmp.{}", DEAD_PID + 1),
            format!("model.cadm.tmp.{DEAD_PID}.png"),
            format!("model.cadm.tmp.{me}"),
            "model.cadm.tmp.1".to_string(), // init: always running
            "model.cadm.tmp.notapid".to_string(),
            format!("other.tmp.{DEAD_PID}"),
        ] {
            std::fs::write(d.join(name), b"x").unwrap();
        }
        let removed = remove_stale_temporaries(&target);
        let mut left: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        if Path::new("/proc/self").exists() {
            assert_eq!(removed, 3);
            let mut expected = vec![
                format!("model.cadm.tmp.{me}"),
                "model.cadm.tmp.1".to_string(),
                "model.cadm.tmp.notapid".to_string(),
                format!("other.tmp.{DEAD_PID}"),
            ];
            expected.sort();
            assert_eq!(left, expected);
        } else {
            assert_eq!(removed, 0);
        }
        write_atomic(&target, b"model").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"model");
        assert!(!temporary_path(&target, None).unwrap().exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bounded_reads_stop_past_the_limit() {
        assert_eq!(read_at_most(&b"abc"[..], 3).unwrap(), b"abc");
        let e = read_at_most(std::io::repeat(0), 1000).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }
}

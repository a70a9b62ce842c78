//! Shared. Files that are not finished yet (a zip being written, a size-budget attempt, a draft), so that an
//! interrupt can remove them: nothing that did not pass the final leak check stays on disk.
//!
//! Writers hold a [`Tracked`] guard while a temp file exists; a signal handler (the binary's, or a
//! service's own) calls [`remove_unfinished`].
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let p = dir.path().join(".part");
//! std::fs::write(&p, b"half").unwrap();
//! let guard = cohere_bundle_core::cleanup::track(&p);
//! assert_eq!(cohere_bundle_core::cleanup::remove_unfinished(), 1);
//! assert!(!p.exists());
//! drop(guard);
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static NEXT: AtomicU64 = AtomicU64::new(1);
static LIVE: Mutex<Option<HashMap<u64, PathBuf>>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Option<HashMap<u64, PathBuf>>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A path registered as unfinished until the guard is dropped.
///
/// See the [module example](crate::cleanup).
#[derive(Debug)]
#[must_use = "the path is unregistered when the guard is dropped"]
pub struct Tracked(u64);

/// Registers `path` (a file or a directory) as unfinished.
///
/// See the [module example](crate::cleanup).
pub fn track(path: &Path) -> Tracked {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    live()
        .get_or_insert_with(HashMap::new)
        .insert(id, path.to_path_buf());
    Tracked(id)
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(m) = live().as_mut() {
            m.remove(&self.0);
        }
    }
}

/// Removes every unfinished file and directory; returns how many were removed. For signal handlers.
///
/// See the [module example](crate::cleanup).
pub fn remove_unfinished() -> usize {
    let paths: Vec<PathBuf> = live()
        .as_mut()
        .map(|m| m.drain().map(|(_, p)| p).collect())
        .unwrap_or_default();
    paths
        .iter()
        .filter(|p| {
            if p.is_dir() {
                std::fs::remove_dir_all(p).is_ok()
            } else {
                std::fs::remove_file(p).is_ok()
            }
        })
        .count()
}

//! Finding manifest files under a directory, deterministically and without looping on
//! symlink cycles.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::InputError;

/// Extensions of the files picked up from directories.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// The lower-cased extension of a path, if any.
pub(super) fn extension(path: &Path) -> Option<String> {
    path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)
}

/// All manifest files below `root`, sorted by path. Symlinks are followed, but each real
/// directory is entered once and each real file listed once (under its first path).
pub(super) fn manifest_files(root: &Path) -> Result<Vec<PathBuf>, InputError> {
    let mut seen_dirs = HashSet::new();
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        if seen_dirs.insert(canonical(&dir)?) {
            scan_dir(&dir, &mut found, &mut pending)?;
        }
    }
    found.sort();
    let mut seen_files = HashSet::new();
    let mut files = Vec::with_capacity(found.len());
    for path in found {
        if seen_files.insert(canonical(&path)?) {
            files.push(path);
        }
    }
    Ok(files)
}

/// Adds the manifest files of `dir` to `found` and its subdirectories to `pending`.
fn scan_dir(dir: &Path, found: &mut Vec<PathBuf>, pending: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io = |source| InputError::Io { path: dir.to_owned(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            // Broken symlinks that are not manifests (such as editor lock files) are not input.
            Err(_) if !is_manifest_name(&path) => continue,
            Err(source) => return Err(InputError::Io { path, source }),
        };
        if metadata.is_dir() {
            pending.push(path);
        } else if metadata.is_file() && is_manifest_name(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_manifest_name(path: &Path) -> bool {
    extension(path).is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

fn canonical(path: &Path) -> Result<PathBuf, InputError> {
    std::fs::canonicalize(path).map_err(|source| InputError::Io { path: path.to_owned(), source })
}

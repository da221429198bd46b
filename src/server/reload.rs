//! Reloading the policy file without a restart: a mounted ConfigMap changes in place (the kubelet
//! swaps a `..data` symlink), so the file is re-read through its path and compared by content.

use std::{
    future::Future,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use arc_swap::ArcSwap;
use tokio::time::MissedTickBehavior;

use super::metrics::{Metrics, Reload};
use crate::{policy::Policy, policy::view::View};

/// What the server judges with; swapped as a whole when the policy file changes.
pub struct Judge {
    pub policy: ArcSwap<Policy>,
    pub view: RwLock<View>,
}

/// Rebuilds the parts of the view that depend on the policy: a fixed view from files is read again
/// (`Ok(Some)`), live watchers relist on their own (`Ok(None)`). Runs on a blocking thread.
pub type Rebuild = Arc<dyn Fn(&Policy) -> Result<Option<View>, String> + Send + Sync>;

/// Polls the policy file and swaps in each new version that compiles; a broken file is logged and
/// the policy in force is kept.
pub struct PolicyReloader {
    pub path: PathBuf,
    pub interval: Duration,
    pub judge: Arc<Judge>,
    pub metrics: Arc<Metrics>,
    pub rebuild: Rebuild,
}

impl PolicyReloader {
    /// Runs until `shutdown` completes.
    pub async fn run(self, loaded: Vec<u8>, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // the last content tried, good or bad: a broken file is reported once, not on every tick
        let mut last = loaded;
        let mut last_error: Option<String> = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            let bytes = match tokio::fs::read(&self.path).await {
                Ok(b) => b,
                Err(e) => {
                    self.fail(&mut last_error, format!("cannot read {}: {e}", self.path.display()));
                    continue;
                }
            };
            if bytes == last {
                continue;
            }
            let compiled = std::str::from_utf8(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|text| Policy::from_yaml(text).map_err(|e| e.to_string()))
                // where the file leaves the migration namespace open, the KubeVirt CR still decides it
                .map(|p| {
                    p.with_discovered_namespace(&self.judge.view.read().unwrap_or_else(|p| p.into_inner()))
                });
            let rebuilt = match compiled {
                Ok(policy) => self.rebuild(policy).await,
                Err(e) => Err(e),
            };
            match rebuilt {
                Ok((policy, view)) => {
                    if let Some(view) = view {
                        *self.judge.view.write().unwrap_or_else(|p| p.into_inner()) = view;
                    }
                    self.judge.policy.store(Arc::new(policy));
                    self.metrics.observe_reload(Reload::Policy, true);
                    tracing::info!(path = %self.path.display(), "reloaded policy");
                    last = bytes;
                    last_error = None;
                }
                Err(e) => {
                    self.fail(&mut last_error, format!("policy {}: {e}", self.path.display()));
                    last = bytes;
                }
            }
        }
    }

    /// The new policy with the view it needs, built off the async workers (files may be large).
    async fn rebuild(&self, policy: Policy) -> Result<(Policy, Option<View>), String> {
        let rebuild = self.rebuild.clone();
        let task = tokio::task::spawn_blocking(move || {
            let view = rebuild(&policy);
            (policy, view)
        });
        match task.await {
            Ok((policy, Ok(view))) => Ok((policy, view)),
            Ok((_, Err(e))) => Err(format!("cannot rebuild the view: {e}")),
            Err(e) => Err(format!("rebuilding the view failed: {e}")),
        }
    }

    fn fail(&self, last_error: &mut Option<String>, reason: String) {
        self.metrics.observe_reload(Reload::Policy, false);
        if last_error.as_deref() != Some(reason.as_str()) {
            tracing::warn!(%reason, "keeping the policy in force");
            *last_error = Some(reason);
        }
    }
}

//! The running dialplan and its hot reload: the file is re-read when its modification time
//! changes (checked every second) and on SIGHUP. A new plan replaces the running one only when
//! it validates completely; otherwise every error is logged and the old plan keeps routing.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use switchboard_dialplan::{Dialplan, PlanContext};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigIssue, load_dialplan};

/// The plan every worker routes with; cheap to clone and to read.
#[derive(Clone, Debug)]
pub struct PlanHandle(Arc<RwLock<Arc<Dialplan>>>);

impl PlanHandle {
    /// A handle holding `plan`.
    pub fn new(plan: Arc<Dialplan>) -> PlanHandle {
        PlanHandle(Arc::new(RwLock::new(plan)))
    }

    /// The plan in force now.
    pub fn current(&self) -> Arc<Dialplan> {
        match self.0.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, plan: Dialplan) {
        match self.0.write() {
            Ok(mut p) => *p = Arc::new(plan),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(plan),
        }
    }
}

/// Reloads a dialplan file into a [`PlanHandle`].
#[derive(Clone, Debug)]
pub struct Reloader {
    path: Option<PathBuf>,
    ctx: PlanContext,
    plan: PlanHandle,
}

impl Reloader {
    /// A reloader for `path` (`None`: no file configured, nothing to reload), checking plans
    /// against `ctx`.
    pub fn new(path: Option<PathBuf>, ctx: PlanContext, plan: PlanHandle) -> Reloader {
        Reloader { path, ctx, plan }
    }

    /// Validates a candidate plan text against this server's trunks and users, without installing it.
    pub fn validate(&self, text: &str) -> Result<Dialplan, Vec<switchboard_dialplan::PlanError>> {
        crate::config::check_dialplan(text, &self.ctx)
    }

    /// Configured trunk names.
    pub fn trunk_names(&self) -> impl Iterator<Item = &str> {
        self.ctx.trunks.iter().map(String::as_str)
    }

    /// The watched file, if one is configured.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// The plan in force.
    pub fn current(&self) -> Arc<Dialplan> {
        self.plan.current()
    }

    /// Reads, validates and (when valid) installs the file; returns every problem otherwise.
    pub fn reload(&self) -> Result<usize, Vec<ConfigIssue>> {
        let Some(path) = &self.path else {
            return Err(vec![ConfigIssue {
                key: "dialplan.file".into(),
                message: "no dialplan file is configured".into(),
            }]);
        };
        let plan = load_dialplan(path, &self.ctx)?;
        let rules = plan.len();
        self.plan.replace(plan);
        Ok(rules)
    }

    fn reload_logged(&self, why: &str) {
        let file = self
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        match self.reload() {
            Ok(rules) => tracing::info!(file, rules, why, "dialplan reloaded"),
            Err(issues) => {
                let errors: Vec<String> = issues.iter().map(ToString::to_string).collect();
                tracing::error!(
                    file,
                    why,
                    errors = %errors.join("; "),
                    "dialplan refused; the previous plan stays in force"
                );
            }
        }
    }

    /// Watches the file (modification time, every second) and SIGHUP until `shutdown`.
    pub async fn watch(self, shutdown: CancellationToken) {
        let mtime = |p: &Option<PathBuf>| -> Option<SystemTime> {
            std::fs::metadata(p.as_ref()?)
                .and_then(|m| m.modified())
                .ok()
        };
        let mut seen = mtime(&self.path);
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler; the dialplan reloads on file change only");
                None
            }
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = hangup => {
                    seen = mtime(&self.path);
                    self.reload_logged("SIGHUP");
                }
                _ = tick.tick() => {
                    let now = mtime(&self.path);
                    if now.is_some() && now != seen {
                        seen = now;
                        self.reload_logged("file changed");
                    }
                }
            }
        }
    }
}

//! [`MediaPool::reconcile`]: compares the pool's routing table with a node's own session list
//! so that no session outlives its call and no call points at a session that is gone
//! (DESIGN.md "Media-node pool": no orphan sessions).

use std::collections::HashSet;

use crate::error::MediaError;
use crate::pool::MediaPool;

/// What [`MediaPool::reconcile`] found on one node (ids sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Sessions carrying this pool's id prefix that the pool does not route (e.g. an
    /// allocation whose answer was lost): released on the node.
    pub orphans_released: Vec<String>,
    /// Sessions the pool placed on the node that the node no longer has (confirmed with
    /// GetSession `NOT_FOUND`): forgotten by the pool; their calls have no media any more.
    pub missing: Vec<String>,
}

impl MediaPool {
    /// Reconciles one node. Sessions of other signaling processes (another id prefix) are left
    /// alone, and so are ids of allocations still in flight. The node's ListSessions holds its
    /// last periodic snapshot, in which a session younger than the node's statistics interval
    /// may have no id yet: such a session is picked up by the next run.
    pub async fn reconcile(&self, node: &str) -> Result<Reconciliation, MediaError> {
        let handle = self.node(node)?;
        let listed = handle
            .list_sessions()
            .await
            .map_err(|s| handle.error("ListSessions", &s))?;
        let prefix = format!("{}-", self.config().session_prefix);
        let on_node: HashSet<String> = listed
            .into_iter()
            .map(|s| s.session_id)
            .filter(|id| !id.is_empty())
            .collect();
        let known: HashSet<String> = self.sessions_on(node).into_iter().collect();
        let orphans: Vec<String> = {
            let allocating = self.shared().allocating();
            on_node
                .iter()
                .filter(|id| id.starts_with(&prefix))
                .filter(|id| !known.contains(*id) && !allocating.contains(*id))
                .cloned()
                .collect()
        };
        let mut result = Reconciliation::default();
        for id in orphans {
            match handle.release(&id).await {
                Ok(_) => result.orphans_released.push(id),
                Err(s) if s.code() == tonic::Code::NotFound => {}
                Err(s) => return Err(handle.error("ReleaseSession", &s)),
            }
        }
        for id in known.into_iter().filter(|id| !on_node.contains(id)) {
            match handle.get_session(&id).await {
                Ok(_) => {} // newer than the node's last snapshot
                Err(s) if s.code() == tonic::Code::NotFound => {
                    let mut sessions = self.shared().sessions();
                    if sessions.get(&id).map(String::as_str) == Some(node) {
                        sessions.remove(&id);
                        result.missing.push(id);
                    }
                }
                Err(s) => return Err(handle.error("GetSession", &s)),
            }
        }
        result.orphans_released.sort();
        result.missing.sort();
        if !result.orphans_released.is_empty() || !result.missing.is_empty() {
            tracing::warn!(node, ?result, "media sessions reconciled");
        }
        Ok(result)
    }
}

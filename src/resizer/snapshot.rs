//! What the resizer sees of a pool at one instant: the pool itself and, when
//! readiness matters, its nodes tallied by what they can still become.

use crate::batch::models::{Node, NodeState, Pool};
use std::collections::BTreeMap;

/// The outcome of one observation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observed {
    /// `GET /pools/{id}` answered 404.
    Missing,
    Pool(Box<Snapshot>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub pool: Pool,
    /// `None` when the nodes were not listed (not needed for the decision).
    pub nodes: Option<NodeTally>,
    /// When it was seen, on the handler's clock: leases expire against this.
    pub observed_at: time::OffsetDateTime,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            pool: Pool::default(),
            nodes: None,
            observed_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }
}

impl Snapshot {
    /// What the pool's live leases need together, capped: (dedicated,
    /// low-priority).
    pub(crate) fn lease_need(&self, caps: super::lease::Counts) -> (u32, u32) {
        super::lease::lease_need(&self.pool.metadata, self.observed_at, None, caps)
    }

    /// An operator's pause, if the pool carries one.
    pub(crate) fn paused(&self) -> Option<super::marks::Paused> {
        super::marks::read(&self.pool.metadata, super::marks::PAUSED)
    }

    /// A backoff still running at this observation.
    pub(crate) fn backoff(&self) -> Option<super::marks::Backoff> {
        super::marks::read::<super::marks::Backoff>(&self.pool.metadata, super::marks::BACKOFF)
            .filter(|b| b.is_live(self.observed_at))
    }

    /// The floor a shrink must keep under `rule`, capped: (dedicated,
    /// low-priority).
    pub(crate) fn lease_floor(
        &self,
        rule: &super::want::LeaseRule,
        caps: super::lease::Counts,
    ) -> (u32, u32) {
        use super::want::LeaseRule;
        match rule {
            LeaseRule::Honour => self.lease_need(caps),
            LeaseRule::HonourExcept(released) => super::lease::lease_need(
                &self.pool.metadata,
                self.observed_at,
                Some(released),
                caps,
            ),
            LeaseRule::Ignore => (0, 0),
        }
    }
}

/// Nodes counted by their prospects. A node is *ready* when it can take a
/// task now: idle or running, scheduling enabled (not being removed), and
/// its start task (if any) succeeded.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct NodeTally {
    pub by_state: BTreeMap<NodeState, u32>,
    pub ready_dedicated: u32,
    pub ready_low_priority: u32,
    /// Task slots that running tasks take on the ready nodes (a leased
    /// scale-up needs its own slots free, not only ready nodes).
    pub busy_slots_dedicated: u32,
    pub busy_slots_low_priority: u32,
    /// Still on their way to ready: creating, starting, waiting for the start
    /// task, rebooting, reimaging, or idle with the start task still running.
    pub coming_dedicated: u32,
    pub coming_low_priority: u32,
    /// Nodes that will not become ready without someone's help.
    pub failed: Vec<NodeFailure>,
    /// Nodes on their way out that still run tasks: scheduling disabled (a
    /// `taskcompletion` shrink) or leaving the pool. Neither ready nor coming.
    pub finishing_tasks: u32,
    /// The coming node whose current provisioning began longest ago: the
    /// first to miss a provision deadline.
    pub oldest_coming: Option<Coming>,
    /// When each coming node was allocated, where Batch says: the looks
    /// of a wait are timed from these and the pool's boot times.
    pub coming_allocated: Vec<time::OffsetDateTime>,
    /// Ready nodes by Batch's stamps: when each became ready and how long
    /// after its allocation (its boot). What the pool's rhythm records.
    pub ready_boots: Vec<(time::OffsetDateTime, std::time::Duration)>,
    /// Ready nodes running no task: whether each is dedicated, and since
    /// when it has been idle (Batch's `stateTransitionTime`; a node Batch
    /// does not date is left out). What tells a lease's holder is done
    /// without saying so (`lease::idle`).
    pub idle_since: Vec<(bool, time::OffsetDateTime)>,
}

/// A node on its way to ready, and since when.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Coming {
    pub node_id: String,
    pub state: NodeState,
    /// When its current provisioning began ([`provisioning_since`]).
    pub since: time::OffsetDateTime,
    /// When Batch allocated it, if Batch said.
    pub allocated: Option<time::OffsetDateTime>,
    /// The node's first error, when Batch reports one.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeFailure {
    pub node_id: String,
    pub state: NodeState,
    pub is_dedicated: bool,
    /// Batch's code: the start task's `failureInfo.code`, or the node error's.
    pub code: Option<String>,
    pub message: Option<String>,
    /// The start task's exit code, when it ran to an end.
    pub exit_code: Option<i64>,
}

impl NodeTally {
    /// What `lease::idle` judges a lease's idleness from.
    pub(crate) fn seen(&self) -> super::lease::idle::NodesSeen {
        super::lease::idle::NodesSeen {
            ready: (self.ready_dedicated, self.ready_low_priority),
            coming: (self.coming_dedicated, self.coming_low_priority),
            idle_since: self.idle_since.clone(),
        }
    }

    pub(crate) fn from_nodes(nodes: &[Node]) -> Self {
        let mut tally = NodeTally::default();
        for node in nodes {
            let state = node.state.unwrap_or(NodeState::Unknown);
            *tally.by_state.entry(state).or_default() += 1;
            let dedicated = node.is_dedicated();
            let start_task_done = node
                .start_task_info
                .as_ref()
                .is_none_or(|info| info.succeeded());
            let (ready, coming) = if dedicated {
                (&mut tally.ready_dedicated, &mut tally.coming_dedicated)
            } else {
                (
                    &mut tally.ready_low_priority,
                    &mut tally.coming_low_priority,
                )
            };
            let leaving = !node.takes_new_tasks() || state == NodeState::LeavingPool;
            if leaving {
                if state == NodeState::Running || node.running_tasks_count.unwrap_or(0) > 0 {
                    tally.finishing_tasks += 1;
                }
                continue;
            }
            match state {
                NodeState::Idle | NodeState::Running if start_task_done => {
                    *ready += 1;
                    let busy = if dedicated {
                        &mut tally.busy_slots_dedicated
                    } else {
                        &mut tally.busy_slots_low_priority
                    };
                    *busy += node.busy_slots();
                    if state == NodeState::Idle
                        && node.running_tasks_count.unwrap_or(0) == 0
                        && let Some(since) = node.state_transition_time
                    {
                        tally.idle_since.push((dedicated, since));
                    }
                    if let (Some(allocated), Some(ready)) =
                        (node.allocation_time, node.ready_since())
                        && let Ok(boot) = std::time::Duration::try_from(ready - allocated)
                    {
                        tally.ready_boots.push((ready, boot));
                    }
                }
                NodeState::Idle
                | NodeState::Running
                | NodeState::Creating
                | NodeState::Starting
                | NodeState::WaitingForStartTask
                | NodeState::Rebooting
                | NodeState::Reimaging
                | NodeState::UpgradingOs
                | NodeState::Unknown => {
                    *coming += 1;
                    tally.coming_allocated.extend(node.allocation_time);
                    if let Some(since) = provisioning_since(node, state)
                        && tally.oldest_coming.as_ref().is_none_or(|c| since < c.since)
                    {
                        tally.oldest_coming = Some(Coming {
                            node_id: node.id.clone(),
                            state,
                            since,
                            allocated: node.allocation_time,
                            error: node.errors.first().and_then(|e| e.message.clone()),
                        });
                    }
                }
                NodeState::StartTaskFailed | NodeState::Unusable => {
                    tally.failed.push(NodeFailure::of(node, state))
                }
                _ => {}
            }
        }
        tally
    }
}

/// When a node's current provisioning began: its provision deadline counts
/// from here.
///
/// A node does not provision only once. A reboot, a reimage or an OS upgrade
/// (maintenance, a user's reboot) boots it again and runs its start task
/// again, months after Batch allocated it; that boot is judged from when it
/// began, not from the allocation. Batch dates a node three ways:
/// `allocationTime` (it joined the pool; a restart leaves it), `lastBootTime`
/// (it last booted) and `stateTransitionTime` (it entered its state). Batch's
/// own recording of a reboot and a reimage (the Java SDK's
/// `PoolTests.canRebootReimageRemoveNodesAndStopResize`, whose reimaging node
/// is `tests/fixtures/batch-recorded/node-get-reimaging.json`) shows that
/// `lastBootTime` still names the boot *before* while the node is
/// `reimaging`, and still does when it is `starting` again three minutes
/// later: in those states only `stateTransitionTime` tells when the restart
/// began. So the latest of:
/// - `allocationTime`;
/// - `lastBootTime`: a node that has booted runs its start task from then;
/// - `stateTransitionTime` in the states a boot passes through
///   (`rebooting`, `reimaging`, `upgradingos`, `starting`,
///   `waitingforstarttask`); not in `idle` or `running`, whose transitions
///   are tasks coming and going, nor in `creating`, where it is the
///   allocation.
///
/// A node Batch dates not at all (an old api-version, a `$select`) has no
/// deadline.
pub(crate) fn provisioning_since(node: &Node, state: NodeState) -> Option<time::OffsetDateTime> {
    let booting = matches!(
        state,
        NodeState::Rebooting
            | NodeState::Reimaging
            | NodeState::UpgradingOs
            | NodeState::Starting
            | NodeState::WaitingForStartTask
    );
    [
        node.allocation_time,
        node.last_boot_time,
        node.state_transition_time.filter(|_| booting),
    ]
    .into_iter()
    .flatten()
    .max()
}

impl NodeFailure {
    fn of(node: &Node, state: NodeState) -> Self {
        let failure_info = node
            .start_task_info
            .as_ref()
            .and_then(|info| info.failure_info.as_ref());
        let node_error = node.errors.first();
        let code = failure_info
            .and_then(|f| f.code.clone())
            .or_else(|| node_error.and_then(|e| e.code.clone()));
        let message = failure_info
            .and_then(|f| f.message.clone())
            .or_else(|| node_error.and_then(|e| e.message.clone()));
        NodeFailure {
            node_id: node.id.clone(),
            state,
            is_dedicated: node.is_dedicated(),
            code,
            message,
            exit_code: node
                .start_task_info
                .as_ref()
                .and_then(|info| info.exit_code),
        }
    }
}

//! A scale-down: shrink the pool to the floor the want and the live leases
//! leave, removing failed nodes first and never a node a task still runs on.

use super::failures::resize_again_or_fail;
use super::{History, ResizeTo, Step, WaitReason};
use crate::batch::models::{AllocationState, NodeDeallocationOption};
use crate::resizer::snapshot::Snapshot;
use crate::resizer::want::Want;

pub(super) fn decide_down(snapshot: &Snapshot, want: &Want, history: History) -> Step {
    let pool = &snapshot.pool;
    let (need_dedicated, need_low) = snapshot.lease_floor(&want.leases, want.caps);
    let (floor_dedicated, floor_low) = (
        want.dedicated.max(need_dedicated),
        want.low_priority.max(need_low),
    );
    let above_floor =
        pool.target_dedicated_nodes > floor_dedicated || pool.target_low_priority_nodes > floor_low;
    let shrink_to = ResizeTo {
        dedicated: pool.target_dedicated_nodes.min(floor_dedicated),
        low_priority: pool.target_low_priority_nodes.min(floor_low),
        deallocation: Some(NodeDeallocationOption::TaskCompletion),
    };
    match pool.allocation_state {
        Some(AllocationState::Stopping) => Step::Wait(WaitReason::Stopping),
        Some(AllocationState::Resizing) | Some(AllocationState::Other) | None => {
            if above_floor {
                Step::StopResize
            } else if snapshot
                .nodes
                .as_ref()
                .is_some_and(|t| t.finishing_tasks > 0)
                && (pool.current_dedicated_nodes > pool.target_dedicated_nodes
                    || pool.current_low_priority_nodes > pool.target_low_priority_nodes)
            {
                Step::Wait(WaitReason::TasksFinishing)
            } else {
                Step::Wait(WaitReason::Resizing)
            }
        }
        Some(AllocationState::Steady) => {
            // Nodes that bill but never take a task leave first.
            if above_floor && let Some(tally) = &snapshot.nodes {
                let room = pool.target_dedicated_nodes.saturating_sub(floor_dedicated) as usize;
                let room_low = pool.target_low_priority_nodes.saturating_sub(floor_low) as usize;
                let dedicated = tally.failed.iter().filter(|f| f.is_dedicated).take(room);
                let low = tally
                    .failed
                    .iter()
                    .filter(|f| !f.is_dedicated)
                    .take(room_low);
                let failed: Vec<String> = dedicated.chain(low).map(|f| f.node_id.clone()).collect();
                if !failed.is_empty() && history.repairs_issued == 0 {
                    return Step::RemoveNodes(failed);
                }
            }
            if above_floor {
                return Step::Resize(shrink_to);
            }
            let still_above = pool.current_dedicated_nodes > floor_dedicated
                || pool.current_low_priority_nodes > floor_low;
            if !still_above {
                return Step::Done;
            }
            resize_again_or_fail(pool, shrink_to, history)
        }
    }
}

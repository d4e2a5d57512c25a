//! Jobs and tasks: submitting them, starting them on free nodes, ending them.
//!
//! Tasks exist to make nodes busy, so shrinks with `requeue`, `terminate` and
//! `taskcompletion` can be told apart. A task waits `active` in its job's queue until a
//! node of the job's pool is `idle`/`running` with a free slot ([`schedule`]); it then runs
//! for the time its command line says ([`crate::command`]) and [`done`] completes it.
//!
//! Every time a slot may have opened (a node booted, a task ended, a node failed) the
//! caller runs [`schedule`] again: there is no separate scheduler loop.

use time::OffsetDateTime;

use super::agenda::{Action, Agenda};
use crate::command;
use crate::errors::ErrorReply;
use crate::model::job::{Job, Task, TaskState};
use crate::model::node::NodeState;
use crate::model::{Jobs, Pools};
use axum::http::StatusCode;

/// `POST /jobs` after validation.
pub(super) fn create_job(
    now: OffsetDateTime,
    jobs: &mut Jobs,
    id: &str,
    pool_id: &str,
    priority: i32,
) -> Result<(), ErrorReply> {
    if jobs.contains_key(id) {
        return Err(ErrorReply::new(
            StatusCode::CONFLICT,
            "JobExists",
            "The specified job already exists.",
        ));
    }
    jobs.insert(
        id.to_string(),
        Job {
            id: id.to_string(),
            pool_id: pool_id.to_string(),
            priority,
            creation_time: now,
            last_modified: now,
            tasks: Vec::new(),
            queue: Default::default(),
            index: Default::default(),
        },
    );
    Ok(())
}

/// `POST /jobs/{id}/tasks` after validation: queue the task, start it if a slot is free.
pub(super) fn add_task(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    job_id: &str,
    task_id: &str,
    command_line: &str,
    required_slots: u32,
) -> Result<(), ErrorReply> {
    let now = agenda.now();
    let job = jobs.get_mut(job_id).ok_or_else(ErrorReply::job_not_found)?;
    if job.index.contains_key(task_id) {
        return Err(ErrorReply::new(
            StatusCode::CONFLICT,
            "TaskExists",
            "The specified task already exists.",
        ));
    }
    let idx = job.tasks.len();
    job.tasks.push(Task {
        id: task_id.to_string(),
        command_line: command_line.to_string(),
        required_slots: required_slots.max(1),
        creation_time: now,
        last_modified: now,
        state: TaskState::Active,
        state_transition_time: now,
        previous: None,
        node: None,
        start_time: None,
        end_time: None,
        exit_code: None,
        failure: None,
        requeue_count: 0,
        epoch: 0,
    });
    job.index.insert(task_id.to_string(), idx);
    job.queue.push_back(idx);
    schedule(agenda, pools, jobs);
    Ok(())
}

/// Start every waiting task that has a free slot on an idle/running node of its pool.
pub(super) fn schedule(agenda: &mut Agenda, pools: &mut Pools, jobs: &mut Jobs) {
    for (job_id, job) in jobs.iter_mut() {
        if job.queue.is_empty() {
            continue;
        }
        let Some(p) = pools.get_mut(&job.pool_id) else {
            continue;
        };
        if p.deleting {
            continue;
        }
        let slots = p.task_slots_per_node;
        let pool_id = p.id.clone();
        while let Some(&ti) = job.queue.front() {
            let need = job.tasks[ti].required_slots;
            let Some(n) = p.nodes.iter_mut().find(|n| {
                matches!(n.state, NodeState::Idle | NodeState::Running)
                    && n.pending_removal.is_none()
                    && n.running_slots + need <= slots
            }) else {
                break;
            };
            job.queue.pop_front();
            let t = &mut job.tasks[ti];
            t.epoch += 1;
            t.node = Some((pool_id.clone(), n.id.clone()));
            t.start_time = Some(agenda.now());
            t.exit_code = None;
            t.end_time = None;
            agenda.set_task_state(job_id, t, TaskState::Running, "scheduled");
            n.running.push((job_id.clone(), t.id.clone()));
            n.running_slots += need;
            agenda.set_node_state(&pool_id, n, NodeState::Running);
            let eff = command::effect(&t.command_line);
            agenda.schedule(
                time::Duration::seconds_f64(eff.duration.as_secs_f64()),
                Action::TaskDone {
                    job: job_id.clone(),
                    task: ti,
                    epoch: t.epoch,
                },
            );
        }
    }
}

/// Handles [`Action::TaskDone`]: the task completes with its command line's exit code,
/// its node gets the slot back (and leaves, if it only waited for its tasks), and the
/// queue moves.
pub(super) fn done(
    agenda: &mut Agenda,
    pools: &mut Pools,
    jobs: &mut Jobs,
    job: &str,
    task: usize,
    epoch: u64,
) {
    let Some(j) = jobs.get_mut(job) else { return };
    let Some(t) = j.tasks.get_mut(task) else {
        return;
    };
    if t.epoch != epoch || t.state != TaskState::Running {
        return;
    }
    let eff = command::effect(&t.command_line);
    t.exit_code = Some(eff.exit_code);
    t.end_time = Some(agenda.now());
    agenda.set_task_state(job, t, TaskState::Completed, "completed");
    let Some((pool_id, node_id)) = t.node.clone() else {
        return;
    };
    let task_id = t.id.clone();
    let slots = t.required_slots;
    if let Some(p) = pools.get_mut(&pool_id)
        && let Some(n) = p.node_mut(&node_id)
    {
        n.running.retain(|(jj, tt)| !(jj == job && tt == &task_id));
        n.running_slots = n.running_slots.saturating_sub(slots);
        n.total_tasks_run += 1;
        if eff.exit_code == 0 {
            n.total_tasks_succeeded += 1;
        }
        if n.running.is_empty() && n.state == NodeState::Running {
            if n.pending_removal.is_some() {
                agenda.node_leaves(&pool_id, n);
            } else {
                agenda.set_node_state(&pool_id, n, NodeState::Idle);
            }
        }
    }
    schedule(agenda, pools, jobs);
}

/// What happens to the tasks of a node that goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Evicted {
    /// Back to the front of the queue; `reason` is the log's (`requeued`, `nodeFailed`).
    Requeue { reason: &'static str },
    /// Completed as failed (`nodeDeallocationOption: terminate`).
    Terminate,
}

/// Take these `(jobId, taskId)` off their node. Their epochs move, so the `TaskDone`
/// actions already scheduled for them are ignored.
pub(super) fn evict(
    agenda: &mut Agenda,
    jobs: &mut Jobs,
    running: Vec<(String, String)>,
    how: Evicted,
) {
    for (job_id, task_id) in running {
        let Some(job) = jobs.get_mut(&job_id) else {
            continue;
        };
        let Some(ti) = job.task_index(&task_id) else {
            continue;
        };
        let t = &mut job.tasks[ti];
        t.epoch += 1;
        match how {
            Evicted::Terminate => {
                t.end_time = Some(agenda.now());
                t.failure = Some(
                    "The task was terminated because its node was removed from the pool.".into(),
                );
                agenda.set_task_state(&job_id, t, TaskState::Completed, "terminated");
            }
            Evicted::Requeue { reason } => {
                t.requeue_count += 1;
                agenda.set_task_state(&job_id, t, TaskState::Active, reason);
                t.node = None;
                t.start_time = None;
                job.queue.push_front(ti);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::node::Dealloc;
    use crate::world::testing::*;

    #[test]
    fn a_task_waits_for_an_idle_node_then_runs_and_completes() {
        let mut w = world_with_pool("p");
        w.create_job("j", "p", 0).unwrap();
        w.add_task("j", "t", "sleep 10; exit 0", 1).unwrap();
        assert_eq!(task_state(&w, "j", "t"), TaskState::Active, "no node yet");
        w.resize("p", Some(1), None, default_timeout(), Dealloc::Requeue)
            .unwrap();
        w.advance_to(w.now() + secs(BOOT));
        assert_eq!(
            task_state(&w, "j", "t"),
            TaskState::Running,
            "on the node once idle"
        );
        assert_eq!(node_states(&w, "p"), vec![NodeState::Running]);
        w.advance_to(w.now() + time::Duration::seconds(10));
        let t = &w.jobs["j"].tasks[0];
        assert_eq!((t.state, t.exit_code), (TaskState::Completed, Some(0)));
        let n = &w.pools["p"].nodes[0];
        assert_eq!(
            (n.state, n.total_tasks_run, n.total_tasks_succeeded),
            (NodeState::Idle, 1, 1)
        );
    }

    #[test]
    fn a_failing_command_completes_with_its_exit_code() {
        let mut w = world_with_job(1);
        w.add_task("j", "t", "sleep 2; exit 3", 1).unwrap();
        w.advance_to(w.now() + time::Duration::seconds(2));
        let t = &w.jobs["j"].tasks[0];
        assert_eq!(
            (t.state, t.exit_code, t.failed()),
            (TaskState::Completed, Some(3), true)
        );
        assert_eq!(w.pools["p"].nodes[0].total_tasks_succeeded, 0);
    }

    #[test]
    fn slots_limit_how_many_run_on_one_node() {
        let mut w = world_with_job(1);
        w.add_task("j", "a", "sleep 10", 1).unwrap();
        w.add_task("j", "b", "sleep 10", 1).unwrap();
        assert_eq!(task_state(&w, "j", "a"), TaskState::Running);
        assert_eq!(
            task_state(&w, "j", "b"),
            TaskState::Active,
            "one slot per node"
        );
        w.advance_to(w.now() + time::Duration::seconds(10));
        assert_eq!(
            task_state(&w, "j", "b"),
            TaskState::Running,
            "b took a's slot"
        );
    }

    /// A node counts the slots its tasks take (`requiredSlots`), not only how
    /// many run: `runningTaskSlotsCount` and `runningTasksCount` differ, and a
    /// task that needs more slots than are free waits.
    #[test]
    fn tasks_take_their_required_slots() {
        let mut w = world_with_pool("p");
        w.pools.get_mut("p").unwrap().task_slots_per_node = 4;
        grow_to_idle(&mut w, "p", 1);
        w.create_job("j", "p", 0).unwrap();
        w.add_task("j", "wide", "sleep 10", 3).unwrap();
        w.add_task("j", "narrow", "sleep 5", 1).unwrap();
        w.add_task("j", "also-wide", "sleep 10", 2).unwrap();
        let wire = |w: &crate::world::World| {
            let n = w.pools["p"].nodes[0].to_wire("u");
            (n.running_tasks_count, n.running_task_slots_count)
        };
        assert_eq!(wire(&w), (2, 4), "3 + 1 slots of 4");
        assert_eq!(task_state(&w, "j", "also-wide"), TaskState::Active);
        w.advance_to(w.now() + time::Duration::seconds(5));
        assert_eq!(wire(&w), (1, 3), "narrow's slot is free, too few for 2");
        w.advance_to(w.now() + time::Duration::seconds(5));
        assert_eq!(task_state(&w, "j", "also-wide"), TaskState::Running);
        assert_eq!(wire(&w), (1, 2));
    }

    #[test]
    fn a_stale_task_done_is_ignored() {
        let mut w = world_with_job(1);
        w.add_task("j", "t", "sleep 10", 1).unwrap();
        let epoch = w.jobs["j"].tasks[0].epoch;
        let (agenda, pools, jobs) = parts(&mut w);
        done(agenda, pools, jobs, "j", 0, epoch + 1);
        assert_eq!(jobs["j"].tasks[0].state, TaskState::Running);
        done(agenda, pools, jobs, "j", 0, epoch);
        assert_eq!(jobs["j"].tasks[0].state, TaskState::Completed);
    }

    #[test]
    fn evicted_tasks_go_back_to_the_queue_or_end_failed() {
        let mut w = world_with_job(1);
        w.add_task("j", "t", "sleep 10", 1).unwrap();
        let (agenda, _, jobs) = parts(&mut w);
        let running = vec![("j".to_string(), "t".to_string())];
        evict(
            agenda,
            jobs,
            running.clone(),
            Evicted::Requeue { reason: "requeued" },
        );
        let t = &jobs["j"].tasks[0];
        assert_eq!(
            (t.state, t.requeue_count, t.node.is_none()),
            (TaskState::Active, 1, true)
        );
        assert_eq!(jobs["j"].queue.front(), Some(&0));
        evict(agenda, jobs, running, Evicted::Terminate);
        assert!(jobs["j"].tasks[0].failed());
        let last = agenda.events().since(0).pop().unwrap();
        assert!(
            matches!(last.kind, crate::EventKind::Task { ref reason, .. } if reason == "terminated")
        );
    }
}

use super::*;
use crate::batch::PoolId;
use crate::resizer::budget::STATUS_PATIENCE;
use crate::resizer::marks::Backoff;
use crate::resizer::{Converger, LeaseRule, Operation, Outcome, PoolApi};

#[test]
fn caps_name_the_setting() {
    let limits = Limits {
        max_dedicated: 10,
        max_low_priority: 2,
    };
    assert!(limits.check(10, 2, ("d", "l")).is_ok());
    let over = limits.check(11, 0, ("dedicatedNodes", "l")).unwrap_err();
    assert_eq!(
        over.to_string(),
        "dedicatedNodes is 11, above the limit of 10 (MAX_DEDICATED_NODES)"
    );
    assert_eq!(
        limits
            .check(0, 3, ("d", "--low-priority"))
            .unwrap_err()
            .setting,
        "MAX_LOW_PRIORITY_NODES"
    );
}

#[test]
fn a_shrink_keeps_leases_unless_forced() {
    let request = ScaleRequest {
        operation: Operation::ScaleDown,
        pool_id: "p".parse().unwrap(),
        dedicated: 0,
        low_priority: 0,
        wait: Duration::from_secs(1),
        lease: None,
        force: false,
        repair_attempts: 0,
        keep_warm: crate::resizer::keep_warm::KeepWarm::OFF,
        fallback_to_dedicated: false,
    };
    assert_eq!(request.want().leases, LeaseRule::Honour);
    let mine = ScaleRequest {
        lease: Some(LeaseRequest {
            id: "run-1".parse().unwrap(),
            minutes: 5,
            idle_minutes: None,
        }),
        ..request.clone()
    };
    assert!(matches!(mine.want().leases, LeaseRule::HonourExcept(_)));
    let forced = ScaleRequest {
        force: true,
        ..mine
    };
    assert_eq!(forced.want().leases, LeaseRule::Ignore);
}

/// A steady pool of one ready node with a backoff to clear, whose
/// metadata writes take a minute each: Batch at its slowest.
struct SlowWrites {
    patches: std::sync::atomic::AtomicU32,
}

impl PoolApi for SlowWrites {
    async fn get_pool(
        &self,
        pool_id: &PoolId,
    ) -> Result<crate::batch::models::Pool, crate::batch::BatchError> {
        let mut pool = crate::batch::models::Pool::test(pool_id.as_str())
            .steady(1)
            .etag("0x1")
            .pool();
        let backoff = Backoff::after(
            None,
            "AccountCoreQuotaReached",
            "quota",
            time::OffsetDateTime::now_utc(),
        );
        pool.metadata = crate::resizer::marks::set(
            &pool.metadata,
            crate::resizer::marks::BACKOFF,
            Some(&backoff),
        )
        .expect("a backoff is new");
        Ok(pool)
    }
    async fn list_nodes(
        &self,
        _: &PoolId,
    ) -> Result<Vec<crate::batch::models::Node>, crate::batch::BatchError> {
        use crate::batch::models::{Node, NodeState};
        Ok(vec![Node::test(NodeState::Idle).start_task_ok()])
    }
    async fn resize_pool(
        &self,
        _: &PoolId,
        _: &crate::batch::models::ResizePool,
        _: Option<&str>,
    ) -> Result<(), crate::batch::BatchError> {
        unreachable!("the pool is already there")
    }
    async fn stop_resize(
        &self,
        _: &PoolId,
        _: Option<&str>,
    ) -> Result<(), crate::batch::BatchError> {
        unreachable!("nothing to stop")
    }
    async fn remove_nodes(
        &self,
        _: &PoolId,
        _: &[String],
        _: Option<&str>,
    ) -> Result<(), crate::batch::BatchError> {
        unreachable!("no failed node")
    }
    async fn replace_pool_metadata(
        &self,
        _: &PoolId,
        _: &[crate::batch::models::MetadataItem],
        _: Option<&str>,
    ) -> Result<(), crate::batch::BatchError> {
        self.patches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
}

fn service(batch: &SlowWrites) -> Service<'_, SlowWrites> {
    Service {
        converger: Converger {
            batch,
            clock: crate::clock::Clock::real(),
            policy: crate::resizer::PollPolicy::default(),
            stop: tokio_util::sync::CancellationToken::new(),
            progress: None,
            looks: None,
        },
        limits: Limits {
            max_dedicated: 10,
            max_low_priority: 10,
        },
        provision_deadline: Duration::from_secs(15 * 60),
        waits: None,
    }
}

/// Every write a request makes counts inside its one budget: a slow
/// backoff write after the wait is cut at the call margin, and the
/// answer says it was not written instead of waiting for it.
#[tokio::test(start_paused = true)]
async fn a_slow_write_after_the_wait_stays_inside_the_one_budget() {
    for wait in [5, 200] {
        let batch = SlowWrites {
            patches: Default::default(),
        };
        let request = ScaleRequest {
            operation: Operation::ScaleUp,
            pool_id: "p".parse().unwrap(),
            dedicated: 1,
            low_priority: 0,
            wait: Duration::from_secs(wait),
            lease: None,
            force: false,
            repair_attempts: 0,
            keep_warm: crate::resizer::keep_warm::KeepWarm::OFF,
            fallback_to_dedicated: false,
        };
        let started = tokio::time::Instant::now();
        let answer = service(&batch).scale(&request).await.unwrap();
        let took = started.elapsed();
        assert!(
            took <= Duration::from_secs(wait) + crate::resizer::budget::CALL_MARGIN,
            "wait {wait}: answered after {took:?}"
        );
        let report = answer.result.unwrap();
        assert_eq!(report.outcome, Outcome::Converged);
        assert_eq!(batch.patches.load(std::sync::atomic::Ordering::Relaxed), 1);
        // A minute's write fits in 200 s, not in 5 s plus the margin.
        let left: &[Unwritten] = if wait < 60 {
            &[Unwritten::Backoff]
        } else {
            &[]
        };
        assert_eq!(answer.not_written, left, "wait {wait}");
    }
}

/// The same on a status URL's poll: the look, the lease it settles and
/// the backoff share the poll's one budget.
#[tokio::test(start_paused = true)]
async fn a_polls_writes_share_its_one_budget() {
    let batch = SlowWrites {
        patches: Default::default(),
    };
    let request = StatusRequest {
        pool_id: "p".parse().unwrap(),
        target: Some((Operation::ScaleUp, 1, 0)),
        lease: Some(LeaseRequest {
            id: "run-1".parse().unwrap(),
            minutes: 30,
            idle_minutes: None,
        }),
        resume: true,
        fallback_to_dedicated: false,
    };
    let started = tokio::time::Instant::now();
    let answer = service(&batch).status(&request).await.unwrap();
    let took = started.elapsed();
    assert!(
        took <= STATUS_PATIENCE + crate::resizer::budget::CALL_MARGIN,
        "answered after {took:?}"
    );
    assert_eq!(answer.not_written, [Unwritten::Lease, Unwritten::Backoff]);
}

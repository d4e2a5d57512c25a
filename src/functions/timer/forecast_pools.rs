//! The reconcile's visits to the other pools, after its own work on the
//! schedule's pool (or instead of it, when no window is configured): the
//! `FORECAST_POOLS` that forecast, then every other pool the app may name
//! (`FORECAST_POOLS` with `off`, and the ids `ALLOWED_POOLS` lists).
//!
//! Each pool is a look (which lets go of lapsed leases there, as on the
//! schedule's pool: without it a pre-warm nobody came for, or the lease of
//! a pipeline that failed before its scale-down, would never lapse on a
//! pool no window keeps) and then the forecast step in the pool's mode.
//! Pools are visited one after another, each waiting at most
//! `PREWARM_WAIT` per step and never past the firing's `TIMER_WAIT_SECONDS`
//! counted from its start, so the firing stays inside `functionTimeout`
//! however many pools there are; the pools it does not reach are named,
//! and the next firing visits them. One pool's failure is its own: logged,
//! it neither stops the others nor fails the firing, whose status stays the
//! schedule's pool's (a forecast is an optimisation; a pool it cannot see
//! is reported on every firing as an Error trace, which alerts can follow).

use super::forecast::{Target, forecast_step};
use super::log::{Lines, describe_let_go, failed_line};
use crate::batch::PoolId;
use crate::clock::Stopwatch;
use crate::functions::state::AppState;
use crate::resizer::{Outcome, Report, Want};
use crate::schedule::Schedule;
use crate::service::{Fired, PREWARM_WAIT, Ran, ScheduledWork};
use crate::settings::{AllowedPools, ForecastMode, ForecastPool, Settings};
use std::time::Duration;

/// The firing's time, shared by all the pools it visits.
pub(super) struct Visits<'a> {
    /// Since the firing began, the schedule's own work included.
    pub(super) started: Stopwatch,
    /// `TIMER_WAIT_SECONDS`.
    pub(super) budget: Duration,
    /// `SCHEDULE_RECONCILE_SCHEDULE`, for the forecast's lead.
    pub(super) reconcile: Option<&'a Schedule>,
}

impl Visits<'_> {
    fn left(&self) -> Duration {
        self.budget.saturating_sub(self.started.elapsed())
    }
}

/// The pools a firing visits besides `skip` (the schedule's, which its own
/// work saw): the `FORECAST_POOLS` that forecast first (a pre-warm is the
/// visit that must not come late), then the ones named `off` and every
/// other id `ALLOWED_POOLS` lists, for their lapsed leases alone. With
/// `ALLOWED_POOLS=*` only the pools named somewhere are visited: the app
/// cannot list what it was never told about.
fn pools_to_visit(settings: &Settings, skip: Option<&PoolId>) -> Vec<ForecastPool> {
    let named = &settings.forecast_pools.pools;
    let (forecasting, off): (Vec<&ForecastPool>, Vec<&ForecastPool>) = named
        .iter()
        .partition(|pool| pool.mode != ForecastMode::Off);
    let allowed = match &settings.allowed_pools {
        AllowedPools::Only(ids) => ids.as_slice(),
        AllowedPools::Any => &[],
    };
    let mut visits: Vec<ForecastPool> = forecasting.into_iter().chain(off).cloned().collect();
    for id in allowed {
        if !visits.iter().any(|pool| &pool.pool_id == id) {
            visits.push(ForecastPool {
                pool_id: id.clone(),
                mode: ForecastMode::Off,
            });
        }
    }
    visits.retain(|pool| Some(&pool.pool_id) != skip);
    visits
}

/// Visits [`pools_to_visit`] one after another within the firing's budget.
pub(super) async fn visit_other_pools(
    app: &AppState,
    log: &mut Lines,
    firing: &Visits<'_>,
    skip: Option<&PoolId>,
) {
    let pools = pools_to_visit(app.settings(), skip);
    let mut not_reached: Vec<&str> = Vec::new();
    for pool in &pools {
        let left = firing.left();
        if left.is_zero() || !not_reached.is_empty() {
            not_reached.push(pool.pool_id.as_str());
            continue;
        }
        let mut lines = Lines::for_pool(&pool.pool_id);
        visit(app, &mut lines, firing, pool).await;
        log.append(lines);
    }
    if !not_reached.is_empty() {
        log.info(format!(
            "pools not visited, the firing's {} s (TIMER_WAIT_SECONDS) being spent: {}; the next firing visits them",
            firing.budget.as_secs(),
            not_reached.join(", ")
        ));
    }
}

/// One pool: a look that lets go of its lapsed leases, then its forecast.
async fn visit(app: &AppState, log: &mut Lines, firing: &Visits<'_>, pool: &ForecastPool) {
    let work = ScheduledWork {
        want: Want::look(pool.pool_id.clone()),
        lease: None,
        wait: firing.left().min(PREWARM_WAIT),
    };
    // With no lease to write, the service always runs the look.
    let Fired::Ran(ran) = app.service().fire(work).await else {
        log.error("FAILED: the look did not run".to_owned());
        return;
    };
    let Ran {
        want,
        result,
        let_go,
        ..
    } = *ran;
    if let Some((lapsed, released)) = let_go {
        describe_let_go(log, &want.pool_id, &lapsed, released);
    }
    let observed = match result {
        Ok(Report {
            outcome: Outcome::Failed(failure),
            ..
        }) => {
            log.error(format!(
                "FAILED: {}: {}; no forecast for this pool on this firing",
                failure.code.as_str(),
                failure.message
            ));
            return;
        }
        Ok(Report {
            last: Some(observed),
            ..
        }) => {
            log.saw(&pool.pool_id, &observed);
            observed
        }
        Ok(_) => {
            log.info("Batch did not answer within the wait; no forecast on this firing".into());
            return;
        }
        Err(error) => {
            log.error(failed_line(&error));
            return;
        }
    };
    let target = Target {
        pool_id: &pool.pool_id,
        mode: pool.mode,
        reconcile: firing.reconcile,
        wait: firing.left().min(PREWARM_WAIT),
    };
    forecast_step(app, log, target, &observed).await;
}

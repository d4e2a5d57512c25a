//! Timer triggers over the custom-handler invocation protocol.
//!
//! The host does not forward timer firings as HTTP requests: it posts
//! `POST /<function folder>` with `{"Data": {"timer": TimerInfo}, "Metadata":
//! {"sys": {...}}}` and expects a 2xx `application/json` answer
//! `{"Outputs": {}, "Logs": [...], "ReturnValue": null}`; `Logs` lines show on
//! the invocation in Application Insights. (An empty body would leave the
//! invocation hanging until `functionTimeout`; a missing content type fails it.)
//!
//! Every firing, whichever timer and however late, looks at the window the
//! schedules describe *now* and converges the pool to it, so a repeated,
//! late or past-due firing does the right thing (`docs/schedules.md`):
//! - window open: hold the scheduled ready nodes (scale-up, never shrinks);
//! - window closed, scale-down timer: release every node with
//!   `taskcompletion` (running tasks finish first);
//! - window closed, scale-up or reconcile timer: leave the pool alone, so
//!   nodes someone asked for over HTTP outside the window stay;
//! - with local-time windows (`SCHEDULE_WINDOWS`), every timer, the
//!   reconcile's above all, enforces the closed window too: the schedule's
//!   lease released, the pool shrunk to what live leases need.
//!
//! A firing reads its payload, judges the window, plans ([`plan`], then
//! `scheduled_work`: the want and the schedule's lease, pure), hands that
//! to the service, and logs what it did.
//!
//! The reconcile also visits the pools of `FORECAST_POOLS` after its own
//! (`forecast_pools`); with no window configured at all, it visits only
//! those and answers 200.
//!
//! Status codes: 200 when the pool got there or is still on its way at the
//! end of the wait; 500 when it cannot get there (no such pool, autoscale on,
//! quota, start task failed, Batch unreachable or refusing us) or when the
//! schedule is disabled by a setting problem (`WEBSITE_TIME_ZONE` not UTC, a
//! schedule that does not parse...), so the invocation shows as failed and
//! alerts fire; 400 for a payload that is not a timer invocation. Every answer is the same JSON shape. The host does not
//! read the body of a non-2xx answer, so failures are also logged to stderr
//! (an Error trace in Application Insights).

mod forecast;
mod forecast_pools;
mod log;
mod payload;

use self::forecast::{Target, forecast_step};
use self::forecast_pools::{Visits, visit_other_pools};
use self::log::{
    Lines, describe_action, describe_firing, describe_lease, describe_let_go, describe_report,
    describe_window, failed_line,
};
use self::payload::{Firing, parse_firing};
use super::state::AppState;
use crate::resizer::lease::{MAX_LEASE_MINUTES, SCHEDULE_LEASE};
use crate::resizer::{Lease, LeaseEdit, LeaseId, LeaseRule, LeaseWrite, Outcome, Report, Want};
use crate::schedule::ScheduleNow;
use crate::service::{Fired, LeaseFailure, Ran, ScheduledWork};
use crate::settings::ScheduleSettings;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;

/// A firing is judged this far ahead of the handler's clock: a timer that
/// fires a hair before its occurrence (clock skew between the host's timer
/// and our clock) still sees the window edge it was scheduled for.
pub(crate) const EDGE_GRACE: time::Duration = time::Duration::seconds(30);

/// Which timer fired: the function folder name is the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `timer-scale-up`, on `SCALE_UP_SCHEDULE`: the window's start.
    Up,
    /// `timer-scale-down`, on `SCALE_DOWN_SCHEDULE`: the window's end.
    Down,
    /// `timer-reconcile`, on `SCHEDULE_RECONCILE_SCHEDULE`: raises only.
    Reconcile,
}

impl Role {
    pub(crate) fn function_name(self) -> &'static str {
        match self {
            Role::Up => "timer-scale-up",
            Role::Down => "timer-scale-down",
            Role::Reconcile => "timer-reconcile",
        }
    }
}

/// What one firing does to the pool. Pure: from the role and the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Hold at least the scheduled ready nodes.
    Hold,
    /// Release every node with taskcompletion.
    Release,
    /// Touch nothing; only report.
    Leave,
}

/// `every_firing_closes`: local-time windows, where any timer (the
/// reconcile every 15 minutes) repairs a missed close as well as a missed open.
pub(crate) fn plan(role: Role, window_open: bool, every_firing_closes: bool) -> Plan {
    match (window_open, role) {
        (true, _) => Plan::Hold,
        (false, _) if every_firing_closes => Plan::Release,
        (false, Role::Down) => Plan::Release,
        (false, Role::Up | Role::Reconcile) => Plan::Leave,
    }
}

pub(crate) async fn timer_scale_up(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    fire(app, Role::Up, body).await
}

pub(crate) async fn timer_scale_down(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    fire(app, Role::Down, body).await
}

pub(crate) async fn timer_reconcile(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    fire(app, Role::Reconcile, body).await
}

/// The invocation answer the host expects; the only shape we send.
fn answer(status: StatusCode, logs: Vec<String>) -> Response {
    let body = json!({ "Outputs": {}, "Logs": logs, "ReturnValue": null });
    (status, Json(body)).into_response()
}

async fn fire(app: AppState, role: Role, body: Result<Bytes, BytesRejection>) -> Response {
    let name = role.function_name();
    let firing = match read_firing(name, body) {
        Ok(firing) => firing,
        Err(log) => return log.answer(StatusCode::BAD_REQUEST),
    };
    let mut log = Lines::default();
    let now = OffsetDateTime::now_utc();
    let started = app.clock().start();
    log.info(describe_firing(name, &firing, now));

    let settings = match &app.settings().schedule {
        Ok(settings) => settings,
        Err(_) if role == Role::Reconcile && app.settings().forecast_pools.alone.is_some() => {
            return forecast_pools_alone(&app, log, started).await;
        }
        // The handler started anyway so the HTTP functions keep working; a
        // firing must not pass for a success while its schedule means nothing.
        Err(disabled) => {
            log.error(format!(
                "FAILED: {disabled}. Nothing done; fix the app setting(s) named and the next firing runs"
            ));
            return log.answer(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let judged = settings.at(now + EDGE_GRACE);
    log.info(describe_window(settings, &judged, now));

    let plan = plan(role, judged.state.open, settings.every_firing_closes());
    let (line, work) = scheduled_work(
        (plan, name),
        settings,
        &judged,
        (now, app.clock().now_utc()),
        app.settings().provision_deadline,
    );
    log.info(line);
    let status = match app.service().fire(work).await {
        Fired::LeaseNotWritten(failure) => {
            log.error(lease_not_written_line(failure));
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Fired::Ran(ran) => after_run(&app, &mut log, (role, plan), settings, *ran).await,
    };
    // The other pools' forecasts, whatever the schedule's pool did: its
    // outcome alone decides the status.
    if role == Role::Reconcile {
        let visits = Visits {
            started,
            budget: Duration::from_secs(settings.wait_seconds.into()),
            reconcile: settings.reconcile.as_ref(),
        };
        visit_other_pools(&app, &mut log, &visits, Some(&settings.pool_id)).await;
    }
    log.answer(status)
}

/// The invocation's payload, or the log of the 400 that says why it is not one.
fn read_firing(name: &str, body: Result<Bytes, BytesRejection>) -> Result<Firing, Lines> {
    body.map_err(|e| format!("cannot read the invocation body: {e}"))
        .and_then(|body| parse_firing(&body))
        .map_err(|problem| {
            let mut log = Lines::default();
            log.error(format!(
                "{name}: malformed timer invocation, nothing done: {problem}"
            ));
            log
        })
}

/// What a firing's plan asks of the service (the want, the schedule's lease
/// edit, the wait), and the line that says so. Pure: from the plan, the
/// window as judged, the real time (the window is wall-clock) and the
/// handler's clock (which runs fast in dev and tests, and dates the lease).
fn scheduled_work(
    (plan, name): (Plan, &str),
    settings: &ScheduleSettings,
    judged: &ScheduleNow,
    (now, handler_now): (OffsetDateTime, OffsetDateTime),
    provision_deadline: Duration,
) -> (String, ScheduledWork) {
    let pool_id = settings.pool_id.clone();
    let schedule_lease: LeaseId = SCHEDULE_LEASE.parse().expect("a valid lease id");
    let (line, want, lease) = match plan {
        Plan::Hold => {
            let line = format!(
                "window open: holding at least {} dedicated + {} low-priority ready node(s) in pool '{pool_id}' (scale-up; never shrinks)",
                judged.dedicated, judged.low_priority
            );
            // Measured in real time, added to the handler's clock.
            let lifetime = schedule_lease_lifetime(
                settings.every_firing_closes(),
                judged.state.next_down,
                now,
            );
            let lease = LeaseEdit::Hold(Lease {
                id: schedule_lease,
                dedicated: judged.dedicated,
                low_priority: judged.low_priority,
                expires: handler_now + lifetime,
                idle: None,
            });
            let want = Want {
                // The app's deadline, as for every HTTP scale-up.
                provision_deadline,
                // The schedule's scale-ups are the service's own, not arrivals.
                origin: crate::resizer::rhythm::Origin::Service,
                ..Want::scale_up(pool_id, judged.dedicated, judged.low_priority)
            };
            (line, want, Some(lease))
        }
        Plan::Release => {
            let line = if settings.every_firing_closes() {
                format!(
                    "window closed: releasing lease '{SCHEDULE_LEASE}' and scaling pool '{pool_id}' down to what live leases need, \
                     with taskcompletion (running tasks finish first; with SCHEDULE_WINDOWS every firing enforces a closed window)"
                )
            } else {
                format!(
                    "window closed and this is its end firing: scaling pool '{pool_id}' down to 0 nodes with taskcompletion (running tasks finish first)"
                )
            };
            // Its own lease counts as released; every other live lease
            // keeps its nodes.
            let want = Want::scale_down(
                pool_id,
                0,
                0,
                LeaseRule::HonourExcept(schedule_lease.clone()),
            );
            (line, want, Some(LeaseEdit::Release(schedule_lease)))
        }
        Plan::Leave => {
            let line = format!(
                "window closed: {name} does not shrink pools, so nodes asked for over HTTP outside the window stay; \
                 leaving pool '{pool_id}' as it is (only timer-scale-down releases nodes)"
            );
            (line, Want::look(pool_id), None)
        }
    };
    let work = ScheduledWork {
        want,
        lease,
        wait: Duration::from_secs(settings.wait_seconds.into()),
    };
    (line, work)
}

/// What the log says when the schedule's lease could not be written.
fn lease_not_written_line(failure: LeaseFailure) -> String {
    match failure {
        LeaseFailure::Busy(why) => format!(
            "FAILED: BatchThrottled: Batch stayed busy for the whole wait ({why}); lease '{SCHEDULE_LEASE}' was not written and the pool was left as it is; the next firing tries again"
        ),
        LeaseFailure::Failed(error) => failed_line(&error),
    }
}

/// A firing that ran: its lease and lapsed leases logged, the reconcile's
/// forecast step for the schedule's pool, and the status its wait decides.
async fn after_run(
    app: &AppState,
    log: &mut Lines,
    (role, plan): (Role, Plan),
    settings: &ScheduleSettings,
    ran: Ran,
) -> StatusCode {
    let Ran {
        want,
        lease,
        result,
        let_go,
    } = ran;
    if let Some((edit, LeaseWrite::Written { .. })) = &lease {
        log.info(describe_lease(edit));
    }
    if let Some((lapsed, released)) = let_go {
        describe_let_go(log, &want.pool_id, &lapsed, released);
    }
    if role == Role::Reconcile
        && let Ok(Report {
            last: Some(observed),
            ..
        }) = &result
    {
        let target = Target {
            pool_id: &settings.pool_id,
            mode: app
                .settings()
                .forecast_pools
                .mode_of(&settings.pool_id)
                .unwrap_or(app.settings().forecast.mode),
            reconcile: settings.reconcile.as_ref(),
            wait: crate::service::PREWARM_WAIT,
        };
        forecast_step(app, log, target, observed).await;
    }
    conclude(log, &want, plan, settings.wait_seconds, result)
}

/// The status of a firing, from its wait's outcome on the schedule's pool.
fn conclude(
    log: &mut Lines,
    want: &Want,
    plan: Plan,
    wait_seconds: u32,
    result: Result<Report, crate::resizer::ConvergeError>,
) -> StatusCode {
    match result {
        Ok(report) => {
            if let Some(observed) = &report.last {
                log.saw(&want.pool_id, observed);
            }
            describe_report(log, want, plan, wait_seconds, &report);
            match report.outcome {
                // An operator's pause is a decision, not a failure: the
                // firing says so and leaves the pool alone.
                Outcome::Failed(failure)
                    if failure.code == crate::resizer::FailureCode::PoolPaused =>
                {
                    log.info(format!("nothing done: {}", failure.message));
                    StatusCode::OK
                }
                Outcome::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
                Outcome::Converged | Outcome::Pending(_) => StatusCode::OK,
            }
        }
        Err(error) => {
            for action in &error.actions {
                log.info(describe_action(action));
            }
            log.error(failed_line(&error));
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// A reconcile with no window configured (`FORECAST_POOLS` alone): the
/// forecast pools are its whole work, and none of their failures is the
/// firing's (see [`forecast_pools`]).
async fn forecast_pools_alone(
    app: &AppState,
    mut log: Lines,
    started: crate::clock::Stopwatch,
) -> Response {
    let Some(alone) = &app.settings().forecast_pools.alone else {
        return log.answer(StatusCode::INTERNAL_SERVER_ERROR);
    };
    log.info(format!("{}; visiting them", crate::settings::NO_WINDOW));
    let visits = Visits {
        started,
        budget: Duration::from_secs(alone.wait_seconds.into()),
        reconcile: alone.reconcile.as_ref(),
    };
    visit_other_pools(app, &mut log, &visits, None).await;
    log.answer(StatusCode::OK)
}

const SCHEDULE_LEASE_GRACE: time::Duration = time::Duration::minutes(15);

/// How long lease `schedule` lives from `now` (real time), given when the
/// window closes. Two schedules: until the close plus a grace, since only
/// the end firing releases it. Local windows (`every_firing_closes`): until
/// the close exactly, since any firing after it releases the lease; a
/// window that never closes, the longest a lease may live, renewed by
/// every firing.
fn schedule_lease_lifetime(
    every_firing_closes: bool,
    closes: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> time::Duration {
    let until_close = closes.map(|close| (close - now).max(time::Duration::ZERO));
    match (every_firing_closes, until_close) {
        (true, Some(until_close)) => until_close,
        (true, None) => time::Duration::minutes(MAX_LEASE_MINUTES.into()),
        (false, until_close) => {
            until_close.unwrap_or(time::Duration::hours(3)) + SCHEDULE_LEASE_GRACE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::log::describe_window;
    use super::payload::Firing;
    use super::*;
    use crate::settings::ScheduleSettings;

    #[test]
    fn plans_by_role_and_window() {
        for role in [Role::Up, Role::Down, Role::Reconcile] {
            for local in [false, true] {
                assert_eq!(
                    plan(role, true, local),
                    Plan::Hold,
                    "{role:?} inside the window"
                );
            }
            // Local windows: every firing enforces a closed window.
            assert_eq!(plan(role, false, true), Plan::Release, "{role:?}");
        }
        assert_eq!(plan(Role::Down, false, false), Plan::Release);
        assert_eq!(plan(Role::Up, false, false), Plan::Leave);
        assert_eq!(plan(Role::Reconcile, false, false), Plan::Leave);
    }

    #[test]
    fn an_edge_after_the_handler_time_is_explained_in_the_line() {
        use time::macros::datetime;
        let schedule = |text: &str| crate::schedule::Schedule::parse(text).unwrap();
        let settings = ScheduleSettings {
            window: crate::schedule::Window {
                up: schedule("0 0 6 * * *"),
                down: schedule("0 0 7 * * *"),
            },
            reconcile: None,
            pool_id: "adf-pool".parse().unwrap(),
            dedicated: 1,
            low_priority: 0,
            wait_seconds: 60,
            windows: None,
        };
        // A timer that fires 10 s early is judged 30 s ahead: open since 06:00.
        let now = datetime!(2026-03-02 05:59:50 UTC);
        let line = describe_window(&settings, &settings.at(now + EDGE_GRACE), now);
        assert!(
            line.contains(
                "open since 2026-03-02T06:00:00Z (10 s after the handler time: a firing judges \
                 the window 30 s ahead, so one that fires a little early still sees the edge it \
                 was scheduled for), closes at 2026-03-02T07:00:00Z"
            ),
            "{line}"
        );
        let later = datetime!(2026-03-02 06:20:00 UTC);
        let line = describe_window(&settings, &settings.at(later + EDGE_GRACE), later);
        assert!(
            line.ends_with("open since 2026-03-02T06:00:00Z, closes at 2026-03-02T07:00:00Z"),
            "{line}"
        );
    }

    #[test]
    fn the_schedule_lease_lives_until_the_window_closes() {
        use time::macros::datetime;
        let now = datetime!(2025-03-31 04:10 UTC);
        let close = Some(datetime!(2025-03-31 05:00 UTC));
        // Local windows: the window's end, in real time, no grace.
        assert_eq!(
            now + schedule_lease_lifetime(true, close, now),
            datetime!(2025-03-31 05:00 UTC)
        );
        assert_eq!(
            schedule_lease_lifetime(true, None, now),
            time::Duration::days(7),
            "a window that never closes: renewed by every firing"
        );
        // Two schedules: 15 minutes past the close, for the end firing.
        assert_eq!(
            now + schedule_lease_lifetime(false, close, now),
            datetime!(2025-03-31 05:15 UTC)
        );
        assert_eq!(
            schedule_lease_lifetime(true, Some(now - time::Duration::MINUTE), now),
            time::Duration::ZERO
        );
    }

    #[test]
    fn reads_a_real_shaped_invocation() {
        let body = br#"{ "Data": { "timer": { "Schedule": { "AdjustForDST": true },
            "ScheduleStatus": { "Last": "2025-03-01T02:00:00+00:00", "Next": "2025-03-01T03:00:00+00:00",
                                "LastUpdated": "2025-03-01T02:00:00+00:00" },
            "IsPastDue": false } },
          "Metadata": { "sys": { "MethodName": "timer-scale-up", "UtcNow": "2025-03-01T03:00:00.0123456Z",
                                 "RandGuid": "0b0e6c1e-0000-4000-8000-000000000000" } } }"#;
        let firing = parse_firing(body).unwrap();
        assert_eq!(firing.binding.as_deref(), Some("timer"));
        assert_eq!(firing.is_past_due, Some(false));
        let status = firing.schedule_status.clone().unwrap().unwrap();
        assert_eq!(status.next.as_deref(), Some("2025-03-01T03:00:00+00:00"));
        assert_eq!(firing.method_name.as_deref(), Some("timer-scale-up"));
        assert_eq!(
            firing.host_utc_now.as_deref(),
            Some("2025-03-01T03:00:00.0123456Z")
        );
    }

    #[test]
    fn is_lenient_about_case_names_nulls_and_extras() {
        let firing = parse_firing(
            br#"{"data": {"myTimer": {"isPastDue": true, "scheduleStatus": null, "Extra": [1]}},
                 "metadata": {"SYS": {"utcNow": "x"}}, "Unknown": 1}"#,
        )
        .unwrap();
        assert_eq!(firing.binding.as_deref(), Some("myTimer"));
        assert_eq!(firing.is_past_due, Some(true));
        assert_eq!(firing.schedule_status, Some(None));
        assert_eq!(firing.host_utc_now.as_deref(), Some("x"));
        assert_eq!(parse_firing(b"{}").unwrap(), Firing::default());
        assert_eq!(
            parse_firing(br#"{"Data": null, "Metadata": {"sys": 5}}"#).unwrap(),
            Firing::default()
        );
    }

    #[test]
    fn malformed_bodies_say_why() {
        for (body, needle) in [
            ("", "empty"),
            ("  ", "empty"),
            ("{not json", "not JSON"),
            ("[]", "is an array in JSON, not an object"),
            ("\"timer\"", "is a string in JSON"),
            (
                r#"{"Data": "timer"}"#,
                "Data must be an object, not a string",
            ),
            (
                r#"{"Data": {"timer": 5}}"#,
                "Data.timer must be an object, not a number",
            ),
            (
                r#"{"Data": {"timer": {"IsPastDue": "yes"}}}"#,
                "Data.timer.IsPastDue must be true or false, not a string",
            ),
            (
                r#"{"Data": {"timer": {"ScheduleStatus": []}}}"#,
                "Data.timer.ScheduleStatus must be an object, not an array",
            ),
            (r#"{"Metadata": true}"#, "Metadata must be an object"),
        ] {
            let err = parse_firing(body.as_bytes()).expect_err(body);
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}

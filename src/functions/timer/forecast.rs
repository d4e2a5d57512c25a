//! The reconcile's forecast step (`FORECAST_MODE`, `FORECAST_POOLS`): what
//! a pool's rhythm expects next, how often that would have been right, and
//! the pre-warm.

use super::log::{Lines, describe_action, failed_line};
use crate::batch::PoolId;
use crate::functions::state::AppState;
use crate::resizer::{Observed, Outcome};
use crate::schedule::{Schedule, format_utc};
use crate::service::Served;
use crate::settings::ForecastMode;
use crate::telemetry::escape;
use std::time::Duration;

/// The pool a forecast step acts on, and how.
pub(super) struct Target<'a> {
    pub(super) pool_id: &'a PoolId,
    /// `FORECAST_POOLS`'s mode for the pool, else (the schedule's pool only)
    /// `FORECAST_MODE`.
    pub(super) mode: ForecastMode,
    /// `SCHEDULE_RECONCILE_SCHEDULE`: its period is how early a pre-warm
    /// must start.
    pub(super) reconcile: Option<&'a Schedule>,
    /// What the pre-warm may wait: `PREWARM_WAIT`, or what is left of the
    /// firing's budget when less.
    pub(super) wait: Duration,
}

/// The reconcile's forecast, on a pool its firing just saw: what the
/// pool's rhythm expects next, how often that forecast would have
/// been right, and, when on and an arrival is a lead away, the pre-warm.
/// The lead is a boot (the median of the pool's) plus the time to
/// the next firing, which could otherwise be too late.
pub(super) async fn forecast_step(
    app: &AppState,
    log: &mut Lines,
    target: Target<'_>,
    observed: &Observed,
) {
    use crate::resizer::forecast;
    let grace = app.settings().forecast.grace;
    let Observed::Pool(snapshot) = observed else {
        return;
    };
    if target.mode == ForecastMode::Off {
        return;
    }
    let now = app.clock().now_utc();
    let cadence = cadence(target.reconcile, now);
    let reading = forecast::read(&snapshot.pool.metadata, now, cadence, grace);
    let (boot, lead) = (reading.boot, reading.lead);
    report_backtest(log, &target, &reading);
    let Some(due) = reading.due else {
        log.info(format!(
            "forecast: no arrival expected within the lead ({} min: a boot of {} s plus {} min to the next firing)",
            lead.as_secs() / 60,
            boot.as_secs(),
            cadence.as_secs() / 60
        ));
        return;
    };
    let expected = due.expected;
    let nodes = (expected.dedicated, expected.low_priority);
    let what = format!(
        "{} dedicated + {} low-priority node(s) for the arrival expected at {} (seen at that time on {} of the last {} such day(s)), held until {}",
        nodes.0,
        nodes.1,
        format_utc(expected.at),
        expected.seen_on,
        expected.of_days,
        format_utc(due.hold_until)
    );
    if target.mode == ForecastMode::ForecastOnly {
        log.info(format!(
            "forecast-only: would pre-warm {what}; nothing written"
        ));
        return;
    }
    if reading.held {
        log.info(format!("pre-warm already held: {what}"));
        return;
    }
    let answer = app
        .service()
        .prewarm(target.pool_id, nodes, due.hold_until, target.wait)
        .await;
    report_prewarm(log, answer, &what);
}

/// The forecast's backtest on this pool, to telemetry and the firing's log:
/// how often trusting it would have been right (what forecast-only is for).
fn report_backtest(
    log: &mut Lines,
    target: &Target<'_>,
    reading: &crate::resizer::forecast::Reading,
) {
    let judged = reading.backtest;
    crate::telemetry::metrics::forecast(
        target.pool_id.as_str(),
        crate::telemetry::metrics::ForecastBacktest {
            hits: judged.hits,
            misses: judged.misses,
            unforeseen: judged.unforeseen,
            missed_node_minutes: judged.missed_node_minutes,
        },
    );
    log.info(format!(
        "forecast ({}): {} arrival(s) remembered; backtest over {} day(s): {} hit(s), {} miss(es) ({:.0} node-min warmed for nobody), {} unforeseen; right {}",
        match target.mode {
            ForecastMode::On => "on",
            _ => "forecast-only",
        },
        reading.remembered,
        judged.days,
        judged.hits,
        judged.misses,
        judged.missed_node_minutes,
        judged.unforeseen,
        judged
            .precision()
            .map_or("-: nothing predicted yet".to_owned(), |p| format!(
                "{:.0} % of the times it would have warmed",
                p * 100.0
            ))
    ));
}

/// The time between two reconcile firings from `now`: a pre-warm must
/// start one firing early, or the next firing could be too late. Every 15
/// minutes when the period is unknown (the templates' default).
fn cadence(reconcile: Option<&Schedule>, now: time::OffsetDateTime) -> Duration {
    reconcile
        .and_then(|r| {
            let next = r.next_after(now)?;
            let after = r.next_after(next)?;
            Duration::try_from(after - next).ok()
        })
        .unwrap_or(Duration::from_secs(15 * 60))
}

fn report_prewarm(log: &mut Lines, answer: Served, what: &str) {
    match answer.result {
        Ok(report) => {
            for action in &report.actions {
                log.info(describe_action(action));
            }
            match report.outcome {
                Outcome::Failed(failure) => log.info(format!(
                    "pre-warm not done ({}): {}",
                    failure.code.as_str(),
                    escape(&failure.message)
                )),
                _ => log.info(format!("pre-warm: {what}")),
            }
        }
        Err(error) => log.info(format!("pre-warm not done: {}", failed_line(&error))),
    }
}

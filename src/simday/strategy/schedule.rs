//! Fixed schedules: a node in set hours whatever the pipelines do, as the seed
//! article's "Option 1" formula holds it. The article's window, and the same widened to
//! the pipelines' working hours.

use super::formula::Formula;
use crate::simday::config::DayConfig;

/// The schedule formulas, in table order.
pub(crate) fn formulas(config: &DayConfig) -> Vec<Formula> {
    let interval = config.formula_interval_minutes;
    vec![
        Formula {
            name: "schedule formula 06-07".into(),
            what: "the seed article's fixed schedule: one node Mon-Fri 06:00-07:00 UTC, taskcompletion".into(),
            formula: seed_schedule(6, 7),
            interval,
        },
        Formula {
            name: "schedule formula 08-18".into(),
            what: "the same schedule widened to the pipelines' working hours, 08:00-18:00".into(),
            formula: seed_schedule(8, 18),
            interval,
        },
    ]
}

/// The seed article's "Option 1". As printed it never assigns a target (the article
/// says it held one node 06:00-07:00, so a line was lost); the assignment its text
/// describes is added, with the window's hours as parameters.
pub(crate) fn seed_schedule(from: u8, to: u8) -> String {
    format!(
        "$Now=time();
$WorkHours=$Now.hour>={from} && $Now.hour<{to};
$IsWeekday=$Now.weekday>=1 && $Now.weekday<=5;
$IsWorkingWeekdayHour=$WorkHours && $IsWeekday;
$TargetDedicatedNodes=$IsWorkingWeekdayHour ? 1 : 0;
$NodeDeallocationOption = taskcompletion;"
    )
}

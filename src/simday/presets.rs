//! The day types the study replays: named [`DayConfig`]s, each the reference day with
//! one thing changed, so a difference between two day types has one cause.

use super::config::DayConfig;

/// A named day.
#[derive(Debug, Clone)]
pub struct DayType {
    /// Its name (`--day-type`).
    pub name: &'static str,
    /// One line for the docs: what kind of day it is.
    pub what: &'static str,
    /// The day (one measured day, seed 7; the study sets days and seeds).
    pub config: DayConfig,
}

/// Every day type, in the docs' order.
pub fn all() -> Vec<DayType> {
    let base = DayConfig::default;
    vec![
        DayType {
            name: "sparse",
            what: "the reference day: 12 runs of 8-12 min at random times 08:00-18:00",
            config: base(),
        },
        DayType {
            name: "busy",
            what: "40 runs of 8-12 min at random times 08:00-18:00 (about 400 task-minutes in 600)",
            config: DayConfig { runs: 40, ..base() },
        },
        DayType {
            name: "saturated",
            what: "55 runs of 8-12 min at random times 08:00-18:00 (about 550 task-minutes in 600: one node is never enough)",
            config: DayConfig { runs: 55, ..base() },
        },
        DayType {
            name: "bursts",
            what: "24 runs in 4 clumps, each clump's runs within 10 min of its start, at random times 08:00-18:00",
            config: DayConfig {
                runs: 24,
                bursts: 4,
                burst_minutes: 10.0,
                ..base()
            },
        },
        DayType {
            name: "long",
            what: "12 runs of 45-75 min at random times 08:00-18:00",
            config: DayConfig {
                task_minutes: [45.0, 75.0],
                ..base()
            },
        },
        DayType {
            name: "multi-node",
            what: "12 runs at random times 08:00-18:00, each asking 2-4 nodes and running as many tasks of 8-12 min at once",
            config: DayConfig {
                nodes_per_run: [2, 4],
                ..base()
            },
        },
        DayType {
            name: "recurring",
            what: "12 schedule-triggered runs at the same times every day (drawn once, 08:00-18:00), each started 0-60 s late by its trigger and ±2 min by the activities before it",
            config: DayConfig {
                recurring: true,
                trigger_delay_seconds: [0.0, 60.0],
                upstream_jitter_seconds: 120.0,
                ..base()
            },
        },
        DayType {
            name: "no-scale-down",
            what: "the reference day, but every pipeline fails before its scale-down activity: what bounds the bill",
            config: DayConfig {
                skip_scale_down: true,
                ..base()
            },
        },
    ]
}

/// The day type called `name`.
pub fn get(name: &str) -> Option<DayType> {
    all().into_iter().find(|d| d.name == name)
}

/// The day types' names.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|d| d.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_type_plans_and_differs_from_the_reference_in_one_way() {
        let reference = DayConfig::default();
        for d in all() {
            let plan = d
                .config
                .plan()
                .unwrap_or_else(|e| panic!("{}: {e}", d.name));
            assert!(!plan.runs.is_empty(), "{}", d.name);
            let a = serde_json::to_value(&d.config).unwrap();
            let b = serde_json::to_value(&reference).unwrap();
            let changed: Vec<&String> = a
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| b[k.as_str()] != **v)
                .map(|(k, _)| k)
                .collect();
            assert!(changed.len() <= 3, "{}: {changed:?}", d.name);
        }
        assert_eq!(get("busy").map(|d| d.config.runs), Some(40));
        assert!(get("weekend").is_none());
        assert_eq!(names().len(), 8);
    }
}

use super::*;
use crate::batch::credential::CredentialKind;
use std::collections::HashMap;

/// The example settings as a whole are what the handler accepts, and
/// their schedule is the seed's classic window (Mon-Fri 06:00-07:00 UTC).
#[test]
fn the_example_settings_parse_into_the_classic_window() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/local.settings.json.example");
    let example: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let values: HashMap<String, String> = example["Values"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let settings = Settings::from_env(|name| values.get(name).cloned())
        .unwrap_or_else(|e| panic!("local.settings.json.example: {e}"));
    let schedule = settings
        .schedule
        .unwrap_or_else(|e| panic!("local.settings.json.example: {e}"));
    assert_eq!(schedule.window.up.as_str(), "0 0 6 * * 1-5");
    assert_eq!(schedule.window.down.as_str(), "0 0 7 * * 1-5");
    assert!(
        schedule.windows.is_none(),
        "SCHEDULE_WINDOWS empty: the two UTC schedules are the window"
    );
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn minimal_entra_settings() {
    let s = Settings::from_env(env(&[
        (
            "BATCH_ACCOUNT_URL",
            "https://acct.westeurope.batch.azure.com",
        ),
        ("BATCH_POOL_ID", "adf-pool"),
    ]))
    .unwrap();
    assert!(matches!(
        s.auth,
        AuthSettings::Entra {
            kind: CredentialKind::DeveloperTools,
            ..
        }
    ));
    assert_eq!(s.default_pool_id.unwrap().as_str(), "adf-pool");
    assert_eq!(s.default_wait_seconds, DEFAULT_WAIT_SECONDS);
    assert_eq!(s.max_dedicated_nodes, DEFAULT_MAX_NODES);
}

#[test]
fn managed_identity_in_azure() {
    let s = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("IDENTITY_ENDPOINT", "http://localhost:8081/msi/token"),
        ("AZURE_CLIENT_ID", "0000-1111"),
        ("ALLOWED_POOLS", "*"),
    ]))
    .unwrap();
    match s.auth {
        AuthSettings::Entra { kind, client_id } => {
            assert_eq!(kind, CredentialKind::ManagedIdentity);
            assert_eq!(client_id.as_deref(), Some("0000-1111"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_problem_is_reported_at_once_and_no_secret_is_shown() {
    let err = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "http://plain.example"),
        ("BATCH_POOL_ID", "bad/pool"),
        ("BATCH_ACCOUNT_NAME", "acct"),
        ("BATCH_ACCOUNT_KEY", "!!not-base64-secret!!"),
        ("DEFAULT_WAIT_SECONDS", "900"),
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "http"),
    ]))
    .unwrap_err();
    let text = err.to_string();
    for needle in [
        "BATCH_ACCOUNT_URL",
        "BATCH_POOL_ID",
        "DEFAULT_WAIT_SECONDS",
        "FUNCTIONS_CUSTOMHANDLER_PORT",
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    assert!(!text.contains("not-base64-secret"));
    let shared_key = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_ACCOUNT_NAME", "acct"),
        ("BATCH_ACCOUNT_KEY", "c2VjcmV0LWtleQ=="),
    ]))
    .unwrap();
    let shown = format!("{shared_key:?}");
    assert!(
        shown.contains("acct") && !shown.contains("c2VjcmV0"),
        "{shown}"
    );
    assert_eq!(err.0.len(), 4, "the key is checked with the client");
}

#[test]
fn status_url_secrets_are_long_and_never_shown() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_POOL_ID", "adf-pool"),
    ];
    let none = Settings::from_env(env(&base)).unwrap();
    assert!(
        none.status_url_secret.is_none(),
        "serve refuses; the CLI needs none"
    );
    assert_eq!(none.status_url_ttl, std::time::Duration::from_secs(3600));

    let long = "0123456789abcdef0123456789abcdef-current";
    let with = |more: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(more);
        Settings::from_env(env(&pairs))
    };
    let set = with(&[
        ("STATUS_URL_SECRET", long),
        (
            "STATUS_URL_SECRET_PREVIOUS",
            "0123456789abcdef0123456789abcdef-previous",
        ),
        ("STATUS_URL_TTL_MINUTES", "30"),
    ])
    .unwrap();
    let secret = set.status_url_secret.as_ref().unwrap();
    assert!(secret.previous.is_some());
    assert_eq!(set.status_url_ttl, std::time::Duration::from_secs(1800));
    let shown = format!("{set:?}");
    assert!(!shown.contains("0123456789abcdef"), "{shown}");

    let problems = with(&[
        ("STATUS_URL_SECRET", "short-secret-value"),
        ("STATUS_URL_TTL_MINUTES", "0"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        problems.contains("STATUS_URL_SECRET must have at least 32 characters (it has 18)"),
        "{problems}"
    );
    assert!(
        problems.contains("STATUS_URL_TTL_MINUTES must be at least 1"),
        "{problems}"
    );
    assert!(!problems.contains("short-secret-value"), "{problems}");
    let orphan = with(&[("STATUS_URL_SECRET_PREVIOUS", long)])
        .unwrap_err()
        .to_string();
    assert!(orphan.contains("STATUS_URL_SECRET_PREVIOUS is set but STATUS_URL_SECRET is not"));
}

#[test]
fn keep_warm_is_minutes_or_auto() {
    use crate::resizer::keep_warm::KeepWarm;
    let with = |value: &'static str| {
        Settings::from_env(env(&[
            ("BATCH_ACCOUNT_URL", "https://a.b"),
            ("BATCH_POOL_ID", "adf-pool"),
            ("KEEP_WARM_MINUTES", value),
        ]))
    };
    assert_eq!(with("Auto").unwrap().keep_warm, KeepWarm::Auto);
    assert_eq!(with("15").unwrap().keep_warm, KeepWarm::Minutes(15));
    let refused = format!("{:?}", with("later").unwrap_err());
    assert!(
        refused.contains(
            "KEEP_WARM_MINUTES must be a whole number of minutes from 0 to 1440, or auto, not 'later'"
        ),
        "{refused}"
    );
}

#[test]
fn forecast_modes_are_read_and_checked() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_POOL_ID", "adf-pool"),
    ];
    let with = |more: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(more);
        Settings::from_env(env(&pairs))
    };
    let off = with(&[]).unwrap().forecast;
    assert_eq!(off.mode, ForecastMode::Off);
    assert_eq!(off.grace.as_secs(), 5 * 60);
    for (raw, mode) in [
        ("off", ForecastMode::Off),
        ("forecast-only", ForecastMode::ForecastOnly),
        ("ON", ForecastMode::On),
    ] {
        assert_eq!(
            with(&[("FORECAST_MODE", raw)]).unwrap().forecast.mode,
            mode,
            "{raw}"
        );
    }
    let problems = with(&[("FORECAST_MODE", "maybe"), ("FORECAST_GRACE_MINUTES", "0")])
        .unwrap_err()
        .to_string();
    assert!(
        problems.contains("FORECAST_MODE must be off, forecast-only or on, not 'maybe'"),
        "{problems}"
    );
    assert!(
        problems.contains("FORECAST_GRACE_MINUTES must be at least 1"),
        "{problems}"
    );
}

#[test]
fn forecast_pools_are_read_with_their_modes() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_POOL_ID", "adf-pool"),
        ("ALLOWED_POOLS", "adf-pool, etl, reports"),
    ];
    let with = |more: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(more);
        Settings::from_env(env(&pairs)).expect("the HTTP functions keep working")
    };
    assert!(with(&[]).forecast_pools.pools.is_empty());
    let s = with(&[
        ("FORECAST_MODE", "on"),
        (
            "FORECAST_POOLS",
            " etl=ON ,reports = Forecast-Only,, adf-pool=off",
        ),
    ]);
    let pools = &s.forecast_pools;
    let mode = |id: &str| pools.mode_of(&id.parse().unwrap());
    assert_eq!(mode("ETL"), Some(ForecastMode::On), "case-insensitive ids");
    assert_eq!(mode("reports"), Some(ForecastMode::ForecastOnly));
    assert_eq!(
        mode("adf-pool"),
        Some(ForecastMode::Off),
        "the list's mode is the schedule's pool's too"
    );
    assert_eq!(mode("other"), None);
    assert!(s.schedule.is_ok() && pools.alone.is_none());
}

#[test]
fn forecast_pools_problems_disable_the_timers_each_with_its_reason() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_POOL_ID", "adf-pool"),
        ("ALLOWED_POOLS", "adf-pool, etl, reports"),
    ];
    let problems = |list: &str| {
        let mut pairs = base.to_vec();
        pairs.push(("FORECAST_POOLS", list));
        Settings::from_env(env(&pairs))
            .expect("the HTTP functions keep working")
            .schedule
            .expect_err("the timers are disabled")
            .0
    };
    assert_eq!(
        problems("etl=sometimes"),
        [
            "FORECAST_POOLS: 'etl=sometimes': the mode must be off, forecast-only or on, not 'sometimes'"
        ]
    );
    assert_eq!(
        problems("etl=on,night=on"),
        [
            "FORECAST_POOLS names pool 'night', which is not in ALLOWED_POOLS (adf-pool, etl, reports): \
          list it in ALLOWED_POOLS, or remove it from FORECAST_POOLS"
        ]
    );
    assert_eq!(
        problems("etl=on,ETL=forecast-only"),
        ["FORECAST_POOLS names pool 'ETL' more than once: give each pool one mode"]
    );
    assert_eq!(
        problems("etl"),
        ["FORECAST_POOLS: 'etl' is not pool=mode (e.g. etl-pool=on,reports=forecast-only)"]
    );
    assert!(
        problems("a/b=on")[0].starts_with("FORECAST_POOLS: 'a/b' is not a valid pool id"),
        "{:?}",
        problems("a/b=on")
    );
    // Every problem at once.
    assert_eq!(problems("etl=maybe,night=on,reports").len(), 3);

    let too_many: Vec<String> = (0..=super::forecast::MAX_FORECAST_POOLS)
        .map(|i| format!("p{i}=on"))
        .collect();
    let pairs = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_POOL_ID", "adf-pool"),
        ("ALLOWED_POOLS", "*"),
        ("FORECAST_POOLS", &too_many.join(",")),
    ];
    let problems = Settings::from_env(env(&pairs))
        .unwrap()
        .schedule
        .unwrap_err()
        .0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "FORECAST_POOLS names 21 pools, more than 20: each costs Batch calls on every reconcile firing"
        ),
        "{problems:?}"
    );
}

#[test]
fn forecast_pools_with_no_window_run_the_reconcile_alone() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("ALLOWED_POOLS", "etl, reports"),
        ("SCHEDULE_RECONCILE_SCHEDULE", "0 */5 * * * *"),
        ("TIMER_WAIT_SECONDS", "120"),
    ];
    let with = |more: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(more);
        Settings::from_env(env(&pairs)).expect("the HTTP functions keep working")
    };
    let s = with(&[("FORECAST_POOLS", "etl=on")]);
    let alone = s.forecast_pools.alone.expect("the reconcile runs alone");
    assert_eq!(alone.wait_seconds, 120);
    assert_eq!(alone.reconcile.unwrap().as_str(), "0 */5 * * * *");
    assert_eq!(s.schedule.unwrap_err().0, [NO_WINDOW]);

    // No FORECAST_POOLS, or a window named without a pool: the old problem.
    for more in [
        &[][..],
        &[
            ("FORECAST_POOLS", "etl=on"),
            ("SCALE_UP_SCHEDULE", "0 0 6 * * *"),
        ],
    ] {
        let s = with(more);
        assert!(s.forecast_pools.alone.is_none(), "{more:?}");
        let problems = s.schedule.unwrap_err().0;
        assert!(
            problems[0].starts_with("neither SCHEDULE_POOL_ID nor BATCH_POOL_ID is set"),
            "{problems:?}"
        );
    }
    // A problem of the list stops the reconcile too, saying so.
    let s = with(&[("FORECAST_POOLS", "etl=on,night=on")]);
    assert!(s.forecast_pools.alone.is_none());
    assert!(s.schedule.unwrap_err().0[0].contains("'night'"));
}

#[test]
fn a_provision_deadline_of_0_is_refused_with_every_other_problem() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_POOL_ID", "adf-pool"),
    ];
    let with = |value: &str, others: &[(&str, &str)]| {
        let mut values = base.to_vec();
        values.extend_from_slice(others);
        values.push(("PROVISION_DEADLINE_MINUTES", value));
        Settings::from_env(env(&values))
    };
    let err = with("0", &[("DEFAULT_WAIT_SECONDS", "900")]).unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
    assert!(
        err.0.iter().any(|p| p.starts_with(
            "PROVISION_DEADLINE_MINUTES must be a whole number from 1 to 1440, not '0' (with 0 every node still booting would be reported stuck"
        )),
        "{err}"
    );
    assert!(err.to_string().contains("DEFAULT_WAIT_SECONDS"), "{err}");
    for (raw, minutes) in [("1", 1), ("1440", 1440)] {
        let s = with(raw, &[]).unwrap();
        assert_eq!(s.provision_deadline.as_secs(), minutes * 60, "{raw}");
    }
    for bad in ["1441", "-1", "ten"] {
        let err = with(bad, &[]).unwrap_err();
        assert!(err.to_string().contains("from 1 to 1440"), "{bad}: {err}");
    }
    let unset = Settings::from_env(env(&base)).unwrap();
    assert_eq!(unset.provision_deadline.as_secs(), 15 * 60);
}

#[test]
fn allowed_pools_default_to_the_one_pool() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_POOL_ID", "adf-pool"),
    ];
    let s = Settings::from_env(env(&base)).unwrap();
    assert!(
        s.allowed_pools.allows(&"ADF-Pool".parse().unwrap()),
        "case-insensitive"
    );
    assert!(!s.allowed_pools.allows(&"other".parse().unwrap()));
    let mut listed = base.to_vec();
    listed.push(("ALLOWED_POOLS", "a, b"));
    let s = Settings::from_env(env(&listed)).unwrap();
    assert!(s.allowed_pools.allows(&"b".parse().unwrap()));
    assert!(
        !s.allowed_pools.allows(&"adf-pool".parse().unwrap()),
        "the list replaces the default"
    );
    let mut any = base.to_vec();
    any.push(("ALLOWED_POOLS", "*"));
    assert_eq!(
        Settings::from_env(env(&any)).unwrap().allowed_pools,
        AllowedPools::Any
    );
    let none = Settings::from_env(env(&[("BATCH_ACCOUNT_URL", "https://a.b")])).unwrap();
    assert!(
        none.allowed_pools.is_empty(),
        "the handler refuses to start on this"
    );
    let err = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("ALLOWED_POOLS", "a/b"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("'a/b'"), "{err}");
}

#[test]
fn half_a_shared_key_is_an_error() {
    let err = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b"),
        ("BATCH_ACCOUNT_NAME", "acct"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("BATCH_ACCOUNT_KEY is not"));
    assert!(
        Settings::from_env(env(&[]))
            .unwrap_err()
            .to_string()
            .contains("BATCH_ACCOUNT_URL is not set")
    );
}

#[test]
fn schedules_default_to_the_classic_window() {
    let s = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("BATCH_POOL_ID", "adf-pool"),
    ]))
    .unwrap();
    let schedule = s.schedule.unwrap();
    assert_eq!(schedule.window.up.as_str(), DEFAULT_SCALE_UP_SCHEDULE);
    assert_eq!(schedule.window.down.as_str(), DEFAULT_SCALE_DOWN_SCHEDULE);
    assert!(schedule.reconcile.is_none());
    assert_eq!(schedule.pool_id.as_str(), "adf-pool");
    assert_eq!((schedule.dedicated, schedule.low_priority), (1, 0));
    assert_eq!(schedule.wait_seconds, DEFAULT_TIMER_WAIT_SECONDS);
}

#[test]
fn schedule_settings_are_read_and_checked() {
    let s = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("BATCH_POOL_ID", "adf-pool"),
        ("ALLOWED_POOLS", "adf-pool,night-pool"),
        ("SCHEDULE_POOL_ID", "night-pool"),
        ("SCALE_UP_SCHEDULE", "0 30 21 * * *"),
        ("SCALE_DOWN_SCHEDULE", "0 0 2 * *"),
        ("SCHEDULE_RECONCILE_SCHEDULE", "0 */15 * * * *"),
        ("SCHEDULE_DEDICATED_NODES", "2"),
        ("SCHEDULE_LOW_PRIORITY_NODES", "3"),
        ("TIMER_WAIT_SECONDS", "120"),
    ]))
    .unwrap();
    let schedule = s.schedule.unwrap();
    assert_eq!(schedule.window.down.as_str(), "0 0 0 2 * *");
    assert_eq!(schedule.reconcile.unwrap().as_str(), "0 */15 * * * *");
    assert_eq!(schedule.pool_id.as_str(), "night-pool");
    assert_eq!((schedule.dedicated, schedule.low_priority), (2, 3));
    assert_eq!(schedule.wait_seconds, 120);

    let schedule_broken = [
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("SCALE_UP_SCHEDULE", "0 0 25 * * 1-5"),
        ("SCALE_DOWN_SCHEDULE", "0 0 0 30 2 *"),
        ("SCHEDULE_RECONCILE_SCHEDULE", "every 15 minutes"),
        ("SCHEDULE_POOL_ID", "bad pool"),
        ("SCHEDULE_DEDICATED_NODES", "-1"),
        ("TIMER_WAIT_SECONDS", "9000"),
        ("WEBSITE_TIME_ZONE", "W. Europe Standard Time"),
        ("ALLOWED_POOLS", "*"),
    ];
    // Only the schedule is broken: the handler still starts.
    let s = Settings::from_env(env(&schedule_broken)).unwrap();
    let err = s.schedule.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("schedule disabled: "), "{text}");
    for needle in [
        "SCALE_UP_SCHEDULE: '0 0 25 * * 1-5' is not an NCRONTAB schedule: hour 25 is out of range 0-23",
        "SCALE_DOWN_SCHEDULE '0 0 0 30 2 *' never fires",
        "SCHEDULE_RECONCILE_SCHEDULE: 'every 15 minutes' is not an NCRONTAB schedule: it has 3 fields",
        "SCHEDULE_POOL_ID 'bad pool'",
        "SCHEDULE_DEDICATED_NODES must be a whole number",
        "TIMER_WAIT_SECONDS must be a whole number from 0 to 3600",
        "WEBSITE_TIME_ZONE is 'W. Europe Standard Time', but schedules are UTC only",
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    assert_eq!(err.0.len(), 7, "{text}");

    // A handler that cannot start anyway names the schedule's problems
    // in the same line, so one round of fixes is enough.
    let mut also_fatal = schedule_broken.to_vec();
    also_fatal[0] = ("BATCH_ACCOUNT_URL", "http://plain.example");
    let err = Settings::from_env(env(&also_fatal)).unwrap_err();
    assert_eq!(err.0.len(), 8, "{err}");
    assert!(err.to_string().contains("WEBSITE_TIME_ZONE"), "{err}");

    let s = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("SCALE_UP_SCHEDULE", "0 0 6 * * *"),
        ("SCALE_DOWN_SCHEDULE", "0 0 6 * * *"),
        ("ALLOWED_POOLS", "*"),
    ]))
    .unwrap();
    let err = s.schedule.unwrap_err();
    assert!(err.to_string().contains("never open"), "{err}");
}

#[test]
fn a_local_time_zone_disables_the_schedule_only() {
    let s = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("BATCH_POOL_ID", "adf-pool"),
        ("WEBSITE_TIME_ZONE", "W. Europe Standard Time"),
    ]))
    .expect("HTTP settings are fine, so the handler starts");
    assert_eq!(s.default_pool_id.unwrap().as_str(), "adf-pool");
    let disabled = s.schedule.unwrap_err();
    assert_eq!(disabled.0.len(), 1, "{disabled}");
    assert!(
        disabled.0[0].starts_with("WEBSITE_TIME_ZONE is 'W. Europe Standard Time'"),
        "{disabled}"
    );
    for utc in ["UTC", "etc/utc", "Coordinated Universal Time"] {
        let s = Settings::from_env(env(&[
            ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
            ("BATCH_POOL_ID", "adf-pool"),
            ("WEBSITE_TIME_ZONE", utc),
        ]))
        .unwrap();
        assert!(s.schedule.is_ok(), "{utc}");
    }
}

#[test]
fn local_windows_are_read_in_their_time_zone() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("BATCH_POOL_ID", "adf-pool"),
        ("SCHEDULE_RECONCILE_SCHEDULE", "0 */15 * * * *"),
        ("SCHEDULE_DEDICATED_NODES", "2"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        Settings::from_env(env(&pairs)).expect("the HTTP functions keep working")
    };
    let s = with(&[
        (
            "SCHEDULE_WINDOWS",
            "Mon-Fri 06:00-07:00; Sat 09:00-10:00 dedicated=3 lowPriority=1",
        ),
        ("SCHEDULE_TIME_ZONE", "Europe/Brussels"),
        // Only when the host fires two timers now: the same is fine.
        ("SCALE_UP_SCHEDULE", "0 0 * * * *"),
        ("SCALE_DOWN_SCHEDULE", "0 0 * * * *"),
    ]);
    let schedule = s.schedule.unwrap();
    assert!(schedule.every_firing_closes());
    let windows = schedule.windows.as_ref().unwrap();
    assert_eq!(windows.zone_name(), "Europe/Brussels");
    let counts: Vec<(u32, u32)> = windows
        .windows()
        .iter()
        .map(|w| (w.dedicated, w.low_priority))
        .collect();
    assert_eq!(counts, [(2, 0), (3, 1)], "defaults from SCHEDULE_*_NODES");
    // Saturday 29 March 2025, 09:30 in Brussels (CET) is 08:30 UTC.
    let now = schedule.at(time::macros::datetime!(2025-03-29 08:30 UTC));
    assert!(now.state.open);
    assert_eq!((now.dedicated, now.low_priority), (3, 1));
    assert!(
        !schedule
            .at(time::macros::datetime!(2025-03-29 09:30 UTC))
            .state
            .open
    );

    // Without SCHEDULE_TIME_ZONE the windows are UTC.
    let s = with(&[("SCHEDULE_WINDOWS", "daily 06:00-07:00")]);
    let schedule = s.schedule.unwrap();
    assert_eq!(schedule.windows.as_ref().unwrap().zone_name(), "UTC");
    // The two-schedule form holds SCHEDULE_*_NODES in its window.
    let s = with(&[("SCHEDULE_TIME_ZONE", "UTC")]);
    let schedule = s.schedule.unwrap();
    assert!(schedule.windows.is_none() && !schedule.every_firing_closes());
    let now = schedule.at(time::macros::datetime!(2025-03-05 06:30 UTC));
    assert_eq!(
        (now.state.open, now.dedicated, now.low_priority),
        (true, 2, 0)
    );

    // Each problem disables the schedule only, naming its setting.
    for (extra, needle) in [
        (
            &[
                ("SCHEDULE_WINDOWS", "Mon-Fri 06:00-07:00"),
                ("SCHEDULE_TIME_ZONE", "Europe/Brusels"),
            ][..],
            "SCHEDULE_TIME_ZONE: 'Europe/Brusels' is not an IANA time zone name",
        ),
        (
            &[("SCHEDULE_WINDOWS", "Mon-Fri 06:00-07:00, Sat 09:00-10:00")],
            "SCHEDULE_WINDOWS: window 1 'Mon-Fri 06:00-07:00, Sat 09:00-10:00': separate windows with ';'",
        ),
        (
            &[("SCHEDULE_TIME_ZONE", "Europe/Brussels")],
            "SCHEDULE_TIME_ZONE is 'Europe/Brussels', but SCHEDULE_WINDOWS is not set",
        ),
        (
            &[("SCHEDULE_WINDOWS", "Sat 09:00-10:00 dedicated=11")],
            "SCHEDULE_WINDOWS: window 1 'Sat 09:00-10:00 dedicated=11' has dedicated=11, above MAX_DEDICATED_NODES (10)",
        ),
        (
            &[
                ("SCHEDULE_WINDOWS", "Sat 09:00-10:00 lowPriority=3"),
                ("MAX_LOW_PRIORITY_NODES", "2"),
            ],
            "has lowPriority=3, above MAX_LOW_PRIORITY_NODES (2)",
        ),
        (
            &[
                ("WEBSITE_TIME_ZONE", "Romance Standard Time"),
                ("SCHEDULE_WINDOWS", "Sat 09:00-10:00"),
            ],
            "WEBSITE_TIME_ZONE is 'Romance Standard Time', but schedules are UTC only",
        ),
    ] {
        let problems = with(extra).schedule.expect_err(needle).0;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(needle), "{needle}: {problems:?}");
    }
    // Local windows need the reconcile timer: it opens and closes them.
    let s = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("BATCH_POOL_ID", "adf-pool"),
        ("SCHEDULE_WINDOWS", "Sat 09:00-10:00"),
    ]))
    .unwrap();
    let problems = s.schedule.unwrap_err().0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("SCHEDULE_WINDOWS is set but SCHEDULE_RECONCILE_SCHEDULE is not"),
        "{problems:?}"
    );
}

/// The schedule keeps the rules a request keeps: a pool ALLOWED_POOLS
/// allows, counts within the caps. Breaking them disables the schedule
/// only, naming the setting.
#[test]
fn the_schedule_keeps_the_allowlist_and_the_caps() {
    let base = [
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("BATCH_POOL_ID", "adf-pool"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        Settings::from_env(env(&pairs)).expect("the HTTP functions keep working")
    };
    let disabled = |extra: &[(&'static str, &'static str)]| {
        let problems = with(extra).schedule.expect_err("schedule disabled").0;
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems[0].clone()
    };

    // Allowed, case-insensitively like requests; at the caps exactly.
    for extra in [
        &[][..],
        &[("SCHEDULE_POOL_ID", "ADF-POOL")],
        &[("ALLOWED_POOLS", "a,night"), ("SCHEDULE_POOL_ID", "night")],
        &[("ALLOWED_POOLS", "*"), ("SCHEDULE_POOL_ID", "anything")],
        &[
            ("SCHEDULE_DEDICATED_NODES", "10"),
            ("SCHEDULE_LOW_PRIORITY_NODES", "3"),
            ("MAX_LOW_PRIORITY_NODES", "3"),
        ],
    ] {
        assert!(with(extra).schedule.is_ok(), "{extra:?}");
    }

    let problem = disabled(&[("SCHEDULE_POOL_ID", "night-pool")]);
    assert_eq!(
        problem,
        "SCHEDULE_POOL_ID 'night-pool' is not in the pools requests may name (ALLOWED_POOLS is not set, \
         so only BATCH_POOL_ID: adf-pool): list it in ALLOWED_POOLS, or set SCHEDULE_POOL_ID to a pool that is"
    );
    let problem = disabled(&[("ALLOWED_POOLS", "a, b"), ("SCHEDULE_POOL_ID", "c")]);
    assert!(
        problem.starts_with("SCHEDULE_POOL_ID 'c' is not in ALLOWED_POOLS (a, b)"),
        "{problem}"
    );
    // The pool it falls back to is held to the same list.
    let problem = disabled(&[("ALLOWED_POOLS", "a, b")]);
    assert!(
        problem.starts_with(
            "the schedule's pool, BATCH_POOL_ID 'adf-pool' (SCHEDULE_POOL_ID is not set), is not in ALLOWED_POOLS (a, b)"
        ),
        "{problem}"
    );

    let problem = disabled(&[("SCHEDULE_DEDICATED_NODES", "11")]);
    assert_eq!(
        problem,
        "SCHEDULE_DEDICATED_NODES is 11, above MAX_DEDICATED_NODES (10), the most a request may ask for: \
         lower it, or raise MAX_DEDICATED_NODES"
    );
    let problem = disabled(&[
        ("SCHEDULE_LOW_PRIORITY_NODES", "5"),
        ("MAX_LOW_PRIORITY_NODES", "4"),
    ]);
    assert!(
        problem.starts_with("SCHEDULE_LOW_PRIORITY_NODES is 5, above MAX_LOW_PRIORITY_NODES (4)"),
        "{problem}"
    );
    // The default count is held to the cap too, and says it is the default.
    let problem = disabled(&[("MAX_DEDICATED_NODES", "0")]);
    assert!(
        problem.starts_with(
            "SCHEDULE_DEDICATED_NODES is 1 (its default), above MAX_DEDICATED_NODES (0)"
        ),
        "{problem}"
    );
    // An invalid count is reported once, as invalid, not also as over the cap.
    let problem = disabled(&[
        ("SCHEDULE_DEDICATED_NODES", "lots"),
        ("MAX_DEDICATED_NODES", "0"),
        ("SCHEDULE_POOL_ID", "adf-pool"),
    ]);
    assert!(
        problem.starts_with("SCHEDULE_DEDICATED_NODES must be a whole number"),
        "{problem}"
    );

    // No pool at all: said at start, not at the first firing.
    let s = Settings::from_env(env(&[
        ("BATCH_ACCOUNT_URL", "https://a.b.batch.azure.com"),
        ("ALLOWED_POOLS", "*"),
    ]))
    .unwrap();
    let problems = s.schedule.unwrap_err().0;
    assert_eq!(
        problems,
        [
            "neither SCHEDULE_POOL_ID nor BATCH_POOL_ID is set, so the schedule has no pool to keep: set SCHEDULE_POOL_ID"
        ]
    );
}

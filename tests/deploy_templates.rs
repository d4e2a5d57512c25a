//! The deployment files agree with the code: every setting the binary reads
//! is set by the infrastructure template (Bicep and its ARM JSON, which must
//! list the same app settings), and the ADF pipeline calls functions that
//! exist, with methods they accept.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Settings the template deliberately leaves out, and why.
const NOT_IN_TEMPLATE: &[(&str, &str)] = &[
    (
        "BATCH_ACCOUNT_NAME",
        "Shared Key only; the template grants the managed identity a role instead",
    ),
    (
        "BATCH_ACCOUNT_KEY",
        "a secret, Shared Key only; never in a template",
    ),
    (
        "AZURE_CLIENT_ID",
        "selects a user-assigned identity; the template uses the system-assigned one",
    ),
    ("BATCH_CA_FILE", "extra CAs for the local simulator only"),
    (
        "POOL_RESIZER_TIME_SCALE",
        "fast time for dev and tests only",
    ),
    (
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "set by the Functions host at start",
    ),
    (
        "SCHEDULE_POOL_ID",
        "optional: the schedule's pool defaults to BATCH_POOL_ID",
    ),
    (
        "WEBSITE_TIME_ZONE",
        "a platform setting that must stay unset: schedules are UTC only",
    ),
];

/// Setting names the code reads: every whole upper-case string literal in
/// the non-test part of a `settings.rs` under src/ (each is an argument of
/// `get(..)`, `env(..)` or `number(..)` there). A literal scan rather than a
/// hand-kept list, so a setting added by anyone is checked without an edit here.
fn settings_read_by_code() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut files = Vec::new();
    collect_settings_files(&repo().join("src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, literal) in code.split('"').enumerate() {
            // Setting names are SHOUTING_SNAKE_CASE with at least one '_'
            // (so values such as "UTC" are not taken for names).
            let is_name = i % 2 == 1
                && literal.contains('_')
                && literal.starts_with(|c: char| c.is_ascii_uppercase())
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                found.insert(literal.to_owned());
            }
        }
    }
    found
}

fn collect_settings_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            collect_settings_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "settings.rs") {
            out.push(path);
        }
    }
}

/// `{ name: 'X', value: ... }` entries of main.bicep's appSettings.
fn bicep_app_settings() -> BTreeSet<String> {
    read("infra/main.bicep")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("{ name: '"))
        .filter_map(|rest| rest.split('\'').next())
        .map(str::to_owned)
        .collect()
}

fn arm_app_settings() -> BTreeSet<String> {
    let template = json(&repo().join("infra/main.json"));
    let site = template["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Microsoft.Web/sites")
        .expect("a Microsoft.Web/sites resource");
    assert_eq!(site["kind"], "functionapp,linux");
    assert_eq!(site["identity"]["type"], "SystemAssigned");
    site["properties"]["siteConfig"]["appSettings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn template_sets_every_setting_the_code_reads() {
    let read_by_code = settings_read_by_code();
    for core in ["BATCH_ACCOUNT_URL", "BATCH_POOL_ID", "MAX_DEDICATED_NODES"] {
        assert!(
            read_by_code.contains(core),
            "the settings scan found no {core}: {read_by_code:?}"
        );
    }
    let excluded: BTreeSet<&str> = NOT_IN_TEMPLATE.iter().map(|(name, _)| *name).collect();
    let bicep = bicep_app_settings();
    let arm = arm_app_settings();
    assert_eq!(
        bicep, arm,
        "main.bicep and main.json list different app settings"
    );
    for name in &read_by_code {
        if excluded.contains(name.as_str()) {
            assert!(
                !arm.contains(name),
                "{name} is excluded but set in the template"
            );
        } else {
            assert!(arm.contains(name), "the template does not set {name}");
        }
    }
    for name in excluded {
        assert!(
            read_by_code.contains(name),
            "exclusion {name} is not a setting the code reads"
        );
    }
    for name in [
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "AzureWebJobsStorage",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        // The timer functions' settings (read by the timer work on another branch).
        "SCALE_UP_SCHEDULE",
        "SCALE_DOWN_SCHEDULE",
        "SCHEDULE_DEDICATED_NODES",
        "SCHEDULE_LOW_PRIORITY_NODES",
        "TIMER_WAIT_SECONDS",
    ] {
        assert!(arm.contains(name), "the template does not set {name}");
    }
}

#[test]
fn bicep_and_arm_agree_on_parameters_and_least_privilege_role() {
    let template = json(&repo().join("infra/main.json"));
    let arm_params: BTreeSet<String> = template["parameters"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let bicep_params: BTreeSet<String> = read("infra/main.bicep")
        .lines()
        .filter_map(|l| l.strip_prefix("param "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(arm_params, bicep_params);
    let defaults = [
        ("scaleUpSchedule", Value::from("0 0 6 * * 1-5")),
        ("scaleDownSchedule", Value::from("0 0 7 * * 1-5")),
        ("scheduleDedicatedNodes", Value::from(1)),
        ("scheduleLowPriorityNodes", Value::from(0)),
        ("timerWaitSeconds", Value::from(540)),
    ];
    for (name, value) in defaults {
        assert_eq!(
            template["parameters"][name]["defaultValue"], value,
            "{name}"
        );
    }
    let text = template.to_string();
    for action in [
        "Microsoft.Batch/batchAccounts/pools/read",
        "Microsoft.Batch/batchAccounts/pools/write",
    ] {
        assert!(text.contains(action), "{action}");
        assert!(
            read("infra/batch-access.bicep").contains(action),
            "{action}"
        );
    }
    assert!(!text.contains("pools/delete"), "least privilege: no delete");
}

/// (route, methods) of every HTTP-triggered function folder.
fn http_routes() -> BTreeMap<String, BTreeSet<String>> {
    let mut routes = BTreeMap::new();
    for entry in std::fs::read_dir(repo()).unwrap().filter_map(Result::ok) {
        let path = entry.path().join("function.json");
        if !path.is_file() {
            continue;
        }
        for binding in json(&path)["bindings"].as_array().unwrap() {
            if binding["type"] == "httpTrigger" {
                let route = binding["route"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| entry.file_name().to_string_lossy().into_owned());
                let methods = binding["methods"]
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .map(|m| m.as_str().unwrap().to_ascii_uppercase())
                            .collect()
                    })
                    .unwrap_or_default();
                routes.insert(route, methods);
            }
        }
    }
    routes
}

/// Every activity, nested ones (If Condition branches) included.
fn activities(list: &Value, out: &mut Vec<Value>) {
    for activity in list.as_array().into_iter().flatten() {
        out.push(activity.clone());
        for branch in ["ifTrueActivities", "ifFalseActivities", "activities"] {
            activities(&activity["typeProperties"][branch], out);
        }
    }
}

#[test]
fn adf_pipeline_calls_functions_that_exist() {
    let routes = http_routes();
    let linked = json(&repo().join("adf/linkedService/PoolResizerFunction.json"));
    assert_eq!(linked["properties"]["type"], "AzureFunction");
    let linked_name = linked["name"].as_str().unwrap();

    let mut called = BTreeSet::new();
    let pipelines = std::fs::read_dir(repo().join("adf/pipeline")).unwrap();
    for entry in pipelines.filter_map(Result::ok) {
        let pipeline = json(&entry.path());
        let mut all = Vec::new();
        activities(&pipeline["properties"]["activities"], &mut all);
        let names: BTreeSet<&str> = all.iter().map(|a| a["name"].as_str().unwrap()).collect();
        for activity in &all {
            for dependency in activity["dependsOn"].as_array().into_iter().flatten() {
                let on = dependency["activity"].as_str().unwrap();
                assert!(
                    names.contains(on),
                    "{} depends on unknown {on}",
                    activity["name"]
                );
            }
            if activity["type"] != "AzureFunctionActivity" {
                continue;
            }
            assert_eq!(activity["linkedServiceName"]["referenceName"], linked_name);
            let props = &activity["typeProperties"];
            let function = props["functionName"].as_str().unwrap();
            let route = function.split('?').next().unwrap();
            let method = props["method"].as_str().unwrap().to_ascii_uppercase();
            let methods = routes
                .get(route)
                .unwrap_or_else(|| panic!("no function has route '{route}': {routes:?}"));
            assert!(
                methods.is_empty() || methods.contains(&method),
                "{route} does not accept {method}"
            );
            called.insert(route.to_owned());
        }
    }
    assert!(
        called.contains("scale-up") && called.contains("scale-down"),
        "{called:?}"
    );
}

#[test]
fn local_settings_example_lists_every_setting() {
    let example = json(&repo().join("local.settings.json.example"));
    let values = example["Values"].as_object().expect("Values");
    let not_for_users = [
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "POOL_RESIZER_TIME_SCALE",
        "WEBSITE_TIME_ZONE",
    ];
    for name in settings_read_by_code() {
        if !not_for_users.contains(&name.as_str()) {
            assert!(
                values.contains_key(&name),
                "local.settings.json.example lacks {name}"
            );
        }
    }
}

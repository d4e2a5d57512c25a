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
        "TELEMETRY_CA_FILE",
        "extra CAs for a stand-in of the ingestion endpoint (tests) or a TLS-inspecting proxy only",
    ),
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
        "a platform setting that must stay unset (Flex Consumption does not support it): the host fires the timers in UTC, \
         and local business hours are SCHEDULE_WINDOWS in SCHEDULE_TIME_ZONE (another zone disables the schedule)",
    ),
    (
        "KEEP_WARM_MINUTES",
        "optional: keep-warm is off (0) unless a request or this setting asks for it",
    ),
    (
        "PROVISION_DEADLINE_MINUTES",
        "optional: the default (15) fits Batch's own resize time-out; set it in the app to change it",
    ),
    (
        "WEBSITE_HOSTNAME",
        "set by the platform: the app's public host, the only one a status URL may name",
    ),
    (
        "STATUS_URL_TTL_MINUTES",
        "optional: how long a status URL may act; the handler's default (60 minutes) outlasts the pipeline's 30-minute Wait for nodes",
    ),
    (
        "FORECAST_MODE",
        "optional: pre-warming is off until an operator has judged it with forecast-only (docs/schedules.md)",
    ),
    (
        "FORECAST_GRACE_MINUTES",
        "optional: how long a pre-warm waits for the pipeline it expects (default 5)",
    ),
    (
        "FORECAST_POOLS",
        "optional: other pools' forecast modes; none until an operator has judged each pool with forecast-only (docs/schedules.md)",
    ),
];

/// Setting names the code reads: every whole upper-case string literal in
/// the non-test part of a `settings.rs` under src/, or of a file of a
/// `settings/` folder beside one (the split-out readers, such as
/// `settings/forecast.rs`; its `tests.rs` aside): each is an argument of
/// `get(..)`, `env(..)` or `number(..)` there. A literal scan rather than a
/// hand-kept list, so a setting added by anyone is checked without an edit here.
pub(crate) fn settings_read_by_code() -> BTreeSet<String> {
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
        let in_settings_folder = dir.file_name().is_some_and(|n| n == "settings");
        if path.is_dir() {
            collect_settings_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "settings.rs")
            || (in_settings_folder
                && path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs"))
        {
            out.push(path);
        }
    }
}

/// The `{ name: 'X', value: ... }` entries of one array variable of
/// main.bicep (`var NAME = [` up to its closing `]`).
fn bicep_setting_names(variable: &str) -> BTreeSet<String> {
    let text = read("infra/main.bicep");
    let start = format!("var {variable} = [");
    let block = text
        .split_once(start.as_str())
        .unwrap_or_else(|| panic!("main.bicep has no {start}"))
        .1
        .split("\n]")
        .next()
        .unwrap();
    block
        .lines()
        .filter_map(|line| line.trim().strip_prefix("{ name: '"))
        .filter_map(|rest| rest.split('\'').next())
        .map(str::to_owned)
        .collect()
}

fn arm_template() -> Value {
    json(&repo().join("infra/main.json"))
}

fn arm_site(template: &Value) -> &Value {
    let site = template["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Microsoft.Web/sites")
        .expect("a Microsoft.Web/sites resource");
    assert_eq!(site["kind"], "functionapp,linux");
    assert_eq!(site["identity"]["type"], "SystemAssigned");
    site
}

/// The ARM twin builds the site's app settings as Bicep compiles them: the
/// legacy-only ones (a literal variable) only when the plan is not Flex,
/// then every shared one, as one expression (ARM variables cannot hold the
/// listKeys/reference values some settings need). Returns (shared, legacy-only).
fn arm_app_settings() -> (BTreeSet<String>, BTreeSet<String>) {
    let template = arm_template();
    let expression = arm_site(&template)["properties"]["siteConfig"]["appSettings"]
        .as_str()
        .expect("appSettings is an expression");
    let prefix = "[concat(if(variables('isFlex'), createArray(), variables('legacyOnlyAppSettings')), createArray(";
    let shared = expression
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix("))]"))
        .unwrap_or_else(|| panic!("appSettings is not {prefix}...))]: {expression}"));
    let shared = shared
        .split("createObject('name', '")
        .skip(1)
        .map(|rest| rest.split('\'').next().unwrap().to_owned())
        .collect();
    let legacy = template["variables"]["legacyOnlyAppSettings"]
        .as_array()
        .expect("legacyOnlyAppSettings is a literal array")
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    (shared, legacy)
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
    let (arm, arm_legacy) = arm_app_settings();
    assert_eq!(
        bicep_setting_names("appSettings"),
        arm,
        "main.bicep and main.json list different app settings"
    );
    assert_eq!(
        bicep_setting_names("legacyOnlyAppSettings"),
        arm_legacy,
        "main.bicep and main.json list different Linux Consumption settings"
    );
    // Flex Consumption refuses FUNCTIONS_WORKER_RUNTIME (the runtime is in
    // functionAppConfig) and sets the extension version itself; Linux
    // Consumption needs both.
    assert_eq!(
        arm_legacy,
        BTreeSet::from([
            "FUNCTIONS_EXTENSION_VERSION".to_owned(),
            "FUNCTIONS_WORKER_RUNTIME".to_owned()
        ])
    );
    assert!(arm.is_disjoint(&arm_legacy), "{arm:?} / {arm_legacy:?}");
    // Every setting the code reads is set on both plans.
    for name in &read_by_code {
        if excluded.contains(name.as_str()) {
            assert!(
                !arm.contains(name) && !arm_legacy.contains(name),
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
    // The status URL's signing secret, and the previous one for rotation,
    // on both plans (the legacy-only settings are added, never swapped).
    for name in ["STATUS_URL_SECRET", "STATUS_URL_SECRET_PREVIOUS"] {
        assert!(arm.contains(name), "the template does not set {name}");
    }
    for name in [
        "AzureWebJobsStorage",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        // The host resolves the timers' %SETTING% schedules from these.
        "SCALE_UP_SCHEDULE",
        "SCALE_DOWN_SCHEDULE",
        "SCHEDULE_RECONCILE_SCHEDULE",
        "SCHEDULE_DEDICATED_NODES",
        "SCHEDULE_LOW_PRIORITY_NODES",
        "TIMER_WAIT_SECONDS",
    ] {
        assert!(arm.contains(name), "the template does not set {name}");
    }
}

/// Flex Consumption by default, with the custom-handler runtime, a
/// deployment container that exists before the app and that only the app's
/// identity may write; Linux Consumption one parameter away.
#[test]
fn flex_consumption_is_the_default_plan_and_legacy_stays_selectable() {
    let template = arm_template();
    let plan = &template["parameters"]["hostingPlan"];
    assert_eq!(plan["defaultValue"], "flex");
    assert_eq!(
        plan["allowedValues"],
        serde_json::json!(["flex", "consumption-legacy"])
    );
    let variables = &template["variables"];
    assert_eq!(
        variables["planSkus"],
        serde_json::json!({
            "flex": {"name": "FC1", "tier": "FlexConsumption"},
            "consumption-legacy": {"name": "Y1", "tier": "Dynamic"}
        })
    );
    let config = &variables["flexFunctionAppConfig"];
    assert_eq!(
        config["runtime"],
        serde_json::json!({"name": "custom", "version": "1.0"})
    );
    let storage = &config["deployment"]["storage"];
    assert_eq!(storage["type"], "blobContainer");
    assert_eq!(storage["authentication"]["type"], "SystemAssignedIdentity");
    assert_eq!(storage["value"], "[variables('deploymentContainerUrl')]");
    assert!(
        config["scaleAndConcurrency"]["maximumInstanceCount"].is_string()
            && config["scaleAndConcurrency"]["instanceMemoryMB"].is_string(),
        "scale settings come from parameters: {config}"
    );

    let site = arm_site(&template);
    assert_eq!(
        site["properties"]["functionAppConfig"],
        "[if(variables('isFlex'), variables('flexFunctionAppConfig'), null())]"
    );
    let resources = template["resources"].as_array().unwrap();
    let of_type = |kind: &str| {
        resources
            .iter()
            .filter(|r| r["type"] == kind)
            .collect::<Vec<_>>()
    };
    let container = of_type("Microsoft.Storage/storageAccounts/blobServices/containers");
    assert_eq!(container.len(), 1);
    assert_eq!(container[0]["condition"], "[variables('isFlex')]");
    let depends = site["dependsOn"].to_string();
    assert!(depends.contains("blobServices/containers"), "{depends}");
    let access = of_type("Microsoft.Authorization/roleAssignments");
    assert_eq!(access.len(), 1, "one role assignment at the top level");
    assert_eq!(access[0]["condition"], "[variables('isFlex')]");
    assert!(
        access[0]["scope"]
            .as_str()
            .unwrap()
            .contains("/blobServices/default/containers/"),
        "scoped to the deployment container, not the account"
    );
    assert_eq!(
        variables["storageBlobDataContributorRoleId"], "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "Storage Blob Data Contributor"
    );

    let bicep = read("infra/main.bicep");
    for needle in [
        "param hostingPlan string = 'flex'",
        "@allowed(['flex', 'consumption-legacy'])",
        "name: 'FC1', tier: 'FlexConsumption'",
        "name: 'Y1', tier: 'Dynamic'",
        "runtime: { name: 'custom', version: '1.0' }",
        "authentication: { type: 'SystemAssignedIdentity' }",
        "functionAppConfig: isFlex ? flexFunctionAppConfig : null",
        "appSettings: concat(isFlex ? [] : legacyOnlyAppSettings, appSettings)",
        "storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'",
        "scope: deploymentContainer",
    ] {
        assert!(bicep.contains(needle), "main.bicep lacks: {needle}");
    }
}

/// A hand-written ARM twin is easy to break with one parenthesis or quote:
/// every expression must at least be balanced, outside its string literals.
#[test]
fn arm_expressions_are_balanced() {
    fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let template = arm_template();
    let mut all = Vec::new();
    strings(&template, &mut all);
    let expressions: Vec<&str> = all
        .into_iter()
        .filter(|s| s.starts_with('[') && !s.starts_with("[[") && s.ends_with(']'))
        .collect();
    assert!(expressions.len() > 40, "{}", expressions.len());
    for expression in expressions {
        let inner = &expression[1..expression.len() - 1];
        let (mut depth, mut in_string) = (0i32, false);
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match (in_string, c) {
                (true, '\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                (true, '\'') => in_string = false,
                (true, _) => {}
                (false, '\'') => in_string = true,
                (false, '(' | '[') => depth += 1,
                (false, ')' | ']') => {
                    depth -= 1;
                    assert!(depth >= 0, "closes too early: {expression}");
                }
                (false, _) => {}
            }
        }
        assert!(!in_string, "unterminated string: {expression}");
        assert_eq!(depth, 0, "unbalanced: {expression}");
    }
}

#[test]
fn bicep_and_arm_agree_on_parameters_and_least_privilege_role() {
    let template = arm_template();
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
    // Literal defaults and @minValue/@maxValue/@minLength/@maxLength agree,
    // parameter by parameter; @secure() is a securestring.
    let mut bounds: Vec<(&str, i64)> = Vec::new();
    let mut secure = false;
    for line in read("infra/main.bicep").lines() {
        secure |= line.trim() == "@secure()";
        for (decorator, key) in [
            ("@minValue(", "minValue"),
            ("@maxValue(", "maxValue"),
            ("@minLength(", "minLength"),
            ("@maxLength(", "maxLength"),
        ] {
            if let Some(n) = line.strip_prefix(decorator) {
                bounds.push((key, n.trim_end_matches(')').parse().unwrap()));
            }
        }
        let Some(rest) = line.strip_prefix("param ") else {
            continue;
        };
        let name = rest.split_whitespace().next().unwrap();
        let arm = &template["parameters"][name];
        for (key, n) in bounds.drain(..) {
            assert_eq!(arm[key], Value::from(n), "{name} {key}");
        }
        if std::mem::take(&mut secure) {
            assert_eq!(arm["type"], "securestring", "{name} is @secure()");
        } else {
            assert_ne!(
                arm["type"], "securestring",
                "{name} is not @secure() in Bicep"
            );
        }
        let Some((_, default)) = rest.split_once(" = ") else {
            assert!(
                arm.get("defaultValue").is_none(),
                "{name} has no default in Bicep"
            );
            continue;
        };
        let literal = if let Ok(n) = default.parse::<i64>() {
            Value::from(n)
        } else if default.contains("${") {
            continue; // an interpolation: an expression (checked in deploy_rules)
        } else if default.starts_with('\'') && default.ends_with('\'') {
            Value::from(&default[1..default.len() - 1])
        } else {
            continue; // an expression: resourceGroup().location, another parameter
        };
        assert_eq!(arm["defaultValue"], literal, "{name} default");
    }
    let defaults = [
        ("hostingPlan", Value::from("flex")),
        (
            "defaultWaitSeconds",
            Value::from(pool_resizer::settings::DEFAULT_WAIT_SECONDS),
        ),
        ("scaleUpSchedule", Value::from("0 0 6 * * 1-5")),
        ("scaleDownSchedule", Value::from("0 0 7 * * 1-5")),
        ("scheduleDedicatedNodes", Value::from(1)),
        ("scheduleLowPriorityNodes", Value::from(0)),
        ("timerWaitSeconds", Value::from(540)),
        // No local windows unless asked for: the two UTC schedules are the window.
        ("scheduleWindows", Value::from("")),
        ("scheduleTimeZone", Value::from("UTC")),
    ];
    for (name, value) in defaults {
        assert_eq!(
            template["parameters"][name]["defaultValue"], value,
            "{name}"
        );
    }
    assert_eq!(
        template["parameters"]["defaultWaitSeconds"]["maxValue"],
        Value::from(pool_resizer::settings::HTTP_WAIT_LIMIT_SECONDS),
        "the template allows what the handler allows"
    );
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
    // docs/deploy.md fills these two in before `az datafactory linked-service create`.
    let type_properties = &linked["properties"]["typeProperties"];
    assert!(type_properties["functionAppUrl"].is_string());
    assert_eq!(type_properties["functionKey"]["type"], "SecureString");
    assert!(type_properties["functionKey"]["value"].is_string());
    // The pipeline calls scale-up and scale-down through this linked service:
    // only a host key opens both (the status URLs it follows need no key).
    let description = linked["properties"]["description"].as_str().unwrap();
    assert!(description.contains("host key"), "{description}");
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
    // A wait above the cap is refused (400), which would fail the pipeline.
    for entry in std::fs::read_dir(repo().join("adf/pipeline")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for rest in text.split("waitSeconds\\\":").skip(1) {
            let n: u32 = rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .expect("a literal waitSeconds");
            assert!(n <= pool_resizer::settings::HTTP_WAIT_LIMIT_SECONDS, "{n}");
        }
    }
}

#[test]
fn local_settings_example_lists_every_setting() {
    let example = json(&repo().join("local.settings.json.example"));
    let values = example["Values"].as_object().expect("Values");
    let not_for_users = [
        "FUNCTIONS_CUSTOMHANDLER_PORT",
        "POOL_RESIZER_TIME_SCALE",
        "WEBSITE_TIME_ZONE",
        "WEBSITE_HOSTNAME",
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

/// docs/deploy.md's "Deliberately not set" list names every setting the
/// template leaves out, so a reader comparing the app's settings with the
/// code's finds each one explained.
#[test]
fn deploy_md_names_every_setting_the_template_leaves_out() {
    let text = read("docs/deploy.md");
    let list = text
        .split_once("Deliberately not")
        .expect("docs/deploy.md has a 'Deliberately not set' list")
        .1
        .split("\n\n")
        .next()
        .unwrap();
    let missing: Vec<&str> = NOT_IN_TEMPLATE
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !list.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/deploy.md's 'Deliberately not set' list misses {missing:?}"
    );
}

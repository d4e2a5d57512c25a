//! The deployment files held to the rules the services themselves enforce,
//! on both hosting plans.
//!
//! SDK models and schemas accept things the services refuse (a Flex
//! Consumption site with `ftpsState`, classic Application Insights, a memory
//! size the plan does not offer), and a hand-kept ARM twin can name a
//! resource by an id ARM does not give it. So each rule below is data, with
//! the Microsoft page it comes from, and the ARM template is evaluated for
//! each plan the way ARM would send it: `if(...)` on the plan resolved, a
//! property whose value is null left out (ARM treats it as absent), the
//! rest (`listKeys`, `reference`, `format`...) kept as the expression it is.
//!
//! What only a real `az deployment group what-if` (or the deployment itself)
//! can settle is listed in docs/deploy.md, *How the templates were checked*.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_file(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------------------
// The rules, as data.

const FLEX_DEPRECATIONS: &str = "https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations";
const FLEX_PLAN: &str = "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan";
const IAC_FLEX: &str = "https://learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=flex-consumption-plan";
const IAC_CONSUMPTION: &str = "https://learn.microsoft.com/azure/azure-functions/functions-infrastructure-as-code?pivots=consumption-plan";
const CUSTOM_HANDLERS: &str =
    "https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers";
const NULL_VALUES: &str = "https://learn.microsoft.com/azure/azure-resource-manager/templates/template-expressions#null-values";
const WORKSPACE_BASED: &str =
    "https://learn.microsoft.com/azure/azure-monitor/app/create-workspace-resource";
const CLASSIC_RETIREMENT: &str =
    "https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource";
const DEPENDENCIES: &str =
    "https://learn.microsoft.com/azure/azure-resource-manager/templates/resource-dependency";
const RESOURCE_ID: &str = "https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-resource#resourceid";
const NEW_GUID: &str = "https://learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-string#newguid";
const WEB_ACTIVITY: &str =
    "https://learn.microsoft.com/azure/data-factory/control-flow-web-activity";
const SECURE_OUTPUT: &str =
    "https://learn.microsoft.com/azure/data-factory/concepts-pipelines-activities#activity-policy";

/// Site properties in Microsoft's Flex Consumption deprecation table, by the
/// name a `Microsoft.Web/sites` resource gives them (the table says
/// `isReserved`, the SDK's name for the site's `reserved`). Each is looked
/// for under `properties` and `properties.siteConfig`, in any case: on Flex
/// none may be sent.
const FLEX_DEPRECATED_SITE_PROPERTIES: &[(&str, &str)] = &[
    ("ftpsState", "FTPS not supported"),
    ("use32BitWorkerProcess", "32-bit not supported"),
    ("reserved", "isReserved: not valid"),
    ("isXenon", "not valid"),
    ("windowsFxVersion", "not valid"),
    ("alwaysOn", "not valid"),
    (
        "preWarmedInstanceCount",
        "replaced by always-ready instances",
    ),
    (
        "functionAppScaleLimit",
        "replaced by scaleAndConcurrency.maximumInstanceCount",
    ),
    (
        "containerSize",
        "replaced by scaleAndConcurrency.instanceMemoryMB",
    ),
    (
        "javaVersion",
        "replaced by functionAppConfig.runtime.version",
    ),
    (
        "powerShellVersion",
        "replaced by functionAppConfig.runtime.version",
    ),
    (
        "netFrameworkVersion",
        "replaced by functionAppConfig.runtime.version",
    ),
    ("linuxFxVersion", "replaced by functionAppConfig.runtime"),
];

/// App settings in the same table: on Flex none may be set.
const FLEX_DEPRECATED_APP_SETTINGS: &[(&str, &str)] = &[
    ("FUNCTIONS_EXTENSION_VERSION", "set by the platform"),
    (
        "FUNCTIONS_WORKER_RUNTIME",
        "replaced by functionAppConfig.runtime.name",
    ),
    (
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "replaced by functionAppConfig.runtime.version",
    ),
    (
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "replaced by scaleAndConcurrency.triggers",
    ),
    ("FUNCTIONS_WORKER_PROCESS_COUNT", "not valid"),
    ("FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED", "not valid"),
    (
        "WEBSITE_NODE_DEFAULT_VERSION",
        "replaced by functionAppConfig.runtime.version",
    ),
    (
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "replaced by functionAppConfig.deployment",
    ),
    (
        "WEBSITE_CONTENTSHARE",
        "replaced by functionAppConfig.deployment",
    ),
    (
        "WEBSITE_RUN_FROM_PACKAGE",
        "not used for deployments on Flex",
    ),
    ("SCM_DO_BUILD_DURING_DEPLOYMENT", "replaced by remote build"),
    ("ENABLE_ORYX_BUILD", "replaced by remote build"),
    (
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "replaced by scaleAndConcurrency.maximumInstanceCount",
    ),
];

/// Instance memory sizes the Flex docs list (MB), and the documented default.
const FLEX_INSTANCE_MEMORY_MB: &[i64] = &[512, 2048, 4096];
const FLEX_DEFAULT_INSTANCE_MEMORY_MB: i64 = 2048;
/// The lowest and highest maximum instance count the Flex docs give now
/// (the lowest was 40 until ceilings under 40 were rolled out in 2026).
const FLEX_MAXIMUM_INSTANCE_COUNT: (i64, i64) = (1, 1000);

/// ADF's Web activity: a request that gets no answer in this long fails,
/// unless `httpRequestTimeout` says otherwise (at most 10 minutes).
const WEB_ACTIVITY_DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 60;
const WEB_ACTIVITY_MAX_REQUEST_TIMEOUT_SECONDS: u64 = 600;

/// The pipeline's activities, which the README's ADF section names: the
/// set stays as it is.
const PIPELINE_ACTIVITIES: &[&str] = &[
    "Scale up",
    "Still starting",
    "Wait for nodes",
    "Run work",
    "Scale down",
    "Work failed",
];

// ---------------------------------------------------------------------------
// A small ARM expression evaluator: enough of the language to resolve the
// plan-dependent parts of this template.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Flex,
    Legacy,
}

impl Plan {
    const BOTH: [Plan; 2] = [Plan::Flex, Plan::Legacy];

    fn parameter(self) -> &'static str {
        match self {
            Plan::Flex => "flex",
            Plan::Legacy => "consumption-legacy",
        }
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Call(String, Vec<Expr>),
    Str(String),
    Int(i64),
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone)]
struct Expr {
    kind: Kind,
    /// The expression's own text, for what is left unevaluated.
    src: String,
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn parse(text: &'a str) -> Expr {
        let mut parser = Parser { text, at: 0 };
        let expr = parser.expr();
        parser.space();
        assert_eq!(parser.at, text.len(), "trailing text in `{text}`");
        expr
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: char) {
        self.space();
        assert_eq!(
            self.peek(),
            Some(c),
            "expected {c} at {} in `{}`",
            self.at,
            self.text
        );
        self.at += c.len_utf8();
    }

    fn expr(&mut self) -> Expr {
        self.space();
        let start = self.at;
        let mut kind = match self.peek() {
            Some('\'') => {
                self.at += 1;
                let mut s = String::new();
                loop {
                    let c = self.peek().expect("unterminated string");
                    self.at += c.len_utf8();
                    if c == '\'' {
                        if self.peek() == Some('\'') {
                            self.at += 1;
                            s.push('\'');
                        } else {
                            break;
                        }
                    } else {
                        s.push(c);
                    }
                }
                Kind::Str(s)
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                self.at += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                Kind::Int(self.text[start..self.at].parse().unwrap())
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let name = self.identifier();
                self.expect('(');
                let mut args = Vec::new();
                self.space();
                if self.peek() == Some(')') {
                    self.at += 1;
                } else {
                    loop {
                        args.push(self.expr());
                        self.space();
                        match self.peek() {
                            Some(',') => self.at += 1,
                            Some(')') => {
                                self.at += 1;
                                break;
                            }
                            other => panic!("unexpected {other:?} in `{}`", self.text),
                        }
                    }
                }
                Kind::Call(name, args)
            }
            other => panic!("unexpected {other:?} at {} in `{}`", self.at, self.text),
        };
        loop {
            let end = self.at;
            self.space();
            match self.peek() {
                Some('.') => {
                    self.at += 1;
                    let name = self.identifier();
                    kind = Kind::Member(Box::new(self.node(kind, start, end)), name);
                }
                Some('[') => {
                    self.at += 1;
                    let index = self.expr();
                    self.expect(']');
                    kind = Kind::Index(Box::new(self.node(kind, start, end)), Box::new(index));
                }
                _ => {
                    self.at = end;
                    break;
                }
            }
        }
        self.node(kind, start, self.at)
    }

    fn identifier(&mut self) -> String {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.at += 1;
        }
        assert!(
            self.at > start,
            "an identifier at {} in `{}`",
            start,
            self.text
        );
        self.text[start..self.at].to_owned()
    }

    fn node(&self, kind: Kind, start: usize, end: usize) -> Expr {
        Expr {
            kind,
            src: self.text[start..end].trim().to_owned(),
        }
    }
}

/// `[expr]` but not the `[[` escape of a literal.
fn expression_text(s: &str) -> Option<&str> {
    (s.starts_with('[') && !s.starts_with("[[") && s.ends_with(']')).then(|| &s[1..s.len() - 1])
}

/// An expression's text without the white space outside its strings, to
/// compare two expressions written with different spacing.
fn canonical(s: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    for c in s.chars() {
        if c == '\'' {
            in_string = !in_string;
        }
        if in_string || !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// One template (top-level or nested) seen on one plan.
struct View<'t> {
    template: &'t Value,
    plan: Plan,
}

impl View<'_> {
    /// An expression's value, or its own text in brackets when it cannot be
    /// known before deployment (a key, a reference, a generated name...).
    fn value(&self, e: &Expr) -> Value {
        self.eval(e)
            .unwrap_or_else(|| Value::String(format!("[{}]", e.src)))
    }

    fn eval(&self, e: &Expr) -> Option<Value> {
        match &e.kind {
            Kind::Str(s) => Some(Value::String(s.clone())),
            Kind::Int(n) => Some(Value::from(*n)),
            Kind::Member(base, name) => self.eval(base)?.get(name).cloned(),
            Kind::Index(base, index) => {
                let base = self.eval(base)?;
                match self.eval(index)? {
                    Value::Number(n) => base.get(usize::try_from(n.as_u64()?).ok()?).cloned(),
                    Value::String(key) => base.get(&key).cloned(),
                    _ => None,
                }
            }
            Kind::Call(name, args) => self.call(&name.to_ascii_lowercase(), args),
        }
    }

    fn call(&self, name: &str, args: &[Expr]) -> Option<Value> {
        let known = || {
            args.iter()
                .map(|a| self.eval(a))
                .collect::<Option<Vec<_>>>()
        };
        match name {
            "if" => match self.eval(&args[0])? {
                Value::Bool(true) => Some(self.value(&args[1])),
                Value::Bool(false) => Some(self.value(&args[2])),
                _ => None,
            },
            "null" => Some(Value::Null),
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "not" => Some(Value::Bool(!self.eval(&args[0])?.as_bool()?)),
            "equals" => {
                let values = known()?;
                Some(Value::Bool(values[0] == values[1]))
            }
            "empty" => Some(Value::Bool(match self.eval(&args[0])? {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => return None,
            })),
            "createarray" => Some(Value::Array(args.iter().map(|a| self.value(a)).collect())),
            "createobject" => {
                let mut object = Map::new();
                for pair in args.chunks(2) {
                    let Value::String(key) = self.eval(&pair[0])? else {
                        return None;
                    };
                    let value = self.value(&pair[1]);
                    if !value.is_null() {
                        object.insert(key, value);
                    }
                }
                Some(Value::Object(object))
            }
            "concat" => {
                let values = known()?;
                if values.iter().all(Value::is_array) {
                    Some(Value::Array(
                        values
                            .into_iter()
                            .flat_map(|v| v.as_array().cloned().unwrap())
                            .collect(),
                    ))
                } else if values.iter().all(Value::is_string) {
                    Some(Value::String(
                        values.iter().map(|v| v.as_str().unwrap()).collect(),
                    ))
                } else {
                    None
                }
            }
            "union" => {
                let mut object = Map::new();
                for value in known()? {
                    object.extend(value.as_object()?.clone());
                }
                Some(Value::Object(object))
            }
            "variables" => {
                let name = self.eval(&args[0])?;
                let raw = &self.template["variables"][name.as_str()?];
                assert!(!raw.is_null(), "no variable {name}");
                Some(self.resolve(raw))
            }
            "parameters" => {
                let name = self.eval(&args[0])?;
                (name == "hostingPlan").then(|| Value::from(self.plan.parameter()))
            }
            // resourceId, format, listKeys, reference, newGuid...: only
            // known at deployment.
            _ => None,
        }
    }

    /// A template value as ARM would send it on this plan: expressions
    /// resolved where they can be, a property whose value is null left out
    /// (ARM treats it as absent).
    fn resolve(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => match expression_text(s) {
                Some(text) => self.value(&Parser::parse(text)),
                None if s.starts_with("[[") => Value::String(s[1..].to_owned()),
                None => value.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            ),
            _ => value.clone(),
        }
    }
}

fn arm() -> Value {
    json_file("infra/main.json")
}

fn resources(template: &Value) -> Vec<&Value> {
    template["resources"].as_array().unwrap().iter().collect()
}

fn the_resource<'a>(template: &'a Value, kind: &str) -> &'a Value {
    let found: Vec<_> = resources(template)
        .into_iter()
        .filter(|r| r["type"].as_str().unwrap().eq_ignore_ascii_case(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in the template");
    found[0]
}

/// The site resource as ARM would send it on `plan`.
fn site(template: &Value, plan: Plan) -> Value {
    let view = View { template, plan };
    view.resolve(the_resource(template, "Microsoft.Web/sites"))
}

fn app_settings(site: &Value) -> Vec<(String, Value)> {
    site["properties"]["siteConfig"]["appSettings"]
        .as_array()
        .unwrap_or_else(|| panic!("appSettings resolve to an array: {site}"))
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["value"].clone()))
        .collect()
}

/// `properties.<name>` and `properties.siteConfig.<name>`, in any case.
fn site_property<'a>(site: &'a Value, name: &str) -> Option<(String, &'a Value)> {
    let places = [
        ("properties", &site["properties"]),
        ("properties.siteConfig", &site["properties"]["siteConfig"]),
    ];
    for (place, object) in places {
        if let Some(map) = object.as_object() {
            for (key, value) in map {
                if key.eq_ignore_ascii_case(name) {
                    return Some((format!("{place}.{key}"), value));
                }
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The evaluator itself.

#[test]
fn the_evaluator_resolves_the_plan_and_leaves_out_nulls() {
    let template = json!({
        "parameters": {"hostingPlan": {"type": "string"}},
        "variables": {
            "isFlex": "[equals(parameters('hostingPlan'), 'flex')]",
            "legacyOnly": [{"name": "A", "value": "a"}]
        },
    });
    let flex = View {
        template: &template,
        plan: Plan::Flex,
    };
    let legacy = View {
        template: &template,
        plan: Plan::Legacy,
    };
    let object = json!({
        "p": "[if(variables('isFlex'), null(), true())]",
        "q": "[if(variables('isFlex'), 'x', 'y')]",
        "s": "[concat(if(variables('isFlex'), createArray(), variables('legacyOnly')), createArray(createObject('name', 'B', 'value', listKeys(resourceId('T', 'n'), '1').keys[0].value)))]",
        "t": "[[literal]",
        "u": "[variables('legacyOnly')[0].name]"
    });
    assert_eq!(
        flex.resolve(&object),
        json!({
            "q": "x",
            "s": [{"name": "B", "value": "[listKeys(resourceId('T', 'n'), '1').keys[0].value]"}],
            "t": "[literal]",
            "u": "A"
        })
    );
    let on_legacy = legacy.resolve(&object);
    assert_eq!(on_legacy["p"], json!(true));
    assert_eq!(on_legacy["q"], "y");
    assert_eq!(on_legacy["s"].as_array().unwrap().len(), 2);
    assert_eq!(canonical("[f( 'a b' ,  x )]"), "[f('a b',x)]");
}

// ---------------------------------------------------------------------------
// The Function App on each plan.

/// Flex Consumption: nothing from the deprecation table is sent, neither a
/// site property nor an app setting ("The following ... (Site.SiteConfig.
/// FtpsState ...) for Flex Consumption sites is invalid"). Left out means
/// not in the template on that plan, or set to null, which ARM does not send.
#[test]
fn flex_site_sends_nothing_the_flex_deprecation_table_lists() {
    let template = arm();
    let flex = site(&template, Plan::Flex);
    let mut problems = Vec::new();
    for (name, reason) in FLEX_DEPRECATED_SITE_PROPERTIES {
        if let Some((path, value)) = site_property(&flex, name) {
            problems.push(format!(
                "{path} = {value} is sent on Flex ({reason}; {FLEX_DEPRECATIONS}, nulls: {NULL_VALUES})"
            ));
        }
    }
    for (name, _) in app_settings(&flex) {
        if let Some((_, reason)) = FLEX_DEPRECATED_APP_SETTINGS
            .iter()
            .find(|(deprecated, _)| *deprecated == name)
        {
            problems.push(format!(
                "app setting {name} is set on Flex ({reason}; {FLEX_DEPRECATIONS})"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The rule has teeth: the legacy plan does send some of them.
    let legacy = site(&template, Plan::Legacy);
    for name in ["reserved", "ftpsState", "linuxFxVersion"] {
        assert!(
            site_property(&legacy, name).is_some(),
            "{name} on Linux Consumption"
        );
    }
}

/// Flex Consumption: the runtime, deployment and scale live in
/// `functionAppConfig`, with the values the Flex docs allow.
#[test]
fn flex_site_takes_its_runtime_and_scale_from_function_app_config_within_documented_values() {
    let template = arm();
    let flex = site(&template, Plan::Flex);
    let config = &flex["properties"]["functionAppConfig"];
    assert_eq!(
        config["runtime"],
        json!({"name": "custom", "version": "1.0"}),
        "a custom handler ({IAC_FLEX}, {CUSTOM_HANDLERS})"
    );
    let storage = &config["deployment"]["storage"];
    assert_eq!(storage["type"], "blobContainer", "{IAC_FLEX}");
    assert_eq!(storage["authentication"]["type"], "SystemAssignedIdentity");
    let scale = &config["scaleAndConcurrency"];
    assert_eq!(
        scale["instanceMemoryMB"],
        "[parameters('instanceMemoryMB')]"
    );
    assert_eq!(
        scale["maximumInstanceCount"],
        "[parameters('maximumInstanceCount')]"
    );

    let memory = &template["parameters"]["instanceMemoryMB"];
    let allowed: BTreeSet<i64> = memory["allowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let documented: BTreeSet<i64> = FLEX_INSTANCE_MEMORY_MB.iter().copied().collect();
    assert!(
        allowed.is_subset(&documented) && allowed.contains(&2048) && allowed.contains(&4096),
        "instanceMemoryMB allows {allowed:?}; the Flex docs list {documented:?} ({FLEX_PLAN}#instance-sizes)"
    );
    assert_eq!(
        memory["defaultValue"],
        json!(FLEX_DEFAULT_INSTANCE_MEMORY_MB),
        "the documented default"
    );

    let count = &template["parameters"]["maximumInstanceCount"];
    let (lowest, highest) = FLEX_MAXIMUM_INSTANCE_COUNT;
    assert_eq!(
        (count["minValue"].as_i64(), count["maxValue"].as_i64()),
        (Some(lowest), Some(highest)),
        "maximumInstanceCount bounds as the Flex docs give them ({FLEX_PLAN}#considerations)"
    );
    let default = count["defaultValue"].as_i64().unwrap();
    assert!((lowest..=highest).contains(&default), "{default}");
}

/// Linux Consumption: a Linux site says so (`reserved`), and the runtime
/// is in app settings, since there is no `functionAppConfig`.
#[test]
fn legacy_site_is_a_linux_custom_handler_without_flex_properties() {
    let template = arm();
    let legacy = site(&template, Plan::Legacy);
    assert_eq!(
        legacy["properties"]["reserved"],
        json!(true),
        "Linux needs reserved: true ({IAC_CONSUMPTION})"
    );
    assert!(
        legacy["properties"].get("functionAppConfig").is_none(),
        "functionAppConfig is Flex's ({IAC_FLEX})"
    );
    let settings = app_settings(&legacy);
    for (name, value) in [
        ("FUNCTIONS_WORKER_RUNTIME", "custom"),
        ("FUNCTIONS_EXTENSION_VERSION", "~4"),
    ] {
        assert!(
            settings.iter().any(|(n, v)| n == name && v == value),
            "{name}={value} on Linux Consumption ({CUSTOM_HANDLERS})"
        );
    }
    for plan in Plan::BOTH {
        assert_eq!(site(&template, plan)["kind"], "functionapp,linux");
    }
}

/// Application Insights is workspace-based on both plans, on a Log
/// Analytics workspace the template creates: a classic resource is refused
/// where classic is retired, and elsewhere Azure would put a managed
/// workspace in a resource group of its own.
#[test]
fn application_insights_is_workspace_based_on_a_workspace_the_template_creates() {
    let template = arm();
    let workspace = the_resource(&template, "Microsoft.OperationalInsights/workspaces");
    assert!(
        workspace.get("condition").is_none(),
        "created on both plans"
    );
    let insights = the_resource(&template, "Microsoft.Insights/components");
    assert!(insights.get("condition").is_none());
    let id = id_of(workspace);
    for plan in Plan::BOTH {
        let view = View {
            template: &template,
            plan,
        };
        let resolved = view.resolve(insights);
        let linked = resolved["properties"]["WorkspaceResourceId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "no WorkspaceResourceId: classic mode ({WORKSPACE_BASED}, {CLASSIC_RETIREMENT})"
                )
            });
        assert_eq!(canonical(linked), id, "the workspace this template creates");
    }
    let depends: Vec<String> = insights["dependsOn"]
        .as_array()
        .expect("components dependsOn the workspace")
        .iter()
        .map(|d| canonical(d.as_str().unwrap()))
        .collect();
    assert!(depends.contains(&id), "{depends:?}");
    for plan in Plan::BOTH {
        let settings = app_settings(&site(&template, plan));
        assert!(
            settings
                .iter()
                .any(|(n, _)| n == "APPLICATIONINSIGHTS_CONNECTION_STRING"),
            "{plan:?}"
        );
    }
    let bicep = read("infra/main.bicep");
    for needle in [
        "resource logs 'Microsoft.OperationalInsights/workspaces@",
        "WorkspaceResourceId: logs.id",
    ] {
        assert!(bicep.contains(needle), "main.bicep lacks: {needle}");
    }
}

// ---------------------------------------------------------------------------
// Ids and dependencies.

/// The id ARM gives a resource declared in a resource-group template, as
/// Bicep writes it: `resourceId('<type>', <name segments>)`, a
/// `format('{0}/default/{1}', a, b)` name being the segments a, 'default', b.
fn id_of(resource: &Value) -> String {
    let kind = resource["type"].as_str().unwrap();
    let name = resource["name"].as_str().unwrap();
    let segments: Vec<String> = match expression_text(name) {
        None => name.split('/').map(|s| format!("'{s}'")).collect(),
        Some(text) => {
            let expr = Parser::parse(text);
            match &expr.kind {
                Kind::Call(f, args)
                    if f == "format"
                        && matches!(&args[0].kind, Kind::Str(p) if p.contains('/')) =>
                {
                    let Kind::Str(pattern) = &args[0].kind else {
                        unreachable!()
                    };
                    pattern
                        .split('/')
                        .map(|part| {
                            match part
                                .strip_prefix('{')
                                .and_then(|p| p.strip_suffix('}'))
                                .and_then(|n| n.parse::<usize>().ok())
                            {
                                Some(n) => args[n + 1].src.clone(),
                                None => format!("'{part}'"),
                            }
                        })
                        .collect()
                }
                _ => vec![expr.src.clone()],
            }
        }
    };
    canonical(&format!("[resourceId('{kind}', {})]", segments.join(", ")))
}

/// Every template in the file: the top level and each nested deployment's.
fn templates(template: &Value) -> Vec<&Value> {
    let mut out = vec![template];
    for resource in resources(template) {
        if resource["type"] == "Microsoft.Resources/deployments" {
            out.extend(templates(&resource["properties"]["template"]));
        }
    }
    out
}

/// A dependsOn entry names a resource of the same template by the id ARM
/// gives it there. In a resource-group deployment that is resourceId(...),
/// also for a role definition: subscriptionResourceId(...) names no
/// resource of the template (main.json said that for the custom role until
/// issue 25).
#[test]
fn every_depends_on_names_a_resource_of_its_template_by_the_id_arm_gives_it() {
    let template = arm();
    let mut problems = Vec::new();
    let mut checked = 0;
    for t in templates(&template) {
        let ids: Vec<String> = resources(t).into_iter().map(id_of).collect();
        for resource in resources(t) {
            for dependency in resource["dependsOn"].as_array().into_iter().flatten() {
                let dependency = canonical(dependency.as_str().unwrap());
                checked += 1;
                if !ids.contains(&dependency) {
                    problems.push(format!(
                        "{} dependsOn {dependency}, which is none of {ids:?} ({DEPENDENCIES}, {RESOURCE_ID})",
                        resource["type"]
                    ));
                }
            }
        }
    }
    assert!(checked >= 8, "{checked}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The role assignment and its custom role, in the nested deployment.
    let nested = templates(&template)[1];
    let role = the_resource(nested, "Microsoft.Authorization/roleDefinitions");
    assert_eq!(
        role["condition"],
        "[equals(parameters('batchRole'), 'custom')]"
    );
    let assignment = the_resource(nested, "Microsoft.Authorization/roleAssignments");
    assert_eq!(
        assignment["dependsOn"],
        json!([
            "[resourceId('Microsoft.Authorization/roleDefinitions', variables('customRoleGuid'))]"
        ])
    );
    // The assignment's roleDefinitionId is the role's own id, subscription-level.
    assert!(
        nested["variables"]["roleDefinitionId"]
            .as_str()
            .unwrap()
            .starts_with("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions'")
    );
    // Bicep says the same: a symbolic dependency, compiled to resourceId().
    let bicep = read("infra/batch-access.bicep");
    assert!(bicep.contains("dependsOn: [poolResizerRole]"));
    assert!(bicep.contains("roleDefinitionId: roleDefinitionId"));
}

// ---------------------------------------------------------------------------
// The status URL secret.

/// STATUS_URL_SECRET (and the previous one, for rotation) is an app setting
/// on both plans, from a secure parameter whose default is generated at
/// deployment: no secret value in any committed file.
#[test]
fn the_status_url_secret_is_generated_at_deployment_and_set_on_both_plans() {
    let template = arm();
    let parameters = &template["parameters"];
    let secret = &parameters["statusUrlSecret"];
    assert_eq!(secret["type"], "securestring");
    assert!(secret["minLength"].as_i64() >= Some(32), "{secret}");
    let default = secret["defaultValue"].as_str().unwrap();
    assert_eq!(
        canonical(default),
        "[format('{0}{1}',newGuid(),newGuid())]",
        "two random GUIDs: 72 characters, 244 random bits"
    );
    let previous = &parameters["statusUrlSecretPrevious"];
    assert_eq!(previous["type"], "securestring");
    assert_eq!(previous["defaultValue"], "", "none unless rotating");

    // No secure parameter has a literal default other than empty.
    for (name, parameter) in parameters.as_object().unwrap() {
        if parameter["type"] == "securestring" {
            let default = parameter["defaultValue"].as_str().unwrap_or("");
            assert!(
                default.is_empty() || expression_text(default).is_some(),
                "{name} has a literal default"
            );
        }
    }
    // newGuid() only in a parameter's default value, where ARM allows it.
    let mut outside = template.clone();
    outside["parameters"] = json!({});
    assert!(
        !outside.to_string().contains("newGuid"),
        "newGuid outside parameter defaults ({NEW_GUID})"
    );

    for plan in Plan::BOTH {
        let settings = app_settings(&site(&template, plan));
        for (name, parameter) in [
            ("STATUS_URL_SECRET", "statusUrlSecret"),
            ("STATUS_URL_SECRET_PREVIOUS", "statusUrlSecretPrevious"),
        ] {
            let value = settings
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name} is not set on {plan:?}"))
                .1
                .clone();
            assert_eq!(value, format!("[parameters('{parameter}')]"), "{plan:?}");
        }
    }
    assert!(
        !template["outputs"].to_string().contains("statusUrlSecret"),
        "no output shows the secret"
    );

    let bicep = read("infra/main.bicep");
    for needle in [
        "@secure()\n@minLength(32)\nparam statusUrlSecret string = '${newGuid()}${newGuid()}'",
        "@secure()\nparam statusUrlSecretPrevious string = ''",
        "{ name: 'STATUS_URL_SECRET', value: statusUrlSecret }",
        "{ name: 'STATUS_URL_SECRET_PREVIOUS', value: statusUrlSecretPrevious }",
    ] {
        assert!(bicep.contains(needle), "main.bicep lacks: {needle}");
    }
}

// ---------------------------------------------------------------------------
// The ADF pipeline.

fn pipeline() -> Value {
    json_file("adf/pipeline/RunOnBatchPool.json")
}

fn activities(list: &Value, out: &mut Vec<Value>) {
    for activity in list.as_array().into_iter().flatten() {
        out.push(activity.clone());
        for branch in ["ifTrueActivities", "ifFalseActivities", "activities"] {
            activities(&activity["typeProperties"][branch], out);
        }
    }
}

/// `hh:mm:ss` in seconds.
fn timespan_seconds(s: &str) -> u64 {
    let parts: Vec<u64> = s.split(':').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3, "{s}");
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

/// The number a `const NAME: T = N;` or `const NAME: Duration =
/// Duration::from_secs(N);` somewhere under src/ says: a test that reads the
/// code's own numbers cannot drift from them.
fn code_constant(name: &str) -> u64 {
    fn files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    files(&repo().join("src"), &mut all);
    let needle = format!("const {name}: ");
    for file in all {
        let text = std::fs::read_to_string(&file).unwrap();
        let Some((_, rest)) = text.split_once(needle.as_str()) else {
            continue;
        };
        let value = rest.split_once('=').unwrap().1.split(';').next().unwrap();
        let digits = value
            .trim()
            .trim_start_matches("Duration::from_secs(")
            .trim_end_matches(')');
        return digits
            .parse()
            .unwrap_or_else(|_| panic!("{name} = {value}: not a plain number"));
    }
    panic!("no `{needle}` under src/: this test reads its number from there");
}

/// An ADF timespan, `[d.]hh:mm:ss`, in seconds.
fn adf_timespan_seconds(s: &str) -> u64 {
    let (days, clock) = match s.split_once('.') {
        Some((days, clock)) => (days.parse::<u64>().unwrap(), clock),
        None => (0, s),
    };
    days * 86_400 + timespan_seconds(clock)
}

/// Every activity that can receive a status URL (a capability that can act
/// on its operation until it expires) keeps its output out of the run
/// history, and says why; the status URL is followed with no headers (it
/// needs no key) and no key is handed to the pipeline for it.
#[test]
fn pipeline_keeps_status_urls_out_of_run_history_and_sends_no_key_to_follow_them() {
    let pipeline = pipeline();
    let mut all = Vec::new();
    activities(&pipeline["properties"]["activities"], &mut all);
    let names: Vec<&str> = all.iter().map(|a| a["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    let mut expected = PIPELINE_ACTIVITIES.to_vec();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "the activities the README names");

    let mut web = 0;
    for activity in &all {
        let kind = activity["type"].as_str().unwrap();
        if !matches!(kind, "AzureFunctionActivity" | "WebActivity") {
            continue;
        }
        let name = &activity["name"];
        assert_eq!(
            activity["policy"]["secureOutput"],
            json!(true),
            "{name} can receive a status URL: secureOutput ({SECURE_OUTPUT})"
        );
        let description = activity["description"].as_str().unwrap_or("");
        assert!(
            description.contains("secureOutput") || description.contains("secureInput"),
            "{name}'s description says why its output is secured: {description}"
        );
        if kind == "WebActivity" {
            web += 1;
            let props = &activity["typeProperties"];
            assert_eq!(props["method"], "GET");
            assert!(
                props["url"]["value"]
                    .as_str()
                    .unwrap()
                    .ends_with(".output.statusUrl"),
                "{name} follows a status URL"
            );
            assert!(
                props.get("headers").is_none() && props.get("authentication").is_none(),
                "{name} sends no headers: the status URL needs no key"
            );
            assert_eq!(
                activity["policy"]["secureInput"],
                json!(true),
                "{name}'s input is the status URL"
            );
        }
    }
    assert_eq!(web, 1, "one Web activity follows the status URL");

    let text = pipeline.to_string();
    for gone in ["functionKey", "x-functions-key", "code="] {
        assert!(!text.contains(gone), "the pipeline still mentions {gone}");
    }
    let description = pipeline["properties"]["description"].as_str().unwrap();
    assert!(
        description.contains("no key") && description.contains("secureOutput"),
        "{description}"
    );
}

/// The pipeline is correct whether or not the tool that created it kept
/// the Web activity's `httpRequestTimeout` (one SDK drops it): every poll
/// of the status URL answers well inside ADF's default per-request timeout.
#[test]
fn each_status_poll_answers_well_inside_the_web_activitys_default_request_timeout() {
    // A poll looks once (and takes at most the operation's next step) within
    // STATUS_PATIENCE, plus CALL_MARGIN for a Batch call in flight; every
    // write it makes counts inside that one budget (issue 20).
    let poll = code_constant("STATUS_PATIENCE") + code_constant("CALL_MARGIN");
    assert!(
        poll * 2 <= WEB_ACTIVITY_DEFAULT_REQUEST_TIMEOUT_SECONDS,
        "a poll may take {poll} s: not well inside the Web activity's default {WEB_ACTIVITY_DEFAULT_REQUEST_TIMEOUT_SECONDS} s ({WEB_ACTIVITY})"
    );
    let pipeline = pipeline();
    let mut all = Vec::new();
    activities(&pipeline["properties"]["activities"], &mut all);
    for activity in all.iter().filter(|a| a["type"] == "WebActivity") {
        if let Some(timeout) = activity["typeProperties"]["httpRequestTimeout"].as_str() {
            let seconds = timespan_seconds(timeout);
            assert!(
                (WEB_ACTIVITY_DEFAULT_REQUEST_TIMEOUT_SECONDS
                    ..=WEB_ACTIVITY_MAX_REQUEST_TIMEOUT_SECONDS)
                    .contains(&seconds),
                "httpRequestTimeout {timeout}: between the default and the documented maximum ({WEB_ACTIVITY})"
            );
        }
    }
    let deploy = read("docs/deploy.md");
    assert!(
        deploy.contains("httpRequestTimeout") && deploy.contains("what-if"),
        "docs/deploy.md explains both"
    );
}

/// *Wait for nodes* gives up before the status URL it follows expires
/// (polls never extend a URL's expiry), so a slow pool fails the activity
/// with its own timeout, not with a 403 for an expired URL.
#[test]
fn wait_for_nodes_gives_up_before_its_status_url_expires() {
    let ttl = code_constant("DEFAULT_STATUS_URL_TTL_MINUTES") * 60;
    let pipeline = pipeline();
    let mut all = Vec::new();
    activities(&pipeline["properties"]["activities"], &mut all);
    let wait = all
        .iter()
        .find(|a| a["type"] == "WebActivity")
        .expect("the Web activity");
    let timeout = adf_timespan_seconds(wait["policy"]["timeout"].as_str().unwrap());
    assert!(
        timeout < ttl,
        "Wait for nodes may poll for {timeout} s; a status URL acts for {ttl} s by default (STATUS_URL_TTL_MINUTES)"
    );
    assert_eq!(adf_timespan_seconds("0.00:30:00"), 1800);
    assert_eq!(adf_timespan_seconds("1.00:00:01"), 86_401);
}

/// The route a status URL names is reachable without a function key (ADF
/// follows it with no headers); it accepts only a valid signature, which
/// the handler checks. Checked once the function folder exists.
#[test]
fn the_status_url_route_needs_no_function_key() {
    let path = repo().join("function-operation-status/function.json");
    if !path.is_file() {
        return; // the handler's side of issue 20 has not landed on this branch
    }
    let function: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let trigger = function["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "httpTrigger")
        .expect("an HTTP trigger");
    assert_eq!(trigger["authLevel"], "anonymous");
    assert_eq!(trigger["route"], "operation-status");
    let methods: Vec<String> = trigger["methods"]
        .as_array()
        .expect("methods listed")
        .iter()
        .map(|m| m.as_str().unwrap().to_ascii_uppercase())
        .collect();
    assert_eq!(methods, ["GET"], "ADF's Web activity follows it with GET");
}

// ---------------------------------------------------------------------------
// Packaging.

/// `func azure functionapp publish` uploads what `.funcignore` does not
/// leave out: every top-level entry that is not the app (host.json, the
/// function folders, and the binary copied to the root to publish) must be
/// left out, the conformance check's virtual environments included.
#[test]
fn funcignore_leaves_out_everything_but_the_app() {
    let host = json_file("host.json");
    let binary = host["customHandler"]["description"]["defaultExecutablePath"]
        .as_str()
        .unwrap()
        .to_owned();
    let patterns: Vec<String> = read(".funcignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let ignored = |name: &str| {
        patterns
            .iter()
            .any(|p| match (p.strip_prefix('*'), p.strip_suffix('*')) {
                (Some(suffix), _) => name.ends_with(suffix),
                (_, Some(prefix)) => name.starts_with(prefix),
                _ => p == name,
            })
    };
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(repo()).unwrap().filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_app =
            name == "host.json" || name == binary || entry.path().join("function.json").is_file();
        if name == ".git" || name == ".funcignore" || is_app {
            continue;
        }
        if !ignored(&name) {
            problems.push(name);
        }
    }
    assert!(
        problems.is_empty(),
        ".funcignore does not leave out {problems:?}"
    );
    for name in ["bench", ".venv", ".venv-batch14", "__pycache__"] {
        assert!(ignored(name), "{name} is not the app");
    }
    assert!(!ignored(&binary) && !ignored("host.json"));
}

/// The scale-up of the pipeline template sends `leaseIdleMinutes` from a
/// pipeline parameter whose default is what the study replays for
/// pool-resizer: docs/cost.md's figures are this template's.
#[test]
fn the_template_sends_the_idle_limit_the_study_replays() {
    let pipeline = pipeline();
    let default = &pipeline["properties"]["parameters"]["leaseIdleMinutes"];
    assert_eq!(default["type"], "int");
    let studied = pool_resizer::simday::config::DayConfig::default().lease_idle_minutes;
    assert_eq!(default["defaultValue"].as_u64(), studied.map(u64::from));
    let mut all = Vec::new();
    activities(&pipeline["properties"]["activities"], &mut all);
    let scale_up = all
        .iter()
        .find(|a| a["typeProperties"]["functionName"] == "scale-up")
        .expect("the scale-up activity");
    let body = scale_up["typeProperties"]["body"]["value"]
        .as_str()
        .unwrap();
    assert!(
        body.contains(r#""leaseIdleMinutes":', string(pipeline().parameters.leaseIdleMinutes)"#),
        "{body}"
    );
}

//! The docs against the repository: what they say of a file, a command or
//! an answer is checked against that file, command or answer, so a change to
//! one that the other misses fails here rather than in a newcomer's terminal.
//!
//! - the README stays short (its reference lives in docs/);
//! - its ADF section names the pipeline file's activities, in order;
//! - the API's example answer passes the answer schema and has the keys of
//!   a real answer;
//! - docs/cli.md's synopsis lists every flag each command's `--help` does;
//! - docs/settings.md names every setting the code reads;
//! - every relative link, and its `#anchor`, resolves.

use crate::helpers::app::{pools, spawn_app};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Markdown files a reader meets: the README and docs/*.md.
fn markdown_files() -> Vec<String> {
    let mut files = vec!["README.md".to_owned()];
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The text under `## heading`, up to the next heading of that level or higher.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section '{heading}'"))
        + heading.len()
        + 2;
    let level = heading.split(' ').next().unwrap();
    let rest = &text[start..];
    let end = rest
        .lines()
        .scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| {
            line.split(' ')
                .next()
                .is_some_and(|hashes| hashes.starts_with('#') && hashes.len() <= level.len())
        })
        .map_or(rest.len(), |(at, _)| at);
    &rest[..end]
}

/// The bodies of the fenced blocks in `text` whose info string is `lang`.
fn fenced(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if trimmed.strip_prefix("```") == Some(lang) {
                    open = Some(String::new());
                }
            }
            Some(mut body) => {
                if trimmed == "```" {
                    out.push(body);
                } else {
                    body.push_str(line);
                    body.push('\n');
                    open = Some(body);
                }
            }
        }
    }
    out
}

#[test]
fn the_readme_stays_under_12_kb() {
    let size = read("README.md").len();
    assert!(
        size < 12 * 1024,
        "README.md is {size} bytes: reference belongs in docs/ (api, settings, operations, architecture)"
    );
}

/// ADF's activity types as the README names them.
fn adf_type(kind: &str) -> &'static str {
    match kind {
        "AzureFunctionActivity" => "Azure Function",
        "IfCondition" => "If Condition",
        "WebActivity" => "Web",
        "Custom" => "Custom",
        "Fail" => "Fail",
        "Until" => "Until",
        "Wait" => "Wait",
        other => panic!("an activity type the README has no words for: {other}"),
    }
}

/// (name, type) of every activity, nested ones right after their parent.
fn pipeline_activities(list: &Value, out: &mut Vec<(String, String)>) {
    for activity in list.as_array().into_iter().flatten() {
        out.push((
            activity["name"].as_str().unwrap().to_owned(),
            adf_type(activity["type"].as_str().unwrap()).to_owned(),
        ));
        for branch in ["ifTrueActivities", "ifFalseActivities", "activities"] {
            pipeline_activities(&activity["typeProperties"][branch], out);
        }
    }
}

#[test]
fn the_readmes_adf_section_names_the_pipelines_activities() {
    let pipeline: Value = serde_json::from_str(&read("adf/pipeline/RunOnBatchPool.json")).unwrap();
    let mut in_file = Vec::new();
    pipeline_activities(&pipeline["properties"]["activities"], &mut in_file);
    assert!(in_file.len() >= 5, "{in_file:?}");

    let readme = read("README.md");
    let adf = section(&readme, "## In a pipeline (ADF)");
    assert!(adf.contains("`adf/pipeline/RunOnBatchPool.json`"), "{adf}");
    // List items that open with `Name` (Type).
    let in_readme: Vec<(String, String)> = adf
        .lines()
        .map(str::trim_start)
        .filter_map(|line| {
            let item = line
                .strip_prefix("- ")
                .or_else(|| line.split_once(". ").map(|(_, rest)| rest))?;
            let rest = item.strip_prefix('`')?;
            let (name, rest) = rest.split_once('`')?;
            let kind = rest.strip_prefix(" (")?.split_once(')')?.0;
            Some((name.to_owned(), kind.to_owned()))
        })
        .collect();
    assert_eq!(
        in_readme, in_file,
        "the README's ADF section lists the activities of adf/pipeline/RunOnBatchPool.json, in order"
    );
}

/// Every key path of a JSON value (`pool.leases[].holder`), maps keyed by
/// data (`nodesByState`) taken as one key.
fn key_paths(value: &Value, at: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if at.ends_with("nodesByState") => {
            out.insert(format!("{at}{{}}"));
            let _ = map;
        }
        Value::Object(map) => {
            for (key, child) in map {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.insert(path.clone());
                key_paths(child, &path, out);
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                key_paths(first, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// The example in docs/api.md is an answer: it passes the schema (which
/// requires every key), and it has exactly the keys a real scale-up gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apis_example_answer_has_a_real_answers_keys() {
    let api = read("docs/api.md");
    let answers = section(&api, "## Answers");
    let example = fenced(answers, "json")
        .into_iter()
        .next()
        .expect("a ```json example under ## Answers");
    let example: Value = serde_json::from_str(&example).expect("the example is JSON");
    crate::helpers::schema::assert_answer(&example);

    let app = spawn_app(pools(&["adf-pool"])).await;
    // One call, as the example is one answer (202 or 200: the same keys).
    let real = app
        .host
        .post(
            "/api/scale-up",
            r#"{"poolId":"adf-pool","dedicatedNodes":1,"leaseId":"doc-example","waitSeconds":200}"#,
        )
        .await;
    assert!([200, 202].contains(&real.status), "{}", real.body);
    let (mut shown, mut answered) = (BTreeSet::new(), BTreeSet::new());
    key_paths(&example, "", &mut shown);
    key_paths(&real.body, "", &mut answered);
    assert_eq!(
        shown, answered,
        "docs/api.md's example vs a real answer:\n{:#}",
        real.body
    );
}

/// The flags `pool-resizer COMMAND --help` lists, without `--help`.
fn help_flags(command: &str) -> BTreeSet<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pool-resizer"))
        .args([command, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{command} --help");
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--") && word.len() > 2 && *word != "--help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_cli_synopsis_lists_every_flag_of_each_command() {
    let cli = read("docs/cli.md");
    let synopsis = fenced(&cli, "text")
        .into_iter()
        .find(|block| block.starts_with("pool-resizer "))
        .expect("a synopsis block in docs/cli.md");
    let table = &cli;
    let mut commands = Vec::new();
    for line in synopsis.lines() {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("pool-resizer"), "{line}");
        let command = words.next().unwrap().to_owned();
        let listed: BTreeSet<String> = line
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .filter(|w| w.starts_with("--"))
            .map(str::to_owned)
            .collect();
        let help = help_flags(&command);
        assert_eq!(
            listed, help,
            "docs/cli.md's synopsis of {command} vs its --help"
        );
        for flag in &help {
            assert!(
                table.contains(&format!("`{flag}")) || table.contains(&format!(", {flag}`")),
                "docs/cli.md's flag table has no row for {flag}"
            );
        }
        commands.push(command);
    }
    assert_eq!(
        commands,
        ["scale-up", "scale-down", "status", "pause", "unpause"]
    );
}

#[test]
fn the_settings_page_names_every_setting_the_code_reads() {
    let page = read("docs/settings.md");
    let missing: Vec<String> = crate::deploy_templates::settings_read_by_code()
        .into_iter()
        .filter(|name| !page.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/settings.md does not name {missing:?}"
    );
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (but `-`
/// and `_`), spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// `](target)` links outside code, relative ones only.
fn relative_links(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        for piece in line.split("](").skip(1) {
            let Some((target, _)) = piece.split_once(')') else {
                continue;
            };
            if !target.contains("://") && !target.starts_with("mailto:") {
                out.push(target.to_owned());
            }
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    let mut headings: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for file in markdown_files() {
        let text = read(&file);
        let dir = repo().join(&file).parent().unwrap().to_owned();
        for link in relative_links(&text) {
            let (path, fragment) = match link.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                repo().join(&file)
            } else {
                dir.join(path)
            };
            if !target.exists() {
                problems.push(format!("{file}: {link}: no such file"));
                continue;
            }
            if let Some(fragment) = fragment {
                let known = headings.entry(target.clone()).or_insert_with(|| {
                    anchors(&std::fs::read_to_string(&target).unwrap_or_default())
                });
                if !known.contains(fragment) {
                    problems.push(format!("{file}: {link}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(
        anchor("Batch load as callers grow (`bash bench/callers.sh`)"),
        "batch-load-as-callers-grow-bash-benchcallerssh"
    );
    assert_eq!(
        anchor("Local-time windows (`SCHEDULE_WINDOWS`)"),
        "local-time-windows-schedule_windows"
    );
    assert_eq!(
        anchor("Waiting, and the 230-second limit"),
        "waiting-and-the-230-second-limit"
    );
}

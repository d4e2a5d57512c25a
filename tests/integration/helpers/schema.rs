//! The answer contract, `docs/response.schema.json`, checked on every answer
//! a test receives from the handler (through the host stand-in, or the
//! CLI's `--json`), so one stable shape is a tested promise, not a hope.

use serde_json::Value;
use std::sync::OnceLock;

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/response.schema.json");
        let schema: Value =
            serde_json::from_slice(&std::fs::read(path).expect("the schema is in the repo"))
                .expect("the schema is JSON");
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the schema is a valid draft 2020-12 schema")
    })
}

/// Panics with every violation when `body` breaks the contract.
pub(crate) fn assert_answer(body: &Value) {
    let problems: Vec<String> = validator()
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "answer breaks docs/response.schema.json:\n  {}\n{body:#}",
        problems.join("\n  ")
    );
}

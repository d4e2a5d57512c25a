//! Autoscale through the simulator's HTTP API: the checks Batch makes on a formula and
//! its interval, and a formula driving a pool on the simulator's clock.

use crate::helpers::batch::*;
use serde_json::{Value, json};

fn enable_body(formula: &str, interval: &str) -> Value {
    json!({"autoScaleFormula": formula, "autoScaleEvaluationInterval": interval})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formulas_and_intervals_are_checked_as_batch_checks_them() {
    let (s, c) = sim(60.0, &["p"]).await;
    for interval in ["PT4M59S", "P7DT1H", "soon"] {
        let r = c
            .call(
                "POST",
                "/pools/p/enableautoscale",
                Some(enable_body("$TargetDedicatedNodes=0", interval)),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidPropertyValue"),
            "{interval}"
        );
    }
    let r = c
        .call(
            "POST",
            "/pools/p/enableautoscale",
            Some(enable_body("$TargetDedicatedNodes = (1", "PT5M")),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "AutoScalingFormulaSyntaxError"));
    assert_eq!(
        r.body["values"][0]["value"],
        "Line 1, Col 27: Unexpected end of formula; expected ')'"
    );
    let r = c
        .call(
            "POST",
            "/pools/p/enableautoscale",
            Some(enable_body(&"1;".repeat(4097), "PT5M")),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "AutoScaleFormulaTooLong"));
    // Not enabled yet: nothing to evaluate against.
    let r = c
        .call(
            "POST",
            "/pools/p/evaluateautoscale",
            Some(json!({"autoScaleFormula": "$TargetDedicatedNodes=1"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "AutoScalingNotEnabled"));
    let r = c
        .call("POST", "/pools/p/evaluateautoscale", Some(json!({})))
        .await;
    assert_eq!((r.status, r.code()), (400, "MissingRequiredProperty"));
    let r = c
        .call(
            "POST",
            "/pools/nosuch/enableautoscale",
            Some(enable_body("$TargetDedicatedNodes=0", "PT5M")),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "PoolNotFound"));
    // A pool created with autoscale is checked the same way.
    let r = c
        .call(
            "POST",
            "/pools",
            Some(json!({"id": "q", "vmSize": "standard_a1_v2", "enableAutoScale": true,
                "autoScaleFormula": "$TargetDedicatedNodes = ", "autoScaleEvaluationInterval": "PT5M"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "AutoScalingFormulaSyntaxError"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_formula_grows_and_shrinks_the_pool_on_the_simulated_clock() {
    // 15 simulated minutes a real second: a 5-minute interval every 20 ms.
    let (s, c) = sim(900.0, &["p"]).await;
    let start = s.now();
    // One node for the first 10 simulated minutes from now, none after.
    let until = start + time::Duration::minutes(10);
    let formula = format!(
        "$TargetDedicatedNodes = time() < time(\"{}\") ? 1 : 0;\n$NodeDeallocationOption = taskcompletion;",
        until
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let r = c
        .call(
            "POST",
            "/pools/p/enableautoscale",
            Some(enable_body(&formula, "PT5M")),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let p = c.pool("p").await;
    assert_eq!(p["targetDedicatedNodes"], 1);
    assert_eq!(p["autoScaleEvaluationInterval"], "PT5M");
    assert!(p.get("resizeTimeout").is_none());
    let p = c
        .wait_pool("p", "target back to 0", |p| p["targetDedicatedNodes"] == 0)
        .await;
    let run = &p["autoScaleRun"];
    assert!(run.get("error").is_none(), "{run}");
    assert!(run["results"].as_str().unwrap().starts_with(
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion"
    ));
    c.wait_nodes("p", "no node", |n| n.is_empty()).await;
    // In between, the node booted to idle (read from the log: a poll could miss it).
    let idle = s
        .events()
        .into_iter()
        .any(|e| matches!(e.kind, batch_simulator::EventKind::Node { ref to, .. } if to == "idle"));
    assert!(idle, "the formula's node never became ready");
    // Disabled: the targets stay, autoScaleRun goes.
    let r = c.call("POST", "/pools/p/disableautoscale", None).await;
    assert_eq!(r.status, 200);
    let p = c.pool("p").await;
    assert!(p.get("autoScaleRun").is_none() && p["enableAutoScale"] == false);
    s.shutdown().await;
}

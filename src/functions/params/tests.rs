use super::*;

fn settings() -> Settings {
    Settings::from_env(|name| match name {
        "BATCH_ACCOUNT_URL" => Some("https://a.b".into()),
        "BATCH_POOL_ID" => Some("default-pool".into()),
        "ALLOWED_POOLS" => Some("default-pool,q,p,a".into()),
        _ => None,
    })
    .unwrap()
}

fn up(query: Option<&str>, body: &str) -> Result<ScaleParams, Refusal> {
    ScaleParams::parse(Operation::ScaleUp, query, body.as_bytes(), &settings())
}

fn code(result: Result<ScaleParams, Refusal>) -> &'static str {
    result.unwrap_err().code()
}

#[test]
fn defaults_come_from_settings() {
    let p = up(None, "").unwrap();
    assert_eq!(p.pool_id.as_str(), "default-pool");
    assert_eq!((p.dedicated, p.low_priority, p.wait_seconds), (1, 0, 180));
    let down = ScaleParams::parse(Operation::ScaleDown, None, b"{}", &settings()).unwrap();
    assert_eq!(down.dedicated, 0);
}

#[test]
fn body_and_query_both_work_and_body_wins() {
    let p = up(
        Some("poolId=q&dedicatedNodes=2&code=secret"),
        r#"{"dedicatedNodes":"3","waitSeconds":5}"#,
    )
    .unwrap();
    assert_eq!(p.pool_id.as_str(), "q");
    assert_eq!((p.dedicated, p.wait_seconds), (3, 5));
}

#[test]
fn bad_input_names_the_problem() {
    assert_eq!(code(up(None, "{not json")), "InvalidJson");
    assert_eq!(code(up(None, "[1,2]")), "InvalidJson");
    assert_eq!(code(up(None, r#"{"dedicatedNode":1}"#)), "UnknownParameter");
    assert_eq!(
        code(up(None, r#"{"dedicatedNodes":-1}"#)),
        "InvalidParameter"
    );
    assert_eq!(
        code(up(None, r#"{"dedicatedNodes":1.5}"#)),
        "InvalidParameter"
    );
    assert_eq!(
        code(up(None, r#"{"dedicatedNodes":true}"#)),
        "InvalidParameter"
    );
    assert_eq!(
        code(up(None, r#"{"dedicatedNodes":99999999999999999999999}"#)),
        "InvalidParameter"
    );
    assert_eq!(code(up(None, r#"{"waitSeconds":600}"#)), "InvalidParameter");
    assert_eq!(code(up(None, r#"{"poolId":"../x"}"#)), "InvalidParameter");
    assert_eq!(code(up(None, r#"{"poolId":7}"#)), "InvalidParameter");
    assert_eq!(
        code(up(Some("poolId=a&poolId=b"), "")),
        "DuplicateParameter"
    );
}

#[test]
fn lease_and_force_rules() {
    let with_lease = up(None, r#"{"leaseId":"run-1"}"#).unwrap();
    assert_eq!(with_lease.lease_minutes, Some(DEFAULT_LEASE_MINUTES));
    assert_eq!(up(None, "").unwrap().lease_minutes, None);
    assert_eq!(
        up(None, r#"{"leaseId":"run-1","leaseMinutes":"10080"}"#)
            .unwrap()
            .lease_minutes,
        Some(10080)
    );
    for bad in [
        r#"{"leaseId":"run-1","leaseMinutes":0}"#,
        r#"{"leaseId":"run-1","leaseMinutes":10081}"#,
        r#"{"leaseMinutes":30}"#,
        r#"{"force":true}"#,
    ] {
        assert_eq!(code(up(None, bad)), "InvalidParameter", "{bad}");
    }
    let down =
        |body: &str| ScaleParams::parse(Operation::ScaleDown, None, body.as_bytes(), &settings());
    assert!(down(r#"{"force":"true"}"#).unwrap().force);
    assert!(!down("").unwrap().force);
    assert_eq!(code(down(r#"{"force":"yes"}"#)), "InvalidParameter");
    assert_eq!(
        code(down(r#"{"leaseId":"a","leaseMinutes":5}"#)),
        "InvalidParameter"
    );
}

/// `keepWarmMinutes` beside `force=true` is refused, not echoed and
/// ignored; a forced shrink keeps nothing warm, the app's default
/// (`KEEP_WARM_MINUTES`) included.
#[test]
fn keep_warm_does_not_go_with_force() {
    let warm_by_default = Settings::from_env(|name| match name {
        "BATCH_ACCOUNT_URL" => Some("https://a.b".into()),
        "BATCH_POOL_ID" => Some("default-pool".into()),
        "KEEP_WARM_MINUTES" => Some("15".into()),
        _ => None,
    })
    .unwrap();
    let down = |query: Option<&str>, body: &str| {
        ScaleParams::parse(
            Operation::ScaleDown,
            query,
            body.as_bytes(),
            &warm_by_default,
        )
    };
    for (query, body) in [
        (None, r#"{"force":true,"keepWarmMinutes":30}"#),
        (None, r#"{"force":"true","keepWarmMinutes":"1"}"#),
        (Some("force=true&keepWarmMinutes=30"), ""),
    ] {
        let err = down(query, body).unwrap_err();
        assert_eq!(err.code(), "InvalidParameter", "{query:?} {body}");
        assert!(
            err.to_string()
                .contains("keepWarmMinutes cannot go with force=true"),
            "{err}"
        );
    }
    let forced = down(None, r#"{"force":true}"#).unwrap();
    assert_eq!((forced.force, forced.keep_warm), (true, KeepWarm::OFF));
    let forced = down(None, r#"{"force":true,"keepWarmMinutes":0}"#).unwrap();
    assert_eq!(forced.keep_warm, KeepWarm::OFF);
    assert_eq!(down(None, "").unwrap().keep_warm, KeepWarm::Minutes(15));
    let warm = down(None, r#"{"force":false,"keepWarmMinutes":30}"#).unwrap();
    assert_eq!((warm.force, warm.keep_warm), (false, KeepWarm::Minutes(30)));
    let auto = down(None, r#"{"keepWarmMinutes":"AUTO"}"#).unwrap();
    assert_eq!(auto.keep_warm, KeepWarm::Auto);
}

#[test]
fn only_an_explicit_resume_may_act() {
    let plain = StatusParams::parse(Some("operation=scale-up&dedicatedNodes=5"), &settings());
    assert!(!plain.unwrap().resume);
    let resume = StatusParams::parse(
        Some("operation=scale-up&dedicatedNodes=5&resume=1"),
        &settings(),
    );
    assert!(resume.unwrap().resume);
    assert!(StatusParams::parse(Some("resume=1"), &settings()).is_err());
}

#[test]
fn status_with_and_without_a_target() {
    let plain = StatusParams::parse(Some("poolId=p"), &settings()).unwrap();
    assert_eq!(plain.target, None);
    let t = StatusParams::parse(
        Some("poolId=p&operation=scale-down&dedicatedNodes=0"),
        &settings(),
    )
    .unwrap();
    assert_eq!(t.target.unwrap().operation, Operation::ScaleDown);
    let implicit = StatusParams::parse(Some("dedicatedNodes=2"), &settings()).unwrap();
    assert_eq!(implicit.target.unwrap().operation, Operation::ScaleUp);
    assert!(StatusParams::parse(Some("operation=sideways"), &settings()).is_err());
}

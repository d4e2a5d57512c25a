//! `BatchClient` over a scripted transport: the requests it sends (URL,
//! api-version, `$select`, `If-Match`, Shared Key signature), how it reads
//! Batch's answers, errors included, and how it pages.

use super::scripted::{Scripted, ScriptedReply};
use super::*;
use crate::batch::error::Unreachable;
use crate::batch::models::recorded::fixture;
use crate::batch::models::{NodeDeallocationOption, NodeState, PoolState};
use azure_core::credentials::Secret;
use azure_core::http::headers::Headers;
use azure_core::http::{FixedRetryOptions, Transport};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

const ACCOUNT: &str = "acct";
/// `secret-key-for-tests`, base64 as the portal shows account keys.
const KEY: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";
const ENDPOINT: &str = "https://acct.westeurope.batch.azure.com";
/// What error messages show of a call to pool `p1`: no query.
const POOL_URL: &str = "https://acct.westeurope.batch.azure.com/pools/p1";

/// A Shared Key client whose pipeline ends in `transport`, retrying as `retry`.
fn client_with(transport: &Arc<Scripted>, retry: RetryOptions) -> BatchClient {
    let key = AccountKey::decode(&Secret::new(KEY)).unwrap();
    let mut options = BatchClientOptions::default();
    options.client_options.transport = Some(Transport::new(transport.clone()));
    options.client_options.retry = retry;
    BatchClient::new(
        Url::parse(ENDPOINT).unwrap(),
        BatchAuth::SharedKey {
            account: ACCOUNT.into(),
            key,
        },
        options,
    )
}

/// No pipeline retries: each scripted answer is the answer.
fn client(transport: &Arc<Scripted>) -> BatchClient {
    client_with(transport, RetryOptions::none())
}

fn p1() -> PoolId {
    "p1".parse().unwrap()
}

fn sent_header(request: &Request, name: &'static str) -> Option<String> {
    request
        .headers()
        .get_optional_str(&HeaderName::from_static(name))
        .map(str::to_owned)
}

fn query(request: &Request) -> Vec<(String, String)> {
    request
        .url()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn sent_json(request: &Request) -> serde_json::Value {
    serde_json::from_slice(&azure_core::Bytes::from(request.body())).unwrap()
}

/// The request carries a Shared Key signature of itself as it was sent
/// (method, `If-Match`, `Content-Type`, `ocp-date`, path and query), made
/// with the account's key: what Batch recomputes to authenticate it.
fn assert_signed(request: &Request) {
    let body_length = request.body().len().unwrap_or(0);
    let to_sign = crate::batch::shared_key::string_to_sign(ACCOUNT, request, body_length);
    let mut mac = Hmac::<Sha256>::new_from_slice(&STANDARD.decode(KEY).unwrap()).unwrap();
    mac.update(to_sign.as_bytes());
    let expected = format!(
        "SharedKey {ACCOUNT}:{}",
        STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(sent_header(request, "authorization"), Some(expected));
    assert!(sent_header(request, "ocp-date").is_some());
    assert!(sent_header(request, "client-request-id").is_some());
}

#[test]
fn an_unreadable_answer_keeps_the_parsers_error() {
    let response = RawResponse::from_bytes(StatusCode::Ok, Headers::new(), "{\"id\": 7}");
    let url = Url::parse("https://a.b/pools/p?api-version=1").unwrap();
    let error = decode::<Pool>(&response, &url).unwrap_err();
    let source = std::error::Error::source(&error).expect("the serde error");
    assert!(source.is::<serde_json::Error>(), "{source:?}");
    assert_eq!(error.url(), Some("https://a.b/pools/p"));
}

#[tokio::test]
async fn get_pool_selects_what_it_reads_and_signs_with_shared_key() {
    let transport = Scripted::new([
        // `$select` may leave the ETag out of the body: the header has it.
        ScriptedReply::new(200, fixture("pool-get-odata-select-id-state.json"))
            .header("etag", "0x8DE0000000000A1"),
        // A body ETag is the pool's own and wins.
        ScriptedReply::new(200, fixture("pool-get-steady-fixed-scale.json"))
            .header("etag", "0xHEADER"),
    ]);
    let client = client(&transport);
    let selected = client.get_pool(&p1()).await.unwrap();
    assert_eq!(selected.id, "jssdkPool-Basic2e14");
    assert_eq!(selected.state, Some(PoolState::Active));
    assert_eq!(selected.e_tag.as_deref(), Some("0x8DE0000000000A1"));
    let full = client.get_pool(&p1()).await.unwrap();
    assert_eq!(full.e_tag.as_deref(), Some("0x8DE62B79EFC6E5F"));

    let requests = transport.requests();
    assert_eq!(requests.len(), 2);
    let get = &requests[0];
    assert_eq!(get.method(), Method::Get);
    assert_eq!(get.url().path(), "/pools/p1");
    assert_eq!(
        query(get),
        [
            ("api-version".to_owned(), API_VERSION.to_owned()),
            ("$select".to_owned(), POOL_SELECT.to_owned()),
        ]
    );
    assert_eq!(sent_header(get, "if-match"), None);
    assert_signed(get);
}

#[tokio::test]
async fn writes_send_if_match_when_given_and_a_signed_json_body() {
    let transport = Scripted::new((0..5).map(|_| ScriptedReply::new(202, "")));
    let client = client(&transport);
    let resize = ResizePool {
        target_dedicated_nodes: 3,
        target_low_priority_nodes: 0,
        resize_timeout: None,
        node_deallocation_option: Some(NodeDeallocationOption::TaskCompletion),
    };
    client
        .resize_pool(&p1(), &resize, Some("0x8DE1"))
        .await
        .unwrap();
    client.resize_pool(&p1(), &resize, None).await.unwrap();
    client.stop_resize(&p1(), Some("0x8DE2")).await.unwrap();
    let metadata = [MetadataItem {
        name: "owner".into(),
        value: "data-team".into(),
    }];
    client
        .replace_pool_metadata(&p1(), &metadata, Some("0x8DE3"))
        .await
        .unwrap();
    client
        .remove_nodes(&p1(), &["tvm-1".to_owned()], Some("0x8DE4"))
        .await
        .unwrap();

    let requests = transport.requests();
    let sent: Vec<_> = requests
        .iter()
        .map(|r| {
            (
                r.method(),
                r.url().path().to_owned(),
                sent_header(r, "if-match"),
            )
        })
        .collect();
    let expected = [
        (Method::Post, "/pools/p1/resize", Some("0x8DE1")),
        (Method::Post, "/pools/p1/resize", None),
        (Method::Post, "/pools/p1/stopresize", Some("0x8DE2")),
        (Method::Patch, "/pools/p1", Some("0x8DE3")),
        (Method::Post, "/pools/p1/removenodes", Some("0x8DE4")),
    ]
    .map(|(method, path, etag)| (method, path.to_owned(), etag.map(str::to_owned)));
    assert_eq!(sent, expected);
    for request in &requests {
        assert_eq!(
            query(request),
            [("api-version".to_owned(), API_VERSION.to_owned())]
        );
        assert_signed(request);
    }
    assert_eq!(
        sent_json(&requests[0]),
        serde_json::json!({
            "targetDedicatedNodes": 3,
            "targetLowPriorityNodes": 0,
            "nodeDeallocationOption": "taskcompletion",
        })
    );
    assert_eq!(
        sent_header(&requests[0], "content-type").as_deref(),
        Some(JSON_CONTENT_TYPE)
    );
    // A bodyless POST says so, as the signature counts it.
    assert_eq!(
        sent_header(&requests[2], "content-length").as_deref(),
        Some("0")
    );
    assert_eq!(
        sent_json(&requests[3]),
        serde_json::json!({"metadata": [{"name": "owner", "value": "data-team"}]})
    );
    assert_eq!(
        sent_json(&requests[4]),
        serde_json::json!({"nodeList": ["tvm-1"], "nodeDeallocationOption": "taskcompletion"})
    );
}

/// A recorded node list, with an `odata.nextLink` to `next` when given.
fn node_page(name: &str, next: Option<&str>) -> Vec<u8> {
    let mut page: serde_json::Value = serde_json::from_slice(&fixture(name)).unwrap();
    if let Some(next) = next {
        page["odata.nextLink"] = next.into();
    }
    serde_json::to_vec(&page).unwrap()
}

fn node_ids(name: &str) -> Vec<String> {
    let page: Page<Node> = serde_json::from_slice(&fixture(name)).unwrap();
    page.value.into_iter().map(|n| n.id).collect()
}

#[tokio::test]
async fn a_node_list_follows_next_link_to_the_end() {
    let next = format!("{POOL_URL}/nodes?api-version={API_VERSION}&$skiptoken=page-2");
    let transport = Scripted::new([
        ScriptedReply::new(
            200,
            node_page("nodes-list-creating-starting.json", Some(&next)),
        ),
        ScriptedReply::new(
            200,
            node_page("nodes-list-all-idle-starttask-completed.json", None),
        ),
    ]);
    let nodes = client(&transport)
        .list_nodes(&p1(), Some("state eq 'idle'"))
        .await
        .unwrap();

    let ids: Vec<_> = nodes.iter().map(|n| n.id.clone()).collect();
    let mut expected = node_ids("nodes-list-creating-starting.json");
    expected.extend(node_ids("nodes-list-all-idle-starttask-completed.json"));
    assert!(expected.len() >= 4, "{expected:?}");
    assert_eq!(ids, expected, "both pages, in order");
    assert_eq!(nodes.last().unwrap().state, Some(NodeState::Idle));

    let requests = transport.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].url().path(), "/pools/p1/nodes");
    assert_eq!(
        query(&requests[0]),
        [
            ("api-version".to_owned(), API_VERSION.to_owned()),
            ("$select".to_owned(), NODE_SELECT.to_owned()),
            ("$filter".to_owned(), "state eq 'idle'".to_owned()),
        ]
    );
    assert_eq!(requests[1].url().as_str(), next, "the link as given");
    for request in &requests {
        assert_eq!(request.method(), Method::Get);
        assert_signed(request);
    }
}

#[tokio::test]
async fn a_next_link_to_another_host_gets_no_request() {
    let transport = Scripted::new([ScriptedReply::new(
        200,
        node_page(
            "nodes-list-creating-starting.json",
            Some("https://collector.example.com/pools/p1/nodes?$skiptoken=2"),
        ),
    )]);
    let error = client(&transport)
        .list_nodes(&p1(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BatchError::Decode { detail, source: None, .. } if detail.contains("points away")),
        "{error:?}"
    );
    assert_eq!(transport.requests().len(), 1, "credentials never left");
}

#[tokio::test]
async fn a_node_list_that_never_ends_is_cut_off() {
    let next = format!("{POOL_URL}/nodes?api-version={API_VERSION}&$skiptoken=again");
    let transport = Scripted::new(
        (0..MAX_PAGES)
            .map(|_| ScriptedReply::new(200, node_page("nodes-list-empty.json", Some(&next)))),
    );
    let error = client(&transport)
        .list_nodes(&p1(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BatchError::Decode { detail, .. } if detail.contains("did not end after 100 pages")),
        "{error:?}"
    );
    assert_eq!(transport.requests().len(), MAX_PAGES);
}

/// What a failed call must come back as.
struct Expected {
    status: u16,
    code: &'static str,
    /// The message without Batch's `RequestId:`/`Time:` trailer.
    message: &'static str,
    retry_after: Option<u64>,
    /// Which of the client's predicates holds: `not_found`, `conflict`,
    /// `precondition_failed`, `busy`, or none.
    predicate: Option<&'static str>,
}

/// A Batch error body in the service's shape (`{code, message: {lang, value}}`).
fn batch_error(code: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "odata.metadata": format!("{ENDPOINT}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"),
        "code": code,
        "message": {
            "lang": "en-US",
            "value": format!("{message}\nRequestId:7a2f3a4e-0000-4000-8000-000000000000\nTime:2026-02-03T18:11:59.0000000Z"),
        },
    }))
    .unwrap()
}

fn holding(error: &BatchError) -> Option<&'static str> {
    let holds = [
        ("not_found", error.is_not_found()),
        ("conflict", error.is_conflict()),
        ("precondition_failed", error.is_precondition_failed()),
        ("busy", error.busy().is_some()),
    ];
    let mut held = holds.iter().filter(|(_, holds)| *holds).map(|(p, _)| *p);
    let first = held.next();
    assert_eq!(held.next(), None, "{error:?}: one predicate at most");
    first
}

#[tokio::test]
#[rustfmt::skip]
async fn error_answers_become_service_errors_with_batchs_code() {
    let expect = |status, code, message, retry_after, predicate| Expected { status, code, message, retry_after, predicate };
    let rows: Vec<(&str, ScriptedReply, Expected)> = vec![
        (
            "recorded 404",
            ScriptedReply::new(404, fixture("error-404-pool-not-found-get.json")),
            expect(404, "PoolNotFound", "The specified pool does not exist.", None, Some("not_found")),
        ),
        (
            "recorded 400: a required property missing",
            ScriptedReply::new(400, fixture("error-400-resize-missing-required-property.json")),
            expect(400, "MissingRequiredProperty", "A required property was not specified in the request body. (PropertyName: targetDedicatedNodes and/or targetLowPriorityNodes)", None, None),
        ),
        (
            "recorded 400: no Authorization header",
            ScriptedReply::new(400, fixture("error-400-missing-required-header.json")),
            expect(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified. (HeaderName: Authorization)", None, None),
        ),
        (
            "recorded 400: a bad query parameter",
            ScriptedReply::new(400, fixture("error-400-invalid-query-parameter-value.json")),
            expect(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid. (QueryParameterName: maxresults; QueryParameterValue: -5; Reason: MaxResults cannot be less than 1)", None, None),
        ),
        (
            "409: the pool is resizing",
            ScriptedReply::new(409, batch_error("PoolBeingResized", "The specified pool is being resized.")),
            expect(409, "PoolBeingResized", "The specified pool is being resized.", None, Some("conflict")),
        ),
        (
            "409: autoscale refuses manual resizes",
            ScriptedReply::new(409, batch_error("AutoScaleEnabled", "The specified operation is not valid on a pool with autoscale enabled.")),
            expect(409, "AutoScaleEnabled", "The specified operation is not valid on a pool with autoscale enabled.", None, Some("conflict")),
        ),
        (
            "412: a stale If-Match",
            ScriptedReply::new(412, batch_error("ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")),
            expect(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.", None, Some("precondition_failed")),
        ),
        (
            "429 with Retry-After in seconds",
            ScriptedReply::new(429, batch_error("TooManyRequests", "The server is busy.")).header("retry-after", "7"),
            expect(429, "TooManyRequests", "The server is busy.", Some(7), Some("busy")),
        ),
        (
            "503 from a front end: an HTML page",
            ScriptedReply::new(503, "<html><body><h1>503 Service Unavailable</h1></body></html>")
                .header("content-type", "text/html")
                .header("retry-after", "30"),
            expect(503, "Http503", "503 Service Unavailable", Some(30), Some("busy")),
        ),
        (
            "502 with no body",
            ScriptedReply::new(502, ""),
            expect(502, "Http502", "", None, Some("busy")),
        ),
        (
            "500 with a body that is not JSON",
            ScriptedReply::new(500, "upstream connect error or disconnect/reset before headers"),
            expect(500, "Http500", "upstream connect error or disconnect/reset before headers", None, Some("busy")),
        ),
        (
            "401 through a proxy: a plain-string message",
            ScriptedReply::new(401, r#"{"code":"AuthenticationFailed","message":"Server failed to authenticate the request."}"#),
            expect(401, "AuthenticationFailed", "Server failed to authenticate the request.", None, None),
        ),
    ];
    let count = rows.len();
    let (answers, expectations): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|(name, answer, expected)| (answer.header("request-id", format!("request-{name}")), (name, expected)))
        .unzip();
    let transport = Scripted::new(answers);
    let client = client(&transport);
    for (name, expected) in expectations {
        let error = client.get_pool(&p1()).await.unwrap_err();
        let BatchError::Service { status, code, message, request_id, retry_after, url, auth } = &error else {
            panic!("{name}: {error:?}");
        };
        assert_eq!(u16::from(*status), expected.status, "{name}");
        assert_eq!(code, expected.code, "{name}");
        assert_eq!(message, expected.message, "{name}");
        assert_eq!(request_id.as_deref(), Some(format!("request-{name}").as_str()), "{name}");
        assert_eq!(*retry_after, expected.retry_after.map(Duration::from_secs), "{name}");
        assert_eq!(url, POOL_URL, "{name}: no query in messages");
        assert_eq!(*auth, AuthMode::SharedKey, "{name}");
        assert_eq!(holding(&error), expected.predicate, "{name}");
        if let Some(busy) = error.busy() {
            assert_eq!(busy.retry_after, expected.retry_after.map(Duration::from_secs), "{name}");
        }
    }
    assert_eq!(transport.requests().len(), count, "one request each");
}

#[tokio::test]
async fn a_refused_write_names_its_url_and_the_fix() {
    let transport = Scripted::new([
        ScriptedReply::new(404, fixture("error-404-pool-not-found-resize.json")),
        ScriptedReply::new(
            403,
            batch_error(
                "AuthenticationFailed",
                "Server failed to authenticate the request.",
            ),
        ),
    ]);
    let client = client(&transport);
    let resize = ResizePool {
        target_dedicated_nodes: 1,
        target_low_priority_nodes: 1,
        resize_timeout: None,
        node_deallocation_option: None,
    };
    let gone = client.resize_pool(&p1(), &resize, None).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone:?}");
    assert_eq!(gone.code(), Some("PoolNotFound"));
    assert_eq!(gone.url(), Some(format!("{POOL_URL}/resize").as_str()));
    assert_eq!(gone.hint(), None, "the message says it all");
    let refused = client.stop_resize(&p1(), None).await.unwrap_err();
    assert_eq!(holding(&refused), None);
    let hint = refused.hint().unwrap();
    assert!(hint.contains("BATCH_ACCOUNT_KEY"), "{hint}");
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_a_wait_from_now() {
    let at = azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::seconds(120);
    let transport = Scripted::new([
        ScriptedReply::new(503, "").header("retry-after", azure_core::time::to_rfc7231(&at))
    ]);
    let error = client(&transport).get_pool(&p1()).await.unwrap_err();
    let wait = error.busy().unwrap().retry_after.unwrap();
    // Whole seconds on the wire, and a loaded machine may be slow to ask.
    assert!(
        wait > Duration::from_secs(60) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

#[tokio::test]
async fn an_unreadable_success_is_a_decode_error_with_the_parsers_error() {
    let transport = Scripted::new([
        ScriptedReply::new(200, "<html><body>Sign in to continue</body></html>"),
        ScriptedReply::new(200, r#"{"value": [{"id": 7}]}"#),
    ]);
    let client = client(&transport);
    let pool = client.get_pool(&p1()).await.unwrap_err();
    let nodes = client.list_nodes(&p1(), None).await.unwrap_err();
    for (error, url) in [
        (pool, POOL_URL.to_owned()),
        (nodes, format!("{POOL_URL}/nodes")),
    ] {
        assert!(matches!(error, BatchError::Decode { .. }), "{error:?}");
        let source = std::error::Error::source(&error).expect("the parser's error");
        assert!(source.is::<serde_json::Error>(), "{source:?}");
        assert_eq!(error.url(), Some(url.as_str()));
        assert!(error.busy().is_none());
    }
}

#[tokio::test]
async fn no_answer_is_unreachable_with_the_io_error_kept() {
    use std::io::ErrorKind::{ConnectionRefused, ConnectionReset, TimedOut};
    let transport = Scripted::new([
        ScriptedReply::io_error(ConnectionRefused),
        ScriptedReply::io_error(ConnectionReset),
        ScriptedReply::io_error(TimedOut),
    ]);
    let client = client(&transport);
    for (kind, problem) in [
        (ConnectionRefused, Unreachable::Refused),
        (ConnectionReset, Unreachable::Dropped),
        (TimedOut, Unreachable::TimedOut),
    ] {
        let error = client.get_pool(&p1()).await.unwrap_err();
        let BatchError::Unreachable {
            problem: seen, url, ..
        } = &error
        else {
            panic!("{kind:?}: {error:?}");
        };
        assert_eq!(*seen, problem, "{kind:?}");
        assert_eq!(url, POOL_URL);
        let source = std::error::Error::source(&error).expect("the pipeline's error");
        assert!(source.to_string().contains("failed to execute"), "{source}");
        let io = std::iter::successors(Some(source), |e| e.source())
            .find_map(|e| e.downcast_ref::<std::io::Error>())
            .expect("the I/O error under it");
        assert_eq!(io.kind(), kind);
        assert_eq!(error.is_dropped(), kind == ConnectionReset, "{kind:?}");
        assert_eq!(error.busy().is_some(), kind == TimedOut, "{kind:?}");
        assert!(
            error.hint().unwrap().contains("BATCH_ACCOUNT_URL"),
            "{kind:?}"
        );
    }
}

/// The pipeline's quick retries (production's statuses, short delays here):
/// a hiccup (5xx, a dropped connection) is tried again within the call,
/// throttling (429, 503) comes back at once for the caller to wait on.
#[tokio::test]
async fn quick_retries_cover_hiccups_not_throttling() {
    let quick = || {
        RetryOptions::fixed(FixedRetryOptions {
            delay: azure_core::time::Duration::milliseconds(1),
            max_retries: 2,
            max_total_elapsed: azure_core::time::Duration::seconds(30),
        })
    };
    let hiccups = Scripted::new([
        ScriptedReply::new(502, ""),
        ScriptedReply::io_error(std::io::ErrorKind::ConnectionReset),
        ScriptedReply::new(200, fixture("pool-get-steady-fixed-scale.json")),
    ]);
    let pool = client_with(&hiccups, quick())
        .get_pool(&p1())
        .await
        .unwrap();
    assert_eq!(pool.state, Some(PoolState::Active));
    let tries = hiccups.requests();
    assert_eq!(tries.len(), 3);
    let ids: Vec<_> = tries
        .iter()
        .map(|r| sent_header(r, "client-request-id"))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one call: {ids:?}");
    tries.iter().for_each(assert_signed);

    for status in [429, 503] {
        let throttled = Scripted::new([ScriptedReply::new(status, "").header("retry-after", "5")]);
        let error = client_with(&throttled, quick())
            .get_pool(&p1())
            .await
            .unwrap_err();
        assert_eq!(
            error.busy().unwrap().retry_after,
            Some(Duration::from_secs(5)),
            "{status}"
        );
        assert_eq!(throttled.requests().len(), 1, "{status}: not retried");
    }
}

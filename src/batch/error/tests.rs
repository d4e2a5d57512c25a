use super::*;

fn service(status: u16, retry_after: Option<u64>) -> BatchError {
    BatchError::Service {
        status: StatusCode::from(status),
        code: "X".into(),
        message: String::new(),
        request_id: None,
        retry_after: retry_after.map(Duration::from_secs),
        url: "https://a.westeurope.batch.azure.com/pools/p".into(),
        auth: AuthMode::ManagedIdentity,
    }
}

#[test]
fn throttling_and_server_hiccups_are_busy_refusals_are_not() {
    for status in [408, 429, 500, 502, 503, 504] {
        assert!(service(status, None).busy().is_some(), "{status}");
    }
    for status in [400, 401, 403, 404, 409, 412] {
        assert!(service(status, None).busy().is_none(), "{status}");
    }
    assert_eq!(
        service(429, Some(7)).busy().unwrap().retry_after,
        Some(Duration::from_secs(7))
    );
}

#[test]
fn refusals_point_at_the_fix_for_the_auth_in_use() {
    let forbidden = service(403, None);
    assert!(
        forbidden
            .hint()
            .unwrap()
            .contains("managed identity's role")
    );
    let BatchError::Service {
        status,
        code,
        message,
        request_id,
        retry_after,
        url,
        ..
    } = service(401, None)
    else {
        unreachable!()
    };
    let shared_key = BatchError::Service {
        status,
        code,
        message,
        request_id,
        retry_after,
        url,
        auth: AuthMode::SharedKey,
    };
    assert!(shared_key.hint().unwrap().contains("BATCH_ACCOUNT_KEY"));
    assert!(service(409, None).hint().is_none());
}

#[test]
fn a_local_endpoint_that_fails_points_at_dev_having_restarted() {
    let unreachable = |url: &str, problem| BatchError::Unreachable {
        url: url.into(),
        problem,
        source: Box::new(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Io,
            "x",
        )),
    };
    for url in [
        "https://127.0.0.1:7072/pools/p",
        "https://localhost:7072/pools/p",
        "https://[::1]:7072/pools/p",
    ] {
        for problem in [
            Unreachable::Refused,
            Unreachable::Tls("UnknownIssuer".into()),
        ] {
            let hint = unreachable(url, problem).hint().unwrap();
            assert!(hint.contains(DEV_RESTARTED), "{url}: {hint}");
        }
    }
    let azure = "https://a.westeurope.batch.azure.com/pools/p";
    let hint = unreachable(azure, Unreachable::Refused).hint().unwrap();
    assert!(!hint.contains("dev"), "{hint}");
    let plain = unreachable(azure, Unreachable::PlainHttp).hint().unwrap();
    assert!(
        plain.contains("plain HTTP") && !plain.contains("certificate"),
        "{plain}"
    );
}

#[test]
fn a_chain_reads_outermost_first_without_repeats() {
    let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let outer = azure_core::Error::with_error(
        azure_core::error::ErrorKind::Connection,
        inner,
        "failed to execute request",
    );
    assert_eq!(cause_chain(&outer), "failed to execute request: refused");
    assert_eq!(unreachable(&outer), Unreachable::Refused);
}

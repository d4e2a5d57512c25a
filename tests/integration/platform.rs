//! The handler as deployed: behind the Functions host on Linux (Host set
//! from `DISGUISED-HOST`, `X-Forwarded-Proto: https`), polled by ADF, which
//! follows `Location` without re-sending any header.

use crate::helpers::app::{pools, spawn_app_with};
use crate::helpers::host::{FUNCTION_KEY, Key};

const APP_HOST: &str = "myapp.azurewebsites.net";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adf_follows_location_without_headers_on_the_public_host() {
    let app = spawn_app_with(pools(&["adf-pool"]), |settings, _| {
        settings.insert("WEBSITE_HOSTNAME".into(), APP_HOST.into());
    })
    .await;
    let host = &app.host;

    // ADF's Azure Function activity sends the key as a header.
    let up = host
        .request(
            "POST",
            "/api/scale-up",
            Some(r#"{"waitSeconds": 0}"#),
            Key::Header,
        )
        .await;
    assert_eq!(up.status, 202, "{}", up.body);
    let location = up.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("https://{APP_HOST}/api/operation-status?token=")),
        "{location}"
    );
    assert!(
        !location.contains(FUNCTION_KEY) && !location.contains("code="),
        "the URL is a capability, not a key carrier: {location}"
    );
    // The poller re-sends nothing, and still gets through to 200.
    let done = host.until_final(up).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(app.accepted("POST", "/resize"), 1);

    // The key never reaches the handler's log.
    let logs = host.logs().join("\n");
    assert!(!logs.contains(FUNCTION_KEY), "the key was logged");
}

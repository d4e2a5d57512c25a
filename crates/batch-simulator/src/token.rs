//! The local managed-identity token endpoint (App Service protocol, `2019-08-01`).
//!
//! ```text
//! GET /msi/token?api-version=2019-08-01&resource=https://batch.core.windows.net/[&client_id=..]
//! X-IDENTITY-HEADER: <identityHeader from the ready line>
//! -> 200 {"access_token":"...","expires_on":"1767225600","resource":"https://batch.core.windows.net/","token_type":"Bearer"}
//! ```
//!
//! Point `IDENTITY_ENDPOINT` at `identityEndpoint` and `IDENTITY_HEADER` at
//! `identityHeader` and a managed-identity client talks to it as it would on App Service.
//! Tokens are opaque random strings; the store remembers their audience and **real-time**
//! expiry (configurable, default one hour). Only the Batch audience is issued here; the
//! control surface (`POST /_simulator/tokens`) can mint tokens for any audience or with
//! any lifetime so tests can exercise the 401 paths.
//!
//! The store only answers "is this token good for Batch?" ([`TokenCheck`]); turning
//! the answer into a Batch error is the job of `crate::auth`, which depends on this
//! module and never the other way round.
//!
//! Errors: no `X-IDENTITY-HEADER` → 400, a wrong one → 401, wrong `api-version` or
//! another resource → 400; bodies are `{"error":"...","error_description":"..."}`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;

/// The Batch resource id, as issued in `resource`.
pub(crate) const BATCH_RESOURCE: &str = "https://batch.core.windows.net/";

#[derive(Debug, Clone)]
struct Issued {
    resource: String,
    expires: SystemTime,
}

/// Tokens minted by this simulator.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, Issued>>,
}

/// The token endpoint's answer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_on: String,
    pub resource: String,
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl TokenStore {
    /// Mint a token for `resource` valid for `lifetime` of real time.
    pub(crate) fn issue(
        &self,
        resource: &str,
        lifetime: Duration,
        client_id: Option<String>,
    ) -> TokenResponse {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = format!("simtok.{}", URL_SAFE_NO_PAD.encode(raw));
        let expires = SystemTime::now() + lifetime;
        let expires_on = expires
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if let Ok(mut map) = self.tokens.lock() {
            map.insert(
                token.clone(),
                Issued {
                    resource: resource.to_string(),
                    expires,
                },
            );
        }
        TokenResponse {
            access_token: token,
            expires_on: expires_on.to_string(),
            resource: resource.to_string(),
            token_type: "Bearer",
            client_id,
        }
    }

    /// Is this a token we issued, for Batch, still valid?
    pub(crate) fn check(&self, token: &str) -> TokenCheck {
        let Ok(map) = self.tokens.lock() else {
            return TokenCheck::Unknown;
        };
        match map.get(token) {
            None => TokenCheck::Unknown,
            Some(i) if !is_batch_resource(&i.resource) => TokenCheck::WrongAudience,
            Some(i) if SystemTime::now() >= i.expires => TokenCheck::Expired,
            Some(_) => TokenCheck::Valid,
        }
    }
}

/// Result of looking a bearer token up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid,
    Unknown,
    WrongAudience,
    Expired,
}

/// Is `resource` the Batch audience (with or without the trailing slash, or as a scope)?
pub(crate) fn is_batch_resource(resource: &str) -> bool {
    let r = resource.trim_end_matches("/.default").trim_end_matches('/');
    r.eq_ignore_ascii_case("https://batch.core.windows.net")
}

/// Why the endpoint refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

/// Validate a token request (query pairs + the identity header) against the expected secret.
pub(crate) fn validate_request(
    query: &[(String, String)],
    identity_header: Option<&str>,
    expected_header: &str,
) -> Result<(String, Option<String>), TokenError> {
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    match identity_header {
        None => {
            return Err(TokenError {
                status: 400,
                error: "invalid_request",
                description: "Required header X-IDENTITY-HEADER is missing.".into(),
            });
        }
        Some(h) if h != expected_header => {
            return Err(TokenError {
                status: 401,
                error: "unauthorized_client",
                description: "The X-IDENTITY-HEADER value is not valid.".into(),
            });
        }
        Some(_) => {}
    }
    if get("api-version").as_deref() != Some("2019-08-01") {
        return Err(TokenError {
            status: 400,
            error: "invalid_request",
            description: "api-version must be 2019-08-01.".into(),
        });
    }
    let resource = get("resource").unwrap_or_default();
    if !is_batch_resource(&resource) {
        return Err(TokenError {
            status: 400,
            error: "invalid_resource",
            description: format!(
                "This simulator only issues tokens for {BATCH_RESOURCE}, not '{resource}'."
            ),
        });
    }
    Ok((BATCH_RESOURCE.to_string(), get("client_id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_check() {
        let s = TokenStore::default();
        let t = s.issue(BATCH_RESOURCE, Duration::from_secs(60), None);
        assert_eq!(s.check(&t.access_token), TokenCheck::Valid);
        let e = s.issue(BATCH_RESOURCE, Duration::ZERO, None);
        assert_eq!(s.check(&e.access_token), TokenCheck::Expired);
        let w = s.issue(
            "https://management.azure.com/",
            Duration::from_secs(60),
            None,
        );
        assert_eq!(s.check(&w.access_token), TokenCheck::WrongAudience);
        assert_eq!(s.check("nope"), TokenCheck::Unknown);
    }

    #[test]
    fn validates_requests() {
        let q = vec![
            ("api-version".to_string(), "2019-08-01".to_string()),
            (
                "resource".to_string(),
                "https://batch.core.windows.net".to_string(),
            ),
        ];
        assert!(validate_request(&q, Some("s"), "s").is_ok());
        assert_eq!(validate_request(&q, None, "s").unwrap_err().status, 400);
        assert_eq!(
            validate_request(&q, Some("x"), "s").unwrap_err().status,
            401
        );
        let q2 = vec![
            ("api-version".to_string(), "2019-08-01".to_string()),
            (
                "resource".to_string(),
                "https://vault.azure.net".to_string(),
            ),
        ];
        assert_eq!(
            validate_request(&q2, Some("s"), "s").unwrap_err().status,
            400
        );
    }
}

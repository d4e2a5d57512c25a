//! The calls the replay makes that pool-resizer's client has no method for: what ADF
//! does (a job, a task per Custom activity, polling it) and what a user does once to set
//! a strategy up (enable autoscale, a fixed resize). Signed with Shared Key like every
//! other caller of the simulator.

use azure_core::http::Url;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::flight::Flight;
use crate::batch::client::API_VERSION;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("{0}: not a valid URL")]
    Url(String),
    #[error("{method} {path}: {source}")]
    Http {
        method: Method,
        path: String,
        source: reqwest::Error,
    },
    #[error("{method} {path}: {status} {body}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        body: String,
    },
}

/// A signed Batch caller for the replay's own calls.
#[derive(Clone)]
pub(crate) struct BatchCalls {
    http: reqwest::Client,
    endpoint: Url,
    account: String,
    key: Vec<u8>,
    flight: Flight,
}

impl BatchCalls {
    pub(crate) fn new(
        http: reqwest::Client,
        endpoint: Url,
        account: String,
        key: Vec<u8>,
        flight: Flight,
    ) -> Self {
        Self {
            http,
            endpoint,
            account,
            key,
            flight,
        }
    }

    /// One call; a status of 400 or more is an error carrying the body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        self.flight.around(self.send(method, path, body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!(
            "{}{}{sep}api-version={API_VERSION}",
            self.endpoint.as_str().trim_end_matches('/'),
            path
        );
        let bytes = body.map(Value::to_string).unwrap_or_default();
        let mut headers = HeaderMap::new();
        let date = azure_core::time::to_rfc7231(&azure_core::time::OffsetDateTime::now_utc());
        let mut put = |k: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                headers.insert(HeaderName::from_static(k), v);
            }
        };
        put("ocp-date", &date);
        if method != Method::GET {
            put("content-type", "application/json; odata=minimalmetadata");
            put("content-length", &bytes.len().to_string());
        }
        let uri: axum::http::Uri = url.parse().map_err(|_| CallError::Url(url.clone()))?;
        let to_sign =
            batch_simulator::string_to_sign(&method, &uri, &headers, &self.account, false, false);
        let signature = batch_simulator::sign_shared_key(&self.key, &to_sign);
        headers.remove("content-length");
        let mut request = self
            .http
            .request(method.clone(), &url)
            .headers(headers)
            .header(
                "authorization",
                format!("SharedKey {}:{signature}", self.account),
            );
        if method != Method::GET {
            request = request.body(bytes);
        }
        let http_error = |source| CallError::Http {
            method: method.clone(),
            path: path.into(),
            source,
        };
        let response = request.send().await.map_err(http_error)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(http_error)?;
        if status >= 400 {
            return Err(CallError::Status {
                method,
                path: path.into(),
                status,
                body: text,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

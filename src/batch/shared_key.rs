//! Batch Shared Key authentication as an `azure_core` pipeline policy.
//!
//! Batch's Shared Key scheme signs a canonical form of each request with the
//! account key (HMAC-SHA256). The policy runs *per try*, after every other
//! header is set and right before the transport, so retries get a fresh
//! `ocp-date` and a signature that matches what actually goes on the wire.
//!
//! String to sign, as Batch's Shared Key documentation and the official SDKs
//! (Python, JS, Java, .NET) build it; every canonical header takes its line,
//! empty when absent, and with `ocp-date` sent the `Date` line stays empty:
//! ```text
//! VERB \n Content-Encoding \n Content-Language \n Content-Length \n Content-MD5 \n
//! Content-Type \n Date \n If-Modified-Since \n If-Match \n If-None-Match \n
//! If-Unmodified-Since \n Range \n <ocp-* headers> /<account><path>[\n<name>:<value>]*
//! ```
//! `<ocp-* headers>` are lower-case `name:value` lines sorted by name; query
//! parameters are sorted by name, values URL-decoded. Where SDKs disagree we
//! do the safe thing: a body-less POST/PATCH/PUT sends and signs
//! `Content-Length: 0`, and query names are signed as sent.

use async_trait::async_trait;
use azure_core::credentials::{Secret, SecretBytes};
use azure_core::http::{
    Context, Method, Request,
    headers::HeaderName,
    policies::{Policy, PolicyResult},
};
use azure_core::time::{OffsetDateTime, to_rfc7231};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// Signs requests with a Batch account name and key.
pub(crate) struct SharedKeyPolicy {
    account: String,
    key: AccountKey,
}

impl std::fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeyPolicy")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// An account key that decoded: building a client with one cannot fail,
/// and a key that is not base64 stops the start, not the first request.
/// The bytes are azure_core's `SecretBytes`, whose `Debug` never shows them.
#[derive(Clone, Debug)]
pub(crate) struct AccountKey(SecretBytes);

/// Carries no source on purpose: base64's error names the offending
/// character and its offset, which is a piece of the key.
#[derive(Debug, thiserror::Error)]
#[error("BATCH_ACCOUNT_KEY is not valid base64 (copy it from the Batch account's Keys blade)")]
pub(crate) struct InvalidAccountKey;

impl AccountKey {
    pub(crate) fn decode(key: &Secret) -> Result<Self, InvalidAccountKey> {
        let key = STANDARD
            .decode(key.secret().trim())
            .map_err(|_| InvalidAccountKey)?;
        if key.is_empty() {
            return Err(InvalidAccountKey);
        }
        Ok(Self(SecretBytes::new(key)))
    }
}

impl SharedKeyPolicy {
    pub(crate) fn new(account: impl Into<String>, key: AccountKey) -> Self {
        Self {
            account: account.into(),
            key,
        }
    }

    fn signature(&self, string_to_sign: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.0.bytes())
            .expect("HMAC-SHA256 accepts keys of any length");
        mac.update(string_to_sign.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

const OCP_DATE: HeaderName = HeaderName::from_static("ocp-date");
const CONTENT_LENGTH: HeaderName = HeaderName::from_static("content-length");
const AUTHORIZATION: HeaderName = HeaderName::from_static("authorization");

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        request.insert_header(OCP_DATE, to_rfc7231(&OffsetDateTime::now_utc()));
        let body_length = request.body().len().unwrap_or(0);
        let method = request.method();
        if body_length == 0 && matches!(method, Method::Post | Method::Patch | Method::Put) {
            request.insert_header(CONTENT_LENGTH, "0");
        }
        let to_sign = string_to_sign(&self.account, request, body_length);
        let authorization = format!("SharedKey {}:{}", self.account, self.signature(&to_sign));
        request.insert_header(AUTHORIZATION, authorization);
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The canonical form of `request`, exactly as the service recomputes it.
pub(crate) fn string_to_sign(account: &str, request: &Request, body_length: u64) -> String {
    let header = |name: &'static str| {
        request
            .headers()
            .get_optional_str(&HeaderName::from_static(name))
            .unwrap_or("")
            .to_owned()
    };
    let method = request.method();
    let content_length = if body_length > 0 {
        body_length.to_string()
    } else if matches!(method, Method::Post | Method::Patch | Method::Put) {
        "0".to_owned()
    } else {
        String::new()
    };
    let lines = [
        method.as_ref().to_ascii_uppercase(),
        header("content-encoding"),
        header("content-language"),
        content_length,
        header("content-md5"),
        header("content-type"),
        // ocp-date is always sent, so the Date slot stays empty.
        String::new(),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    ];
    let mut ocp_headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().to_ascii_lowercase().starts_with("ocp-"))
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.as_str().trim().to_owned(),
            )
        })
        .collect();
    ocp_headers.sort();
    let mut signed = lines.join("\n");
    signed.push('\n');
    for (name, value) in ocp_headers {
        signed.push_str(&format!("{name}:{value}\n"));
    }
    signed.push_str(&canonical_resource(account, request.url()));
    signed
}

fn canonical_resource(account: &str, url: &url::Url) -> String {
    let mut resource = format!("/{account}{}", url.path());
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in url.query_pairs() {
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value.into_owned()),
            None => params.push((name.into_owned(), vec![value.into_owned()])),
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, values) in params {
        resource.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::Url;

    #[test]
    fn get_pool_matches_the_documented_example() {
        let mut request = Request::new(
            Url::parse("https://acct.westeurope.batch.azure.com/pools/p1?api-version=2025-06-01")
                .unwrap(),
            Method::Get,
        );
        request.insert_header(OCP_DATE, "Tue, 03 Feb 2026 00:00:00 GMT");
        assert_eq!(
            string_to_sign("acct", &request, 0),
            "GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:Tue, 03 Feb 2026 00:00:00 GMT\n/acct/pools/p1\napi-version:2025-06-01"
        );
    }

    #[test]
    fn bodyless_post_signs_zero_length_and_sorted_decoded_query() {
        let mut request = Request::new(
            Url::parse(
                "https://a.b/pools/p1/stopresize?timeOut=30&api-version=2025-06-01&%24select=id",
            )
            .unwrap(),
            Method::Post,
        );
        request.insert_header(OCP_DATE, "Tue, 03 Feb 2026 00:00:00 GMT");
        request.insert_header(
            HeaderName::from_static("content-type"),
            "application/json; odata=minimalmetadata",
        );
        let signed = string_to_sign("acct", &request, 0);
        assert!(signed.starts_with("POST\n\n\n0\n\napplication/json; odata=minimalmetadata\n"));
        assert!(signed.ends_with(
            "/acct/pools/p1/stopresize\n$select:id\napi-version:2025-06-01\ntimeOut:30"
        ));
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_string() {
        // Key "key" base64 = "a2V5"; HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        let key = AccountKey::decode(&Secret::new("a2V5")).unwrap();
        let policy = SharedKeyPolicy::new("acct", key);
        assert_eq!(
            policy.signature("The quick brown fox jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }

    #[test]
    fn refuses_keys_that_are_not_base64() {
        assert!(AccountKey::decode(&Secret::new("not base64!")).is_err());
        assert!(AccountKey::decode(&Secret::new("")).is_err());
        let key = AccountKey::decode(&Secret::new("a2V5")).unwrap();
        assert_eq!(format!("{key:?}"), "AccountKey(SecretBytes)");
    }

    #[test]
    fn ocp_date_is_the_http_date_batch_reads() {
        let at = time::macros::datetime!(2026-02-03 00:00:00 UTC);
        assert_eq!(to_rfc7231(&at), "Tue, 03 Feb 2026 00:00:00 GMT");
    }
}

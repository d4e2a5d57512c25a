//! Request authentication: Shared Key and Microsoft Entra bearer tokens.
//!
//! **Shared Key.** `Authorization: SharedKey <account>:<signature>` where the signature is
//! `base64(HMAC-SHA256(base64decode(key), stringToSign))` and
//!
//! ```text
//! VERB\n
//! Content-Encoding\n Content-Language\n Content-Length\n Content-MD5\n Content-Type\n
//! Date\n If-Modified-Since\n If-Match\n If-None-Match\n If-Unmodified-Since\n Range\n
//! ocp-*:value\n ...            (lower-cased names, sorted)
//! /<account><path>             (path exactly as sent)
//! \nname:decoded-value ...     (query parameters sorted by name; empty values skipped)
//! ```
//!
//! Real SDKs disagree on two details, and the service evidently accepts both, so the
//! simulator accepts every combination of: query names as sent *or* lower-cased (.NET/Java
//! lower-case them), and a zero/absent `Content-Length` signed as `0` *or* as empty.
//! The request must carry `ocp-date` (or `Date`) within 15 minutes of **real** time.
//!
//! **Bearer.** `Authorization: Bearer <token>`; only tokens minted by this simulator's
//! identity endpoint (see `crate::token`) are valid, and only for the Batch audience
//! and before their (real-time) expiry.
//!
//! Failures: no `Authorization` → 400 `MissingRequiredHeader` (HeaderName=Authorization,
//! as recorded); bad Shared Key → 403 `AuthenticationFailed`; unknown/garbled token → 401
//! `InvalidAuthenticationToken`; token for another audience → 401
//! `InvalidAuthenticationTokenAudience`; expired token → 401 `ExpiredAuthenticationToken`.
//! Secrets never reach the logs.

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::clock::parse_rfc1123;
use crate::errors::ErrorReply;
use crate::token::{TokenCheck, TokenStore};

type HmacSha256 = Hmac<Sha256>;

const SIGNED_HEADERS: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// Who the caller is, once authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Principal {
    SharedKey,
    Bearer,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Build the string-to-sign, with the two knobs SDKs disagree on.
pub fn string_to_sign(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    account: &str,
    lowercase_query_names: bool,
    zero_length_as_zero: bool,
) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(method.as_str());
    s.push('\n');
    for name in SIGNED_HEADERS {
        let mut v = header(headers, name).to_string();
        if name == "content-length" {
            let zero = v.is_empty() || v == "0";
            if zero {
                v = if zero_length_as_zero {
                    "0".into()
                } else {
                    String::new()
                };
            }
        }
        s.push_str(&v);
        s.push('\n');
    }
    let mut ocp: Vec<(String, &str)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let k = k.as_str().to_ascii_lowercase();
            let v = v.to_str().ok()?;
            (k.starts_with("ocp-") && !v.is_empty()).then_some((k, v))
        })
        .collect();
    ocp.sort();
    for (k, v) in ocp {
        s.push_str(&k);
        s.push(':');
        s.push_str(v);
        s.push('\n');
    }
    s.push('/');
    s.push_str(account);
    s.push_str(uri.path());
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let k = if lowercase_query_names {
            k.to_ascii_lowercase()
        } else {
            k.into_owned()
        };
        if v.is_empty() || params.iter().any(|(pk, _)| *pk == k) {
            continue;
        }
        params.push((k, v.into_owned()));
    }
    params.sort();
    for (k, v) in params {
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(&v);
    }
    s
}

/// Sign a string-to-sign with a decoded key (used by tests and the verifier).
pub fn sign(key: &[u8], string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Verify a request. `key` is the decoded account key.
pub(crate) fn authenticate(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    account: &str,
    key: &[u8],
    tokens: &TokenStore,
) -> Result<Principal, ErrorReply> {
    let auth = match headers.get("authorization") {
        None => return Err(ErrorReply::missing_header("Authorization")),
        Some(v) => v
            .to_str()
            .map_err(|_| ErrorReply::auth_failed("The Authorization header is not valid."))?,
    };
    if let Some(rest) = auth.strip_prefix("SharedKey ") {
        return shared_key(rest, method, uri, headers, account, key);
    }
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return match tokens.check(token.trim()) {
            TokenCheck::Valid => Ok(Principal::Bearer),
            TokenCheck::Unknown => Err(ErrorReply::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            )),
            TokenCheck::WrongAudience => Err(ErrorReply::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenAudience",
                "The access token has been obtained for wrong audience or resource. It should exactly match the Batch resource https://batch.core.windows.net/.",
            )),
            TokenCheck::Expired => Err(ErrorReply::new(
                StatusCode::UNAUTHORIZED,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than the current UTC time.",
            )),
        };
    }
    Err(ErrorReply::auth_failed(
        "The authentication scheme is not supported.",
    ))
}

/// `SharedKey account:signature`: the account, a date within 15 minutes,
/// and a signature over any of the canonical forms clients compute.
fn shared_key(
    rest: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    account: &str,
    key: &[u8],
) -> Result<Principal, ErrorReply> {
    let (acct, sig) = rest
        .trim()
        .split_once(':')
        .ok_or_else(|| ErrorReply::auth_failed("The Authorization header is malformed."))?;
    if acct != account {
        return Err(ErrorReply::auth_failed(
            "The account name in the Authorization header does not match.",
        ));
    }
    let date = headers
        .get("ocp-date")
        .or_else(|| headers.get("date"))
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ErrorReply::auth_failed("Request date header not specified."))?;
    let when = parse_rfc1123(date).ok_or_else(|| {
        ErrorReply::auth_failed("The request date header is not a valid RFC 1123 date.")
    })?;
    let now = time::OffsetDateTime::now_utc();
    if (now - when).abs() > time::Duration::minutes(15) {
        return Err(ErrorReply::auth_failed(
            "Request date header too old or too far in the future (15 minutes allowed).",
        ));
    }
    let provided = STANDARD
        .decode(sig.trim())
        .map_err(|_| ErrorReply::auth_failed("The signature is not valid base64."))?;
    for lower in [false, true] {
        for zero in [true, false] {
            let sts = string_to_sign(method, uri, headers, account, lower, zero);
            let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
                continue;
            };
            mac.update(sts.as_bytes());
            if mac.verify_slice(&provided).is_ok() {
                return Ok(Principal::SharedKey);
            }
        }
    }
    Err(ErrorReply::auth_failed(
        "The MAC signature found in the HTTP request is not the same as any computed signature.",
    ))
}

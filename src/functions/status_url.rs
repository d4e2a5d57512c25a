//! Status URLs as capabilities: what a 202's `Location` carries so that ADF's
//! poller, which follows it with no headers at all, can carry the operation
//! on, and nobody else can make it do anything else.
//!
//! The model is a SAS or an S3 presigned URL: one scoped action until an
//! expiry. The URL is `…/api/operation-status?token=<token>` on an
//! anonymous route, so it needs (and carries) no function key. The token is
//! sealed with XChaCha20-Poly1305 under a key derived from the app setting
//! `STATUS_URL_SECRET`, which every instance shares:
//! - **authenticated**: every field the poll may act on (pool, operation,
//!   targets, lease and its minutes, Spot fallback) and the expiry are under
//!   the tag, so changing any byte, or sealing with another secret, opens to
//!   nothing and the route answers 403 without a Batch call;
//! - **confidential**: the lease id inside is a bearer secret (whoever has it
//!   can release the lease), so the token hides it; someone who reads a
//!   status URL in a run history can repeat that one operation's next step
//!   until the expiry, and nothing else.
//!
//! Rotation: tokens are opened with `STATUS_URL_SECRET` first, then with
//! `STATUS_URL_SECRET_PREVIOUS`, so URLs issued before a rotation keep
//! working until they expire. A poll that is still pending is answered with a
//! fresh token carrying the *same* expiry: polling never extends a capability.

use crate::batch::PoolId;
use crate::resizer::{LeaseId, Operation};
use crate::settings::Settings;
use axum::http::{HeaderMap, header};
use azure_core::credentials::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use time::OffsetDateTime;

/// The query parameter that carries the token.
pub(crate) const TOKEN_PARAM: &str = "token";

/// The first byte of every token: a later format can change everything
/// after it and still refuse old tokens cleanly.
const FORMAT: u8 = 1;
const NONCE_LEN: usize = 24;
/// A token longer than this was not issued here (a sealed capability is a
/// few hundred characters); refused before any decoding.
const MAX_TOKEN_LEN: usize = 2048;
/// Keys are derived, never the setting itself: the setting may be any long
/// string (two GUIDs from the template), the cipher needs 32 uniform bytes.
const KEY_LABEL: &[u8] = b"pool-resizer status URL v1";

/// What one status URL lets its holder do: the next step of one operation,
/// judged exactly as the call that issued it, until `expires`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Capability {
    pub pool_id: PoolId,
    pub operation: Operation,
    pub dedicated: u32,
    pub low_priority: u32,
    /// A scale-up's lease with its terms (the poll may still have to write
    /// it), or the lease a scale-down releases (no terms).
    pub lease: Option<LeaseTerms>,
    /// The scale-up lets dedicated nodes stand in for Spot ones.
    pub fallback_to_dedicated: bool,
    /// May take the operation's next step (a scale-up's or scale-down's
    /// URL); `false`: only judges, as the `pool-status` look that issued it
    /// (a key that opens pool-status must not buy a URL that acts).
    pub acts: bool,
    pub expires: OffsetDateTime,
}

/// A lease as its scale-up asked for it: the minutes and the idle limit
/// (`None` on a scale-down's, which only releases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseTerms {
    pub id: LeaseId,
    pub minutes: Option<u32>,
    pub idle_minutes: Option<u32>,
}

/// Lease ids never reach a log, not even through `{:?}`.
impl fmt::Debug for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capability")
            .field("pool_id", &self.pool_id)
            .field("operation", &self.operation)
            .field("dedicated", &self.dedicated)
            .field("low_priority", &self.low_priority)
            .field("lease", &self.lease)
            .field("fallback_to_dedicated", &self.fallback_to_dedicated)
            .field("acts", &self.acts)
            .field("expires", &self.expires)
            .finish()
    }
}

/// Why a token acts on nothing. The messages say what to do, never which
/// check failed beyond "not issued" (no oracle for forgers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error(
        "this status URL was not issued by this app, or was changed: it acts on nothing. Use the statusUrl (Location) of a 202 exactly as given, or call the operation again"
    )]
    NotIssued,
    #[error(
        "this status URL expired at {0}: it acts on nothing. Call the operation again (scale-up, scale-down) for a new one"
    )]
    Expired(String),
}

impl Refused {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refused::NotIssued => "StatusUrlInvalid",
            Refused::Expired(_) => "StatusUrlExpired",
        }
    }
}

/// The sealed form: short names keep URLs short. A field this build does
/// not know is ignored, not refused: the token is authenticated, so only
/// this app's own builds wrote it, and during a rolling deploy an older
/// instance opens a newer instance's URL as far as it understands it (a
/// lease re-held without `li` lives until it expires: the safe side)
/// instead of failing the pipeline's poll with a 403.
#[derive(Serialize, Deserialize)]
struct Sealed {
    pool: String,
    op: String,
    d: u32,
    l: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lm: Option<u32>,
    /// `leaseIdleMinutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    li: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    spot: bool,
    act: bool,
    exp: i64,
}

/// The app's sealing keys: the current one seals and opens, the previous
/// one (during a rotation) only opens.
#[derive(Clone)]
pub(crate) struct StatusUrlKeys {
    current: XChaCha20Poly1305,
    previous: Option<XChaCha20Poly1305>,
}

impl fmt::Debug for StatusUrlKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatusUrlKeys(..)")
    }
}

fn cipher(secret: &Secret) -> XChaCha20Poly1305 {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.secret().as_bytes()).expect("any key length");
    mac.update(KEY_LABEL);
    let key = mac.finalize().into_bytes();
    XChaCha20Poly1305::new(&key)
}

impl StatusUrlKeys {
    pub(crate) fn new(current: &Secret, previous: Option<&Secret>) -> Self {
        Self {
            current: cipher(current),
            previous: previous.map(cipher),
        }
    }

    /// The token for `capability`, under the current key with a fresh nonce.
    pub(crate) fn seal(&self, capability: &Capability) -> String {
        let sealed = Sealed {
            pool: capability.pool_id.as_str().to_owned(),
            op: capability.operation.as_str().to_owned(),
            d: capability.dedicated,
            l: capability.low_priority,
            lease: capability
                .lease
                .as_ref()
                .map(|terms| terms.id.as_str().to_owned()),
            lm: capability.lease.as_ref().and_then(|terms| terms.minutes),
            li: capability
                .lease
                .as_ref()
                .and_then(|terms| terms.idle_minutes),
            spot: capability.fallback_to_dedicated,
            act: capability.acts,
            exp: capability.expires.unix_timestamp(),
        };
        self.seal_plain(&serde_json::to_vec(&sealed).expect("plain data serializes"))
    }

    /// The token for a sealed form's JSON.
    fn seal_plain(&self, plain: &[u8]) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .current
            .encrypt(XNonce::from_slice(&nonce), plain)
            .expect("in-memory encryption of a short message cannot fail");
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        bytes.push(FORMAT);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// What `token` allows at `now`, if this app (current or previous
    /// secret) issued it unchanged and it has not expired.
    pub(crate) fn open(&self, token: &str, now: OffsetDateTime) -> Result<Capability, Refused> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Refused::NotIssued);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Refused::NotIssued)?;
        let Some((&FORMAT, rest)) = bytes.split_first() else {
            return Err(Refused::NotIssued);
        };
        if rest.len() < NONCE_LEN {
            return Err(Refused::NotIssued);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::from_slice(nonce);
        let plain = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find_map(|key| key.decrypt(nonce, sealed).ok())
            .ok_or(Refused::NotIssued)?;
        // Authentic from here on: anything unreadable is a bug of an older
        // or newer build, still not something to act on.
        let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| Refused::NotIssued)?;
        let expires =
            OffsetDateTime::from_unix_timestamp(sealed.exp).map_err(|_| Refused::NotIssued)?;
        if now >= expires {
            let at = expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| sealed.exp.to_string());
            return Err(Refused::Expired(at));
        }
        let operation = match sealed.op.as_str() {
            "scale-up" => Operation::ScaleUp,
            "scale-down" => Operation::ScaleDown,
            _ => return Err(Refused::NotIssued),
        };
        let lease = match sealed.lease {
            Some(id) => Some(LeaseTerms {
                id: id.parse().map_err(|_| Refused::NotIssued)?,
                minutes: sealed.lm,
                idle_minutes: sealed.li,
            }),
            None => None,
        };
        Ok(Capability {
            pool_id: sealed.pool.parse().map_err(|_| Refused::NotIssued)?,
            operation,
            dedicated: sealed.d,
            low_priority: sealed.l,
            lease,
            fallback_to_dedicated: sealed.spot,
            acts: sealed.act,
            expires,
        })
    }
}

/// The status URL that carries `capability`, on the host the caller used:
/// `<scheme>://<host>/api/operation-status?token=<sealed>`.
///
/// Host: what the Functions host forwarded (on Linux it has already set
/// `Host` from `DISGUISED-HOST`), accepted only when it is the app's own
/// public name (`WEBSITE_HOSTNAME`) or loopback (Core Tools, `dev`);
/// anything else would let a caller point `Location` at a foreign host, so
/// the app's own name is used instead. Scheme: `X-Forwarded-Proto` when it
/// is `http` or `https`, else https for a public host and http for loopback.
///
/// No key travels in it: the route is anonymous and the token is the
/// authority (see the module docs).
pub(crate) fn status_url(
    headers: &HeaderMap,
    settings: &Settings,
    keys: &StatusUrlKeys,
    capability: &Capability,
) -> String {
    let token = keys.seal(capability);
    format!(
        "{}/api/operation-status?{TOKEN_PARAM}={token}",
        origin(headers, settings)
    )
}

/// `<scheme>://<host>` of this app, as the caller reached it.
fn origin(headers: &HeaderMap, settings: &Settings) -> String {
    let given = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|h| crate::settings::is_host_name(h) || is_loopback(h));
    let public = settings.public_host.as_deref();
    let host = match given {
        Some(h) if is_loopback(&h) => h,
        Some(h) if public.is_some_and(|p| host_only(&h) == host_only(p)) => h,
        _ => public.unwrap_or("localhost").to_owned(),
    };
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "http" || *p == "https");
    let scheme = forwarded.unwrap_or(if is_loopback(&host) { "http" } else { "https" });
    format!("{scheme}://{host}")
}

/// `host` without its `:port` (IPv6 literals keep their brackets).
fn host_only(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit())
                && (name.ends_with(']') || !name.contains(':')) =>
        {
            name
        }
        _ => host,
    }
}

fn is_loopback(host: &str) -> bool {
    let name = host_only(host);
    let ipv4_loopback = name.starts_with("127.")
        && name.split('.').count() == 4
        && name.split('.').all(|part| part.parse::<u8>().is_ok());
    name == "localhost" || name == "[::1]" || ipv4_loopback
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-07 12:00 UTC);

    fn keys(secret: &str) -> StatusUrlKeys {
        StatusUrlKeys::new(&Secret::new(secret.to_owned()), None)
    }

    fn capability() -> Capability {
        Capability {
            pool_id: "adf-pool".parse().unwrap(),
            operation: Operation::ScaleUp,
            dedicated: 2,
            low_priority: 1,
            lease: Some(LeaseTerms {
                id: "run-7f3c".parse().unwrap(),
                minutes: Some(90),
                idle_minutes: Some(15),
            }),
            fallback_to_dedicated: true,
            acts: true,
            expires: NOW + time::Duration::minutes(60),
        }
    }

    #[test]
    fn a_sealed_capability_opens_to_itself_and_hides_the_lease_id() {
        let keys = keys("a-secret-of-at-least-32-characters!!");
        let token = keys.seal(&capability());
        assert_eq!(keys.open(&token, NOW), Ok(capability()));
        assert!(!token.contains("run-7f3c") && !token.contains("adf-pool"));
        let decoded = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert!(!String::from_utf8_lossy(&decoded).contains("run-7f3c"));
        // Fresh nonces: the same capability never makes the same token twice.
        assert_ne!(token, keys.seal(&capability()));
    }

    #[test]
    fn every_byte_of_a_token_is_under_the_tag() {
        let keys = keys("a-secret-of-at-least-32-characters!!");
        let token = keys.seal(&capability());
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for at in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[at] ^= 0x01;
            assert_eq!(
                keys.open(&URL_SAFE_NO_PAD.encode(&changed), NOW),
                Err(Refused::NotIssued),
                "byte {at} changed"
            );
        }
        let mut shorter = bytes.clone();
        shorter.pop();
        assert_eq!(
            keys.open(&URL_SAFE_NO_PAD.encode(&shorter), NOW),
            Err(Refused::NotIssued)
        );
        for garbage in ["", "x", "!!!", &"A".repeat(5000)] {
            assert_eq!(keys.open(garbage, NOW), Err(Refused::NotIssued));
        }
    }

    #[test]
    fn another_secret_refuses_and_a_previous_one_still_opens() {
        let old = keys("the-old-secret-of-32-characters-or-more");
        let token = old.seal(&capability());
        assert_eq!(
            keys("another-secret-of-32-characters-or-more").open(&token, NOW),
            Err(Refused::NotIssued)
        );
        let rotated = StatusUrlKeys::new(
            &Secret::new("the-new-secret-of-32-characters-or-more"),
            Some(&Secret::new("the-old-secret-of-32-characters-or-more")),
        );
        assert_eq!(rotated.open(&token, NOW), Ok(capability()));
    }

    /// A field a newer build added opens on this one as if absent, so a
    /// poll that lands on an older instance mid-deploy is served.
    #[test]
    fn a_field_this_build_does_not_know_is_ignored() {
        let keys = keys("a-secret-of-at-least-32-characters!!");
        let token = keys.seal(&capability());
        let plain = open_plain(&keys, &token);
        let mut newer: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        newer["zz"] = serde_json::json!(7);
        let newer = keys.seal_plain(&serde_json::to_vec(&newer).unwrap());
        assert_eq!(keys.open(&newer, NOW), Ok(capability()));
    }

    /// The JSON inside `token`, for tests that change it.
    fn open_plain(keys: &StatusUrlKeys, token: &str) -> Vec<u8> {
        let bytes = URL_SAFE_NO_PAD.decode(token).unwrap();
        let (nonce, sealed) = bytes[1..].split_at(NONCE_LEN);
        keys.current
            .decrypt(XNonce::from_slice(nonce), sealed)
            .unwrap()
    }

    #[test]
    fn an_expired_capability_says_when_it_expired() {
        let keys = keys("a-secret-of-at-least-32-characters!!");
        let token = keys.seal(&capability());
        let later = NOW + time::Duration::minutes(60);
        let refused = keys.open(&token, later).unwrap_err();
        assert_eq!(refused, Refused::Expired("2026-12-07T13:00:00Z".into()));
        assert_eq!(refused.code(), "StatusUrlExpired");
    }

    #[test]
    fn debug_shows_fingerprints_not_lease_ids() {
        let shown = format!("{:?}", capability());
        assert!(!shown.contains("run-7f3c"), "{shown}");
    }

    fn settings(public: Option<&str>) -> Settings {
        Settings::from_env(|name| match name {
            "BATCH_ACCOUNT_URL" => Some("https://a.b".into()),
            "BATCH_POOL_ID" => Some("p".into()),
            "WEBSITE_HOSTNAME" => public.map(str::to_owned),
            _ => None,
        })
        .unwrap()
    }

    fn url(host: &str, proto: Option<&str>, public: Option<&str>) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(proto) = proto {
            headers.insert("x-forwarded-proto", proto.parse().unwrap());
        }
        status_url(
            &headers,
            &settings(public),
            &keys("a-secret-of-at-least-32-characters!!"),
            &capability(),
        )
    }

    #[test]
    fn the_public_host_branch_uses_https_and_carries_no_key() {
        let app = Some("myapp.azurewebsites.net");
        let built = url("myapp.azurewebsites.net", Some("https"), app);
        assert!(
            built.starts_with("https://myapp.azurewebsites.net/api/operation-status?token="),
            "{built}"
        );
        assert!(!built.contains("code=") && !built.contains('&'), "{built}");
        assert!(url("MyApp.azurewebsites.net", None, app).starts_with("https://myapp."));
    }

    #[test]
    fn hostile_hosts_never_reach_location() {
        let app = Some("myapp.azurewebsites.net");
        for hostile in [
            "evil.example.com",
            "myapp.azurewebsites.net.evil.com",
            "a@b",
            "x/y",
        ] {
            let built = url(hostile, Some("https"), app);
            assert!(
                built.starts_with("https://myapp.azurewebsites.net/"),
                "{hostile}: {built}"
            );
        }
        // Locally (no WEBSITE_HOSTNAME) only loopback names pass.
        assert!(url("evil.example.com", None, None).starts_with("http://localhost/"));
        assert!(url("127.0.0.1:7071", None, None).starts_with("http://127.0.0.1:7071/"));
        assert!(url("[::1]:7071", None, None).starts_with("http://[::1]:7071/"));
        assert!(url("127.0.0.1.evil.com", None, None).starts_with("http://localhost/"));
        // A scheme that is not http or https is ignored.
        assert!(url("myapp.azurewebsites.net", Some("javascript"), app).starts_with("https://"));
    }
}

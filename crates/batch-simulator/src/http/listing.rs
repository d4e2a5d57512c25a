//! Rendering entities as the service does: one with `$select`, or a page of a list with
//! `$filter`, `$select`, `maxresults` and `$skiptoken` (see [`crate::odata`]).
//!
//! Filters are evaluated against each entity's wire JSON, so they see exactly the fields
//! and values a client sees.

use serde::Serialize;
use serde_json::Value;

use super::extract::Query;
use crate::errors::ApiError;
use crate::odata::{apply_select, parse_filter, parse_select};
use crate::wire::{ListPage, WithMeta};

pub fn to_json<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|_| ApiError::internal("InternalError"))
}

/// One list page. `items` are `(key, entity)` sorted by key; the key of the last entity
/// of a full page becomes the `$skiptoken` of `odata.nextLink`.
pub fn list_page<T: Serialize>(
    items: Vec<(String, T)>,
    q: &Query,
    metadata: String,
    next_base: &str,
) -> Result<String, ApiError> {
    let filter = match q.get("$filter") {
        Some(f) => Some(parse_filter(f).map_err(|e| ApiError::invalid_query("$filter", f, &e.0))?),
        None => None,
    };
    let max = match q.get("maxresults") {
        None => 1000usize,
        Some(s) => {
            let n: i64 = s.parse().map_err(|_| {
                ApiError::invalid_query("maxresults", s, "MaxResults must be an integer")
            })?;
            if n < 1 {
                return Err(ApiError::invalid_query(
                    "maxresults",
                    s,
                    "MaxResults cannot be less than 1",
                ));
            }
            if n > 1000 {
                return Err(ApiError::invalid_query(
                    "maxresults",
                    s,
                    "MaxResults cannot be greater than 1000",
                ));
            }
            n as usize
        }
    };
    let after = q.get("$skiptoken").map(str::to_string);
    let select = q.get("$select").map(parse_select);
    let mut out: Vec<Value> = Vec::new();
    let mut next = None;
    for (key, item) in items {
        if after.as_ref().is_some_and(|a| key.as_str() <= a.as_str()) {
            continue;
        }
        let mut v = serde_json::to_value(&item).map_err(|_| ApiError::internal("InternalError"))?;
        if let Some(f) = &filter
            && !f.matches(&v)
        {
            continue;
        }
        if out.len() == max {
            next = out
                .last()
                .and_then(|l| l.get("id").or_else(|| l.get("poolId")))
                .and_then(Value::as_str)
                .map(str::to_string);
            break;
        }
        if let Some(s) = &select {
            // Keep the key so paging still works, drop it afterwards.
            apply_select(
                &mut v,
                &[s.clone(), vec!["id".into(), "poolId".into()]].concat(),
            );
        }
        out.push(v);
    }
    let next_link = next.map(|last| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.pairs {
            if !k.eq_ignore_ascii_case("$skiptoken") {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("$skiptoken", &last);
        format!("{next_base}?{}", ser.finish())
    });
    if let Some(s) = &select {
        let keep_id = s.iter().any(|x| x.eq_ignore_ascii_case("id"));
        let keep_pid = s.iter().any(|x| x.eq_ignore_ascii_case("poolId"));
        for v in &mut out {
            if let Value::Object(m) = v {
                if !keep_id {
                    m.remove("id");
                }
                if !keep_pid {
                    m.remove("poolId");
                }
            }
        }
    }
    to_json(&ListPage {
        metadata,
        value: out,
        next_link,
    })
}

/// One entity, with `$select` applied.
pub fn single<T: Serialize>(item: &T, q: &Query, metadata: String) -> Result<String, ApiError> {
    match q.get("$select") {
        None => to_json(&WithMeta {
            metadata,
            inner: item,
        }),
        Some(s) => {
            let mut v =
                serde_json::to_value(item).map_err(|_| ApiError::internal("InternalError"))?;
            apply_select(&mut v, &parse_select(s));
            if let Value::Object(m) = &mut v {
                m.insert("odata.metadata".into(), Value::String(metadata));
            }
            to_json(&v)
        }
    }
}

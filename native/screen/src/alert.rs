//! An alert's reason and its flat record, as `alerts.evidence.reason` and `sinks.base.flat`
//! make them.
//!
//! Fed by: `alerts.evidence` (the reason of an excerpt) and `sinks.base` (the record of an
//! alert for JSON lines and tables). Feeds: the same places, with the same answer.
//!
//! Both are a few dozen dict reads and a dict or a string built from them: in Python some
//! 2 µs per alert, which a query that matches every event pays per event. Each reads the
//! shape the Python code builds (dicts, lists and strings, of exactly those types, where it
//! puts them); anything else gives None, and the caller takes the Python function, which
//! answers or raises as always.

use std::fmt::Write;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};
use sha2::{Digest, Sha256};

/// `mapping[key]` of a dict, or None where `mapping` holds no `key`.
fn item<'py>(
    mapping: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> Option<Bound<'py, PyAny>> {
    mapping.get_item(key).ok().flatten()
}

/// `mapping[key]` as a dict.
fn dict<'py>(
    mapping: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> Option<Bound<'py, PyDict>> {
    item(mapping, key)?.cast_into_exact::<PyDict>().ok()
}

/// `mapping[key]` as a list.
fn list<'py>(
    mapping: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> Option<Bound<'py, PyList>> {
    item(mapping, key)?.cast_into_exact::<PyList>().ok()
}

/// `mapping.get(key)` as a string: `Some(None)` where it is absent, None where it is not a
/// string (the caller's answer would then be Python's to give). Borrowed from the Python
/// string, which `mapping` holds for as long as the borrow lives.
fn text<'py>(
    mapping: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> Option<Option<Text<'py>>> {
    match item(mapping, key) {
        None => Some(None),
        Some(value) => Some(Some(Text(value.cast_into_exact::<PyString>().ok()?))),
    }
}

/// A Python string read as UTF-8 (one that is not has no text: the caller gives up).
struct Text<'py>(Bound<'py, PyString>);

impl Text<'_> {
    fn str(&self) -> Option<&str> {
        self.0.to_str().ok()
    }
}

/// An optional text's `str`: `Some(None)` where it is absent, None where it is not UTF-8.
fn str_of<'a>(value: &'a Option<Text<'_>>) -> Option<Option<&'a str>> {
    match value {
        None => Some(None),
        Some(found) => Some(Some(found.str()?)),
    }
}

/// `evidence.reason` of an excerpt: ``system:anonymous was allowed to get /api from 10.0.0.1``.
pub fn reason_of(event: &Bound<'_, PyDict>) -> Option<String> {
    let py = event.py();
    let user = dict(event, intern!(py, "user"))?;
    let name = text(&user, intern!(py, "username"))?;
    let impersonated = match item(event, intern!(py, "impersonatedUser")) {
        None => None,
        Some(found) => text(
            &found.cast_into_exact::<PyDict>().ok()?,
            intern!(py, "username"),
        )?,
    };
    let verb = text(event, intern!(py, "verb"))?;
    let decision = text(event, intern!(py, "decision"))?;
    let uri = text(event, intern!(py, "requestURI"))?;
    let ips = list(event, intern!(py, "sourceIPs"))?;
    let first_ip = match ips.get_item(0) {
        Ok(first) => Some(Text(first.cast_into_exact::<PyString>().ok()?)),
        Err(_) => None,
    };
    // One string, written in place: a format! per part cost more than the reading.
    let mut out = String::with_capacity(160);
    match str_of(&name)? {
        Some(name) if !name.is_empty() => out.push_str(name),
        _ => out.push_str("a request without a username"),
    }
    if let Some(name) = str_of(&impersonated)? {
        if !name.is_empty() {
            out.push_str(" (impersonating ");
            out.push_str(name);
            out.push(')');
        }
    }
    let verb = str_of(&verb)?.unwrap_or("request");
    match str_of(&decision)? {
        Some("allow") => {
            out.push_str(" was allowed to ");
            out.push_str(verb);
        }
        Some("forbid") => {
            out.push_str(" was denied ");
            out.push_str(verb);
            out.push_str(" on");
        }
        _ => {
            out.push_str(" made a ");
            out.push_str(verb);
            out.push_str(" request to");
        }
    }
    out.push(' ');
    match str_of(&uri)? {
        Some(uri) if !uri.is_empty() => out.push_str(uri),
        _ => out.push_str("(no URI)"),
    }
    if let Some(ip) = first_ip {
        out.push_str(" from ");
        out.push_str(ip.str()?);
    }
    if ips.len() > 1 {
        write!(out, " (+{} more)", ips.len() - 1).ok()?;
    }
    Some(out)
}

/// The reason of an excerpt, or None where it is not of the excerpt's shape. The native alert
/// makes its reason with `reason_of`; this is exported so that the tests hold it to Python's
/// on excerpts of any shape (called from Python, it is no faster than Python).
#[pyfunction]
pub fn reason(event: &Bound<'_, PyAny>) -> Option<String> {
    reason_of(event.cast_exact::<PyDict>().ok()?)
}

/// The ids of a rule's threats: each tactic's, then its techniques' and their subtechniques'.
fn threat_ids<'py>(rule: &Bound<'py, PyDict>) -> Option<Bound<'py, PyList>> {
    let py = rule.py();
    let ids = PyList::empty(py);
    let id = intern!(py, "id");
    for threat in list(rule, intern!(py, "threat"))?.iter() {
        let threat = threat.cast_into_exact::<PyDict>().ok()?;
        ids.append(item(&dict(&threat, intern!(py, "tactic"))?, id)?)
            .ok()?;
        for technique in list(&threat, intern!(py, "technique"))?.iter() {
            let technique = technique.cast_into_exact::<PyDict>().ok()?;
            ids.append(item(&technique, id)?).ok()?;
            for sub in list(&technique, intern!(py, "subtechnique"))?.iter() {
                ids.append(item(&sub.cast_into_exact::<PyDict>().ok()?, id)?)
                    .ok()?;
            }
        }
    }
    Some(ids)
}

/// `value or fallback`, by Python's truth.
fn or<'py>(
    value: Option<Bound<'py, PyAny>>,
    fallback: impl FnOnce() -> Option<Bound<'py, PyAny>>,
) -> Option<Bound<'py, PyAny>> {
    match value {
        Some(found) if found.is_truthy().ok()? => Some(found),
        _ => fallback(),
    }
}

fn flat_of<'py>(alert: &Bound<'py, PyDict>) -> Option<Bound<'py, PyDict>> {
    let py = alert.py();
    let none = || py.None().into_bound(py);
    let spec = dict(alert, intern!(py, "spec"))?;
    let rule = dict(&spec, intern!(py, "rule"))?;
    let event = dict(&spec, intern!(py, "event"))?;
    let user = dict(&event, intern!(py, "user"))?;
    let threats = threat_ids(&rule)?;
    let audit_id = item(&event, intern!(py, "auditID"))?;
    let get = |mapping: &Bound<'py, PyDict>, key: &Bound<'py, PyString>| {
        item(mapping, key).unwrap_or_else(none)
    };
    let record = PyDict::new(py);
    let put =
        |key: &Bound<'py, PyString>, value: Bound<'py, PyAny>| record.set_item(key, value).ok();
    put(intern!(py, "alert"), item(alert, intern!(py, "name"))?)?;
    put(intern!(py, "rule"), item(&rule, intern!(py, "name"))?)?;
    put(intern!(py, "ruleId"), item(&rule, intern!(py, "ruleId"))?)?;
    put(
        intern!(py, "severity"),
        item(&rule, intern!(py, "severity"))?,
    )?;
    put(
        intern!(py, "riskScore"),
        item(&rule, intern!(py, "riskScore"))?,
    )?;
    put(
        intern!(py, "timestamp"),
        get(&spec, intern!(py, "eventTime")),
    )?;
    put(intern!(py, "auditID"), audit_id.clone())?;
    put(intern!(py, "stage"), item(&event, intern!(py, "stage"))?)?;
    put(intern!(py, "user"), get(&user, intern!(py, "username")))?;
    let groups = item(&user, intern!(py, "groups")).unwrap_or_else(|| PyList::empty(py).into_any());
    put(intern!(py, "groups"), groups)?;
    put(
        intern!(py, "sourceIPs"),
        item(&event, intern!(py, "sourceIPs"))?,
    )?;
    for key in [
        intern!(py, "verb"),
        intern!(py, "requestURI"),
        intern!(py, "objectRef"),
    ] {
        put(key, get(&event, key))?;
    }
    for key in [
        intern!(py, "decision"),
        intern!(py, "responseCode"),
        intern!(py, "userAgent"),
    ] {
        put(key, get(&event, key))?;
    }
    put(intern!(py, "threat"), threats.into_any())?;
    put(intern!(py, "reason"), item(&spec, intern!(py, "reason"))?)?;
    let events = or(item(&spec, intern!(py, "auditIDs")), || {
        PyList::new(py, [audit_id]).ok().map(Bound::into_any)
    })?;
    put(intern!(py, "events"), events)?;
    put(
        intern!(py, "group"),
        or(item(&spec, intern!(py, "group")), || {
            Some(PyDict::new(py).into_any())
        })?,
    )?;
    put(
        intern!(py, "count"),
        or(item(&spec, intern!(py, "count")), || {
            1.into_bound_py_any(py).ok()
        })?,
    )?;
    if let Some(impersonated) = item(&event, intern!(py, "impersonatedUser")) {
        let impersonated = impersonated.cast_into_exact::<PyDict>().ok()?;
        put(
            intern!(py, "impersonatedUser"),
            get(&impersonated, intern!(py, "username")),
        )?;
    }
    Some(record)
}

/// The flat record of an alert, or None where it is not of the alert's shape.
#[pyfunction]
pub fn flat<'py>(alert: &Bound<'py, PyAny>) -> Option<Bound<'py, PyDict>> {
    flat_of(alert.cast_exact::<PyDict>().ok()?)
}

/// `identity.alert_name`'s digest: the first 20 hex digits of the SHA-256 of the rule's name
/// and the key's strings, each after a NUL; None where a part is not a string of UTF-8 (Python
/// raises then).
fn digest(rule_name: &str, key: &Bound<'_, PyTuple>) -> Option<String> {
    let mut hasher = Sha256::new();
    hasher.update(rule_name.as_bytes());
    for part in key.iter() {
        hasher.update(b"\0");
        hasher.update(
            part.cast_into_exact::<PyString>()
                .ok()?
                .to_str()
                .ok()?
                .as_bytes(),
        );
    }
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(20);
    for byte in &hasher.finalize()[..10] {
        hex.push(DIGITS[usize::from(byte >> 4)] as char);
        hex.push(DIGITS[usize::from(byte & 15)] as char);
    }
    Some(hex)
}

/// The parts of a query rule's alert that `evidence.build` takes from its rule.
pub struct RuleParts<'a, 'py> {
    /// The alert's ``rule`` (copied into each alert).
    pub part: &'a Bound<'py, PyDict>,
    /// Its labels (copied into each alert).
    pub labels: &'a Bound<'py, PyDict>,
    /// The rule's name, as its alerts' names are hashed from it.
    pub name: &'a str,
    /// What their names start with (``identity.name_prefix``).
    pub prefix: &'a str,
}

/// `evidence.build` of one event's finding of a query rule, given its excerpt: None where
/// Python must make it (a reason or a name this code does not make alike).
pub fn assemble<'py>(
    rule: &RuleParts<'_, 'py>,
    key: &Bound<'py, PyTuple>,
    evidence: Bound<'py, PyDict>,
    detected: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = evidence.py();
    let (Some(reason), Some(digest)) = (reason_of(&evidence), digest(rule.name, key)) else {
        return Ok(None);
    };
    let spec = PyDict::new(py);
    spec.set_item(intern!(py, "rule"), rule.part.copy()?)?;
    spec.set_item(intern!(py, "reason"), reason)?;
    spec.set_item(intern!(py, "detectedTime"), detected)?;
    let stamp = item(&evidence, intern!(py, "stageTimestamp"));
    spec.set_item(intern!(py, "event"), evidence)?;
    spec.set_item(intern!(py, "workflowStatus"), intern!(py, "open"))?;
    if let Some(stamp) = stamp {
        spec.set_item(intern!(py, "eventTime"), stamp)?;
    }
    let alert = PyDict::new(py);
    alert.set_item(intern!(py, "name"), format!("{}-{digest}", rule.prefix))?;
    alert.set_item(intern!(py, "labels"), rule.labels.copy()?)?;
    alert.set_item(intern!(py, "spec"), spec)?;
    Ok(Some(alert))
}

//! An alert's excerpt of its event, as `audithound.alerts.evidence.excerpt` builds it.
//!
//! Fed by: `audithound.alerts.evidence`, with the redaction's triggers and the Python
//! functions that cut and redact one string; then each event that becomes an alert.
//! Feeds: the alert (`evidence.build`), exactly as the Python excerpt would.
//!
//! The Python excerpt is mostly calls: some 40 per event to read the allowlisted fields, test
//! their types and pass every string through redaction, though nearly every string is left as
//! it is. Here the same walk runs without them, and a string goes to Python only when
//! redaction could change it: when it is not ASCII (Python folds case by Unicode), longer than
//! the cut, or holds one of redaction's triggers (case-insensitive, as Python tests them on the
//! folded string). A string without a trigger is one that `redact.text` returns unchanged (its
//! rules all need one), so the answer is Python's either way; the tests compare the two.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

use crate::alert;

/// The keys of `objectRef` that an excerpt keeps, in its order.
const OBJECT_REF_FIELDS: [&str; 6] = [
    "resource",
    "subresource",
    "namespace",
    "name",
    "apiGroup",
    "apiVersion",
];

/// `urllib.parse.unquote(raw, "latin-1")` of ASCII `raw`, as bytes (one per character): `%`
/// and two hex digits is that byte, anything else itself. Latin-1 folds no character to ASCII,
/// so the triggers are found in these bytes where Python finds them in the decoded string.
fn unquoted(raw: &[u8]) -> Vec<u8> {
    let hex = |byte: u8| (byte as char).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        if raw[at] == b'%' && at + 2 < raw.len() {
            if let (Some(high), Some(low)) = (hex(raw[at + 1]), hex(raw[at + 2])) {
                out.push((high * 16 + low) as u8);
                at += 3;
                continue;
            }
        }
        out.push(raw[at]);
        at += 1;
    }
    out
}

#[pyclass(frozen, module = "audithound_screen")]
pub struct Excerpt {
    /// Redaction's triggers, ASCII case-insensitive, overlapping matches reported.
    triggers: AhoCorasick,
    /// Per pattern of `triggers`: whether it counts only when no ASCII letter follows.
    word: Vec<bool>,
    /// The bytes a string of `fresh` may hold and be left as it is.
    inert: [bool; 256],
    /// The longest string, in characters, that is not cut.
    limit: usize,
    /// `str -> str`: one string cut and redacted (`evidence._string`).
    text: Py<PyAny>,
    /// `str -> str`: the same for a string new in every event (`evidence._fresh`).
    fresh: Py<PyAny>,
    /// `str -> str`: a request URI cut and redacted (`redact.uri` of `evidence._cut`).
    uri: Py<PyAny>,
    /// The keys of an annotation of the decision and of its reason.
    decision: Py<PyString>,
    reason: Py<PyString>,
    /// `OBJECT_REF_FIELDS`, as Python strings made once.
    object_ref_fields: Vec<Py<PyString>>,
}

impl Excerpt {
    /// Whether `value` holds a trigger, as redaction's `_triggered` reads an ASCII string.
    fn triggered(&self, value: &[u8]) -> bool {
        self.triggers.find_overlapping_iter(value).any(|found| {
            !self.word[found.pattern().as_usize()]
                || !value.get(found.end()).is_some_and(u8::is_ascii_alphabetic)
        })
    }

    /// Whether `value` is ASCII and no longer than the cut: a string this code can judge.
    fn plain<'a>(&self, value: &'a Bound<'_, PyString>) -> Option<&'a [u8]> {
        let text = value.to_str().ok()?;
        (text.len() <= self.limit && text.is_ascii()).then_some(text.as_bytes())
    }

    /// `evidence._string`: the string, or Python's cut and redacted form of it.
    fn string<'py>(&self, value: Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
        match self.plain(&value) {
            Some(bytes) if !self.triggered(bytes) => Ok(value.into_any()),
            _ => self.text.bind(value.py()).call1((value,)),
        }
    }

    /// `evidence._text`: a non-empty string, cut and redacted; None otherwise.
    fn optional<'py>(
        &self,
        value: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match value.and_then(|v| v.cast_into::<PyString>().ok()) {
            Some(text) if text.len()? > 0 => self.string(text).map(Some),
            _ => Ok(None),
        }
    }

    /// `evidence._fresh`: the string when it holds inert characters alone.
    fn fresh<'py>(&self, value: Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
        match self.plain(&value) {
            Some(bytes) if bytes.iter().all(|&b| self.inert[b as usize]) => Ok(value.into_any()),
            _ => self.fresh.bind(value.py()).call1((value,)),
        }
    }

    /// The request URI: left as it is without a trigger, an escape or an exec's argv.
    /// As `redact.uri` decides it: one with escapes is left too when, decoded, it holds neither
    /// (a selector's `%3D`).
    fn uri<'py>(&self, value: Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
        let clean = |bytes: &[u8]| {
            memchr::memmem::find(bytes, b"command=").is_none() && !self.triggered(bytes)
        };
        match self.plain(&value) {
            Some(bytes) if memchr::memchr(b'%', bytes).is_none() && clean(bytes) => {
                Ok(value.into_any())
            }
            Some(bytes) if memchr::memchr(b'%', bytes).is_some() && clean(&unquoted(bytes)) => {
                Ok(value.into_any())
            }
            _ => self.uri.bind(value.py()).call1((value,)),
        }
    }

    /// `evidence._user`: username, uid and groups of a user object.
    fn user<'py>(
        &self,
        py: Python<'py>,
        raw: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let user = PyDict::new(py);
        let Some(raw) = raw.and_then(|r| r.cast_into::<PyDict>().ok()) else {
            return Ok(user);
        };
        for key in [intern!(py, "username"), intern!(py, "uid")] {
            if let Some(value) = self.optional(raw.get_item(key)?)? {
                user.set_item(key, value)?;
            }
        }
        if let Some(groups) = raw.get_item(intern!(py, "groups"))? {
            if let Ok(groups) = groups.cast::<PyList>() {
                user.set_item(intern!(py, "groups"), self.strings(py, groups)?)?;
            }
        }
        Ok(user)
    }

    /// The strings of a list, each cut and redacted; its other items left out.
    fn strings<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for item in items.iter() {
            if let Ok(text) = item.cast_into::<PyString>() {
                out.append(self.string(text)?)?;
            }
        }
        Ok(out)
    }

    /// `evidence._object_ref`: the kept keys of an object reference, or None without any.
    fn object_ref<'py>(
        &self,
        py: Python<'py>,
        raw: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(raw) = raw.and_then(|r| r.cast_into::<PyDict>().ok()) else {
            return Ok(None);
        };
        let out = PyDict::new(py);
        for key in &self.object_ref_fields {
            let key = key.bind(py);
            if let Some(value) = self.optional(raw.get_item(key)?)? {
                out.set_item(key, value)?;
            }
        }
        Ok((out.len() > 0).then_some(out))
    }
}

#[pymethods]
impl Excerpt {
    /// `triggers`: the literals one of which every redaction rule needs; `words`: those that
    /// count only when no letter follows them; `inert`: the characters no trigger is spelled
    /// with; `limit`: the cut, in characters; then the three Python functions that redact.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        triggers: Vec<String>,
        words: Vec<String>,
        inert: &str,
        limit: usize,
        text: Py<PyAny>,
        fresh: Py<PyAny>,
        uri: Py<PyAny>,
        annotations: (String, String),
    ) -> PyResult<Excerpt> {
        if !triggers
            .iter()
            .chain(&words)
            .chain([&inert.to_string()])
            .all(|t| t.is_ascii())
        {
            return Err(PyValueError::new_err(
                "triggers and inert characters must be ASCII",
            ));
        }
        let word = triggers
            .iter()
            .map(|_| false)
            .chain(words.iter().map(|_| true))
            .collect();
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(triggers.iter().chain(&words))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut table = [false; 256];
        for byte in inert.bytes() {
            table[byte as usize] = true;
        }
        Ok(Excerpt {
            triggers: automaton,
            word,
            inert: table,
            limit,
            text,
            fresh,
            uri,
            decision: PyString::new(py, &annotations.0).unbind(),
            reason: PyString::new(py, &annotations.1).unbind(),
            object_ref_fields: OBJECT_REF_FIELDS
                .iter()
                .map(|key| PyString::intern(py, key).unbind())
                .collect(),
        })
    }

    /// A query rule's alert for one event (`evidence.build` of a finding of one event, named
    /// by `key`), or None where Python must make it.
    #[allow(clippy::too_many_arguments)]
    fn alert<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyDict>,
        key: &Bound<'py, PyTuple>,
        name: &str,
        prefix: &str,
        part: &Bound<'py, PyDict>,
        labels: &Bound<'py, PyDict>,
        detected: &Bound<'py, PyString>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let rule = alert::RuleParts {
            part,
            labels,
            name,
            prefix,
        };
        alert::assemble(&rule, key, self.__call__(py, event)?, detected)
    }

    /// The allowlisted fields of a raw audit event, in the alert's wire shape, redacted.
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let get = |key: &Bound<'py, PyString>| event.get_item(key);
        let annotations =
            get(intern!(py, "annotations"))?.and_then(|a| a.cast_into::<PyDict>().ok());
        let annotation = |key: &Py<PyString>| match &annotations {
            Some(found) => found.get_item(key.bind(py)),
            None => Ok(None),
        };
        // ``str(event.get(key, ""))``: whatever the value, its str().
        let text_of = |key: &Bound<'py, PyString>| -> PyResult<Bound<'py, PyString>> {
            match get(key)? {
                Some(value) => value.str(),
                None => Ok(PyString::new(py, "")),
            }
        };
        let out = PyDict::new(py);
        out.set_item(
            intern!(py, "auditID"),
            self.fresh(text_of(intern!(py, "auditID"))?)?,
        )?;
        out.set_item(
            intern!(py, "stage"),
            self.string(text_of(intern!(py, "stage"))?)?,
        )?;
        out.set_item(
            intern!(py, "user"),
            self.user(py, get(intern!(py, "user"))?)?,
        )?;
        let ips = match get(intern!(py, "sourceIPs"))?.and_then(|i| i.cast_into::<PyList>().ok()) {
            Some(ips) => self.strings(py, &ips)?,
            None => PyList::empty(py),
        };
        out.set_item(intern!(py, "sourceIPs"), ips)?;
        if let Some(verb) = self.optional(get(intern!(py, "verb"))?)? {
            out.set_item(intern!(py, "verb"), verb)?;
        }
        if let Some(uri) =
            get(intern!(py, "requestURI"))?.and_then(|u| u.cast_into::<PyString>().ok())
        {
            if uri.len()? > 0 {
                out.set_item(intern!(py, "requestURI"), self.uri(uri)?)?;
            }
        }
        if let Some(agent) = self.optional(get(intern!(py, "userAgent"))?)? {
            out.set_item(intern!(py, "userAgent"), agent)?;
        }
        if let Some(decision) = self.optional(annotation(&self.decision)?)? {
            out.set_item(intern!(py, "decision"), decision)?;
        }
        if let Some(reason) = self.optional(annotation(&self.reason)?)? {
            out.set_item(intern!(py, "authorizationReason"), reason)?;
        }
        if let Some(stamp) =
            get(intern!(py, "stageTimestamp"))?.and_then(|s| s.cast_into::<PyString>().ok())
        {
            if stamp.len()? > 0 {
                out.set_item(intern!(py, "stageTimestamp"), self.fresh(stamp)?)?;
            }
        }
        if let Some(reference) = self.object_ref(py, get(intern!(py, "objectRef"))?)? {
            out.set_item(intern!(py, "objectRef"), reference)?;
        }
        let impersonated = self.user(py, get(intern!(py, "impersonatedUser"))?)?;
        if impersonated.len() > 0 {
            out.set_item(intern!(py, "impersonatedUser"), impersonated)?;
        }
        if let Some(status) =
            get(intern!(py, "responseStatus"))?.and_then(|s| s.cast_into::<PyDict>().ok())
        {
            if let Some(code) = status.get_item(intern!(py, "code"))? {
                if code.is_instance_of::<PyInt>() {
                    out.set_item(intern!(py, "responseCode"), code)?;
                }
            }
        }
        Ok(out)
    }
}

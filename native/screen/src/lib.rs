//! AuditHound's native screen: whether any rule of a set can match one audit line. (The
//! crate's other parts, `excerpt` and `alert`, build a query rule's alert of one event and an
//! alert's flat record: see there.)
//!
//! Fed by: `audithound.rules.prescreen`, which lowers a rule set to a program (JSON: the
//! fields the rules read and one condition per rule); then the readers, with each line (the
//! live log) or a block of lines (`sift`, `scan`'s files).
//! Feeds: the readers' screen, which drops a line the screen answers "no" for and decodes every
//! other line whole, as without it.
//!
//! The screen answers "no" only when it is sure: the line is one JSON object of the usual shape
//! of an audit event (`auditID`, `stage`, `kind`, `apiVersion` as API servers write them), each
//! field a rule tests is absent, `null` or a value of its type (a string or an array of
//! strings; an integer for an integer field; addresses), no object on the way holds a dotted key
//! or a key twice, and every rule's condition is false on those values whatever its unknown
//! parts say (a test of a value of another type is unknown too). Anything else is "maybe", and
//! Python decides as before: invalid JSON, other shapes, escapes of surrogates. So the screen
//! only has to agree with Python's view of a field on the plain shape, where the view reads one
//! key per segment (DECODING.md has the argument; the tests compare the two).

mod alert;
mod excerpt;

use std::borrow::Cow;
use std::fmt;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The annotation `event.outcome` is made from (`allow` is success, `forbid` failure).
const DECISION: &str = "authorization.k8s.io/decision";
/// The `apiVersion` values of an audit event (`source.decode.AUDIT_API_VERSIONS`).
const API_VERSIONS: [&str; 2] = ["audit.k8s.io/v1", "audit.k8s.io/v1beta1"];
/// Lines with more `[` and `{` than this (in strings too) are "maybe": so no line the screen
/// rejects nests deeper than the Python decoders and the view go (orjson refuses 1,024 levels,
/// msgspec fewer; the view walks values by recursion), while the screen's parser has no limit.
const MAX_BRACKETS: usize = 256;
/// The top-level keys that make a line an event (`source.decode.is_event`).
const SHAPE_KEYS: [&str; 4] = ["auditID", "stage", "kind", "apiVersion"];

// ----- the program, as Python lowers it -----

/// One field a rule reads, and where the raw event holds it.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum FieldSpec {
    /// A string at a literal path of one or two keys.
    Text { path: Vec<String> },
    /// An integer at a literal path of one or two keys (`responseStatus.code`).
    Integer { path: Vec<String> },
    /// Addresses at a literal path, as `source.ip` converts `sourceIPs`: all, or none when
    /// one is no address.
    Ips { path: Vec<String> },
    /// `event.outcome`: `success`/`failure` from the decision annotation.
    Outcome,
    /// An annotation, by its de-dotted key: the smallest raw key that de-dots to it.
    Annotation { key: String },
}

/// A rule's condition over the fields.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expr {
    All(Vec<Expr>),
    Any(Vec<Expr>),
    Not(Box<Expr>),
    Const(bool),
    /// A part the screen does not read (Python does): it may hold or not.
    Unknown,
    /// The program's test of this position (each test runs at most once per line).
    Test(usize),
}

/// A condition on one field, shared by the rules that make it.
#[derive(Deserialize)]
struct Test {
    field: usize,
    value: Cond,
}

/// A condition on one field's value.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Cond {
    /// The string is one of these.
    Equals(Vec<String>),
    /// The string matches the glob whose literal pieces between `*` are these.
    Glob(Vec<String>),
    /// The field has a value.
    Exists,
    /// The integer is one of these.
    Integers(Vec<i64>),
    /// An address is one of these (128-bit numbers, IPv4 mapped into IPv6, as decimal text).
    Addresses(Vec<Number>),
    /// An address is inside one of these networks (first and last numbers).
    Networks(Vec<(Number, Number)>),
    Any(Vec<Cond>),
    All(Vec<Cond>),
    Not(Box<Cond>),
}

/// A 128-bit number, written as decimal text (JSON numbers stop short of it).
struct Number(u128);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map(Number).map_err(de::Error::custom)
    }
}

#[derive(Deserialize)]
struct Program {
    fields: Vec<FieldSpec>,
    tests: Vec<Test>,
    rules: Vec<Expr>,
}

// ----- what one line is parsed for -----

/// A top-level key the parse keeps: its value, or the keys read inside it.
struct TopKey {
    key: String,
    children: Vec<String>,
}

/// Where each field's value comes from, in the parsed line.
enum Source {
    Leaf {
        top: usize,
        kind: Kind,
    },
    Child {
        top: usize,
        child: usize,
        kind: Kind,
    },
    Outcome,
    Annotation(usize),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Integer,
    Ips,
}

struct Plan {
    top: Vec<TopKey>,
    /// Per key length, the positions in `top` of the keys of that length: most keys of a line
    /// are not read, and a length is the cheapest way to tell.
    by_length: Vec<Vec<usize>>,
    /// Position of `annotations` in `top`, when a field reads it.
    annotations: Option<usize>,
    /// The de-dotted annotation keys read.
    annotation_keys: Vec<String>,
}

/// A raw value as far as the screen reads it.
enum Slot<'a> {
    Absent,
    Null,
    Str(Cow<'a, str>),
    Int(i64),
    /// An array of strings and nulls: the strings, and whether there was a null.
    List(Vec<Cow<'a, str>>, bool),
    /// A number that is not an i64, a boolean, another array, or an object not read inside.
    Other,
    Object(Vec<Slot<'a>>),
}

/// A field's value on the plain shape; anything else makes the line "maybe".
enum Value<'a> {
    Absent,
    Str(&'a str),
    /// The non-empty strings of an array (two or more, or one: as the view lists them).
    List(Vec<&'a str>),
    Int(i64),
    /// Addresses, as 128-bit numbers.
    Ips(Vec<u128>),
}

/// What was read of the annotations: the decision, and per key the smallest raw key seen.
struct Annotations<'a> {
    present: bool,
    decision: Slot<'a>,
    best: Vec<Option<(Cow<'a, str>, Slot<'a>)>>,
}

/// Stops the parse: the screen cannot answer for this line, which is then "maybe".
#[derive(Debug)]
struct Unsure;

impl fmt::Display for Unsure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not the plain shape")
    }
}

impl std::error::Error for Unsure {}

/// A key as written, borrowed from the line when it holds no escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Reads one value: a scalar kept, or (with `children`) an object's keys read inside.
struct SlotSeed<'p> {
    children: &'p [String],
}

impl<'de, 'p> DeserializeSeed<'de> for SlotSeed<'p> {
    type Value = Slot<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Slot<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'p> Visitor<'de> for SlotSeed<'p> {
    type Value = Slot<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Slot<'de>, E> {
        Ok(Slot::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot<'de>, E> {
        Ok(Slot::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Slot<'de>, E> {
        Ok(Slot::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Slot<'de>, E> {
        Ok(i64::try_from(v).map_or(Slot::Other, Slot::Int))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Slot<'de>, E> {
        Ok(Slot::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Slot<'de>, E> {
        Ok(Slot::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Slot<'de>, E> {
        Ok(Slot::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot<'de>, A::Error> {
        let mut items = Vec::new();
        let mut plain = true;
        let mut null = false;
        while let Some(item) = seq.next_element_seed(SlotSeed { children: &[] })? {
            match item {
                Slot::Str(text) => items.push(text),
                Slot::Null => null = true,
                _ => plain = false, // numbers, booleans, objects, arrays in arrays
            }
        }
        Ok(if plain {
            Slot::List(items, null)
        } else {
            Slot::Other
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slot<'de>, A::Error> {
        if self.children.is_empty() {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Slot::Other);
        }
        let mut slots: Vec<Slot<'de>> = self.children.iter().map(|_| Slot::Absent).collect();
        while let Some(Key(key)) = map.next_key()? {
            if key.contains('.') {
                return Err(de::Error::custom(Unsure));
            }
            match self.children.iter().position(|child| *child == key) {
                Some(at) => {
                    if !matches!(slots[at], Slot::Absent) {
                        return Err(de::Error::custom(Unsure)); // a key twice
                    }
                    slots[at] = map.next_value_seed(SlotSeed { children: &[] })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Slot::Object(slots))
    }
}

/// Reads the annotations map: the decision, and the smallest raw key per de-dotted key.
struct AnnotationsSeed<'p, 'a> {
    keys: &'p [String],
    into: &'p mut Annotations<'a>,
}

impl<'de, 'p> DeserializeSeed<'de> for AnnotationsSeed<'p, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'p> Visitor<'de> for AnnotationsSeed<'p, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    // Annotations that are not an object hold nothing the view reads.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.into.present = true;
        let mut better: Vec<usize> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            better.clear();
            for (at, wanted) in self.keys.iter().enumerate() {
                if !dedots_to(&key, wanted) {
                    continue;
                }
                match &self.into.best[at] {
                    Some((best, _)) if *best == key => {
                        return Err(de::Error::custom(Unsure)); // a key twice
                    }
                    // The view keeps the smallest raw key that de-dots to the key.
                    Some((best, _)) if best.as_ref() < key.as_ref() => {}
                    _ => better.push(at),
                }
            }
            let decision = key == DECISION;
            if !decision && better.is_empty() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let read = map.next_value_seed(SlotSeed { children: &[] })?;
            if decision {
                if !matches!(self.into.decision, Slot::Absent) {
                    return Err(de::Error::custom(Unsure)); // a key twice
                }
                self.into.decision = copy_slot(&read);
            }
            for &at in &better {
                self.into.best[at] = Some((key.clone(), copy_slot(&read)));
            }
        }
        Ok(())
    }
}

/// A scalar slot again (annotation values are scalars or `Other`).
fn copy_slot<'a>(slot: &Slot<'a>) -> Slot<'a> {
    match slot {
        Slot::Absent => Slot::Absent,
        Slot::Null => Slot::Null,
        Slot::Str(text) => Slot::Str(text.clone()),
        Slot::Int(number) => Slot::Int(*number),
        Slot::List(items, null) => Slot::List(items.clone(), *null),
        Slot::Other | Slot::Object(_) => Slot::Other,
    }
}

/// Whether the raw annotation key `raw` de-dots to `key` (each `.` read as `_`).
fn dedots_to(raw: &str, key: &str) -> bool {
    raw.len() == key.len()
        && raw
            .bytes()
            .zip(key.bytes())
            .all(|(r, k)| r == k || (r == b'.' && k == b'_'))
}

/// Reads the top-level object of a line.
struct TopSeed<'p, 'a> {
    plan: &'p Plan,
    slots: &'p mut Vec<Slot<'a>>,
    annotations: &'p mut Annotations<'a>,
}

impl<'de, 'p> DeserializeSeed<'de> for TopSeed<'p, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, 'p> Visitor<'de> for TopSeed<'p, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            if key.contains('.') {
                return Err(de::Error::custom(Unsure));
            }
            match self.plan.find(&key) {
                Some(at) => {
                    if !matches!(self.slots[at], Slot::Absent) {
                        return Err(de::Error::custom(Unsure)); // a key twice
                    }
                    if Some(at) == self.plan.annotations {
                        map.next_value_seed(AnnotationsSeed {
                            keys: &self.plan.annotation_keys,
                            into: self.annotations,
                        })?;
                        self.slots[at] = Slot::Other; // seen
                    } else {
                        let children = &self.plan.top[at].children;
                        self.slots[at] = map.next_value_seed(SlotSeed { children })?;
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    fn new(top: Vec<TopKey>, annotations: Option<usize>, annotation_keys: Vec<String>) -> Plan {
        let longest = top.iter().map(|t| t.key.len()).max().unwrap_or(0);
        let mut by_length = vec![Vec::new(); longest + 1];
        for (at, t) in top.iter().enumerate() {
            by_length[t.key.len()].push(at);
        }
        Plan {
            top,
            by_length,
            annotations,
            annotation_keys,
        }
    }

    /// The position of a top-level key the screen reads.
    fn find(&self, key: &str) -> Option<usize> {
        self.by_length
            .get(key.len())?
            .iter()
            .copied()
            .find(|&at| self.top[at].key == key)
    }
}

// ----- the screen -----

/// A rule set lowered for lines: `screen(line)` is False when no rule can match the line.
#[pyclass(frozen, module = "audithound_screen")]
struct Screen {
    plan: Plan,
    sources: Vec<Source>,
    tests: Vec<Test>,
    rules: Vec<Form>,
}

/// A rule as the screen runs it. Most rules are a conjunction of tests, some negated, and of
/// parts it does not read: those run as a flat list, the others as their tree.
enum Form {
    /// The rule is false when one of these terms is: a test, or (`true`) its negation.
    Conjunction(Vec<(usize, bool)>),
    Tree(Expr),
}

impl Form {
    fn of(rule: Expr) -> Form {
        let Expr::All(children) = &rule else {
            return Form::Tree(rule);
        };
        let mut terms = Vec::new();
        for child in children {
            match child {
                Expr::Test(at) => terms.push((*at, false)),
                Expr::Not(inner) => match inner.as_ref() {
                    Expr::Test(at) => terms.push((*at, true)),
                    _ => return Form::Tree(rule), // a negated group: its tree decides
                },
                // Neither can make the rule false; they only make it unknown or true.
                Expr::Const(true) | Expr::Unknown => {}
                _ => return Form::Tree(rule),
            }
        }
        Form::Conjunction(terms)
    }
}

impl Screen {
    fn build(program: Program) -> Result<Screen, String> {
        let mut top: Vec<TopKey> = SHAPE_KEYS
            .iter()
            .map(|key| TopKey {
                key: (*key).to_owned(),
                children: Vec::new(),
            })
            .collect();
        let mut annotation_keys: Vec<String> = Vec::new();
        let mut annotations: Option<usize> = None;
        let mut sources = Vec::new();
        fn top_of(top: &mut Vec<TopKey>, key: &str) -> usize {
            top.iter().position(|t| t.key == key).unwrap_or_else(|| {
                top.push(TopKey {
                    key: key.to_owned(),
                    children: Vec::new(),
                });
                top.len() - 1
            })
        }
        for field in &program.fields {
            let source = match field {
                FieldSpec::Text { path }
                | FieldSpec::Integer { path }
                | FieldSpec::Ips { path } => {
                    let kind = match field {
                        FieldSpec::Text { .. } => Kind::Text,
                        FieldSpec::Integer { .. } => Kind::Integer,
                        _ => Kind::Ips,
                    };
                    if path.iter().any(|key| key.contains('.'))
                        || path.first().map(String::as_str) == Some("annotations")
                    {
                        return Err(format!("not a literal path: {path:?}"));
                    }
                    match path.as_slice() {
                        [key] => {
                            let at = top_of(&mut top, key);
                            if !top[at].children.is_empty() {
                                return Err(format!("{key} is read both whole and inside"));
                            }
                            Source::Leaf { top: at, kind }
                        }
                        [key, child] => {
                            let at = top_of(&mut top, key);
                            if sources
                                .iter()
                                .any(|s| matches!(s, Source::Leaf { top, .. } if *top == at))
                                || SHAPE_KEYS.contains(&key.as_str())
                            {
                                return Err(format!("{key} is read both whole and inside"));
                            }
                            let children = &mut top[at].children;
                            let slot =
                                children.iter().position(|c| c == child).unwrap_or_else(|| {
                                    children.push(child.clone());
                                    children.len() - 1
                                });
                            Source::Child {
                                top: at,
                                child: slot,
                                kind,
                            }
                        }
                        _ => return Err(format!("a path of one or two keys, not {path:?}")),
                    }
                }
                FieldSpec::Outcome => {
                    annotations = Some(top_of(&mut top, "annotations"));
                    Source::Outcome
                }
                FieldSpec::Annotation { key } => {
                    annotations = Some(top_of(&mut top, "annotations"));
                    let at = annotation_keys
                        .iter()
                        .position(|k| k == key)
                        .unwrap_or_else(|| {
                            annotation_keys.push(key.clone());
                            annotation_keys.len() - 1
                        });
                    Source::Annotation(at)
                }
            };
            sources.push(source);
        }
        for test in &program.tests {
            if test.field >= sources.len() {
                return Err(format!("no field {}", test.field));
            }
            check_cond(&test.value)?;
        }
        for rule in &program.rules {
            check(rule, program.tests.len())?;
        }
        Ok(Screen {
            plan: Plan::new(top, annotations, annotation_keys),
            sources,
            tests: program.tests,
            rules: program.rules.into_iter().map(Form::of).collect(),
        })
    }

    /// False when no rule can match `line`; true ("maybe") otherwise.
    fn maybe(&self, line: &[u8]) -> bool {
        if !line.is_ascii() || has_surrogate_escape(line) || brackets(line) > MAX_BRACKETS {
            return true; // Python's decoders decide on those
        }
        let plan = &self.plan;
        let mut slots: Vec<Slot> = plan.top.iter().map(|_| Slot::Absent).collect();
        let mut annotations = Annotations {
            present: false,
            decision: Slot::Absent,
            best: plan.annotation_keys.iter().map(|_| None).collect(),
        };
        let mut deserializer = sonic_rs::Deserializer::from_slice(line);
        let parsed = TopSeed {
            plan,
            slots: &mut slots,
            annotations: &mut annotations,
        }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
        if parsed.is_err() || !is_event(&slots) {
            return true;
        }
        let mut line = Line {
            tests: &self.tests,
            sources: &self.sources,
            slots: &slots,
            annotations: &annotations,
            values: self.sources.iter().map(|_| None).collect(),
            known: vec![0; self.tests.len()],
        };
        self.rules.iter().any(|rule| match rule {
            Form::Conjunction(terms) => !terms.iter().any(|&(at, negated)| {
                // The term rules the line out: its test is known and answers what the rule
                // needs it not to (true for a negated test, false for the others).
                match line.test(at) {
                    Truth::Unknown => false,
                    answer => (answer == Truth::True) == negated,
                }
            }),
            Form::Tree(expr) => line.holds(expr) != Truth::False,
        })
    }
}

/// Whether the top-level values make an event of the shape API servers write (a subset of
/// `source.decode.is_event`, and what the Python screen's projection accepts).
fn is_event(slots: &[Slot]) -> bool {
    // The plan puts SHAPE_KEYS first, in that order.
    let [audit_id, stage, kind, api_version, ..] = slots else {
        return false;
    };
    matches!(audit_id, Slot::Str(id) if !id.is_empty())
        && matches!(stage, Slot::Str(_))
        && match kind {
            Slot::Absent => true,
            Slot::Str(text) => text == "Event",
            _ => false,
        }
        && match api_version {
            Slot::Absent => true,
            Slot::Str(text) => API_VERSIONS.contains(&text.as_ref()),
            _ => false,
        }
}

/// An escaped UTF-16 surrogate (`\ud800`-`\udfff`): decoders differ on lone ones.
fn has_surrogate_escape(line: &[u8]) -> bool {
    // By backslash (memchr): a substring search (memmem) costs more to set up per line.
    memchr::memchr_iter(b'\\', line).any(|at| {
        line.get(at + 1..at + 4).is_some_and(|escape| {
            escape[0] == b'u'
                && (escape[1] | 0x20) == b'd'
                && matches!(escape[2] | 0x20, b'8'..=b'9' | b'a'..=b'f')
        })
    })
}

/// How many `[` and `{` the line holds: a bound on its nesting.
fn brackets(line: &[u8]) -> usize {
    memchr::memchr2_iter(b'[', b'{', line).count()
}

/// A field's value on the plain shape, or None where Python must decide.
fn value_of<'a>(
    source: &Source,
    slots: &'a [Slot],
    annotations: &'a Annotations,
) -> Option<Value<'a>> {
    match source {
        Source::Leaf { top, kind } => scalar(&slots[*top], *kind),
        Source::Child { top, child, kind } => match &slots[*top] {
            Slot::Absent | Slot::Null => Some(Value::Absent),
            Slot::Object(children) => scalar(&children[*child], *kind),
            _ => None,
        },
        Source::Outcome => Some(match &annotations.decision {
            Slot::Str(text) if text == "allow" => Value::Str("success"),
            Slot::Str(text) if text == "forbid" => Value::Str("failure"),
            _ => Value::Absent,
        }),
        Source::Annotation(at) => {
            if !annotations.present {
                return Some(Value::Absent);
            }
            match &annotations.best[*at] {
                None => Some(Value::Absent),
                Some((_, slot)) => scalar(slot, Kind::Text),
            }
        }
    }
}

fn scalar<'a>(slot: &'a Slot, kind: Kind) -> Option<Value<'a>> {
    match slot {
        Slot::Absent | Slot::Null => Some(Value::Absent),
        // An empty string is no value (Elastic's ingest drops it).
        Slot::Str(text) if kind == Kind::Text => Some(if text.is_empty() {
            Value::Absent
        } else {
            Value::Str(text)
        }),
        Slot::Int(number) if kind == Kind::Integer => Some(Value::Int(*number)),
        Slot::List(items, _) if kind == Kind::Text => {
            let texts: Vec<&str> = items
                .iter()
                .map(Cow::as_ref)
                .filter(|text| !text.is_empty())
                .collect();
            Some(if texts.is_empty() {
                Value::Absent
            } else {
                Value::List(texts)
            })
        }
        Slot::Str(text) if kind == Kind::Ips => addresses(std::slice::from_ref(text), false),
        Slot::List(items, null) if kind == Kind::Ips => addresses(items, *null),
        // Neither a string nor an array of strings: `source.ip` has no value (the view's rule).
        Slot::Int(_) | Slot::Other if kind == Kind::Ips => Some(Value::Absent),
        _ => None,
    }
}

/// Kleene's three values: a part the screen does not read is `Unknown`.
#[derive(Clone, Copy, PartialEq)]
enum Truth {
    False,
    True,
    Unknown,
}

/// What was read of one line: field values as tests need them, and the answers so far.
struct Line<'s, 'v> {
    tests: &'s [Test],
    sources: &'s [Source],
    slots: &'s [Slot<'v>],
    annotations: &'s Annotations<'v>,
    /// Per field, once a test read it: its value, or None where the screen cannot read it.
    values: Vec<Option<Option<Value<'s>>>>,
    /// Per test: 0 not run yet, 1 false, 2 true, 3 unknown.
    known: Vec<u8>,
}

impl<'s> Line<'s, '_> {
    fn holds(&mut self, expr: &Expr) -> Truth {
        match expr {
            Expr::All(children) => {
                let mut answer = Truth::True;
                for child in children {
                    match self.holds(child) {
                        Truth::False => return Truth::False,
                        Truth::Unknown => answer = Truth::Unknown,
                        Truth::True => {}
                    }
                }
                answer
            }
            Expr::Any(children) => {
                let mut answer = Truth::False;
                for child in children {
                    match self.holds(child) {
                        Truth::True => return Truth::True,
                        Truth::Unknown => answer = Truth::Unknown,
                        Truth::False => {}
                    }
                }
                answer
            }
            Expr::Not(child) => match self.holds(child) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Unknown => Truth::Unknown,
            },
            Expr::Const(answer) => {
                if *answer {
                    Truth::True
                } else {
                    Truth::False
                }
            }
            Expr::Unknown => Truth::Unknown,
            Expr::Test(at) => self.test(*at),
        }
    }

    /// The answer of the program's test `at` on this line (run once, then remembered).
    fn test(&mut self, at: usize) -> Truth {
        let mut known = self.known[at];
        if known == 0 {
            let test = &self.tests[at];
            let field = test.field;
            let (sources, slots, annotations) = (self.sources, self.slots, self.annotations);
            let value = self.values[field]
                .get_or_insert_with(|| value_of(&sources[field], slots, annotations));
            known = match value {
                None => 3, // a value of another type: Python reads it its own way
                Some(value) if meets(&test.value, value) => 2,
                Some(_) => 1,
            };
            self.known[at] = known;
        }
        match known {
            2 => Truth::True,
            1 => Truth::False,
            _ => Truth::Unknown,
        }
    }
}

fn meets(cond: &Cond, value: &Value) -> bool {
    match cond {
        Cond::Equals(texts) => any_text(value, |s| texts.iter().any(|t| t == s)),
        Cond::Glob(parts) => any_text(value, |s| glob(parts, s)),
        Cond::Exists => !matches!(value, Value::Absent),
        Cond::Integers(numbers) => matches!(value, Value::Int(n) if numbers.contains(n)),
        Cond::Addresses(wanted) => matches!(value, Value::Ips(found)
            if found.iter().any(|n| wanted.iter().any(|w| w.0 == *n))),
        Cond::Networks(spans) => matches!(value, Value::Ips(found)
            if found.iter().any(|n| spans.iter().any(|(first, last)| first.0 <= *n && *n <= last.0))),
        Cond::Any(children) => children.iter().any(|child| meets(child, value)),
        Cond::All(children) => children.iter().all(|child| meets(child, value)),
        Cond::Not(child) => !meets(child, value),
    }
}

/// The addresses of `source.ip` (`normalize.view._source_ips`): none when there are none, or
/// when one is not an address for Python (a null, an empty string); None ("maybe") when one
/// is not an address for Rust's parser, which refuses some that Python takes (a zone).
fn addresses<'a>(items: &[Cow<'_, str>], null: bool) -> Option<Value<'a>> {
    if items.is_empty() || null || items.iter().any(|item| item.is_empty()) {
        return Some(Value::Absent);
    }
    let mut numbers = Vec::with_capacity(items.len());
    for item in items {
        let number = match item.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(v4) => (0xFFFF_u128 << 32) | u128::from(u32::from(v4)),
            std::net::IpAddr::V6(v6) => u128::from(v6),
        };
        numbers.push(number);
    }
    Some(Value::Ips(numbers))
}

/// Whether some string value of the field passes `test`.
fn any_text(value: &Value, test: impl Fn(&str) -> bool) -> bool {
    match value {
        Value::Str(text) => test(text),
        Value::List(texts) => texts.iter().any(|text| test(text)),
        Value::Absent | Value::Int(_) | Value::Ips(_) => false,
    }
}

/// `kql.wildcard.compile_glob`: prefix, suffix, then each middle piece in order.
fn glob(parts: &[String], value: &str) -> bool {
    let (prefix, suffix) = (&parts[0], &parts[parts.len() - 1]);
    if value.len() < prefix.len() + suffix.len()
        || !value.starts_with(prefix.as_str())
        || !value.ends_with(suffix.as_str())
    {
        return false;
    }
    let mut rest = &value[prefix.len()..value.len() - suffix.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part.as_str()) {
            Some(found) => rest = &rest[found + part.len()..],
            None => return false,
        }
    }
    true
}

fn check(expr: &Expr, tests: usize) -> Result<(), String> {
    match expr {
        Expr::All(children) | Expr::Any(children) => {
            children.iter().try_for_each(|child| check(child, tests))
        }
        Expr::Not(child) => check(child, tests),
        Expr::Const(_) | Expr::Unknown => Ok(()),
        Expr::Test(at) if *at >= tests => Err(format!("no test {at}")),
        Expr::Test(_) => Ok(()),
    }
}

fn check_cond(cond: &Cond) -> Result<(), String> {
    match cond {
        Cond::Glob(parts) if parts.len() < 2 => Err("a glob has two parts or more".to_owned()),
        Cond::Any(children) | Cond::All(children) => children.iter().try_for_each(check_cond),
        Cond::Not(child) => check_cond(child),
        _ => Ok(()),
    }
}

#[pymethods]
impl Screen {
    #[new]
    fn new(program: &str) -> PyResult<Screen> {
        let parsed: Program =
            sonic_rs::from_str(program).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Screen::build(parsed).map_err(PyValueError::new_err)
    }

    /// False when no rule can match `line` (one audit event of the plain shape, none of whose
    /// rules holds); true when one may, or the line is anything else.
    fn __call__(&self, line: &[u8]) -> bool {
        self.maybe(line)
    }

    /// The complete lines of `data` (each up to and with its `\n`) that Python must read:
    /// those the screen cannot turn away, with `screen` false all of them, and those whose
    /// content is longer than `max_line` bytes. Returns `(kept, lines, end)`: each kept line
    /// as `(index, start, stop)` (its position among the complete lines and its bytes),
    /// how many complete lines there are, and where the incomplete rest begins. One call per
    /// block of a file rather than per line: the lines turned away never become Python
    /// objects.
    #[pyo3(signature = (data, max_line, screen = true))]
    fn sift(
        &self,
        data: &[u8],
        max_line: usize,
        screen: bool,
    ) -> (Vec<(usize, usize, usize)>, usize, usize) {
        let mut kept = Vec::new();
        let mut start = 0;
        let mut index = 0;
        for newline in memchr::memchr_iter(b'\n', data) {
            if !screen || newline - start > max_line || self.maybe(&data[start..=newline]) {
                kept.push((index, start, newline + 1));
            }
            index += 1;
            start = newline + 1;
        }
        (kept, index, start)
    }
}

#[pymodule]
fn audithound_screen(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Screen>()?;
    module.add_class::<excerpt::Excerpt>()?;
    module.add_function(wrap_pyfunction!(alert::reason, module)?)?;
    module.add_function(wrap_pyfunction!(alert::flat, module)?)?;
    Ok(())
}

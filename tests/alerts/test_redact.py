"""Redaction as a table: what goes in, what is written. Then its cost on hostile input."""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audithound.alerts import redact

R = redact.MARKER

# What kubectl v1.32 sent for
#   kubectl exec -n t web -- curl -H "Authorization: Bearer abc.def" \
#     "https://h/?access_token=x&y=1" --token t0k "sh -c 'echo $X'"
# as the real API server logged it (tests/operator/test_redaction.py checks it there).
KUBECTL_EXEC = (
    "/api/v1/namespaces/t/pods/web/exec?command=curl&command=-H"
    "&command=Authorization%3A+Bearer+abc.def"
    "&command=https%3A%2F%2Fh%2F%3Faccess_token%3Dx%26y%3D1"
    "&command=--token&command=t0k&command=sh+-c+%27echo+%24X%27"
    "&container=app&stderr=true&stdout=true"
)

URIS = [
    # Nothing to hide: unchanged, selectors and continue tokens included.
    ("/api/v1/namespaces/shop/configmaps/settings", None),
    ("/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef", None),
    ("/api/v1/namespaces/x/serviceaccounts/default/token", None),
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:token-cleaner", None),
    (
        "/api/v1/pods?labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dtoken"
        "&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIzfQ&limit=500&watch=true",
        None,
    ),
    ("/api/v1/namespaces/t/pods/web/attach?container=app&stdin=true&stdout=true", None),
    ("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=7", None),
    # Escapes that spell what the rules look for: decoded, they are found as the plain ones.
    ("/api/v1/pods?%74oken=abc&limit=5", f"/api/v1/pods?%74oken={R}&limit=5"),
    ("/api/v1/pods?x=%42earer%20abc", f"/api/v1/pods?x=%42earer%20{R}"),
    ("/api/v1/%70ods?x=1&ap%69_key=k", f"/api/v1/%70ods?x=1&ap%69_key={R}"),
    ("/e?c%6Fmmand=--token&c%6Fmmand=abc", f"/e?c%6Fmmand=--token&c%6Fmmand={R}"),
    ("/e?x=1&%61uth=abc", f"/e?x=1&%61uth={R}"),
    # Query parameters named like credentials: the value goes, the name stays.
    ("/api?token=abc", f"/api?token={R}"),
    ("/api?access_token=abc&limit=5", f"/api?access_token={R}&limit=5"),
    (
        "/x?id_token=a&refresh_token=b&code=c&state=s",
        f"/x?id_token={R}&refresh_token={R}&code={R}&state=s",
    ),
    ("/x?api_key=a&apikey=b&X-Api-Key=c&key=d", f"/x?api_key={R}&apikey={R}&X-Api-Key={R}&key={R}"),
    (
        "/x?client_secret=a&password=b&passwd=c&pwd=d",
        f"/x?client_secret={R}&password={R}&passwd={R}&pwd={R}",
    ),
    (
        "/proxy/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=ab12"
        "&X-Amz-Security-Token=tok&X-Amz-Expires=60",
        f"/proxy/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={R}&X-Amz-Signature={R}"
        f"&X-Amz-Security-Token={R}&X-Amz-Expires=60",
    ),
    ("/blob?sv=2024&sig=abc%3D&se=2026", f"/blob?sv=2024&sig={R}&se=2026"),
    ("/x?TOKEN=abc&Password=b", f"/x?TOKEN={R}&Password={R}"),
    ("/x?access%5Ftoken=abc", f"/x?access%5Ftoken={R}"),  # an encoded name
    ("/x?token=", "/x?token="),  # nothing to hide
    ("/x?token_file=/run/t&aws_access_key_id=AKIA", None),  # where a secret is: evidence
    # Bearer / Basic anywhere, plain and encoded, and in a nested URL.
    ("/proxy/x?h=Bearer%20abc.def&n=1", f"/proxy/x?h=Bearer%20{R}&n=1"),
    ("/proxy/x?h=Basic+dXNlcjpwYXNz", f"/proxy/x?h=Basic+{R}"),
    ("/proxy/Bearer%20abc/x", f"/proxy/Bearer%20{R}"),  # "/" is a token character
    (
        "/x?next=https%3A%2F%2Fh%2Fcb%3Ftoken%3Dabc%26a%3D1",
        f"/x?next=https%3A%2F%2Fh%2Fcb%3Ftoken%3D{R}%26a%3D1",
    ),
    # URL userinfo: the password (or a token as user name) goes, the user and host stay.
    (
        "/x?u=https%3A%2F%2Fbob%3Ahunter2%40git.example%2Fr",
        f"/x?u=https%3A%2F%2Fbob%3A{R}%40git.example%2Fr",
    ),
    ("/x?u=https://ghp_abc123@github.com/o/r", f"/x?u=https://{R}@github.com/o/r"),
    # JWTs, anywhere.
    ("/x/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-1/y", f"/x/{R}/y"),
    # A kubectl exec: one command= per argv element.
    (
        KUBECTL_EXEC,
        "/api/v1/namespaces/t/pods/web/exec?command=curl&command=-H"
        f"&command=Authorization%3A+Bearer+{R}"
        f"&command=https%3A%2F%2Fh%2F%3Faccess_token%3D{R}%26y%3D1"
        f"&command=--token&command={R}&command=sh+-c+%27echo+%24X%27"
        "&container=app&stderr=true&stdout=true",
    ),
    (
        "/e?command=-H&command=X-Api-Key:k1&command=-v",
        f"/e?command=-H&command=X-Api-Key:{R}&command=-v",
    ),
    ("/e?command=-H&command=Cookie%3A+s%3D1%3B+t%3D2", f"/e?command=-H&command=Cookie%3A+{R}"),
    (
        "/e?command=curl&command=-u&command=admin%3Apw",
        f"/e?command=curl&command=-u&command=admin%3A{R}",
    ),
    ("/e?command=--password=my+secret&command=x", f"/e?command=--password={R}&command=x"),
    ("/e?command=--password&command=my+secret", f"/e?command=--password&command={R}"),
    ("/e?command=--token&command=--verbose", None),  # a flag is no value
    (
        "/e?command=env&command=PGPASSWORD%3Dpw&command=psql",
        f"/e?command=env&command=PGPASSWORD%3D{R}&command=psql",
    ),
    ("/e?command=echo&command=Bearer&command=abc", f"/e?command=echo&command=Bearer&command={R}"),
    ("/e?command=--token-file&command=/run/t", None),
    (
        "/e?command=sh&command=-c&command=curl+-H+%27X-Auth-Token%3A+abc%27+https%3A%2F%2Fh",
        f"/e?command=sh&command=-c&command=curl+-H+%27X-Auth-Token%3A+{R}%27+https%3A%2F%2Fh",
    ),
    (
        "/e?command=sh&command=-c&command=kubectl+--token+abc+get+pods",
        f"/e?command=sh&command=-c&command=kubectl+--token+{R}+get+pods",
    ),
    (
        "/e?command=curl&command=-d&command=%7B%22password%22%3A+%22p%5C%22w%22%7D",
        f"/e?command=curl&command=-d&command=%7B%22password%22%3A+%22{R}%22%7D",
    ),
]

TEXTS = [
    ("kubectl/v1.36.3 (linux/amd64) kubernetes/4cb5f07", None),
    ("system:serviceaccount:secrets:token-reader", None),
    ("system:authenticated", None),
    (
        'RBAC: allowed by ClusterRoleBinding "tokens" of ClusterRole "secret-reader" to User "a"',
        None,
    ),
    (f"tool/1.0 {'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'}", f"tool/1.0 {R}"),
    ("tool/1.0 token=abc (linux)", f"tool/1.0 token={R} (linux)"),
    ("tool/1.0 Authorization: Bearer abc", f"tool/1.0 Authorization: Bearer {R}"),
    ("tool/1.0 X-Api-Key: abc def", f"tool/1.0 X-Api-Key: {R}"),
    ("Basic dXNlcjpwYXNz", f"Basic {R}"),
    ("bearer   abc+/=", f"bearer   {R}"),
    ('password="two words" next', f'password="{R}" next'),
    ("password='unterminated rest", f"password='{R}"),
    ("--client-secret s3cr3t --verbose", f"--client-secret {R} --verbose"),
    ("--password-stdin admin", None),
    ("curl -u admin:pw https://h", f"curl -u admin:{R} https://h"),
    ("curl --user=admin:pw", f"curl --user=admin:{R}"),
    (
        "git clone https://x-access-token:ghs_1@github.com/o/r",
        f"git clone https://x-access-token:{R}@github.com/o/r",
    ),
    ("https://u:p@ss@host/", f"https://u:{R}@host/"),  # up to the last @ before the path
    ("https://host:8443/path", None),  # a port is no password
    ('{"user": "a", "apiKey": "k\\"1"}', f'{{"user": "a", "apiKey": "{R}"}}'),
    (
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ab",
        f"Authorization: AWS4-HMAC-SHA256 {R}",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), URIS, ids=[raw[:60] for raw, _ in URIS])
def test_uri(raw: str, expected: str | None) -> None:
    assert redact.uri(raw) == (raw if expected is None else expected)


@pytest.mark.parametrize(("raw", "expected"), TEXTS, ids=[raw[:60] for raw, _ in TEXTS])
def test_text(raw: str, expected: str | None) -> None:
    assert redact.text(raw) == (raw if expected is None else expected)


@pytest.mark.parametrize("raw", [raw for raw, _ in URIS])
def test_redacting_twice_changes_nothing(raw: str) -> None:
    once = redact.uri(raw)
    assert redact.uri(once) == once and redact.text(redact.text(raw)) == redact.text(raw)


def test_no_trigger_can_be_spelled_with_the_inert_characters() -> None:
    inert = set(redact.INERT.lower())
    for trigger in (*redact.TRIGGERS, *redact.WORD_TRIGGERS):
        assert not set(trigger) <= inert, trigger


@pytest.mark.parametrize(
    "raw",
    [
        "63854c8d-54ac-498f-a9cb-bbc9b86e4f84",
        "2026-11-20T09:00:03.830001Z",
        "2026-11-20T09:00:03+01:00",
        "10.0.0.11",
        "fd00::1:abcd",
        "66238730",
    ],
)
def test_inert_strings_are_left_as_they_are(raw: str) -> None:
    assert redact.fresh_text(raw) == raw == redact.text(raw)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        *[
            (name, True)
            for name in (
                "token", "access_token", "id_token", "refresh_token", "api_key", "apikey",
                "X-Api-Key", "client_secret", "password", "passwd", "pwd", "passphrase",
                "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "sig", "key",
                "private_key", "Authorization", "Proxy-Authorization", "Cookie", "auth",
                "sessionid", "jwt", "code", "otp", "--token", "-password", "GITHUB_TOKEN",
            )
        ],
        *[
            (name, False)
            for name in (
                "limit", "continue", "labelSelector", "fieldSelector", "command", "container",
                "author", "keyword", "token_file", "--token-file", "PASSWORD_FILE",
                "--password-stdin", "aws_access_key_id", "redirect_uri", "kubeconfig-path",
            )
        ],
    ],
)  # fmt: skip
def test_credential_like_names(name: str, expected: bool) -> None:
    assert redact.sensitive(name) is expected


#: Repeated to 64 KiB, each unit aims at one pattern's weak spot: runs that a look-ahead
#: scans, prefixes that a quantifier could give back, many starts without an end.
ADVERSARIAL_UNITS = [
    "a", "-", "=", "a=", "token=", "token ", "eyJ", "eyJa.", "eyJa.eyJ", "a.", ".-a", "a://",
    "https://a:", "https://a@", "Bearer ", "bearer", " ", '"', '"token', '"token": "', "-H ",
    "-Ha:", "-u ", "-u a:", "--token ", "--token-", "-token", "%", "%41", "%2", "&command=",
    "&token=", "&a", "?", "command=--token&", "key", "x-token: ", "token: ", "\n-",
    "\n--token\n", "@", "a=b,", "--password=", "+", "'", "\\", ":", "a:a@", "_token.",
    "basic\t", "keykeykey=", "&tokentoken",
]  # fmt: skip
SIZE = 1 << 16


@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_hostile_input_costs_linear_time(unit: str) -> None:
    hostile = (unit * (SIZE // len(unit) + 1))[:SIZE]
    started = time.perf_counter()
    redact.text(hostile)
    redact.uri("/p?" + hostile)
    redact.uri("/" + hostile)
    redact.uri("/e?command=" + hostile)
    # At most about 1 s on a loaded 2-core machine; one quadratic pattern takes minutes.
    assert time.perf_counter() - started < 5


#: Each rule without its ``needs``: searched in every string that holds a trigger.
UNGATED_TEXT = tuple(dataclasses.replace(rule, needs=frozenset()) for rule in redact._TEXT_RULES)
UNGATED_ARGV = tuple(dataclasses.replace(rule, needs=frozenset()) for rule in redact._ARGV_RULES)
#: Strings that hold a trigger and some of the punctuation the rules need, or none of it;
#: and letters that case-insensitive matching folds to ASCII (long s, Kelvin, dotless i).
FOLDED = ("\u017f", "\u212a", "\u0131")
GATED = st.lists(
    st.sampled_from(
        [*"=:\"-.\n\t /&?'@", *("key", "token", "Bearer", "basic", "eyJ", "://", "x"), *FOLDED]
    ),
    max_size=30,
).map("".join)


def _gated_cases() -> list[str]:
    tables = [raw for raw, _ in URIS] + [raw for raw, _ in TEXTS]
    return tables + [unit * 3 for unit in ADVERSARIAL_UNITS]


@pytest.mark.parametrize("raw", _gated_cases())
def test_a_rule_skipped_for_want_of_its_punctuation_could_not_have_matched(raw: str) -> None:
    """``needs`` only skips work: the spans are those of every rule searched everywhere."""
    assert redact._spans(raw) == redact._spans(raw, UNGATED_TEXT)
    assert redact._spans(raw, redact._ARGV_RULES) == redact._spans(raw, UNGATED_ARGV)


@settings(max_examples=800, deadline=None)
@given(GATED)
def test_gated_rules_find_what_ungated_ones_find(raw: str) -> None:
    assert redact._spans(raw) == redact._spans(raw, UNGATED_TEXT)
    assert redact._spans(raw, redact._ARGV_RULES) == redact._spans(raw, UNGATED_ARGV)

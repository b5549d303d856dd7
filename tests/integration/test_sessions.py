"""Accounts and sessions of docs/API.md §3.9 (register, login, logout, me) as
an independent client sees them: status codes, error codes, the cookie and
its attributes, and what a restart keeps. One dev node for the whole file;
each test makes its own usernames, so tests do not depend on each other."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as H  # noqa: E402
from harness import assert_error  # noqa: E402

JSON = {"Content-Type": "application/json"}
COOKIE_MAX_AGE = 30 * 24 * 3600

_names = iter(range(10**6))
NO_RATE_LIMITS = ("--auth-attempts-per-ip", "0", "--login-failures-per-user", "0",
                  "--messages-per-user", "0", "--messages-per-ip", "0")


# Every test here registers and logs in from 127.0.0.1: the rate limits
# (0 turns them off) are the subject of test_hostile_auth.py, not of this file.
SERVER_FLAGS = ("--dev", "--block-interval-ms", "100", "--difficulty", "1", *NO_RATE_LIMITS)
SERVER_NAME = "sessions-node"


def fresh_name(prefix="user"):
    return "%s%d_%s" % (prefix, next(_names), os.urandom(3).hex())


def client():
    """A client with its own cookie jar."""
    return H.new_session()


def register(srv, username, password="password1", c=None):
    return (c or client()).post(srv.url + "/api/register",
                                json={"username": username, "password": password})


def login(srv, username, password="password1", c=None):
    return (c or client()).post(srv.url + "/api/login",
                                json={"username": username, "password": password})


def logged_in(srv, username=None, password="password1"):
    """(client with a session cookie, username, address) of a new user."""
    username = username or fresh_name()
    r = register(srv, username, password)
    assert r.status_code == 201, (r.status_code, r.text)
    c = client()
    r = login(srv, username, password, c)
    assert r.status_code == 200, (r.status_code, r.text)
    return c, username, r.json()["address"]


def cookie_attributes(set_cookie):
    """{"session": value, "httponly": True, "samesite": "Lax", …} of one
    Set-Cookie header; attribute names lower-cased, flags map to True."""
    parts = [p.strip() for p in set_cookie.split(";")]
    name, _, value = parts[0].partition("=")
    out = {name: value}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        out[k.strip().lower()] = v.strip() if eq else True
    return out


# --------------------------------------------------------------------------
# Register
# --------------------------------------------------------------------------

def test_register_answers_201_with_the_username_and_a_new_chain_address(srv):
    name = fresh_name()
    r = register(srv, name)
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert list(doc) == ["username", "address"], doc
    assert doc["username"] == name
    assert H.is_hex(doc["address"], 32), doc
    other = register(srv, fresh_name()).json()
    assert other["address"] != doc["address"], "every user gets a key of its own"
    assert "Set-Cookie" not in r.headers, "registering does not log in"


def test_register_a_taken_username_is_409_username_taken(srv):
    name = fresh_name()
    assert register(srv, name).status_code == 201
    assert_error(register(srv, name, "another password"), 409, "username_taken")
    # The first account is untouched: its password still logs in.
    assert login(srv, name).status_code == 200


def test_register_refuses_bad_usernames_with_400_bad_username(srv):
    bad = ["ab", "x" * 33, "Alice", "al ice", "al/ice", "ünï", "", "bob\t",
           "0123456789abcdef0123456789abcdef"]  # 32 hex would read as an address
    for name in bad:
        assert_error(register(srv, name), 400, "bad_username")
    for name in ["abc", "a.b-c_d" + os.urandom(2).hex(), "z" * 32]:
        r = register(srv, name)
        assert r.status_code in (201, 409), (name, r.status_code, r.text)


def test_register_takes_passwords_of_8_to_1024_bytes_only(srv):
    assert_error(register(srv, fresh_name(), "1234567"), 400, "bad_password")
    assert_error(register(srv, fresh_name(), "x" * 1025), 400, "bad_password")
    # Bytes of UTF-8 count, not characters: "€€" is 6 bytes, "€€€" 9.
    assert_error(register(srv, fresh_name(), "€€"), 400, "bad_password")
    assert_error(register(srv, fresh_name(), "€" * 342), 400, "bad_password")  # 1026 bytes
    for pw in ["12345678", "x" * 1024, "€€€", "€" * 341 + "x"]:
        name = fresh_name()
        assert register(srv, name, pw).status_code == 201, pw[:20]
        assert login(srv, name, pw).status_code == 200, pw[:20]


def test_register_body_errors_are_400_with_their_codes(srv):
    url = srv.url + "/api/register"
    c = client()
    assert_error(c.post(url, data=b'{"username":', headers=JSON), 400, "malformed_json")
    assert_error(c.post(url, data=b"", headers=JSON), 400, "malformed_json")
    assert_error(c.post(url, data=b'{"username":"a","username":"b","password":"password1"}',
                        headers=JSON), 400, "malformed_json")
    assert_error(c.post(url, json=["username"]), 400, "wrong_type")
    assert_error(c.post(url, json={"password": "password1"}), 400, "missing_field")
    assert_error(c.post(url, json={"username": fresh_name()}), 400, "missing_field")
    assert_error(c.post(url, json={"username": 7, "password": "password1"}), 400, "wrong_type")
    assert_error(c.post(url, json={"username": fresh_name(), "password": None}), 400,
                 "wrong_type")


# --------------------------------------------------------------------------
# Login, the cookie, me
# --------------------------------------------------------------------------

def test_login_sets_an_httponly_samesite_lax_session_cookie_for_the_whole_site(srv):
    name = fresh_name()
    address = register(srv, name).json()["address"]
    r = login(srv, name)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"username": name, "address": address}
    assert list(r.json()) == ["username", "address"]
    attrs = cookie_attributes(r.headers["Set-Cookie"])
    assert re.match(r"^[0-9a-f]{64}$", attrs["session"]), attrs
    assert attrs.get("httponly") is True, attrs
    assert attrs.get("samesite") == "Lax", attrs
    assert attrs.get("path") == "/", attrs
    assert attrs.get("max-age") == str(COOKIE_MAX_AGE), attrs
    assert "secure" not in attrs, "a plain-http node must not mark its cookie Secure"


def test_me_answers_the_sessions_user(srv):
    c, name, address = logged_in(srv)
    r = c.get(srv.url + "/api/me")
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"username": name, "address": address}
    assert list(r.json()) == ["username", "address"]


def test_me_without_a_session_is_401_unauthorized(srv):
    assert_error(client().get(srv.url + "/api/me"), 401, "unauthorized")
    for cookie in ["session=", "session=nothex", "session=" + "0" * 64, "other=1",
                   "session=" + "A" * 64]:
        r = client().get(srv.url + "/api/me", headers={"Cookie": cookie})
        assert_error(r, 401, "unauthorized")


def test_the_session_cookie_is_found_among_other_cookies(srv):
    c, name, _address = logged_in(srv)
    token = c.cookies.get("session")
    for cookie in ["theme=dark; session=%s; lang=en" % token,
                   "session=%s" % token,
                   "a=1;session=%s" % token,
                   "session=%s; session=%s" % ("0" * 64, token)]:  # a stale one first
        r = client().get(srv.url + "/api/me", headers={"Cookie": cookie})
        assert r.status_code == 200, (cookie, r.status_code, r.text)
        assert r.json()["username"] == name


def test_wrong_password_and_unknown_user_get_the_same_401(srv):
    name = fresh_name()
    register(srv, name)
    wrong = login(srv, name, "password2")
    unknown = login(srv, fresh_name("nobody"), "password1")
    too_long = login(srv, "x" * 40, "password1")
    m1 = assert_error(wrong, 401, "bad_credentials")
    m2 = assert_error(unknown, 401, "bad_credentials")
    m3 = assert_error(too_long, 401, "bad_credentials")
    assert m1 == m2 == m3, "the message must not tell which part was wrong: %r %r" % (m1, m2)
    assert "Set-Cookie" not in wrong.headers and "Set-Cookie" not in unknown.headers


def test_regress_a_password_longer_than_1024_bytes_never_matches_its_prefix(srv):
    # The node hashes at most 1024 bytes of a login password; a longer one
    # once matched the account whose password was its first 1024 bytes.
    name = fresh_name()
    assert register(srv, name, "x" * 1024).status_code == 201
    assert_error(login(srv, name, "x" * 1024 + "y"), 401, "bad_credentials")
    assert_error(login(srv, name, "x" * 5000), 401, "bad_credentials")
    assert login(srv, name, "x" * 1024).status_code == 200


def test_login_body_errors_are_400(srv):
    url = srv.url + "/api/login"
    c = client()
    assert_error(c.post(url, data=b"{", headers=JSON), 400, "malformed_json")
    assert_error(c.post(url, json={"username": "dev"}), 400, "missing_field")
    assert_error(c.post(url, json={"username": "dev", "password": 12345678}), 400, "wrong_type")


def test_two_logins_are_two_independent_sessions(srv):
    c1, name, _ = logged_in(srv)
    c2 = client()
    assert login(srv, name, c=c2).status_code == 200
    token1 = c1.cookies.get("session")
    assert token1 != c2.cookies.get("session")
    r = c1.post(srv.url + "/api/logout", json={})
    assert r.status_code == 200, (r.status_code, r.text)
    assert_error(client().get(srv.url + "/api/me", headers={"Cookie": "session=" + token1}), 401,
                 "unauthorized")
    assert c2.get(srv.url + "/api/me").status_code == 200, "the other session lives on"


# --------------------------------------------------------------------------
# Logout
# --------------------------------------------------------------------------

def test_logout_deletes_the_session_and_expires_the_cookie(srv):
    c, _name, _ = logged_in(srv)
    token = c.cookies.get("session")
    r = c.post(srv.url + "/api/logout", headers=JSON)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"status": "logged_out"}
    attrs = cookie_attributes(r.headers["Set-Cookie"])
    assert attrs["session"] == "", attrs
    assert attrs.get("max-age") == "0", attrs
    assert attrs.get("path") == "/" and attrs.get("httponly") is True, attrs
    # The old token opens nothing any more, even if a client keeps sending it.
    old = {"Cookie": "session=" + token}
    assert_error(client().get(srv.url + "/api/me", headers=old), 401, "unauthorized")
    assert_error(client().post(srv.url + "/api/logout", headers=dict(old, **JSON)), 401,
                 "unauthorized")


def test_logout_without_a_session_is_401(srv):
    assert_error(client().post(srv.url + "/api/logout", json={}), 401, "unauthorized")


# --------------------------------------------------------------------------
# Cross-site form posts
# --------------------------------------------------------------------------

def test_posts_that_are_not_json_are_refused_with_415(srv):
    c, name, _ = logged_in(srv)
    form = {"username": name, "password": "password1"}
    for path in ["/api/register", "/api/login"]:
        assert_error(c.post(srv.url + path, data=form), 415, "unsupported_media_type")
        assert_error(c.post(srv.url + path, data='{"username":"%s","password":"password1"}'
                            % name, headers={"Content-Type": "text/plain"}), 415,
                     "unsupported_media_type")
        assert_error(c.post(srv.url + path, data=b'{}', headers={"Content-Type": ""}), 415,
                     "unsupported_media_type")
        assert_error(c.post(srv.url + path, data=b'{}',
                            headers={"Content-Type": "application/jsonx"}), 415,
                     "unsupported_media_type")
    # A form post carrying the cookie must not log the user out.
    assert_error(c.post(srv.url + "/api/logout", data={"a": "b"}), 415, "unsupported_media_type")
    assert_error(c.post(srv.url + "/api/logout",
                        headers={"Content-Type": "multipart/form-data; boundary=x"}), 415,
                 "unsupported_media_type")
    assert c.get(srv.url + "/api/me").status_code == 200


def test_json_with_parameters_and_any_case_is_accepted(srv):
    name = fresh_name()
    r = client().post(srv.url + "/api/register",
                      data=('{"username":"%s","password":"password1"}' % name).encode(),
                      headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 201, (r.status_code, r.text)


def test_wrong_methods_are_405_with_allow(srv):
    for path, allowed in [("/api/register", "POST"), ("/api/login", "POST"),
                          ("/api/logout", "POST"), ("/api/me", "GET")]:
        method = "GET" if allowed == "POST" else "POST"
        r = client().request(method, srv.url + path, json={})
        assert_error(r, 405, "method_not_allowed")
        assert r.headers["Allow"] == allowed, (path, r.headers.get("Allow"))


# --------------------------------------------------------------------------
# --dev, and what a restart keeps
# --------------------------------------------------------------------------

def test_dev_node_has_user_dev_with_password_devdevdev(srv):
    c = client()
    r = login(srv, "dev", "devdevdev", c)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["username"] == "dev" and H.is_hex(r.json()["address"], 32)
    assert c.get(srv.url + "/api/me").json()["username"] == "dev"
    assert_error(register(srv, "dev"), 409, "username_taken")
    assert "dev user: dev / devdevdev" in srv.stderr() + open(srv.stdout_path).read()


@H.timeout(150)
def test_a_restart_keeps_users_sessions_and_the_dev_user(srv):
    c, name, address = logged_in(srv)
    dev_address = login(srv, "dev", "devdevdev").json()["address"]
    srv.restart()
    r = c.get(srv.url + "/api/me")  # the port changed; the cookie did not
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"username": name, "address": address}
    r = login(srv, name)
    assert r.status_code == 200 and r.json()["address"] == address
    assert login(srv, "dev", "devdevdev").json()["address"] == dev_address, \
        "--dev makes the dev user once"
    assert os.stat(os.path.join(srv.data_dir, "custody.key")).st_mode & 0o777 == 0o600

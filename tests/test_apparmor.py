"""The AppArmor profile: it compiles, it confines the program, it covers what the program does."""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml
from conftest import ADDON_DIR

PROFILE = ADDON_DIR / "apparmor.txt"
CHILD = "sungrow"
# The Supervisor's own pattern (utils/apparmor.py): exactly one line may match it.
SUPERVISOR_PROFILE_LINE = re.compile(r"^profile ([^ ]+).*$")
# The Supervisor loads the profile under the add-on's full slug: the repository, then the slug.
REPOSITORY_PREFIXES = ("local", "a0d7b954", "5c53de3b")
# The template's s6-overlay and bashio rules (home-assistant/addons-example): the top-level
# profile keeps all of them so that the container starts as the template's does.
TEMPLATE_RULES = (
    "file",
    "signal (send) set=(kill,term,int,hup,cont)",
    "/init ix",
    "/bin/** ix",
    "/usr/bin/** ix",
    "/etc/s6/** ix",
    "/run/{s6,s6-rc*,service}/** ix",
    "/package/** ix",
    "/command/** ix",
    "/etc/services.d/** rwix",
    "/etc/cont-init.d/** rwix",
    "/etc/cont-finish.d/** rwix",
    "/run/{,**} rwk",
    "/dev/tty rw",
    "/usr/lib/bashio/** ix",
    "/tmp/** rwk",  # noqa: S108 - the container's /tmp
    "/data/** rw",
)
WRITABLE = ("/data/", "/tmp/")  # noqa: S108 - the container's /tmp
CHILD_RULE_KINDS = {"include", "path", "network", "signal"}
CHILD_FAMILIES = {"inet", "inet6", "unix", "netlink"}
# The few tunables (tunables/global) the profile uses; the test refuses any other variable.
VARIABLES = {"@{PROC}": "/proc/", "@{sys}": "/sys/", "@{pid}": "[1-9]*"}
FAMILIES = {"unix", "inet", "inet6", "netlink", "packet", "bluetooth", "alg", "vsock", "key"}
SOCKET_TYPES = {"stream", "dgram", "raw", "seqpacket", "rdm", "packet"}
QUALIFIERS = {"audit", "allow", "deny", "owner"}
FILE_RULE = re.compile(
    r"(?:file\s+)?(?:(?P<path>[/@]\S*)\s+(?P<perms>[rwaklmixpucPUC]+)"
    r"|(?P<perms_first>[rwaklmixpucPUC]+)\s+(?P<path_last>[/@]\S*))"
    r"(?:\s+->\s+(?P<target>\S+))?"
)


# --- The profile as text: blocks of one-line rules ----------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One rule: its qualifiers (deny, owner...) apart, and what it is about."""

    text: str
    qualifiers: frozenset[str]
    body: str

    @property
    def kind(self) -> str:
        """`path` for a file rule on a path, else the rule's keyword (`file` for `file,`)."""
        return "path" if FILE_RULE.fullmatch(self.body) else self.body.split()[0]

    @property
    def denies(self) -> bool:
        """Tell whether this is a `deny` rule."""
        return "deny" in self.qualifiers

    def file(self) -> tuple[str, str, str | None]:
        """Return the path glob, the permissions and the exec target of a file rule."""
        match = FILE_RULE.fullmatch(self.body)
        assert match, self.text
        path = match["path"] or match["path_last"]
        return path, match["perms"] or match["perms_first"], match["target"]


@dataclass(frozen=True)
class Profile:
    """A profile block: its name, flags, rules and child profiles."""

    name: str
    flags: str
    rules: tuple[Rule, ...]
    children: tuple[Profile, ...]

    def child(self, name: str) -> Profile:
        """Return the child profile `name`."""
        found = [child for child in self.children if child.name == name]
        assert len(found) == 1, f"no single child profile {name!r}"
        return found[0]

    def of_kind(self, kind: str) -> list[Rule]:
        """Return this block's own rules of one kind."""
        return [rule for rule in self.rules if rule.kind == kind]

    def permissions(self, path: str) -> set[str]:
        """Return what this block's own file rules grant on `path` (deny rules subtract)."""
        granted: set[str] = set()
        denied: set[str] = set()
        for rule in self.of_kind("path"):
            glob, perms, _ = rule.file()
            if aare(glob).fullmatch(path):
                (denied if rule.denies else granted).update(perms)
        return granted - denied


PROFILE_OPENING = re.compile(r"profile\s+(\S+)(?:\s+flags=\(([^)]*)\))?\s*\{")


def parse_rule(text: str) -> Rule:
    """Split the leading qualifiers off a rule."""
    words = text.split()
    count = 0
    while count < len(words) - 1 and words[count] in QUALIFIERS:
        count += 1
    return Rule(text, frozenset(words[:count]), " ".join(words[count:]))


def parse_profile(text: str) -> Profile:
    """Parse the file into its top-level profile (one rule per line, as the file is written)."""
    stack: list[tuple[str, str, list[Rule], list[Profile]]] = []
    top: list[Profile] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#include"):
            line = "include " + line.removeprefix("#include").strip() + ","
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if opening := PROFILE_OPENING.fullmatch(line):
            stack.append((opening[1], opening[2] or "", [], []))
        elif line == "}":
            name, flags, rules, children = stack.pop()
            block = Profile(name, flags, tuple(rules), tuple(children))
            (stack[-1][3] if stack else top).append(block)
        else:
            assert line.endswith(","), f"line {number}: one rule per line, ending with a comma"
            if stack:
                stack[-1][2].append(parse_rule(line.removesuffix(",").strip()))
            else:
                assert line.startswith("include "), f"line {number}: a rule outside a profile"
    assert not stack, "an unclosed profile"
    assert len(top) == 1, "one top-level profile"
    return top[0]


@cache
def profile_text() -> str:
    """The shipped apparmor.txt."""
    return PROFILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def profile() -> Profile:
    """The shipped profile, parsed."""
    return parse_profile(profile_text())


@pytest.fixture(scope="module")
def child(profile: Profile) -> Profile:
    """The program's own profile."""
    return profile.child(CHILD)


def slug() -> str:
    """The add-on's slug, from config.yaml."""
    config = yaml.safe_load((ADDON_DIR / "config.yaml").read_text(encoding="utf-8"))
    value: str = config["slug"]
    return value


def supervisor_adjusted(text: str, full_slug: str) -> str:
    """Rename the profile as the Supervisor does before it loads it (utils/apparmor.py)."""
    names = {m[1] for line in text.splitlines() if (m := SUPERVISOR_PROFILE_LINE.match(line))}
    assert len(names) == 1, f"the Supervisor refuses a file with profiles {names}"
    original = names.pop()
    return "".join(
        line.replace(original, full_slug) if SUPERVISOR_PROFILE_LINE.match(line) else line
        for line in text.splitlines(keepends=True)
    )


# --- AppArmor globbing -------------------------------------------------------------------------


def substitute(pattern: str) -> str:
    """Replace the tunables the profile uses; refuse any other variable."""
    for variable, value in VARIABLES.items():
        pattern = pattern.replace(variable, value)
    if "@{" in pattern:
        raise ValueError(f"unknown variable in {pattern}")
    return re.sub("/{2,}", "/", pattern)


def expand_braces(pattern: str) -> list[str]:
    """Return the alternatives of a glob's `{a,b}` groups (nested groups too)."""
    pattern = substitute(pattern)
    depth = 0
    start = -1
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                head, body, tail = pattern[:start], pattern[start + 1 : index], pattern[index + 1 :]
                return [
                    expanded
                    for option in split_top_level(body)
                    for expanded in expand_braces(head + option + tail)
                ]
        index += 1
    return [pattern]


def split_top_level(body: str) -> list[str]:
    """Split a brace group's body at its own commas."""
    options = [""]
    depth = 0
    escaped = False
    for char in body:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            options.append("")
            continue
        options[-1] += char
    return options


@cache
def aare(pattern: str) -> re.Pattern[str]:
    """Compile an AppArmor glob to a regular expression for `fullmatch`.

    `*` and `?` stop at `/`, `**` does not, and neither matches an empty name right after a
    `/` (so `/data/**` is not `/data/`); `{a,b}` nests; `[...]` and `[^...]` are classes.
    """
    pattern = substitute(pattern)
    out: list[str] = []
    depth = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if char == "*":
            if index > 0 and pattern[index - 1] == "/":
                out.append("[^/]")
            double = pattern.startswith("**", index)
            out.append(".*" if double else "[^/]*")
            index += 2 if double else 1
            continue
        if char == "[":
            end = pattern.index("]", index + 2)
            body = pattern[index + 1 : end]
            negate = body[0] in "^!"
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            index = end + 1
            continue
        if char == "?":
            out.append("[^/]")
        elif char == "{":
            out.append("(?:")
            depth += 1
        elif char == "}" and depth:
            out.append(")")
            depth -= 1
        elif char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.DOTALL)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/data/**", "/data/options.json", True),
        ("/data/**", "/data/a/b/", True),
        ("/data/**", "/data/", False),
        ("/data/**", "/datafile", False),
        ("/run/{,**}", "/run/", True),
        ("/run/{,**}", "/run/s6/x", True),
        ("/a/*", "/a/b", True),
        ("/a/*", "/a/b/c", False),
        ("/a/*", "/a/", False),
        ("/a/?", "/a/b", True),
        ("/a/?", "/a/bc", False),
        ("/lib/[0-9]x", "/lib/7x", True),
        ("/lib/[^0-9]x", "/lib/7x", False),
        ("/{usr/,}lib{,32}/x", "/usr/lib32/x", True),
        ("/{a,{b,c}}/x", "/c/x", True),
        ("/{a,{b,c}}/x", "/d/x", False),
        ("@{PROC}/@{pid}/cgroup", "/proc/42/cgroup", True),
        ("{,*_}sungrow_isolarcloud", "local_sungrow_isolarcloud", True),
        ("{,*_}sungrow_isolarcloud", "sungrow_isolarcloud", True),
        ("{,*_}sungrow_isolarcloud", "other_isolarcloud", False),
    ],
)
def test_globs_follow_apparmor(pattern: str, path: str, *, matches: bool) -> None:
    """The glob reader the checks below rely on follows AppArmor's rules."""
    assert bool(aare(pattern).fullmatch(path)) is matches
    assert any(aare(option).fullmatch(path) for option in expand_braces(pattern)) is matches


# --- a. It compiles ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apparmor_parser() -> str:
    """Debian's apparmor_parser (it lives in /usr/sbin, often outside a user's PATH)."""
    found = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    if not Path(found).exists():
        pytest.skip(
            "no apparmor_parser here: ./scripts/test installs it (apt-get install apparmor)"
        )
    return found


def compile_profile(parser: str, profile: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Compile without loading into the kernel and without the cache."""
    return subprocess.run(  # noqa: S603 - our own file, a fixed command
        [parser, "--skip-kernel-load", "--skip-cache", *options, str(profile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_profile_compiles(apparmor_parser: str, tmp_path: Path) -> None:
    """apparmor_parser accepts it, with its defaults and with each kernel feature set it ships."""
    feature_sets = [None, *sorted(Path("/etc/apparmor.d/abi").glob("*"))]
    failures = []
    for features in feature_sets:
        options = ("--features-file", str(features)) if features else ()
        done = compile_profile(apparmor_parser, PROFILE, *options, "-o", str(tmp_path / "out"))
        if done.returncode != 0:
            failures.append((str(features), done.stderr))
    assert failures == []


@pytest.mark.parametrize("prefix", REPOSITORY_PREFIXES)
def test_the_supervisor_can_load_it_under_the_full_slug(
    apparmor_parser: str, tmp_path: Path, prefix: str
) -> None:
    """Renamed as the Supervisor renames it, it still compiles, the child nested in it."""
    full_slug = f"{prefix}_{slug()}"
    adjusted = tmp_path / "apparmor.txt"
    adjusted.write_text(supervisor_adjusted(profile_text(), full_slug), encoding="utf-8")

    done = compile_profile(apparmor_parser, adjusted, "--names")

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [full_slug, f"{full_slug}//{CHILD}"]


# --- b. What it says ---------------------------------------------------------------------------


def test_the_profile_is_named_after_the_slug(profile: Profile) -> None:
    """The one profile the Supervisor sees is the slug; the child's line is indented."""
    names = [
        m[1] for line in profile_text().splitlines() if (m := SUPERVISOR_PROFILE_LINE.match(line))
    ]

    assert names == [slug()]
    assert profile.name == slug()
    assert [child.name for child in profile.children] == [CHILD]
    for block in (profile, profile.child(CHILD)):
        assert set(block.flags.replace(" ", "").split(",")) == {
            "attach_disconnected",
            "mediate_deleted",
        }


def test_the_top_level_profile_keeps_the_template(profile: Profile) -> None:
    """s6-overlay and bashio run as the template lets them, and so do the scripts Docker runs."""
    rules = {rule.text for rule in profile.rules}
    dockerfile = (ADDON_DIR / "Dockerfile").read_text(encoding="utf-8")
    scripts = re.findall(r'CMD \["(/[^"]+)"\]', dockerfile)

    assert set(TEMPLATE_RULES) <= rules
    assert "include <abstractions/base>" in rules
    assert sorted(scripts) == ["/healthcheck.sh", "/run.sh"]
    for script in scripts:
        assert {"r", "x"} <= profile.permissions(script), script


def interpreter() -> str:
    """The interpreter run.sh's `python3` resolves to in the image (base-python's symlink)."""
    dockerfile = (ADDON_DIR / "Dockerfile").read_text(encoding="utf-8")
    version = re.search(r"base-python:(\d+\.\d+)-alpine", dockerfile)
    assert version, "the Dockerfile names its base-python version"
    return f"/usr/local/bin/python{version[1]}"


def test_the_program_runs_in_the_child_profile(profile: Profile, child: Profile) -> None:
    """run.sh execs python3; the interpreter's path enters the child, which may map it."""
    run_sh = (ADDON_DIR / "run.sh").read_text(encoding="utf-8")
    transitions = [rule.file() for rule in profile.of_kind("path") if "x" in rule.file()[1]]
    entering = [(glob, perms) for glob, perms, target in transitions if target == child.name]

    assert re.search(r"^exec python3 -m sungrow$", run_sh, re.MULTILINE)
    assert entering == [(interpreter(), "cx")]
    assert {"m", "r"} <= child.permissions(interpreter())


def test_the_child_writes_only_to_data_and_tmp(child: Profile) -> None:
    """No rule of the child grants write, append, link or exec outside /data/** and /tmp/**."""
    granting = [
        (rule.text, rule.file()[0])
        for rule in child.of_kind("path")
        if not rule.denies and re.search("[walx]", rule.file()[1])
    ]
    outside = [
        text
        for text, glob in granting
        for option in expand_braces(glob)
        if not option.startswith(WRITABLE) or option in WRITABLE
    ]

    assert granting
    assert outside == []
    assert child.of_kind("link") == []


def test_the_child_has_no_privileges(child: Profile) -> None:
    """Files, a few socket families, signals: no capability, no `file,`, no raw but netlink."""
    kinds = {rule.kind for rule in child.rules}
    includes = {rule.body for rule in child.of_kind("include")}
    wide = []
    for rule in child.of_kind("network"):
        words = set(rule.body.split()[1:])
        families = words & FAMILIES
        unknown = words - FAMILIES - SOCKET_TYPES
        raw = "raw" in words and families != {"netlink"}
        if unknown or raw or not families or not families <= CHILD_FAMILIES:
            wide.append(rule.text)

    assert kinds <= CHILD_RULE_KINDS, kinds
    assert child.of_kind("capability") == []
    assert child.of_kind("file") == []
    assert includes == {"include <abstractions/base>"}
    assert wide == []


@pytest.mark.parametrize("full_slug", [slug(), *(f"{p}_{slug()}" for p in REPOSITORY_PREFIXES)])
def test_the_child_takes_signals_from_s6(child: Profile, full_slug: str) -> None:
    """s6 (the parent profile, under whatever name the Supervisor gives it) may stop it."""
    peers = []
    for rule in child.of_kind("signal"):
        access = re.search(r"\(([^)]*)\)", rule.body)
        signals = re.search(r"set=\(([^)]*)\)", rule.body)
        peer = re.search(r"peer=(\S+)", rule.body)
        if (
            access
            and "receive" in access[1]
            and signals
            and {"term", "kill"} <= set(signals[1].replace(" ", "").split(","))
            and peer
        ):
            peers.append(peer[1])

    assert any(aare(peer).fullmatch(full_slug) for peer in peers)
    assert not any(aare(peer).fullmatch(f"{full_slug}x") for peer in peers)


@pytest.mark.parametrize(
    ("path", "needed"),
    [
        ("/usr/local/lib/libpython3.13.so.1.0", "mr"),
        ("/usr/local/lib/python3.13/", "r"),
        ("/usr/local/lib/python3.13/asyncio/__pycache__/base_events.cpython-313.pyc", "r"),
        ("/usr/local/lib/python3.13/lib-dynload/_ssl.cpython-313-x86_64-linux-musl.so", "mr"),
        ("/usr/local/lib/python3.13/site-packages/", "r"),
        ("/usr/local/lib/python3.13/site-packages/aiohttp/_websocket/mask.abi3.so", "mr"),
        (
            "/usr/local/lib/python3.13/site-packages/cryptography/hazmat/bindings/_rust.abi3.so",
            "mr",
        ),
        ("/app/", "r"),
        ("/app/sungrow/__pycache__/poller.cpython-313.pyc", "r"),
        ("/etc/resolv.conf", "r"),
        ("/etc/hosts", "r"),
        ("/etc/ssl/certs/ca-certificates.crt", "r"),
        ("/etc/ssl/openssl.cnf", "r"),
        ("/usr/share/zoneinfo/Europe/Berlin", "r"),
        ("/data/", "r"),
        ("/data/options.json", "r"),
        ("/data/.counters.json.k2j4_x9a", "rw"),
        ("/data/heartbeat", "rw"),
        ("/tmp/tmpa1b2c3", "rw"),  # noqa: S108 - the container's /tmp
    ],
)
def test_the_child_can_do_what_the_container_needs(child: Profile, path: str, needed: str) -> None:
    """Paths the program uses in the image (musl, base-python's layout, /app, /data)."""
    assert set(needed) <= child.permissions(path)


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/app/sungrow/__main__.py", "w"),
        ("/usr/local/lib/python3.13/os.py", "w"),
        ("/usr/local/bin/python3.13", "wx"),
        ("/bin/busybox", "rx"),
        ("/etc/passwd", "rw"),
        ("/data", "w"),
        ("/data/", "w"),
        ("/config/secrets.yaml", "r"),
        ("/share/file", "rw"),
        ("/ssl/privkey.pem", "r"),
        ("/run.sh", "rx"),
        ("/proc/1/environ", "r"),
    ],
)
def test_the_child_cannot_do_what_it_does_not_need(child: Profile, path: str, refused: str) -> None:
    """Nothing else: not its own code, not the shell, not the host's shared folders."""
    assert not set(refused) & child.permissions(path)


# --- c. What the program really does -----------------------------------------------------------

# Every system call that creates, changes, renames or removes a file, runs a program, opens a
# socket; `?` lets strace skip those an architecture does not have.
# Opening: (path argument, its directory descriptor argument, flags argument).
OPENS = {"open": (0, None, 1), "openat": (1, 0, 2), "openat2": (1, 0, 2)}
# Changing: (path argument, its directory descriptor argument, permissions AppArmor asks for).
CHANGES: dict[str, tuple[tuple[int, int | None, str], ...]] = {
    **dict.fromkeys(
        ("creat", "truncate", "chmod", "chown", "lchown", "utime", "utimes", "mknod", "unlink"),
        ((0, None, "w"),),
    ),
    **dict.fromkeys(
        ("fchmodat", "fchownat", "futimesat", "utimensat", "mknodat", "unlinkat"), ((1, 0, "w"),)
    ),
    "mkdir": ((0, None, "w"),),
    "rmdir": ((0, None, "w"),),
    "mkdirat": ((1, 0, "w"),),
    "rename": ((0, None, "rw"), (1, None, "w")),
    "renameat": ((1, 0, "rw"), (3, 2, "w")),
    "renameat2": ((1, 0, "rw"), (3, 2, "w")),
    "link": ((1, None, "l"),),
    "linkat": ((3, 2, "l"),),
    "symlink": ((1, None, "w"),),
    "symlinkat": ((2, 1, "w"),),
}
DIRECTORY_CALLS = {"mkdir", "mkdirat", "rmdir"}
PROGRAM_CALLS = {"execve": (0, None), "execveat": (1, 0)}
TRACED = [*OPENS, *CHANGES, *PROGRAM_CALLS, "socket", "socketpair"]
WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"}
# The kernel answers these before it asks AppArmor: nothing was attempted on the file.
NOT_ATTEMPTED = {"ENOENT", "EEXIST", "ENOTDIR"}
LINE = re.compile(
    r"(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<result>-?\d+|\?)(?:<[^>]*>)?"
    r"(?:\s+(?P<errno>E[A-Z0-9]+))?.*"
)
SOCKET_FAMILIES = {"AF_UNIX": "unix", "AF_LOCAL": "unix", "AF_INET": "inet", "AF_INET6": "inet6"}


@dataclass(frozen=True)
class Call:
    """One traced system call, its paths made absolute."""

    name: str
    args: list[str]
    errno: str | None


@dataclass
class Observed:
    """What a trace shows: files changed, programs run, sockets opened, lines not understood."""

    changed: list[tuple[str, str]]
    executed: list[str]
    sockets: set[tuple[str, str]]
    unreadable: list[str]


def split_args(args: str) -> list[str]:
    """Split strace's argument list at its top-level commas."""
    parts = [""]
    depth = 0
    quoted = False
    escaped = False
    for char in args:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "[{<(":
            depth += 1
        elif not quoted and char in "]}>)":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append("")
            continue
        parts[-1] += char
    return [part.strip() for part in parts]


def string_arg(arg: str) -> str | None:
    """Decode a quoted C string argument; None for NULL and the like."""
    if not (arg.startswith('"') and arg.rstrip(".").endswith('"')):
        return None
    raw = arg.rstrip(".")[1:-1]
    decoded = codecs.escape_decode(raw.encode())[0]
    return bytes(decoded).decode("utf-8", "surrogateescape")


def absolute(dirfd: str | None, path: str, cwd: Path) -> str:
    """Resolve `path` against a `-y` decorated directory descriptor, or the working folder."""
    if path.startswith("/"):
        return os.path.normpath(path)
    base = re.search(r"<(.*)>$", dirfd or "")
    return os.path.normpath(Path(base[1] if base else cwd) / path)


def read_trace(lines: list[str], cwd: Path) -> Observed:
    """Take apart `strace -y` output (one thread per file, so no interleaved calls)."""
    seen = Observed([], [], set(), [])
    for line in lines:
        if not line or line.startswith(("+++", "---")):
            continue
        match = LINE.fullmatch(line)
        if not match or match["name"] not in TRACED:
            seen.unreadable.append(line)
            continue
        call = Call(match["name"], split_args(match["args"]), match["errno"])
        try:
            record(seen, call, cwd)
        except (IndexError, TypeError, ValueError):
            seen.unreadable.append(line)
    return seen


def path_arg(args: list[str], index: int, dirfd: int | None, cwd: Path) -> str:
    """Return the absolute path in argument `index`."""
    value = string_arg(args[index])
    if value is None:
        raise TypeError(args[index])
    return absolute(None if dirfd is None else args[dirfd], value, cwd)


def record(seen: Observed, call: Call, cwd: Path) -> None:
    """Add what one call did to `seen`."""
    name, args = call.name, call.args
    if name in {"socket", "socketpair"}:
        family = SOCKET_FAMILIES.get(args[0], args[0].removeprefix("AF_").lower())
        kind = args[1].split("|")[0].removeprefix("SOCK_").lower()
        seen.sockets.add((family, kind))
        return
    if name in PROGRAM_CALLS:
        seen.executed.append(path_arg(args, *PROGRAM_CALLS[name], cwd))
        return
    if call.errno in NOT_ATTEMPTED:
        return
    changes = CHANGES.get(name, ())
    if name in OPENS:
        index, dirfd, flags_index = OPENS[name]
        flags = set(re.findall(r"O_[A-Z]+", args[flags_index]))
        wanted = "rw" if "O_RDWR" in flags else "w"
        changes = ((index, dirfd, wanted),) if flags & WRITE_FLAGS else ()
    for index, dirfd, wanted in changes:
        if args[index] == "NULL":  # utimensat on an open descriptor
            continue
        path = path_arg(args, index, dirfd, cwd)
        if name in DIRECTORY_CALLS or "AT_REMOVEDIR" in args[-1]:
            path += "/"
        seen.changed.append((path, wanted))


def container_path(path: str, folders: dict[Path, str]) -> str | None:
    """Map a path in the test's data or temp folder to /data or /tmp; None for any other."""
    for folder, inside in folders.items():
        if path == str(folder) or path == f"{folder}/":
            return f"{inside}/"
        if path.startswith(f"{folder}/"):
            return inside + path.removeprefix(str(folder))
    return None


def violations(seen: Observed, child: Profile, folders: dict[Path, str]) -> list[str]:
    """Check a trace against the child profile: files, programs, sockets."""
    found = [f"unreadable trace line: {line}" for line in seen.unreadable]
    for path, wanted in seen.changed:
        inside = container_path(path, folders)
        if inside is None:
            found.append(f"changed outside the data and temp folders: {path}")
            continue
        granted = child.permissions(inside)
        if "w" in granted:
            granted.add("a")
        if missing := set(wanted) - granted:
            found.append(f"{inside} needs {''.join(sorted(missing))}, the profile refuses it")
    found += [f"ran {program}" for program in seen.executed[1:]]
    networks = [set(rule.body.split()[1:]) for rule in child.of_kind("network") if not rule.denies]
    for family, kind in sorted(seen.sockets):
        if not any(
            (not words & FAMILIES or family in words)
            and (not words & SOCKET_TYPES or kind in words)
            for words in networks
        ):
            found.append(f"opened a {family} {kind} socket, the profile refuses it")
    return found


def test_the_trace_reader_catches_what_it_should(child: Profile, tmp_path: Path) -> None:
    """Fed a made-up trace of a misbehaving program, the checks name every misdeed."""
    data = tmp_path / "data"
    folders = {data: "/data", tmp_path / "tmp": "/tmp"}  # noqa: S108 - the container's /tmp
    lines = [
        'execve("/usr/bin/python3", ["python3"], 0x7ffd /* 3 vars */) = 0',
        f'openat(AT_FDCWD<{tmp_path}>, "{data}/.a.json.x1", O_RDWR|O_CREAT|O_EXCL, 0600) = 3',
        f'rename("{data}/.a.json.x1", "{data}/a.json") = 0',
        f'openat(AT_FDCWD<{tmp_path}>, "{data}/options.json", O_RDONLY|O_CLOEXEC) = 3',
        f'openat(5<{data}>, "b.json", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 4<{data}/b.json>',
        f'mkdir("{data}", 0777) = -1 EEXIST (File exists)',
        'openat(AT_FDCWD</app>, "/etc/passwd", O_WRONLY|O_APPEND) = 3</etc/passwd>',
        'unlinkat(AT_FDCWD</app>, "cache", AT_REMOVEDIR) = 0',
        f'mkdir("{data}", 0777) = 0',
        'execve("/bin/sh", ["sh", "-c", "id"], 0x7ffd /* 3 vars */) = 0',
        "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3<socket:[1]>",
        "socket(AF_PACKET, SOCK_RAW, 768) = 3<socket:[2]>",
        "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 3<socket:[3]>",
        "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6) = 3<socket:[4]>",
        "mount(...) = 0",
        "+++ exited with 0 +++",
    ]

    seen = read_trace(lines, Path("/app"))

    assert violations(seen, child, folders) == [
        "unreadable trace line: mount(...) = 0",
        "changed outside the data and temp folders: /etc/passwd",
        "changed outside the data and temp folders: /app/cache/",
        "/data/ needs w, the profile refuses it",
        "ran /bin/sh",
        "opened a inet6 raw socket, the profile refuses it",
        "opened a packet raw socket, the profile refuses it",
    ]


@pytest.mark.slow
def test_the_program_stays_inside_the_child_profile(child: Profile, tmp_path: Path) -> None:
    """`python -m sungrow --demo --once` under strace does only what the child profile allows.

    It changes files in the data and temp folders only (mapped to /data and /tmp, in ways the
    child's rules grant), runs no other program, and opens only sockets the child allows.
    """
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("no strace here: ./scripts/test installs it (apt-get install strace)")
    root = tmp_path.resolve()
    data, temp, cwd = root / "data", root / "tmp", root / "app"
    for folder in (data, temp, cwd):
        folder.mkdir()
    # The Supervisor has made /data and written options.json before the add-on starts.
    (data / "options.json").write_text(json.dumps({"log_level": "info"}), encoding="utf-8")
    env = {
        **{
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SUNGROW_", "HA_", "SUPERVISOR_", "COV_", "COVERAGE_"))
        },
        "PYTHONPATH": str(ADDON_DIR.resolve()),
        "SUNGROW_DATA_DIR": str(data),
        "SUNGROW_OPTIONS": str(data / "options.json"),
        "TMPDIR": str(temp),
        # The image compiles /app at build time; here the sources may be newer than their caches.
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    trace = root / "trace"
    done = subprocess.run(  # noqa: S603 - fixed command
        [
            strace,
            *("-ff", "-qq", "-y", "-o", str(trace), "-e", "signal=none"),
            *("-e", "trace=" + ",".join(f"?{name}" for name in TRACED)),
            *(sys.executable, "-m", "sungrow", "--demo", "--once"),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "ptrace" in done.stderr.lower():
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert "sensor.sungrow_" in done.stdout

    lines = [
        line
        for file in sorted(root.glob("trace.*"))
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    seen = read_trace(lines, cwd)
    folders = {data: "/data", temp: "/tmp"}  # noqa: S108 - the container's /tmp

    assert violations(seen, child, folders) == []
    assert seen.executed == [sys.executable]
    # The trace did see the program's work: state files renamed into place, asyncio's socketpair.
    renamed = {container_path(path, folders) for path, wanted in seen.changed if wanted == "w"}
    assert "/data/counters.json" in renamed
    assert ("unix", "stream") in seen.sockets

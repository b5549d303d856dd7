#!/usr/bin/python3
"""Worst-contract benchmark: every trick known to make one contract run
expensive for the node, each run at the maximum gas_limit (10,000,000) as a
deploy (the chunk itself) and as a call (the chunk, then selector 1), timed
through the ll_vm_bench driver that CMake builds next to the ledgerline
binary. Prints wall seconds per run and nanoseconds per gas, worst first.

Prints figures only; nothing here passes or fails. The target (API.md §6.1)
is every run under 0.5 s on the reference machine (about 50 ns per gas).

    /usr/bin/python3 bench/worst_contract.py build-bench/ledgerline [--runs N] [--only NAME]
                                             [--timeout S] [--time-limit-ms N]

Runs are timed under the node's default time limit on one run
(--contract-time-limit-ms, 450 ms): a run it stops has no receipt and shows
as "time limit" (the node leaves it out of the block and penalises its
sender). --time-limit-ms 0 times gas alone. A run still going after
--timeout seconds (default 30) is stopped and shown as taking at least that
long, with the gas it was given.
"""
import json
import os
import subprocess
import sys
import tempfile

MAX_GAS = 10_000_000
LL_ETIMELIMIT = -52  # src/util/err.h

# Tricks whose time is Lua's tables' (rehashing as keys come and go,
# integers hashed without the seed), which no deterministic charge can see
# and only the time limit bounds (API.md §6.1, Time): listed, timed, and
# summed up apart from the others.
UNBOUNDED = {"table full, churn 16k keys", "integer keys, one hash chain",
             "parse 7000 colliding constants", "string keys churn", "integer keys churn"}

# name -> (setup, loop body run until gas runs out). The setup runs once;
# everything is plain contract code, so each trick works both in a deploy's
# chunk and inside a call.
TRICKS = {
    "plain loop (JMP)": ("", "while true do end"),
    "arithmetic": ("local x = 0", "while true do x = x + 1 end"),
    "vararg {...} x100k": (
        "local t = {} for i = 1, 100000 do t[i] = i end\n"
        "local function f(...) while true do local u = {...} end end",
        "f(table.unpack(t))"),
    "select('#', ...) x100k": (
        "local t = {} for i = 1, 100000 do t[i] = i end\n"
        "local function f(...) while true do local n = select('#', ...) end end",
        "f(table.unpack(t))"),
    "return ... x100k": (
        "local t = {} for i = 1, 100000 do t[i] = i end\n"
        "local function id(...) return ... end\n"
        "local function f(...) while true do id(...) end end",
        "f(table.unpack(t))"),
    "assert chain x250": (
        "local t = {} for i = 1, 250 do t[i] = i end\n"
        "local function f(...) while true do assert(assert(assert(assert(assert(...))))) end end",
        "f(table.unpack(t))"),
    "pcall chain x100k": (
        "local t = {} for i = 1, 100000 do t[i] = i end\n"
        "local function f(...) while true do pcall(pcall, pcall, pcall, pcall, assert, ...) end end",
        "f(table.unpack(t))"),
    "a < a, 1 MB": ("local a = string.rep('a', 1 << 20)", "while true do local c = a < a end"),
    "a == b, 1 MB distinct": (
        "local a = string.rep('a', 1 << 20) local b = string.rep('a', 1 << 20)",
        "while true do local c = a == b end"),
    "a == constant, 60 KB": (
        "local a = string.rep('k', 60000)", "while true do local c = a == '%s' end" % ("k" * 60000)),
    "t[k], 1 MB key": (
        "local k1 = string.rep('k', 1 << 20) local k2 = string.rep('k', 1 << 20)\n"
        "local t = {[k1] = 1}", "while true do local v = t[k2] end"),
    "t:method(), 40 KB name": (
        "local name = string.rep('m', 40000) local t = {[name .. ''] = function() end}",
        "while true do local v = t:%s() end" % ("m" * 40000)),
    "pairs over 100k dead keys": (
        "local t = {} for i = 1, 100000 do t[i * 7] = i end for i = 1, 100000 do t[i * 7] = nil end",
        "while true do for k, v in pairs(t) do end end"),
    "closure, 190 upvalues": (
        "local " + ",".join("a%d" % i for i in range(190)) + " = " + ",".join(["1"] * 190),
        "while true do local f = function() return "
        + "+".join("a%d" % i for i in reversed(range(190))) + " end end"),
    "new table": ("", "while true do local t = {} end"),
    "new table, 15k nil slots": ("", "while true do local t = {" + "nil," * 15000 + "} end"),
    "concat integer": ("local x = 1234567890123", "while true do local s = x .. '' end"),
    "concat float": ("local x = 1.2345678901234", "while true do local s = x .. '' end"),
    "concat 200-byte string": ("local s = string.rep('x', 200)", "while true do local t = s .. 'y' end"),
    "concat new short strings": ("local i = 0", "while true do i = i + 1 local s = 'k' .. i end"),
    "tostring float": ("local x = 1.2345678901234", "while true do local s = tostring(x) end"),
    "#t with a far border": (
        "local t = {1, 2, 3, 4} for i = 1, 200 do t['s' .. i] = i end "
        "for i = 1, 200 do t['s' .. i] = nil end t[5] = true "
        "for k = 3, 62 do t[1 << k] = true end",
        "while true do local n = #t end"),
    "#t of an array": ("local t = {} for i = 1, 1000 do t[i] = i end",
                       "while true do local n = #t end"),
    "integer keys, one hash chain": (
        "local t = {} local m = 4095 for k = 1, 2049 do t[k * m] = true end local k = m",
        "while true do local v = t[k] end"),
    "format %.99f of 1e308": ("", "while true do local s = string.format('%.99f', 1e308) end"),
    "format %.99e of 5e-324": ("", "while true do local s = string.format('%.99e', 5e-324) end"),
    "format %a": ("", "while true do local s = string.format('%a', 0.1) end"),
    "pattern backtracking": (
        "local s = string.rep('a', 40)",
        "while true do string.find(s, string.rep('a*', 20) .. 'b') end"),
    "gsub with a function": ("local s = string.rep('ab', 1000)",
                             "while true do string.gsub(s, 'a', function(c) return c end) end"),
    "sort 1000 strings": (
        "local t = {} for i = 1, 1000 do t[i] = string.rep('x', 60) .. i end",
        "while true do table.sort(t) end"),
    "sort with comparator": (
        "local t = {} for i = 1, 1000 do t[i] = (i * 7919) % 1000 end",
        "while true do table.sort(t, function(a, b) return a > b end) end"),
    "table.concat 10k": ("local t = {} for i = 1, 10000 do t[i] = 'abc' end",
                         "while true do local s = table.concat(t, ',') end"),
    "upper 1 MB": ("local s = string.rep('a', 1 << 20)", "while true do local u = s:upper() end"),
    "byte(s, 1, -1) 4 KB": ("local s = string.rep('a', 4096)",
                            "while true do local a = {s:byte(1, -1)} end"),
    "tonumber long string": ("local s = string.rep('1', 200)",
                             "while true do local n = tonumber(s) end"),
    "math.sin/pow": ("local x = 0.5", "while true do x = math.sin(x) ^ 1.0001 end"),
    "pcall(error)": ("", "while true do pcall(error, 'x') end"),
    "deep recursion": ("local function r(n) return r(n + 1) + 1 end",
                       "while true do pcall(r, 0) end"),
    "memory at the cap": (
        "local keep = {} for i = 1, 120 do keep[i] = string.rep('m', 120000) .. i end",
        "while true do local t = {} for i = 1, 100 do t[i] = i end end"),
    "table full, churn 16k keys": (
        "local t = {} local S = 1 << 14 for i = 1, S do t[i * 7 + 1000000] = true end local k = S + 1",
        "while true do t[(k - S) * 7 + 1000000] = nil t[k * 7 + 1000000] = true k = k + 1 end"),
    "parse 7000 colliding constants": (
        "local t = {" + "".join("%d," % (8191 * j) for j in range(1, 7000)) + "}", ""),
    "string keys churn": ("local t = {} local i = 0",
                          "while true do i = i + 1 t['k' .. i] = i t['k' .. (i - 50)] = nil end"),
    "integer keys churn": ("local t = {} local i = 0",
                           "while true do i = i + 1 t[i * 1000003] = i t[(i - 50) * 1000003] = nil end"),
}


def deploy_code(setup, loop):
    return "%s\n%s\nreturn {}\n" % (setup, loop)


def call_code(setup, loop):
    return "return { [1] = function(ctx)\n%s\n%s\nend }\n" % (setup, loop)


def run(driver, code, call, runs, timeout, time_limit_ms):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(code)
        path = f.name
    try:
        args = [driver, "--gas", str(MAX_GAS), "--runs", str(runs),
                "--time-limit-ms", str(time_limit_ms)] + (["--call"] if call else [])
        try:
            out = subprocess.run(args + [path], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"seconds": float(timeout), "cpu_seconds": float("nan"), "gas_used": MAX_GAS,
                    "ns_per_gas": timeout * 1e9 / MAX_GAS, "success": False,
                    "error": "still running after %d s (at least)" % timeout}
    finally:
        os.unlink(path)
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"seconds": float("nan"), "ns_per_gas": float("nan"), "gas_used": 0,
                "error": (out.stderr or "no output").strip()[:60], "success": False}
    return min(lines, key=lambda r: r["seconds"])  # the least disturbed run


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    binary = args[0]
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 1
    only = args[args.index("--only") + 1] if "--only" in args else None
    timeout = int(args[args.index("--timeout") + 1]) if "--timeout" in args else 30
    limit = int(args[args.index("--time-limit-ms") + 1]) if "--time-limit-ms" in args else 450
    driver = os.path.join(os.path.dirname(os.path.abspath(binary)), "ll_vm_bench")
    if not os.access(driver, os.X_OK):
        sys.exit("%s not found: build the ll_vm_bench target next to %s" % (driver, binary))
    rows = []
    for name, (setup, loop) in TRICKS.items():
        if only and only not in name:
            continue
        for kind, code in (("deploy", deploy_code(setup, loop)), ("call", call_code(setup, loop))):
            r = run(driver, code, kind == "call", runs, timeout, limit)
            rows.append((name, kind, r))
            print("  measured %-32s %-6s %8.3f s" % (name, kind, r["seconds"]), file=sys.stderr,
                  flush=True)
    rows.sort(key=lambda row: -row[2]["ns_per_gas"] if row[2]["gas_used"] else 0)
    print("worst contract runs, gas_limit %d each (best of %d), time limit %s" % (
        MAX_GAS, runs, "%d ms" % limit if limit else "none"))
    print("%-34s %-6s %10s %9s %9s %9s  %s" % ("trick", "run", "gas used", "seconds", "cpu s",
                                               "ns/gas", "outcome"))
    for name, kind, r in rows:
        outcome = ("ok" if r.get("success") else
                   "time limit: no receipt" if r.get("rc") == LL_ETIMELIMIT else
                   (r.get("error") or "")[:40])
        print("%-34s %-6s %10d %9.3f %9.3f %9.1f  %s" % (name, kind, r["gas_used"], r["seconds"],
                                                         r.get("cpu_seconds", float("nan")),
                                                         r["ns_per_gas"], outcome))
    for label, keep in (("bounded by gas", lambda n: n not in UNBOUNDED),
                        ("Lua's tables (bounded by the time limit)", lambda n: n in UNBOUNDED)):
        timed = [r for n, _k, r in rows if r["gas_used"] and keep(n)]
        if timed:
            print("%s: worst run %.3f s, worst %.1f ns/gas" % (
                label, max(r["seconds"] for r in timed), max(r["ns_per_gas"] for r in timed)))


if __name__ == "__main__":
    main()

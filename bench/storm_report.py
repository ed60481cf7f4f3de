#!/usr/bin/python3
"""The report of bench/storm.sh: per row the median of its rounds and their
spread, the ratios to the same server's own password login, and the targets.

    storm_report.py RESULTS N C ROUNDS [TSV]

RESULTS has one line per storm: "ROW ROUND storm: key=value ...". TSV, if
given, receives each row's medians for the picture (bench/plot.sh --storm):
row, logins/s, p50 ms, p99 ms, server and helpers CPU us per login.
"""
import statistics
import sys

KEYS = ("rate", "p50_ms", "p99_ms", "max_ms", "server_us", "helpers_us",
        "store_us", "client_us", "wrong", "errors")
BASE = {"prosody": "prosody/internal_plain", "ejabberd": "ejabberd/internal"}


def load(path):
    rows = {}   # row -> round -> {key: float}
    order = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or parts[1] == "warm":
                continue
            row, rnd = parts[0], parts[1]
            fields = {}
            for kv in parts[3:]:
                k, _, v = kv.partition("=")
                try:
                    fields[k] = float(v)
                except ValueError:
                    pass
            if row not in rows:
                rows[row] = {}
                order.append(row)
            rows[row][rnd] = fields
    return rows, order


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return ""
    return "%g-%g" % (round(min(values), 2), round(max(values), 2))


def fmt(v, digits=0):
    if v is None:
        return "-"
    return ("%." + str(digits) + "f") % v


def main():
    path, n, c, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    rows, order = load(path)
    if not rows:
        print("no results")
        return 1

    def values(row, key):
        return [r.get(key) for r in rows.get(row, {}).values()]

    if len(sys.argv) > 5:
        with open(sys.argv[5], "w") as f:
            for row in order:
                f.write("\t".join([row] + [
                    "%g" % (med(values(row, k)) or 0)
                    for k in ("rate", "p50_ms", "p99_ms", "server_us",
                              "helpers_us")]) + "\n")

    print("login storm: %s logins per row and round (internal_hashed: a "
          "third), %s in flight, %s round(s); medians, [spread]" % (n, c, rounds))
    print("CPU columns are microseconds per login; helpers = every process "
          "below the socket server or below ejabberd")
    head = ("%-24s %14s %7s %7s %7s %16s %14s %8s %8s %6s"
            % ("row", "logins/s", "p50 ms", "p99 ms", "max ms",
               "server CPU", "helpers CPU", "store", "client", "wrong"))
    print(head)
    print("-" * len(head))
    for row in order:
        rate = values(row, "rate")
        srv = values(row, "server_us")
        print("%-24s %14s %7s %7s %7s %16s %14s %8s %8s %6s" % (
            row,
            "%s [%s]" % (fmt(med(rate)), spread(rate)) if len(rate) > 1 else fmt(med(rate)),
            fmt(med(values(row, "p50_ms")), 2),
            fmt(med(values(row, "p99_ms")), 2),
            fmt(med(values(row, "max_ms")), 1),
            "%s [%s]" % (fmt(med(srv)), spread(srv)) if len(srv) > 1 else fmt(med(srv)),
            fmt(med(values(row, "helpers_us"))),
            fmt(med(values(row, "store_us"))),
            fmt(med(values(row, "client_us"))),
            fmt(sum(v or 0 for v in values(row, "wrong"))
                + sum(v or 0 for v in values(row, "errors")))))

    # Ratios per round (rows of one round ran one after the other), then
    # the median of the rounds and their spread.
    def ratios(row, base, key):
        out = []
        for rnd, r in rows.get(row, {}).items():
            b = rows.get(base, {}).get(rnd)
            if b and r.get(key) is not None and b.get(key):
                out.append(r[key] / b[key])
        return out

    print()
    print("ratios to the same server's internal (password) login, per round:")
    for row in order:
        server = row.split("/")[0]
        base = BASE.get(server)
        if row == base or base not in rows:
            continue
        parts = []
        for key, name in (("rate", "logins/s"), ("server_us", "server CPU"),
                          ("p99_ms", "p99")):
            r = ratios(row, base, key)
            if r:
                parts.append("%s %.2fx%s" % (name, med(r),
                             " [%s]" % spread(r) if len(r) > 1 else ""))
        print("  %-24s %s" % (row, ", ".join(parts)))

    print()
    print("targets (Prosody, token provider):")
    verdicts = []

    def target(name, got, limit, ok):
        verdict = "-" if got is None else ("PASS" if ok(got) else "MISS")
        verdicts.append(verdict)
        print("  %-52s %8s  %-10s %s" % (name, fmt(got, 2), limit, verdict))

    tok, plain, hashed = "prosody/token", "prosody/internal_plain", "prosody/internal_hashed"
    if tok in rows and plain in rows:
        # Logins/s and p99 hold in every round: the worst round is judged.
        rate = ratios(tok, plain, "rate")
        target("token logins/s / internal_plain's, worst round",
               min(rate) if rate else None, ">= 0.95", lambda v: v >= 0.95)
        if hashed in rows:
            target("token logins/s / internal_hashed's",
                   med(ratios(tok, hashed, "rate")), ">= 3", lambda v: v >= 3)
        target("Prosody CPU per token login / internal_plain's",
               med(ratios(tok, plain, "server_us")), "<= 1.10", lambda v: v <= 1.1)
        target("helper CPU per login (us)",
               med(values(tok, "helpers_us")), "<= 30", lambda v: v <= 30)
        p99 = ratios(tok, plain, "p99_ms")
        target("token p99 / internal_plain's p99, worst round",
               max(p99) if p99 else None, "<= 1.20", lambda v: v <= 1.2)
    else:
        print("  (no Prosody rows)")
    bad = sum(sum(v or 0 for v in values(row, "wrong")) for row in order)
    print()
    print("every login's outcome as expected: %s" % ("yes" if not bad else
                                                      "NO (%d wrong)" % bad))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())

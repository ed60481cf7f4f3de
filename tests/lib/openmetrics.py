"""The samples of a Prometheus or OpenMetrics text scrape, as the metrics
suites read what Prosody's mod_http_openmetrics serves.

    from openmetrics import Scrape
    s = Scrape(path, prefix="prosody_mod_auth_token_socket__")
    s.value("logins_total", host="example.test", outcome="accepted")

Only what the suites need: comments and types are skipped, and a sample's
labels are its name="value" pairs (no escaped quotes in the values the
provider publishes)."""
import re

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)')
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class Scrape:
    """One scrape: metric name to its [(labels, value)]."""

    def __init__(self, path, prefix=""):
        self.prefix = prefix
        self.samples = {}
        with open(path) as f:
            for line in f:
                m = _SAMPLE.match(line)
                if m:
                    labels = dict(_LABEL.findall(m.group(2) or ""))
                    self.samples.setdefault(m.group(1), []).append(
                        (labels, float(m.group(3))))

    def series(self, name):
        """Every (labels, value) of the metric prefix + name."""
        return self.samples.get(self.prefix + name, [])

    def value(self, name, **want):
        """The sum of the samples of prefix + name with these labels."""
        return sum(v for labels, v in self.series(name)
                   if all(labels.get(k) == w for k, w in want.items()))

    def has(self, name, **want):
        """Whether prefix + name has a sample with these labels."""
        return any(all(labels.get(k) == w for k, w in want.items())
                   for labels, _ in self.series(name))

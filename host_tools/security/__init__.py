"""The trust boundary, attacked (docs/threat-model.md): scripted attacks against a locked virtual
board (attacks.py), tampering with what a receiver gets (tamper.py), a protocol fuzz campaign
(fuzz.py), and `make security-report` (report.py) which runs them all and counts the outcomes.
The suite (tests/test_trust_boundary.py) runs every attack once and small doses of the rest."""

from dataclasses import dataclass, field

REFUSED = "refused"  # the board did not do it
DETECTED = "detected"  # it happened, and a receiver or the log shows it
VIOLATION = "VIOLATION"


@dataclass
class Outcome:
    finding: str  # which red-team finding (issue 10) this attack reproduces, e.g. "1"
    name: str
    outcome: str  # REFUSED, DETECTED or VIOLATION
    trials: int = 1
    counts: dict = field(default_factory=dict)  # what was tried and what came of it
    detail: str = ""

    @property
    def ok(self):
        return self.outcome != VIOLATION

    def line(self):
        counts = ", ".join("%s %s" % (k, v) for k, v in self.counts.items())
        return "%-4s %-46s %-9s %s%s" % (self.finding, self.name, self.outcome, counts,
                                         ("; " + self.detail) if self.detail else "")


def judge(finding, name, held, counts, how=REFUSED, detail=""):
    """An Outcome: `how` if `held` (the defence held), else VIOLATION."""
    return Outcome(finding, name, how if held else VIOLATION, counts.pop("trials", 1), counts,
                   detail)
